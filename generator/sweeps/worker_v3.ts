/**
 * Migration 000012: the parts every sweep batch function shares, with an adaptive batch size.
 * Copied from worker.ts (000009, frozen) and changed:
 * - p_batch_size NULL (the new default) sizes each batch to a time target: the next size is the
 *   last one scaled by the square root of target / last batch time (half a step on a log scale, so
 *   one batch slowed by a checkpoint or a busy CPU does not collapse the size), at most doubled or
 *   halved per batch, between ADAPTIVE_MIN and ADAPTIVE_MAX rows, kept in sweep_cursor.batch_size
 *   (a new run starts at ADAPTIVE_START). The target is the setting <schema>.sweep_batch_target
 *   (default 80 ms: with the commit and the round trip, a batch stays well under 100 ms); a
 *   statement timeout recorded with sweep_note halves the size (runner_v3.ts). A number is a fixed
 *   batch size, as before.
 * Variables the body must declare, besides those of worker.ts: v_batch integer (the size of this
 * batch), v_target numeric (the target in milliseconds, NULL for a fixed size), v_carry boolean.
 */
import type { Ctx } from '../lib/ctx.js';
import { lit, sqlText } from '../lib/sql.js';
import { LOAD_PAUSE, MAX_BATCH, MAX_RATE, raiseAt } from './common.js';

export { SWEEP_RESULT, closingFindings } from './worker.js';

/** First batch of an adaptive run, and its bounds. */
export const ADAPTIVE_START = 1000;
export const ADAPTIVE_MIN = 100;
export const ADAPTIVE_MAX = 20_000;
/** The setting that holds the time target of an adaptive batch, and its default. */
export const batchTargetSetting = (c: Ctx) => ({ name: `${c.schema}.sweep_batch_target`, default: '80 milliseconds' });

export function checkArgsV3(c: Ctx, fnName: string, pad: number): string {
  const t = batchTargetSetting(c);
  return sqlText`
    IF p_batch_size IS NOT NULL AND (p_batch_size < 1 OR p_batch_size > ${MAX_BATCH}) THEN
        ${raiseAt(pad + 4, 'SWEEP_INVALID_ARGUMENT', `pg_catalog.format('${fnName}(p_batch_size => %s): must be NULL (adaptive) or between 1 and ${MAX_BATCH}', p_batch_size)`)}
    END IF;
    IF p_max_batches_per_minute IS NOT NULL AND (p_max_batches_per_minute < 1 OR p_max_batches_per_minute > ${MAX_RATE}) THEN
        ${raiseAt(pad + 4, 'SWEEP_INVALID_ARGUMENT', `pg_catalog.format('${fnName}(p_max_batches_per_minute => %s): must be NULL (no limit) or between 1 and ${MAX_RATE}', p_max_batches_per_minute)`)}
    END IF;
    IF p_load_guard IS NULL THEN
        ${raiseAt(pad + 4, 'SWEEP_INVALID_ARGUMENT', `'${fnName}(p_load_guard => NULL): must be true or false'`)}
    END IF;
    IF p_batch_size IS NULL THEN
        BEGIN
            v_target := EXTRACT(epoch FROM coalesce(NULLIF(pg_catalog.current_setting(${lit(t.name)}, true), ''), ${lit(t.default)})::interval) * 1000;
        EXCEPTION WHEN invalid_text_representation OR invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
            ${raiseAt(pad + 12, 'SWEEP_INVALID_SETTING', `pg_catalog.format('%s = %L: %s', ${lit(t.name)}, pg_catalog.left(pg_catalog.current_setting(${lit(t.name)}, true), 100), SQLERRM)`, `'a sweep setting cannot be read'`)}
        END;
        IF v_target IS NULL OR v_target < 1 OR v_target > 60000 THEN
            ${raiseAt(pad + 12, 'SWEEP_INVALID_SETTING', `pg_catalog.format('%s = %L: must be between 1 millisecond and 1 minute', ${lit(t.name)}, pg_catalog.left(pg_catalog.current_setting(${lit(t.name)}, true), 100))`, `'a sweep setting cannot be read'`)}
        END IF;
    END IF;`.replaceAll('\n', `\n${' '.repeat(pad)}`);
}

