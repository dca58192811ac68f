/**
 * The gates never plan a query over a family table whose planning could run code of its owner
 * (index expressions / partial-index predicates, statistics expressions, CHECK constraints under
 * constraint_exclusion = on), nor read past an inheritance child: register_family / move_family
 * refuse such a table (BG160); at commit layer 2 refuses in enforce (BG161) and records a
 * FAMILY_TABLE_UNSAFE violation in report, without reading the table. A probe function of the
 * owner records current_user whenever it runs: it must never record the package owner.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { adminUrl, freshDatabase, type TestDb } from './helpers/db.js';

const tag = `${process.pid}_${Math.random().toString(36).slice(2, 7)}`;
const owner = `adp_owner_${tag}`;
let d: TestDb;
let su: pg.Client;
let pkgOwner: string;

async function as(role: string, sql: string, params: unknown[] = []) {
  const u = new URL(d.url);
  u.username = role;
  const c = new pg.Client(u.toString()); // a new backend: nothing cached in its relcache
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}
async function asError(role: string, sql: string): Promise<{ code?: string; detail?: string; hint?: string }> {
  try {
    if (role === 'SU') await su.query(sql);
    else await as(role, sql);
  } catch (e) {
    const x = e as { code?: string; detail?: string; hint?: string };
    return { code: x.code, detail: x.detail, hint: x.hint };
  }
  return {};
}
async function probes(): Promise<string[]> {
  const { rows } = await su.query<{ w: string }>(`SELECT who || ':' || what AS w FROM s.probe_log ORDER BY at`);
  await su.query('TRUNCATE s.probe_log');
  return rows.map((r) => r.w);
}
const asPackageOwner = (seen: string[]) => seen.filter((w) => w.startsWith(`${pkgOwner}:`));
const count = async (sql: string) => Number((await su.query(sql)).rows[0].n);
/** Rows of an owner's table, counted by the owner (planning over it as a superuser would run the probe). */
const ownerCount = async (table: string) => Number((await as(owner, `SELECT count(*) AS n FROM ONLY ${table}`)).rows[0].n);

beforeAll(async () => {
  d = await freshDatabase();
  su = await d.client();
  pkgOwner = (await su.query(`SELECT current_user AS u`)).rows[0].u;
  await su.query(`CREATE ROLE ${owner} LOGIN; CREATE SCHEMA s AUTHORIZATION ${owner};`);
  await as(owner, `
    CREATE TABLE s.probe_log (who name, what text, at timestamptz DEFAULT clock_timestamp());
    GRANT INSERT ON s.probe_log TO PUBLIC; GRANT USAGE ON SCHEMA s TO PUBLIC;
    CREATE FUNCTION s.probe(p_what text) RETURNS boolean LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO s.probe_log (who, what) VALUES (current_user, p_what);
            IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
              EXECUTE format('ALTER ROLE %I SUPERUSER', '${owner}');
            END IF;
            RETURN true; END $$;
    CREATE FUNCTION s.imm(p_what text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
      BEGIN PERFORM s.probe(p_what); RETURN true; END $$;
    CREATE FUNCTION s.imm_int(p_what text) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
      BEGIN PERFORM s.probe(p_what); RETURN 0; END $$;`);
});

afterAll(async () => {
  await d?.drop();
  const c = new pg.Client(adminUrl());
  await c.connect();
  try {
    await c.query(`DROP ROLE IF EXISTS ${owner}`);
  } finally {
    await c.end();
  }
});

