/**
 * Governed activation: CAPTURED candidates of BORN objects become ACTIVATED only while the OSPA
 * ledger has a row and the handoff heartbeat is fresh (fail-closed). Capture never depends on it,
 * and nothing on the birth path calls it.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { PINNED_SEARCH_PATH, lit, sqlText } from '../lib/sql.js';
import { CONSUMER, MAX_ACTIVATE, raiseAt } from './common.js';

export function activateFunction(c: Ctx): string {
  const fn = c.q('activate_candidates');
  const detail = `format('OSPA rows (governance_build_authorization): %s, needs >= 1; heartbeat_at: %s, age %s, stale_after %s', v_ospa, coalesce(v_heartbeat::text, 'never'), coalesce(v_age::text, 'n/a'), coalesce(v_stale_after::text, 'n/a (no cursor row)'))`;
  return sqlText`
    CREATE FUNCTION ${fn}(p_limit integer DEFAULT 1000)
    RETURNS integer
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    AS $fn$
    DECLARE
        v_ospa bigint;
        v_heartbeat timestamptz;
        v_stale_after interval;
        v_age interval;
        v_activated integer;
    BEGIN
        IF p_limit IS NULL OR p_limit < 1 OR p_limit > ${MAX_ACTIVATE} THEN
            ${raiseAt(12, 'HANDOFF_INVALID_ARGUMENT', `format('activate_candidates(p_limit => %s): must be between 1 and ${MAX_ACTIVATE}', coalesce(p_limit::text, 'NULL'))`)}
        END IF;
        SELECT count(*) INTO v_ospa FROM ${c.q('governance_build_authorization')};
        SELECT hc.heartbeat_at, hc.stale_after INTO v_heartbeat, v_stale_after
        FROM ${c.q('handoff_cursor')} AS hc
        WHERE hc.consumer_name = ${lit(CONSUMER)};
        v_age := now() - v_heartbeat;
        IF v_ospa < 1 THEN
            ${raiseAt(12, 'ACTIVATION_NOT_AUTHORIZED', detail)}
        END IF;
        IF v_heartbeat IS NULL OR v_stale_after IS NULL OR v_age > v_stale_after THEN
            ${raiseAt(12, 'ACTIVATION_HEARTBEAT_STALE', detail)}
        END IF;
        WITH pick AS (
            SELECT g.object_key
            FROM ${c.q('governance_candidate_state')} AS g
            WHERE g.activation_state = 'CAPTURED'
              AND g.registry_status = 'BORN'
              AND EXISTS (
                  SELECT 1 FROM ${c.q('birth_registry')} AS r
                  WHERE r.object_key = g.object_key AND r.status = 'BORN')
            ORDER BY g.marked_at, g.object_key
            LIMIT p_limit
            FOR UPDATE OF g SKIP LOCKED
        )
        UPDATE ${c.q('governance_candidate_state')} AS g
        SET activation_state = 'ACTIVATED', activated_at = now(), activated_by = session_user
        FROM pick
        WHERE g.object_key = pick.object_key;
        GET DIAGNOSTICS v_activated = ROW_COUNT;
        RETURN v_activated;
    END;
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}(integer)`,
      'Governed activation, fail-closed: refuses with BG210 while governance_build_authorization (OSPA) is empty and with BG211 while the handoff heartbeat is missing or older than handoff_cursor.stale_after (DETAIL: OSPA row count, heartbeat age vs threshold). Otherwise activates up to p_limit CAPTURED candidates of BORN objects, oldest mark first (activated_by = session_user). Capture and birth never depend on it.',
    )}`;
}
