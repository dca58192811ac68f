/**
 * Fault injection for the governance handoff (issue 9), real PostgreSQL, writers writing throughout:
 * 1. the consumer backend is killed (pg_terminate_backend) in the middle of a batch, several times;
 * 2. the server — a private cluster started here WITH fsync on — is stopped with `pg_ctl -m
 *    immediate` in the middle of a drain, restarted, and drained again.
 * "Mid-batch" is made certain by a statement trigger that sleeps inside the batch statement (after
 * the candidate rows are written, before the cursor moves); the kill waits for that sleep.
 * Afterwards: every committed birth has exactly one candidate row and one event, a rolled-back
 * birth none; a birth whose COMMIT was cut off by the crash is either fully there and handed off
 * once, or absent with nothing handed off.
 */
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { migrate } from '../src/migrate.js';
import { withDatabase } from '../src/db.js';
import { freshDatabase } from './helpers/db.js';

const run = promisify(execFile);
const S = 'birthgate';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function birth(c: pg.Client, code: string): Promise<void> {
  await c.query(
    `WITH r AS (
       INSERT INTO ${S}.birth_registry (collection_name, entity_code) VALUES ('fault_probe', $1)
       RETURNING registry_id, collection_name, entity_code, born_at)
     INSERT INTO ${S}.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
     SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r`,
    [code],
  );
}

const SLOW_TRIGGER = `
  CREATE FUNCTION public.fault_slow_batch() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN PERFORM pg_sleep(0.25); RETURN NULL; END $$;
  CREATE TRIGGER fault_slow_batch AFTER INSERT ON ${S}.governance_candidate_state
    FOR EACH STATEMENT EXECUTE FUNCTION public.fault_slow_batch();`;
const DROP_SLOW_TRIGGER = `DROP TRIGGER fault_slow_batch ON ${S}.governance_candidate_state; DROP FUNCTION public.fault_slow_batch();`;

interface Ledger {
  committed: Set<string>;
  rolledBack: Set<string>;
  inDoubt: Set<string>;
}

/** A writer: small transactions of 1–2 births, ~20% rolled back, until stop() says so; survives a dead connection. */
function writer(connect: () => Promise<pg.Client>, id: number, ledger: Ledger, stop: () => boolean) {
  return (async () => {
    let c: pg.Client | null = null;
    let t = 0;
    while (!stop()) {
      t++;
      const codes = Array.from({ length: 1 + (t % 2) }, (_, k) => `F-${id}${String(t).padStart(5, '0')}${k}`);
      const rollback = t % 5 === 0;
      try {
        c ??= await connect();
        await c.query('BEGIN');
        for (const code of codes) await birth(c, code);
        if (rollback) {
          await c.query('ROLLBACK');
          codes.forEach((x) => ledger.rolledBack.add(x));
        } else {
          try {
            await c.query('COMMIT');
            codes.forEach((x) => ledger.committed.add(x));
          } catch {
            codes.forEach((x) => ledger.inDoubt.add(x)); // COMMIT sent, no answer: outcome unknown
            throw new Error('commit cut off');
          }
        }
      } catch {
        // a transaction that failed before COMMIT was sent is rolled back
        for (const x of codes) if (!ledger.committed.has(x) && !ledger.inDoubt.has(x)) ledger.rolledBack.add(x);
        await c?.end().catch(() => {});
        c = null;
        await sleep(50);
      }
      await sleep(3);
    }
    await c?.end().catch(() => {});
  })();
}

