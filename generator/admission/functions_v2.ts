/**
 * The admission API as of 0.2 (migration 000006). Same signatures as 0.1.0 (CREATE OR REPLACE), plus
 * register_family(..., p_code_max_length), move_family() and set_family_code_limit().
 *  - register_family refuses to re-register a collection onto another table (BG153): that is an
 *    explicit, recorded move_family() by a role that owns (or has TRIGGER on) both tables (BG154).
 *  - Table locks are taken under a bounded lock_timeout (BG156), never an unbounded wait.
 *  - Every code-taking entry point refuses a code longer than the family limit (BG152); no DETAIL
 *    echoes more than 100 characters of a code; every HINT names package objects schema-qualified.
 *  - Permit timestamps are clock readings, consistently: issued_at = clock_timestamp(),
 *    revoked_at = greatest(clock_timestamp(), issued_at); a TTL that overflows is BG155.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { lit, sqlText } from '../lib/sql.js';
import { ACTOR, MODES, PINNED, SAFE_CODE_TYPE, at } from './common.js';
import { ALL_GATE_TRIGGERS, DEFAULT_CODE_LIMIT, MAX_CODE_LIMIT, raiseQ, short } from './v2_common.js';

export const signaturesV2 = {
  register_family6: 'register_family(text, regclass, name, text, text, integer)',
  move_family: 'move_family(text, regclass, text)',
  set_family_code_limit: 'set_family_code_limit(text, integer)',
  attach: 'birth_family_attach_gates(text)',
  lock: 'birth_lock_table(regclass, text)',
  defs: 'birth_gate_trigger_definitions(text, text, name)',
  register: 'tg_birth_register()',
} as const;

export const familyUnknown = (c: Ctx, pad: number, expr = 'p_collection') =>
  raiseQ(c, pad, 'FAMILY_UNKNOWN', `format('collection %L', pg_catalog.left(${expr}, 100))`, `format('Register it first: SELECT ${c.schema}.register_family(%L, ''<schema.table>'', ''<code column>'', ''<pattern>'', ''report''); registered collections: SELECT collection_name FROM ${c.schema}.birth_family;', pg_catalog.left(${expr}, 63))`);

/** Lock a table under a bounded lock_timeout (the caller's, if shorter, else 5 s). */
function lockTable(c: Ctx): string {
  const fn = c.q('birth_lock_table');
  return sqlText`
    CREATE FUNCTION ${fn}(p_table regclass, p_purpose text)
    RETURNS void
    LANGUAGE plpgsql
    VOLATILE
    ${PINNED}
    AS $fn$
    DECLARE
        v_prev text := pg_catalog.current_setting('lock_timeout');
    BEGIN
        IF v_prev = '0' OR v_prev::interval > interval '5 seconds' THEN
            PERFORM pg_catalog.set_config('lock_timeout', '5s', true);
        END IF;
        BEGIN
            EXECUTE pg_catalog.format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', p_table);
        EXCEPTION WHEN lock_not_available THEN
            PERFORM pg_catalog.set_config('lock_timeout', v_prev, true);
            ${raiseQ(c, 12, 'FAMILY_LOCK_TIMEOUT', `format('%s: table %s stays locked by pid(s) %s longer than lock_timeout %s', p_purpose, p_table, COALESCE((SELECT pg_catalog.string_agg(DISTINCT l.pid::text, ', ') FROM pg_catalog.pg_locks l WHERE l.relation = p_table AND l.granted AND l.pid <> pg_catalog.pg_backend_pid()), 'unknown'), pg_catalog.current_setting('lock_timeout'))`)}
        END;
        PERFORM pg_catalog.set_config('lock_timeout', v_prev, true);
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}(regclass, text)`, 'Internal: LOCK TABLE ... IN SHARE ROW EXCLUSIVE MODE (what CREATE/DROP TRIGGER takes) under lock_timeout = the caller\'s if shorter, else 5s; raises BG156 naming the lock holders instead of waiting without bound.')}`;
}

/** (Re)attach the gate triggers of a family to its table unless they are all there exactly. */
function attachGates(c: Ctx): string {
  const fn = c.q('birth_family_attach_gates');
  return sqlText`
    CREATE FUNCTION ${fn}(p_collection text)
    RETURNS boolean
    LANGUAGE plpgsql
    VOLATILE
    ${PINNED}
    SET standard_conforming_strings = on
    AS $fn$
    DECLARE
        v_family record;
        v_ident text;
        v_ok integer;
        v_trigger name;
        v_def record;
    BEGIN
        SELECT f.collection_name, f.table_name, f.code_column INTO v_family
          FROM ${c.q('birth_family')} f WHERE f.collection_name = p_collection;
        SELECT pg_catalog.format('%I.%I', n.nspname, k.relname) INTO v_ident
          FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
         WHERE k.oid = v_family.table_name;
        SELECT pg_catalog.count(*) INTO v_ok
          FROM ${c.q('birth_gate_trigger_definitions')}(p_collection, v_ident, v_family.code_column) d
          JOIN pg_catalog.pg_trigger t ON t.tgrelid = v_family.table_name AND t.tgname = d.trigger_name AND NOT t.tgisinternal
         WHERE t.tgenabled = 'O' AND pg_catalog.pg_get_triggerdef(t.oid) = d.definition;
        IF v_ok = (SELECT pg_catalog.count(*) FROM ${c.q('birth_gate_trigger_definitions')}(p_collection, v_ident, v_family.code_column)) AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = v_family.table_name
                                       AND t.tgname = ANY (ARRAY[${ALL_GATE_TRIGGERS.map(lit).join(', ')}]::name[])
                                       AND t.tgname NOT IN (SELECT d.trigger_name FROM ${c.q('birth_gate_trigger_definitions')}(p_collection, v_ident, v_family.code_column) d)) THEN
            RETURN false;
        END IF;
        PERFORM ${c.q('birth_lock_table')}(v_family.table_name, pg_catalog.format('attaching the gates of collection %s', p_collection));
        FOR v_trigger IN
            SELECT t.tgname FROM pg_catalog.pg_trigger t
             WHERE t.tgrelid = v_family.table_name AND NOT t.tgisinternal
               AND t.tgname = ANY (ARRAY[${ALL_GATE_TRIGGERS.map(lit).join(', ')}]::name[])
        LOOP
            EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', v_trigger, v_ident);
        END LOOP;
        FOR v_def IN SELECT * FROM ${c.q('birth_gate_trigger_definitions')}(p_collection, v_ident, v_family.code_column) LOOP
            EXECUTE v_def.definition;
            EXECUTE pg_catalog.format('COMMENT ON TRIGGER %I ON %s IS %L', v_def.trigger_name, v_ident,
                pg_catalog.format('birthgate gate of collection %s (%s); attached by ${c.schema}.register_family, do not disable: v_drift_trigger_state reports it.',
                    p_collection, CASE v_def.trigger_name
                        WHEN '_100_birth_gate' THEN 'layer 1, validates each proposed row'
                        WHEN '_110_birth_register' THEN 'layer 1, consumes permits and records the births of the rows an INSERT really inserted, set-based'
                        WHEN '_120_birth_recode' THEN 'layer 1, records the birth of a changed code (any UPDATE whose final row has another code)'
                        WHEN '_130_birth_truncate' THEN 'layer 2, watches TRUNCATE: objects born in this transaction may not vanish'
                        WHEN '_910_birth_finalize_recode' THEN 'layer 2 at commit for a re-code (any UPDATE whose final row has another code): finalized <-> BORN, both directions'
                        ELSE 'layer 2 at commit: finalized <-> BORN, both directions' END));
        END LOOP;
        RETURN true;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}(text)`, 'Internal: attaches the gate triggers (birth_gate_trigger_definitions) to the family table unless all are present, enabled and exactly as defined; detaches older gate triggers first (table lock under a bounded lock_timeout). Runs with standard_conforming_strings = on, which the definitions (a quoted code pattern in the WHEN clause of _100_birth_gate) are written for. Returns whether it changed anything.')}`;
}

