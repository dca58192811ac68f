/**
 * The catalog description (src/catalog-dump.ts) stands in for pg_dump on servers newer than the
 * local pg_dump (make test PG=16|17|18), so the schema-equality tests there are only as strong as
 * it is: it must be stable for equal schemas and see every kind of change those tests rely on.
 * Runs on whichever major the suite runs on.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { catalogDump } from '../src/catalog-dump.js';
import { dumpSchema, dumpTool } from '../src/schema-dump.js';
import { adminUrl, databasesDroppedAfterAll, type TestDb } from './helpers/db.js';

const dbs = databasesDroppedAfterAll();
const pkg = { schemas: ['birthgate', 'birthgate_migrations'], owners: false };
const whole = { schemas: null, owners: true };
let a: TestDb;
let b: TestDb;

beforeAll(async () => {
  a = await dbs.fresh();
  b = await dbs.fresh();
});

describe('catalog dump', () => {
  it('is identical for two databases with the same schema, and lists the package objects', async () => {
    const x = await catalogDump(a.url, pkg);
    expect(await catalogDump(b.url, pkg)).toBe(x);
    expect(await catalogDump(b.url, whole)).toBe(await catalogDump(a.url, whole));
    expect(x).toMatch(/^RELATION birthgate\.registry_changelog kind=r /m);
    expect(x).toMatch(/^COLUMN birthgate\.registry_changelog\.txid xid8 NOT NULL/m);
    expect(x).toMatch(/CREATE OR REPLACE FUNCTION birthgate\.handoff_consume\(/);
    expect(x).toMatch(/^RELATION birthgate\.v_handoff_status kind=v .*\n {4}AS /m);
  });

  const changes: [string, string, typeof pkg | typeof whole][] = [
    ['a function body', `CREATE OR REPLACE FUNCTION birthgate.handoff_horizon() RETURNS xid8 LANGUAGE sql STABLE
       SET search_path = pg_catalog, pg_temp AS $$ SELECT pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()) $$`, pkg],
    ['a comment', `COMMENT ON TABLE birthgate.birth_family IS 'changed'`, pkg],
    ['a column default', `ALTER TABLE birthgate.birth_family ALTER COLUMN mode SET DEFAULT 'off'`, pkg],
    ['a new index', `CREATE INDEX extra_idx ON birthgate.birth_registry (status)`, pkg],
    ['a CHECK constraint', `ALTER TABLE birthgate.birth_registry ADD CONSTRAINT extra_chk CHECK (registry_id > 0)`, pkg],
    ['a view definition', `CREATE OR REPLACE VIEW birthgate.v_handoff_lag AS SELECT * FROM birthgate.v_handoff_lag WHERE false`, pkg],
    ['a privilege (with owners)', `GRANT SELECT ON birthgate.birth_family TO PUBLIC`, whole],
    ['a table in another schema (whole database)', `CREATE TABLE public.extra (id int)`, whole],
  ];
  for (const [what, sql, opts] of changes) {
    it(`sees ${what}`, async () => {
      const d = await dbs.fresh();
      const before = await catalogDump(d.url, opts);
      expect(before).toBe(await catalogDump(a.url, opts));
      const k = await d.client();
      await k.query(sql);
      expect(await catalogDump(d.url, opts)).not.toBe(before);
    });
  }

  it('a table trigger disabled is seen', async () => {
    const d = await dbs.fresh();
    const k = await d.client();
    await k.query(`CREATE TABLE public.fam (code text)`);
    await k.query(`SELECT birthgate.register_family('fam', 'public.fam', 'code', '^F-[0-9]+$', 'report')`);
    const before = await catalogDump(d.url, { schemas: ['public'], owners: false });
    expect(before).toMatch(/_100_birth_gate .* enabled=O/);
    await k.query(`ALTER TABLE public.fam DISABLE TRIGGER _100_birth_gate`);
    const after = await catalogDump(d.url, { schemas: ['public'], owners: false });
    expect(after).toMatch(/_100_birth_gate .* enabled=D/);
  });

  it('dumpSchema uses pg_dump when it can dump the server, the catalogs otherwise', async () => {
    const tool = await dumpTool(adminUrl());
    const text = await dumpSchema(a.url);
    if (tool.pgDump) expect(text).toMatch(/^CREATE SCHEMA birthgate;$/m);
    else expect(text).toMatch(/^SCHEMA birthgate /m);
  });
});
