/**
 * What a cron job's log says when the server refuses the CLI for an operational reason PostgreSQL
 * reports without a HINT: a statement_timeout, a lock_timeout, a read-only server or transaction
 * default, a database that does not exist, a role without the package role. Each run is a real
 * `birthgate consume --json` child process against a real database: exit 1, exactly one JSON line
 * with the SQLSTATE and a HINT that names the setting to look at, the cursor unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { runCli, type CliRun } from './helpers/cli.js';
import { databasesDroppedAfterAll, type TestDb } from './helpers/db.js';
import { OPERATOR_HINTS } from '../src/cli/io.js';

const S = 'birthgate';
const cli = (args: string[], url: string) => runCli(args, { DATABASE_URL: url }, 90_000);

interface Doc {
  ok: boolean;
  exit_code: number;
  error?: { class: string; sqlstate?: string; message: string; hint?: string; detail?: string };
}
function oneJsonLine(r: CliRun): Doc {
  const lines = r.stdout.split('\n').filter((l) => l.length > 0);
  expect(lines, `stdout must be exactly one JSON line: ${JSON.stringify(r.stdout)} stderr ${JSON.stringify(r.stderr)}`).toHaveLength(1);
  return JSON.parse(lines[0]!) as Doc;
}

describe('the CLI names what to do about operational server errors', () => {
  const databases = databasesDroppedAfterAll();
  let db: TestDb;
  let c: pg.Client;
  let holder: pg.Client;
  let role: string;

  beforeAll(async () => {
    db = await databases.fresh();
    c = await db.client();
    holder = await db.client();
    role = `hint_cron_${db.name}`;
    await c.query(`CREATE ROLE ${role} LOGIN IN ROLE birthgate_consumer`);
    await c.query(`CREATE SCHEMA h; CREATE TABLE h.t (id serial PRIMARY KEY, code text UNIQUE)`);
    await c.query(`SELECT ${S}.register_family('ht', 'h.t', 'code', '^T-[0-9]+$', 'enforce')`);
    await c.query(`SELECT ${S}.issue_permit('ht', 'T-' || g) FROM generate_series(1, 20) g`);
    await c.query(`INSERT INTO h.t (code) SELECT 'T-' || g FROM generate_series(1, 20) g`);
  });
  afterAll(async () => {
    await holder?.query('ROLLBACK').catch(() => undefined);
    await c?.query(`DROP OWNED BY ${role}; DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
  });

  function roleUrl(): string {
    const u = new URL(db.url);
    u.username = role;
    return u.toString();
  }
  async function cursor(): Promise<unknown> {
    return (await c.query(`SELECT position_change_id, heartbeat_at FROM ${S}.handoff_cursor ORDER BY consumer_name`)).rows;
  }
  /** Runs consume while `holder` keeps an ACCESS EXCLUSIVE lock on the cursor table: the consumer waits on it. */
  async function consumeWhileLocked(): Promise<CliRun> {
    await holder.query('BEGIN');
    await holder.query(`LOCK TABLE ${S}.handoff_cursor IN ACCESS EXCLUSIVE MODE`);
    try {
      return await cli(['consume', '--json'], roleUrl());
    } finally {
      await holder.query('ROLLBACK');
    }
  }

  it('a statement_timeout of the role: 57014 with a HINT naming statement_timeout; the cursor unchanged', async () => {
    const before = await cursor();
    await c.query(`ALTER ROLE ${role} SET statement_timeout = '300ms'`);
    try {
      const r = await consumeWhileLocked();
      const doc = oneJsonLine(r);
      expect(r.code, r.stdout).toBe(1);
      expect(doc.error).toMatchObject({ class: 'database', sqlstate: '57014' });
      expect(doc.error?.hint).toContain('statement_timeout');
      expect(doc.error?.hint).toBe(OPERATOR_HINTS['57014']);
    } finally {
      await c.query(`ALTER ROLE ${role} RESET statement_timeout`);
    }
    expect(await cursor()).toEqual(before);
  }, 120_000);

  it('a lock_timeout of the role: 55P03 with a HINT naming lock_timeout and pg_locks; the cursor unchanged', async () => {
    const before = await cursor();
    await c.query(`ALTER ROLE ${role} SET lock_timeout = '300ms'`);
    try {
      const r = await consumeWhileLocked();
      const doc = oneJsonLine(r);
      expect(r.code, r.stdout).toBe(1);
      expect(doc.error).toMatchObject({ class: 'database', sqlstate: '55P03' });
      expect(doc.error?.hint).toContain('lock_timeout');
      expect(doc.error?.hint).toContain('pg_locks');
    } finally {
      await c.query(`ALTER ROLE ${role} RESET lock_timeout`);
    }
    expect(await cursor()).toEqual(before);
  }, 120_000);

  it('a database that does not exist: 3D000 with a HINT about the path of DATABASE_URL, human output on stderr', async () => {
    const u = new URL(roleUrl());
    u.pathname = `/${db.name}_missing`;
    const r = await cli(['consume'], u.toString());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('3D000');
    expect(r.stderr).toContain('HINT: The database named in DATABASE_URL does not exist');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  }, 60_000);

  it('a role without the package role: 42501 with a HINT naming the GRANT, nothing consumed', async () => {
    const bare = `hint_bare_${db.name}`;
    await c.query(`CREATE ROLE ${bare} LOGIN`);
    try {
      const before = await cursor();
      const u = new URL(db.url);
      u.username = bare;
      const r = await cli(['consume', '--json'], u.toString());
      const doc = oneJsonLine(r);
      expect(r.code, r.stdout).toBe(1);
      expect(doc.error?.sqlstate).toBe('42501');
      expect(doc.error?.hint).toContain('GRANT birthgate_');
      expect(await cursor()).toEqual(before);
    } finally {
      await c.query(`DROP ROLE ${bare}`);
    }
  }, 60_000);

  it('a HINT the server gives is kept as it is (BG601 from the package)', async () => {
    const r = await cli(['adopt', 'no_such_family', '--json'], db.url);
    const doc = oneJsonLine(r);
    expect(r.code).toBe(1);
    expect(doc.error).toMatchObject({ class: 'database', sqlstate: 'BG601' });
    expect(doc.error?.hint).toContain('register_family');
    expect(Object.values(OPERATOR_HINTS)).not.toContain(doc.error?.hint);
  }, 60_000);
});
