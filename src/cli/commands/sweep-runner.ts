/**
 * The driver shared by `birthgate adopt` and `birthgate backfill`: one batch function call per
 * committed transaction (autocommit), each statement under statement_timeout (5 s by default);
 * sleeps through rate-limit and load-guard pauses (visible in v_sweep_status); retries a failed
 * batch with bounded backoff, halving the batch size after a timeout; stops after the batch in
 * flight on SIGINT/SIGTERM (the next run resumes from the cursor) and records what it left undone.
 */
import { z } from 'zod';
import type pg from 'pg';
import { connectionFromEnv } from '../../config.js';
import { connect } from '../../db.js';
import { parseCli, zodFlagMessage } from '../../operator/args.js';
import {
  COMMON_EXIT_CODES,
  EXIT,
  errorText,
  failureOf,
  handleInterruptsCooperatively,
  interruptedBy,
  printJson,
  progress,
  progressDone,
  signalExitCode,
  usageError,
  type ErrorInfo,
} from '../io.js';

export interface SweepOptions {
  /** Rows per batch; undefined: adaptive (each batch sized by the server to its time target). */
  batchSize?: number;
  maxBatches?: number;
  maxBatchesPerMinute?: number;
  loadGuard: boolean;
  statementTimeoutMs: number;
  maxRetries: number;
  json: boolean;
}

export const commonUsage = `  --batch-size N                rows per batch, 1..100000 (default: adaptive, each batch sized to take
                                about the birthgate.sweep_batch_target setting, 80 ms unless set)
  --max-batches N               stop after N batches (the rest is recorded as deferred; run again to resume)
  --max-batches-per-minute N    rate limit (pauses are shown in v_sweep_status)
  --no-load-guard               do not pause when sweep_load_guard() says so (lock waits, replication lag)
  --statement-timeout MS        statement_timeout of every statement (default 5000)
  --max-retries N               retries of a batch failing transiently (statement or lock timeout,
                                deadlock, serialization failure, insufficient resources), with backoff
                                1, 2, 4 … 30 s (default 5); any other error stops the run at once
  --json                        print exactly one JSON line on stdout, also on every failure:
                                the progress fields below, plus "exit_code" and "error" on failure
  SIGINT/SIGTERM stop after the batch in flight (its work is committed; a deferred finding records
  what is left); the next run resumes from the cursor. A second signal stops at once.
exit codes:
${COMMON_EXIT_CODES}
  (0 also when another worker holds the cursor: "skipped": true; or --max-batches was reached: "deferred": true)`;

/** A whole number flag; a negative value is read (not refused by the parser) so the range check can name it. */
function whole(flag: string, min: number, max: number) {
  return z
    .string()
    .regex(/^-?[0-9]+$/, `${flag} must be a whole number`)
    .transform(Number)
    .pipe(z.number().int().min(min, `${flag} must be at least ${min}`).max(max, `${flag} must be at most ${max}`));
}

const SweepFlags = z.object({
  'batch-size': whole('--batch-size', 1, 100_000).optional(),
  'max-batches': whole('--max-batches', 1, Number.MAX_SAFE_INTEGER).optional(),
  'max-batches-per-minute': whole('--max-batches-per-minute', 1, 60_000).optional(),
  'no-load-guard': z.boolean().default(false),
  'statement-timeout': whole('--statement-timeout', 1, 3_600_000).default(5000),
  'max-retries': whole('--max-retries', 0, 100).default(5),
  json: z.boolean().default(false),
});

/** Flags → validated options; anything wrong is a short usage error (exit 2), never the usage text. */
export function parseSweepArgs(cmd: string, argv: string[], extra: Record<string, { type: 'boolean' | 'string' }> = {}) {
  const parsed = parseCli(
    cmd,
    argv,
    {
      'batch-size': { type: 'string' },
      'max-batches': { type: 'string' },
      'max-batches-per-minute': { type: 'string' },
      'no-load-guard': { type: 'boolean' },
      'statement-timeout': { type: 'string' },
      'max-retries': { type: 'string' },
      json: { type: 'boolean' },
      ...extra,
    },
    true,
  );
  const v = parsed.values as Record<string, string | boolean | undefined>;
  const checked = SweepFlags.safeParse(v);
  if (!checked.success) throw usageError(cmd, zodFlagMessage(checked.error, v));
  const f = checked.data;
  const o: SweepOptions = {
    batchSize: f['batch-size'],
    maxBatches: f['max-batches'],
    maxBatchesPerMinute: f['max-batches-per-minute'],
    loadGuard: !f['no-load-guard'],
    statementTimeoutMs: f['statement-timeout'],
    maxRetries: f['max-retries'],
    json: f.json,
  };
  return { o, values: v, positionals: parsed.positionals };
}

