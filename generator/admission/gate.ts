/**
 * The two gate trigger functions register_family attaches to a family table.
 *
 * Layer 1, tg_birth_gate (BEFORE INSERT OR UPDATE OF <code> FOR EACH ROW, trigger _100_birth_gate):
 *   hot path = 4 SQL statements per row: read the family; consume the live permit (UPDATE ...
 *   WHERE state = 'ISSUED' AND expires_at > now() RETURNING: two sessions racing for one permit
 *   cannot both consume it, the loser waits on the row lock and then finds it CONSUMED); write
 *   birth_registry (BORN, permit_id); write the BORN registry_changelog row. (The registry insert
 *   adds the two foreign-key checks of birth_registry.) Anything else takes the slow path
 *   (diagnosis, then raise or record).
 *
 *   input                       off      report                          enforce
 *   no live permit              nothing  admit, register, NO_PERMIT      BG120
 *   permit lapsed / EXPIRED     nothing  admit, register, PERMIT_EXPIRED  BG121
 *   permit REVOKED              nothing  admit, register, PERMIT_REVOKED  BG122
 *   code fails pattern          nothing  admit, register, PATTERN_MISMATCH BG123
 *   NULL or empty code          nothing  admit, NULL_CODE (no registry)   BG124
 *   code already in registry    nothing  admit, NO_PERMIT (ALREADY_BORN)  BG125
 *   bypass on, admin role       nothing  admit, register, BYPASS          admit, register, BYPASS
 *   bypass on, other role       nothing  BG126                            BG126
 *   ("register" = birth_registry BORN + changelog BORN, permit_id NULL unless a live permit was
 *   consumed; never for a NULL/empty code or a code already in the registry.)
 *
 * Layer 2, tg_birth_finalize (CONSTRAINT TRIGGER AFTER INSERT OR UPDATE OF <code> DEFERRABLE
 * INITIALLY DEFERRED, trigger _900_birth_finalize): 2 SQL statements per row on the hot path (the
 * family, then the registry row + its permit, both by unique index with the code as a parameter). At
 * commit, every row version that brought a code in this transaction must be finalized: a BORN
 * registry row for that code, born in this transaction, from a CONSUMED permit for that code.
 * Catches a code changed after layer 1 ran (later BEFORE trigger, or layer 1 disabled on UPDATE),
 * the registry row removed or altered in the same transaction, layer 1 disabled. A version whose
 * code is no longer in the table at commit (row deleted or re-coded again: fixed before commit) is
 * skipped -- checked with one extra query, on this slow path only; NULL/empty codes always count.
 * enforce: BG130 unless layer 1 recorded a BYPASS for the code in this transaction; report: one
 * UNFINALIZED row unless layer 1 already recorded a finding for the code in this transaction.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { lit, sqlText } from '../lib/sql.js';
import { ACTOR, CODE_BASE_TYPE, PINNED, READ_CODE, at, bypassSetting, familyLookup, raiseAt } from './common.js';

const CODE_COLUMN_DETAIL = `format('column %I of %I.%I (family %s) is %s: re-register the family with a text, varchar or name code column', v_family.code_column, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection, CASE WHEN NOT v_family.has_column THEN 'missing' ELSE 'not of a type the gate reads (text, varchar, name, or a domain over one)' END)`;

function misconfigured(c: Ctx, pad: number): string {
  return raiseAt(
    pad,
    'GATE_MISCONFIGURED',
    `format('trigger %I on %I.%I names collection %L, which is %s', TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection, CASE WHEN v_family.collection_name IS NULL THEN 'not registered' ELSE format('registered for table %s', v_family.table_name) END)`,
  );
}

export function gateFunction(c: Ctx): string {
  const fn = c.q('tg_birth_gate');
  const permit = c.q('birth_admission_permit');
  const registry = c.q('birth_registry');
  const changelog = c.q('registry_changelog');
  const violation = c.q('birth_gate_violation');
  const detailCode = `format('collection %s, code %L, table %I.%I: %s', v_collection, v_code, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN v_last_id IS NULL THEN 'no permit was ever issued for this code' ELSE format('the latest permit for it (%s) is %s', v_last_id, v_last_state) END)`;
  return sqlText`
    CREATE FUNCTION ${fn}()
    RETURNS trigger
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED}
    AS $fn$
    DECLARE
        v_collection text := TG_ARGV[0];
        v_family record;
        v_code text;
        v_old_code text;
        v_actor name;
        v_switch text;
        v_bypassed boolean := false;
        v_findings text[] := '{}';
        v_admit boolean;
        v_permit_id bigint;
        v_registry_id bigint;
        v_born_at timestamptz;
        v_prior_id bigint;
        v_prior_status text;
        v_last_id bigint;
        v_last_state text;
        v_last_expires timestamptz;
        v_last_reason text;
        v_detail jsonb;
    BEGIN
        ${at(8, familyLookup(c, 'v_family'))}
        IF NOT FOUND OR v_family.table_name::oid <> TG_RELID THEN
            ${misconfigured(c, 12)}
        END IF;
        IF v_family.mode = 'off' THEN
            RETURN NEW;
        END IF;

        IF NOT v_family.has_column OR NOT v_family.safe_type THEN
            ${raiseAt(12, 'GATE_MISCONFIGURED', CODE_COLUMN_DETAIL)}
        END IF;
        ${at(8, READ_CODE)}
        IF TG_OP = 'UPDATE' AND v_code IS NOT DISTINCT FROM v_old_code THEN
            RETURN NEW;  -- the code did not change: nothing is born
        END IF;
        v_actor := ${ACTOR};

        -- kill switch: honoured for members of the admin role only, and always recorded
        v_switch := lower(COALESCE(current_setting(${lit(bypassSetting(c))}, true), ''));
        IF v_switch = 'on' THEN
            IF NOT pg_has_role(v_actor, ${lit(c.roles.admin)}, 'USAGE') THEN
                ${raiseAt(16, 'GATE_BYPASS_REFUSED', `format('%s = on, set by role %I (session user %I), who is not a member of %I; collection %s, code %L', ${lit(bypassSetting(c))}, v_actor, session_user, ${lit(c.roles.admin)}, v_collection, v_code)`)}
            END IF;
            v_bypassed := true;
        ELSIF v_switch NOT IN ('', 'off') THEN
            ${raiseAt(12, 'GATE_BYPASS_SETTING_INVALID', `format('%s = %L', ${lit(bypassSetting(c))}, current_setting(${lit(bypassSetting(c))}, true))`)}
        END IF;

        -- the family code rule
        IF v_code IS NULL OR v_code = '' THEN
            v_findings := ARRAY['NULL_CODE'];
        ELSIF v_code !~ v_family.code_pattern THEN
            v_findings := ARRAY['PATTERN_MISMATCH'];
        END IF;
        IF v_family.mode = 'enforce' AND NOT v_bypassed THEN
            IF 'NULL_CODE' = ANY (v_findings) THEN
                ${raiseAt(16, 'GATE_NULL_CODE', `format('collection %s, column %I of %I.%I is %s', v_collection, v_family.code_column, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN v_code IS NULL THEN 'NULL' ELSE 'empty' END)`)}
            ELSIF 'PATTERN_MISMATCH' = ANY (v_findings) THEN
                ${raiseAt(16, 'GATE_PATTERN_MISMATCH', `format('collection %s, code %L does not match %L (table %I.%I)', v_collection, v_code, v_family.code_pattern, TG_TABLE_SCHEMA, TG_TABLE_NAME)`)}
            END IF;
        END IF;

        -- hot path: consume the live permit, birth the code, log it (3 statements; measured faster
        -- than one data-modifying CTE doing the same)
        v_admit := v_bypassed OR v_family.mode = 'report';
        IF v_code IS NOT NULL AND v_code <> '' THEN
            UPDATE ${permit}
               SET state = 'CONSUMED', consumed_at = now(), consumed_by = v_actor
             WHERE collection_name = v_collection
               AND entity_code = v_code
               AND state = 'ISSUED'
               AND expires_at > now()
            RETURNING permit_id INTO v_permit_id;
            IF v_permit_id IS NOT NULL OR v_admit THEN
                INSERT INTO ${registry} (collection_name, entity_code, permit_id, born_by)
                VALUES (v_collection, v_code, v_permit_id, v_actor)
                ON CONFLICT (entity_code, collection_name) DO NOTHING
                RETURNING registry_id, born_at INTO v_registry_id, v_born_at;
                IF v_registry_id IS NOT NULL THEN
                    INSERT INTO ${changelog} (op, collection_name, entity_code, registry_id, born_at, actor, detail)
                    VALUES ('BORN', v_collection, v_code, v_registry_id, v_born_at, v_actor,
                            jsonb_build_object('permit_id', v_permit_id, 'table', format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME),
                                               'operation', TG_OP, 'mode', v_family.mode, 'bypass', v_bypassed));
                END IF;
            END IF;
            IF v_registry_id IS NOT NULL AND v_permit_id IS NOT NULL AND NOT v_bypassed AND cardinality(v_findings) = 0 THEN
                RETURN NEW;
            END IF;

            -- slow path: why was no permit consumed, or nothing born?
            IF v_registry_id IS NULL THEN
                SELECT registry_id, status INTO v_prior_id, v_prior_status
                  FROM ${registry} WHERE collection_name = v_collection AND entity_code = v_code;
            END IF;
            IF v_prior_id IS NOT NULL THEN
                v_findings := v_findings || 'ALREADY_BORN'::text;
            ELSIF v_permit_id IS NULL THEN
                SELECT permit_id, state, expires_at, revoke_reason INTO v_last_id, v_last_state, v_last_expires, v_last_reason
                  FROM ${permit} WHERE collection_name = v_collection AND entity_code = v_code
                 ORDER BY permit_id DESC LIMIT 1;
                v_findings := v_findings || CASE
                    WHEN v_last_state IN ('ISSUED', 'EXPIRED') THEN 'PERMIT_EXPIRED'
                    WHEN v_last_state = 'REVOKED' THEN 'PERMIT_REVOKED'
                    ELSE 'NO_PERMIT' END;
            END IF;
        END IF;

        v_detail := jsonb_strip_nulls(jsonb_build_object(
            'operation', TG_OP,
            'code_pattern', v_family.code_pattern,
            'permit_id', v_permit_id,
            'registry_id', v_registry_id,
            'registered', v_registry_id IS NOT NULL,
            'prior_registry_id', v_prior_id,
            'prior_status', v_prior_status,
            'latest_permit', CASE WHEN v_last_id IS NOT NULL THEN jsonb_build_object(
                'permit_id', v_last_id, 'state', v_last_state, 'expires_at', v_last_expires,
                'revoke_reason', v_last_reason) END,
            'old_code', v_old_code));

        IF v_family.mode = 'enforce' AND NOT v_bypassed THEN
            IF 'ALREADY_BORN' = ANY (v_findings) THEN
                ${raiseAt(16, 'GATE_ALREADY_BORN', `format('collection %s, code %L is already in the registry (registry_id %s, %s); table %I.%I', v_collection, v_code, v_prior_id, v_prior_status, TG_TABLE_SCHEMA, TG_TABLE_NAME)`)}
            ELSIF 'PERMIT_EXPIRED' = ANY (v_findings) THEN
                ${raiseAt(16, 'GATE_PERMIT_EXPIRED', `format('collection %s, code %L: permit %s expired at %s (now %s); table %I.%I', v_collection, v_code, v_last_id, v_last_expires, now(), TG_TABLE_SCHEMA, TG_TABLE_NAME)`)}
            ELSIF 'PERMIT_REVOKED' = ANY (v_findings) THEN
                ${raiseAt(16, 'GATE_PERMIT_REVOKED', `format('collection %s, code %L: permit %s was revoked (%s); table %I.%I', v_collection, v_code, v_last_id, v_last_reason, TG_TABLE_SCHEMA, TG_TABLE_NAME)`)}
            ELSE
                ${raiseAt(16, 'GATE_NO_PERMIT', detailCode)}
            END IF;
        END IF;

        -- report mode or bypass: the row is admitted, and what the gate saw is recorded
        INSERT INTO ${violation} (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
        SELECT f.kind, v_collection, v_code, format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME), TG_OP, v_family.mode, 1, v_actor, f.detail
          FROM (SELECT 'BYPASS' AS kind, v_detail || jsonb_build_object('findings', to_jsonb(v_findings)) AS detail
                 WHERE v_bypassed
                UNION ALL
                SELECT CASE x.finding WHEN 'ALREADY_BORN' THEN 'NO_PERMIT' ELSE x.finding END,
                       v_detail || jsonb_build_object('finding', x.finding)
                  FROM unnest(v_findings) AS x(finding)
                 WHERE NOT v_bypassed) AS f;
        RETURN NEW;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}()`, `Layer 1 birth gate (trigger _100_birth_gate, argument: collection name). Consumes the live permit for the row's code and writes the BORN registry and changelog rows in the same transaction. enforce: no/lapsed/revoked permit, pattern mismatch, NULL/empty code or an already born code raise BG120-BG125 and nothing is written; report: admitted and recorded in birth_gate_violation; off: nothing. ${bypassSetting(c)} = on bypasses it for members of ${c.roles.admin} only (recorded as BYPASS, and the code is registered); set by anyone else it raises BG126.`)}`;
}

export function finalizeFunction(c: Ctx): string {
  const fn = c.q('tg_birth_finalize');
  const violation = c.q('birth_gate_violation');
  return sqlText`
    CREATE FUNCTION ${fn}()
    RETURNS trigger
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED}
    SET row_security = off
    AS $fn$
    DECLARE
        v_collection text := TG_ARGV[0];
        v_family record;
        v_reg record;
        v_code text;
        v_old_code text;
        v_type text;
        v_present boolean;
        v_seen text[];
    BEGIN
        ${at(8, familyLookup(c, 'v_family'))}
        IF NOT FOUND OR v_family.table_name::oid <> TG_RELID THEN
            ${misconfigured(c, 12)}
        END IF;
        IF v_family.mode = 'off' THEN
            RETURN NULL;
        END IF;
        IF NOT v_family.has_column OR NOT v_family.safe_type THEN
            ${raiseAt(12, 'GATE_MISCONFIGURED', CODE_COLUMN_DETAIL)}
        END IF;
        ${at(8, READ_CODE)}
        IF TG_OP = 'UPDATE' AND v_code IS NOT DISTINCT FROM v_old_code THEN
            RETURN NULL;  -- the code did not change
        END IF;

        -- finalized <=> a BORN registry row for this code, born in this transaction, from a CONSUMED permit for it
        SELECT r.registry_id, r.status, r.permit_id, r.born_txid, p.state AS permit_state,
               (r.status = 'BORN' AND r.born_txid = pg_current_xact_id() AND p.state = 'CONSUMED'
                AND p.collection_name = r.collection_name AND p.entity_code = r.entity_code) AS finalized
          INTO v_reg
          FROM ${c.q('birth_registry')} r
          LEFT JOIN ${c.q('birth_admission_permit')} p ON p.permit_id = r.permit_id
         WHERE r.collection_name = v_collection AND r.entity_code = v_code;
        IF v_reg.finalized THEN
            RETURN NULL;
        END IF;

        -- not finalized. A version whose code is no longer in the table (row deleted or re-coded
        -- before commit) leaves nothing unborn behind: skip it. NULL/empty codes cannot be told
        -- apart, so they always count (fail closed).
        IF v_code IS NOT NULL AND v_code <> '' THEN
            SELECT ${CODE_BASE_TYPE} INTO v_type
              FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
             WHERE a.attrelid = TG_RELID AND a.attname = v_family.code_column AND a.attnum > 0 AND NOT a.attisdropped;
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I WHERE %I = CAST($1 AS %s))',
                           TG_TABLE_SCHEMA, TG_TABLE_NAME, v_family.code_column, v_type)
               INTO v_present USING v_code;
            IF NOT v_present THEN
                RETURN NULL;
            END IF;
        END IF;

        -- did layer 1 see this code in this transaction (bypass, report finding)?
        IF v_code IS NULL THEN
            SELECT array_agg(DISTINCT kind) INTO v_seen FROM ${violation}
             WHERE collection_name = v_collection AND entity_code IS NULL AND txid = pg_current_xact_id() AND layer = 1;
        ELSE
            SELECT array_agg(DISTINCT kind) INTO v_seen FROM ${violation}
             WHERE collection_name = v_collection AND entity_code = v_code AND txid = pg_current_xact_id() AND layer = 1;
        END IF;

        IF v_family.mode = 'enforce' THEN
            IF 'BYPASS' = ANY (v_seen) THEN
                RETURN NULL;  -- an authorised, recorded bypass
            END IF;
            ${raiseAt(12, 'GATE_UNFINALIZED', `format('collection %s, code %L (%s on %I.%I): %s', v_collection, v_code, TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN v_code IS NULL OR v_code = '' THEN 'the code is NULL or empty' WHEN v_reg.registry_id IS NULL THEN 'no birth_registry row' WHEN v_reg.status <> 'BORN' THEN format('registry row %s is %s', v_reg.registry_id, v_reg.status) WHEN v_reg.born_txid <> pg_current_xact_id() THEN format('registry row %s was born by another transaction (%s): this row duplicates an existing object', v_reg.registry_id, v_reg.born_txid) WHEN v_reg.permit_id IS NULL THEN format('registry row %s consumed no permit', v_reg.registry_id) ELSE format('registry row %s names permit %s, which is %s or not for this code', v_reg.registry_id, v_reg.permit_id, v_reg.permit_state) END)`)}
        END IF;

        IF v_seen IS NULL THEN
            INSERT INTO ${violation} (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
            VALUES ('UNFINALIZED', v_collection, v_code, format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME), TG_OP, v_family.mode, 2, ${ACTOR},
                    jsonb_strip_nulls(jsonb_build_object(
                        'registry_id', v_reg.registry_id, 'status', v_reg.status, 'permit_id', v_reg.permit_id,
                        'permit_state', v_reg.permit_state, 'born_txid', v_reg.born_txid::text,
                        'old_code', v_old_code)));
        END IF;
        RETURN NULL;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}()`, 'Layer 2 finalize gate (deferred constraint trigger _900_birth_finalize, argument: collection name). At commit (or SET CONSTRAINTS ... IMMEDIATE) every row version that brought a code in this transaction must be finalized: a BORN registry row for that code, born in this transaction, from a CONSUMED permit for that code. Catches a code changed after layer 1, a registry row removed in the same transaction, layer 1 disabled; a version whose code is gone from the table by then (deleted or re-coded before commit) is not counted. enforce: raises BG130 (unless layer 1 recorded a BYPASS of that code in this transaction); report: records UNFINALIZED unless layer 1 already recorded the code; off: nothing.')}`;
}

export function triggerComments(): { gate: string; finalize: string } {
  return {
    gate: 'birthgate layer 1: consumes the live admission permit for the row\'s code and records the birth (registry + changelog); refuses (enforce) or records (report) anything else. Attached by register_family; do not disable.',
    finalize: 'birthgate layer 2 (deferred to commit): every new or re-coded row must be BORN from a consumed permit; blocking for enforce families, recorded for report families. Attached by register_family; do not disable.',
  };
}