describe('register_family / move_family refuse a table whose planning runs owner code', () => {
  it('a partial-index predicate: BG160 with DETAIL and HINT, nothing registered, no owner code as the package owner', async () => {
    await as(owner, `CREATE TABLE s.r1 (id int PRIMARY KEY, code text);
      CREATE INDEX r1_trap ON s.r1 (code) WHERE s.imm('r1 predicate');`);
    await probes();
    const before = await count(`SELECT count(*) AS n FROM birthgate.birth_family`);
    const e = await asError('SU', `SELECT birthgate.register_family('r1', 's.r1', 'code', '^R-[0-9]+$', 'enforce')`);
    expect(e.code).toBe('BG160');
    expect(e.detail).toMatch(/index .*r1_trap.* uses function s\.imm/);
    expect(e.hint).toMatch(/birthgate\.register_family\('r1'/);
    expect(await count(`SELECT count(*) AS n FROM birthgate.birth_family`)).toBe(before);
    expect(await count(`SELECT count(*) AS n FROM pg_trigger WHERE tgrelid = 's.r1'::regclass`)).toBe(0);
    expect(asPackageOwner(await probes())).toEqual([]);
  });

  it('a statistics expression on the target of move_family: BG160, the family stays where it was', async () => {
    await as(owner, `CREATE TABLE s.m1 (id int PRIMARY KEY, code text); CREATE TABLE s.m2 (id int PRIMARY KEY, code text);
      CREATE STATISTICS s.m2_stx ON (id + s.imm_int('m2 statistics')), code FROM s.m2;`);
    await su.query(`SELECT birthgate.register_family('m1', 's.m1', 'code', '^M-[0-9]+$', 'report')`);
    await probes();
    const e = await asError('SU', `SELECT birthgate.move_family('m1', 's.m2', 'testing')`);
    expect(e.code).toBe('BG160');
    expect(e.detail).toMatch(/statistics object/);
    expect((await su.query(`SELECT table_name::text AS t FROM birthgate.birth_family WHERE collection_name = 'm1'`)).rows[0].t).toBe('s.m1');
    expect(await count(`SELECT count(*) AS n FROM birthgate.birth_family_move`)).toBe(0);
    expect(asPackageOwner(await probes())).toEqual([]);
  });
});

describe('layer 2 at commit never plans over an unsafe family table', () => {
  it('enforce: an index predicate added after registration refuses the commit (BG161), owner code never runs as the package owner', async () => {
    await as(owner, `CREATE TABLE s.e1 (id int PRIMARY KEY, code text)`);
    await su.query(`SELECT birthgate.register_family('e1', 's.e1', 'code', '^E-[0-9]+$', 'enforce')`);
    await su.query(`SELECT birthgate.issue_permit('e1', 'E-1'), birthgate.issue_permit('e1', 'E-2')`);
    await as(owner, `INSERT INTO s.e1 VALUES (1, 'E-1')`); // safe table: born
    await as(owner, `CREATE INDEX e1_trap ON s.e1 (code) WHERE s.imm('e1 predicate, finalize')`);
    await probes();
    const rows = await ownerCount('s.e1');
    const born = await count(`SELECT count(*) AS n FROM birthgate.birth_registry WHERE collection_name = 'e1'`);
    const e = await asError(owner, `INSERT INTO s.e1 VALUES (2, 'E-2')`);
    expect(e.code).toBe('BG161');
    expect(e.detail).toMatch(/collection e1, code 'E-2' \(INSERT on s\.e1\): index .*e1_trap/);
    expect(e.hint).toMatch(/DROP INDEX/);
    expect(await ownerCount('s.e1')).toBe(rows);
    expect(await count(`SELECT count(*) AS n FROM birthgate.birth_registry WHERE collection_name = 'e1'`)).toBe(born);
    // a delete of an object born in the same transaction would read the table too
    const e2 = await asError(owner, `BEGIN; DELETE FROM s.e1 WHERE id = 1; COMMIT`);
    expect(e2.code).toBe('BG161');
    expect(asPackageOwner(await probes())).toEqual([]);
    await as(owner, `DROP INDEX s.e1_trap`);
    await as(owner, `INSERT INTO s.e1 VALUES (2, 'E-2')`); // safe again: born
    expect(await count(`SELECT count(*) AS n FROM birthgate.birth_registry WHERE collection_name = 'e1' AND status = 'BORN'`)).toBe(2);
  });

  it('enforce: a CHECK constraint under constraint_exclusion = on, and an index expression, are refused the same way', async () => {
    await as(owner, `CREATE TABLE s.e2 (id int PRIMARY KEY, code text)`);
    await su.query(`SELECT birthgate.register_family('e2', 's.e2', 'code', '^F-[0-9]+$', 'enforce')`);
    await su.query(`SELECT birthgate.issue_permit('e2', 'F-1')`);
    await as(owner, `ALTER TABLE s.e2 ADD CONSTRAINT e2_trap CHECK (s.imm('e2 check'))`);
    await probes();
    expect((await asError(owner, `SET constraint_exclusion = on; INSERT INTO s.e2 VALUES (1, 'F-1')`)).code).toBe('BG161');
    await as(owner, `ALTER TABLE s.e2 DROP CONSTRAINT e2_trap; CREATE INDEX e2_trap ON s.e2 ((s.imm_int('e2 expression') + id))`);
    await probes();
    expect((await asError(owner, `INSERT INTO s.e2 VALUES (1, 'F-1')`)).code).toBe('BG161');
    expect(asPackageOwner(await probes())).toEqual([]);
    expect(await ownerCount('s.e2')).toBe(0);
  });

  it('report: the commit goes through, one FAMILY_TABLE_UNSAFE violation per code, the table is not read', async () => {
    await as(owner, `CREATE TABLE s.p1 (id int PRIMARY KEY, code text)`);
    await su.query(`SELECT birthgate.register_family('p1', 's.p1', 'code', '^P-[0-9]+$', 'report')`);
    await as(owner, `CREATE INDEX p1_trap ON s.p1 (code) WHERE s.imm('p1 predicate, finalize')`);
    await probes();
    await as(owner, `INSERT INTO s.p1 VALUES (1, 'P-1'), (2, 'P-2')`);
    expect(asPackageOwner(await probes())).toEqual([]);
    const { rows } = await su.query(
      `SELECT entity_code, layer, detail ->> 'reason' AS reason FROM birthgate.birth_gate_violation
        WHERE collection_name = 'p1' AND detail ->> 'finding' = 'FAMILY_TABLE_UNSAFE' ORDER BY entity_code`,
    );
    expect(rows.map((r) => r.entity_code)).toEqual(['P-1', 'P-2']);
    expect(rows[0].layer).toBe(2);
    expect(rows[0].reason).toMatch(/p1_trap/);
  });
});

describe('an inheritance child added after registration', () => {
  it('enforce refuses at commit (BG161), report records, the child index predicate never runs as the package owner, drift shows it', async () => {
    await as(owner, `CREATE TABLE s.h1 (id int PRIMARY KEY, code text)`);
    await su.query(`SELECT birthgate.register_family('h1', 's.h1', 'code', '^H-[0-9]+$', 'enforce')`);
    await su.query(`SELECT birthgate.issue_permit('h1', 'H-1')`);
    await as(owner, `CREATE TABLE s.h1_child () INHERITS (s.h1);
      CREATE INDEX h1_child_trap ON s.h1_child (code) WHERE s.imm('child predicate, finalize');
      INSERT INTO s.h1_child VALUES (99, 'H-99')`);
    await probes();
    const e = await asError(owner, `INSERT INTO s.h1 VALUES (1, 'H-1')`);
    expect(e.code).toBe('BG161');
    expect(e.detail).toMatch(/inheritance child s\.h1_child/);
    expect(e.hint).toMatch(/NO INHERIT s\.h1/);
    expect(asPackageOwner(await probes())).toEqual([]);
    const { rows } = await su.query(
      `SELECT severity, kind FROM birthgate.v_drift_report WHERE kind = 'family_table_unsafe' AND object_name LIKE '%h1%'`,
    );
    expect(rows).toEqual([{ severity: 'critical', kind: 'family_table_unsafe' }]);
    expect(asPackageOwner(await probes())).toEqual([]);
    await su.query(`SELECT birthgate.set_family_mode('h1', 'report')`);
    await as(owner, `INSERT INTO s.h1 VALUES (1, 'H-1')`);
    expect(asPackageOwner(await probes())).toEqual([]);
    expect(await count(`SELECT count(*) AS n FROM birthgate.birth_gate_violation WHERE collection_name = 'h1' AND detail ->> 'finding' = 'FAMILY_TABLE_UNSAFE'`)).toBe(1);
  });
});
