/**
 * Migration 000012, copied from runner.ts (000009, frozen) and changed: sweep_note() halves the
 * cursor's adaptive batch size when the error it records is a statement timeout (57014), so the
 * next batch is retried smaller; the procedures take p_batch_size DEFAULT NULL (adaptive).
 *
 * What drives the batch functions from outside: sweep_note() (errors, deferred work, pauses of the
 * consumer CLI) and the procedures for pg_cron users, sweep_adopt_run() / sweep_backfill_run():
 * one batch per transaction (COMMIT after each), sleeping through rate-limit and load-guard pauses
 * in short committed steps, retrying a failed batch with bounded backoff.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { PINNED_SEARCH_PATH, sqlText } from '../lib/sql.js';
import { CODE_SHOWN, raiseAt } from './common.js';

export function noteFunctionV3(c: Ctx): string {
  const fn = c.q('sweep_note');
  const cur = c.q('sweep_cursor');
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}(p_sweep_name text, p_event text, p_detail text, p_until timestamptz DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    AS $fn$
    DECLARE
        v_cur ${cur};
    BEGIN
        IF p_event IS NULL OR p_event NOT IN ('error', 'deferred', 'pause') THEN
            ${raiseAt(12, 'SWEEP_INVALID_ARGUMENT', `pg_catalog.format('sweep_note(p_event => %L): must be error, deferred or pause', pg_catalog.left(p_event, ${CODE_SHOWN}))`)}
        END IF;
        IF p_sweep_name OPERATOR(pg_catalog.=) 'consume' THEN
            INSERT INTO ${cur} (sweep_name, kind) VALUES ('consume', 'consume') ON CONFLICT ON CONSTRAINT sweep_cursor_pkey DO NOTHING;
        END IF;
        SELECT sc.* INTO v_cur FROM ${cur} AS sc WHERE sc.sweep_name OPERATOR(pg_catalog.=) p_sweep_name;
        IF NOT FOUND THEN
            ${raiseAt(12, 'SWEEP_UNKNOWN_SWEEP', `pg_catalog.format('no sweep cursor named %L', pg_catalog.left(p_sweep_name, ${CODE_SHOWN}))`)}
        END IF;
        IF p_event = 'error' THEN
            -- a statement timeout: the next adaptive batch is half as large (a fixed size is the caller's)
            UPDATE ${cur} AS sc
               SET error_count = sc.error_count + 1, last_error = pg_catalog.left(p_detail, 2000), last_error_at = pg_catalog.clock_timestamp(),
                   batch_size = CASE WHEN p_detail LIKE '57014%statement timeout%' AND sc.batch_size IS NOT NULL THEN GREATEST(sc.batch_size / 2, 1) ELSE sc.batch_size END,
                   heartbeat_at = pg_catalog.clock_timestamp(), updated_at = pg_catalog.clock_timestamp()
             WHERE sc.sweep_name OPERATOR(pg_catalog.=) p_sweep_name;
        ELSIF p_event = 'pause' THEN
            UPDATE ${cur} AS sc
               SET paused_reason = pg_catalog.left(p_detail, 2000), paused_until = p_until,
                   pauses_load = sc.pauses_load + CASE WHEN p_detail LIKE 'load guard%' THEN 1 ELSE 0 END,
                   pauses_rate_limit = sc.pauses_rate_limit + CASE WHEN p_detail LIKE 'rate limit%' THEN 1 ELSE 0 END,
                   heartbeat_at = pg_catalog.clock_timestamp(), updated_at = pg_catalog.clock_timestamp()
             WHERE sc.sweep_name OPERATOR(pg_catalog.=) p_sweep_name;
        ELSIF v_cur.finished_at IS NULL AND v_cur.run_id > 0 THEN
            -- a bound (max batches, max pause, an interrupted run) left this run unfinished: say how much
            INSERT INTO ${c.q('sweep_finding')} (sweep_name, run_id, kind, collection_name, occurrences, detail)
            VALUES (p_sweep_name, v_cur.run_id, 'deferred', v_cur.collection_name,
                    GREATEST(coalesce(v_cur.rows_total_estimated, v_cur.rows_done) - v_cur.rows_done, 0),
                    pg_catalog.jsonb_build_object('reason', pg_catalog.left(p_detail, 2000), 'rows_done', v_cur.rows_done,
                                                  'rows_total_estimated', v_cur.rows_total_estimated,
                                                  'batches_done', v_cur.batches_done, 'batches_total_estimated', v_cur.batches_total_estimated,
                                                  'resume', 'run the sweep again: it resumes from its cursor'));
            UPDATE ${cur} AS sc SET findings = sc.findings + 1, updated_at = pg_catalog.clock_timestamp()
             WHERE sc.sweep_name OPERATOR(pg_catalog.=) p_sweep_name;
        END IF;
    END;
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}(text, text, text, timestamptz)`,
      "Records what a sweep driver saw outside a batch: 'error' (error_count + 1, last_error; a detail starting 57014 that names a statement timeout also halves the cursor's batch_size, which the next adaptive batch starts from), 'deferred' (a bound stopped an unfinished run: a deferred finding with the rows left, estimated), 'pause' (paused_reason / paused_until; the consumer CLI records its rate-limit and load-guard pauses under sweep_name 'consume'). Used by the procedures and the CLI.",
    )}`;
}

function runProcedureV3(c: Ctx, kind: 'adopt' | 'backfill'): string {
  const pr = c.q(kind === 'adopt' ? 'sweep_adopt_run' : 'sweep_backfill_run');
  const params =
    kind === 'adopt'
      ? 'p_collection text, p_dry_run boolean DEFAULT false, p_batch_size integer DEFAULT NULL, p_max_batches integer DEFAULT NULL, p_max_batches_per_minute integer DEFAULT NULL, p_max_pause interval DEFAULT \'10 minutes\', p_lock_timeout text DEFAULT \'5s\''
      : 'p_batch_size integer DEFAULT NULL, p_max_batches integer DEFAULT NULL, p_max_batches_per_minute integer DEFAULT NULL, p_max_pause interval DEFAULT \'10 minutes\', p_lock_timeout text DEFAULT \'5s\'';
  const sig = kind === 'adopt' ? '(text, boolean, integer, integer, integer, interval, text)' : '(integer, integer, integer, interval, text)';
  const call =
    kind === 'adopt'
      ? `${c.q('sweep_adopt')}(p_collection, p_dry_run, p_batch_size, p_max_batches_per_minute, true)`
      : `${c.q('sweep_backfill')}(p_batch_size, p_max_batches_per_minute, true)`;
  const name = kind === 'adopt' ? `CASE WHEN p_dry_run THEN 'adopt_dry_run:' ELSE 'adopt:' END || p_collection` : `'backfill'`;
  return sqlText`
    CREATE OR REPLACE PROCEDURE ${pr}(${params})
    LANGUAGE plpgsql
    AS $pr$
    DECLARE
        v_name text := ${name};
        v_started timestamptz := pg_catalog.clock_timestamp();
        v_r record;
        v_batches integer := 0;
        v_rows bigint := 0;
        v_applied bigint := 0;
        v_paused interval := '0'::interval;
        v_failures integer := 0;
        v_state text;
        v_msg text;
        v_detail text;
        v_hint text;
        v_wait double precision;
    BEGIN
        IF p_max_batches IS NOT NULL AND p_max_batches < 1 THEN
            ${raiseAt(12, 'SWEEP_INVALID_ARGUMENT', `pg_catalog.format('${kind === 'adopt' ? 'sweep_adopt_run' : 'sweep_backfill_run'}(p_max_batches => %s): must be NULL (no limit) or at least 1', p_max_batches)`)}
        END IF;
        IF p_max_pause IS NULL OR p_max_pause < '0'::interval THEN
            ${raiseAt(12, 'SWEEP_INVALID_ARGUMENT', `pg_catalog.format('${kind === 'adopt' ? 'sweep_adopt_run' : 'sweep_backfill_run'}(p_max_pause => %s): must not be NULL or negative', p_max_pause)`)}
        END IF;
        LOOP
            IF p_max_batches IS NOT NULL AND v_batches >= p_max_batches THEN
                PERFORM ${c.q('sweep_note')}(v_name, 'deferred', pg_catalog.format('stopped after p_max_batches = %s batches', p_max_batches));
                COMMIT;
                RAISE NOTICE '%: stopped after % batches (p_max_batches); the rest is deferred to the next call', v_name, v_batches;
                EXIT;
            END IF;
            -- lock_timeout per batch (a CALL is one statement for statement_timeout; see the comment)
            PERFORM pg_catalog.set_config('lock_timeout', p_lock_timeout, true);
            v_state := NULL;
            BEGIN
                SELECT * INTO v_r FROM ${call};
            EXCEPTION
                WHEN query_canceled THEN
                    -- the job's statement_timeout (or a cancel) hit this batch: its work is rolled back;
                    -- record it (sweep_note halves the adaptive size after a timeout), commit that, stop
                    GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
                    IF EXISTS (SELECT 1 FROM ${c.q('sweep_cursor')} AS sc WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name) THEN
                        PERFORM ${c.q('sweep_note')}(v_name, 'error', '57014: ' || v_msg);
                        COMMIT;
                    END IF;
                    RAISE EXCEPTION USING ERRCODE = 'query_canceled', MESSAGE = v_msg,
                        DETAIL = pg_catalog.format('%s: the batch in flight was rolled back after %s committed batches of this call; recorded in sweep_cursor.last_error (the next adaptive batch is half as large)', v_name, v_batches),
                        HINT = 'The next call resumes from the cursor. A CALL is one statement for statement_timeout: give the job statement_timeout = 0, or bound the call with p_max_batches.';
                WHEN OTHERS THEN
                    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
            END;
            IF v_state IS NOT NULL THEN
                IF v_state LIKE 'BG%' THEN
                    -- a deliberate error (bad input, unsafe family): retrying cannot help
                    RAISE EXCEPTION USING ERRCODE = v_state, MESSAGE = v_msg, DETAIL = v_detail, HINT = v_hint;
                END IF;
                v_failures := v_failures + 1;
                PERFORM ${c.q('sweep_note')}(v_name, 'error', v_state || ': ' || v_msg);
                COMMIT;
                IF v_failures >= 5 THEN
                    ${raiseAt(20, 'SWEEP_GAVE_UP', `pg_catalog.format('%s: %s failures in a row, the last %s: %s', v_name, v_failures, v_state, pg_catalog.left(v_msg, 500))`)}
                END IF;
                RAISE NOTICE '%: batch failed (% %), retry % in % s', v_name, v_state, v_msg, v_failures, 2 ^ v_failures;
                PERFORM pg_catalog.pg_sleep(2 ^ v_failures);
                CONTINUE;
            END IF;
            COMMIT;
            v_failures := 0;
            IF v_r.status = 'skipped' THEN
                RAISE NOTICE '%: another worker holds the cursor; nothing done', v_name;
                EXIT;
            ELSIF v_r.status = 'paused' THEN
                IF v_paused >= p_max_pause THEN
                    PERFORM ${c.q('sweep_note')}(v_name, 'deferred', pg_catalog.format('paused for %s in total (p_max_pause %s); last: %s', v_paused, p_max_pause, v_r.paused_reason));
                    COMMIT;
                    RAISE NOTICE '%: paused for % (p_max_pause); the rest is deferred to the next call', v_name, v_paused;
                    EXIT;
                END IF;
                -- sleep in committed steps of at most 1 s: no snapshot or lock held while waiting
                v_wait := LEAST(GREATEST(EXTRACT(epoch FROM v_r.paused_until - pg_catalog.clock_timestamp()), 0.01), 1.0);
                PERFORM pg_catalog.pg_sleep(v_wait);
                v_paused := v_paused + pg_catalog.make_interval(secs => v_wait);
                COMMIT;
                CONTINUE;
            END IF;
            v_batches := v_batches + 1;
            v_rows := v_rows + v_r.scanned;
            v_applied := v_applied + v_r.applied;
            RAISE NOTICE '%: batch % (% of ~% batches), % rows, % applied, % findings; run total % rows; elapsed %',
                v_name, v_r.batches_done, v_r.batches_done, v_r.batches_total_estimated, v_r.scanned, v_r.applied, v_r.findings,
                v_r.rows_done, pg_catalog.date_trunc('millisecond', pg_catalog.clock_timestamp() - v_started);
            EXIT WHEN v_r.status = 'finished';
        END LOOP;
        RAISE NOTICE '%: done: % batches, % rows, % applied this call, paused %, elapsed %', v_name, v_batches, v_rows, v_applied,
            pg_catalog.date_trunc('millisecond', v_paused), pg_catalog.date_trunc('millisecond', pg_catalog.clock_timestamp() - v_started);
    END;
    $pr$;
    ${comment(
      'PROCEDURE',
      `${pr}${sig}`,
      `For pg_cron and psql: runs ${kind === 'adopt' ? 'sweep_adopt' : 'sweep_backfill'} batch after batch, COMMIT after each (no long transaction), until the run finishes (p_batch_size NULL, the default: each batch sized to take about the sweep_batch_target setting), another worker holds the cursor, or a bound stops it (p_max_batches, p_max_pause of accumulated rate-limit/load-guard pauses): then a deferred finding says how much is left, and the next call resumes from the cursor. lock_timeout = p_lock_timeout per batch; a statement timeout (or cancel) during a batch is recorded with sweep_note and committed before the CALL ends with it (the next adaptive batch is half as large); a failed batch is retried after 2, 4, 8, 16 s and the fifth failure in a row raises BG606 (each failure in last_error); deliberate BG errors are raised at once. A CALL counts as one statement for statement_timeout: give the job statement_timeout = 0 or bound it with p_max_batches. CALL it outside a transaction block. Security invoker without a SET clause because a procedure that commits cannot have either; every name in it is schema-qualified.`,
    )}`;
}

export const adoptRunProcedureV3 = (c: Ctx) => runProcedureV3(c, 'adopt');
export const backfillRunProcedureV3 = (c: Ctx) => runProcedureV3(c, 'backfill');
