/**
 * Admission API functions replaced by migration 000011 (copied from functions_v2.ts, which 000006
 * keeps using byte for byte): register_family and move_family accept a code column whose type is a
 * domain at any depth over text, varchar or name (as family_read_source does).
 */
import { familyUnknown, validateTable } from './functions_v2.js';
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { lit, sqlText } from '../lib/sql.js';
import { ACTOR, MODES, PINNED, at } from './common.js';
import { DEFAULT_CODE_LIMIT, MAX_CODE_LIMIT, raiseQ } from './v2_common.js';
import { ALL_GATE_TRIGGERS } from './v2_common.js';
import { safeCodeType } from './v3_common.js';


function validateColumn(c: Ctx): string {
  return at(8, sqlText`
IF p_code_column IS NULL THEN
    ${raiseQ(c, 12, 'FAMILY_CODE_COLUMN_INVALID', `format('code column is NULL for table %s (collection %s)', p_table, p_collection)`)}
END IF;
SELECT a.attnum, a.attgenerated, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_name, ${safeCodeType('a.atttypid')} AS safe_type
  INTO v_att
  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
 WHERE a.attrelid = p_table AND a.attname = p_code_column AND a.attnum > 0 AND NOT a.attisdropped;
IF NOT FOUND OR v_att.attgenerated <> '' OR NOT v_att.safe_type THEN
    ${raiseQ(c, 12, 'FAMILY_CODE_COLUMN_INVALID', `format('column %I of %s (collection %s): %s', p_code_column, p_table, p_collection, CASE WHEN v_att.attnum IS NULL THEN 'does not exist' WHEN v_att.attgenerated <> '' THEN 'is a generated column (BEFORE triggers cannot see its value)' ELSE format('type %s is not text, varchar or name, nor a domain over one of them', v_att.type_name) END)`)}
END IF;

`);
}

function registerImpl(c: Ctx): string {
  const fn = c.q('register_family');
  const family = c.q('birth_family');
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}(
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
    ${comment('FUNCTION', `${fn}(text, regclass, name, text, text, integer)`, `Registers (or updates) a governed family with a code length limit (1-${MAX_CODE_LIMIT} characters; NULL keeps the current one, ${DEFAULT_CODE_LIMIT} for a new family): validates the table (an existing ordinary table the caller owns; not a partition, partitioned or inheritance table), the code column (text, varchar, name or a domain over one at any depth; not generated, not NULL), the pattern and the mode, records it in birth_family and attaches the gate triggers of birth_gate_trigger_definitions (table lock under a bounded lock_timeout, BG156). Idempotent. A collection registered on another existing table is refused (BG153): use move_family.`)}

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
    CREATE OR REPLACE FUNCTION ${fn}(p_collection text, p_table regclass, p_reason text)
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







/** The functions 000011 replaces (CREATE OR REPLACE): register_family (6 arguments, and its 5-argument wrapper), move_family. */
export function admissionFunctionsV3(c: Ctx): string[] {
  return [registerImpl(c), moveFamily(c)];
}
