/**
 * sweep_backfill() v3 (migration 000012), rewritten from backfill.ts (000009, frozen) for speed at
 * registry scale. One batch of the candidate-seed backfill, in the caller's transaction.
 *
 * Keyset over birth_registry.object_key (its unique index), kept in sweep_cursor.position_code,
 * instead of registry_id: a batch is then one contiguous range of object keys, and both other
 * tables it reads are keyed by object_key too, so every read is one index range scan over that
 * range, never one probe per object:
 * - the latest registry_changelog row of each object: one range scan of the changelog's object_key
 *   index (DISTINCT ON), where 000009 probed the index once per object;
 * - the anti-join against what the consumer already handed off: one range scan of the candidate
 *   table's primary key;
 * - one set-based write: a plain INSERT of the rows that are not there yet. Should the consumer
 *   insert one of those keys concurrently, the INSERT raises unique_violation and the batch is
 *   written again with ON CONFLICT (object_key) DO NOTHING (the only form 000009 used; it costs a
 *   speculative insertion per row). Either way nothing is marked twice or regressed.
 * A fresh batch walks the same number of index pages as 000009's and none of its per-row probes.
 * Semantics are 000009's: every BORN object without a candidate row gets one, dirty, stamped with
 * its latest changelog row (or its birth when it has none); RETIRED objects are counted as skipped.
 * A run that 000009 began (position_id set) starts over from the first key: idempotent, the rows
 * already seeded are skipped by the anti-join. p_batch_size NULL (the default) is adaptive
 * (worker_v3.ts).
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { PINNED_SEARCH_PATH, sqlText } from '../lib/sql.js';
import { ACTOR } from './common.js';
import { SWEEP_RESULT, batchSizeAssignments, checkArgsV3, closingFindings, takeCursorV3 } from './worker_v3.js';

/** The batch statement; `onConflict` adds the arbiter the retry after a unique_violation needs. */
function batchStatement(c: Ctx, onConflict: boolean): string {
  const reg = c.q('birth_registry');
  const log = c.q('registry_changelog');
  const gcs = c.q('governance_candidate_state');
  return sqlText`
    WITH batch AS MATERIALIZED (
        SELECT r.object_key, r.collection_name, r.entity_code, r.status, r.born_at, r.born_txid
          FROM ${reg} AS r
         WHERE r.object_key OPERATOR(pg_catalog.>) coalesce(v_cur.position_code, '')
         ORDER BY r.object_key
         LIMIT v_batch
    ),
    bounds AS MATERIALIZED (
        SELECT pg_catalog.min(b.object_key) AS lo, pg_catalog.max(b.object_key) AS hi FROM batch AS b
    ),
    latest AS (
        -- the latest changelog row of every object of the batch: one range of the object_key index
        SELECT DISTINCT ON (l.object_key) l.object_key, l.change_id, l.txid, l.changed_at
          FROM ${log} AS l
         WHERE l.object_key OPERATOR(pg_catalog.>=) (SELECT bounds.lo FROM bounds)
           AND l.object_key OPERATOR(pg_catalog.<=) (SELECT bounds.hi FROM bounds)
         ORDER BY l.object_key, l.change_id DESC
    ),
    present AS (
        -- what the consumer (or an earlier run) already seeded: one range of the primary key
        SELECT g.object_key
          FROM ${gcs} AS g
         WHERE g.object_key OPERATOR(pg_catalog.>=) (SELECT bounds.lo FROM bounds)
           AND g.object_key OPERATOR(pg_catalog.<=) (SELECT bounds.hi FROM bounds)
    ),
    seeded AS (
        INSERT INTO ${gcs}
            (object_key, collection_name, entity_code, registry_status, born_at, dirty, marked_at, source_change_id, source_txid)
        SELECT b.object_key, b.collection_name, b.entity_code, 'BORN', b.born_at, true,
               coalesce(lc.changed_at, b.born_at), coalesce(lc.change_id, 0), coalesce(lc.txid, b.born_txid)
          FROM batch AS b
          LEFT JOIN latest AS lc ON lc.object_key OPERATOR(pg_catalog.=) b.object_key
          LEFT JOIN present AS p ON p.object_key OPERATOR(pg_catalog.=) b.object_key
         WHERE b.status OPERATOR(pg_catalog.=) 'BORN' AND p.object_key IS NULL
         ORDER BY b.object_key${onConflict ? '\n        ON CONFLICT (object_key) DO NOTHING' : ''}
        RETURNING 1
    )
    SELECT (SELECT pg_catalog.count(*) FROM batch)::integer,
           (SELECT pg_catalog.count(*) FROM seeded)::integer,
           (SELECT pg_catalog.count(*) FROM batch AS b WHERE b.status OPERATOR(pg_catalog.=) 'RETIRED')::integer,
           (SELECT bounds.hi FROM bounds)
      INTO v_scanned, v_applied, v_retired, v_last;`;
}

