/**
 * sweep_adopt(): one batch of the adoption sweep over a family table, in the caller's transaction.
 *
 * Keyset over the code column (as text, in the column's collation, so an index on it serves the
 * scan): GROUP BY code ORDER BY code LIMIT batch, so the copies of a duplicated code always fall in
 * one batch. Each code with no registry row is either adopted (birth_registry BORN without a permit
 * + a BORN registry_changelog row whose detail says adopted, by whom, in which run; the handoff then
 * hands it on like any birth) or written as a finding: empty, longer than 256 characters, present
 * more than once, not matching the family pattern. A RETIRED code still in the table is a finding
 * too. NULL codes cannot be reached by a keyset: the last batch counts them into one finding row.
 * A dry run writes the findings and counts what would be adopted, and writes no registry rows.
 *
 * Security: the family table is user-owned and read with the package's rights, so at every call
 * the relation must be an ordinary table and the code column text, varchar or name (or a domain
 * directly over one); the column is only read, cast to text (no user cast, no domain CHECK) and
 * compared with pg_catalog operators; row_security = off, so a policy (user code) is never run
 * (a table whose policies would apply is refused by PostgreSQL instead).
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { PINNED_SEARCH_PATH, sqlText } from '../lib/sql.js';
import { ACTOR, CODE_SHOWN, MAX_CODE_LENGTH, SAFE_CODE_TYPE, raiseAt } from './common.js';
import { SWEEP_RESULT, checkArgs, closingFindings, takeCursor } from './worker.js';

/**
 * The batch statement, a format() template: %1$I schema, %2$I table, %3$I code column, %4$s the
 * keyset condition. Parameters: $1 position, $2 batch size, $3 collection, $4 pattern, $5 actor,
 * $6 run id, $7 sweep name, $8 table (text), $9 mode.
 */
function batchTemplate(c: Ctx, dryRun: boolean): string {
  const adopt = dryRun
    ? sqlText`
        adopted AS (
            SELECT 1 FROM reg AS g WHERE g.finding IS NULL AND g.registered_status IS NULL
        ),`
    : sqlText`
        ins AS (
            INSERT INTO ${c.q('birth_registry')} (collection_name, entity_code, permit_id, born_by)
            SELECT $3, g.code, NULL, $5
              FROM reg AS g
             WHERE g.finding IS NULL AND g.registered_status IS NULL
             ORDER BY g.ord
            ON CONFLICT (entity_code, collection_name) DO NOTHING
            RETURNING registry_id, entity_code, born_at
        ),
        adopted AS (
            INSERT INTO ${c.q('registry_changelog')} (op, collection_name, entity_code, registry_id, born_at, actor, detail)
            SELECT 'BORN', $3, i.entity_code, i.registry_id, i.born_at, $5,
                   pg_catalog.jsonb_build_object('adopted', true, 'adopted_by', $5, 'run_id', $6, 'sweep', $7,
                                                 'table', $8, 'mode', $9, 'permit_id', NULL)
              FROM ins AS i
             ORDER BY i.registry_id
            RETURNING 1
        ),`;
  return sqlText`
    WITH src AS MATERIALIZED (
        SELECT x.code, x.n, pg_catalog.row_number() OVER (ORDER BY x.code) AS ord
          FROM (SELECT (t.%3$I)::pg_catalog.text AS code, pg_catalog.count(*) AS n
                  FROM %1$I.%2$I AS t
                 WHERE (t.%3$I)::pg_catalog.text %4$s
                 GROUP BY 1
                 ORDER BY 1
                 LIMIT $2) AS x
    ),
    reg AS (
        SELECT s.code, s.n, s.ord, r.status AS registered_status,
               CASE WHEN s.code OPERATOR(pg_catalog.=) '' THEN 'empty_code'
                    WHEN pg_catalog.length(s.code) OPERATOR(pg_catalog.>) ${MAX_CODE_LENGTH} THEN 'oversize_code'
                    WHEN s.n OPERATOR(pg_catalog.>) 1 THEN 'duplicate_code'
                    WHEN NOT (s.code OPERATOR(pg_catalog.~) $4) THEN 'pattern_mismatch' END AS finding
          FROM (SELECT src.code COLLATE pg_catalog."default" AS code, src.n, src.ord FROM src) AS s
          LEFT JOIN ${c.q('birth_registry')} AS r
            ON r.collection_name OPERATOR(pg_catalog.=) $3 AND r.entity_code OPERATOR(pg_catalog.=) s.code
    ),
    ${adopt.replaceAll('\n', '\n    ')}
    found AS (
        INSERT INTO ${c.q('sweep_finding')} (sweep_name, run_id, kind, collection_name, entity_code, code_length, code_md5, occurrences, detail)
        SELECT $7, $6, CASE WHEN g.registered_status OPERATOR(pg_catalog.=) 'RETIRED' THEN 'retired_present' ELSE g.finding END, $3,
               pg_catalog.left(g.code, ${MAX_CODE_LENGTH}), pg_catalog.length(g.code), pg_catalog.md5(g.code), g.n,
               pg_catalog.jsonb_build_object('table', $8, 'code_pattern', $4)
          FROM reg AS g
         WHERE (g.finding IS NOT NULL AND g.registered_status IS NULL) OR g.registered_status OPERATOR(pg_catalog.=) 'RETIRED'
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT pg_catalog.count(*) FROM src)::integer,
           (SELECT pg_catalog.count(*) FROM adopted)::integer,
           (SELECT pg_catalog.count(*) FROM found)::integer,
           (SELECT src.code FROM src ORDER BY src.ord DESC LIMIT 1)`;
}

