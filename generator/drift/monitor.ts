/**
 * The drift monitor's SQL (migration 000004): definition hashing, the baseline, the per-object
 * views and the report. Detect-only: nothing here writes except drift_capture_baseline().
 *
 * Design notes (for the reviewer and the on-call DBA):
 * - Definitions are read through helpers pinned to `search_path = pg_catalog, pg_temp`, because
 *   pg_get_triggerdef()/pg_get_functiondef() leave out the schema of whatever is visible on the
 *   caller's search_path; pinned, the text (and so its hash) is the same for every caller.
 * - Normalisation collapses whitespace runs and drops whitespace next to punctuation, so a
 *   re-indented or re-spaced body is not drift. pg_get_functiondef() carries no owner, so an
 *   ALTER FUNCTION ... OWNER TO is not drift either; SECURITY DEFINER, SET search_path, volatility,
 *   the language and the body all are.
 * - A family's gate triggers are compared with the definition derived from its birth_family row
 *   (table, code column, collection), not with the baseline: registering a family after the
 *   capture is not drift, while a hand-edited gate trigger is.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { PINNED_SEARCH_PATH, lit, qi, sqlText } from '../lib/sql.js';
import { vocab } from '../vocab.js';
import { raise } from '../errors/index.js';

/** The two triggers register_family() attaches to every family table (contract with 000002). */
export const GATE_TRIGGER = '_100_birth_gate';
export const FINALIZE_TRIGGER = '_900_birth_finalize';

const PINNED = PINNED_SEARCH_PATH;

/** SQL array of the severity vocabulary, lowest first: array_position() gives the rank. */
function severityArray(): string {
  return `ARRAY[${vocab.severity.map(lit).join(', ')}]::text[]`;
}

/** Indent a multi-line raise() for splicing into a plpgsql body at `n` spaces. */
function raiseAt(n: number, name: string, detail: string, message?: string): string {
  return raise(name, detail, message).replaceAll('\n', `\n${' '.repeat(n)}`);
}

export function baselineTable(c: Ctx): string {
  return sqlText`
    CREATE TABLE ${c.q('drift_baseline')} (
        "object_kind" text NOT NULL CHECK (object_kind IN ('function', 'trigger')),
        "identity" text NOT NULL CHECK (identity <> ''),
        "scope" text DEFAULT 'package' NOT NULL CHECK (scope IN ('package', 'family')),
        "definition_hash" text NOT NULL CHECK (definition_hash ~ '^[0-9a-f]{64}$'),
        "definition" text NOT NULL,
        "captured_at" timestamptz DEFAULT now() NOT NULL,
        "captured_by" name DEFAULT session_user NOT NULL,
        CONSTRAINT "drift_baseline_pkey" PRIMARY KEY ("object_kind", "identity")
    );
    ${comment('TABLE', c.q('drift_baseline'), 'The recorded hash of every function and trigger the package owns, written by drift_capture_baseline() at the end of every migration that changes one; the drift views compare the live catalog with it.')}
    ${comment('COLUMN', `${c.q('drift_baseline')}."object_kind"`, 'function (every function/procedure of the package schema) or trigger (package-table triggers and the gate triggers of every family).')}
    ${comment('COLUMN', `${c.q('drift_baseline')}."identity"`, 'schema.name(argument types) for a function (regprocedure); schema.table.trigger for a trigger.')}
    ${comment('COLUMN', `${c.q('drift_baseline')}."scope"`, 'package: judged against this baseline; family: a gate trigger, recorded for the audit but judged against the definition derived from birth_family.')}
    ${comment('COLUMN', `${c.q('drift_baseline')}."definition_hash"`, 'sha256 (hex) of the normalised definition (drift_normalize_definition).')}
    ${comment('COLUMN', `${c.q('drift_baseline')}."definition"`, 'The definition as captured (pg_get_functiondef / pg_get_triggerdef), to diff against the live one.')}
    ${comment('COLUMN', `${c.q('drift_baseline')}."captured_by"`, 'session_user of the capture (the migrating role, or the DBA who accepted a change).')}`;
}

