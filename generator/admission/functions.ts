/**
 * The admission API (CONTRACT.md signatures): register_family, set_family_mode, issue_permit,
 * revoke_permit, expire_permits, retire_gate_check, retire. All SECURITY DEFINER with a pinned
 * search_path: callers get the behaviour through EXECUTE grants and never write the tables.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { lit, sqlText } from '../lib/sql.js';
import { ACTOR, CODE_BASE_TYPE, FINALIZE_TGTYPE, FINALIZE_TRIGGER, GATE_TGTYPE, GATE_TRIGGER, MODES, PINNED, SAFE_CODE_TYPE, raiseAt } from './common.js';
import { triggerComments } from './gate.js';

export const signatures = {
  register_family: 'register_family(text, regclass, name, text, text)',
  set_family_mode: 'set_family_mode(text, text)',
  issue_permit: 'issue_permit(text, text, interval)',
  revoke_permit: 'revoke_permit(bigint, text)',
  expire_permits: 'expire_permits()',
  retire_gate_check: 'retire_gate_check(text, text)',
  retire: 'retire(text, text, text)',
} as const;

function registerFamily(c: Ctx): string {
  const fn = c.q('register_family');
  const family = c.q('birth_family');
  const tc = triggerComments();
  return sqlText`
    CREATE FUNCTION ${fn}(
        p_collection text,
        p_table regclass,
        p_code_column name,
        p_code_pattern text,
        p_mode text DEFAULT 'report'
    )
    RETURNS void
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED}
    AS $fn$
    DECLARE
        v_actor name := ${ACTOR};
        v_rel record;
        v_att record;
        v_old ${family}%ROWTYPE;
        v_other text;
        v_ok integer;
        v_trigger name;
    BEGIN
        IF p_collection IS NULL OR p_collection !~ '^[a-z][a-z0-9_]{0,62}$' THEN
            ${raiseAt(12, 'FAMILY_COLLECTION_INVALID', `format('collection %L', p_collection)`)}
        END IF;
        IF p_mode IS NULL OR p_mode NOT IN ${MODES} THEN
            ${raiseAt(12, 'FAMILY_MODE_INVALID', `format('mode %L for collection %s', p_mode, p_collection)`)}
        END IF;

        SELECT c.oid, c.relkind, c.relpersistence, c.relowner, n.nspname, c.relname INTO v_rel
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.oid = p_table;
        IF NOT FOUND OR v_rel.relkind <> 'r' OR v_rel.relpersistence = 't'
           OR v_rel.nspname IN (${lit(c.schema)}, 'pg_catalog', 'information_schema') THEN
            ${raiseAt(12, 'FAMILY_TABLE_INVALID', `format('table %s (oid %s) for collection %s: %s', p_table, p_table::oid, p_collection, CASE WHEN v_rel.oid IS NULL THEN 'does not exist' WHEN v_rel.relkind <> 'r' THEN format('relkind %L is not an ordinary table', v_rel.relkind) WHEN v_rel.relpersistence = 't' THEN 'is temporary' ELSE format('lives in schema %I', v_rel.nspname) END)`)}
        END IF;
        IF NOT pg_has_role(v_actor, v_rel.relowner, 'USAGE') THEN
            ${raiseAt(12, 'FAMILY_TABLE_NOT_OWNED', `format('table %s is owned by %I; caller %I', p_table, pg_get_userbyid(v_rel.relowner), v_actor)`)}
        END IF;

        SELECT a.attnum, a.attgenerated, format_type(a.atttypid, a.atttypmod) AS type_name, ${SAFE_CODE_TYPE} AS safe_type
          INTO v_att
          FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = p_table AND a.attname = p_code_column AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND OR v_att.attgenerated <> '' OR NOT v_att.safe_type THEN
            ${raiseAt(12, 'FAMILY_CODE_COLUMN_INVALID', `format('column %I of %s (collection %s): %s', p_code_column, p_table, p_collection, CASE WHEN v_att.attnum IS NULL THEN 'does not exist' WHEN v_att.attgenerated <> '' THEN 'is a generated column (BEFORE triggers cannot see its value)' ELSE format('type %s is not text, varchar, name or a domain directly over one of them', v_att.type_name) END)`)}
        END IF;

        IF p_code_pattern IS NULL OR p_code_pattern = '' THEN
            ${raiseAt(12, 'FAMILY_PATTERN_INVALID', `format('pattern %L for collection %s is empty', p_code_pattern, p_collection)`)}
        END IF;
        BEGIN
            PERFORM '' ~ p_code_pattern;
        EXCEPTION WHEN invalid_regular_expression THEN
            ${raiseAt(12, 'FAMILY_PATTERN_INVALID', `format('pattern %L for collection %s: %s', p_code_pattern, p_collection, SQLERRM)`)}
        END;
        IF left(p_code_pattern, 1) <> '^' OR right(p_code_pattern, 1) <> '$' THEN
            RAISE NOTICE 'code pattern % of collection % is not anchored (^...$): it matches any code that merely contains a match', p_code_pattern, p_collection;
        END IF;

        SELECT collection_name INTO v_other FROM ${family} WHERE table_name = p_table AND collection_name <> p_collection;
        IF FOUND THEN
            ${raiseAt(12, 'FAMILY_TABLE_TAKEN', `format('table %s is registered as collection %s; refused for collection %s', p_table, v_other, p_collection)`)}
        END IF;

        SELECT * INTO v_old FROM ${family} WHERE collection_name = p_collection FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO ${family} (collection_name, table_name, code_column, code_pattern, mode, registered_by, mode_changed_by)
            VALUES (p_collection, p_table, p_code_column, p_code_pattern, p_mode, v_actor, v_actor);
        ELSIF (v_old.table_name, v_old.code_column, v_old.code_pattern, v_old.mode)
              IS DISTINCT FROM (p_table, p_code_column, p_code_pattern, p_mode) THEN
            IF v_old.table_name <> p_table AND EXISTS (SELECT 1 FROM pg_class WHERE oid = v_old.table_name) THEN
                FOR v_trigger IN
                    SELECT tgname FROM pg_trigger WHERE tgrelid = v_old.table_name AND tgname IN (${lit(GATE_TRIGGER)}, ${lit(FINALIZE_TRIGGER)})
                LOOP
                    EXECUTE format('DROP TRIGGER %I ON %s', v_trigger, v_old.table_name);
                END LOOP;
            END IF;
            UPDATE ${family}
               SET table_name = p_table,
                   code_column = p_code_column,
                   code_pattern = p_code_pattern,
                   mode = p_mode,
                   mode_changed_at = CASE WHEN mode = p_mode THEN mode_changed_at ELSE now() END,
                   mode_changed_by = CASE WHEN mode = p_mode THEN mode_changed_by ELSE v_actor END
             WHERE collection_name = p_collection;
        END IF;

        -- (re)attach both gate triggers unless they are already there exactly as required
        SELECT count(*) INTO v_ok
          FROM pg_trigger t
         WHERE t.tgrelid = p_table
           AND NOT t.tgisinternal
           AND t.tgenabled = 'O'
           AND t.tgqual IS NULL
           AND t.tgattr::text = v_att.attnum::text  -- int2vector: one column, space-separated text
           AND t.tgnargs = 1
           AND t.tgargs = convert_to(p_collection, 'UTF8') || '\\x00'::bytea
           AND ((t.tgname = ${lit(GATE_TRIGGER)} AND t.tgfoid = ${lit(`${c.schema}.tg_birth_gate()`)}::regprocedure
                 AND t.tgtype = ${GATE_TGTYPE} AND t.tgconstraint = 0)
             OR (t.tgname = ${lit(FINALIZE_TRIGGER)} AND t.tgfoid = ${lit(`${c.schema}.tg_birth_finalize()`)}::regprocedure
                 AND t.tgtype = ${FINALIZE_TGTYPE} AND t.tgconstraint <> 0 AND t.tgdeferrable AND t.tginitdeferred));
        IF v_ok <> 2 THEN
            FOR v_trigger IN
                SELECT tgname FROM pg_trigger WHERE tgrelid = p_table AND tgname IN (${lit(GATE_TRIGGER)}, ${lit(FINALIZE_TRIGGER)})
            LOOP
                EXECUTE format('DROP TRIGGER %I ON %I.%I', v_trigger, v_rel.nspname, v_rel.relname);
            END LOOP;
            EXECUTE format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE OF %I ON %I.%I FOR EACH ROW EXECUTE FUNCTION %I.%I(%L)',
                           ${lit(GATE_TRIGGER)}, p_code_column, v_rel.nspname, v_rel.relname, ${lit(c.schema)}, 'tg_birth_gate', p_collection);
            EXECUTE format('CREATE CONSTRAINT TRIGGER %I AFTER INSERT OR UPDATE OF %I ON %I.%I DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION %I.%I(%L)',
                           ${lit(FINALIZE_TRIGGER)}, p_code_column, v_rel.nspname, v_rel.relname, ${lit(c.schema)}, 'tg_birth_finalize', p_collection);
            EXECUTE format('COMMENT ON TRIGGER %I ON %I.%I IS %L', ${lit(GATE_TRIGGER)}, v_rel.nspname, v_rel.relname,
                           ${lit(tc.gate)} || format(' Collection %s.', p_collection));
            EXECUTE format('COMMENT ON TRIGGER %I ON %I.%I IS %L', ${lit(FINALIZE_TRIGGER)}, v_rel.nspname, v_rel.relname,
                           ${lit(tc.finalize)} || format(' Collection %s.', p_collection));
        END IF;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}(text, regclass, name, text, text)`, 'Registers (or updates) a governed family: validates the table (an existing ordinary table the caller owns), the code column (text-like, not generated), the code pattern (a valid regex) and the mode (off | report | enforce), records it in birth_family and attaches the gate triggers _100_birth_gate and _900_birth_finalize. Idempotent: the same arguments change nothing (missing or altered triggers are re-attached); changed arguments update the family and re-attach the triggers. A table belongs to one collection.')}`;
}

function setFamilyMode(c: Ctx): string {
  const fn = c.q('set_family_mode');
  const family = c.q('birth_family');
  return sqlText`
    CREATE FUNCTION ${fn}(p_collection text, p_mode text)
    RETURNS void
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED}
    AS $fn$
    BEGIN
        IF p_mode IS NULL OR p_mode NOT IN ${MODES} THEN
            ${raiseAt(12, 'FAMILY_MODE_INVALID', `format('mode %L for collection %s', p_mode, p_collection)`)}
        END IF;
        UPDATE ${family}
           SET mode = p_mode, mode_changed_at = now(), mode_changed_by = ${ACTOR}
         WHERE collection_name = p_collection AND mode <> p_mode;
        IF NOT FOUND AND NOT EXISTS (SELECT 1 FROM ${family} WHERE collection_name = p_collection) THEN
            ${raiseAt(12, 'FAMILY_UNKNOWN', `format('collection %L', p_collection)`)}
        END IF;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}(text, text)`, 'Switches one family between off, report and enforce; records who and when (birth_family.mode_changed_at/by). Setting the current mode again changes nothing.')}`;
}

function issuePermit(c: Ctx): string {
  const fn = c.q('issue_permit');
  const permit = c.q('birth_admission_permit');
  return sqlText`
    CREATE FUNCTION ${fn}(p_collection text, p_entity_code text, p_ttl interval DEFAULT '24 hours')
    RETURNS bigint
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED}
    AS $fn$
    DECLARE
        v_family ${c.q('birth_family')}%ROWTYPE;
        v_permit_id bigint;
        v_live record;
        v_born record;
    BEGIN
        SELECT * INTO v_family FROM ${c.q('birth_family')} WHERE collection_name = p_collection;
        IF NOT FOUND THEN
            ${raiseAt(12, 'FAMILY_UNKNOWN', `format('collection %L', p_collection)`)}
        END IF;
        IF p_entity_code IS NULL OR p_entity_code = '' OR p_entity_code !~ v_family.code_pattern THEN
            ${raiseAt(12, 'PERMIT_CODE_INVALID', `format('collection %s, code %L, pattern %L', p_collection, p_entity_code, v_family.code_pattern)`)}
        END IF;
        IF p_ttl IS NULL OR p_ttl <= interval '0' THEN
            ${raiseAt(12, 'PERMIT_TTL_INVALID', `format('ttl %L for collection %s, code %L', p_ttl, p_collection, p_entity_code)`)}
        END IF;
        SELECT registry_id, status, born_at INTO v_born
          FROM ${c.q('birth_registry')} WHERE collection_name = p_collection AND entity_code = p_entity_code;
        IF FOUND THEN
            ${raiseAt(12, 'PERMIT_ALREADY_BORN', `format('collection %s, code %L: registry_id %s, %s since %s', p_collection, p_entity_code, v_born.registry_id, v_born.status, v_born.born_at)`)}
        END IF;

        -- a permit whose lifetime ran out becomes EXPIRED now, so it does not block a new one
        UPDATE ${permit} SET state = 'EXPIRED', expired_at = now()
         WHERE collection_name = p_collection AND entity_code = p_entity_code AND state = 'ISSUED' AND expires_at <= now();

        INSERT INTO ${permit} (collection_name, entity_code, issued_by, expires_at)
        VALUES (p_collection, p_entity_code, ${ACTOR}, now() + p_ttl)
        ON CONFLICT (collection_name, entity_code) WHERE state = 'ISSUED' DO NOTHING
        RETURNING permit_id INTO v_permit_id;
        IF v_permit_id IS NULL THEN
            SELECT permit_id, issued_by, expires_at INTO v_live
              FROM ${permit} WHERE collection_name = p_collection AND entity_code = p_entity_code AND state = 'ISSUED';
            ${raiseAt(12, 'PERMIT_ALREADY_LIVE', `format('collection %s, code %L: permit %s issued by %I, expires %s', p_collection, p_entity_code, v_live.permit_id, v_live.issued_by, v_live.expires_at)`)}
        END IF;
        RETURN v_permit_id;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}(text, text, interval)`, 'Issues the admission permit for one (collection, code) and returns its permit_id. Refuses an unknown family, a NULL/empty code or one that fails the family pattern, a non-positive lifetime, a code already in the registry and a second live permit (a lapsed ISSUED permit is marked EXPIRED first).')}`;
}

function revokePermit(c: Ctx): string {
  const fn = c.q('revoke_permit');
  const permit = c.q('birth_admission_permit');
  return sqlText`
    CREATE FUNCTION ${fn}(p_permit_id bigint, p_reason text)
    RETURNS void
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED}
    AS $fn$
    DECLARE
        v_permit ${permit}%ROWTYPE;
    BEGIN
        IF p_reason IS NULL OR btrim(p_reason) = '' THEN
            ${raiseAt(12, 'REASON_REQUIRED', `format('revoke_permit(%s, %L)', p_permit_id, p_reason)`)}
        END IF;
        SELECT * INTO v_permit FROM ${permit} WHERE permit_id = p_permit_id FOR UPDATE;
        IF NOT FOUND THEN
            ${raiseAt(12, 'PERMIT_NOT_FOUND', `format('permit_id %s', p_permit_id)`)}
        END IF;
        IF v_permit.state <> 'ISSUED' THEN
            ${raiseAt(12, 'PERMIT_NOT_ISSUED', `format('permit %s (%s:%s) is %s; ISSUED -> REVOKED refused', p_permit_id, v_permit.collection_name, v_permit.entity_code, v_permit.state)`)}
        END IF;
        UPDATE ${permit}
           SET state = 'REVOKED', revoked_at = now(), revoked_by = ${ACTOR}, revoke_reason = p_reason
         WHERE permit_id = p_permit_id;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}(bigint, text)`, 'ISSUED -> REVOKED with a required reason, recording who and when. Any other state is an error (BG112); an unknown permit is BG111.')}`;
}

function expirePermits(c: Ctx): string {
  const fn = c.q('expire_permits');
  return sqlText`
    CREATE FUNCTION ${fn}()
    RETURNS integer
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED}
    AS $fn$
    DECLARE
        v_count integer;
    BEGIN
        UPDATE ${c.q('birth_admission_permit')}
           SET state = 'EXPIRED', expired_at = now()
         WHERE state = 'ISSUED' AND expires_at <= now();
        GET DIAGNOSTICS v_count = ROW_COUNT;
        RETURN v_count;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}()`, 'Marks every ISSUED permit past expires_at as EXPIRED and returns how many (run it from a scheduler; the gate already refuses lapsed permits without it).')}`;
}

export function retireGateCheck(c: Ctx): string {
  const fn = c.q('retire_gate_check');
  return sqlText`
    CREATE FUNCTION ${fn}(p_collection text, p_entity_code text)
    RETURNS TABLE (allowed boolean, reason text)
    LANGUAGE plpgsql
    STABLE
    SECURITY DEFINER
    ${PINNED}
    SET row_security = off
    AS $fn$
    DECLARE
        v_family ${c.q('birth_family')}%ROWTYPE;
        v_reg record;
        v_rel record;
        v_live boolean;
    BEGIN
        SELECT * INTO v_family FROM ${c.q('birth_family')} WHERE collection_name = p_collection;
        IF NOT FOUND THEN
            RETURN QUERY SELECT false, format('unknown family %L', p_collection);
            RETURN;
        END IF;
        SELECT registry_id, status, retired_at INTO v_reg
          FROM ${c.q('birth_registry')} WHERE collection_name = p_collection AND entity_code = p_entity_code;
        IF NOT FOUND THEN
            RETURN QUERY SELECT false, format('not born: no registry row for %s:%s', p_collection, p_entity_code);
            RETURN;
        END IF;
        IF v_reg.status <> 'BORN' THEN
            RETURN QUERY SELECT false, format('%s:%s is already %s (since %s)', p_collection, p_entity_code, v_reg.status, v_reg.retired_at);
            RETURN;
        END IF;
        SELECT n.nspname, c.relname, ${CODE_BASE_TYPE} AS type_name, a.attnum IS NOT NULL AS has_column,
               COALESCE(${SAFE_CODE_TYPE}, false) AS safe_type
          INTO v_rel
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = v_family.code_column AND a.attnum > 0 AND NOT a.attisdropped
          LEFT JOIN pg_type t ON t.oid = a.atttypid
         WHERE c.oid = v_family.table_name;
        IF NOT FOUND THEN
            RETURN QUERY SELECT true, format('phantom: the family table (oid %s) no longer exists', v_family.table_name::oid);
            RETURN;
        END IF;
        IF NOT v_rel.has_column OR NOT v_rel.safe_type THEN
            RETURN QUERY SELECT false, format('cannot check: column %I of %I.%I is missing or not text, varchar or name; re-register the family', v_family.code_column, v_rel.nspname, v_rel.relname);
            RETURN;
        END IF;
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I WHERE %I = CAST($1 AS %s))', v_rel.nspname, v_rel.relname, v_family.code_column, v_rel.type_name)
           INTO v_live USING p_entity_code;
        IF v_live THEN
            RETURN QUERY SELECT false, format('live: %I.%I still has a row with %I = %L', v_rel.nspname, v_rel.relname, v_family.code_column, p_entity_code);
        ELSE
            RETURN QUERY SELECT true, format('phantom: no row of %I.%I has %I = %L', v_rel.nspname, v_rel.relname, v_family.code_column, p_entity_code);
        END IF;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}(text, text)`, 'The retire safety check, callable on its own: allowed only for a BORN object that no longer exists in its family table (a phantom), or whose family table is gone. Refuses unknown families, unknown codes, RETIRED objects and live objects, with the reason. Runs with row_security = off, so a row-level policy can never hide a live row (it raises instead).')}`;
}

function retire(c: Ctx): string {
  const fn = c.q('retire');
  const registry = c.q('birth_registry');
  return sqlText`
    CREATE FUNCTION ${fn}(p_collection text, p_entity_code text, p_reason text)
    RETURNS void
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED}
    AS $fn$
    DECLARE
        v_actor name := ${ACTOR};
        v_family ${c.q('birth_family')}%ROWTYPE;
        v_reg ${registry}%ROWTYPE;
        v_check record;
    BEGIN
        IF p_reason IS NULL OR btrim(p_reason) = '' THEN
            ${raiseAt(12, 'REASON_REQUIRED', `format('retire(%L, %L, %L)', p_collection, p_entity_code, p_reason)`)}
        END IF;
        IF current_setting('transaction_isolation') <> 'read committed' THEN
            ${raiseAt(12, 'RETIRE_ISOLATION', `format('transaction_isolation is %s', current_setting('transaction_isolation'))`)}
        END IF;
        SELECT * INTO v_family FROM ${c.q('birth_family')} WHERE collection_name = p_collection;
        IF NOT FOUND THEN
            ${raiseAt(12, 'FAMILY_UNKNOWN', `format('collection %L', p_collection)`)}
        END IF;
        SELECT * INTO v_reg FROM ${registry} WHERE collection_name = p_collection AND entity_code = p_entity_code FOR UPDATE;
        IF NOT FOUND OR v_reg.status <> 'BORN' THEN
            ${raiseAt(12, 'RETIRE_NOT_BORN', `format('%s:%s is %s', p_collection, p_entity_code, COALESCE(v_reg.status, 'not in the registry'))`)}
        END IF;
        -- hold off writers of the family table, so the phantom check below sees every committed row
        IF EXISTS (SELECT 1 FROM pg_class WHERE oid = v_family.table_name) THEN
            EXECUTE format('LOCK TABLE %s IN SHARE MODE', v_family.table_name);
        END IF;
        SELECT * INTO v_check FROM ${c.q('retire_gate_check')}(p_collection, p_entity_code);
        IF NOT v_check.allowed THEN
            ${raiseAt(12, 'RETIRE_REFUSED', `format('%s:%s: %s', p_collection, p_entity_code, v_check.reason)`)}
        END IF;
        WITH retired AS (
            UPDATE ${registry}
               SET status = 'RETIRED', retired_at = now(), retired_by = v_actor, retire_reason = p_reason
             WHERE registry_id = v_reg.registry_id
            RETURNING registry_id, collection_name, entity_code, born_at
        )
        INSERT INTO ${c.q('registry_changelog')} (op, collection_name, entity_code, registry_id, born_at, actor, detail)
        SELECT 'RETIRED', r.collection_name, r.entity_code, r.registry_id, r.born_at, v_actor,
               jsonb_build_object('reason', p_reason, 'check', v_check.reason)
          FROM retired r;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}(text, text, text)`, 'BORN -> RETIRED for one object, only when retire_gate_check allows it (a phantom): locks the registry row and the family table (SHARE, so no writer can slip in during the check), then updates the registry and writes a RETIRED changelog row carrying the object\'s born_at. Needs READ COMMITTED; refuses everything else with BG140/BG141/BG142 and a HINT.')}`;
}

export function admissionFunctions(c: Ctx): string[] {
  return [registerFamily(c), setFamilyMode(c), issuePermit(c), revokePermit(c), expirePermits(c), retireGateCheck(c), retire(c)];
}
