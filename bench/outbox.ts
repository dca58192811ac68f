/**
 * bench/outbox.ts — outbox delivery throughput and bloat (make bench, BENCH=outbox).
 *
 * For 1 and 4 workers, over BENCH_EVENTS events (default 1,000,000), each run from a freshly
 * loaded, vacuumed table:
 *  - baseline: a pgmq-style pop loop on an identical copy of event_outbox (CREATE TABLE ... (LIKE
 *    event_outbox INCLUDING ALL): same columns, same indexes, same rows): one statement per batch,
 *    WITH cte AS (SELECT ... ORDER BY visible_at, outbox_id LIMIT n FOR UPDATE SKIP LOCKED)
 *    DELETE ... RETURNING — at-most-once, no visibility timeout, nothing left behind;
 *  - for reference, pgmq's own at-least-once path on the same copy: read (UPDATE the visibility
 *    time) then archive (DELETE + INSERT into an archive table), two statements per batch;
 *  - outbox: per batch SELECT ... FROM outbox_claim(worker, n) then SELECT outbox_ack(ids, worker)
 *    — two transactions, at-least-once with a visibility timeout, a receipt per acknowledgement
 *    retained (outbox_receipt).
 * Fairness: every loop takes batches of BENCH_BATCH through one connection per worker, one
 * statement per transaction (autocommit), the same worker counts, from a freshly loaded and
 * vacuumed table with the same rows, columns and indexes (the copy keeps the default fillfactor
 * 100, i.e. it is denser than event_outbox and starts smaller).
 * Prints events/s of each, the ratio outbox/baseline (target >= 0.8), and the size of event_outbox
 * (table + indexes) and of outbox_receipt before, right after the run, and after VACUUM (bloat).
 *
 * Stability: BENCH_REPEAT (default 1) repeats every measurement on a freshly loaded table and
 * prints the median with the spread (min..max) of each loop and of the ratio (each repetition's
 * outbox run against the baseline run of the same repetition), so one lucky or unlucky run on a
 * shared machine does not decide the verdict.
 *
 * Env: DATABASE_URL (a server where we may create a database), BENCH_EVENTS (default 1000000),
 * BENCH_BATCH (default 100), BENCH_REPEAT (default 1). Progress goes to stderr.
 */
import pg from 'pg';
import { migrate } from '../src/migrate.js';
import { withDatabase } from '../src/db.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 100);
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? 1));
const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) throw new Error('DATABASE_URL is not set (make bench sets it)');
const dbName = `bg_bench_outbox_${process.pid}`;
const S = 'birthgate';
const BASE = 'public.bench_pgmq_queue';

const tty = process.stderr.isTTY;
const progress = (t: string) => tty && process.stderr.write(`\r\x1b[2K${t}`);
const note = (t: string) => process.stderr.write(`${tty ? '\r\x1b[2K' : ''}${t}\n`);
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const mb = (b: number) => `${fmt(b / 1048576, 1)} MB`;

/** The handoff payload shape (same size as a real handoff.object_born event). */
const PAYLOAD = `jsonb_build_object('change_id', g, 'txid', (1000 + g / 50000)::text, 'op', 'BORN', 'collection_name', 'bench',
  'entity_code', 'B-' || g, 'object_key', 'bench:B-' || g, 'registry_id', g, 'born_at', now(), 'changed_at', now(),
  'actor', 'bench', 'detail', '{}'::jsonb)`;

async function load(c: pg.Client, table: string): Promise<void> {
  await c.query(`TRUNCATE ${table}`);
  for (let from = 1; from <= EVENTS; from += 250_000) {
    const to = Math.min(EVENTS, from + 250_000 - 1);
    await c.query(
      `INSERT INTO ${table} (event_type, object_key, born_at, payload, source_change_id)
       SELECT 'handoff.object_born', 'bench:B-' || g, now(), ${PAYLOAD}, g FROM generate_series($1::bigint, $2::bigint) AS g`,
      [from, to],
    );
    progress(`load ${table}: ${fmt(to)} / ${fmt(EVENTS)}`);
  }
  await c.query(`VACUUM ANALYZE ${table}`);
  await c.query('CHECKPOINT');
}

