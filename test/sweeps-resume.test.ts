/**
 * Sweeps killed mid-run and resumed, with writers inserting throughout (real PostgreSQL, several
 * sessions, the CLI as a child process):
 *  - `birthgate adopt` SIGKILLed, then interrupted with SIGINT (exit 130, JSON interrupted), then run
 *    to the end: every row of the family table is registered exactly once (one registry row, one
 *    BORN changelog row per code), whether adoption or the gate (report mode) registered it;
 *  - `birthgate backfill` whose backend is terminated (pg_terminate_backend) mid-run, with the
 *    consumer running at the same time: one candidate per BORN object, one event per object.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { databasesDroppedAfterAll, type TestDb } from './helpers/db.js';

const root = resolve(import.meta.dirname, '..');
const S = 'birthgate';
const dbs = databasesDroppedAfterAll();

interface Child {
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  kill(sig: NodeJS.Signals): void;
}
function cli(args: string[], url: string): Child {
  const p = spawn(process.execPath, ['bin/birthgate.mjs', ...args], { cwd: root, env: { ...process.env, DATABASE_URL: url } });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d) => (stdout += d));
  p.stderr.on('data', (d) => (stderr += d));
  return {
    done: new Promise((done) => p.on('close', (code, signal) => done({ code, signal, stdout, stderr }))),
    kill: (sig) => p.kill(sig),
  };
}
async function until(what: string, check: () => Promise<boolean>, deadlineMs = 90_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((d) => setTimeout(d, 50));
  }
  throw new Error(`timed out waiting for: ${what}`);
}
/** Writers inserting through the gate (report mode: registered without a permit) until stopped. */
function writers(clients: pg.Client[], prefix: string) {
  let stop = false;
  let written = 0;
  const runs = clients.map(async (c, w) => {
    for (let i = 0; !stop; i++) {
      await c.query(`INSERT INTO app.items (code) VALUES ($1)`, [`${prefix}-${w}-${i}`]);
      written++;
    }
  });
  return {
    async stop() {
      stop = true;
      await Promise.all(runs);
      return written;
    },
  };
}
async function n(c: pg.Client, sql: string): Promise<number> {
  return Number((await c.query(sql)).rows[0].n);
}