/** Validation of the table (into v_rel) and the code column (into v_att), shared by register and move. */
export function validateTable(c: Ctx): string {
  return at(8, sqlText`
SELECT k.oid, k.relkind, k.relpersistence, k.relowner, k.relispartition, n.nspname, k.relname,
       EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = k.oid OR i.inhparent = k.oid) AS inherits
  INTO v_rel
  FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
 WHERE k.oid = p_table;
IF NOT FOUND OR v_rel.relkind <> 'r' OR v_rel.relpersistence = 't' OR v_rel.relispartition OR v_rel.inherits
   OR v_rel.nspname IN (${lit(c.schema)}, 'pg_catalog', 'information_schema') THEN
    ${raiseQ(c, 12, 'FAMILY_TABLE_INVALID', `format('table %s (oid %s) for collection %s: %s', p_table, p_table::oid, p_collection, CASE WHEN v_rel.oid IS NULL THEN 'does not exist' WHEN v_rel.relispartition THEN 'is a partition (statement triggers with transition tables do not fire for rows routed through its parent)' WHEN v_rel.relkind = 'p' THEN 'is a partitioned table (transition tables cannot be used on its partitions)' WHEN v_rel.relkind <> 'r' THEN format('relkind %L is not an ordinary table', v_rel.relkind) WHEN v_rel.relpersistence = 't' THEN 'is temporary' WHEN v_rel.inherits THEN 'is part of an inheritance tree (statement triggers of a child do not fire for writes through its parent)' ELSE format('lives in schema %I', v_rel.nspname) END)`)}
END IF;
-- layer 2 plans queries over the table as the package owner: nothing there may run code of its owner
v_unsafe := ${c.q('family_relation_unsafe')}(p_table);
IF v_unsafe IS NOT NULL THEN
    ${raiseQ(c, 12, 'FAMILY_TABLE_OWNER_CODE', `format('table %s for collection %s: %s', p_table, p_collection, pg_catalog.left(v_unsafe, 300))`, `format('Remove what DETAIL names (DROP INDEX, DROP STATISTICS, ALTER TABLE ... DROP CONSTRAINT, or ALTER TABLE <child> NO INHERIT %s), or use only pg_catalog functions there; then retry: SELECT ${c.schema}.register_family(%L, %L, %L, ''<pattern>'', ''<mode>'');', p_table, p_collection, p_table::text, p_code_column)`)}
END IF;
`);
}

