/**
 * An operator's server, not a throwaway: the consumer run where it cannot write
 * (default_transaction_read_only = on, as on a hot standby), inside a REPEATABLE READ transaction
 * that another consumer overtook, `birthgate status` run as the consumer's login, and births
 * while another database holds a transaction open. Read-only: BG222 with DETAIL and HINT, nothing
 * lost. Overtaken under REPEATABLE READ: the call ends like one that found the cursor locked
 * (skipped, lag NULL), never 40001. Status as the consumer's login: the exact GRANT in the hint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { oneJsonLine, runCli } from './helpers/cli.js';
import { adminUrl, freshDatabase, type TestDb } from './helpers/db.js';
import { withDatabase } from '../src/db.js';

const S = 'birthgate';

const cli = (args: string[], env: Record<string, string>) => runCli(args, env);
function asUser(url: string, user: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = '';
  return u.toString();
}
async function births(c: pg.Client, prefix: string, n: number): Promise<void> {
  await c.query(
    `WITH r AS (
       INSERT INTO ${S}.birth_registry (collection_name, entity_code)
       SELECT 'b10_probe', $1 || g FROM generate_series(1, $2::int) AS g
       RETURNING registry_id, collection_name, entity_code, born_at)
     INSERT INTO ${S}.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
     SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r ORDER BY r.registry_id`,
    [prefix, n],
  );
}
async function handedOff(c: pg.Client, prefix: string): Promise<number> {
  const r = await c.query(
    `SELECT count(*)::int AS n FROM ${S}.governance_candidate_state WHERE object_key LIKE 'b10_probe:' || $1 || '%'`,
    [prefix],
  );
  return r.rows[0].n as number;
}

describe('breaker10: the consumer on an operator\'s server', () => {
  let db: TestDb;
  let c: pg.Client;
  const login = `b10_cron_${process.pid}`;

  beforeAll(async () => {
    db = await freshDatabase();
    c = await db.client();
    await c.query(`INSERT INTO ${S}.birth_family (collection_name, table_name, code_column, code_pattern)
                   VALUES ('b10_probe', 'pg_catalog.pg_class', 'relname', '^[A-Z]-[0-9]+$')`);
    await c.query(`DROP ROLE IF EXISTS ${login}`);
    await c.query(`CREATE ROLE ${login} LOGIN IN ROLE ${S}_consumer`);
  });
  afterAll(async () => {
    await c?.query(`DROP OWNED BY ${login}`).catch(() => undefined);
    await c?.query(`DROP ROLE IF EXISTS ${login}`).catch(() => undefined);
    await db?.drop();
  });

  it('consume with default_transaction_read_only = on (as on a hot standby) fails with BG222, a DETAIL and a hint, not 25006', async () => {
    await births(c, 'RO-', 3);
    const r = await cli(['consume', '--until-empty', '--json'], { DATABASE_URL: db.url, PGOPTIONS: '-c default_transaction_read_only=on' });
    console.log('read-only consume:', r.code, r.stdout.trim());
    const j = oneJsonLine(r.stdout);
    expect(r.code).toBe(1);
    expect(j.ok).toBe(false);
    expect(j.error?.sqlstate).toBe('BG222');
    expect(j.error?.detail).toMatch(/^handoff_consume: the transaction is read-only/);
    expect(j.error?.hint).toMatch(/primary/);
    expect(j.error?.hint).toMatch(/SET TRANSACTION READ WRITE/);
    expect(await handedOff(c, 'RO-')).toBe(0);
  });

  it('read-only: nothing lost, the next writable run hands every row off', async () => {
    const r = await cli(['consume', '--until-empty', '--json'], { DATABASE_URL: db.url });
    expect(r.code, r.stderr).toBe(0);
    expect(oneJsonLine(r.stdout).ok).toBe(true);
    expect(await handedOff(c, 'RO-')).toBe(3);
  });

  it('handoff_consume in REPEATABLE READ after another consumer advanced the cursor returns skipped (lag NULL), not 40001, and loses nothing', async () => {
    for (const level of ['REPEATABLE READ', 'SERIALIZABLE']) {
      const rr = await db.client();
      const tag = level === 'SERIALIZABLE' ? 'SR-' : 'RR-';
      let state = 'none';
      let row: Record<string, unknown> | undefined;
      try {
        await rr.query(`BEGIN ISOLATION LEVEL ${level}`);
        await rr.query('SELECT 1'); // the snapshot is taken here
        await births(c, tag, 2);
        await c.query(`SELECT * FROM ${S}.handoff_consume(100)`); // autocommit: another consumer moves the cursor
        try {
          row = (await rr.query(`SELECT * FROM ${S}.handoff_consume(100)`)).rows[0];
          await rr.query('COMMIT');
        } catch (e) {
          state = (e as { code?: string }).code ?? 'unknown';
          await rr.query('ROLLBACK');
        }
      } finally {
        await rr.end();
      }
      console.log(`${level} consume after a concurrent consume:`, state, JSON.stringify(row));
      expect(state, level).toBe('none'); // before 000027: 40001 "could not serialize access due to concurrent update"
      expect(row, level).toEqual({ consumed: 0, emitted: 0, captured: 0, lag: null });
      expect(await handedOff(c, tag)).toBe(2); // the other consumer's work stands
    }
  });

  it('on a server whose default_transaction_isolation is serializable, `birthgate consume` hands every row off', async () => {
    await births(c, 'SER-', 4);
    const r = await cli(['consume', '--until-empty', '--json'], {
      DATABASE_URL: asUser(db.url, login),
      PGOPTIONS: '-c default_transaction_isolation=serializable',
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(oneJsonLine(r.stdout).ok).toBe(true);
    expect(await handedOff(c, 'SER-')).toBe(4);
  });

  it('`birthgate status` and `birthgate metrics` as a login of birthgate_consumer name the object refused and the exact GRANT for that login', async () => {
    for (const command of ['status', 'metrics']) {
      const r = await cli([command, '--json'], { DATABASE_URL: asUser(db.url, login) });
      console.log(`${command} as consumer:`, r.code, r.stdout.trim());
      const j = oneJsonLine(r.stdout);
      expect(r.code, command).toBe(1);
      expect(j.error?.sqlstate, command).toBe('42501');
      const denied = /permission denied for \w+ (\S+)/.exec(String(j.error?.message))?.[1];
      expect(denied, command).toBeTruthy();
      const hint = String(j.error?.hint ?? '');
      expect(hint, command).toContain(`birthgate ${command} reads ${denied!.includes('.') ? denied : `${S}.${denied}`}`);
      expect(hint, command).toContain(`its package roles: ${S}_consumer`);
      expect(hint, command).toContain(`GRANT ${S}_reader TO ${login};`);
    }
    // and the GRANT it names is the one that is missing: with it, status works
    await c.query(`GRANT ${S}_reader TO ${login}`);
    try {
      const r = await cli(['status', '--json'], { DATABASE_URL: asUser(db.url, login) });
      expect(oneJsonLine(r.stdout).error).toBeUndefined();
    } finally {
      await c.query(`REVOKE ${S}_reader FROM ${login}`);
    }
  });

  it('a transaction open in another database holds nothing back; its own births follow once it commits', async () => {
    const other = await freshDatabase();
    const o = await other.client();
    try {
      await o.query('BEGIN');
      await o.query('SELECT pg_catalog.txid_current()');
      const w = await db.client();
      await w.query('BEGIN');
      await births(w, 'OPEN-', 2); // open writer in this database
      await births(c, 'LT-', 5);
      const runs: Record<string, any>[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await cli(['consume', '--until-empty', '--json'], { DATABASE_URL: asUser(db.url, login) });
        expect(r.code, r.stderr).toBe(0);
        runs.push(oneJsonLine(r.stdout));
      }
      expect(runs.every((j) => j.ok === true)).toBe(true);
      expect(await handedOff(c, 'LT-')).toBe(5);
      expect(await handedOff(c, 'OPEN-')).toBe(0);
      const st = await c.query(`SELECT holding_pid, rows_waiting FROM ${S}.v_handoff_status`);
      expect(st.rows[0].holding_pid).toBe((w as unknown as { processID: number }).processID);
      await w.query('COMMIT');
      await o.query('COMMIT');
      const r = await cli(['consume', '--until-empty', '--json'], { DATABASE_URL: asUser(db.url, login) });
      expect(r.code, r.stderr).toBe(0);
      expect(await handedOff(c, 'OPEN-')).toBe(2);
    } finally {
      await o.query('ROLLBACK').catch(() => undefined);
      await other.drop();
    }
  });

  it('bad flags exit 2 with one JSON line; a missing database exits 1 with one JSON line', async () => {
    for (const args of [['--bogus'], ['--batch-size', '0'], ['--batch-size', '-5'], ['--batch-size', '99999999999'], ['--max-batches', 'x']]) {
      const r = await cli(['consume', ...args, '--json'], { DATABASE_URL: db.url });
      expect(r.code, args.join(' ')).toBe(2);
      expect(oneJsonLine(r.stdout).error.class).toBe('usage');
    }
    const r = await cli(['consume', '--json'], { DATABASE_URL: withDatabase(adminUrl(), `b10_missing_${process.pid}`) });
    expect(r.code).toBe(1);
    const j = oneJsonLine(r.stdout);
    expect(j.ok).toBe(false);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