async function size(c: pg.Client, table: string): Promise<{ table: number; index: number }> {
  const r = (await c.query<{ t: string; i: string }>(`SELECT pg_table_size($1::regclass) AS t, pg_indexes_size($1::regclass) AS i`, [table])).rows[0]!;
  return { table: Number(r.t), index: Number(r.i) };
}

type Loop = (c: pg.Client, worker: string) => Promise<number>;

const pgmqPop: Loop = async (c) =>
  (
    await c.query(
      `WITH cte AS (
         SELECT q.outbox_id FROM ${BASE} AS q
         WHERE q.delivered_at IS NULL AND q.visible_at <= clock_timestamp()
         ORDER BY q.visible_at, q.outbox_id
         LIMIT $1
         FOR UPDATE SKIP LOCKED)
       DELETE FROM ${BASE} AS q USING cte WHERE q.outbox_id = cte.outbox_id
       RETURNING q.outbox_id, q.event_type, q.object_key, q.payload, q.attempts`,
      [BATCH],
    )
  ).rowCount ?? 0;

/** pgmq's at-least-once path on the same kind of table: read (UPDATE the visibility), then archive (DELETE + INSERT into an archive). */
const ARCHIVE = 'public.bench_pgmq_archive';
const pgmqReadArchive: Loop = async (c) => {
  const ids = (
    await c.query<{ outbox_id: string }>(
      `WITH cte AS (
         SELECT q.outbox_id FROM ${BASE} AS q
         WHERE q.delivered_at IS NULL AND q.visible_at <= clock_timestamp()
         ORDER BY q.visible_at, q.outbox_id
         LIMIT $1
         FOR UPDATE SKIP LOCKED)
       UPDATE ${BASE} AS q SET visible_at = clock_timestamp() + interval '30 seconds', attempts = q.attempts + 1
       FROM cte WHERE q.outbox_id = cte.outbox_id
       RETURNING q.outbox_id, q.event_type, q.object_key, q.payload, q.attempts`,
      [BATCH],
    )
  ).rows.map((r) => r.outbox_id);
  if (ids.length === 0) return 0;
  await c.query(
    `WITH a AS (DELETE FROM ${BASE} AS q WHERE q.outbox_id = ANY ($1::bigint[]) RETURNING q.*)
     INSERT INTO ${ARCHIVE} SELECT * FROM a`,
    [ids],
  );
  return ids.length;
};

const claimAck: Loop = async (c, worker) => {
  const ids = (await c.query<{ outbox_id: string }>(`SELECT outbox_id, event_type, object_key, payload, attempt FROM ${S}.outbox_claim($1, $2)`, [worker, BATCH])).rows.map(
    (r) => r.outbox_id,
  );
  if (ids.length === 0) return 0;
  const n = (await c.query<{ n: number }>(`SELECT ${S}.outbox_ack($1::bigint[], $2) AS n`, [ids, worker])).rows[0]!.n;
  if (n !== ids.length) throw new Error(`ack acknowledged ${n} of ${ids.length}`);
  return n;
};

async function run(url: string, label: string, workers: number, loop: Loop): Promise<{ ms: number; events: number }> {
  const clients = await Promise.all(
    Array.from({ length: workers }, async (_, i) => {
      const c = new pg.Client({ connectionString: url, application_name: `bench outbox ${label} ${i}` });
      await c.connect();
      return c;
    }),
  );
  let done = 0;
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (c, i) => {
      let empty = 0;
      while (empty < 2) {
        const n = await loop(c, `bench-worker-${i}`);
        done += n;
        empty = n === 0 ? empty + 1 : 0;
        if (done % 50_000 < BATCH) progress(`${label}, ${workers} worker(s): ${fmt(done)} / ${fmt(EVENTS)}`);
      }
    }),
  );
  const ms = performance.now() - t0;
  await Promise.all(clients.map((c) => c.end()));
  return { ms, events: done };
}

