/**
 * The package's writers called by their own roles' logins where they cannot write: a delivery
 * worker and an issuer in BEGIN READ ONLY sessions get BG511 / BG165 with the function named in
 * DETAIL and a HINT for them; a consumer in a session whose default_transaction_isolation is
 * serializable, overtaken inside its transaction by another consumer, gets "skipped" (lag NULL);
 * nothing changes either way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { freshDatabase, type TestDb } from './helpers/db.js';

const S = 'birthgate';

function asUser(url: string, user: string, options?: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = '';
  if (options) u.searchParams.set('options', options);
  return u.toString();
}
async function failure(c: pg.Client, sql: string, params: unknown[] = []): Promise<{ code?: string; detail?: string; hint?: string }> {
  try {
    await c.query(sql, params);
  } catch (e) {
    const err = e as { code?: string; detail?: string; hint?: string };
    return { code: err.code, detail: err.detail, hint: err.hint };
  }
  return {};
}

describe('operator errors: writers called by their roles where they cannot write', () => {
  let db: TestDb;
  let admin: pg.Client;
  const worker = `op_worker_${process.pid}`;
  const issuer = `op_issuer_${process.pid}`;
  const cron = `op_cron_${process.pid}`;
  const counts = async () =>
    (
      await admin.query(
        `SELECT (SELECT count(*) FROM ${S}.event_outbox WHERE claimed_by IS NOT NULL)::int AS claimed,
                (SELECT count(*) FROM ${S}.birth_admission_permit)::int AS permits,
                (SELECT md5(string_agg(hc::text, ',')) FROM ${S}.handoff_cursor AS hc) AS cursor`,
      )
    ).rows[0];

  beforeAll(async () => {
    db = await freshDatabase();
    admin = await db.client();
    await admin.query(`CREATE TABLE public.op_items (code text PRIMARY KEY)`);
    await admin.query(`SELECT ${S}.register_family('op', 'public.op_items', 'code', '^OP-[0-9]+$', 'report')`);
    await admin.query(`INSERT INTO ${S}.event_outbox (event_type, object_key, born_at, payload, source_change_id)
                       SELECT 'handoff.object_born', 'op:' || g, now(), '{}', g FROM generate_series(1, 3) AS g`);
    for (const [login, role] of [[worker, 'delivery'], [issuer, 'issuer'], [cron, 'consumer']] as const) {
      await admin.query(`DROP ROLE IF EXISTS ${login}`);
      await admin.query(`CREATE ROLE ${login} LOGIN IN ROLE ${S}_${role}`);
    }
  });
  afterAll(async () => {
    for (const login of [worker, issuer, cron]) await admin?.query(`DROP ROLE IF EXISTS ${login}`).catch(() => undefined);
    await db?.drop();
  });

  it('a delivery worker in BEGIN READ ONLY: BG511 for claim, ack and fail, with a hint for the worker; nothing claimed', async () => {
    const before = await counts();
    const w = new pg.Client({ connectionString: asUser(db.url, worker) });
    await w.connect();
    try {
      for (const sql of [
        `SELECT * FROM ${S}.outbox_claim('w-ro', 10)`,
        `SELECT ${S}.outbox_ack(ARRAY[1]::bigint[], 'w-ro')`,
        `SELECT ${S}.outbox_fail(1, 'HTTP 503', 'w-ro')`,
      ]) {
        await w.query('BEGIN READ ONLY');
        const f = await failure(w, sql);
        await w.query('ROLLBACK');
        expect(f.code, sql).toBe('BG511');
        expect(f.detail, sql).toMatch(/^outbox_(claim|ack|fail): the transaction is read-only/);
        expect(f.hint, sql).toMatch(/delivery worker to the primary/);
      }
    } finally {
      await w.end();
    }
    expect(await counts()).toEqual(before);
  });

  it('an issuer whose login defaults to read-only: BG165 from issue_permit and revoke_permit; no permit written', async () => {
    const before = await counts();
    const i = new pg.Client({ connectionString: asUser(db.url, issuer, '-c default_transaction_read_only=on') });
    await i.connect();
    try {
      const issued = await failure(i, `SELECT ${S}.issue_permit('op', 'OP-1')`);
      expect(issued.code).toBe('BG165');
      expect(issued.detail).toBe('issue_permit: the transaction is read-only (transaction_read_only = on; default_transaction_read_only = on)');
      expect(issued.hint).toMatch(/SET TRANSACTION READ WRITE/);
      expect((await failure(i, `SELECT ${S}.revoke_permit(1, 'mistake')`)).code).toBe('BG165');
      // the remedy the hint gives works
      await i.query('BEGIN READ WRITE');
      await i.query(`SELECT ${S}.issue_permit('op', 'OP-1')`);
      await i.query('ROLLBACK');
    } finally {
      await i.end();
    }
    expect(await counts()).toEqual(before);
  });

  it('a REPEATABLE READ consumer while another consumer holds the cursor, which then commits: skipped both times, never 40001, nothing lost', async () => {
    const k = new pg.Client({ connectionString: asUser(db.url, cron) });
    const holder = await db.client();
    await k.connect();
    try {
      await admin.query(`INSERT INTO public.op_items VALUES ('OP-20'), ('OP-21')`);
      await k.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await k.query('SELECT 1'); // snapshot
      // another consumer is in the middle of a batch: it holds the cursor row
      await holder.query('BEGIN');
      const first = await holder.query(`SELECT * FROM ${S}.handoff_consume(100)`);
      expect(first.rows[0].consumed).toBeGreaterThanOrEqual(2);
      expect((await k.query(`SELECT * FROM ${S}.handoff_consume(100)`)).rows[0]).toEqual({ consumed: 0, emitted: 0, captured: 0, lag: null });
      await holder.query('COMMIT');
      // the same snapshot now sees a cursor row changed after it: still skipped, no 40001
      expect((await k.query(`SELECT * FROM ${S}.handoff_consume(100)`)).rows[0]).toEqual({ consumed: 0, emitted: 0, captured: 0, lag: null });
      await k.query('COMMIT');
      const n = await admin.query(`SELECT count(*)::int AS n FROM ${S}.governance_candidate_state WHERE object_key IN ('op:OP-20', 'op:OP-21')`);
      expect(n.rows[0].n).toBe(2);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
      await k.end();
    }
  });

  it('a consumer whose session defaults to serializable, overtaken inside its transaction, is skipped and loses nothing', async () => {
    const k = new pg.Client({ connectionString: asUser(db.url, cron, '-c default_transaction_isolation=serializable') });
    await k.connect();
    try {
      await admin.query(`INSERT INTO public.op_items VALUES ('OP-10'), ('OP-11')`);
      await k.query('BEGIN');
      expect((await k.query(`SHOW transaction_isolation`)).rows[0].transaction_isolation).toBe('serializable');
      await k.query('SELECT 1'); // snapshot
      await admin.query(`SELECT * FROM ${S}.handoff_consume(100)`); // another consumer, committed
      const row = (await k.query(`SELECT * FROM ${S}.handoff_consume(100)`)).rows[0];
      await k.query('COMMIT');
      expect(row).toEqual({ consumed: 0, emitted: 0, captured: 0, lag: null });
      // not overtaken: the serializable consumer works
      await admin.query(`INSERT INTO public.op_items VALUES ('OP-12')`);
      const next = (await k.query(`SELECT * FROM ${S}.handoff_consume(100)`)).rows[0];
      expect(next.consumed).toBe(1);
      const n = await admin.query(`SELECT count(*)::int AS n FROM ${S}.governance_candidate_state WHERE object_key LIKE 'op:OP-1%'`);
      expect(n.rows[0].n).toBe(3);
    } finally {
      await k.end();
    }
  });
});