/** Every committed birth exactly one candidate and one event; nothing for rolled-back ones; in-doubt ones all or nothing. */
async function checkInvariant(c: pg.Client, ledger: Ledger): Promise<void> {
  const rows = (
    await c.query<{ code: string; in_registry: boolean; candidates: string; events: string }>(
      `WITH codes AS (
         SELECT entity_code AS code FROM ${S}.birth_registry WHERE collection_name = 'fault_probe'
         UNION SELECT entity_code FROM ${S}.governance_candidate_state WHERE collection_name = 'fault_probe'
         UNION SELECT split_part(object_key, ':', 2) FROM ${S}.event_pending WHERE object_key LIKE 'fault\\_probe:%'
         UNION SELECT split_part(object_key, ':', 2) FROM ${S}.event_outbox WHERE object_key LIKE 'fault\\_probe:%')
       SELECT k.code,
              EXISTS (SELECT 1 FROM ${S}.birth_registry r WHERE r.collection_name = 'fault_probe' AND r.entity_code = k.code) AS in_registry,
              (SELECT count(*) FROM ${S}.governance_candidate_state g WHERE g.object_key = 'fault_probe:' || k.code) AS candidates,
              (SELECT count(*) FROM ${S}.event_pending p WHERE p.object_key = 'fault_probe:' || k.code)
              + (SELECT count(*) FROM ${S}.event_outbox o WHERE o.object_key = 'fault_probe:' || k.code) AS events
       FROM codes k`,
    )
  ).rows;
  const byCode = new Map(rows.map((r) => [r.code, r]));
  const lost = [...ledger.committed].filter((x) => !byCode.get(x)?.in_registry);
  const notOnce = rows.filter((r) => r.in_registry && (r.candidates !== '1' || r.events !== '1')).map((r) => r.code);
  const ghosts = rows.filter((r) => !r.in_registry).map((r) => r.code);
  const rolledBackPresent = [...ledger.rolledBack].filter((x) => byCode.has(x));
  expect(lost, 'committed births missing from the registry').toEqual([]);
  expect(notOnce, 'births without exactly one candidate and one event').toEqual([]);
  expect(ghosts, 'candidates/events without a birth').toEqual([]);
  expect(rolledBackPresent, 'rolled-back births that left something').toEqual([]);
  const lag = (await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${S}.v_handoff_lag`)).rows[0]!.n;
  expect(lag).toBe('0');
}

async function drainAll(c: pg.Client): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    const r = (await c.query<{ consumed: number }>(`SELECT consumed FROM ${S}.handoff_consume(5000)`)).rows[0]!;
    if (r.consumed < 5000) return;
  }
}

/** Waits (generous deadline) until a backend with this application_name sleeps inside the batch; returns its pid. */
async function waitForSleepingBatch(c: pg.Client, app: string, deadlineMs = 30_000): Promise<number> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    const r = await c.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event = 'PgSleep' LIMIT 1`,
      [app],
    );
    if (r.rows.length > 0) return r.rows[0]!.pid;
    await sleep(5);
  }
  throw new Error(`no ${app} batch seen sleeping within ${deadlineMs} ms`);
}

