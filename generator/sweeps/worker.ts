/**
 * The parts every sweep batch function shares, spliced into their plpgsql bodies: argument checks,
 * taking the worker cursor (one worker per cursor: FOR UPDATE SKIP LOCKED, a second caller gets
 * status 'skipped'), starting a new run on a finished cursor, the rate limit and the load guard
 * (status 'paused', visible in v_sweep_status), and the closing summary findings of a run.
 * Variables the body must declare: v_name, v_kind, v_collection, v_cur (sweep_cursor row),
 * v_t0, v_actor, v_guard record, v_estimate bigint.
 */
import type { Ctx } from '../lib/ctx.js';
import { sqlText } from '../lib/sql.js';
import { LOAD_PAUSE, MAX_BATCH, MAX_RATE, raiseAt } from './common.js';

export const SWEEP_RESULT = `status text, sweep_name text, run_id bigint, scanned integer, applied integer, findings integer,
               rows_done bigint, rows_total_estimated bigint, batches_done bigint, batches_total_estimated bigint,
               paused_reason text, paused_until timestamptz`;

export function checkArgs(fnName: string, pad: number): string {
  return sqlText`
    IF p_batch_size IS NULL OR p_batch_size < 1 OR p_batch_size > ${MAX_BATCH} THEN
        ${raiseAt(pad + 4, 'SWEEP_INVALID_ARGUMENT', `pg_catalog.format('${fnName}(p_batch_size => %s): must be between 1 and ${MAX_BATCH}', coalesce(p_batch_size::text, 'NULL'))`)}
    END IF;
    IF p_max_batches_per_minute IS NOT NULL AND (p_max_batches_per_minute < 1 OR p_max_batches_per_minute > ${MAX_RATE}) THEN
        ${raiseAt(pad + 4, 'SWEEP_INVALID_ARGUMENT', `pg_catalog.format('${fnName}(p_max_batches_per_minute => %s): must be NULL (no limit) or between 1 and ${MAX_RATE}', p_max_batches_per_minute)`)}
    END IF;
    IF p_load_guard IS NULL THEN
        ${raiseAt(pad + 4, 'SWEEP_INVALID_ARGUMENT', `'${fnName}(p_load_guard => NULL): must be true or false'`)}
    END IF;`.replaceAll('\n', `\n${' '.repeat(pad)}`);
}

