/**
 * The owner of a governed table (no superuser, no package role) must never get its own code run as
 * the package owner (a superuser in the default install) by a SECURITY DEFINER path that plans a
 * query over the family table.
 *
 * Root cause: the planner const-folds index predicates and index expressions
 * (RelationGetIndexPredicate / RelationGetIndexExpressions -> eval_const_expressions) and
 * extended-statistics expressions (get_relation_statistics) of every relation it plans over, in the
 * backend that plans, as the current user. An IMMUTABLE function with constant arguments in a
 * partial-index predicate is therefore *executed* when the package plans
 *   SELECT ... FROM ONLY s.t ...        (drift_family_objects / v_drift_report, retire_gate_check)
 *   SELECT ... FROM s.t ...             (sweep_adopt)
 *   SELECT EXISTS (SELECT 1 FROM s.t …) (tg_birth_finalize: no ONLY, so also every inheritance child)
 * An IMMUTABLE plpgsql function may call a VOLATILE one, so such code can write and run utility
 * commands: the probe below makes the table owner SUPERUSER if it ever runs as a superuser.
 *
 * family_read_source refuses such a table (family_relation_unsafe): the drift report shows a
 * critical family_table_unsafe finding, retire_gate_check raises BG321, sweep_adopt BG607, and the
 * probe never records the package owner.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { adminUrl, freshDatabase, type TestDb } from './helpers/db.js';

const tag = `${process.pid}_${Math.random().toString(36).slice(2, 7)}`;
const owner = `bkf1_owner_${tag}`;
const reader = `bkf1_reader_${tag}`;
const admin = `bkf1_admin_${tag}`;
const consumer = `bkf1_consumer_${tag}`;
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
async function probes(): Promise<string[]> {
  const { rows } = await su.query<{ w: string }>(`SELECT who || ':' || what AS w FROM s.probe_log ORDER BY at`);
  await su.query('TRUNCATE s.probe_log');
  return rows.map((r) => r.w);
}

beforeAll(async () => {
  d = await freshDatabase();
  su = await d.client();
  pkgOwner = (await su.query(`SELECT current_user AS u`)).rows[0].u;
  await su.query(`CREATE ROLE ${owner} LOGIN;
    CREATE ROLE ${reader} LOGIN IN ROLE birthgate_reader;
    CREATE ROLE ${admin} LOGIN IN ROLE birthgate_admin;
    CREATE ROLE ${consumer} LOGIN IN ROLE birthgate_consumer;
    CREATE SCHEMA s AUTHORIZATION ${owner};`);
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
    CREATE TABLE s.t (id int PRIMARY KEY, code text, name text);`);
  await su.query(`SELECT birthgate.register_family('t', 's.t', 'code', '^T-[0-9]+$', 'report')`);
  await as(owner, `INSERT INTO s.t VALUES (1, 'T-1', 'one')`);
});

afterAll(async () => {
  await d?.drop();
  const c = new pg.Client(adminUrl());
  await c.connect();
  try {
    for (const r of [owner, reader, admin, consumer]) await c.query(`DROP ROLE IF EXISTS ${r}`);
  } finally {
    await c.end();
  }
});

describe('owner code in index predicates / statistics never runs as the package owner', () => {
  it('a reader reading v_drift_report gets a critical finding, and the partial-index predicate of the owner does not run', async () => {
    await as(owner, `CREATE INDEX t_trap ON s.t (code) WHERE s.imm('partial index predicate')`);
    await probes(); // the owner's own CREATE INDEX ran it as the owner: fine
    const report = await as(reader, `SELECT kind, severity FROM birthgate.v_drift_report WHERE kind = 'family_table_unsafe'`);
    expect(report.rows).toEqual([{ kind: 'family_table_unsafe', severity: 'critical' }]);
    const seen = await probes();
    expect(seen.filter((w) => w.startsWith(`${pkgOwner}:`))).toEqual([]);
    const su2 = await su.query(`SELECT rolsuper FROM pg_roles WHERE rolname = $1`, [owner]);
    expect(su2.rows[0].rolsuper).toBe(false);
  });

  it('an admin calling retire_gate_check gets BG321, and nothing of the owner runs', async () => {
    await su.query(`ALTER ROLE ${owner} NOSUPERUSER`);
    await expect(as(admin, `SELECT * FROM birthgate.retire_gate_check('t', 'T-1')`)).rejects.toMatchObject({ code: 'BG321' });
    expect((await probes()).filter((w) => w.startsWith(`${pkgOwner}:`))).toEqual([]);
  });

  it('the consumer running sweep_adopt (dry run) gets BG607, and nothing of the owner runs', async () => {
    await su.query(`ALTER ROLE ${owner} NOSUPERUSER`);
    await expect(as(consumer, `SELECT * FROM birthgate.sweep_adopt('t', true)`)).rejects.toMatchObject({ code: 'BG607' });
    expect((await probes()).filter((w) => w.startsWith(`${pkgOwner}:`))).toEqual([]);
  });

  it('an extended-statistics expression is refused the same way', async () => {
    await su.query(`ALTER ROLE ${owner} NOSUPERUSER`);
    await as(owner, `DROP INDEX s.t_trap;
      CREATE FUNCTION s.imm_int(p_what text) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM s.probe(p_what); RETURN 0; END $$;
      CREATE STATISTICS s.t_stx ON (id + s.imm_int('statistics expression')), name FROM s.t;`);
    await probes();
    await as(reader, `SELECT * FROM birthgate.v_drift_report`);
    expect((await probes()).filter((w) => w.startsWith(`${pkgOwner}:`))).toEqual([]);
  });

});
