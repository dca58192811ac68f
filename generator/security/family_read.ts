/**
 * Reading family tables with the package's rights (migration 000007), without ever running code of
 * the table owner.
 *
 * A family table belongs to someone else. Whatever the package reads from it as the package owner
 * (a SECURITY DEFINER function: drift_family_objects, retire_gate_check) must not reach a cast, an
 * operator, a rule, a policy, a foreign-data wrapper or a generated-column expression the owner
 * wrote. family_read_source() is the one gate for that, called at every read:
 * - the relation is an ordinary table, or a partitioned table whose every leaf is an ordinary table
 *   (no view, no ON SELECT rule, no foreign table, no materialized view);
 * - the code column exists in every relation read, is not generated, and its type resolves (through
 *   any number of domains) to text, varchar or name; it is read as CAST(... AS base type), i.e. a
 *   relabel (or the built-in name -> text), never a user cast and never a domain CHECK;
 * - no relation read has row-level security the package owner is subject to (policies would run
 *   as the package owner);
 * - the package owner may SELECT every relation read (otherwise the scan would fail, not leak);
 * - no expression the planner evaluates while planning over a relation read (index expressions and
 *   predicates, CHECK constraints, statistics expressions, partition keys) uses code outside
 *   pg_catalog, and an ordinary table has no inheritance children (family_relation_unsafe);
 * - then every relation is locked ACCESS SHARE and everything is checked again: from the second
 *   check to the end of the transaction the kind, columns, types and policies cannot change.
 * It returns a FROM-clause source `SELECT code FROM ONLY leaf ...` naming only the relations it
 * checked (ONLY: an inheritance child added later, e.g. a foreign table, is never read), with
 * the code as text in the default collation; callers compare with OPERATOR(pg_catalog.=).
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { PINNED_SEARCH_PATH, lit, sqlText } from '../lib/sql.js';
import { raiseAt } from '../errors/index.js';

const PINNED = PINNED_SEARCH_PATH;

/** The role on whose behalf a SECURITY DEFINER function runs (see generator/admission/common.ts ACTOR). */
const ACTOR = `COALESCE(NULLIF(pg_catalog.current_setting('role'), 'none'), session_user)::name`;

export { familyRelationUnsafe } from '../admission/relation_safety.js';

