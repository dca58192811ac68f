/**
 * sweep_backfill(): one batch of the candidate-seed backfill, in the caller's transaction.
 * Keyset over birth_registry.registry_id: every BORN object with no governance_candidate_state row
 * gets one (dirty, marked_at and source_change_id/source_txid from its latest changelog row, or its
 * birth when it has none). Idempotent with the consumer: an object that already has a candidate row
 * is never touched (not re-marked, not regressed), and because the seeded row carries the latest
 * change_id, the consumer's newer-wins upsert leaves it alone when it later reads that change (it
 * still writes the object's one event). RETIRED objects are skipped and counted.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { PINNED_SEARCH_PATH, sqlText } from '../lib/sql.js';
import { ACTOR } from './common.js';
import { SWEEP_RESULT, checkArgs, closingFindings, takeCursor } from './worker.js';

export function backfillFunction(c: Ctx): string {
  const fn = c.q('sweep_backfill');
  const cur = c.q('sweep_cursor');
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}(p_batch_size integer DEFAULT 5000, p_max_batches_per_minute integer DEFAULT NULL,
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
        v_last bigint;
        v_done boolean;
        v_ms numeric;
    BEGIN
        ${checkArgs('sweep_backfill', 8)}
        SELECT CASE WHEN k.reltuples < 0 THEN NULL ELSE k.reltuples::bigint END INTO v_estimate
          FROM pg_catalog.pg_class AS k WHERE k.oid OPERATOR(pg_catalog.=) ${`'${c.schema}.birth_registry'`}::pg_catalog.regclass;

        ${takeCursor(c, 8)}

        WITH batch AS MATERIALIZED (
            SELECT r.registry_id, r.object_key, r.collection_name, r.entity_code, r.status, r.born_at, r.born_txid
              FROM ${c.q('birth_registry')} AS r
             WHERE r.registry_id > coalesce(v_cur.position_id, 0)
             ORDER BY r.registry_id
             LIMIT p_batch_size
        ),
        todo AS (
            SELECT b.object_key, b.collection_name, b.entity_code, b.born_at, b.born_txid, lc.change_id, lc.txid, lc.changed_at
              FROM batch AS b
              LEFT JOIN LATERAL (
                  SELECT l.change_id, l.txid, l.changed_at
                    FROM ${c.q('registry_changelog')} AS l
                   WHERE l.object_key = b.object_key
                   ORDER BY l.change_id DESC
                   LIMIT 1) AS lc ON true
             WHERE b.status = 'BORN'
        ),
        seeded AS (
            INSERT INTO ${c.q('governance_candidate_state')}
                (object_key, collection_name, entity_code, registry_status, born_at, dirty, marked_at, source_change_id, source_txid)
            SELECT t.object_key, t.collection_name, t.entity_code, 'BORN', t.born_at, true,
                   coalesce(t.changed_at, t.born_at), coalesce(t.change_id, 0), coalesce(t.txid, t.born_txid)
              FROM todo AS t
            -- the anti-join: the candidate table's primary key (an object the consumer already
            -- handed off, or is handing off right now, is left alone)
            ON CONFLICT (object_key) DO NOTHING
            RETURNING 1
        )
        SELECT (SELECT pg_catalog.count(*) FROM batch)::integer,
               (SELECT pg_catalog.count(*) FROM seeded)::integer,
               (SELECT pg_catalog.count(*) FROM batch AS b WHERE b.status = 'RETIRED')::integer,
               (SELECT pg_catalog.max(b.registry_id) FROM batch AS b)
          INTO v_scanned, v_applied, v_retired, v_last;
        v_skipped := v_scanned - v_applied;
        v_done := v_scanned < p_batch_size;

        v_ms := pg_catalog.round((EXTRACT(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) v_t0) * 1000)::numeric, 1);
        UPDATE ${cur} AS sc
           SET position_id = coalesce(v_last, sc.position_id),
               batch_size = p_batch_size,
               batches_done = sc.batches_done + 1,
               rows_done = sc.rows_done + v_scanned,
               rows_applied = sc.rows_applied + v_applied,
               rows_skipped = sc.rows_skipped + v_skipped,
               findings = sc.findings + CASE WHEN v_retired > 0 THEN 1 ELSE 0 END,
               rows_total_estimated = GREATEST(sc.rows_total_estimated, sc.rows_done + v_scanned),
               batches_total_estimated = GREATEST(sc.batches_total_estimated, sc.batches_done + 1),
               finished_at = CASE WHEN v_done THEN pg_catalog.clock_timestamp() END,
               last_batch_at = v_t0, last_batch_ms = v_ms, max_batch_ms = GREATEST(sc.max_batch_ms, v_ms),
               paused_reason = NULL, paused_until = NULL,
               heartbeat_at = pg_catalog.clock_timestamp(), updated_at = pg_catalog.clock_timestamp()
         WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name
        RETURNING sc.* INTO v_cur;
        IF v_retired > 0 THEN
            INSERT INTO ${c.q('sweep_finding')} AS f (sweep_name, run_id, kind, occurrences, detail)
            VALUES (v_name, v_cur.run_id, 'retired_skipped', v_retired,
                    pg_catalog.jsonb_build_object('note', 'RETIRED objects are not seeded as candidates', 'up_to_registry_id', v_last));
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
      "One batch of the candidate-seed backfill, in the caller's transaction (commit after each; sweep_backfill_run and the CLI do): keyset over birth_registry.registry_id; every BORN object without a governance_candidate_state row gets one, dirty, stamped with its latest registry_changelog row (change_id, txid, changed_at), so the consumer's newer-wins rule treats the two as one: an object already handed off is never marked twice or regressed, and one handed off later is not re-marked. RETIRED objects are skipped (a retired_skipped finding counts them). Same statuses, rate limit, load guard and one-worker rule as sweep_adopt.",
    )}`;
}
