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
 * Security: the family table is user-owned and read with the package's rights, so every batch
 * reads it only through family_read_source() (generator/security/family_read.ts), the one reviewed
 * gate shared with the drift monitor and the retire check: at every call the relation must be an
 * ordinary table (or a partitioned table of ordinary leaves), the code column must resolve to
 * text, varchar or name, no row-level security may apply; everything read is locked and checked
 * again, and read as `CAST(... AS base type)` FROM ONLY, compared with pg_catalog operators. An
 * unsafe table raises BG602 (kind), BG603 (code column) or BG607 (anything else) before a row is
 * read: no cast, operator, rule, policy or domain CHECK of the table owner ever runs.
 *
 * Performance: every statement of a batch is index-driven and touches only the batch's codes: the
 * keyset (an index on the code column in the default collation serves it, GroupAggregate stops at
 * the LIMIT), one probe per code into birth_registry's unique (entity_code, collection_name) index
 * (a LATERAL ... LIMIT 1 probe, never a hash join over the whole registry), and one INSERT ...
 * SELECT for the registry rows chained into one for their changelog rows.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { PINNED_SEARCH_PATH, lit, sqlText } from '../lib/sql.js';
import { ACTOR, CODE_SHOWN, MAX_CODE_LENGTH, raiseAt } from './common.js';
import { SWEEP_RESULT, checkArgs, closingFindings, takeCursor } from './worker.js';

/**
 * The batch statement, a format() template: %1$s the source returned by family_read_source (a
 * SELECT of `code` as text, FROM ONLY the checked relations), %2$s the keyset condition. Parameters: $1 position, $2 batch size, $3 collection, $4 pattern, $5 actor,
 * $6 run id, $7 sweep name, $8 table (text), $9 mode.
 */
