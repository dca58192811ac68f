/**
 * An operator's server, not a throwaway: the consumer run where it cannot write
 * (default_transaction_read_only = on, as on a hot standby), inside a REPEATABLE READ transaction
 * that another consumer overtook, `birthgate status` run as the consumer's login, and births
 * while another database holds a transaction open. Known defects are `it.fails`: each must turn
 * into a BG SQLSTATE with a HINT (or a hint in the CLI's JSON).
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { adminUrl, freshDatabase, type TestDb } from './helpers/db.js';
import { withDatabase } from '../src/db.js';

const root = resolve(import.meta.dirname, '..');
const S = 'birthgate';

interface Run { code: number; stdout: string; stderr: string }
function cli(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, ['bin/birthgate.mjs', ...args], { cwd: root, env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}
function oneJsonLine(stdout: string): Record<string, any> {
  const lines = stdout.split('\n').filter((l) => l.length > 0);
  expect(lines, `stdout must be exactly one line, got ${JSON.stringify(stdout)}`).toHaveLength(1);
  return JSON.parse(lines[0]!) as Record<string, any>;
}
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

  it.fails('consume with default_transaction_read_only = on (a hot standby) fails with a BG SQLSTATE and a hint, not 25006', async () => {
    await births(c, 'RO-', 3);
    const r = await cli(['consume', '--until-empty', '--json'], { DATABASE_URL: db.url, PGOPTIONS: '-c default_transaction_read_only=on' });
    console.log('read-only consume:', r.code, r.stdout.trim());
    const j = oneJsonLine(r.stdout);
    expect(r.code).toBe(1);
    expect(j.ok).toBe(false);
    expect(String(j.error?.sqlstate)).toMatch(/^BG/); // today: 25006, no hint
    expect(j.error?.hint).toBeTruthy();
  });

  it('read-only: nothing lost, the next writable run hands every row off', async () => {
    const r = await cli(['consume', '--until-empty', '--json'], { DATABASE_URL: db.url });
    expect(r.code, r.stderr).toBe(0);
    expect(oneJsonLine(r.stdout).ok).toBe(true);
    expect(await handedOff(c, 'RO-')).toBe(3);
  });

  it.fails('handoff_consume in REPEATABLE READ after another consumer advanced the cursor raises a BG SQLSTATE, not 40001', async () => {
    const rr = await db.client();
    await rr.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await rr.query('SELECT 1'); // the snapshot is taken here
    await births(c, 'RR-', 2);
    await c.query(`SELECT * FROM ${S}.handoff_consume(100)`); // autocommit: another consumer moves the cursor
    let state = 'none';
    let hint: string | undefined;
    try {
      await rr.query(`SELECT * FROM ${S}.handoff_consume(100)`);
    } catch (e) {
      state = (e as { code?: string }).code ?? 'unknown';
      hint = (e as { hint?: string }).hint;
    } finally {
      await rr.query('ROLLBACK');
    }
    console.log('RR consume after a concurrent consume:', state);
    expect(state).toMatch(/^BG/); // today: 40001 "could not serialize access due to concurrent update"
    expect(hint).toBeTruthy();
  });

  it.fails('`birthgate status` as a login of birthgate_consumer says which grant is missing (today: bare 42501, no hint)', async () => {
    const r = await cli(['status', '--json'], { DATABASE_URL: asUser(db.url, login) });
    console.log('status as consumer:', r.code, r.stdout.trim());
    const j = oneJsonLine(r.stdout);
    expect(r.code).toBe(1);
    expect(j.error?.hint ?? '').toMatch(/birthgate_reader/);
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