export function hashFunctions(c: Ctx): string {
  const norm = c.q('drift_normalize_definition');
  const hash = c.q('drift_definition_hash');
  return sqlText`
    CREATE FUNCTION ${norm}(p_definition text)
    RETURNS text
    LANGUAGE sql
    IMMUTABLE STRICT PARALLEL SAFE
    ${PINNED}
    AS $fn$
        SELECT pg_catalog.btrim(
                   pg_catalog.regexp_replace(
                       pg_catalog.regexp_replace(p_definition, '\\s+', ' ', 'g'),
                       ' ?([^[:alnum:]_ ]) ?', '\\1', 'g'))
    $fn$;
    ${comment('FUNCTION', `${norm}(text)`, 'Normalises a definition for hashing: whitespace runs collapse and whitespace next to punctuation goes, so re-indenting or re-spacing is not drift (a whitespace-only edit inside a string literal is not seen either).')}

    CREATE FUNCTION ${hash}(p_definition text)
    RETURNS text
    LANGUAGE sql
    IMMUTABLE STRICT PARALLEL SAFE
    ${PINNED}
    AS $fn$
        SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(${norm}(p_definition), 'UTF8')), 'hex')
    $fn$;
    ${comment('FUNCTION', `${hash}(text)`, 'sha256 (hex) of the normalised definition: the hash stored in drift_baseline and shown by the drift views.')}`;
}

/** What exists now: functions of the package schema, and the triggers the package owns. */
export function currentObjects(c: Ctx): string {
  const fns = c.q('drift_current_functions');
  const trg = c.q('drift_current_triggers');
  return sqlText`
    CREATE FUNCTION ${fns}()
    RETURNS TABLE (identity text, function_oid oid, kind text, definition text, definition_hash text, public_execute boolean)
    LANGUAGE sql
    STABLE
    SECURITY DEFINER
    ${PINNED}
    AS $fn$
        SELECT p.oid::pg_catalog.regprocedure::text,
               p.oid,
               CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
               d.definition,
               ${c.q('drift_definition_hash')}(d.definition),
               p.prorettype <> 'pg_catalog.trigger'::pg_catalog.regtype
                   AND pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE')
          FROM pg_catalog.pg_proc p
          JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
         CROSS JOIN LATERAL (SELECT pg_catalog.pg_get_functiondef(p.oid) AS definition) d
         WHERE n.nspname = ${lit(c.schema)}
           AND p.prokind IN ('f', 'p')
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                            WHERE e.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND e.objid = p.oid AND e.deptype = 'e')
    $fn$;
    ${comment('FUNCTION', `${fns}()`, 'Every function and procedure now in the package schema (extension members excepted) with its definition, hash, and whether PUBLIC may execute it. Read-only.')}

    CREATE FUNCTION ${trg}()
    RETURNS TABLE (scope text, identity text, table_oid oid, trigger_name name, trigger_oid oid, enabled_mode "char", definition text, definition_hash text)
    LANGUAGE sql
    STABLE
    SECURITY DEFINER
    ${PINNED}
    AS $fn$
        SELECT CASE WHEN f.collection_name IS NOT NULL AND t.tgname IN (${lit(GATE_TRIGGER)}, ${lit(FINALIZE_TRIGGER)})
                    THEN 'family' ELSE 'package' END,
               pg_catalog.format('%I.%I.%I', n.nspname, c.relname, t.tgname),
               c.oid,
               t.tgname,
               t.oid,
               t.tgenabled,
               d.definition,
               ${c.q('drift_definition_hash')}(d.definition)
          FROM pg_catalog.pg_trigger t
          JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN ${c.q('birth_family')} f ON f.table_name::pg_catalog.oid = c.oid
         CROSS JOIN LATERAL (SELECT pg_catalog.pg_get_triggerdef(t.oid) AS definition) d
         WHERE NOT t.tgisinternal
           AND (n.nspname = ${lit(c.schema)}
                OR (f.collection_name IS NOT NULL AND t.tgname IN (${lit(GATE_TRIGGER)}, ${lit(FINALIZE_TRIGGER)})))
    $fn$;
    ${comment('FUNCTION', `${trg}()`, 'Every trigger the package owns now: user triggers on package tables (scope package) and the gate triggers on family tables (scope family), with tgenabled, definition and hash. Read-only.')}`;
}