export function batchTemplate(c: Ctx, dryRun: boolean): string {
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
          FROM (SELECT t.code, pg_catalog.count(*) AS n
                  FROM (%1$s) AS t
                 WHERE t.code %2$s
                 GROUP BY t.code
                 ORDER BY t.code
                 LIMIT $2) AS x
    ),
    reg AS (
        SELECT s.code, s.n, s.ord, r.status AS registered_status,
               CASE WHEN s.code OPERATOR(pg_catalog.=) '' THEN 'empty_code'
                    WHEN pg_catalog.length(s.code) OPERATOR(pg_catalog.>) $10 THEN 'oversize_code'
                    WHEN s.n OPERATOR(pg_catalog.>) 1 THEN 'duplicate_code'
                    WHEN NOT (s.code OPERATOR(pg_catalog.~) $4) THEN 'pattern_mismatch' END AS finding
          FROM src AS s
          -- one probe of the registry's unique index per code (LIMIT 1 keeps it a parameterized
          -- index scan; a join could become a hash of the whole registry)
          LEFT JOIN LATERAL (
              SELECT b.status
                FROM ${c.q('birth_registry')} AS b
               WHERE b.entity_code OPERATOR(pg_catalog.=) s.code AND b.collection_name OPERATOR(pg_catalog.=) $3
               LIMIT 1) AS r ON true
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
        v_src record;
        v_relkind "char";
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

        SELECT f.collection_name, f.code_column, f.code_pattern, f.mode, f.code_max_length, f.table_name::pg_catalog.oid AS relid,
               f.table_name::pg_catalog.text AS table_text
          INTO v_family
          FROM ${c.q('birth_family')} AS f
         WHERE f.collection_name OPERATOR(pg_catalog.=) p_collection;
        IF NOT FOUND THEN
            ${raiseAt(12, 'SWEEP_UNKNOWN_FAMILY', `pg_catalog.format('collection %L is not in ${c.schema}.birth_family', pg_catalog.left(p_collection, ${CODE_SHOWN}))`)}
        END IF;

        -- the family table is read only through the shared gate, at every call: it checks, locks
        -- and checks again, and returns the one SELECT of the code that runs no code of its owner
        SELECT s.state, s.reason, s.relation, s.source INTO v_src
          FROM ${c.q('family_read_source')}(v_family.relid, v_family.code_column) AS s;
        IF v_src.state OPERATOR(pg_catalog.<>) 'ok' THEN
            SELECT k.relkind INTO v_relkind FROM pg_catalog.pg_class AS k WHERE k.oid OPERATOR(pg_catalog.=) v_family.relid;
            IF v_src.state OPERATOR(pg_catalog.=) 'missing' OR v_relkind NOT IN ('r', 'p')
               OR EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree(v_family.relid) AS l
                            JOIN pg_catalog.pg_class AS k ON k.oid OPERATOR(pg_catalog.=) l.relid
                           WHERE l.isleaf AND k.relkind OPERATOR(pg_catalog.<>) 'r') THEN
                ${raiseAt(16, 'SWEEP_FAMILY_NOT_TABLE', `pg_catalog.format('family %s: %s', v_family.collection_name, v_src.reason)`, undefined, `pg_catalog.format('Then: SELECT %I.register_family(%L, %L, %L, %L, %L);', ${lit(c.schema)}, v_family.collection_name, coalesce(v_src.relation, v_family.table_text), v_family.code_column, v_family.code_pattern, v_family.mode)`)}
            ELSIF v_src.reason LIKE 'code column %' THEN
                ${raiseAt(16, 'SWEEP_CODE_COLUMN_UNSAFE', `pg_catalog.format('family %s: %s', v_family.collection_name, v_src.reason)`, undefined, `pg_catalog.format('Then: SELECT %I.register_family(%L, %L, %L, %L, %L);', ${lit(c.schema)}, v_family.collection_name, v_src.relation, v_family.code_column, v_family.code_pattern, v_family.mode)`)}
            ELSE
                ${raiseAt(16, 'SWEEP_FAMILY_UNSAFE', `pg_catalog.format('family %s: %s', v_family.collection_name, v_src.reason)`, undefined, `pg_catalog.format('Then: SELECT %I.register_family(%L, %L, %L, %L, %L);', ${lit(c.schema)}, v_family.collection_name, v_src.relation, v_family.code_column, v_family.code_pattern, v_family.mode)`)}
            END IF;
        END IF;

        v_kind := CASE WHEN p_dry_run THEN 'adopt_dry_run' ELSE 'adopt' END;
        v_collection := v_family.collection_name;
        v_name := v_kind || ':' || v_collection;
        -- rows estimate: the table's, or the sum over the leaves of a partitioned one
        SELECT CASE WHEN pg_catalog.bool_or(k.reltuples < 0) THEN NULL ELSE pg_catalog.sum(k.reltuples)::bigint END INTO v_estimate
          FROM pg_catalog.pg_class AS k
         WHERE k.oid OPERATOR(pg_catalog.=) v_family.relid AND k.relkind OPERATOR(pg_catalog.=) 'r'
            OR k.oid IN (SELECT l.relid FROM pg_catalog.pg_partition_tree(v_family.relid) AS l WHERE l.isleaf);

        ${takeCursor(c, 8)}

        -- the batch: one statement over its codes, reading the family table only through v_src.source
        IF p_dry_run THEN
            EXECUTE pg_catalog.format(${lit(batchTemplate(c, true))}, v_src.source,
                                      CASE WHEN v_cur.position_code IS NULL THEN 'IS NOT NULL' ELSE 'OPERATOR(pg_catalog.>) $1' END)
               INTO v_scanned, v_applied, v_findings, v_last
              USING v_cur.position_code, p_batch_size, v_collection, v_family.code_pattern, v_actor, v_cur.run_id, v_name,
                    v_family.table_text, v_family.mode, v_family.code_max_length;
        ELSE
            EXECUTE pg_catalog.format(${lit(batchTemplate(c, false))}, v_src.source,
                                      CASE WHEN v_cur.position_code IS NULL THEN 'IS NOT NULL' ELSE 'OPERATOR(pg_catalog.>) $1' END)
               INTO v_scanned, v_applied, v_findings, v_last
              USING v_cur.position_code, p_batch_size, v_collection, v_family.code_pattern, v_actor, v_cur.run_id, v_name,
                    v_family.table_text, v_family.mode, v_family.code_max_length;
        END IF;
        v_done := v_scanned < p_batch_size;

        -- the end of the keyset: NULL codes (unreachable by it) become one finding row
        IF v_done THEN
            EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM (%s) AS t WHERE t.code IS NULL', v_src.source)
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
      `One batch of the adoption sweep of a family table, in the caller's transaction (commit after each; sweep_adopt_run and the CLI do). Keyset over the code column (an index on it keeps each batch short): every code with no registry row is adopted (birth_registry BORN, no permit; a BORN changelog row whose detail says adopted, adopted_by, run_id; the handoff then hands it on) or written to sweep_finding: empty_code, oversize_code (longer than the family's code_max_length), duplicate_code, pattern_mismatch, retired_present, and at the end null_code (one row, with the count). p_dry_run: findings and would-adopt counts only. Returns status batch | finished | paused (rate limit p_max_batches_per_minute or sweep_load_guard(); see paused_reason/paused_until) | skipped (another worker holds the cursor), and the progress. A call on a finished cursor starts a new run (a re-run adopts only what is new). Reads the family table only through family_read_source, at every call (an ordinary or partitioned table, a code column of text/varchar/name or a domain over one, no row-level security; locked and re-checked): BG602 / BG603 / BG607 instead of running any code of the table owner (row_security off, pg_catalog operators).`,
    )}`;
}
