/**
 * v_drift_report v2 (migration 000007): the 000004 report with
 * - a family_table_unsafe finding (critical) for a family table that cannot be read without running
 *   code of its owner (drift_family_objects v2 reports it instead of reading the table);
 * - sample codes of unborn / retired_present rows only for a caller who may SELECT the code column
 *   (detail.codes_hidden counts the others);
 * - remedies that are concrete commands: a drifted or missing function is restored from the recorded
 *   definition with psql's \gexec (the baseline holds pg_get_functiondef output, a CREATE OR REPLACE
 *   FUNCTION), a package trigger from its recorded CREATE TRIGGER.
 * Same columns as in 000004, so dependants keep working. v_drift_trigger_state is used by name only.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { lit, sqlText } from '../lib/sql.js';
import { vocab } from '../vocab.js';

/** SQL array of the severity vocabulary, lowest first: array_position() gives the rank. */
function severityArray(): string {
  return `ARRAY[${vocab.severity.map(lit).join(', ')}]::text[]`;
}

export function reportViewV2(c: Ctx): string {
  const view = c.q('v_drift_report');
  const sev = severityArray();
  const capture = `SELECT ${c.schema}.drift_capture_baseline();`;
  return sqlText`
    CREATE VIEW ${view} AS
    WITH baseline AS (
        SELECT count(*) AS objects, max(captured_at) AS captured_at FROM ${c.q('drift_baseline')}
    ), findings AS (
        -- the baseline itself
        SELECT 'critical'::text AS severity, 'baseline_missing'::text AS kind, 'baseline'::text AS object_type,
               ${lit(`${c.schema}.drift_baseline`)}::text AS object_name,
               'the drift baseline is empty: function and package-trigger drift cannot be judged'::text AS message,
               ${lit(`Review the live definitions, then record them: ${capture}`)}::text AS remedy,
               '{}'::jsonb AS detail
          FROM baseline WHERE baseline.objects = 0
        UNION ALL
        -- functions
        SELECT CASE WHEN v.state = 'unexpected' THEN 'warning' ELSE 'critical' END,
               'function_' || v.state,
               'function',
               v.identity,
               CASE v.state
                   WHEN 'missing' THEN pg_catalog.format('function %s is in the baseline but no longer exists', v.identity)
                   WHEN 'drifted' THEN pg_catalog.format('function %s differs from its baseline (captured %s by %s)', v.identity, v.captured_at, v.captured_by)
                   ELSE pg_catalog.format('function %s is in the package schema but not in the baseline', v.identity) END,
               CASE v.state
                   WHEN 'unexpected' THEN ${lit(`Find out who created it; drop it if it is not part of a reviewed migration, or record it: ${capture}`)}
                   ELSE pg_catalog.format(${lit(`Compare baseline_definition and current_definition in ${c.schema}.v_drift_function_hash. Only if the change was reviewed and is intended, accept it: ${capture} Otherwise re-apply the recorded definition as the package owner, in psql%s: SELECT baseline_definition FROM ${c.schema}.v_drift_function_hash WHERE identity = %L \\gexec`)},
                                          CASE WHEN v.state = 'missing' THEN pg_catalog.format(' (it comes back without its grants: then run REVOKE ALL ON FUNCTION %s FROM PUBLIC; and GRANT EXECUTE to the roles the README role table lists)', v.identity) ELSE '' END,
                                          v.identity) END,
               jsonb_build_object('baseline_hash', v.baseline_hash, 'current_hash', v.current_hash, 'captured_at', v.captured_at)
          FROM ${c.q('v_drift_function_hash')} v, baseline
         WHERE v.drifted AND (v.state <> 'unexpected' OR baseline.objects > 0)
        UNION ALL
        SELECT 'warning', 'function_public_execute', 'function', v.identity,
               pg_catalog.format('PUBLIC may execute %s (the package grants nothing to PUBLIC)', v.identity),
               pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC; then grant EXECUTE to the package role that needs it', v.identity),
               '{}'::jsonb
          FROM ${c.q('v_drift_function_hash')} v
         WHERE v.public_execute
        UNION ALL
        -- family tables and their gate triggers
        SELECT 'critical', 'family_table_missing', 'table', pg_catalog.min(t.table_name),
               pg_catalog.format('family %s: its table (oid %s) no longer exists; the family is ungoverned', t.collection_name, pg_catalog.min(t.table_name)),
               'Recreate the table and re-register the family (register_family is idempotent), or remove the family row if the collection is gone',
               jsonb_build_object('collection_name', t.collection_name)
          FROM ${c.q('v_drift_trigger_state')} t
         WHERE t.scope = 'family' AND t.state = 'table_missing'
         GROUP BY t.collection_name
        UNION ALL
        SELECT 'critical', 'family_column_missing', 'table', pg_catalog.min(t.table_name),
               pg_catalog.format('family %s: code column of %s no longer exists; the gate cannot see codes', t.collection_name, pg_catalog.min(t.table_name)),
               'Restore the code column, or re-register the family with the new code column',
               jsonb_build_object('collection_name', t.collection_name)
          FROM ${c.q('v_drift_trigger_state')} t
         WHERE t.scope = 'family' AND t.state = 'column_missing'
         GROUP BY t.collection_name
        UNION ALL
        SELECT CASE WHEN t.state = 'unexpected' THEN 'warning' ELSE 'critical' END,
               'trigger_' || t.state,
               'trigger',
               pg_catalog.format('%s ON %s', t.trigger_name, t.table_name),
               CASE t.state
                   WHEN 'missing' THEN pg_catalog.format('trigger %s on %s is missing%s', t.trigger_name, t.table_name,
                                        CASE WHEN t.scope = 'family' THEN pg_catalog.format(' (family %s, mode %s): births there are not gated', t.collection_name, t.family_mode) ELSE '' END)
                   WHEN 'disabled' THEN pg_catalog.format('trigger %s on %s is disabled (tgenabled = D)%s', t.trigger_name, t.table_name,
                                        CASE WHEN t.scope = 'family' THEN pg_catalog.format(' (family %s, mode %s): births there are not gated', t.collection_name, t.family_mode) ELSE '' END)
                   WHEN 'replica_only' THEN pg_catalog.format('trigger %s on %s fires only under session_replication_role = replica (tgenabled = R): it does not fire in normal sessions', t.trigger_name, t.table_name)
                   WHEN 'drifted' THEN pg_catalog.format('trigger %s on %s differs from its expected definition', t.trigger_name, t.table_name)
                   ELSE pg_catalog.format('trigger %s on package table %s is not in the baseline', t.trigger_name, t.table_name) END,
               CASE
                   WHEN t.state IN ('disabled', 'replica_only') THEN pg_catalog.format('ALTER TABLE %s ENABLE TRIGGER %I;', t.table_name, t.trigger_name)
                   WHEN t.scope = 'family' THEN pg_catalog.format('Re-attach the gate triggers (register_family is idempotent): DROP TRIGGER IF EXISTS %I ON %s; SELECT ${c.schema}.register_family(%L, %L, %L, %L, %L); expected: %s',
                                                                  t.trigger_name, t.table_name, t.collection_name, t.table_name, bf.code_column, bf.code_pattern, bf.mode, t.expected_definition)
                   WHEN t.state = 'unexpected' THEN ${lit(`Find out who created it; drop it unless it belongs to a reviewed migration, then: ${capture}`)}
                   ELSE pg_catalog.format('Recreate it as recorded in the baseline, as the package owner: DROP TRIGGER IF EXISTS %I ON %s; %s;', t.trigger_name, t.table_name, t.expected_definition) END,
               jsonb_build_object('scope', t.scope, 'collection_name', t.collection_name, 'enabled_mode', t.enabled_mode,
                                  'expected_hash', t.expected_hash, 'current_hash', t.current_hash)
          FROM ${c.q('v_drift_trigger_state')} t
          LEFT JOIN ${c.q('birth_family')} bf ON bf.collection_name = t.collection_name
         WHERE t.state IN ('missing', 'disabled', 'replica_only', 'drifted', 'unexpected')
        UNION ALL
        SELECT 'info', 'trigger_always', 'trigger', pg_catalog.format('%s ON %s', t.trigger_name, t.table_name),
               pg_catalog.format('trigger %s on %s is ENABLE ALWAYS: it fires even under session_replication_role = replica (stricter than installed)', t.trigger_name, t.table_name),
               pg_catalog.format('Nothing to do if intended; the installed state is: ALTER TABLE %s ENABLE TRIGGER %I;', t.table_name, t.trigger_name),
               jsonb_build_object('scope', t.scope, 'collection_name', t.collection_name)
          FROM ${c.q('v_drift_trigger_state')} t
         WHERE t.present AND t.enabled_mode = 'always'
        UNION ALL
        -- the handoff heartbeat (the post-create guard treats coverage as unknown when stale)
        SELECT 'critical', 'heartbeat_stale', 'handoff', h.consumer_name,
               CASE WHEN h.heartbeat_at IS NULL
                    THEN pg_catalog.format('handoff %s has never run while %s changelog rows wait: governed activation fails closed until it runs (births are not affected)', h.consumer_name, w.waiting)
                    ELSE pg_catalog.format('handoff %s heartbeat is %s old (stale after %s; %s changelog rows waiting): governed activation fails closed until the consumer runs again (births are not affected)',
                                           h.consumer_name, pg_catalog.date_trunc('second', now() - h.heartbeat_at), h.stale_after, w.waiting) END,
               ${lit(`Run the consumer (CALL ${c.schema}.handoff_drain(); or birthgate consume) and check the scheduler that should run it`)},
               jsonb_build_object('heartbeat_at', h.heartbeat_at, 'stale_after', h.stale_after, 'waiting', w.waiting,
                                  'position_txid', h.position_txid::text, 'position_change_id', h.position_change_id)
          FROM ${c.q('handoff_cursor')} h
         CROSS JOIN LATERAL (
               SELECT count(*) AS waiting FROM ${c.q('registry_changelog')} l
                WHERE (l.txid, l.change_id) > (h.position_txid, h.position_change_id)) w
         WHERE (h.heartbeat_at IS NULL AND EXISTS (SELECT 1 FROM ${c.q('registry_changelog')}))
            OR h.heartbeat_at < now() - h.stale_after
        UNION ALL
        -- family tables the package cannot read without running code of their owner: nothing was read
        SELECT 'critical', 'family_table_unsafe', 'table', tb.ident,
               pg_catalog.format('family %s: %s cannot be read without running code of its owner (%s); its unborn objects and phantoms are not checked',
                                 u.collection_name, tb.ident, u.note),
               pg_catalog.format('Find out who changed %s (owner %I) and undo what the description names (an ordinary table, code column %I of text, varchar or name, no index, CHECK, statistics or partition-key expression using functions outside pg_catalog, no inheritance child), then re-register: SELECT ${c.schema}.register_family(%L, %L, %L, %L, %L);',
                                 tb.ident, tb.owner, f.code_column, f.collection_name, tb.ident, f.code_column, f.code_pattern, f.mode),
               jsonb_build_object('collection_name', u.collection_name, 'reason', u.note, 'mode', f.mode)
          FROM ${c.q('drift_family_objects')}(NULL) u
          JOIN ${c.q('birth_family')} f ON f.collection_name = u.collection_name
         CROSS JOIN LATERAL (SELECT pg_catalog.format('%I.%I', n.nspname, cl.relname) AS ident, pg_catalog.pg_get_userbyid(cl.relowner) AS owner
                               FROM pg_catalog.pg_class cl JOIN pg_catalog.pg_namespace n ON n.oid = cl.relnamespace
                              WHERE cl.oid = f.table_name::pg_catalog.oid) tb
         WHERE u.finding = 'unsafe_table'
        UNION ALL
        -- objects in family tables vs the registry (codes of a family table only for a caller who may read it)
        SELECT CASE WHEN o.finding = 'unborn' THEN CASE f.mode WHEN 'enforce' THEN 'critical' WHEN 'report' THEN 'warning' ELSE 'info' END
                    WHEN o.finding = 'phantom' THEN 'warning'
                    ELSE 'info' END,
               CASE o.finding WHEN 'unborn' THEN 'unborn_objects' WHEN 'phantom' THEN 'phantom_objects' ELSE 'retired_objects_present' END,
               'family',
               o.collection_name,
               CASE o.finding
                   WHEN 'unborn' THEN pg_catalog.format('family %s (mode %s): %s row(s) in %s have no registry row (bypassed gate: session_replication_role = replica, disabled trigger or mode off)%s',
                                                        o.collection_name, f.mode, o.n, tb.ident, CASE WHEN o.null_codes > 0 THEN pg_catalog.format(', %s with a NULL code', o.null_codes) ELSE '' END)
                   WHEN 'phantom' THEN pg_catalog.format('family %s: %s BORN registry row(s) have no object in %s (deleted without retire)', o.collection_name, o.n, tb.ident)
                   ELSE pg_catalog.format('family %s: %s row(s) in %s carry a RETIRED code', o.collection_name, o.n, tb.ident) END,
               CASE o.finding
                   WHEN 'unborn' THEN pg_catalog.format('List them: SELECT * FROM ${c.schema}.drift_family_objects(%L) WHERE finding = ''unborn''; birth each through a permit (issue_permit, then rewrite its code) or remove it', o.collection_name)
                   WHEN 'phantom' THEN pg_catalog.format('List them: SELECT * FROM ${c.schema}.drift_family_objects(%L) WHERE finding = ''phantom''; restore the object or retire the code with ${c.schema}.retire()', o.collection_name)
                   ELSE pg_catalog.format('List them: SELECT * FROM ${c.schema}.drift_family_objects(%L) WHERE finding = ''retired_present''', o.collection_name) END,
               jsonb_build_object('count', o.n, 'null_codes', o.null_codes, 'sample', to_jsonb(o.sample), 'mode', f.mode, 'codes_hidden', o.hidden_codes)
          FROM (SELECT s.collection_name, s.finding, count(*) AS n,
                       count(*) FILTER (WHERE s.entity_code IS NULL AND NOT s.code_hidden) AS null_codes,
                       count(*) FILTER (WHERE s.code_hidden) AS hidden_codes,
                       (array_agg(s.entity_code ORDER BY s.entity_code) FILTER (WHERE s.entity_code IS NOT NULL))[1:5] AS sample
                  FROM ${c.q('drift_family_objects')}(NULL) s
                 WHERE s.finding <> 'unsafe_table'
                 GROUP BY s.collection_name, s.finding) o
          JOIN ${c.q('birth_family')} f ON f.collection_name = o.collection_name
         CROSS JOIN LATERAL (SELECT pg_catalog.format('%I.%I', n.nspname, cl.relname) AS ident
                               FROM pg_catalog.pg_class cl JOIN pg_catalog.pg_namespace n ON n.oid = cl.relnamespace
                              WHERE cl.oid = f.table_name::pg_catalog.oid) tb
    )
    SELECT findings.severity,
           pg_catalog.array_position(${sev}, findings.severity) AS severity_rank,
           findings.kind,
           findings.object_type,
           findings.object_name COLLATE "default" AS object_name,
           findings.message COLLATE "default" AS message,
           findings.remedy COLLATE "default" AS remedy,
           findings.detail
      FROM findings
     ORDER BY 2 DESC, 3, 5;
    ${comment('VIEW', view, 'One row per drift finding, worst first: drifted/missing/unexpected functions, missing/disabled/replica-only/drifted gate triggers, missing family tables or code columns, family tables that cannot be read without running code of their owner (family_table_unsafe), a stale handoff heartbeat (governed activation then fails closed), unborn objects and phantoms per family (sample codes only for a caller with SELECT on the code column). severity: info | warning | critical; remedy says what to do. Detect-only: reading it changes nothing and never runs code of a table owner.')}`;
}
