/**
 * `birthgate consume` — the governance handoff consumer for crontab, systemd timers and
 * Kubernetes CronJobs. Each batch is one call of handoff_consume() in its own committed
 * transaction, so a killed run loses nothing: the next run resumes from the stored cursor.
 */
import { z } from 'zod';
import type pg from 'pg';
import { connectionFromEnv } from '../../config.js';
import { connect } from '../../db.js';
import { parseCli } from '../../operator/args.js';
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

export const MAX_BATCH_SIZE = 100_000;

export const usage = `birthgate consume [--batch-size N] [--max-batches N] [--until-empty] [--json]
  Runs the governance handoff consumer (handoff_consume) against DATABASE_URL, one committed
  transaction per batch; a run that is killed resumes from the stored cursor next time.
  --batch-size N    changelog rows per batch, 1..${MAX_BATCH_SIZE} (default 5000)
  --max-batches N   run at most N batches (default 1; no limit with --until-empty)
  --until-empty     keep going until a batch comes back short: every committed birth is handed off
  --max-batches-per-minute N   rate limit: at most N batches per minute (waits between batches)
  --no-load-guard   do not pause when sweep_load_guard() reports lock waits on governed tables or
                    replication lag (by default the consumer pauses, never fails; pauses show in
                    v_sweep_status as sweep 'consume')
  --max-pause SECS  give up waiting after this much pausing in one run (default 600); the rest is
                    left for the next run ("deferred": true)
  --json            print exactly one JSON line on stdout, also on failure:
                    {"ok","consumed","emitted","captured","lag","batches","elapsed_ms","skipped","interrupted",
                     "pauses","paused_ms","deferred","error"?}
  SIGINT/SIGTERM stop after the batch in flight (its work is committed); a second signal stops at once.
exit codes:
${COMMON_EXIT_CODES}
  (0 also when another consumer holds the cursor: "skipped": true)`;

function wholeNumber(flag: string, min: number, max: number) {
  return z
    .string()
    .regex(/^-?[0-9]+$/, `${flag} must be a whole number`)
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, `${flag} must be at least ${min}`)
        .max(max, `${flag} must be at most ${max}`),
    );
}

export const ConsumeOptions = z.object({
  batchSize: wholeNumber('--batch-size', 1, MAX_BATCH_SIZE).default(5000),
  maxBatches: wholeNumber('--max-batches', 1, Number.MAX_SAFE_INTEGER).optional(),
  untilEmpty: z.boolean().default(false),
  maxBatchesPerMinute: wholeNumber('--max-batches-per-minute', 1, 60_000).optional(),
  loadGuard: z.boolean().default(true),
  maxPauseSeconds: wholeNumber('--max-pause', 0, 86_400).default(600),
  json: z.boolean().default(false),
});
export type ConsumeOptions = z.infer<typeof ConsumeOptions>;

/** Flags → validated options; anything wrong is a usage error (exit 2). */
export function parseConsumeArgs(argv: string[]): ConsumeOptions {
  const { values } = parseCli('consume', argv, {
    'batch-size': { type: 'string' },
    'max-batches': { type: 'string' },
    'until-empty': { type: 'boolean' },
    'max-batches-per-minute': { type: 'string' },
    'no-load-guard': { type: 'boolean' },
    'max-pause': { type: 'string' },
    json: { type: 'boolean' },
  }) as { values: Record<string, string | boolean | undefined> };
  const parsed = ConsumeOptions.safeParse({
    batchSize: values['batch-size'],
    maxBatches: values['max-batches'],
    untilEmpty: values['until-empty'] ?? false,
    maxBatchesPerMinute: values['max-batches-per-minute'],
    loadGuard: !values['no-load-guard'],
    maxPauseSeconds: values['max-pause'],
    json: values.json ?? false,
  });
  if (!parsed.success) {
    const flagOf: Record<string, string> = {
      batchSize: 'batch-size',
      maxBatches: 'max-batches',
      maxBatchesPerMinute: 'max-batches-per-minute',
      maxPauseSeconds: 'max-pause',
    };
    const what = parsed.error.issues
      .map((i) => {
        const flag = flagOf[String(i.path[0])];
        return flag ? `${i.message} (got ${JSON.stringify(values[flag])})` : i.message;
      })
      .join('; ');
    throw usageError('consume', what);
  }
  return parsed.data;
}

export interface ConsumeResult {
  ok: boolean;
  consumed: number;
  emitted: number;
  captured: number;
  /** handoff_consume's lag after the last batch: changelog rows past the cursor (exact up to one batch, estimated beyond). */
  lag: number | null;
  batches: number;
  elapsed_ms: number;
  /** true when another consumer held the cursor: nothing was processed, by design. */
  skipped: boolean;
  /** true when a signal stopped the run after the batch in flight. */
  interrupted: boolean;
  /** Rate-limit and load-guard pauses of this run, and how long they took. */
  pauses?: number;
  paused_ms?: number;
  /** true when --max-pause stopped the run with work left. */
  deferred?: boolean;
  error?: ErrorInfo;
}

interface BatchRow {
  consumed: number;
  emitted: number;
  captured: number;
  lag: string | null;
}

