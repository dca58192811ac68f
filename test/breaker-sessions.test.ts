/**
 * Adversarial review, two sessions against one permit (real PostgreSQL, several connections):
 *  - a permit issued (and committed) after the inserting transaction began is usable, and the permit
 *    timestamps stay ordered;
 *  - revoke_permit racing an insert that consumed the permit: the revoke waits, then fails with a BG
 *    error; exactly one outcome, the birth;
 *  - an insert racing a revoke that got there first: the insert waits, then is refused with a BG
 *    error; nothing is born, the permit stays REVOKED.
 * Waits are polled (pg_stat_activity), never slept; no duration is asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { databasesDroppedAfterAll, type TestDb } from './helpers/db.js';
import { sqlstate } from './helpers/sql.js';

const dbs = databasesDroppedAfterAll();
let d: TestDb;
let a: pg.Client;
let b: pg.Client;
let c: pg.Client;

async function until(what: string, check: () => Promise<boolean>, deadlineMs = 90_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for: ${what}`);
}
async function pid(x: pg.Client): Promise<number> {
  return (await x.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;
}
const pids = new Map<pg.Client, number>();
async function waitsOnLock(x: pg.Client): Promise<void> {
  const p = pids.get(x)!; // taken up front: x is busy with the blocked statement
  await until(`backend ${p} waits on a lock`, async () =>
    (await c.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`, [p])).rowCount === 1);
}

beforeAll(async () => {
  d = await dbs.fresh();
  [a, b, c] = [await d.client(), await d.client(), await d.client()];
  for (const x of [a, b]) pids.set(x, await pid(x));
  await c.query(`CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, code text, name text);
                 SELECT birthgate.register_family('bs', 'app.t', 'code', '^S-[0-9]+$', 'enforce');`);
});
afterAll(async () => {
  await Promise.allSettled([a, b, c].map((x) => x?.query('ROLLBACK')));
});

describe('two sessions, one permit', () => {
  it('a permit issued after the inserting transaction began is usable', async () => {
    await a.query('BEGIN ISOLATION LEVEL READ COMMITTED');
    await a.query('SELECT now()');
    await b.query(`SELECT birthgate.issue_permit('bs', 'S-1')`);
    await a.query(`INSERT INTO app.t VALUES (1, 'S-1', 'late permit')`);
    await a.query('COMMIT');
    const { rows } = await c.query(`SELECT p.state, p.consumed_at >= p.issued_at AS ordered, r.status
                                      FROM birthgate.birth_admission_permit p JOIN birthgate.birth_registry r USING (permit_id)
                                     WHERE p.collection_name = 'bs' AND p.entity_code = 'S-1'`);
    expect(rows).toEqual([{ state: 'CONSUMED', ordered: true, status: 'BORN' }]);
  });

  it('a revoke racing an insert that consumed the permit waits, then fails with a BG error', async () => {
    const id = (await c.query(`SELECT birthgate.issue_permit('bs', 'S-2') AS id`)).rows[0].id;
    await a.query('BEGIN');
    await a.query(`INSERT INTO app.t VALUES (2, 'S-2', 'consumer first')`);
    const revoke = sqlstate(b.query(`SELECT birthgate.revoke_permit($1, 'racing')`, [id]));
    await waitsOnLock(b);
    await a.query('COMMIT');
    const code = await revoke;
    expect(code).toMatch(/^BG/);
    const { rows } = await c.query(`SELECT state FROM birthgate.birth_admission_permit WHERE permit_id = $1`, [id]);
    expect(rows[0].state).toBe('CONSUMED');
    expect((await c.query(`SELECT count(*)::int AS n FROM birthgate.registry_changelog WHERE entity_code = 'S-2' AND op = 'BORN'`)).rows[0].n).toBe(1);
  });

  it('an insert racing a revoke that came first waits, then is refused with a BG error and births nothing', async () => {
    const id = (await c.query(`SELECT birthgate.issue_permit('bs', 'S-3') AS id`)).rows[0].id;
    await b.query('BEGIN');
    await b.query(`SELECT birthgate.revoke_permit($1, 'revoked first')`, [id]);
    const insert = sqlstate(a.query(`INSERT INTO app.t VALUES (3, 'S-3', 'too late')`));
    await waitsOnLock(a);
    await b.query('COMMIT');
    const code = await insert;
    expect(code).toMatch(/^BG/);
    const { rows } = await c.query(`SELECT state FROM birthgate.birth_admission_permit WHERE permit_id = $1`, [id]);
    expect(rows[0].state).toBe('REVOKED');
    expect((await c.query(`SELECT count(*)::int AS n FROM birthgate.birth_registry WHERE entity_code = 'S-3'`)).rows[0].n).toBe(0);
    expect((await c.query(`SELECT count(*)::int AS n FROM app.t WHERE code = 'S-3'`)).rows[0].n).toBe(0);
  });
});