function validateColumn(c: Ctx): string {
  return at(8, sqlText`
IF p_code_column IS NULL THEN
    ${raiseQ(c, 12, 'FAMILY_CODE_COLUMN_INVALID', `format('code column is NULL for table %s (collection %s)', p_table, p_collection)`)}
END IF;
SELECT a.attnum, a.attgenerated, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_name, ${SAFE_CODE_TYPE} AS safe_type
  INTO v_att
  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
 WHERE a.attrelid = p_table AND a.attname = p_code_column AND a.attnum > 0 AND NOT a.attisdropped;
IF NOT FOUND OR v_att.attgenerated <> '' OR NOT v_att.safe_type THEN
    ${raiseQ(c, 12, 'FAMILY_CODE_COLUMN_INVALID', `format('column %I of %s (collection %s): %s', p_code_column, p_table, p_collection, CASE WHEN v_att.attnum IS NULL THEN 'does not exist' WHEN v_att.attgenerated <> '' THEN 'is a generated column (BEFORE triggers cannot see its value)' ELSE format('type %s is not text, varchar, name or a domain directly over one of them', v_att.type_name) END)`)}
END IF;

`);
}

function registerImpl(c: Ctx): string {
  const fn = c.q('register_family');
  const family = c.q('birth_family');
  return sqlText`
    CREATE FUNCTION ${fn}(
        p_collection text,
        p_table regclass,
        p_code_column name,
        p_code_pattern text,
        p_mode text,
        p_code_max_length integer
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
        v_unsafe text;
    BEGIN
        IF p_collection IS NULL OR p_collection !~ '^[a-z][a-z0-9_]{0,62}$' THEN
            ${raiseQ(c, 12, 'FAMILY_COLLECTION_INVALID', `format('collection %L', pg_catalog.left(p_collection, 100))`)}
        END IF;
        IF p_mode IS NULL OR p_mode NOT IN ${MODES} THEN
            ${raiseQ(c, 12, 'FAMILY_MODE_INVALID', `format('mode %L for collection %s', pg_catalog.left(p_mode, 100), p_collection)`)}
        END IF;
        IF p_code_max_length IS NOT NULL AND (p_code_max_length < 1 OR p_code_max_length > ${MAX_CODE_LIMIT}) THEN
            ${raiseQ(c, 12, 'FAMILY_CODE_LIMIT_INVALID', `format('code length limit %s for collection %s', p_code_max_length, p_collection)`)}
        END IF;
        IF p_table IS NULL THEN
            ${raiseQ(c, 12, 'FAMILY_TABLE_INVALID', `format('table is NULL for collection %s', p_collection)`)}
        END IF;

        ${validateTable(c)}
        IF NOT pg_catalog.pg_has_role(v_actor, v_rel.relowner, 'USAGE') THEN
            ${raiseQ(c, 12, 'FAMILY_TABLE_NOT_OWNED', `format('table %s is owned by %I; caller %I', p_table, pg_catalog.pg_get_userbyid(v_rel.relowner), v_actor)`)}
        END IF;

        ${validateColumn(c)}
        IF p_code_pattern IS NULL OR p_code_pattern = '' THEN
            ${raiseQ(c, 12, 'FAMILY_PATTERN_INVALID', `format('pattern %L for collection %s is empty', p_code_pattern, p_collection)`)}
        END IF;
        BEGIN
            PERFORM '' ~ p_code_pattern;
        EXCEPTION WHEN invalid_regular_expression THEN
            ${raiseQ(c, 12, 'FAMILY_PATTERN_INVALID', `format('pattern %L for collection %s: %s', pg_catalog.left(p_code_pattern, 200), p_collection, SQLERRM)`)}
        END;
        IF pg_catalog.left(p_code_pattern, 1) <> '^' OR pg_catalog.right(p_code_pattern, 1) <> '$' THEN
            RAISE NOTICE 'code pattern % of collection % is not anchored (^...$): it matches any code that merely contains a match', p_code_pattern, p_collection;
        END IF;

        SELECT f.collection_name INTO v_other FROM ${family} f WHERE f.table_name = p_table AND f.collection_name <> p_collection;
        IF FOUND THEN
            ${raiseQ(c, 12, 'FAMILY_TABLE_TAKEN', `format('table %s is registered as collection %s; refused for collection %s', p_table, v_other, p_collection)`)}
        END IF;

        SELECT * INTO v_old FROM ${family} WHERE collection_name = p_collection FOR UPDATE;
        IF FOUND AND v_old.table_name::oid <> p_table::oid AND EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = v_old.table_name) THEN
            ${raiseQ(c, 12, 'FAMILY_MOVE_REFUSED', `format('collection %s is registered on table %s; register_family(%L, %s, ...) would take the gates off it', p_collection, v_old.table_name, p_collection, p_table)`, `format('To move the collection on purpose (needs owner or TRIGGER on both tables): SELECT ${c.schema}.move_family(%L, %L, ''<reason>''); then register_family again to change column, pattern or mode.', p_collection, p_table::text)`)}
        END IF;
        IF NOT FOUND THEN
            INSERT INTO ${family} (collection_name, table_name, code_column, code_pattern, mode, registered_by, mode_changed_by, code_max_length)
            VALUES (p_collection, p_table, p_code_column, p_code_pattern, p_mode, v_actor, v_actor, COALESCE(p_code_max_length, ${DEFAULT_CODE_LIMIT}));
        ELSIF (v_old.table_name, v_old.code_column, v_old.code_pattern, v_old.mode, v_old.code_max_length)
              IS DISTINCT FROM (p_table, p_code_column, p_code_pattern, p_mode, COALESCE(p_code_max_length, v_old.code_max_length)) THEN
            -- (the old table is gone: the family simply follows the new one)
            UPDATE ${family}
               SET table_name = p_table,
                   code_column = p_code_column,
                   code_pattern = p_code_pattern,
                   code_max_length = COALESCE(p_code_max_length, code_max_length),
                   mode = p_mode,
                   mode_changed_at = CASE WHEN mode = p_mode THEN mode_changed_at ELSE pg_catalog.now() END,
                   mode_changed_by = CASE WHEN mode = p_mode THEN mode_changed_by ELSE v_actor END
             WHERE collection_name = p_collection;
        END IF;
        PERFORM ${c.q('birth_family_attach_gates')}(p_collection);
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}(text, regclass, name, text, text, integer)`, `Registers (or updates) a governed family with a code length limit (1-${MAX_CODE_LIMIT} characters; NULL keeps the current one, ${DEFAULT_CODE_LIMIT} for a new family): validates the table (an existing ordinary table the caller owns; not a partition, partitioned or inheritance table), the code column (text-like, not generated, not NULL), the pattern and the mode, records it in birth_family and attaches the gate triggers _100_birth_gate, _110_birth_register, _120_birth_recode and _900_birth_finalize (table lock under a bounded lock_timeout, BG156). Idempotent. A collection registered on another existing table is refused (BG153): use move_family.`)}

    CREATE OR REPLACE FUNCTION ${c.q('register_family')}(
        p_collection text,
        p_table regclass,
        p_code_column name,
        p_code_pattern text,
        p_mode text DEFAULT 'report'
    )
    RETURNS void
    LANGUAGE sql
    VOLATILE
    SECURITY DEFINER
    ${PINNED}
    AS $fn$
        SELECT ${fn}(p_collection, p_table, p_code_column, p_code_pattern, p_mode, NULL::integer)
    $fn$;
    ${comment('FUNCTION', `${fn}(text, regclass, name, text, text)`, `Registers (or updates) a governed family; the same as register_family(..., p_code_max_length => NULL): a new family gets the default code length limit (${DEFAULT_CODE_LIMIT}), an existing one keeps its limit. Refuses to re-register a collection onto another table (BG153, see move_family).`)}`;
}

function moveFamily(c: Ctx): string {
  const fn = c.q('move_family');
  const family = c.q('birth_family');
  return sqlText`
    CREATE FUNCTION ${fn}(p_collection text, p_table regclass, p_reason text)
    RETURNS void
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED}
    AS $fn$
    DECLARE
        v_actor name := ${ACTOR};
        v_family ${family}%ROWTYPE;
        v_from record;
        v_to record;
        v_rel record;
        v_att record;
        v_trigger name;
        v_unsafe text;
        p_code_column name;
    BEGIN
        IF p_reason IS NULL OR pg_catalog.btrim(p_reason) = '' THEN
            ${raiseQ(c, 12, 'REASON_REQUIRED', `format('move_family(%L, %s, %L)', pg_catalog.left(p_collection, 100), p_table, p_reason)`)}
        END IF;
        SELECT * INTO v_family FROM ${family} WHERE collection_name = p_collection FOR UPDATE;
        IF NOT FOUND THEN
            ${familyUnknown(c, 12)}
        END IF;
        IF p_table IS NOT NULL AND EXISTS (SELECT 1 FROM ${family} f WHERE f.table_name = p_table AND f.collection_name <> p_collection) THEN
            ${raiseQ(c, 12, 'FAMILY_TABLE_TAKEN', `format('table %s is registered as collection %s; refused for collection %s', p_table, (SELECT f.collection_name FROM ${family} f WHERE f.table_name = p_table), p_collection)`)}
        END IF;
        IF p_table IS NULL OR v_family.table_name::oid = p_table::oid THEN
            ${raiseQ(c, 12, 'FAMILY_TABLE_INVALID', `format('move_family(%L, %s): %s', p_collection, p_table, CASE WHEN p_table IS NULL THEN 'the new table is NULL' ELSE 'the collection is already on that table' END)`)}
        END IF;
        SELECT k.oid, k.relowner, pg_catalog.format('%I.%I', n.nspname, k.relname) AS ident INTO v_from
          FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace WHERE k.oid = v_family.table_name;
        SELECT k.oid, k.relowner INTO v_to FROM pg_catalog.pg_class k WHERE k.oid = p_table;
        p_code_column := v_family.code_column;
        ${validateTable(c)}
        ${validateColumn(c)}
        IF v_to.oid IS NULL
           OR NOT (pg_catalog.pg_has_role(v_actor, v_to.relowner, 'USAGE') OR pg_catalog.has_table_privilege(v_actor, p_table, 'TRIGGER'))
           OR (v_from.oid IS NOT NULL
               AND NOT (pg_catalog.pg_has_role(v_actor, v_from.relowner, 'USAGE') OR pg_catalog.has_table_privilege(v_actor, v_from.oid, 'TRIGGER'))) THEN
            ${raiseQ(c, 12, 'FAMILY_MOVE_NOT_PERMITTED', `format('role %I moving collection %s from %s (owner %s) to %s (owner %s)', v_actor, p_collection, COALESCE(v_from.ident, v_family.table_name::text), COALESCE(pg_catalog.pg_get_userbyid(v_from.relowner)::text, '-'), p_table, COALESCE(pg_catalog.pg_get_userbyid(v_to.relowner)::text, '-'))`)}
        END IF;
        IF v_from.oid IS NOT NULL THEN
            PERFORM ${c.q('birth_lock_table')}(v_from.oid::regclass, pg_catalog.format('moving collection %s off %s', p_collection, v_from.ident));
            FOR v_trigger IN
                SELECT t.tgname FROM pg_catalog.pg_trigger t
                 WHERE t.tgrelid = v_from.oid AND NOT t.tgisinternal AND t.tgname = ANY (ARRAY[${ALL_GATE_TRIGGERS.map(lit).join(', ')}]::name[])
            LOOP
                EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', v_trigger, v_from.ident);
            END LOOP;
        END IF;
        INSERT INTO ${c.q('birth_family_move')} (collection_name, from_table, from_table_name, to_table, reason, moved_by)
        VALUES (p_collection, v_family.table_name::oid, COALESCE(v_from.ident, v_family.table_name::text), p_table::oid, p_reason, v_actor);
        UPDATE ${family} SET table_name = p_table WHERE collection_name = p_collection;
        PERFORM ${c.q('birth_family_attach_gates')}(p_collection);
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}(text, regclass, text)`, 'Moves a collection to another table on purpose: needs the owner (or TRIGGER privilege) of both tables (BG154) and a reason; takes the gate triggers off the old table, records the move in birth_family_move and registers the new table with the same column, pattern, mode and limit. v_drift_trigger_state keeps reporting the old table as a governed table without gates while it exists.')}`;
}

