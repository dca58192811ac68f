/**
 * handoff_consume under REPEATABLE READ / SERIALIZABLE racing a READ COMMITTED consumer, with births
 * committing between the consumers' snapshots and their cursor reads (seeded: HANDOFF_SEED=<n>
 * reproduces the schedule; the seed is printed). Every committed BORN changelog row must become
 * exactly one event (one lane), and no rolled-back birth any. Also `birthgate consume` on a database
 * whose default_transaction_isolation is serializable, births running concurrently.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { freshDatabase, type TestDb } from './helpers/db.js';
import { runCli, oneJsonLine } from './helpers/cli.js';
import { prng } from './helpers/random.js';

const S = 'birthgate';
const WRITERS = 3;
const TXNS = 60;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function birth(c: pg.Client, collection: string, code: string): Promise<void> {
  await c.query(
    `WITH r AS (
       INSERT INTO ${S}.birth_registry (collection_name, entity_code) VALUES ($1, $2)
       RETURNING registry_id, collection_name, entity_code, born_at)
     INSERT INTO ${S}.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
     SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r`,
    [collection, code],
  );
}

async function eventsByCode(c: pg.Client, collection: string): Promise<Map<string, string>> {
  const rows = (
    await c.query<{ code: string; lanes: string }>(
      `SELECT split_part(object_key, ':', 2) AS code, string_agg(lane, ',' ORDER BY lane) AS lanes FROM (
         SELECT object_key, 'pending' AS lane FROM ${S}.event_pending
         UNION ALL SELECT object_key, 'outbox' FROM ${S}.event_outbox) e
       WHERE split_part(object_key, ':', 1) = $1 GROUP BY object_key`,
      [collection],
    )
  ).rows;
  return new Map(rows.map((r) => [r.code, r.lanes]));
}

describe('breaker11: handoff_consume RR/SERIALIZABLE vs READ COMMITTED, births in between', () => {
  let db: TestDb;
  const seed = Number(process.env.HANDOFF_SEED ?? Date.now() % 2 ** 31);

  beforeAll(async () => {
    db = await freshDatabase();
    const c = await db.client();
    for (const [name, table, column] of [['b11_rr', 'pg_catalog.pg_class', 'relname'], ['b11_cli', 'pg_catalog.pg_type', 'typname']]) {
      await c.query(`INSERT INTO ${S}.birth_family (collection_name, table_name, code_column, code_pattern)
                     VALUES ($1, $2::regclass, $3, '^w[0-9]+-[0-9]+-[0-9]+$')`, [name, table, column]);
    }
    console.log(`breaker11-handoff: seed ${seed} (reproduce with HANDOFF_SEED=${seed})`);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('every committed birth becomes exactly one event, whatever the consumers\' isolation levels', async () => {
    const committed = new Set<string>();
    const rolledBack = new Set<string>();
    let writersDone = 0;
    let failed = false;
    const running = () => writersDone < WRITERS && !failed;
    const guard = async (task: () => Promise<void>) => {
      try {
        await task();
      } catch (e) {
        failed = true;
        throw e;
      }
    };
    const stats = { rr: 0, rrSkipped: 0, rrRetried: 0, rc: 0, rcSkipped: 0, rrConsumed: 0, rcConsumed: 0 };

    const writer = async (w: number) => {
      const rnd = prng(seed + w * 7919);
      const c = await db.client();
      for (let t = 0; t < TXNS && !failed; t++) {
        const codes = Array.from({ length: 1 + Math.floor(rnd() * 3) }, (_, k) => `w${w}-${t}-${k}`);
        await c.query('BEGIN');
        if (rnd() < 0.5) await c.query('SELECT pg_current_xact_id()');
        for (const code of codes) await birth(c, 'b11_rr', code);
        await sleep(rnd() * 20);
        if (rnd() < 0.15) {
          await c.query('ROLLBACK');
          codes.forEach((x) => rolledBack.add(x));
        } else {
          await c.query('COMMIT');
          codes.forEach((x) => committed.add(x));
        }
        await sleep(rnd() * 10);
      }
      writersDone++;
    };

    // the RR / SERIALIZABLE consumer: takes its snapshot first (sometimes), lets births commit and
    // the RC consumer advance, then consumes in the same transaction, sometimes twice
    const snapshotConsumer = async () => {
      const rnd = prng(seed + 1000);
      const c = await db.client();
      while (running()) {
        const level = rnd() < 0.5 ? 'REPEATABLE READ' : 'SERIALIZABLE';
        await c.query(`BEGIN ISOLATION LEVEL ${level}`);
        try {
          if (rnd() < 0.7) await c.query('SELECT count(*) FROM birthgate.handoff_cursor'); // snapshot now
          await sleep(rnd() * 30);
          for (let k = 0, n = 1 + Math.floor(rnd() * 2); k < n; k++) {
            const r = (await c.query<{ consumed: number; lag: string | null }>(`SELECT * FROM ${S}.handoff_consume($1)`, [1 + Math.floor(rnd() * 6)])).rows[0]!;
            stats.rr++;
            stats.rrConsumed += r.consumed;
            if (r.lag === null) stats.rrSkipped++;
            await sleep(rnd() * 10);
          }
          await c.query('COMMIT');
        } catch (e) {
          await c.query('ROLLBACK');
          // a serialization failure of the SERIALIZABLE transaction at COMMIT (or a raw 40001) is
          // the caller's to retry; it must never lose a row
          if ((e as { code?: string }).code !== '40001') throw e;
          stats.rrRetried++;
        }
        await sleep(rnd() * 10);
      }
    };

    const rcConsumer = async () => {
      const rnd = prng(seed + 2000);
      const c = await db.client();
      while (running()) {
        const r = (await c.query<{ consumed: number; lag: string | null }>(`SELECT * FROM ${S}.handoff_consume($1)`, [1 + Math.floor(rnd() * 6)])).rows[0]!;
        stats.rc++;
        stats.rcConsumed += r.consumed;
        if (r.lag === null) stats.rcSkipped++;
        await sleep(rnd() * 20);
      }
    };

    await Promise.all([
      ...Array.from({ length: WRITERS }, (_, w) => guard(() => writer(w))),
      guard(() => snapshotConsumer()),
      guard(() => rcConsumer()),
    ]);

    const c = await db.client();
    await c.query(`CALL ${S}.handoff_drain(50)`);
    const final = (await c.query<{ consumed: number; lag: string }>(`SELECT * FROM ${S}.handoff_consume(1000)`)).rows[0]!;
    console.log(`breaker11-handoff: seed ${seed}: ${committed.size} committed, ${rolledBack.size} rolled back; ${JSON.stringify(stats)}`);
    expect(final.consumed).toBe(0);
    expect(Number(final.lag)).toBe(0);
    expect(committed.size).toBeGreaterThan(30);

    const ev = await eventsByCode(c, 'b11_rr');
    const notOne = [...committed].filter((x) => !['pending', 'outbox'].includes(ev.get(x) ?? ''));
    const ghosts = [...rolledBack].filter((x) => ev.has(x));
    expect(notOne.map((x) => `${x}:${ev.get(x) ?? 'none'}`), `seed ${seed}: committed births without exactly one event`).toEqual([]);
    expect(ghosts, `seed ${seed}: rolled-back births handed off`).toEqual([]);
    expect(ev.size).toBe(committed.size);
    // every BORN changelog row of the collection is one event
    const born = (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${S}.registry_changelog WHERE op = 'BORN' AND collection_name = 'b11_rr'`)).rows[0]!.n;
    expect(born).toBe(ev.size);
  });

  it('birthgate consume on a database whose default_transaction_isolation is serializable, births running', async () => {
    const c = await db.client();
    await c.query(`ALTER DATABASE ${db.name} SET default_transaction_isolation = 'serializable'`);
    const rnd = prng(seed + 5000);
    const committed: string[] = [];
    let stop = false;
    const births = (async () => {
      const w = await db.client();
      for (let t = 0; !stop && t < 200; t++) {
        const code = `w9-${t}-0`;
        try {
          await w.query('BEGIN');
          await birth(w, 'b11_cli', code);
          await w.query('COMMIT');
          committed.push(code);
        } catch (e) {
          await w.query('ROLLBACK');
          if ((e as { code?: string }).code !== '40001') throw e;
        }
        await sleep(rnd() * 15);
      }
    })();
    const results: Array<Record<string, any>> = [];
    for (let k = 0; k < 6; k++) {
      const r = await runCli(['consume', '--batch-size', String(1 + Math.floor(rnd() * 4)), '--until-empty', '--json'], { DATABASE_URL: db.url });
      expect(r.code, r.stderr).toBe(0);
      results.push(oneJsonLine(r.stdout));
      await sleep(20);
    }
    stop = true;
    await births;
    const r = await runCli(['consume', '--until-empty', '--json'], { DATABASE_URL: db.url });
    expect(r.code, r.stderr).toBe(0);
    console.log(`breaker11-handoff CLI: ${committed.length} births, runs ${JSON.stringify(results.map((x) => x.consumed))}`);
    await c.query(`ALTER DATABASE ${db.name} RESET default_transaction_isolation`);
    const ev = await eventsByCode(c, 'b11_cli');
    expect(committed.filter((x) => !['pending', 'outbox'].includes(ev.get(x) ?? '')), `seed ${seed}`).toEqual([]);
    expect(ev.size).toBe(committed.length);
  });
});