export async function runConsumer(
  client: pg.Client,
  schema: string,
  o: ConsumeOptions,
  shouldStop: () => boolean = () => false,
  onBatch: (r: ConsumeResult, batchMs: number) => void = () => {},
): Promise<ConsumeResult> {
  const fn = `"${schema}".handoff_consume`;
  const limit = o.maxBatches ?? (o.untilEmpty ? Infinity : 1);
  const started = performance.now();
  const r: ConsumeResult = {
    ok: true,
    consumed: 0,
    emitted: 0,
    captured: 0,
    lag: null,
    batches: 0,
    elapsed_ms: 0,
    skipped: false,
    interrupted: false,
  };
  r.pauses = 0;
  r.paused_ms = 0;
  r.deferred = false;
  let lastStart = 0;
  const pause = async (reason: string, ms: number) => {
    r.pauses! += 1;
    progress(`consume: paused (${reason}) for ${Math.round(ms / 100) / 10}s`);
    await client
      .query(`SELECT "${schema}".sweep_note('consume', 'pause', $1, clock_timestamp() + make_interval(secs => $2))`, [reason, ms / 1000])
      .catch(() => {});
    const end = Date.now() + ms;
    while (Date.now() < end && !shouldStop()) await new Promise((d) => setTimeout(d, Math.min(200, end - Date.now())));
    r.paused_ms! += ms;
  };
  while (r.batches < limit) {
    if (shouldStop()) {
      r.interrupted = true;
      break;
    }
    if (r.paused_ms! > o.maxPauseSeconds * 1000) {
      r.deferred = true;
      break;
    }
    if (o.maxBatchesPerMinute !== undefined && lastStart > 0) {
      const wait = lastStart + 60_000 / o.maxBatchesPerMinute - performance.now();
      if (wait > 0) {
        await pause(`rate limit: ${o.maxBatchesPerMinute} batches per minute`, wait);
        continue;
      }
    }
    if (o.loadGuard) {
      const g = (await client.query<{ pause: boolean; reason: string | null }>(`SELECT pause, reason FROM "${schema}".sweep_load_guard()`)).rows[0];
      if (g?.pause) {
        await pause(`load guard: ${g.reason}`, 5000);
        continue;
      }
    }
    lastStart = performance.now();
    const t0 = performance.now();
    const row = (await client.query<BatchRow>(`SELECT consumed, emitted, captured, lag FROM ${fn}($1)`, [o.batchSize])).rows[0]!;
    if (row.lag === null) {
      r.skipped = true;
      break;
    }
    r.batches++;
    r.consumed += row.consumed;
    r.emitted += row.emitted;
    r.captured += row.captured;
    r.lag = Number(row.lag);
    r.elapsed_ms = Math.round(performance.now() - started);
    onBatch(r, performance.now() - t0);
    if (row.consumed < o.batchSize) break;
  }
  r.elapsed_ms = Math.round(performance.now() - started);
  return r;
}

export async function run(argv: string[]): Promise<number> {
  const o = parseConsumeArgs(argv);
  const cfg = connectionFromEnv();
  handleInterruptsCooperatively();
  const started = performance.now();
  let client: pg.Client | undefined;
  let result: ConsumeResult = {
    ok: false,
    consumed: 0,
    emitted: 0,
    captured: 0,
    lag: null,
    batches: 0,
    elapsed_ms: 0,
    skipped: false,
    interrupted: false,
  };
  try {
    client = await connect(cfg.databaseUrl, 'birthgate consume');
    // Each batch is its own READ COMMITTED transaction, whatever default_transaction_isolation the
    // server or role sets: the consumer needs no stronger isolation (its snapshot cursor orders
    // the work), and under SERIALIZABLE its reads of the changelog would only add conflicts.
    await client.query('SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED');
    result = await runConsumer(
      client,
      cfg.schema,
      o,
      () => interruptedBy() !== null,
      (r, batchMs) => {
        result = r; // the progress so far, reported next to the error if a later batch fails
        const rate = r.elapsed_ms > 0 ? Math.round((r.consumed * 1000) / r.elapsed_ms) : 0;
        progress(`consume: batch ${r.batches} (${Math.round(batchMs)} ms), ${r.consumed} rows, ${rate} rows/s, lag ${r.lag}`);
      },
    );
  } catch (e) {
    progressDone();
    const { error, exit } = failureOf(e);
    result = { ...result, ok: false, elapsed_ms: Math.round(performance.now() - started), error };
    if (o.json) printJson({ ...result, exit_code: exit });
    const lines = [errorText('birthgate consume', error)];
    if (result.batches > 0) lines.push(`(${result.batches} batches, ${result.consumed} rows were committed before the failure)`);
    console.error(lines.join('\n'));
    return exit;
  } finally {
    await client?.end().catch(() => {});
  }
  progressDone();
  const signal = interruptedBy();
  if (signal) {
    result.interrupted = true;
    result.ok = false;
    result.error = {
      class: 'interrupted',
      message: `interrupted by ${signal} after ${result.batches} batch(es); their ${result.consumed} rows are committed, the next run resumes from the cursor`,
    };
  }
  if (o.json) printJson(signal ? { ...result, exit_code: signalExitCode(signal) } : result);
  else if (signal) console.error(errorText('birthgate consume', result.error!));
  else if (result.skipped && result.batches === 0) {
    console.log('consume: skipped: another consumer holds the handoff cursor');
  } else {
    console.log(
      `consume: ${result.consumed} rows in ${result.batches} batch${result.batches === 1 ? '' : 'es'} ` +
        `(${result.emitted} emitted, ${result.captured} captured), lag ${result.lag}, ${result.elapsed_ms} ms` +
        `${result.skipped ? '; stopped: another consumer holds the cursor' : ''}${result.interrupted ? '; interrupted by a signal' : ''}`,
    );
  }
  return signal ? signalExitCode(signal) : EXIT.OK;
}