function setCodeLimit(c: Ctx): string {
  const fn = c.q('set_family_code_limit');
  return sqlText`
    CREATE FUNCTION ${fn}(p_collection text, p_max_length integer)
    RETURNS void
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED}
    AS $fn$
    BEGIN
        IF p_max_length IS NULL OR p_max_length < 1 OR p_max_length > ${MAX_CODE_LIMIT} THEN
            ${raiseQ(c, 12, 'FAMILY_CODE_LIMIT_INVALID', `format('code length limit %s for collection %s', p_max_length, pg_catalog.left(p_collection, 100))`)}
        END IF;
        UPDATE ${c.q('birth_family')} SET code_max_length = p_max_length WHERE collection_name = p_collection;
        IF NOT FOUND THEN
            ${familyUnknown(c, 12)}
        END IF;
        -- the limit is part of the WHEN clause of _100_birth_gate: re-attach it (when the table exists)
        IF EXISTS (SELECT 1 FROM ${c.q('birth_family')} f JOIN pg_catalog.pg_class k ON k.oid = f.table_name
                    WHERE f.collection_name = p_collection) THEN
            PERFORM ${c.q('birth_family_attach_gates')}(p_collection);
        END IF;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}(text, integer)`, `Sets the longest code (in characters, 1-${MAX_CODE_LIMIT}) the family admits: issue_permit, the gates and retire refuse longer codes with BG152. Re-attaches the gate triggers (the limit is part of the WHEN clause of _100_birth_gate; table lock under a bounded lock_timeout, BG156).`)}`;
}

function setFamilyMode(c: Ctx): string {
  const fn = c.q('set_family_mode');
  const family = c.q('birth_family');
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}(p_collection text, p_mode text)
    RETURNS void
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED}
    AS $fn$
    BEGIN
        IF p_mode IS NULL OR p_mode NOT IN ${MODES} THEN
            ${raiseQ(c, 12, 'FAMILY_MODE_INVALID', `format('mode %L for collection %s', pg_catalog.left(p_mode, 100), pg_catalog.left(p_collection, 100))`, `format('Use one of off, report, enforce: SELECT ${c.schema}.set_family_mode(%L, ''enforce'');', pg_catalog.left(p_collection, 63))`)}
        END IF;
        UPDATE ${family}
           SET mode = p_mode, mode_changed_at = pg_catalog.now(), mode_changed_by = ${ACTOR}
         WHERE collection_name = p_collection AND mode <> p_mode;
        IF NOT FOUND AND NOT EXISTS (SELECT 1 FROM ${family} WHERE collection_name = p_collection) THEN
            ${familyUnknown(c, 12)}
        END IF;
    END;
    $fn$;`;
}