export function captureBaseline(c: Ctx): string {
  const fn = c.q('drift_capture_baseline');
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
        -- one capture at a time; readers of the views are not blocked
        LOCK TABLE ${c.q('drift_baseline')} IN SHARE ROW EXCLUSIVE MODE;
        DELETE FROM ${c.q('drift_baseline')};
        INSERT INTO ${c.q('drift_baseline')} (object_kind, identity, scope, definition_hash, definition)
        SELECT 'function', f.identity, 'package', f.definition_hash, f.definition
          FROM ${c.q('drift_current_functions')}() f
        UNION ALL
        SELECT 'trigger', t.identity, t.scope, t.definition_hash, t.definition
          FROM ${c.q('drift_current_triggers')}() t;
        GET DIAGNOSTICS v_count = ROW_COUNT;
        RETURN v_count;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}()`, 'Records the current hashes of every package function and trigger as the drift baseline (replacing the previous one) and returns how many objects it recorded. Every migration that changes an owned function ends with it; a DBA calls it only to accept a reviewed change.')}`;
}

/** v_drift_function_hash and v_drift_trigger_state. */
export function objectViews(c: Ctx): string {
  const fnView = c.q('v_drift_function_hash');
  const trView = c.q('v_drift_trigger_state');
  const gateDef = `pg_catalog.format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE OF %I ON %s FOR EACH ROW EXECUTE FUNCTION %I.%I(%L)', ${lit(GATE_TRIGGER)}, fam.code_column, fam.table_ident, ${lit(c.schema)}, 'tg_birth_gate', fam.collection_name)`;
  const finDef = `pg_catalog.format('CREATE CONSTRAINT TRIGGER %I AFTER INSERT OR UPDATE OF %I ON %s DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION %I.%I(%L)', ${lit(FINALIZE_TRIGGER)}, fam.code_column, fam.table_ident, ${lit(c.schema)}, 'tg_birth_finalize', fam.collection_name)`;
  return sqlText`
    CREATE VIEW ${fnView} AS
    SELECT coalesce(b.identity, f.identity) AS identity,
           CASE WHEN f.identity IS NULL THEN 'missing'
                WHEN b.identity IS NULL THEN 'unexpected'
                WHEN b.definition_hash <> f.definition_hash THEN 'drifted'
                ELSE 'ok' END AS state,
           b.definition_hash IS DISTINCT FROM f.definition_hash AS drifted,
           b.definition_hash AS baseline_hash,
           f.definition_hash AS current_hash,
           coalesce(f.public_execute, false) AS public_execute,
           b.captured_at,
           b.captured_by,
           b.definition AS baseline_definition,
           f.definition AS current_definition
      FROM (SELECT * FROM ${c.q('drift_baseline')} WHERE object_kind = 'function') b
      FULL JOIN ${c.q('drift_current_functions')}() f ON f.identity = b.identity;
    ${comment('VIEW', fnView, 'Each function/procedure of the package: baseline hash vs current hash. state: ok | drifted | missing (in the baseline, gone now) | unexpected (now in the schema, not in the baseline).')}

    CREATE VIEW ${trView} AS
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
    ), required AS (
        SELECT fam.*, r.trigger_name,
               CASE r.trigger_name WHEN ${lit(GATE_TRIGGER)} THEN ${gateDef} ELSE ${finDef} END AS expected_definition
          FROM fam
         CROSS JOIN (VALUES (${lit(GATE_TRIGGER)}::name), (${lit(FINALIZE_TRIGGER)}::name)) r(trigger_name)
    ), cur AS (
        SELECT * FROM ${c.q('drift_current_triggers')}()
    ), family_rows AS (
        SELECT 'family'::text AS scope,
               q.collection_name,
               coalesce(q.table_ident, q.table_oid::text) AS table_name,
               q.trigger_name,
               q.mode AS family_mode,
               q.table_exists,
               q.column_exists,
               t.trigger_oid IS NOT NULL AS present,
               t.enabled_mode,
               q.expected_definition,
               ${c.q('drift_definition_hash')}(q.expected_definition) AS expected_hash,
               t.definition AS current_definition,
               t.definition_hash AS current_hash,
               b.definition_hash AS baseline_hash
          FROM required q
          LEFT JOIN cur t ON t.table_oid = q.table_oid AND t.trigger_name = q.trigger_name
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
    ${comment('VIEW', trView, 'Each trigger the package needs: per family its gate triggers (expected definition derived from birth_family), and the triggers on package tables (expected = baseline). present, enabled (fires in a normal session: tgenabled O or A; D = disabled, R = fires only under session_replication_role = replica), hashes, drifted, state.')}`;
}

