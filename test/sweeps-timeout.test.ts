/**
 * A statement timeout inside a sweep batch (migration 000012), real PostgreSQL, several sessions:
 * another session holds a lock the batch needs (SHARE on governance_candidate_state), so the
 * batch's INSERT waits until the statement timeout cancels it.
 *  - sweep_backfill_run (pg_cron): the job's statement_timeout cancels the CALL in a batch; the
 *    procedure records the timeout in the cursor (error_count, last_error), halves the adaptive
 *    batch size, commits that, and ends with 57014; the next CALL resumes and finishes;
 *  - `birthgate backfill --statement-timeout`: the timed-out batch is recorded and retried with
 *    backoff (the adaptive size halved by sweep_note) until the lock is gone; the run finishes.
 * Either way every BORN object ends with exactly one candidate. No fixed sleeps: polls with
 * generous deadlines; no durations asserted.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { databasesDroppedAfterAll, type TestDb } from './helpers/db.js';

const root = resolve(import.meta.dirname, '..');
const S = 'birthgate';
const dbs = databasesDroppedAfterAll();

async function until(what: string, check: () => Promise<boolean>, deadlineMs = 120_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((d) => setTimeout(d, 50));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

/** `count` objects born (registry + changelog, as the gate writes them), not handed off. */
async function born(c: pg.Client, prefix: string, count: number): Promise<void> {
  await c.query(`WITH r AS (
      INSERT INTO ${S}.birth_registry (collection_name, entity_code)
      SELECT 'tfam', $1 || g FROM generate_series(1, $2::integer) AS g
      RETURNING registry_id, collection_name, entity_code, born_at)
    INSERT INTO ${S}.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
    SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r ORDER BY r.registry_id`, [prefix, count]);
}

async function oneCandidateEach(c: pg.Client): Promise<{ objects: number; candidates: number; distinct: number }> {
  const r = await c.query(`SELECT (SELECT count(*) FROM ${S}.birth_registry WHERE collection_name = 'tfam' AND status = 'BORN')::int AS objects,
                                  (SELECT count(*) FROM ${S}.governance_candidate_state WHERE collection_name = 'tfam')::int AS candidates,
                                  (SELECT count(DISTINCT object_key) FROM ${S}.governance_candidate_state WHERE collection_name = 'tfam')::int AS distinct`);
  return r.rows[0];
}

describe('a statement timeout inside a sweep batch', () => {
  let db: TestDb;
  let c: pg.Client;

  beforeAll(async () => {
    db = await dbs.fresh();
    c = await db.client();
    await c.query(`INSERT INTO ${S}.birth_family (collection_name, table_name, code_column, code_pattern) VALUES ('tfam', 'pg_catalog.pg_am', 'amname', '^T')`);
    await born(c, 'T-a-', 3000);
  });

  it('sweep_backfill_run: recorded, committed, batch size halved, resumed by the next CALL', async () => {
    const runner = await db.client();
    const holder = await db.client();
    // one committed batch: a run in progress with an adaptive size in the cursor
    await runner.query(`CALL ${S}.sweep_backfill_run(p_max_batches => 1)`);
    const before = (await c.query(`SELECT batch_size, error_count FROM ${S}.sweep_cursor WHERE sweep_name = 'backfill'`)).rows[0];
    expect(before.batch_size).toBeGreaterThanOrEqual(20);

    await holder.query(`BEGIN; LOCK TABLE ${S}.governance_candidate_state IN SHARE MODE`);
    await runner.query(`SET statement_timeout = '1s'`);
    const err = await runner.query(`CALL ${S}.sweep_backfill_run()`).then(
      () => null,
      (e: { code?: string; detail?: string }) => e,
    );
    await holder.query('ROLLBACK');
    expect(err?.code).toBe('57014');
    expect(err?.detail).toMatch(/^backfill: the batch in flight was rolled back after 0 committed batches/);

    const after = (await c.query(`SELECT batch_size, error_count, last_error FROM ${S}.sweep_cursor WHERE sweep_name = 'backfill'`)).rows[0];
    expect(Number(after.error_count)).toBe(Number(before.error_count) + 1);
    expect(after.last_error).toMatch(/^57014: canceling statement due to statement timeout/);
    expect(after.batch_size).toBe(Math.floor(before.batch_size / 2));

    await runner.query(`SET statement_timeout = 0`);
    await runner.query(`CALL ${S}.sweep_backfill_run()`);
    const r = await oneCandidateEach(c);
    expect(r.candidates).toBe(r.objects);
    expect(r.distinct).toBe(r.objects);
    expect(r.objects).toBe(3000);
  });

  it('birthgate backfill --statement-timeout: the timed-out batch is recorded and retried until it fits', async () => {
    await born(c, 'T-b-', 2000);
    const holder = await db.client();
    const since = (await c.query(`SELECT coalesce(max(last_error_at), '-infinity')::text AS t FROM ${S}.sweep_cursor WHERE sweep_name = 'backfill'`)).rows[0].t;
    await holder.query(`BEGIN; LOCK TABLE ${S}.governance_candidate_state IN SHARE MODE`);
    const p = spawn(process.execPath, ['bin/birthgate.mjs', 'backfill', '--statement-timeout', '500', '--max-retries', '20', '--json'], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: db.url },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const done = new Promise<number | null>((ok) => p.on('close', (code) => ok(code)));
    try {
      // the first batch waits on the lock, times out and is recorded; the CLI retries
      await until('a timed-out batch recorded in the cursor', async () => {
        const r = await c.query(
          `SELECT count(*)::int AS n FROM ${S}.sweep_cursor WHERE sweep_name = 'backfill' AND last_error LIKE '57014%' AND last_error_at > $1::timestamptz`,
          [since],
        );
        return r.rows[0].n >= 1;
      });
    } finally {
      await holder.query('ROLLBACK');
    }
    const code = await done;
    expect(code, stderr).toBe(0);
    const out = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(out.ok).toBe(true);
    expect(out.finished).toBe(true);
    expect(out.retries).toBeGreaterThanOrEqual(1);
    const cur = (await c.query(`SELECT error_count, last_error FROM ${S}.sweep_cursor WHERE sweep_name = 'backfill'`)).rows[0];
    expect(Number(cur.error_count)).toBeGreaterThanOrEqual(1);
    expect(cur.last_error).toMatch(/^57014:/);
    const r = await oneCandidateEach(c);
    expect(r.objects).toBe(5000);
    expect(r.candidates).toBe(5000);
    expect(r.distinct).toBe(5000);
  });
});
