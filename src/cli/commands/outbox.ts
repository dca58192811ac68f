/**
 * birthgate outbox — operator commands for outbox delivery (the workers themselves call the SQL
 * pull API: outbox_claim / outbox_ack / outbox_fail).
 *   status        depth, ready / in flight / backing off / expired claims, oldest undelivered age,
 *                 dead letters, purged, size; and the findings of v_outbox_findings
 *   dead-letters  the dead-lettered events with their attempts and last error
 *   redrive       move dead-lettered events back to the outbox (--all or --id N ...)
 *   purge         delete acknowledged events past the retention, batch by batch, counted
 * Exit codes: the common ones (io.ts) and 3 (status only) a finding at or above --fail-on; with
 * --json exactly one JSON line, also on every failure (purge: with the batches already committed).
 */
import { z } from 'zod';
import type pg from 'pg';
import { connectionFromEnv } from '../../config.js';
import { connect } from '../../db.js';
import { Severity } from '../../generated/vocab.js';
import { parseFlags } from '../../operator/args.js';
import { table } from '../../operator/format.js';
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

export const usage = `birthgate outbox <status|dead-letters|redrive|purge> [options] [--json]
  status [--fail-on info|warning|critical]
                  depth (undelivered), ready, in flight, backing off, expired claims, the oldest
                  undelivered age, dead-lettered, purged, table/index size; findings.
                  Exit 3 when a finding at or above --fail-on exists (default: never).
  dead-letters [--limit N]
                  dead-lettered events, oldest first (default 50, at most 10000)
  redrive (--all | --id N [--id N ...])
                  move dead-lettered events back to the outbox (attempts reset, errors kept)
  purge [--batch N] [--max-batches N]
                  delete acknowledged events past the retention, N per transaction (default
                  10000), until a batch comes back short; every purge is counted.
                  SIGINT/SIGTERM stop after the batch in flight (committed); a second signal at once.
  --json          exactly one JSON line on stdout, also on every failure:
                  {"ok":false,"exit_code":N,"error":{...}} (purge adds "purged" and "batches" done)
Connection: DATABASE_URL, BIRTHGATE_SCHEMA (default birthgate).
exit codes:
${COMMON_EXIT_CODES}
  3    status: a finding at or above --fail-on`;

const whole = (flag: string, min: number, max: number) =>
  z
    .string()
    .regex(/^[0-9]+$/, `${flag} must be a whole number`)
    .transform(Number)
    .pipe(z.number().int().min(min, `${flag} must be at least ${min}`).max(max, `${flag} must be at most ${max}`));

const q = (schema: string, name: string) => `"${schema.replaceAll('"', '""')}".${name}`;

type Row = Record<string, unknown>;
const text = (v: unknown): string => (v === null || v === undefined ? '' : v instanceof Date ? v.toISOString() : typeof v === 'object' ? JSON.stringify(v) : String(v));

async function withClient<T>(name: string, fn: (c: pg.Client, schema: string) => Promise<T>): Promise<T> {
  const cfg = connectionFromEnv();
  const c = await connect(cfg.databaseUrl, `birthgate outbox ${name}`);
  try {
    return await fn(c, cfg.schema);
  } finally {
    await c.end().catch(() => {});
  }
}