export function adoptFunction(c: Ctx): string {
  const fn = c.q('sweep_adopt');
  const cur = c.q('sweep_cursor');
  const fnd = c.q('sweep_finding');
  const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}(p_collection text, p_dry_run boolean DEFAULT false, p_batch_size integer DEFAULT 5000,
                                   p_max_batches_per_minute integer DEFAULT NULL, p_load_guard boolean DEFAULT true)
    RETURNS TABLE (${SWEEP_RESULT})
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    SET row_security = off
    AS $fn$
    DECLARE
        v_t0 timestamptz := pg_catalog.clock_timestamp();
        v_actor name := ${ACTOR};
        v_kind text;
        v_name text;
        v_collection text;
        v_family record;
        v_cur ${cur};
        v_guard record;
        v_estimate bigint;
        v_scanned integer;
        v_applied integer;
        v_findings integer;
        v_last text;
        v_nulls bigint;
        v_done boolean;
        v_ms numeric;
    BEGIN
        ${checkArgs('sweep_adopt', 8)}
        IF p_dry_run IS NULL THEN
            ${raiseAt(12, 'SWEEP_INVALID_ARGUMENT', `'sweep_adopt(p_dry_run => NULL): must be true or false'`)}
        END IF;

        -- the family, and at every call: an ordinary table, a code column of a type read without user code
        SELECT f.collection_name, f.code_column, f.code_pattern, f.mode, f.table_name::pg_catalog.text AS table_text,
               k.oid AS relid, k.relkind, n.nspname, k.relname, a.attnum,
               coalesce(${SAFE_CODE_TYPE}, false) AS safe_type
          INTO v_family
          FROM ${c.q('birth_family')} AS f
          LEFT JOIN pg_catalog.pg_class AS k ON k.oid OPERATOR(pg_catalog.=) f.table_name::pg_catalog.oid
          LEFT JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) k.relnamespace
          LEFT JOIN pg_catalog.pg_attribute AS a
            ON a.attrelid OPERATOR(pg_catalog.=) k.oid AND a.attname OPERATOR(pg_catalog.=) f.code_column
           AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
          LEFT JOIN pg_catalog.pg_type AS t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
         WHERE f.collection_name OPERATOR(pg_catalog.=) p_collection;
        IF NOT FOUND THEN
            ${raiseAt(12, 'SWEEP_UNKNOWN_FAMILY', `pg_catalog.format('collection %L is not in ${c.schema}.birth_family', pg_catalog.left(p_collection, ${CODE_SHOWN}))`)}
        END IF;
        IF v_family.relkind IS DISTINCT FROM 'r' THEN
            ${raiseAt(12, 'SWEEP_FAMILY_NOT_TABLE', `pg_catalog.format('family %s: relation %s is %s', v_family.collection_name, v_family.table_text, CASE WHEN v_family.relkind IS NULL THEN 'missing' ELSE pg_catalog.format('of relkind %L, not an ordinary table', v_family.relkind) END)`)}
        END IF;
        IF v_family.attnum IS NULL OR NOT v_family.safe_type THEN
            ${raiseAt(12, 'SWEEP_CODE_COLUMN_UNSAFE', `pg_catalog.format('family %s: column %I of %I.%I is %s', v_family.collection_name, v_family.code_column, v_family.nspname, v_family.relname, CASE WHEN v_family.attnum IS NULL THEN 'missing' ELSE 'not text, varchar or name (or a domain directly over one)' END)`)}
        END IF;

        v_kind := CASE WHEN p_dry_run THEN 'adopt_dry_run' ELSE 'adopt' END;
        v_collection := v_family.collection_name;
        v_name := v_kind || ':' || v_collection;
        SELECT CASE WHEN k.reltuples < 0 THEN NULL ELSE k.reltuples::bigint END INTO v_estimate
          FROM pg_catalog.pg_class AS k WHERE k.oid OPERATOR(pg_catalog.=) v_family.relid;

        ${takeCursor(c, 8)}

        -- the batch: one statement over its codes
        IF p_dry_run THEN
            EXECUTE pg_catalog.format(${lit(batchTemplate(c, true))},
                                      v_family.nspname, v_family.relname, v_family.code_column,
                                      CASE WHEN v_cur.position_code IS NULL THEN 'IS NOT NULL' ELSE 'OPERATOR(pg_catalog.>) $1' END)
               INTO v_scanned, v_applied, v_findings, v_last
              USING v_cur.position_code, p_batch_size, v_collection, v_family.code_pattern, v_actor, v_cur.run_id, v_name,
                    v_family.table_text, v_family.mode;
        ELSE
            EXECUTE pg_catalog.format(${lit(batchTemplate(c, false))},
                                      v_family.nspname, v_family.relname, v_family.code_column,
                                      CASE WHEN v_cur.position_code IS NULL THEN 'IS NOT NULL' ELSE 'OPERATOR(pg_catalog.>) $1' END)
               INTO v_scanned, v_applied, v_findings, v_last
              USING v_cur.position_code, p_batch_size, v_collection, v_family.code_pattern, v_actor, v_cur.run_id, v_name,
                    v_family.table_text, v_family.mode;
        END IF;
        v_done := v_scanned < p_batch_size;

        -- the end of the keyset: NULL codes (unreachable by it) become one finding row
        IF v_done THEN
            EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %I.%I AS t WHERE t.%I IS NULL',
                                      v_family.nspname, v_family.relname, v_family.code_column)
               INTO v_nulls;
            IF v_nulls > 0 THEN
                INSERT INTO ${fnd} (sweep_name, run_id, kind, collection_name, occurrences, detail)
                VALUES (v_name, v_cur.run_id, 'null_code', v_collection, v_nulls,
                        pg_catalog.jsonb_build_object('table', v_family.table_text, 'column', v_family.code_column));
                v_findings := v_findings + 1;
            END IF;
        END IF;

        v_ms := pg_catalog.round((EXTRACT(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) v_t0) * 1000)::numeric, 1);
        UPDATE ${cur} AS sc
           SET position_code = coalesce(v_last, sc.position_code),
               batch_size = p_batch_size,
               batches_done = sc.batches_done + 1,
               rows_done = sc.rows_done + v_scanned,
               rows_applied = sc.rows_applied + v_applied,
               findings = sc.findings + v_findings,
               rows_total_estimated = GREATEST(sc.rows_total_estimated, sc.rows_done + v_scanned),
               batches_total_estimated = GREATEST(sc.batches_total_estimated, sc.batches_done + 1),
               finished_at = CASE WHEN v_done THEN pg_catalog.clock_timestamp() END,
               last_batch_at = v_t0, last_batch_ms = v_ms, max_batch_ms = GREATEST(sc.max_batch_ms, v_ms),
               paused_reason = NULL, paused_until = NULL,
               heartbeat_at = pg_catalog.clock_timestamp(), updated_at = pg_catalog.clock_timestamp()
         WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name
        RETURNING sc.* INTO v_cur;
        IF v_done THEN
            ${closingFindings(c, 12)}
        END IF;

        RETURN QUERY SELECT CASE WHEN v_done THEN 'finished' ELSE 'batch' END, v_name, v_cur.run_id, v_scanned, v_applied, v_findings,
                            v_cur.rows_done, v_cur.rows_total_estimated, v_cur.batches_done, v_cur.batches_total_estimated,
                            NULL::text, NULL::timestamptz;
    END;
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}(text, boolean, integer, integer, boolean)`,
      `One batch of the adoption sweep of a family table, in the caller's transaction (commit after each; sweep_adopt_run and the CLI do). Keyset over the code column (an index on it keeps each batch short): every code with no registry row is adopted (birth_registry BORN, no permit; a BORN changelog row whose detail says adopted, adopted_by, run_id; the handoff then hands it on) or written to sweep_finding: empty_code, oversize_code (> ${MAX_CODE_LENGTH} characters), duplicate_code, pattern_mismatch, retired_present, and at the end null_code (one row, with the count). p_dry_run: findings and would-adopt counts only. Returns status batch | finished | paused (rate limit p_max_batches_per_minute or sweep_load_guard(); see paused_reason/paused_until) | skipped (another worker holds the cursor), and the progress. A call on a finished cursor starts a new run (a re-run adopts only what is new). Checks at every call that the family relation is an ordinary table and its code column text/varchar/name; never runs user code (row_security off, pg_catalog operators).`,
    )}`;
}