/**
 * Errors worth retrying on the same connection: a statement or lock timeout, a deadlock, a
 * serialization failure, insufficient resources. Anything else (a missing schema or function, a
 * deliberate BG error, a lost connection) stops the run at once: retrying cannot help.
 */
export function isTransient(code: string | undefined): boolean {
  if (!code) return false;
  return code === '57014' || code === '55P03' || code.startsWith('40') || code.startsWith('53');
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
  error?: ErrorInfo;
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

export function newSweepResult(): SweepResult {
  return {
    ok: true, sweep: null, run_id: null, finished: false, rows_done: 0, rows_total_estimated: null, applied: 0, findings: 0,
    batches: 0, pauses: 0, paused_ms: 0, retries: 0, elapsed_ms: 0, skipped: false, interrupted: false, deferred: false,
  };
}

/**
 * Runs a sweep to its end (or a bound). `r` is filled in as it goes, so a caller still has the
 * progress when a batch fails. `call(batchSize)` returns the SQL and parameters of one batch.
 */
export async function runSweep(
  client: pg.Client,
  schema: string,
  label: string,
  o: SweepOptions,
  call: (batchSize: number | null) => { sql: string; params: unknown[] },
  shouldStop: () => boolean = () => false,
  r: SweepResult = newSweepResult(),
  cursorName?: string,
): Promise<SweepResult> {
  const started = performance.now();
  await client.query(`SET statement_timeout = ${o.statementTimeoutMs}`);
  // null: adaptive; after a timeout sweep_note halves the server's size (a fixed size is halved here)
  let batchSize: number | null = o.batchSize ?? null;
  let failures = 0;
  // the size of the last full batch: an adaptive retry after a timeout asks for half of it
  let lastSize: number | null = null;
  const note = async (event: string, detail: string) => {
    const name = r.sweep ?? cursorName;
    if (!name) return;
    await client.query(`SELECT "${schema}".sweep_note($1, $2, $3)`, [name, event, detail]).catch(() => {});
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
      // after a smaller retry succeeded, an adaptive run lets the server size the batches again
      if (o.batchSize === undefined) batchSize = null;
    } catch (e) {
      const err = e as { code?: string };
      if (!isTransient(err.code) || failures >= o.maxRetries) {
        r.elapsed_ms = Math.round(performance.now() - started);
        throw e;
      }
      failures++;
      r.retries++;
      await note('error', `${err.code}: ${(e as Error).message}`);
      // a statement timeout: retry smaller (sweep_note also halves the cursor's adaptive size)
      if (err.code === '57014') batchSize = Math.max(1, Math.floor((batchSize ?? lastSize ?? 1000) / 2));
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
    if (row.status === 'batch') lastSize = row.scanned;
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

/**
 * The command frame: connection, output and exit codes as every command has them. SIGINT/SIGTERM
 * go through the shared handler (cooperative: the batch in flight completes, then the run stops
 * and exits 130/143; a second signal ends the process at once).
 */
export async function runCommand(
  cmd: string,
  o: SweepOptions,
  label: string,
  call: (schema: string) => (batchSize: number | null) => { sql: string; params: unknown[] },
  summary: (r: SweepResult) => string,
  cursorName?: string,
): Promise<number> {
  const cfg = connectionFromEnv();
  handleInterruptsCooperatively();
  const started = performance.now();
  const result = newSweepResult();
  let client: pg.Client | undefined;
  try {
    client = await connect(cfg.databaseUrl, `birthgate ${cmd}`);
    await runSweep(client, cfg.schema, label, o, call(cfg.schema), () => interruptedBy() !== null, result, cursorName);
  } catch (e) {
    progressDone();
    const { error, exit } = failureOf(e);
    result.elapsed_ms = Math.round(performance.now() - started);
    if (o.json) printJson({ ...result, ok: false, exit_code: exit, error });
    const lines = [errorText(`birthgate ${cmd}`, error)];
    if (result.batches > 0) lines.push(`(${result.batches} batches, ${result.rows_done} rows of run ${result.run_id} are committed; run the command again to resume from the cursor)`);
    console.error(lines.join('\n'));
    return exit;
  } finally {
    await client?.end().catch(() => {});
  }
  progressDone();
  const signal = interruptedBy();
  if (signal && !result.finished && !result.skipped) {
    // stopped after the batch in flight: its work is committed, the next run resumes
    const exit = signalExitCode(signal);
    const error: ErrorInfo = {
      class: 'interrupted',
      message: `interrupted by ${signal} after ${result.batches} batch(es); ${result.rows_done} rows of run ${result.run_id ?? '-'} are committed, the next run resumes from the cursor`,
    };
    result.interrupted = true;
    if (o.json) printJson({ ...result, ok: false, exit_code: exit, error });
    else console.error(`${summary(result)}\n${errorText(`birthgate ${cmd}`, error)}`);
    return exit;
  }
  if (o.json) printJson(result);
  else console.log(summary(result));
  return EXIT.OK;
}