/** The size of the next adaptive batch after one of v_batch rows that took v_ms (a SQL expression). */
export const nextAdaptiveSize = `LEAST(GREATEST(pg_catalog.round(v_batch * pg_catalog.sqrt(v_target / GREATEST(v_ms, 1)))::integer, v_batch / 2, ${ADAPTIVE_MIN}), v_batch * 2, ${ADAPTIVE_MAX})`;

/** Take the cursor (create it first), start a run if needed, fix v_batch, apply rate limit and load guard. */
export function takeCursorV3(c: Ctx, pad: number): string {
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
        -- an error recorded after the previous run finished is this run's first batch failing: keep
        -- it, and after a statement timeout start at most at half the usual size
        v_carry := v_cur.last_error_at > coalesce(v_cur.finished_at, '-infinity'::timestamptz);
        v_batch := coalesce(p_batch_size,
                            CASE WHEN v_carry AND v_cur.last_error LIKE '57014%statement timeout%'
                                 THEN LEAST(GREATEST(v_cur.batch_size, ${ADAPTIVE_MIN}), ${ADAPTIVE_START / 2}) END,
                            ${ADAPTIVE_START});
        DELETE FROM ${c.q('sweep_finding')} AS f WHERE f.sweep_name OPERATOR(pg_catalog.=) v_name;
        UPDATE ${cur} AS sc
           SET run_id = pg_catalog.nextval(${`'${c.schema}.sweep_run_id_seq'`}::pg_catalog.regclass),
               run_started_at = v_t0, run_started_by = v_actor, finished_at = NULL,
               position_code = NULL, position_id = NULL, batch_size = v_batch,
               batches_done = 0, rows_done = 0, rows_applied = 0, rows_skipped = 0, findings = 0,
               batches_total_estimated = CASE WHEN v_estimate IS NULL THEN NULL ELSE (v_estimate + v_batch - 1) / v_batch END,
               rows_total_estimated = v_estimate,
               error_count = CASE WHEN v_carry THEN 1 ELSE 0 END,
               last_error = CASE WHEN v_carry THEN v_cur.last_error END,
               last_error_at = CASE WHEN v_carry THEN v_cur.last_error_at END, dead_lettered = 0,
               last_batch_at = NULL, last_batch_ms = NULL, max_batch_ms = NULL,
               paused_reason = NULL, paused_until = NULL, pauses_rate_limit = 0, pauses_load = 0,
               heartbeat_at = v_t0, updated_at = v_t0
         WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name
        RETURNING sc.* INTO v_cur;
    END IF;
    -- a fixed size, or the adaptive size the previous batch (or a timeout) left in the cursor
    v_batch := coalesce(p_batch_size, LEAST(GREATEST(v_cur.batch_size, ${ADAPTIVE_MIN}), ${ADAPTIVE_MAX}), ${ADAPTIVE_START});

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
 * The cursor columns every batch sets at its end (after `SET`): the size of the next batch and the
 * estimated total from the rows still to go at that size.
 */
export const batchSizeAssignments = `batch_size = CASE WHEN v_target IS NULL THEN v_batch ELSE ${nextAdaptiveSize} END,
               batches_total_estimated = GREATEST(sc.batches_done + 1,
                   sc.batches_done + 1 + CASE WHEN sc.rows_total_estimated IS NULL OR v_done THEN 0
                                              ELSE (GREATEST(sc.rows_total_estimated - sc.rows_done - v_scanned, 0)
                                                    + (CASE WHEN v_target IS NULL THEN v_batch ELSE ${nextAdaptiveSize} END) - 1)
                                                   / (CASE WHEN v_target IS NULL THEN v_batch ELSE ${nextAdaptiveSize} END) END)`;