/** The per-family scan for unborn objects and phantoms (dynamic SQL per family, format %I/%L). */
export function familyScan(c: Ctx): string {
  const fn = c.q('drift_family_objects');
  return sqlText`
    CREATE FUNCTION ${fn}(p_collection text DEFAULT NULL)
    RETURNS TABLE (collection_name text, finding text, entity_code text)
    LANGUAGE plpgsql
    STABLE
    SECURITY DEFINER
    ${PINNED}
    AS $fn$
    DECLARE
        v_family record;
    BEGIN
        IF p_collection IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM ${c.q('birth_family')} f WHERE f.collection_name = p_collection) THEN
            ${raiseAt(12, 'DRIFT_UNKNOWN_FAMILY', `format('collection_name %L is not in birth_family', p_collection)`)}
        END IF;
        -- one set-based statement per family; families whose table or code column is gone are
        -- reported by v_drift_trigger_state instead of failing the scan
        FOR v_family IN
            SELECT f.collection_name AS collection, n.nspname AS table_schema, cl.relname AS table_name, f.code_column
              FROM ${c.q('birth_family')} f
              JOIN pg_catalog.pg_class cl ON cl.oid = f.table_name::pg_catalog.oid
              JOIN pg_catalog.pg_namespace n ON n.oid = cl.relnamespace
             WHERE (p_collection IS NULL OR f.collection_name = p_collection)
               AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                            WHERE a.attrelid = cl.oid AND a.attname = f.code_column AND a.attnum > 0 AND NOT a.attisdropped)
             ORDER BY f.collection_name
        LOOP
            RETURN QUERY EXECUTE pg_catalog.format(
                $q$
                SELECT %1$L::text,
                       CASE WHEN r.status IS NULL THEN 'unborn' ELSE 'retired_present' END,
                       t.%4$I::text
                  FROM %2$I.%3$I t
                  LEFT JOIN ${c.q('birth_registry')} r ON r.collection_name = %1$L AND r.entity_code = t.%4$I::text
                 WHERE r.status IS DISTINCT FROM 'BORN'
                UNION ALL
                SELECT %1$L::text, 'phantom', r.entity_code
                  FROM ${c.q('birth_registry')} r
                 WHERE r.collection_name = %1$L
                   AND r.status = 'BORN'
                   AND NOT EXISTS (SELECT 1 FROM %2$I.%3$I t WHERE t.%4$I::text = r.entity_code)
                $q$,
                v_family.collection, v_family.table_schema, v_family.table_name, v_family.code_column);
        END LOOP;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}(text)`, 'Scans the family tables (one family, or all with NULL): unborn = a row whose code has no registry row (what a superuser under session_replication_role = replica, a disabled gate or mode off leaves behind; NULL codes included); retired_present = a row whose code is RETIRED; phantom = a BORN registry row whose object is gone. Read-only.')}`;
}

/** v_drift_report and drift_assert_clean(). */
export function report(c: Ctx): string {
  const view = c.q('v_drift_report');
  const assert = c.q('drift_assert_clean');
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
                   ELSE ${lit(`Restore it by re-running the CREATE OR REPLACE from the migration that defines it (compare baseline_definition and current_definition in v_drift_function_hash); only if the change is reviewed and intended: ${capture}`)} END,
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
                   ELSE pg_catalog.format('Recreate it from the migration that defines it. Expected: %s', t.expected_definition) END,
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
        -- objects in family tables vs the registry
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
               jsonb_build_object('count', o.n, 'null_codes', o.null_codes, 'sample', to_jsonb(o.sample), 'mode', f.mode)
          FROM (SELECT s.collection_name, s.finding, count(*) AS n,
                       count(*) FILTER (WHERE s.entity_code IS NULL) AS null_codes,
                       (array_agg(s.entity_code ORDER BY s.entity_code) FILTER (WHERE s.entity_code IS NOT NULL))[1:5] AS sample
                  FROM ${c.q('drift_family_objects')}(NULL) s
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
    ${comment('VIEW', view, 'One row per drift finding, worst first: drifted/missing/unexpected functions, missing/disabled/replica-only/drifted gate triggers, missing family tables or code columns, a stale handoff heartbeat (governed activation then fails closed), unborn objects and phantoms per family. severity: info | warning | critical; remedy says what to do. Detect-only: reading it changes nothing.')}

    CREATE FUNCTION ${assert}(p_min_severity text DEFAULT 'critical')
    RETURNS integer
    LANGUAGE plpgsql
    STABLE
    ${PINNED}
    AS $fn$
    DECLARE
        v_rank integer := pg_catalog.array_position(${sev}, p_min_severity);
        v_count integer;
        v_summary text;
    BEGIN
        IF v_rank IS NULL THEN
            ${raiseAt(12, 'DRIFT_INVALID_SEVERITY', `format('p_min_severity = %L; expected one of %s', p_min_severity, array_to_string(${sev}, ', '))`)}
        END IF;
        SELECT count(*)::integer,
               string_agg(pg_catalog.format('%s %s %s', r.severity, r.kind, r.object_name), '; ' ORDER BY r.severity_rank DESC, r.kind, r.object_name)
          INTO v_count, v_summary
          FROM ${view} r
         WHERE r.severity_rank >= v_rank;
        IF v_count > 0 THEN
            ${raiseAt(12, 'DRIFT_FINDINGS', `format('%s finding(s) at or above %s: %s', v_count, p_min_severity, v_summary)`)}
        END IF;
        RETURN 0;
    END;
    $fn$;
    ${comment('FUNCTION', `${assert}(text)`, 'Raises BG300 (DETAIL lists the findings) when v_drift_report has a finding at or above p_min_severity (info | warning | critical); returns 0 otherwise. For migrations, cron jobs and CI; writes nothing.')}`;
}

