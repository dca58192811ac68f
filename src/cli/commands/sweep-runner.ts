/**
 * The driver shared by `birthgate adopt` and `birthgate backfill`: one batch function call per
 * committed transaction (autocommit), each statement under statement_timeout (5 s by default);
 * sleeps through rate-limit and load-guard pauses (visible in v_sweep_status); retries a failed
 * batch with bounded backoff, halving the batch size after a timeout; stops after the batch in
 * flight on SIGINT/SIGTERM (the next run resumes from the cursor) and records what it left undone.
 */
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { connectionFromEnv } from '../../config.js';
import { connect } from '../../db.js';
import { CliError, describeError, errorText, exitCodeOf, printJson, progress, progressDone } from '../io.js';

export const EXIT_INTERRUPTED = 130;

export interface SweepOptions {
  batchSize: number;
  maxBatches?: number;
  maxBatchesPerMinute?: number;
  loadGuard: boolean;
  statementTimeoutMs: number;
  maxRetries: number;
  json: boolean;
}

export const commonUsage = `  --batch-size N                rows per batch, 1..100000 (default 5000)
  --max-batches N               stop after N batches (the rest is recorded as deferred; run again to resume)
  --max-batches-per-minute N    rate limit (pauses are shown in v_sweep_status)
  --no-load-guard               do not pause when sweep_load_guard() says so (lock waits, replication lag)
  --statement-timeout MS        statement_timeout of every statement (default 5000)
  --max-retries N               retries of a failed batch, with backoff 1, 2, 4 … 30 s (default 5)
  --json                        print exactly one JSON line on stdout
  SIGINT/SIGTERM stop after the batch in flight (its work is committed); the next run resumes.
Exit codes: 0 done (also: another worker holds the cursor, "skipped": true; or --max-batches reached),
1 database failure (SQLSTATE, DETAIL, HINT printed), 2 bad flags or configuration, 130 interrupted.`;

function whole(flag: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-9]+$/.test(v)) throw new CliError(`${flag} must be a whole number (got ${JSON.stringify(v)})`, 2);
  const n = Number(v);
  if (n < min || n > max) throw new CliError(`${flag} must be between ${min} and ${max} (got ${n})`, 2);
  return n;
}

export function parseSweepArgs(cmd: string, argv: string[], usage: string, extra: Record<string, { type: 'boolean' | 'string' }> = {}) {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        'batch-size': { type: 'string' },
        'max-batches': { type: 'string' },
        'max-batches-per-minute': { type: 'string' },
        'no-load-guard': { type: 'boolean' },
        'statement-timeout': { type: 'string' },
        'max-retries': { type: 'string' },
        json: { type: 'boolean' },
        ...extra,
      },
    });
  } catch (e) {
    throw new CliError(`${cmd}: ${(e as Error).message}\n${usage}`, 2);
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  const str = (k: string) => v[k] as string | undefined;
  const o: SweepOptions = {
    batchSize: whole('--batch-size', str('batch-size'), 1, 100_000) ?? 5000,
    maxBatches: whole('--max-batches', str('max-batches'), 1, Number.MAX_SAFE_INTEGER),
    maxBatchesPerMinute: whole('--max-batches-per-minute', str('max-batches-per-minute'), 1, 60_000),
    loadGuard: !v['no-load-guard'],
    statementTimeoutMs: whole('--statement-timeout', str('statement-timeout'), 1, 3_600_000) ?? 5000,
    maxRetries: whole('--max-retries', str('max-retries'), 0, 100) ?? 5,
    json: Boolean(v.json),
  };
  return { o, values: v, positionals: parsed.positionals };
}

export interface SweepResult {
  ok: boolean;
  sweep: string | null;
  run_id: number | null;
  finished: boolean;
  rows_done: number;
  rows_total_estimated: number | null;
  applied: number;
  findings: number;
  batches: number;
  pauses: number;
  paused_ms: number;
  retries: number;
  elapsed_ms: number;
  skipped: boolean;
  interrupted: boolean;
  deferred: boolean;
  error?: ReturnType<typeof describeError>;
}

interface BatchRow {
  status: 'batch' | 'finished' | 'paused' | 'skipped';
  sweep_name: string;
  run_id: string | null;
  scanned: number;
  applied: number;
  findings: number;
  rows_done: string | null;
  rows_total_estimated: string | null;
  paused_reason: string | null;
  paused_until: Date | null;
}

const sleep = (ms: number, stop: () => boolean) =>
  new Promise<void>((done) => {
    const end = Date.now() + ms;
    const tick = () => (stop() || Date.now() >= end ? done() : setTimeout(tick, Math.min(200, end - Date.now())));
    tick();
  });