function issuePermit(c: Ctx): string {
  const fn = c.q('issue_permit');
  const permit = c.q('birth_admission_permit');
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}(p_collection text, p_entity_code text, p_ttl interval DEFAULT '24 hours')
    RETURNS bigint
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED}
    AS $fn$
    DECLARE
        v_collection text := p_collection;
        v_family ${c.q('birth_family')}%ROWTYPE;
        v_permit_id bigint;
        v_live record;
        v_born record;
        v_now timestamptz;
        v_expires timestamptz;
    BEGIN
        SELECT * INTO v_family FROM ${c.q('birth_family')} WHERE collection_name = p_collection;
        IF NOT FOUND THEN
            ${familyUnknown(c, 12)}
        END IF;
        IF pg_catalog.length(p_entity_code) > v_family.code_max_length THEN
            ${raiseQ(c, 12, 'CODE_TOO_LONG', `format('collection %s: code of %s characters (limit %s): %L', p_collection, pg_catalog.length(p_entity_code), v_family.code_max_length, ${short('p_entity_code')})`, `format('Use a code of at most %s characters, or raise the limit: SELECT ${c.schema}.set_family_code_limit(%L, %s);', v_family.code_max_length, p_collection, LEAST(pg_catalog.length(p_entity_code), 600))`)}
        END IF;
        IF p_entity_code IS NULL OR p_entity_code = '' OR p_entity_code !~ v_family.code_pattern THEN
            ${raiseQ(c, 12, 'PERMIT_CODE_INVALID', `format('collection %s, code %L, pattern %L', p_collection, ${short('p_entity_code')}, v_family.code_pattern)`, `format('Issue permits only for non-empty codes matching %L (SELECT code_pattern FROM ${c.schema}.birth_family WHERE collection_name = %L).', v_family.code_pattern, p_collection)`)}
        END IF;
        IF p_ttl IS NULL OR p_ttl <= interval '0' THEN
            ${raiseQ(c, 12, 'PERMIT_TTL_INVALID', `format('ttl %L for collection %s, code %L', p_ttl, p_collection, ${short('p_entity_code')})`, `format('Give a positive lifetime: SELECT ${c.schema}.issue_permit(%L, %L, interval ''24 hours'');', p_collection, ${short('p_entity_code')})`)}
        END IF;
        v_now := pg_catalog.clock_timestamp();
        BEGIN
            v_expires := v_now + p_ttl;
            IF NOT pg_catalog.isfinite(v_expires) THEN
                RAISE datetime_field_overflow;
            END IF;
        EXCEPTION WHEN datetime_field_overflow THEN
            ${raiseQ(c, 12, 'PERMIT_TTL_OVERFLOW', `format('ttl %s from %s for collection %s, code %L', p_ttl, v_now, p_collection, ${short('p_entity_code')})`, `format('Give a lifetime that ends within the timestamp range: SELECT ${c.schema}.issue_permit(%L, %L, interval ''30 days'');', p_collection, ${short('p_entity_code')})`)}
        END;
        SELECT registry_id, status, born_at INTO v_born
          FROM ${c.q('birth_registry')} WHERE collection_name = p_collection AND entity_code = p_entity_code;
        IF FOUND THEN
            ${raiseQ(c, 12, 'PERMIT_ALREADY_BORN', `format('collection %s, code %L: registry_id %s, %s since %s', p_collection, ${short('p_entity_code')}, v_born.registry_id, v_born.status, v_born.born_at)`)}
        END IF;

        -- a permit whose lifetime ran out becomes EXPIRED now, so it does not block a new one
        UPDATE ${permit} SET state = 'EXPIRED', expired_at = v_now
         WHERE collection_name = p_collection AND entity_code = p_entity_code AND state = 'ISSUED' AND expires_at <= v_now;

        INSERT INTO ${permit} (collection_name, entity_code, issued_by, issued_at, expires_at)
        VALUES (p_collection, p_entity_code, ${ACTOR}, v_now, v_expires)
        ON CONFLICT (collection_name, entity_code) WHERE state = 'ISSUED' DO NOTHING
        RETURNING permit_id INTO v_permit_id;
        IF v_permit_id IS NULL THEN
            SELECT permit_id, issued_by, expires_at INTO v_live
              FROM ${permit} WHERE collection_name = p_collection AND entity_code = p_entity_code AND state = 'ISSUED';
            ${raiseQ(c, 12, 'PERMIT_ALREADY_LIVE', `format('collection %s, code %L: permit %s issued by %I, expires %s', p_collection, ${short('p_entity_code')}, v_live.permit_id, v_live.issued_by, v_live.expires_at)`, `format('Use the live permit %s, or revoke it first: SELECT ${c.schema}.revoke_permit(%s, ''<reason>'');', v_live.permit_id, v_live.permit_id)`)}
        END IF;
        RETURN v_permit_id;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}(text, text, interval)`, 'Issues the admission permit for one (collection, code) and returns its permit_id; issued_at is the clock time of the call and expires_at = issued_at + ttl. Refuses an unknown family (BG100), a code longer than the family limit (BG152), a NULL/empty code or one that fails the family pattern (BG114), a non-positive lifetime (BG113) or one past the timestamp range (BG155), a code already in the registry (BG115) and a second live permit (BG110; a lapsed ISSUED permit is marked EXPIRED first).')}`;
}

