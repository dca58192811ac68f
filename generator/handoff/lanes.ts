/**
 * The two event lanes: switching a type active/inactive and releasing its captured events.
 * Both lock the event_type_registry row FOR UPDATE; handoff_consume() holds it FOR SHARE for the
 * length of its batch, so a switch or a release never interleaves with a batch.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { PINNED_SEARCH_PATH, sqlText } from '../lib/sql.js';
import { raiseAt } from './common.js';

export function setEventTypeActiveFunction(c: Ctx): string {
  const fn = c.q('set_event_type_active');
  return sqlText`
    CREATE FUNCTION ${fn}(p_event_type text, p_active boolean)
    RETURNS boolean
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    AS $fn$
    DECLARE
        v_was boolean;
    BEGIN
        IF p_active IS NULL THEN
            ${raiseAt(12, 'HANDOFF_INVALID_ARGUMENT', `format('set_event_type_active(%L, NULL): p_active must be true or false', p_event_type)`)}
        END IF;
        SELECT et.active INTO v_was
        FROM ${c.q('event_type_registry')} AS et
        WHERE et.event_type = p_event_type
        FOR UPDATE;
        IF NOT FOUND THEN
            ${raiseAt(12, 'EVENT_TYPE_UNKNOWN', `format('event type %L is not in event_type_registry', p_event_type)`)}
        END IF;
        IF v_was IS DISTINCT FROM p_active THEN
            UPDATE ${c.q('event_type_registry')} AS et
            SET active = p_active, active_changed_at = now(), active_changed_by = session_user
            WHERE et.event_type = p_event_type;
        END IF;
        RETURN v_was;
    END;
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}(text, boolean)`,
      'Switches an event type active (emit to event_outbox) or inactive (capture to event_pending); records who and when; returns the previous state. Waits for a running handoff batch. Activating does not move captured events: call release_pending(type) for that.',
    )}`;
}

export function releasePendingFunction(c: Ctx): string {
  const fn = c.q('release_pending');
  return sqlText`
    CREATE FUNCTION ${fn}(p_event_type text)
    RETURNS integer
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    AS $fn$
    DECLARE
        v_active boolean;
        v_released integer;
    BEGIN
        SELECT et.active INTO v_active
        FROM ${c.q('event_type_registry')} AS et
        WHERE et.event_type = p_event_type
        FOR UPDATE;
        IF NOT FOUND THEN
            ${raiseAt(12, 'EVENT_TYPE_UNKNOWN', `format('event type %L is not in event_type_registry', p_event_type)`)}
        END IF;
        IF NOT v_active THEN
            ${raiseAt(12, 'EVENT_TYPE_INACTIVE', `format('event type %L is inactive; %s captured events wait in event_pending', p_event_type, (SELECT count(*) FROM ${c.q('event_pending')} AS p WHERE p.event_type = p_event_type))`)}
        END IF;
        WITH moved AS (
            DELETE FROM ${c.q('event_pending')} AS p
            WHERE p.event_type = p_event_type
            RETURNING p.pending_id, p.event_type, p.object_key, p.born_at, p.payload, p.source_change_id
        ),
        released AS (
            INSERT INTO ${c.q('event_outbox')} (event_type, object_key, born_at, payload, source_change_id, released_from_pending)
            SELECT m.event_type, m.object_key, m.born_at, m.payload, m.source_change_id, true
            FROM moved AS m
            ORDER BY m.pending_id
            ON CONFLICT (event_type, object_key, born_at) DO NOTHING
            RETURNING 1
        )
        SELECT count(*)::integer INTO v_released FROM released;
        RETURN v_released;
    END;
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}(text)`,
      'Moves every captured event of an active type from event_pending to event_outbox (released_from_pending = true) in one statement, in capture order, exactly once: the pending row is deleted in the same statement, an event already in the outbox is not written twice. Returns how many were released; 0 on a repeat call. Unknown type: BG202; inactive type: BG203. Serialised with handoff_consume() on the event_type_registry row.',
    )}`;
}
