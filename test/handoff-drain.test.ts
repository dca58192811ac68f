/**
 * handoff_drain(): commits after every batch (another session sees the cursor move while the drain
 * is still running), reports progress per batch as NOTICEs, honours p_max_batches, stops once a
 * batch comes back short, and refuses to run inside an explicit transaction block (it commits).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { freshDatabase, type TestDb } from './helpers/db.js';

const S = 'birthgate';

async function births(c: pg.Client, from: number, to: number): Promise<void> {
  await c.query(
    `WITH r AS (
       INSERT INTO ${S}.birth_registry (collection_name, entity_code)
       SELECT 'drain_probe', 'D-' || g FROM generate_series($1::int, $2::int) AS g
       RETURNING registry_id, collection_name, entity_code, born_at)
     INSERT INTO ${S}.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
     SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r ORDER BY r.registry_id`,
    [from, to],
  );
}

describe('handoff_drain', () => {
  let db: TestDb;
  let c: pg.Client;
  let other: pg.Client;

  beforeAll(async () => {
    db = await freshDatabase();
    c = await db.client();
    other = await db.client();
    await c.query(`INSERT INTO ${S}.birth_family (collection_name, table_name, code_column, code_pattern)
                   VALUES ('drain_probe', 'pg_catalog.pg_class', 'relname', '^D-[0-9]+$')`);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('runs p_max_batches batches, committing each, with one NOTICE per batch', async () => {
    await births(c, 1, 20);
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    await c.query(`CALL ${S}.handoff_drain(3, 2)`);
    c.removeAllListeners('notice');
    const perBatch = notices.filter((m) => /^handoff_drain: batch \d+ consumed/.test(m));
    expect(perBatch).toHaveLength(2);
    expect(perBatch[0]).toMatch(/^handoff_drain: batch 1 consumed 3 rows \(0 emitted, 3 captured\) in [\d.]+ ms; total 3 rows; lag 17; elapsed /);
    expect(perBatch[1]).toMatch(/batch 2 consumed 3 rows .* total 6 rows; lag 14;/);
    expect(notices.at(-1)).toMatch(/^handoff_drain: done: 2 batches, 6 rows, 0 emitted, 6 captured/);
    const cur = (await other.query(`SELECT rows_consumed::int, batches_run::int FROM ${S}.handoff_cursor`)).rows[0];
    expect(cur).toEqual({ rows_consumed: 6, batches_run: 2 });
  });

  it('commits per batch: another session sees the cursor advance while the drain is still running', async () => {
    await births(c, 21, 40); // 34 rows left in total
    // a trigger that sleeps on every captured event makes each batch take a while
    await c.query(`CREATE FUNCTION ${S}.test_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.02); RETURN NEW; END $$`);
    await c.query(`CREATE TRIGGER test_slow BEFORE INSERT ON ${S}.event_pending FOR EACH ROW EXECUTE FUNCTION ${S}.test_slow()`);
    const before = Number((await other.query(`SELECT rows_consumed FROM ${S}.handoff_cursor`)).rows[0].rows_consumed);
    const drain = c.query(`CALL ${S}.handoff_drain(5)`);
    const seen: number[] = [];
    let done = false;
    drain.finally(() => (done = true)).catch(() => {});
    while (!done) {
      seen.push(Number((await other.query(`SELECT rows_consumed FROM ${S}.handoff_cursor`)).rows[0].rows_consumed) - before);
      await new Promise((r) => setTimeout(r, 20));
    }
    await drain;
    await c.query(`DROP TRIGGER test_slow ON ${S}.event_pending; DROP FUNCTION ${S}.test_slow()`);
    const after = Number((await other.query(`SELECT rows_consumed FROM ${S}.handoff_cursor`)).rows[0].rows_consumed) - before;
    expect(after).toBe(34);
    // intermediate values strictly between 0 and 34 were visible from the other session
    expect(seen.some((n) => n > 0 && n < 34)).toBe(true);
    const lag = (await other.query(`SELECT count(*)::int AS n FROM ${S}.v_handoff_lag`)).rows[0].n;
    expect(lag).toBe(0);
  });

  it('stops when a batch comes back short, and an empty run still advances the heartbeat', async () => {
    const hb0 = (await other.query(`SELECT heartbeat_at FROM ${S}.handoff_cursor`)).rows[0].heartbeat_at as Date;
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    await c.query(`CALL ${S}.handoff_drain(5000)`);
    c.removeAllListeners('notice');
    expect(notices.filter((m) => m.includes('consumed'))).toHaveLength(1);
    expect(notices[0]).toMatch(/batch 1 consumed 0 rows/);
    const hb1 = (await other.query(`SELECT heartbeat_at FROM ${S}.handoff_cursor`)).rows[0].heartbeat_at as Date;
    expect(hb1.getTime()).toBeGreaterThan(hb0.getTime());
  });

  it('refuses to run inside a transaction block (it commits), and refuses bad arguments with BG200', async () => {
    await c.query('BEGIN');
    await expect(c.query(`CALL ${S}.handoff_drain(10)`)).rejects.toMatchObject({ code: '2D000' });
    await c.query('ROLLBACK');
    await expect(c.query(`CALL ${S}.handoff_drain(0)`)).rejects.toMatchObject({ code: 'BG200' });
    const e = await c.query(`CALL ${S}.handoff_drain(10, -1)`).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'BG200' });
    expect((e as { detail: string }).detail).toMatch(/p_max_batches => -1/);
    expect((e as { hint: string }).hint).toMatch(/p_max_batches NULL or at least 1/);
  });
});