async function status(argv: string[]): Promise<number> {
  const f = parseFlags('outbox status', usage, argv, { json: { type: 'boolean' }, 'fail-on': { type: 'string' } },
    z.object({ json: z.boolean().default(false), 'fail-on': Severity.optional() }));
  const { st, findings } = await withClient('status', async (c, s) => {
    await c.query(`SET statement_timeout = '60s'; SET lock_timeout = '5s'; SET default_transaction_read_only = on`);
    const st = (await c.query<Row>(`SELECT *, extract(epoch FROM oldest_undelivered_age)::float8 AS oldest_undelivered_age_s FROM ${q(s, 'v_outbox_status')}`)).rows[0]!;
    const findings = (await c.query<Row>(`SELECT severity, severity_rank, kind, message, remedy, detail FROM ${q(s, 'v_outbox_findings')}`)).rows;
    return { st, findings };
  });
  const threshold = f['fail-on'] ? Severity.options.indexOf(f['fail-on']) + 1 : Infinity;
  const failing = findings.filter((x) => Number(x.severity_rank) >= threshold).length;
  const exit = failing > 0 ? 3 : 0;
  const num = (k: string) => (st[k] === null ? null : Number(st[k]));
  const doc = {
    ok: exit === 0,
    exit_code: exit,
    depth: num('depth'),
    ready: num('ready'),
    in_flight: num('in_flight'),
    backing_off: num('backing_off'),
    expired_claims: num('expired_claims'),
    oldest_undelivered_at: st.oldest_undelivered_at,
    oldest_undelivered_age_s: num('oldest_undelivered_age_s'),
    dead_lettered: num('dead_lettered'),
    delivered_retained: num('delivered_retained'),
    purge_due: num('purge_due'),
    totals: {
      dead_lettered: num('dead_lettered_total'),
      redriven: num('redriven_total'),
      expired_claims: num('expired_claims_total'),
      stale_acks: num('stale_acks_total'),
      purged: num('purged_total'),
      last_purge_at: st.last_purge_at,
    },
    size: { table_bytes: num('table_bytes'), index_bytes: num('index_bytes'), live_tuples: num('live_tuples'), dead_tuples: num('dead_tuples') },
    findings: findings.map(({ severity_rank: _r, ...x }) => x),
  };
  if (f.json) printJson(doc);
  else {
    const pairs: [string, unknown][] = [
      ['depth (undelivered)', doc.depth], ['  ready', doc.ready], ['  in flight', doc.in_flight], ['  backing off', doc.backing_off],
      ['  expired claims', doc.expired_claims], ['oldest undelivered', doc.oldest_undelivered_at ? `${text(doc.oldest_undelivered_at)} (${Math.round(doc.oldest_undelivered_age_s ?? 0)} s ago)` : '-'], ['dead-lettered', doc.dead_lettered],
      ['acknowledged, retained', doc.delivered_retained], ['past retention', doc.purge_due], ['purged (total)', doc.totals.purged],
      ['last purge', text(doc.totals.last_purge_at) || 'never'], ['stale acks refused (total)', doc.totals.stale_acks],
      ['table / index bytes', `${doc.size.table_bytes} / ${doc.size.index_bytes}`],
    ];
    console.log(table(['outbox', 'value'], pairs.map(([k, v]) => [k, text(v)])));
    if (findings.length > 0) console.log(`\n${table(['severity', 'kind', 'message', 'remedy'], findings.map((x) => [text(x.severity), text(x.kind), text(x.message), text(x.remedy)]))}`);
    else console.log('\nno findings');
  }
  return exit;
}