async function main(): Promise<void> {
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName}`);
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = withDatabase(adminUrl!, dbName);
  const c = new pg.Client({ connectionString: url, application_name: 'bench outbox' });
  try {
    await migrate({ databaseUrl: url, direction: 'up' });
    await c.connect();
    await c.query(`SELECT ${S}.set_event_type_active('handoff.object_born', true)`);
    await c.query(`CREATE TABLE ${BASE} (LIKE ${S}.event_outbox INCLUDING ALL)`);
    await c.query(`CREATE TABLE ${ARCHIVE} (LIKE ${S}.event_outbox INCLUDING DEFAULTS)`);
    console.log(`outbox delivery: ${fmt(EVENTS)} events, batch ${BATCH}, PostgreSQL ${(await c.query('SHOW server_version')).rows[0].server_version}`);
    const lines: string[] = [];
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
    const spread = (xs: number[], d = 0) =>
      REPEAT === 1 ? fmt(xs[0]!, d) : `${fmt(median(xs), d)} (${fmt(Math.min(...xs), d)}..${fmt(Math.max(...xs), d)} over ${REPEAT} runs)`;
    for (const workers of [1, 4]) {
      const rb: number[] = [];
      const rra: number[] = [];
      const ro: number[] = [];
      const ratio: number[] = [];
      let sizes = '';
      for (let rep = 0; rep < REPEAT; rep++) {
        await load(c, BASE);
        const base = await run(url, 'pgmq-style DELETE ... RETURNING', workers, pgmqPop);
        await load(c, BASE);
        const ra = await run(url, 'pgmq-style read + archive', workers, pgmqReadArchive);
        await c.query(`TRUNCATE ${BASE}, ${ARCHIVE}`);
        await load(c, `${S}.event_outbox`);
        const before = await size(c, `${S}.event_outbox`);
        const ob = await run(url, 'outbox_claim + outbox_ack', workers, claimAck);
        const after = await size(c, `${S}.event_outbox`);
        const receipts = await size(c, `${S}.outbox_receipt`);
        await c.query(`VACUUM ${S}.event_outbox`);
        const vacuumed = await size(c, `${S}.event_outbox`);
        const left = Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${S}.event_outbox WHERE delivered_at IS NULL`)).rows[0]!.n);
        if (base.events !== EVENTS || ra.events !== EVENTS || ob.events !== EVENTS || left !== 0) throw new Error(`incomplete run: baseline ${base.events}, outbox ${ob.events}, undelivered ${left}`);
        rb.push((base.events * 1000) / base.ms);
        rra.push((ra.events * 1000) / ra.ms);
        ro.push((ob.events * 1000) / ob.ms);
        ratio.push(ro.at(-1)! / rb.at(-1)!);
        sizes = `  event_outbox table + indexes: before ${mb(before.table)} + ${mb(before.index)}; after claim+ack of all ${mb(after.table)} + ${mb(after.index)}; after VACUUM ${mb(vacuumed.table)} + ${mb(vacuumed.index)}; outbox_receipt (the receipts of all ${fmt(ob.events)}) ${mb(receipts.table)} + ${mb(receipts.index)}`;
        await c.query(`TRUNCATE ${S}.event_outbox, ${S}.outbox_receipt`);
      }
      note('');
      const out = [
        `${workers} worker(s): pgmq-style DELETE ... RETURNING ${spread(rb)} events/s; outbox_claim + outbox_ack ${spread(ro)} events/s; ratio ${spread(ratio, 2)} (target >= 0.80)`,
        `  for reference, pgmq-style read (visibility UPDATE) + archive (DELETE + INSERT): ${spread(rra)} events/s; outbox/that ${spread(ro.map((x, i) => x / rra[i]!), 2)}`,
        sizes,
      ];
      for (const l of out) console.log(l);
      lines.push(...out);
    }
  } finally {
    await c.end().catch(() => {});
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