export function familyReadSource(c: Ctx): string {
  const fn = c.q('family_read_source');
  return sqlText`
    CREATE FUNCTION ${fn}(p_table oid, p_code_column name)
    RETURNS TABLE (state text, reason text, relation text, source text)
    LANGUAGE plpgsql
    VOLATILE
    ${PINNED}
    AS $fn$
    DECLARE
        v_rel record;
        v_leaf record;
        v_parts text[];
        v_locks text[];
        v_reason text;
        v_bypass boolean;
        v_lock text;
    BEGIN
        SELECT r.rolsuper OR r.rolbypassrls INTO v_bypass FROM pg_catalog.pg_roles r WHERE r.rolname = current_user;
        FOR v_pass IN 1..2 LOOP
            v_parts := '{}';
            v_locks := '{}';
            v_reason := NULL;
            SELECT cl.oid, cl.relkind, n.nspname, cl.relname INTO v_rel
              FROM pg_catalog.pg_class cl JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) cl.relnamespace
             WHERE cl.oid OPERATOR(pg_catalog.=) p_table;
            IF NOT FOUND THEN
                state := 'missing';
                reason := pg_catalog.format('the table (oid %s) no longer exists', p_table);
                RETURN NEXT;
                RETURN;
            END IF;
            relation := pg_catalog.format('%I.%I', v_rel.nspname, v_rel.relname);
            IF v_rel.relkind NOT IN ('r', 'p') THEN
                v_reason := pg_catalog.format('%s is %s, not an ordinary or partitioned table', relation,
                    CASE v_rel.relkind WHEN 'v' THEN 'a view (e.g. a table turned into one by an ON SELECT rule)'
                                       WHEN 'm' THEN 'a materialized view' WHEN 'f' THEN 'a foreign table'
                                       ELSE pg_catalog.format('of relkind %s', v_rel.relkind) END);
            ELSE
                FOR v_leaf IN
                    SELECT l.relid, cl.relkind, cl.relrowsecurity, n.nspname, cl.relname,
                           a.attnum, a.attgenerated, a.atttypid,
                           (WITH RECURSIVE d (oid, typtype, typbasetype) AS (
                                SELECT t.oid, t.typtype, t.typbasetype FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) a.atttypid
                                UNION ALL
                                SELECT t.oid, t.typtype, t.typbasetype FROM d JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) d.typbasetype
                                 WHERE d.typtype OPERATOR(pg_catalog.=) 'd')
                            SELECT d.oid FROM d WHERE d.typtype OPERATOR(pg_catalog.<>) 'd') AS base_type
                      FROM (SELECT p_table AS relid WHERE v_rel.relkind OPERATOR(pg_catalog.=) 'r'
                            UNION ALL
                            SELECT t.relid::pg_catalog.oid FROM pg_catalog.pg_partition_tree(p_table) t
                             WHERE v_rel.relkind OPERATOR(pg_catalog.=) 'p' AND t.isleaf) l
                      JOIN pg_catalog.pg_class cl ON cl.oid OPERATOR(pg_catalog.=) l.relid
                      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) cl.relnamespace
                      LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) cl.oid AND a.attname OPERATOR(pg_catalog.=) p_code_column
                                                         AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
                     ORDER BY n.nspname, cl.relname
                LOOP
                    v_reason := CASE
                        WHEN v_leaf.relkind OPERATOR(pg_catalog.<>) 'r' THEN pg_catalog.format('partition %I.%I is %s, not an ordinary table', v_leaf.nspname, v_leaf.relname,
                                                             CASE v_leaf.relkind WHEN 'f' THEN 'a foreign table' ELSE pg_catalog.format('of relkind %s', v_leaf.relkind) END)
                        WHEN v_leaf.attnum IS NULL THEN pg_catalog.format('code column %I of %I.%I does not exist', p_code_column, v_leaf.nspname, v_leaf.relname)
                        WHEN v_leaf.attgenerated OPERATOR(pg_catalog.<>) '' THEN pg_catalog.format('code column %I of %I.%I is a generated column', p_code_column, v_leaf.nspname, v_leaf.relname)
                        WHEN v_leaf.base_type IS NULL OR v_leaf.base_type NOT IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.name'::pg_catalog.regtype)
                            THEN pg_catalog.format('code column %I of %I.%I has type %s, which is not text, varchar or name (nor a domain over one)',
                                                   p_code_column, v_leaf.nspname, v_leaf.relname, pg_catalog.format_type(v_leaf.atttypid, NULL))
                        WHEN v_leaf.relrowsecurity AND NOT v_bypass THEN pg_catalog.format('%I.%I has row-level security enabled and the package owner %I does not bypass it (its policies would run as the package owner)',
                                                                         v_leaf.nspname, v_leaf.relname, current_user)
                        WHEN NOT pg_catalog.has_table_privilege(v_leaf.relid, 'SELECT') THEN pg_catalog.format('the package owner %I may not read %I.%I', current_user, v_leaf.nspname, v_leaf.relname)
                        ELSE ${c.q('family_relation_unsafe')}(v_leaf.relid)
                        END;
                    EXIT WHEN v_reason IS NOT NULL;
                    v_parts := v_parts OPERATOR(pg_catalog.||) pg_catalog.format(
                        'SELECT CAST(CAST(x.%I AS pg_catalog.%s) AS pg_catalog.text) COLLATE pg_catalog."default" AS code FROM ONLY %I.%I x',
                        p_code_column, CASE v_leaf.base_type WHEN 'pg_catalog.text'::pg_catalog.regtype THEN 'text'
                                                             WHEN 'pg_catalog.varchar'::pg_catalog.regtype THEN 'varchar' ELSE 'name' END,
                        v_leaf.nspname, v_leaf.relname);
                    v_locks := v_locks OPERATOR(pg_catalog.||) pg_catalog.format('%I.%I', v_leaf.nspname, v_leaf.relname);
                END LOOP;
            END IF;
            IF v_reason IS NOT NULL THEN
                state := 'unsafe';
                reason := v_reason;
                RETURN NEXT;
                RETURN;
            END IF;
            EXIT WHEN v_pass OPERATOR(pg_catalog.=) 2;
            -- lock what will be read (no code runs: a lock is not a read), then check again: until the
            -- end of the transaction nobody can change its kind, columns, types or policies
            IF v_rel.relkind OPERATOR(pg_catalog.=) 'p' THEN
                EXECUTE pg_catalog.format('LOCK TABLE ONLY %s IN ACCESS SHARE MODE', relation);
            END IF;
            FOREACH v_lock IN ARRAY v_locks LOOP
                EXECUTE pg_catalog.format('LOCK TABLE ONLY %s IN ACCESS SHARE MODE', v_lock);
            END LOOP;
        END LOOP;
        state := 'ok';
        reason := NULL;
        source := CASE WHEN pg_catalog.cardinality(v_parts) OPERATOR(pg_catalog.=) 0 THEN 'SELECT NULL::pg_catalog.text AS code WHERE false'
                       ELSE pg_catalog.array_to_string(v_parts, ' UNION ALL ') END;
        RETURN NEXT;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}(oid, name)`, 'Internal (no role may execute it; the package functions call it as the package owner): decides at every call whether a family table can be read without running code of its owner. state ok: source is a SELECT of the code (as text, default collation) FROM ONLY every checked relation, all of them locked ACCESS SHARE and re-checked after the lock; unsafe: reason says why (view / rule, foreign table or partition, materialized view, missing or generated code column, a type that is not text/varchar/name or a domain over one, row-level security the owner is subject to, no SELECT for the owner); missing: the table is gone.')}`;
}

/** drift_family_objects v2: same scan, through family_read_source, codes only for those who may read them. */
export function familyObjectsV2(c: Ctx): string {
  const fn = c.q('drift_family_objects');
  return sqlText`
    CREATE FUNCTION ${fn}(p_collection text DEFAULT NULL)
    RETURNS TABLE (collection_name text, finding text, entity_code text, code_hidden boolean, note text)
    LANGUAGE plpgsql
    STABLE
    SECURITY DEFINER
    ${PINNED}
    SET row_security = off
    AS $fn$
    DECLARE
        v_family record;
        v_src record;
        v_actor name := ${ACTOR};
        v_visible boolean;
    BEGIN
        IF p_collection IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM ${c.q('birth_family')} f WHERE f.collection_name OPERATOR(pg_catalog.=) p_collection) THEN
            ${raiseAt(12, 'DRIFT_UNKNOWN_FAMILY', `pg_catalog.format('collection_name %L is not in birth_family', pg_catalog.left(p_collection, 100))`)}
        END IF;
        FOR v_family IN
            SELECT f.collection_name AS collection, f.table_name::pg_catalog.oid AS table_oid, f.code_column
              FROM ${c.q('birth_family')} f
             WHERE (p_collection IS NULL OR f.collection_name OPERATOR(pg_catalog.=) p_collection)
               -- a family whose table or code column is gone is reported by v_drift_trigger_state
               AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                            WHERE a.attrelid OPERATOR(pg_catalog.=) f.table_name::pg_catalog.oid AND a.attname OPERATOR(pg_catalog.=) f.code_column
                              AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped)
             ORDER BY f.collection_name
        LOOP
            SELECT * INTO v_src FROM ${c.q('family_read_source')}(v_family.table_oid, v_family.code_column) s;
            IF v_src.state OPERATOR(pg_catalog.=) 'missing' THEN
                CONTINUE;  -- dropped since the loop started: family_table_missing
            ELSIF v_src.state OPERATOR(pg_catalog.<>) 'ok' THEN
                collection_name := v_family.collection;
                finding := 'unsafe_table';
                entity_code := NULL;
                code_hidden := false;
                note := v_src.reason;
                RETURN NEXT;
                CONTINUE;
            END IF;
            -- the codes of the family table itself only for a caller that may read that column
            v_visible := pg_catalog.has_column_privilege(v_actor, v_family.table_oid, v_family.code_column, 'SELECT');
            RETURN QUERY EXECUTE pg_catalog.format(
                $q$
                SELECT %1$L::pg_catalog.text,
                       CASE WHEN r.status IS NULL THEN 'unborn' ELSE 'retired_present' END::pg_catalog.text,
                       CASE WHEN %3$L::boolean THEN t.code END,
                       t.code IS NOT NULL AND NOT %3$L::boolean,
                       NULL::pg_catalog.text
                  FROM (%2$s) t
                  LEFT JOIN ${c.q('birth_registry')} r
                         ON r.collection_name OPERATOR(pg_catalog.=) %1$L AND r.entity_code OPERATOR(pg_catalog.=) t.code
                 WHERE r.status IS DISTINCT FROM 'BORN'
                UNION ALL
                SELECT %1$L::pg_catalog.text, 'phantom'::pg_catalog.text, r.entity_code, false, NULL::pg_catalog.text
                  FROM ${c.q('birth_registry')} r
                 WHERE r.collection_name OPERATOR(pg_catalog.=) %1$L
                   AND r.status OPERATOR(pg_catalog.=) 'BORN'
                   AND NOT EXISTS (SELECT 1 FROM (%2$s) t WHERE t.code OPERATOR(pg_catalog.=) r.entity_code)
                $q$,
                v_family.collection, v_src.source, v_visible);
        END LOOP;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}(text)`, 'Scans the family tables (one family, or all with NULL): unborn = a row whose code has no registry row (NULL codes included); retired_present = a row whose code is RETIRED; phantom = a BORN registry row whose object is gone; unsafe_table = the table cannot be read without running code of its owner (note says why; nothing was read). Codes read from a family table are shown only to a caller with SELECT on its code column (otherwise entity_code is NULL and code_hidden true); phantom codes come from birth_registry. Reads through family_read_source, never owner code. Read-only.')}`;
}