function bar(r: SweepResult, label: string): string {
  const total = r.rows_total_estimated && r.rows_total_estimated >= r.rows_done ? r.rows_total_estimated : null;
  const secs = r.elapsed_ms / 1000;
  const rate = secs > 0 ? Math.round(r.rows_done / secs) : 0;
  const pct = total ? Math.min(100, Math.floor((100 * r.rows_done) / total)) : null;
  const width = 24;
  const filled = pct === null ? 0 : Math.round((pct * width) / 100);
  const eta = total && rate > 0 ? `${Math.round((total - r.rows_done) / rate)}s` : '?';
  return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct ?? '?'}% ${r.rows_done}/${total ?? '?'} rows, ${rate} rows/s, ETA ${eta}, ${r.applied} applied, ${r.findings} findings`;
}

/**
 * Runs a sweep to its end (or a bound). `call(batchSize)` returns the SQL and parameters of one batch.
 */
export async function runSweep(
  client: pg.Client,
  schema: string,
  label: string,
  o: SweepOptions,
  call: (batchSize: number) => { sql: string; params: unknown[] },
  shouldStop: () => boolean = () => false,
): Promise<SweepResult> {
  const started = performance.now();
  const r: SweepResult = {
    ok: true, sweep: null, run_id: null, finished: false, rows_done: 0, rows_total_estimated: null, applied: 0, findings: 0,
    batches: 0, pauses: 0, paused_ms: 0, retries: 0, elapsed_ms: 0, skipped: false, interrupted: false, deferred: false,
  };
  await client.query(`SET statement_timeout = ${o.statementTimeoutMs}`);
  let batchSize = o.batchSize;
  let failures = 0;
  const note = async (event: string, detail: string) => {
    if (!r.sweep) return;
    await client.query(`SELECT "${schema}".sweep_note($1, $2, $3)`, [r.sweep, event, detail]).catch(() => {});
  };
  for (;;) {
    if (shouldStop()) {
      r.interrupted = true;
      await note('deferred', 'interrupted by a signal');
      break;
    }
    if (o.maxBatches !== undefined && r.batches >= o.maxBatches) {
      r.deferred = true;
      await note('deferred', `stopped after --max-batches ${o.maxBatches}`);
      break;
    }
    let row: BatchRow;
    try {
      const q = call(batchSize);
      row = (await client.query<BatchRow>(q.sql, q.params)).rows[0]!;
      failures = 0;
    } catch (e) {
      const err = e as { code?: string };
      if (!err.code || err.code.startsWith('BG') || failures >= o.maxRetries) throw e;
      failures++;
      r.retries++;
      await note('error', `${err.code}: ${(e as Error).message}`);
      if (err.code === '57014' && batchSize > 1) batchSize = Math.max(1, Math.floor(batchSize / 2));
      await sleep(Math.min(30_000, 1000 * 2 ** (failures - 1)), shouldStop);
      continue;
    }
    r.sweep = row.sweep_name;
    if (row.status === 'skipped') {
      r.skipped = true;
      break;
    }
    r.run_id = row.run_id === null ? null : Number(row.run_id);
    r.rows_done = Number(row.rows_done ?? 0);
    r.rows_total_estimated = row.rows_total_estimated === null ? null : Number(row.rows_total_estimated);
    if (row.status === 'paused') {
      r.pauses++;
      const wait = Math.max(10, (row.paused_until?.getTime() ?? Date.now() + 1000) - Date.now());
      progress(`${label}: paused (${row.paused_reason}) for ${Math.round(wait / 100) / 10}s`);
      const t = performance.now();
      await sleep(wait, shouldStop);
      r.paused_ms += Math.round(performance.now() - t);
      continue;
    }
    r.batches++;
    r.applied += row.applied;
    r.findings += row.findings;
    r.elapsed_ms = Math.round(performance.now() - started);
    progress(bar(r, label));
    if (row.status === 'finished') {
      r.finished = true;
      break;
    }
  }
  r.elapsed_ms = Math.round(performance.now() - started);
  return r;
}

/** The command frame: connection, signals, output and exit codes (as `consume`, plus 130 when interrupted). */
export async function runCommand(
  cmd: string,
  o: SweepOptions,
  label: string,
  call: (schema: string) => (batchSize: number) => { sql: string; params: unknown[] },
  summary: (r: SweepResult) => string,
): Promise<number> {
  const cfg = connectionFromEnv();
  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const started = performance.now();
  let client: pg.Client | undefined;
  let result: SweepResult | undefined;
  try {
    client = await connect(cfg.databaseUrl, `birthgate ${cmd}`);
    result = await runSweep(client, cfg.schema, label, o, call(cfg.schema), () => stop);
  } catch (e) {
    progressDone();
    const err = describeError(e);
    const exit = exitCodeOf(e, err);
    const failed = { ok: false, exit_code: exit, elapsed_ms: Math.round(performance.now() - started), error: err };
    if (o.json) printJson({ ...(result ?? {}), ...failed });
    console.error(`${errorText(`birthgate ${cmd}`, err)}\n(every committed batch stays done; run the command again to resume from the cursor)`);
    return exit;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await client?.end().catch(() => {});
  }
  progressDone();
  if (o.json) printJson(result);
  else console.log(summary(result));
  return result.interrupted ? EXIT_INTERRUPTED : 0;
}
