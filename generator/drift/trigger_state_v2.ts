/**
 * v_drift_trigger_state as of 000006 (same columns as 000004, so v_drift_report keeps working):
 * per family the four gate triggers of the statement-level gate (expected definitions from
 * birth_gate_trigger_definitions), plus every table a collection was moved off that still exists
 * and is not governed by any family now: it is reported with its gates missing. Package-table
 * triggers are judged against the baseline exactly as before.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { lit, sqlText, PINNED_SEARCH_PATH } from '../lib/sql.js';
import { ALL_GATE_TRIGGERS } from '../admission/v2_common.js';

export function gateTriggersPresentFunction(c: Ctx): string {
  const fn = c.q('birth_gate_triggers_present');
  return sqlText`
    CREATE FUNCTION ${fn}()
    RETURNS TABLE (table_oid oid, trigger_name name, trigger_oid oid, enabled_mode "char", definition text)
    LANGUAGE sql
    STABLE
    ${PINNED_SEARCH_PATH}
    AS $fn$
        SELECT t.tgrelid, t.tgname, t.oid, t.tgenabled, pg_catalog.pg_get_triggerdef(t.oid)
          FROM pg_catalog.pg_trigger t
         WHERE NOT t.tgisinternal
           AND t.tgname = ANY (ARRAY[${ALL_GATE_TRIGGERS.map(lit).join(', ')}]::name[])
    $fn$;
    ${comment('FUNCTION', `${fn}()`, 'Every trigger named like a gate trigger on any table, with its definition printed under a pinned search_path (so the text does not depend on the caller). Read-only; used by v_drift_trigger_state.')}`;
}

export function triggerStateView(c: Ctx, replace: boolean): string {
  const trView = c.q('v_drift_trigger_state');
  return sqlText`
    CREATE OR REPLACE VIEW ${trView} AS
    WITH fam AS (
        SELECT f.collection_name,
               f.table_name::pg_catalog.oid AS table_oid,
               f.code_column,
               f.mode,
               c.oid IS NOT NULL AS table_exists,
               CASE WHEN c.oid IS NOT NULL THEN pg_catalog.format('%I.%I', n.nspname, c.relname) END AS table_ident,
               EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = c.oid AND a.attname = f.code_column AND a.attnum > 0 AND NOT a.attisdropped) AS column_exists
          FROM ${c.q('birth_family')} f
          LEFT JOIN pg_catalog.pg_class c ON c.oid = f.table_name::pg_catalog.oid
          LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        UNION ALL
        -- tables a collection was moved off: still governed in the eyes of the monitor while they exist
        SELECT DISTINCT ON (m.from_table) m.collection_name, m.from_table, f.code_column, f.mode, true,
               pg_catalog.format('%I.%I', n.nspname, c.relname), true
          FROM ${c.q('birth_family_move')} m
          JOIN ${c.q('birth_family')} f ON f.collection_name = m.collection_name
          JOIN pg_catalog.pg_class c ON c.oid = m.from_table
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE NOT EXISTS (SELECT 1 FROM ${c.q('birth_family')} g WHERE g.table_name::pg_catalog.oid = m.from_table)
    ), required AS (
        SELECT fam.*, d.trigger_name, d.definition AS expected_definition
          FROM fam
         CROSS JOIN LATERAL ${c.q('birth_gate_trigger_definitions')}(fam.collection_name, fam.table_ident, fam.code_column) d
    ), cur AS (
        SELECT * FROM ${c.q('drift_current_triggers')}()
    ), gates AS (
        SELECT * FROM ${c.q('birth_gate_triggers_present')}()
    ), family_rows AS (
        SELECT 'family'::text AS scope,
               q.collection_name,
               coalesce(q.table_ident, q.table_oid::text) AS table_name,
               q.trigger_name,
               q.mode AS family_mode,
               q.table_exists,
               q.column_exists,
               g.trigger_oid IS NOT NULL AS present,
               g.enabled_mode,
               CASE WHEN q.table_ident IS NOT NULL THEN q.expected_definition END AS expected_definition,
               CASE WHEN q.table_ident IS NOT NULL THEN ${c.q('drift_definition_hash')}(q.expected_definition) END AS expected_hash,
               g.definition AS current_definition,
               ${c.q('drift_definition_hash')}(g.definition) AS current_hash,
               b.definition_hash AS baseline_hash
          FROM required q
          LEFT JOIN gates g ON g.table_oid = q.table_oid AND g.trigger_name = q.trigger_name
          LEFT JOIN cur t ON t.trigger_oid = g.trigger_oid
          LEFT JOIN ${c.q('drift_baseline')} b ON b.object_kind = 'trigger' AND b.identity = t.identity
    ), package_rows AS (
        SELECT 'package'::text,
               NULL::text,
               coalesce(CASE WHEN cl.oid IS NOT NULL THEN pg_catalog.format('%I.%I', n.nspname, cl.relname) END,
                        pg_catalog.regexp_replace(b.identity, '\\.[^.]*$', '')),
               coalesce(t.trigger_name, pg_catalog.regexp_replace(b.identity, '^.*\\.', '')::name),
               NULL::text,
               true,
               true,
               t.trigger_oid IS NOT NULL,
               t.enabled_mode,
               b.definition,
               b.definition_hash,
               t.definition,
               t.definition_hash,
               b.definition_hash
          FROM (SELECT * FROM cur WHERE cur.scope = 'package') t
          FULL JOIN (SELECT * FROM ${c.q('drift_baseline')} WHERE object_kind = 'trigger' AND scope = 'package') b
            ON b.identity = t.identity
          LEFT JOIN pg_catalog.pg_class cl ON cl.oid = t.table_oid
          LEFT JOIN pg_catalog.pg_namespace n ON n.oid = cl.relnamespace
    )
    SELECT x.scope,
           x.collection_name,
           x.table_name COLLATE "default" AS table_name,
           x.trigger_name,
           x.family_mode,
           x.table_exists,
           x.column_exists,
           x.present,
           x.present AND x.enabled_mode IN ('O', 'A') AS enabled,
           CASE x.enabled_mode WHEN 'O' THEN 'origin' WHEN 'A' THEN 'always' WHEN 'R' THEN 'replica' WHEN 'D' THEN 'disabled' END AS enabled_mode,
           x.present AND x.expected_hash IS NOT NULL AND x.current_hash IS DISTINCT FROM x.expected_hash AS drifted,
           CASE WHEN NOT x.table_exists THEN 'table_missing'
                WHEN NOT x.column_exists THEN 'column_missing'
                WHEN x.expected_hash IS NULL THEN 'unexpected'
                WHEN NOT x.present THEN 'missing'
                WHEN x.enabled_mode = 'D' THEN 'disabled'
                WHEN x.enabled_mode = 'R' THEN 'replica_only'
                WHEN x.current_hash <> x.expected_hash THEN 'drifted'
                ELSE 'ok' END AS state,
           x.expected_hash COLLATE "default" AS expected_hash,
           x.current_hash,
           x.baseline_hash,
           x.expected_definition COLLATE "default" AS expected_definition,
           x.current_definition
      FROM (SELECT * FROM family_rows UNION ALL SELECT * FROM package_rows) x;
    ${comment('VIEW', trView, `Each trigger the package needs: per family its four gate triggers (_100_birth_gate, _110_birth_register, _120_birth_recode, _900_birth_finalize; expected definition from birth_gate_trigger_definitions), the same four on every table a collection was moved off (birth_family_move) while that table exists and no family governs it (state missing: it lost its gates), and the triggers on package tables (expected = baseline). present, enabled (tgenabled O or A; D = disabled, R = replica only), hashes, drifted, state.`)}`.replace(replace ? '' : 'CREATE OR REPLACE VIEW', replace ? '' : 'CREATE VIEW');
}