/** retire_gate_check v2: BG320 for an over-long code, BG321 for an unsafe table, reads through family_read_source. */
export function retireGateCheckV2(c: Ctx): string {
  const fn = c.q('retire_gate_check');
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}(p_collection text, p_entity_code text)
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
        v_src record;
        v_live boolean;
    BEGIN
        SELECT * INTO v_family FROM ${c.q('birth_family')} f WHERE f.collection_name OPERATOR(pg_catalog.=) p_collection;
        IF NOT FOUND THEN
            RETURN QUERY SELECT false, pg_catalog.format('unknown family %L', pg_catalog.left(p_collection, 100));
            RETURN;
        END IF;
        IF pg_catalog.length(p_entity_code) OPERATOR(pg_catalog.>) v_family.code_max_length THEN
            ${raiseAt(12, 'RETIRE_CODE_TOO_LONG', `pg_catalog.format('collection %s, code of %s characters (limit %s) starting %L', pg_catalog.left(p_collection, 100), pg_catalog.length(p_entity_code), v_family.code_max_length, pg_catalog.left(p_entity_code, 100))`, undefined, `pg_catalog.format('SELECT entity_code FROM %I.birth_registry WHERE collection_name = %L;', ${lit(c.schema)}, pg_catalog.left(p_collection, 100))`)}
        END IF;
        SELECT r.registry_id, r.status, r.retired_at INTO v_reg
          FROM ${c.q('birth_registry')} r
         WHERE r.collection_name OPERATOR(pg_catalog.=) p_collection AND r.entity_code OPERATOR(pg_catalog.=) p_entity_code;
        IF NOT FOUND THEN
            RETURN QUERY SELECT false, pg_catalog.format('not born: no registry row for %s:%s', p_collection, pg_catalog.left(p_entity_code, 100));
            RETURN;
        END IF;
        IF v_reg.status OPERATOR(pg_catalog.<>) 'BORN' THEN
            RETURN QUERY SELECT false, pg_catalog.format('%s:%s is already %s (since %s)', p_collection, pg_catalog.left(p_entity_code, 100), v_reg.status, v_reg.retired_at);
            RETURN;
        END IF;
        SELECT * INTO v_src FROM ${c.q('family_read_source')}(v_family.table_name::pg_catalog.oid, v_family.code_column) s;
        IF v_src.state OPERATOR(pg_catalog.=) 'missing' THEN
            RETURN QUERY SELECT true, pg_catalog.format('phantom: the family table (oid %s) no longer exists', v_family.table_name::pg_catalog.oid);
            RETURN;
        ELSIF v_src.state OPERATOR(pg_catalog.<>) 'ok' THEN
            ${raiseAt(12, 'FAMILY_TABLE_UNSAFE', `pg_catalog.format('collection %s, code %L: %s', p_collection, pg_catalog.left(p_entity_code, 100), v_src.reason)`, undefined, `pg_catalog.format('Then: SELECT %I.register_family(%L, %L, %L, %L, %L);', ${lit(c.schema)}, v_family.collection_name, v_src.relation, v_family.code_column, v_family.code_pattern, v_family.mode)`)}
        END IF;
        EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM (%s) t WHERE t.code OPERATOR(pg_catalog.=) $1)', v_src.source)
           INTO v_live USING p_entity_code;
        IF v_live THEN
            RETURN QUERY SELECT false, pg_catalog.format('live: %s still has a row with %I = %L', v_src.relation, v_family.code_column, pg_catalog.left(p_entity_code, 100));
        ELSE
            RETURN QUERY SELECT true, pg_catalog.format('phantom: no row of %s has %I = %L', v_src.relation, v_family.code_column, pg_catalog.left(p_entity_code, 100));
        END IF;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}(text, text)`, `The retire safety check, callable on its own: allowed only for a BORN object that no longer exists in its family table (a phantom), or whose family table is gone. Refuses unknown families, unknown codes, RETIRED objects and live objects, with the reason. Raises BG320 for a code longer than the family's code_max_length (default 256) and BG321 when the family table cannot be read without running code of its owner (a view or rule, a foreign table or partition, a code column that is not text/varchar/name, row-level security): it reads only through family_read_source. Runs with row_security = off, so a row-level policy can never hide a live row.`)}`;
}

export const familyReadGrants = (c: Ctx) => [`REVOKE ALL ON FUNCTION ${c.q('family_read_source')}(oid, name) FROM PUBLIC;`];

