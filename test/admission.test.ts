/**
 * Admission control (000002) with real commits and real sessions, where pgTAP's single rolled-back
 * transaction cannot go: the deferred gate refusing an actual COMMIT, many sessions racing for one
 * permit, retire() refusing REPEATABLE READ and waiting out a concurrent writer, the down migration
 * refusing to discard permits unless told to, taking the gate triggers off a governed table (and up +
 * re-register putting them back), and the demo running twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import { BgError } from '../src/generated/errors.js';
import { migrate } from '../src/migrate.js';
import { dumpSchema } from '../src/schema-dump.js';
import { projectRoot } from '../src/paths.js';
import { emptyDatabase, freshDatabase, type TestDb } from './helpers/db.js';

const run = promisify(execFile);
const S = 'birthgate';

type PgError = Error & { code?: string; detail?: string; hint?: string };

async function sqlstate(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return (e as PgError).code;
  }
}

async function pilot(c: pg.Client, mode: 'off' | 'report' | 'enforce'): Promise<void> {
  await c.query(`CREATE SCHEMA IF NOT EXISTS pilot`);
  await c.query(`CREATE TABLE IF NOT EXISTS pilot.dot_tools (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text, name text)`);
  await c.query(`SELECT ${S}.register_family('dot_tools', 'pilot.dot_tools', 'code', '^DOT-[0-9]+$', $1)`, [mode]);
}

async function count(c: pg.Client, sql: string, params: unknown[] = []): Promise<number> {
  const r = await c.query<{ n: number }>(`SELECT (${sql})::int AS n`, params);
  return r.rows[0]!.n;
}

describe('admission with real commits', () => {
  let db: TestDb;
  let c: pg.Client;

  beforeAll(async () => {
    db = await freshDatabase();
    c = await db.client();
    await pilot(c, 'enforce');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('the deferred gate refuses the COMMIT itself, and nothing of the transaction remains', async () => {
    await c.query('BEGIN');
    await c.query('ALTER TABLE pilot.dot_tools DISABLE TRIGGER _100_birth_gate');
    await c.query('ALTER TABLE pilot.dot_tools DISABLE TRIGGER _110_birth_register');
    await c.query(`INSERT INTO pilot.dot_tools (code) VALUES ('DOT-1')`); // layer 1 off: the statement passes
    let err: PgError | undefined;
    try {
      await c.query('COMMIT');
    } catch (e) {
      err = e as PgError;
    }
    expect(err?.code).toBe(BgError.GATE_UNFINALIZED);
    expect(err?.detail).toContain(`code 'DOT-1'`);
    expect(err?.hint).toContain(`SELECT ${S}.issue_permit('dot_tools', '<code>')`); // copyable, schema-qualified
    expect(await count(c, `SELECT count(*) FROM pilot.dot_tools`)).toBe(0);
    expect(await count(c, `SELECT count(*) FROM ${S}.birth_registry`)).toBe(0);
    const t = await c.query<{ tgenabled: string }>(
      `SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'pilot.dot_tools'::regclass AND tgname = '_100_birth_gate'`,
    );
    expect(t.rows[0]!.tgenabled).toBe('O'); // the DISABLE went with the refused transaction
  });

  it('a report family commits, and its UNFINALIZED finding survives the commit', async () => {
    await c.query(`CREATE TABLE pilot.dot_report (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text)`);
    await c.query(`SELECT ${S}.register_family('dot_report', 'pilot.dot_report', 'code', '^DOT-[0-9]+$', 'report')`);
    await c.query('BEGIN');
    await c.query('ALTER TABLE pilot.dot_report DISABLE TRIGGER _100_birth_gate');
    await c.query('ALTER TABLE pilot.dot_report DISABLE TRIGGER _110_birth_register');
    await c.query(`INSERT INTO pilot.dot_report (code) VALUES ('DOT-2')`);
    await c.query('COMMIT');
    await c.query('ALTER TABLE pilot.dot_report ENABLE TRIGGER _100_birth_gate');
    await c.query('ALTER TABLE pilot.dot_report ENABLE TRIGGER _110_birth_register');
    const v = await c.query(`SELECT kind, layer, entity_code FROM ${S}.birth_gate_violation WHERE collection_name = 'dot_report'`);
    expect(v.rows).toEqual([{ kind: 'UNFINALIZED', layer: 2, entity_code: 'DOT-2' }]);
  });

  it('eight sessions race for one permit: exactly one birth, seven refused (BG158 while racing, BG125 once born)', async () => {
    await c.query(`SELECT ${S}.issue_permit('dot_tools', 'DOT-100')`);
    const racers = await Promise.all(Array.from({ length: 8 }, () => db.client()));
    const results = await Promise.allSettled(
      racers.map((r, i) => r.query(`INSERT INTO pilot.dot_tools (code, name) VALUES ('DOT-100', $1)`, [`racer ${i}`])),
    );
    const won = results.filter((x) => x.status === 'fulfilled');
    const lost = results.filter((x): x is PromiseRejectedResult => x.status === 'rejected');
    expect(won).toHaveLength(1);
    for (const x of lost) expect([BgError.GATE_PERMIT_CONTENDED, BgError.GATE_ALREADY_BORN]).toContain((x.reason as PgError).code);
    expect(lost).toHaveLength(7);
    expect(await count(c, `SELECT count(*) FROM pilot.dot_tools WHERE code = 'DOT-100'`)).toBe(1);
    expect(await count(c, `SELECT count(*) FROM ${S}.birth_registry WHERE entity_code = 'DOT-100'`)).toBe(1);
    expect(await count(c, `SELECT count(*) FROM ${S}.registry_changelog WHERE entity_code = 'DOT-100'`)).toBe(1);
    const p = await c.query(`SELECT state FROM ${S}.birth_admission_permit WHERE entity_code = 'DOT-100'`);
    expect(p.rows).toEqual([{ state: 'CONSUMED' }]);
  });

  it('retire() refuses REPEATABLE READ (BG142) and works in READ COMMITTED', async () => {
    await c.query(`SELECT ${S}.issue_permit('dot_tools', 'DOT-200')`);
    await c.query(`INSERT INTO pilot.dot_tools (code) VALUES ('DOT-200')`);
    await c.query(`DELETE FROM pilot.dot_tools WHERE code = 'DOT-200'`);
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    expect(await sqlstate(c.query(`SELECT ${S}.retire('dot_tools', 'DOT-200', 'phantom')`))).toBe(BgError.RETIRE_ISOLATION);
    await c.query('ROLLBACK');
    await c.query(`SELECT ${S}.retire('dot_tools', 'DOT-200', 'phantom')`);
    const r = await c.query(`SELECT status FROM ${S}.birth_registry WHERE entity_code = 'DOT-200'`);
    expect(r.rows).toEqual([{ status: 'RETIRED' }]);
  });

  it('a retire waits for an uncommitted insert of the same code, then refuses the now live object', async () => {
    await c.query(`SELECT ${S}.issue_permit('dot_tools', 'DOT-300')`);
    await c.query(`INSERT INTO pilot.dot_tools (code) VALUES ('DOT-300')`);
    await c.query(`DELETE FROM pilot.dot_tools WHERE code = 'DOT-300'`); // a phantom now
    const writer = await db.client();
    await writer.query(`SELECT ${S}.set_family_mode('dot_tools', 'off')`); // the gate would refuse DOT-300: already born
    await writer.query('BEGIN');
    await writer.query(`INSERT INTO pilot.dot_tools (code) VALUES ('DOT-300')`); // the object comes back, not yet committed
    const retiring = sqlstate(c.query(`SELECT ${S}.retire('dot_tools', 'DOT-300', 'phantom?')`));
    await new Promise((r) => setTimeout(r, 300));
    await writer.query('COMMIT');
    expect(await retiring).toBe(BgError.RETIRE_REFUSED);
    await writer.query(`SELECT ${S}.set_family_mode('dot_tools', 'enforce')`);
  });
});

describe('admission migration down and up with a governed family', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await emptyDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('down takes the gate off the family table and leaves the substrate as before; up + re-register restores it', async () => {
    expect(await migrate({ databaseUrl: db.url, direction: 'up', count: 1 })).toEqual(['000001_substrate']);
    const substrateOnly = await dumpSchema(db.url);
    expect(await migrate({ databaseUrl: db.url, direction: 'up', count: 1 })).toEqual(['000002_admission']);
    const c = await db.client();
    await pilot(c, 'enforce');
    await c.query(`SELECT ${S}.issue_permit('dot_tools', 'DOT-1')`);
    await c.query(`INSERT INTO pilot.dot_tools (code) VALUES ('DOT-1')`);
    expect(await sqlstate(c.query(`INSERT INTO pilot.dot_tools (code) VALUES ('DOT-2')`))).toBe(BgError.GATE_NO_PERMIT);

    // permits and violations cannot come back: down refuses until the operator opts in
    expect(await sqlstate(migrate({ databaseUrl: db.url, direction: 'down', count: 1 }))).toBe(BgError.ADMISSION_DOWN_DATA_LOSS);
    expect(await count(c, `SELECT count(*) FROM ${S}.birth_admission_permit`)).toBe(1); // nothing was dropped
    await c.query(`ALTER DATABASE ${db.name} SET ${S}.down_discard_admission_data = on`);
    expect(await migrate({ databaseUrl: db.url, direction: 'down', count: 1 })).toEqual(['000002_admission']);
    await c.query(`ALTER DATABASE ${db.name} RESET ${S}.down_discard_admission_data`);
    expect(await dumpSchema(db.url)).toBe(substrateOnly);
    expect(await count(c, `SELECT count(*) FROM ${S}.birth_registry WHERE permit_id IS NOT NULL`)).toBe(0);
    expect(await count(c, `SELECT count(*) FROM pg_trigger WHERE tgrelid = 'pilot.dot_tools'::regclass AND NOT tgisinternal`)).toBe(0);
    expect(
      await count(
        c,
        `SELECT count(*) FROM pg_proc WHERE pronamespace = '${S}'::regnamespace
           AND proname IN ('register_family', 'set_family_mode', 'issue_permit', 'revoke_permit', 'expire_permits', 'retire',
                           'retire_gate_check', 'tg_birth_gate', 'tg_birth_finalize')`,
      ),
    ).toBe(0);
    const grants = await c.query<{ ok: boolean }>(
      `SELECT has_table_privilege('${S}_reader', '${S}.birth_registry', 'SELECT') AS ok`,
    );
    expect(grants.rows[0]!.ok).toBe(false);
    await c.query(`INSERT INTO pilot.dot_tools (code) VALUES ('DOT-2')`); // ungoverned now
    expect(await count(c, `SELECT count(*) FROM pilot.dot_tools`)).toBe(2);
    expect(await count(c, `SELECT count(*) FROM ${S}.birth_registry`)).toBe(1); // the substrate keeps its data

    expect(await migrate({ databaseUrl: db.url, direction: 'up', count: 1 })).toEqual(['000002_admission']);
    expect(await count(c, `SELECT count(*) FROM pg_trigger WHERE tgrelid = 'pilot.dot_tools'::regclass AND NOT tgisinternal`)).toBe(0);
    await c.query(`SELECT ${S}.register_family('dot_tools', 'pilot.dot_tools', 'code', '^DOT-[0-9]+$', 'enforce')`);
    expect(await count(c, `SELECT count(*) FROM pg_trigger WHERE tgrelid = 'pilot.dot_tools'::regclass AND NOT tgisinternal`)).toBe(2);
    expect(await sqlstate(c.query(`INSERT INTO pilot.dot_tools (code) VALUES ('DOT-3')`))).toBe(BgError.GATE_NO_PERMIT);
  });
});

describe('demo/20_admission.sql', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('runs twice on the same database, one new birth per run, showing BG120 and BG125', async () => {
    const file = join(projectRoot, 'demo', '20_admission.sql');
    for (let i = 0; i < 2; i++) {
      const { stdout, stderr } = await run('psql', ['-X', '-P', 'pager=off', '-v', 'ON_ERROR_STOP=1', '--echo-queries', '-f', file, db.url]);
      expect(stdout).toContain('SQLSTATE BG120');
      expect(stdout).toContain('SQLSTATE BG125');
      expect(stderr).toContain('birth refused: no live admission permit for this code');
    }
    const c = await db.client();
    const r = await c.query(`SELECT entity_code, status, permit_id IS NOT NULL AS permitted FROM ${S}.birth_registry ORDER BY 1`);
    expect(r.rows).toEqual([
      { entity_code: 'DOT-1001', status: 'BORN', permitted: true },
      { entity_code: 'DOT-1002', status: 'BORN', permitted: true },
    ]);
  });
});