async function deadLetters(argv: string[]): Promise<number> {
  const f = parseFlags('outbox dead-letters', usage, argv, { json: { type: 'boolean' }, limit: { type: 'string' } },
    z.object({ json: z.boolean().default(false), limit: whole('--limit', 1, 10_000).default(50) }));
  const { rows, total } = await withClient('dead-letters', async (c, s) => {
    const rows = (
      await c.query<Row>(
        `SELECT outbox_id::text AS outbox_id, event_type, object_key, attempts, redrive_count, dead_lettered_at, dead_lettered_by, last_error, errors
         FROM ${q(s, 'event_dead_letter')} ORDER BY dead_lettered_at, outbox_id LIMIT $1`,
        [f.limit],
      )
    ).rows;
    const total = Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${q(s, 'event_dead_letter')}`)).rows[0]!.n);
    return { rows, total };
  });
  if (f.json) printJson({ ok: true, total, shown: rows.length, dead_letters: rows });
  else {
    console.log(table(['outbox_id', 'event_type', 'object_key', 'attempts', 'dead_lettered_at', 'by', 'last_error'],
      rows.map((r) => [text(r.outbox_id), text(r.event_type), text(r.object_key), text(r.attempts), text(r.dead_lettered_at), text(r.dead_lettered_by), text(r.last_error)])));
    console.log(`${rows.length} of ${total} dead-lettered event(s) shown${rows.length < total ? ` (--limit ${f.limit})` : ''}`);
  }
  return 0;
}

async function redrive(argv: string[]): Promise<number> {
  const f = parseFlags('outbox redrive', usage, argv, { json: { type: 'boolean' }, all: { type: 'boolean' }, id: { type: 'string', multiple: true } },
    z.object({ json: z.boolean().default(false), all: z.boolean().default(false), id: z.array(whole('--id', 1, Number.MAX_SAFE_INTEGER)).optional() }));
  if (f.all === Boolean(f.id?.length)) throw usageError('outbox redrive', f.all ? 'give either --all or --id, not both' : 'give either --all or at least one --id N');
  const moved = await withClient('redrive', async (c, s) =>
    (await c.query<{ n: number }>(`SELECT ${q(s, 'outbox_redrive')}($1::bigint[]) AS n`, [f.all ? null : f.id!.map(String)])).rows[0]!.n,
  );
  if (f.json) printJson({ ok: true, redriven: moved });
  else console.log(`outbox redrive: ${moved} event(s) moved back to the outbox`);
  return 0;
}

async function purge(argv: string[]): Promise<number> {
  const f = parseFlags('outbox purge', usage, argv, { json: { type: 'boolean' }, batch: { type: 'string' }, 'max-batches': { type: 'string' } },
    z.object({ json: z.boolean().default(false), batch: whole('--batch', 1, 1_000_000).default(10_000), 'max-batches': whole('--max-batches', 1, Number.MAX_SAFE_INTEGER).optional() }));
  const cfg = connectionFromEnv();
  handleInterruptsCooperatively();
  const started = performance.now();
  const r = { purged: 0, batches: 0 };
  const elapsed = () => Math.round(performance.now() - started);
  let c: pg.Client | undefined;
  try {
    c = await connect(cfg.databaseUrl, 'birthgate outbox purge');
    // one statement per batch, each its own committed transaction: a stop loses nothing
    while (interruptedBy() === null) {
      const n = (await c.query<{ n: number }>(`SELECT ${q(cfg.schema, 'outbox_purge')}($1) AS n`, [f.batch])).rows[0]!.n;
      r.purged += n;
      r.batches++;
      progress(`outbox purge: ${r.batches} batch(es), ${r.purged} event(s) purged`);
      if (n < f.batch || (f['max-batches'] !== undefined && r.batches >= f['max-batches'])) break;
    }
  } catch (e) {
    progressDone();
    const { error, exit } = failureOf(e);
    if (f.json) printJson({ ok: false, exit_code: exit, ...r, elapsed_ms: elapsed(), error });
    const lines = [errorText('birthgate outbox purge', error)];
    if (r.batches > 0) lines.push(`(${r.batches} batch(es), ${r.purged} event(s) purged and committed before the failure)`);
    console.error(lines.join('\n'));
    return exit;
  } finally {
    await c?.end().catch(() => {});
  }
  progressDone();
  const signal = interruptedBy();
  if (signal) {
    const exit = signalExitCode(signal);
    const error: ErrorInfo = {
      class: 'interrupted',
      message: `interrupted by ${signal} after ${r.batches} batch(es); their ${r.purged} purged event(s) are committed, run it again for the rest`,
    };
    if (f.json) printJson({ ok: false, exit_code: exit, ...r, elapsed_ms: elapsed(), interrupted: true, error });
    else console.error(errorText('birthgate outbox purge', error));
    return exit;
  }
  const doc = { ok: true, purged: r.purged, batches: r.batches, elapsed_ms: elapsed() };
  if (f.json) printJson(doc);
  else console.log(`outbox purge: ${doc.purged} acknowledged event(s) past the retention purged in ${doc.batches} batch(es), ${doc.elapsed_ms} ms`);
  return EXIT.OK;
}

const subcommands: Record<string, (argv: string[]) => Promise<number>> = { status, 'dead-letters': deadLetters, redrive, purge };

export async function run(argv: string[]): Promise<number> {
  // the subcommand comes first (`outbox --json status` works too)
  const at = argv.findIndex((a) => a !== '--json');
  const sub = at < 0 ? undefined : argv[at]!;
  const fn = sub !== undefined && Object.hasOwn(subcommands, sub) ? subcommands[sub] : undefined;
  const names = Object.keys(subcommands).join(', ');
  if (!fn) throw usageError('outbox', sub === undefined ? `missing subcommand (one of ${names})` : `unknown subcommand '${sub.slice(0, 100)}' (one of ${names})`);
  return fn([...argv.slice(0, at), ...argv.slice(at + 1)]);
}
