/** v_sweep_status (progress, rate, ETA, pauses, errors per cursor) and v_sweep_findings (the summary). */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { sqlText } from '../lib/sql.js';
import { CODE_SHOWN } from './common.js';

export function statusView(c: Ctx): string {
  const v = c.q('v_sweep_status');
  return sqlText`
    CREATE OR REPLACE VIEW ${v} AS
    SELECT sc.sweep_name,
           sc.kind,
           sc.collection_name,
           sc.run_id,
           CASE WHEN sc.kind = 'consume' THEN CASE WHEN sc.paused_until > clock_timestamp() THEN 'paused' ELSE 'running' END
                WHEN sc.run_id = 0 THEN 'idle'
                WHEN sc.finished_at IS NOT NULL THEN 'finished'
                WHEN sc.paused_until > clock_timestamp() THEN 'paused'
                WHEN sc.heartbeat_at IS NULL OR clock_timestamp() - sc.heartbeat_at > sc.stale_after THEN 'stale'
                ELSE 'running' END AS state,
           sc.paused_reason,
           sc.paused_until,
           sc.batches_done,
           sc.batches_total_estimated,
           sc.rows_done,
           sc.rows_total_estimated,
           round(100.0 * sc.rows_done / NULLIF(GREATEST(sc.rows_total_estimated, sc.rows_done), 0), 1) AS percent_done,
           sc.rows_applied,
           sc.rows_skipped,
           sc.findings,
           r.rows_per_second,
           CASE WHEN sc.finished_at IS NULL AND r.rows_per_second > 0
                THEN make_interval(secs => GREATEST(sc.rows_total_estimated - sc.rows_done, 0) / r.rows_per_second) END AS eta,
           sc.error_count,
           sc.last_error,
           sc.last_error_at,
           sc.dead_lettered,
           sc.heartbeat_at,
           clock_timestamp() - sc.heartbeat_at AS heartbeat_age,
           sc.last_batch_ms,
           sc.max_batch_ms,
           sc.pauses_rate_limit,
           sc.pauses_load,
           left(sc.position_code, ${CODE_SHOWN}) AS position_code,
           sc.position_id,
           sc.batch_size,
           sc.run_started_at,
           sc.run_started_by,
           sc.finished_at
      FROM ${c.q('sweep_cursor')} AS sc
      CROSS JOIN LATERAL (
          SELECT round(sc.rows_done / NULLIF(EXTRACT(epoch FROM coalesce(sc.finished_at, sc.heartbeat_at) - sc.run_started_at), 0), 1) AS rows_per_second
      ) AS r;
    ${comment('VIEW', v, "One row per sweep cursor: state (idle | running | paused | stale | finished), why and until when it is paused (rate limit or load guard), batches done / estimated total, rows done / estimated total, percent, rows applied (adopted or seeded) and skipped, findings, rate (rows/s over the run) and ETA, errors and the last one, heartbeat and its age, last and slowest batch in ms, pause counts, keyset position (code shown up to 100 characters). The 'consume' row carries the consumer CLI's pauses.")}`;
}

export function findingsView(c: Ctx): string {
  const v = c.q('v_sweep_findings');
  return sqlText`
    CREATE OR REPLACE VIEW ${v} AS
    SELECT f.sweep_name,
           f.run_id,
           f.collection_name,
           f.kind,
           count(*) AS finding_rows,
           sum(f.occurrences) AS occurrences,
           (array_agg(left(f.entity_code, ${CODE_SHOWN}) ORDER BY f.finding_id) FILTER (WHERE f.entity_code IS NOT NULL))[1:5] AS sample_codes,
           min(f.found_at) AS first_found_at,
           max(f.found_at) AS last_found_at,
           CASE f.kind
               WHEN 'null_code' THEN 'rows with a NULL code cannot be adopted: give each a code that matches the family pattern (each new code is then born through the gate), or delete the row'
               WHEN 'empty_code' THEN 'rows with an empty code cannot be adopted: give each a valid code, or delete the row'
               WHEN 'pattern_mismatch' THEN 'codes that fail the family pattern: fix the codes (or the pattern), then run the adoption again'
               WHEN 'duplicate_code' THEN 'a code held by several rows is not adopted: make the code unique in the table, then run the adoption again'
               WHEN 'oversize_code' THEN 'codes longer than 256 characters are not adopted: shorten them, then run the adoption again'
               WHEN 'retired_present' THEN 'the code is RETIRED in the registry but its row is still in the table: delete the row, or leave it (v_drift_report lists it)'
               WHEN 'retired_skipped' THEN 'RETIRED objects are not seeded as governance candidates; nothing to do'
               WHEN 'deferred' THEN 'a bound stopped the run before the end: run the sweep again, it resumes from its cursor'
               WHEN 'rate_limited' THEN 'the run waited for its rate limit (nothing left undone); raise max batches per minute to go faster'
               WHEN 'load_paused' THEN 'the run paused for the load guard (nothing left undone); see sweep_load_guard()'
               WHEN 'slow_batch' THEN 'a batch took longer than the 5 s budget: lower the batch size'
               ELSE 'see sweep_finding' END AS remedy
      FROM ${c.q('sweep_finding')} AS f
     GROUP BY f.sweep_name, f.run_id, f.collection_name, f.kind;
    ${comment('VIEW', v, 'The summary findings of the sweeps ("no silent caps"): per sweep, run and kind, how many finding rows and how many table rows or units they count, up to five sample codes (100 characters each), when, and what to do. List every code with SELECT * FROM sweep_finding WHERE sweep_name = ... AND kind = ....')}`;
}