describe('sweeps killed and resumed under concurrent writers', () => {
  let db: TestDb;
  let c: pg.Client;

  beforeAll(async () => {
    db = await dbs.fresh();
    c = await db.client();
    await c.query(`CREATE SCHEMA app; CREATE TABLE app.items (id bigserial PRIMARY KEY, code text); CREATE INDEX ON app.items (code)`);
    await c.query(`INSERT INTO app.items (code) SELECT 'I-' || g FROM generate_series(1, 20000) AS g`);
    await c.query(`INSERT INTO app.items (code) VALUES (NULL), ('oops')`);
    await c.query(`ANALYZE app.items`);
    await c.query(`SELECT ${S}.register_family('items', 'app.items', 'code', '^[A-Z]-[0-9-]+$', 'report')`);
  });

  it('adopt: SIGKILL, SIGINT, resume: every object registered exactly once', async () => {
    const w = writers([await db.client(), await db.client()], 'W');
    const rowsDone = () => n(c, `SELECT coalesce(max(rows_done), 0) AS n FROM ${S}.sweep_cursor WHERE sweep_name = 'adopt:items'`);

    // 1. killed hard mid-run
    let run = cli(['adopt', 'items', '--batch-size', '500', '--max-batches-per-minute', '600', '--json'], db.url);
    await until('adoption under way', async () => (await rowsDone()) >= 2000);
    run.kill('SIGKILL');
    const killed = await run.done;
    expect(killed.signal).toBe('SIGKILL');
    const afterKill = await rowsDone();
    expect(afterKill).toBeLessThan(20000);

    // 2. resumed, then interrupted with Ctrl-C: exit 130, one JSON line saying so
    run = cli(['adopt', 'items', '--batch-size', '500', '--max-batches-per-minute', '600', '--json'], db.url);
    await until('adoption resumed', async () => (await rowsDone()) >= afterKill + 1000);
    run.kill('SIGINT');
    const interrupted = await run.done;
    expect(interrupted.code, interrupted.stderr).toBe(130);
    const j = JSON.parse(interrupted.stdout.trim()) as Record<string, unknown>;
    expect(j).toMatchObject({ ok: false, exit_code: 130, interrupted: true, finished: false, sweep: 'adopt:items', error: { class: 'interrupted' } });
    expect(Number(j.rows_done)).toBeGreaterThan(afterKill); // the same run went on from its cursor

    // 3. resumed to the end while the writers keep inserting
    const last = cli(['adopt', 'items', '--batch-size', '500', '--json'], db.url);
    const end = await last.done;
    expect(end.code, end.stderr).toBe(0);
    expect(JSON.parse(end.stdout.trim())).toMatchObject({ ok: true, finished: true, run_id: j.run_id });
    const written = await w.stop();
    expect(written).toBeGreaterThan(0);

    // every valid code registered exactly once, with one BORN changelog row
    expect(await n(c, `SELECT count(*) AS n FROM app.items t WHERE t.code ~ '^[A-Z]-[0-9-]+$'
                         AND NOT EXISTS (SELECT 1 FROM ${S}.birth_registry r WHERE r.collection_name = 'items' AND r.entity_code = t.code)`)).toBe(0);
    expect(await n(c, `SELECT count(*) AS n FROM ${S}.birth_registry WHERE collection_name = 'items'`)).toBe(20000 + written);
    expect(await n(c, `SELECT count(*) AS n FROM (SELECT object_key FROM ${S}.registry_changelog WHERE collection_name = 'items'
                         GROUP BY 1 HAVING count(*) <> 1) d`)).toBe(0);
    expect(await n(c, `SELECT count(*) AS n FROM ${S}.registry_changelog WHERE collection_name = 'items'`)).toBe(20000 + written);
    expect(await n(c, `SELECT count(*) AS n FROM ${S}.registry_changelog WHERE collection_name = 'items' AND (detail ->> 'adopted')::boolean`)).toBe(20000);
    // what could not be adopted is a finding, not silence
    const findings = (await c.query(`SELECT kind, occurrences::int AS o FROM ${S}.v_sweep_findings WHERE sweep_name = 'adopt:items' ORDER BY kind`)).rows;
    expect(findings).toEqual(expect.arrayContaining([{ kind: 'null_code', o: 1 }, { kind: 'pattern_mismatch', o: 1 }]));
  });

  it('backfill: backend terminated mid-run, consumer running, writers inserting: one candidate and one event per object', async () => {
    // objects born before the handoff: 20000+ adopted above; the consumer has not run yet
    const w = writers([await db.client()], 'B');
    const consumer = await db.client();
    let stopConsumer = false;
    const consuming = (async () => {
      while (!stopConsumer) {
        await consumer.query(`SELECT * FROM ${S}.handoff_consume(700)`);
        await new Promise((d) => setTimeout(d, 20));
      }
    })();
    const rowsDone = () => n(c, `SELECT coalesce(max(rows_done), 0) AS n FROM ${S}.sweep_cursor WHERE sweep_name = 'backfill'`);

    let run = cli(['backfill', '--batch-size', '500', '--max-batches-per-minute', '600', '--json'], db.url);
    await until('backfill under way', async () => (await rowsDone()) >= 2000);
    await c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'birthgate backfill' AND datname = current_database()`);
    const failed = await run.done;
    expect(failed.code, failed.stderr).toBe(1);

    run = cli(['backfill', '--batch-size', '500', '--json'], db.url);
    const end = await run.done;
    expect(end.code, end.stderr).toBe(0);
    expect(JSON.parse(end.stdout.trim())).toMatchObject({ ok: true, finished: true });

    await w.stop();
    stopConsumer = true;
    await consuming;
    // drain what is left, then the invariants
    const drain = cli(['consume', '--until-empty', '--json'], db.url);
    expect((await drain.done).code).toBe(0);
    expect(await n(c, `SELECT count(*) AS n FROM ${S}.v_handoff_lag`)).toBe(0);
    expect(await n(c, `SELECT count(*) AS n FROM ${S}.governance_candidate_state`)).toBe(
      await n(c, `SELECT count(*) AS n FROM ${S}.birth_registry WHERE status = 'BORN'`),
    );
    expect(await n(c, `SELECT count(*) AS n FROM (SELECT object_key FROM (SELECT object_key FROM ${S}.event_pending UNION ALL SELECT object_key FROM ${S}.event_outbox) e
                         GROUP BY 1 HAVING count(*) <> 1) d`)).toBe(0);
    expect(await n(c, `SELECT count(*) AS n FROM ${S}.event_pending`)).toBe(await n(c, `SELECT count(*) AS n FROM ${S}.birth_registry`));
  });
});