describe('handoff under faults', () => {
  it('the consumer backend killed mid-batch, again and again, while writers write', async () => {
    const db = await freshDatabase();
    try {
      const admin = await db.client();
      await admin.query(`INSERT INTO ${S}.birth_family (collection_name, table_name, code_column, code_pattern)
                         VALUES ('fault_probe', 'pg_catalog.pg_class', 'relname', '^F-[0-9]+$')`);
      await admin.query(SLOW_TRIGGER);
      const ledger: Ledger = { committed: new Set(), rolledBack: new Set(), inDoubt: new Set() };
      let stop = false;
      const connect = async () => {
        const c = new pg.Client({ connectionString: db.url, application_name: 'fault writer' });
        await c.connect();
        return c;
      };
      const writers = [1, 2].map((w) => writer(connect, w, ledger, () => stop));
      let consumerStop = false;
      let killedErrors = 0;
      const consumer = (async () => {
        while (!consumerStop) {
          const c = new pg.Client({ connectionString: db.url, application_name: 'fault consumer' });
          await c.connect();
          c.on('error', () => {});
          try {
            while (!consumerStop) await c.query(`SELECT * FROM ${S}.handoff_consume(50)`);
          } catch {
            killedErrors++;
          }
          await c.end().catch(() => {});
        }
      })();
      let kills = 0;
      for (let i = 0; i < 4; i++) {
        const pid = await waitForSleepingBatch(admin, 'fault consumer');
        const cursorBefore = (await admin.query(`SELECT position_snapshot::text AS p, rows_consumed FROM ${S}.handoff_cursor`)).rows[0];
        await admin.query('SELECT pg_terminate_backend($1)', [pid]);
        kills++;
        const cursorAfter = (await admin.query(`SELECT position_snapshot::text AS p, rows_consumed FROM ${S}.handoff_cursor`)).rows[0];
        expect(cursorAfter, 'a batch killed midway does not move the cursor').toEqual(cursorBefore);
        await sleep(100);
      }
      stop = true;
      await Promise.all(writers);
      consumerStop = true;
      await consumer;
      await admin.query(DROP_SLOW_TRIGGER);
      await drainAll(admin);
      console.log(
        `handoff-faults (kill): ${kills} consumer backends killed mid-batch (${killedErrors} seen by the consumer); ` +
          `${ledger.committed.size} committed, ${ledger.rolledBack.size} rolled back`,
      );
      expect(kills).toBe(4);
      expect(ledger.committed.size).toBeGreaterThan(0);
      await checkInvariant(admin, ledger);
    } finally {
      await db.drop();
    }
  });

  describe('immediate shutdown with fsync on', () => {
    const bindir = (() => {
      const base = '/usr/lib/postgresql';
      if (process.env.PG_BINDIR) return process.env.PG_BINDIR;
      const majors = existsSync(base) ? readdirSync(base).filter((d) => existsSync(join(base, d, 'bin', 'initdb'))) : [];
      majors.sort((a, b) => Number(b) - Number(a));
      return majors.length > 0 ? join(base, majors[0]!, 'bin') : null;
    })();
    const asRoot = process.getuid?.() === 0;
    const dir = mkdtempSync(join(tmpdir(), 'bg-crash-'));
    let port = 0;
    const owner = (cmd: string, args: string[]) => (asRoot ? run('runuser', ['-u', 'postgres', '--', cmd, ...args]) : run(cmd, args));
    const pgCtl = (...args: string[]) => owner(join(bindir!, 'pg_ctl'), ['-D', join(dir, 'data'), ...args]);
    const start = () =>
      pgCtl('-l', join(dir, 'server.log'), '-w', '-t', '60', 'start', '-o',
        `-c port=${port} -c listen_addresses='' -c unix_socket_directories='${dir}' -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_connections=50`);
    afterAll(async () => {
      await pgCtl('-m', 'immediate', '-w', 'stop').catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    });

    it.skipIf(!bindir)('the server stopped with -m immediate mid-drain, restarted and drained again: nothing lost, nothing twice', async () => {
      if (asRoot) chownSync(dir, Number((await run('id', ['-u', 'postgres'])).stdout.trim()), Number((await run('id', ['-g', 'postgres'])).stdout.trim()));
      port = await new Promise<number>((resolve) => {
        const s = createServer();
        s.listen(0, '127.0.0.1', () => {
          const p = (s.address() as { port: number }).port;
          s.close(() => resolve(p));
        });
      });
      await owner(join(bindir!, 'initdb'), ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
      await start();
      const url = withDatabase(`postgresql://postgres@localhost:${port}/postgres?host=${dir}`, 'crash_probe');
      const admin0 = new pg.Client(withDatabase(url, 'postgres'));
      await admin0.connect();
      await admin0.query('CREATE DATABASE crash_probe');
      await admin0.end();
      await migrate({ databaseUrl: url, direction: 'up' });
      const connectTo = async (app: string) => {
        const c = new pg.Client({ connectionString: url, application_name: app });
        c.on('error', () => {});
        await c.connect();
        return c;
      };
      let admin = await connectTo('crash admin');
      await admin.query(`INSERT INTO ${S}.birth_family (collection_name, table_name, code_column, code_pattern)
                         VALUES ('fault_probe', 'pg_catalog.pg_class', 'relname', '^F-[0-9]+$')`);
      // a backlog the drain is working through when the server goes down
      await admin.query(`BEGIN`);
      for (let i = 0; i < 300; i++) await birth(admin, `F-9${String(i).padStart(5, '0')}`);
      await admin.query(`COMMIT`);
      const ledger: Ledger = { committed: new Set(), rolledBack: new Set(), inDoubt: new Set() };
      for (let i = 0; i < 300; i++) ledger.committed.add(`F-9${String(i).padStart(5, '0')}`);
      await admin.query(SLOW_TRIGGER);
      let stop = false;
      const writers = [1, 2].map((w) => writer(() => connectTo('crash writer'), w, ledger, () => stop));
      const drainer = await connectTo('crash consumer');
      const drain = drainer.query(`CALL ${S}.handoff_drain(40)`).then(
        () => 'completed',
        () => 'cut off',
      );
      // let two batches commit, then stop the server inside the third
      for (let i = 0; i < 3; i++) {
        const pid = await waitForSleepingBatch(admin, 'crash consumer');
        if (i < 2) {
          while ((await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event = $2', [pid, 'PgSleep'])).rows.length > 0) await sleep(5);
        }
      }
      const before = (await admin.query<{ n: string }>(`SELECT rows_consumed::text AS n FROM ${S}.handoff_cursor`)).rows[0]!.n;
      await pgCtl('-m', 'immediate', '-w', 'stop');
      expect(await drain).toBe('cut off');
      await admin.end().catch(() => {});
      await drainer.end().catch(() => {});
      await start();
      admin = await connectTo('crash admin');
      const after = (await admin.query<{ n: string }>(`SELECT rows_consumed::text AS n FROM ${S}.handoff_cursor`)).rows[0]!.n;
      expect(Number(after), 'the batches committed before the crash survived it (fsync on)').toBe(Number(before));
      expect(Number(after)).toBeGreaterThan(0);
      await admin.query(DROP_SLOW_TRIGGER);
      await sleep(300); // writers reconnect and write on the restarted server
      stop = true;
      await Promise.all(writers);
      await admin.query(`CALL ${S}.handoff_drain(5000)`);
      console.log(
        `handoff-faults (crash): drain cut off after ${before} rows; after restart ${ledger.committed.size} committed, ` +
          `${ledger.rolledBack.size} rolled back, ${ledger.inDoubt.size} in doubt (COMMIT cut off)`,
      );
      await checkInvariant(admin, ledger);
      await admin.end();
    });
  });
});