export function grants(c: Ctx): string {
  const { admin, reader } = c.roles;
  const both = `${qi(admin)}, ${qi(reader)}`;
  const fns = [
    'drift_normalize_definition(text)',
    'drift_definition_hash(text)',
    'drift_current_functions()',
    'drift_current_triggers()',
    'drift_family_objects(text)',
    'drift_assert_clean(text)',
    'drift_capture_baseline()',
  ];
  return [
    ...fns.map((f) => `REVOKE ALL ON FUNCTION ${c.s}.${f} FROM PUBLIC;`),
    ...fns
      .filter((f) => f !== 'drift_capture_baseline()')
      .map((f) => `GRANT EXECUTE ON FUNCTION ${c.s}.${f} TO ${both};`),
    `GRANT EXECUTE ON FUNCTION ${c.q('drift_capture_baseline')}() TO ${qi(admin)};`,
    `GRANT SELECT ON ${c.q('drift_baseline')}, ${c.q('v_drift_function_hash')}, ${c.q('v_drift_trigger_state')}, ${c.q('v_drift_report')} TO ${both};`,
  ].join('\n');
}

/**
 * The statement every later migration that creates, replaces or drops a package function or
 * trigger must end its Up AND its Down section with, so that a clean upgrade (and a clean
 * rollback) reports no drift. test/drift-upgrade.test.ts checks every migration level after
 * 000004 for zero findings, so a migration that forgets it fails the suite.
 */
export function recaptureDriftBaseline(c: Ctx): string {
  return `SELECT ${c.q('drift_capture_baseline')}();`;
}

export function driftUp(c: Ctx): string[] {
  return [
    baselineTable(c),
    hashFunctions(c),
    currentObjects(c),
    captureBaseline(c),
    objectViews(c),
    familyScan(c),
    report(c),
    grants(c),
    `-- record the baseline last, so it includes everything above and every earlier migration\n${recaptureDriftBaseline(c)}`,
  ];
}

export function driftDown(c: Ctx): string[] {
  return [
    `DROP FUNCTION ${c.q('drift_assert_clean')}(text);`,
    `DROP VIEW ${c.q('v_drift_report')};`,
    `DROP FUNCTION ${c.q('drift_family_objects')}(text);`,
    `DROP VIEW ${c.q('v_drift_trigger_state')};`,
    `DROP VIEW ${c.q('v_drift_function_hash')};`,
    `DROP FUNCTION ${c.q('drift_capture_baseline')}();`,
    `DROP FUNCTION ${c.q('drift_current_triggers')}();`,
    `DROP FUNCTION ${c.q('drift_current_functions')}();`,
    `DROP FUNCTION ${c.q('drift_definition_hash')}(text);`,
    `DROP FUNCTION ${c.q('drift_normalize_definition')}(text);`,
    `DROP TABLE ${c.q('drift_baseline')};`,
  ];
}