function revokePermit(c: Ctx): string {
  const fn = c.q('revoke_permit');
  const permit = c.q('birth_admission_permit');
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}(p_permit_id bigint, p_reason text)
    RETURNS void
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED}
    AS $fn$
    DECLARE
        v_permit ${permit}%ROWTYPE;
    BEGIN
        IF p_reason IS NULL OR pg_catalog.btrim(p_reason) = '' THEN
            ${raiseQ(c, 12, 'REASON_REQUIRED', `format('revoke_permit(%s, %L)', p_permit_id, p_reason)`, `format('Give a reason: SELECT ${c.schema}.revoke_permit(%s, ''<reason>'');', p_permit_id)`)}
        END IF;
        SELECT * INTO v_permit FROM ${permit} WHERE permit_id = p_permit_id FOR UPDATE;
        IF NOT FOUND THEN
            ${raiseQ(c, 12, 'PERMIT_NOT_FOUND', `format('permit_id %s', p_permit_id)`)}
        END IF;
        IF v_permit.state <> 'ISSUED' THEN
            ${raiseQ(c, 12, 'PERMIT_NOT_ISSUED', `format('permit %s (%s:%s) is %s; ISSUED -> REVOKED refused', p_permit_id, v_permit.collection_name, ${short('v_permit.entity_code')}, v_permit.state)`)}
        END IF;
        -- clock time after the row lock, never before the permit was issued (it may have been issued
        -- after this transaction began)
        UPDATE ${permit}
           SET state = 'REVOKED', revoked_at = GREATEST(pg_catalog.clock_timestamp(), issued_at), revoked_by = ${ACTOR}, revoke_reason = p_reason
         WHERE permit_id = p_permit_id;
    END;
    $fn$;`;
}

function expirePermits(c: Ctx): string {
  const fn = c.q('expire_permits');
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}()
    RETURNS integer
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED}
    AS $fn$
    DECLARE
        v_now timestamptz := pg_catalog.clock_timestamp();
        v_count integer;
    BEGIN
        UPDATE ${c.q('birth_admission_permit')}
           SET state = 'EXPIRED', expired_at = v_now
         WHERE state = 'ISSUED' AND expires_at <= v_now;
        GET DIAGNOSTICS v_count = ROW_COUNT;
        RETURN v_count;
    END;
    $fn$;`;
}