/** Take the cursor (create it first), start a run if needed, apply rate limit and load guard. */
export function takeCursor(c: Ctx, pad: number): string {
  const cur = c.q('sweep_cursor');
  const paused = `RETURN QUERY SELECT 'paused'::text, v_name, v_cur.run_id, 0, 0, 0, v_cur.rows_done, v_cur.rows_total_estimated,
                         v_cur.batches_done, v_cur.batches_total_estimated, v_cur.paused_reason, v_cur.paused_until;
        RETURN;`;
  return sqlText`
    IF NOT EXISTS (SELECT 1 FROM ${cur} AS sc WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name) THEN
        INSERT INTO ${cur} (sweep_name, kind, collection_name)
        VALUES (v_name, v_kind, v_collection)
        ON CONFLICT ON CONSTRAINT sweep_cursor_pkey DO NOTHING;
    END IF;
    SELECT sc.* INTO v_cur FROM ${cur} AS sc WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        -- another worker holds this cursor: do nothing, like a second consumer
        RETURN QUERY SELECT 'skipped'::text, v_name, NULL::bigint, 0, 0, 0, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::text, NULL::timestamptz;
        RETURN;
    END IF;

    -- a finished (or never started) cursor starts a new run; the findings of the previous run go
    IF v_cur.run_id = 0 OR v_cur.finished_at IS NOT NULL THEN
        DELETE FROM ${c.q('sweep_finding')} AS f WHERE f.sweep_name OPERATOR(pg_catalog.=) v_name;
        UPDATE ${cur} AS sc
           SET run_id = pg_catalog.nextval(${`'${c.schema}.sweep_run_id_seq'`}::pg_catalog.regclass),
               run_started_at = v_t0, run_started_by = v_actor, finished_at = NULL,
               position_code = NULL, position_id = NULL, batch_size = p_batch_size,
               batches_done = 0, rows_done = 0, rows_applied = 0, rows_skipped = 0, findings = 0,
               batches_total_estimated = CASE WHEN v_estimate IS NULL THEN NULL ELSE (v_estimate + p_batch_size - 1) / p_batch_size END,
               rows_total_estimated = v_estimate,
               error_count = 0, last_error = NULL, last_error_at = NULL, dead_lettered = 0,
               last_batch_at = NULL, last_batch_ms = NULL, max_batch_ms = NULL,
               paused_reason = NULL, paused_until = NULL, pauses_rate_limit = 0, pauses_load = 0,
               heartbeat_at = v_t0, updated_at = v_t0
         WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name
        RETURNING sc.* INTO v_cur;
    END IF;

    -- rate limit: at most p_max_batches_per_minute batch starts per minute
    IF p_max_batches_per_minute IS NOT NULL AND v_cur.last_batch_at IS NOT NULL
       AND v_cur.last_batch_at + pg_catalog.make_interval(secs => 60.0 / p_max_batches_per_minute) > v_t0 THEN
        UPDATE ${cur} AS sc
           SET paused_reason = pg_catalog.format('rate limit: %s batches per minute', p_max_batches_per_minute),
               paused_until = v_cur.last_batch_at + pg_catalog.make_interval(secs => 60.0 / p_max_batches_per_minute),
               pauses_rate_limit = sc.pauses_rate_limit + 1,
               heartbeat_at = v_t0, updated_at = v_t0
         WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name
        RETURNING sc.* INTO v_cur;
        ${paused}
    END IF;

    -- load guard: pause, do not fail
    IF p_load_guard THEN
        SELECT g.pause, g.reason INTO v_guard FROM ${c.q('sweep_load_guard')}() AS g;
        IF v_guard.pause THEN
            UPDATE ${cur} AS sc
               SET paused_reason = 'load guard: ' || v_guard.reason,
                   paused_until = v_t0 + ${`'${LOAD_PAUSE}'`}::interval,
                   pauses_load = sc.pauses_load + 1,
                   heartbeat_at = v_t0, updated_at = v_t0
             WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name
            RETURNING sc.* INTO v_cur;
            ${paused}
        END IF;
    END IF;`.replaceAll('\n', `\n${' '.repeat(pad)}`);
}

/**
 * Closing summary rows of a run that hit a bound ("no silent caps"): how often the rate limit or
 * the load guard paused it, and batches slower than the 5 s budget.
 */
export function closingFindings(c: Ctx, pad: number): string {
  return sqlText`
    INSERT INTO ${c.q('sweep_finding')} AS f (sweep_name, run_id, kind, collection_name, occurrences, detail)
    SELECT v_name, v_cur.run_id, x.kind, v_collection, x.n, x.detail
      FROM (VALUES ('rate_limited', v_cur.pauses_rate_limit,
                    pg_catalog.jsonb_build_object('pauses', v_cur.pauses_rate_limit, 'note', 'the run waited for its rate limit; nothing was left undone')),
                   ('load_paused', v_cur.pauses_load,
                    pg_catalog.jsonb_build_object('pauses', v_cur.pauses_load, 'note', 'the run paused for the load guard; nothing was left undone')),
                   ('slow_batch', CASE WHEN v_cur.max_batch_ms > 5000 THEN 1 ELSE 0 END,
                    pg_catalog.jsonb_build_object('max_batch_ms', v_cur.max_batch_ms, 'budget_ms', 5000, 'note', 'lower p_batch_size'))) AS x (kind, n, detail)
     WHERE x.n > 0;`.replaceAll('\n', `\n${' '.repeat(pad)}`);
}