export function backfillFunctionV3(c: Ctx): string {
  const fn = c.q('sweep_backfill');
  const cur = c.q('sweep_cursor');
  const pad = (s: string, n: number) => s.replaceAll('\n', `\n${' '.repeat(n)}`);
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}(p_batch_size integer DEFAULT NULL, p_max_batches_per_minute integer DEFAULT NULL,
                                   p_load_guard boolean DEFAULT true)
    RETURNS TABLE (${SWEEP_RESULT})
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    SET "TimeZone" = 'UTC'
    AS $fn$
    DECLARE
        v_t0 timestamptz := pg_catalog.clock_timestamp();
        v_actor name := ${ACTOR};
        v_kind text := 'backfill';
        v_name text := 'backfill';
        v_collection text := NULL;
        v_cur ${cur};
        v_guard record;
        v_estimate bigint;
        v_scanned integer;
        v_applied integer;
        v_skipped integer;
        v_retired integer;
        v_last text;
        v_done boolean;
        v_ms numeric;
        v_batch integer;
        v_target numeric;
        v_carry boolean;
    BEGIN
        ${checkArgsV3(c, 'sweep_backfill', 8)}
        SELECT CASE WHEN k.reltuples < 0 THEN NULL ELSE k.reltuples::bigint END INTO v_estimate
          FROM pg_catalog.pg_class AS k WHERE k.oid OPERATOR(pg_catalog.=) ${`'${c.schema}.birth_registry'`}::pg_catalog.regclass;

        ${takeCursorV3(c, 8)}

        -- one set-based write of the objects the consumer has not handed off; a key it inserts
        -- meanwhile makes the plain INSERT fail, and the batch is written again with ON CONFLICT
        BEGIN
            ${pad(batchStatement(c, false), 12)}
        EXCEPTION WHEN unique_violation THEN
            ${pad(batchStatement(c, true), 12)}
        END;
        v_skipped := v_scanned - v_applied;
        v_done := v_scanned < v_batch;

        v_ms := pg_catalog.round((EXTRACT(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) v_t0) * 1000)::numeric, 1);
        UPDATE ${cur} AS sc
           SET position_code = coalesce(v_last, sc.position_code),
               position_id = NULL,
               ${batchSizeAssignments},
               batches_done = sc.batches_done + 1,
               rows_done = sc.rows_done + v_scanned,
               rows_applied = sc.rows_applied + v_applied,
               rows_skipped = sc.rows_skipped + v_skipped,
               findings = sc.findings + CASE WHEN v_retired > 0 THEN 1 ELSE 0 END,
               rows_total_estimated = GREATEST(sc.rows_total_estimated, sc.rows_done + v_scanned),
               finished_at = CASE WHEN v_done THEN pg_catalog.clock_timestamp() END,
               last_batch_at = v_t0, last_batch_ms = v_ms, max_batch_ms = GREATEST(sc.max_batch_ms, v_ms),
               paused_reason = NULL, paused_until = NULL,
               heartbeat_at = pg_catalog.clock_timestamp(), updated_at = pg_catalog.clock_timestamp()
         WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name
        RETURNING sc.* INTO v_cur;
        IF v_retired > 0 THEN
            INSERT INTO ${c.q('sweep_finding')} AS f (sweep_name, run_id, kind, occurrences, detail)
            VALUES (v_name, v_cur.run_id, 'retired_skipped', v_retired,
                    pg_catalog.jsonb_build_object('note', 'RETIRED objects are not seeded as candidates', 'up_to_object_key', pg_catalog.left(v_last, 100)));
        END IF;
        IF v_done THEN
            ${closingFindings(c, 12)}
        END IF;

        RETURN QUERY SELECT CASE WHEN v_done THEN 'finished' ELSE 'batch' END, v_name, v_cur.run_id, v_scanned, v_applied,
                            CASE WHEN v_retired > 0 THEN 1 ELSE 0 END,
                            v_cur.rows_done, v_cur.rows_total_estimated, v_cur.batches_done, v_cur.batches_total_estimated,
                            NULL::text, NULL::timestamptz;
    END;
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}(integer, integer, boolean)`,
      `One batch of the candidate-seed backfill, in the caller's transaction (commit after each; sweep_backfill_run and the CLI do): keyset over birth_registry.object_key (position_code); every BORN object without a governance_candidate_state row gets one, dirty, stamped with its latest registry_changelog row (change_id, txid, changed_at), so the consumer's newer-wins rule treats the two as one: an object already handed off is never marked twice or regressed, and one handed off later is not re-marked. Each batch reads one range of object keys from the registry, the changelog and the candidate table (index range scans, no per-object probe) and writes one INSERT (again with ON CONFLICT DO NOTHING if the consumer inserted one of its keys meanwhile). RETIRED objects are skipped (a retired_skipped finding counts them). p_batch_size NULL (the default): each batch is sized to take about ${c.schema}.sweep_batch_target (default 80 ms). Same statuses, rate limit, load guard and one-worker rule as sweep_adopt.`,
    )}`;
}