function retire(c: Ctx): string {
  const fn = c.q('retire');
  const registry = c.q('birth_registry');
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}(p_collection text, p_entity_code text, p_reason text)
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
        IF p_reason IS NULL OR pg_catalog.btrim(p_reason) = '' THEN
            ${raiseQ(c, 12, 'REASON_REQUIRED', `format('retire(%L, %L, %L)', pg_catalog.left(p_collection, 100), ${short('p_entity_code')}, p_reason)`, `format('Give a reason: SELECT ${c.schema}.retire(%L, %L, ''<reason>'');', pg_catalog.left(p_collection, 63), ${short('p_entity_code')})`)}
        END IF;
        IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
            ${raiseQ(c, 12, 'RETIRE_ISOLATION', `format('transaction_isolation is %s', pg_catalog.current_setting('transaction_isolation'))`)}
        END IF;
        SELECT * INTO v_family FROM ${c.q('birth_family')} WHERE collection_name = p_collection;
        IF NOT FOUND THEN
            ${familyUnknown(c, 12)}
        END IF;
        IF pg_catalog.length(p_entity_code) > v_family.code_max_length THEN
            ${raiseQ(c, 12, 'CODE_TOO_LONG', `format('collection %s: code of %s characters (limit %s): %L', p_collection, pg_catalog.length(p_entity_code), v_family.code_max_length, ${short('p_entity_code')})`, `format('No code longer than %s characters can be born in %s; list the born codes: SELECT entity_code FROM ${c.schema}.birth_registry WHERE collection_name = %L;', v_family.code_max_length, p_collection, p_collection)`)}
        END IF;
        SELECT * INTO v_reg FROM ${registry} WHERE collection_name = p_collection AND entity_code = p_entity_code FOR UPDATE;
        IF NOT FOUND OR v_reg.status <> 'BORN' THEN
            ${raiseQ(c, 12, 'RETIRE_NOT_BORN', `format('%s:%s is %s', p_collection, ${short('p_entity_code')}, COALESCE(v_reg.status, 'not in the registry'))`)}
        END IF;
        -- hold off writers of the family table, so the phantom check below sees every committed row
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = v_family.table_name) THEN
            EXECUTE pg_catalog.format('LOCK TABLE %s IN SHARE MODE', v_family.table_name);
        END IF;
        SELECT * INTO v_check FROM ${c.q('retire_gate_check')}(p_collection, p_entity_code);
        IF NOT v_check.allowed THEN
            ${raiseQ(c, 12, 'RETIRE_REFUSED', `format('%s:%s: %s', p_collection, ${short('p_entity_code')}, pg_catalog.left(v_check.reason, 300))`, `format('retire() only retires phantoms: remove the object from its table first, then retry; see SELECT * FROM ${c.schema}.retire_gate_check(%L, %L);', p_collection, ${short('p_entity_code')})`)}
        END IF;
        WITH retired AS (
            UPDATE ${registry}
               SET status = 'RETIRED', retired_at = pg_catalog.now(), retired_by = v_actor, retire_reason = p_reason
             WHERE registry_id = v_reg.registry_id
            RETURNING registry_id, collection_name, entity_code, born_at
        )
        INSERT INTO ${c.q('registry_changelog')} (op, collection_name, entity_code, registry_id, born_at, actor, detail)
        SELECT 'RETIRED', r.collection_name, r.entity_code, r.registry_id, r.born_at, v_actor,
               pg_catalog.jsonb_build_object('reason', p_reason, 'check', v_check.reason)
          FROM retired r;
    END;
    $fn$;`;
}

export function admissionFunctionsV2(c: Ctx): string[] {
  return [lockTable(c), attachGates(c), registerImpl(c), moveFamily(c), setCodeLimit(c), setFamilyMode(c), issuePermit(c), revokePermit(c), expirePermits(c), retire(c)];
}
