/**
 * Adversarial review of 000018 and 000020 with real COMMITs, by the owner of the family tables (no
 * package role). pgTAP 492 runs the other cases inside one rolled-back transaction; these need
 * tables committed before the births: the cheap commit check of tg_admission_reverify is skipped for
 * a table whose pg_class row is the transaction's own, which every table created in a test's
 * transaction is.
 * Defects found by this review (the RENAME COLUMN swap and the armed-then-attached routed row are
 * fixed in 000018/000022 and asserted as refusals; the DROP after the checks ran early is a known
 * limit, kept as it.fails next to a test of what holds):
 *  - RENAME COLUMN swaps the code column for another text column after one birth: pg_class's row
 *    is not changed, no UPDATE is counted, the cheap check commits a birth whose code no row has;
 *  - births, SET CONSTRAINTS ALL IMMEDIATE, DROP TABLE: nothing judges the births at commit;
 *  - the gate armed by an earlier statement of the same top-level statement, ATTACH PARTITION, a
 *    row routed through the parent and SET CONSTRAINTS ALL IMMEDIATE in that same statement (the
 *    deferred checks then see the statement armed): an object without a permit or birth commits
 *    (without the SET CONSTRAINTS the commit is refused, BG130).
 * Controls that hold: the same swap with 17 births or with an ADD COLUMN is refused (BG157); a
 * rewrite (ALTER COLUMN ... TYPE ... USING, gates dropped) is refused; ADD COLUMN, SET STATISTICS,
 * GRANT, CREATE INDEX, CLUSTER after a birth commit.
 * (The family tables use serial, not identity: PostgreSQL 17+ refuse to attach a table with an
 * identity column to a parent without one.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { databasesDroppedAfterAll, type TestDb } from './helpers/db.js';
import { sqlstate } from './helpers/sql.js';

const dbs = databasesDroppedAfterAll();
let d: TestDb;
let adm: pg.Client;
let a: pg.Client;
const suffix = Math.random().toString(36).slice(2, 8);
const owner = `bg_b7_owner_${suffix}`;
let n = 0;

/** Runs `stmts` in one transaction as the table owner and COMMITs; the SQLSTATE of the failure, or null. */
async function tx(stmts: string[]): Promise<string | null> {
  const state = await sqlstate((async () => {
    await a.query('BEGIN');
    await a.query(`SET LOCAL ROLE ${owner}`);
    for (const s of stmts) await a.query(s);
    await a.query('COMMIT');
  })());
  if (state !== null) await a.query('ROLLBACK');
  return state;
}
/** A new enforce family b7.fN (code, name), committed, with permits D-1..D-40; its name. */
async function family(): Promise<string> {
  n += 1;
  const t = `f${n}`;
  await adm.query(`SET ROLE ${owner};
    CREATE TABLE b7.${t} (id serial, code text NOT NULL, name text, PRIMARY KEY (id, code));
    RESET ROLE;
    SELECT birthgate.register_family('b7${t}', 'b7.${t}', 'code', '^D-[0-9]+$', 'enforce');
    SELECT birthgate.issue_permit('b7${t}', 'D-' || g) FROM generate_series(1, 40) AS g;`);
  return t;
}
/** Births of a family without an object in its table (by the family's current code column) and the reverse. */
async function mismatches(t: string): Promise<string[]> {
  const exists = (await adm.query(`SELECT to_regclass('b7.${t}') IS NOT NULL AS x`)).rows[0].x;
  const r = await adm.query<{ m: string }>(exists
    ? `SELECT 'born without object: ' || r.entity_code AS m FROM birthgate.birth_registry r
        WHERE r.collection_name = $1 AND r.status = 'BORN' AND NOT EXISTS (SELECT 1 FROM ONLY b7.${t} x WHERE x.code = r.entity_code)
       UNION ALL
       SELECT 'object without birth: ' || x.code FROM ONLY b7.${t} x
        WHERE NOT EXISTS (SELECT 1 FROM birthgate.birth_registry r WHERE r.collection_name = $1 AND r.status = 'BORN' AND r.entity_code = x.code)
       ORDER BY 1`
    : `SELECT 'born without table: ' || r.entity_code AS m FROM birthgate.birth_registry r WHERE r.collection_name = $1 AND r.status = 'BORN' ORDER BY 1`,
    [`b7${t}`]);
  if (r.rows.length > 0) console.log(`b7${t}: ${r.rows.map((x) => x.m).join('; ')}`);
  return r.rows.map((x) => x.m);
}

beforeAll(async () => {
  d = await dbs.fresh();
  [adm, a] = [await d.client(), await d.client()];
  await adm.query(`CREATE ROLE ${owner}; GRANT ${owner} TO CURRENT_USER; CREATE SCHEMA b7 AUTHORIZATION ${owner};`);
});
afterAll(async () => {
  await a?.query('ROLLBACK').catch(() => undefined);
  await adm?.query(`DROP SCHEMA b7 CASCADE; DROP OWNED BY ${owner}`).catch(() => undefined);
  await adm?.query(`DROP ROLE IF EXISTS ${owner}`).catch(() => undefined);
});

describe('the cheap commit check on a table committed before (000018)', () => {
  // the cheap path now also requires the code column's pg_attribute row to be older than this
  // transaction (RENAME COLUMN changes it, not the table's pg_class row)
  it('one birth, then RENAME COLUMN swaps the code column: refused at commit (BG157), nothing left', async () => {
    const t = await family();
    const state = await tx([`INSERT INTO b7.${t} (code, name) VALUES ('D-1', 'not a code')`,
      `ALTER TABLE b7.${t} RENAME COLUMN code TO code_was`, `ALTER TABLE b7.${t} RENAME COLUMN name TO code`]);
    expect(state).toBe('BG157');
    expect(await mismatches(t)).toEqual([]);
  });
  it('control: 17 births and the same swap are refused (BG157), nothing left', async () => {
    const t = await family();
    expect(await tx([`INSERT INTO b7.${t} (code, name) SELECT 'D-' || g, 'n' || g FROM generate_series(1, 17) AS g`,
      `ALTER TABLE b7.${t} RENAME COLUMN code TO code_was`, `ALTER TABLE b7.${t} RENAME COLUMN name TO code`])).toBe('BG157');
    expect(await mismatches(t)).toEqual([]);
  });
  it('control: one birth, the swap and an ADD COLUMN (pg_class changed) are refused (BG157)', async () => {
    const t = await family();
    expect(await tx([`INSERT INTO b7.${t} (code, name) VALUES ('D-1', 'not a code')`, `ALTER TABLE b7.${t} RENAME COLUMN code TO code_was`,
      `ALTER TABLE b7.${t} RENAME COLUMN name TO code`, `ALTER TABLE b7.${t} ADD COLUMN extra int`])).toBe('BG157');
    expect(await mismatches(t)).toEqual([]);
  });
  it('a rewrite after the owner dropped the gates naming the column is refused (BG157)', async () => {
    const t = await family();
    expect(await tx([`INSERT INTO b7.${t} (code) VALUES ('D-1')`, `DROP TRIGGER _100_birth_gate ON b7.${t}`,
      `DROP TRIGGER _120_birth_recode ON b7.${t}`, `DROP TRIGGER _910_birth_finalize_recode ON b7.${t}`,
      `ALTER TABLE b7.${t} ALTER COLUMN code TYPE text USING 'D-9' || id`])).toBe('BG157');
    expect(await mismatches(t)).toEqual([]);
  });
  it('legitimate DDL after a birth commits: ADD COLUMN, SET STATISTICS, GRANT, CREATE INDEX, CLUSTER', async () => {
    const t = await family();
    expect(await tx([`INSERT INTO b7.${t} (code) VALUES ('D-1')`, `ALTER TABLE b7.${t} ADD COLUMN extra int DEFAULT 1`,
      `ALTER TABLE b7.${t} ALTER COLUMN name SET STATISTICS 500`, `GRANT SELECT ON b7.${t} TO PUBLIC`,
      `CREATE INDEX ON b7.${t} (name)`, `CLUSTER b7.${t} USING ${t}_pkey`])).toBe(null);
    expect(await tx([`INSERT INTO b7.${t} (code) VALUES ('D-2')`, `GRANT SELECT ON b7.${t} TO PUBLIC`])).toBe(null);
    expect(await mismatches(t)).toEqual([]);
  });
});

describe('a family table dropped after the deferred checks ran early (000018)', () => {
  it('control: births then DROP TABLE is refused (BG157)', async () => {
    const t = await family();
    expect(await tx([`INSERT INTO b7.${t} (code) VALUES ('D-1')`, `DROP TABLE b7.${t}`])).toBe('BG157');
    expect(await mismatches(t)).toEqual([]);
  });
  // A known limit (README): once the commit checks ran early nothing fires for a DROP, so it
  // commits as a DROP in the next transaction would; the drift report names the governed table gone
  it.fails('births, SET CONSTRAINTS ALL IMMEDIATE, DROP TABLE: refused at commit (BG157)', async () => {
    const t = await family();
    const state = await tx([`INSERT INTO b7.${t} (code) VALUES ('D-1')`, 'SET CONSTRAINTS ALL IMMEDIATE', 'SET CONSTRAINTS ALL DEFERRED', `DROP TABLE b7.${t}`]);
    console.log(`checks immediate, then DROP TABLE: ${state ?? 'committed'}`);
    expect(state).toBe('BG157');
  });
  it('births, SET CONSTRAINTS ALL IMMEDIATE, DROP TABLE: the drift report shows family_table_missing (critical)', async () => {
    const t = await family();
    expect(await tx([`INSERT INTO b7.${t} (code) VALUES ('D-1')`, 'SET CONSTRAINTS ALL IMMEDIATE', 'SET CONSTRAINTS ALL DEFERRED', `DROP TABLE b7.${t}`])).toBe(null);
    const f = await adm.query(`SELECT severity FROM birthgate.v_drift_report WHERE kind = 'family_table_missing' AND detail ->> 'collection_name' = $1`, [`b7${t}`]);
    expect(f.rows).toEqual([{ severity: 'critical' }]);
  });
});

describe('a gate armed before ATTACH PARTITION in the same top-level statement (000020)', () => {
  async function armedAttach(t: string, immediate: boolean): Promise<string | null> {
    await adm.query(`INSERT INTO b7.${t} (id, code) VALUES (500, 'D-40')`);
    await adm.query(`SET ROLE ${owner};
      CREATE TABLE b7.${t}_parent (id int NOT NULL, code text NOT NULL, name text) PARTITION BY RANGE (id);
      CREATE FUNCTION b7.${t}_attach() RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
          UPDATE b7.${t} SET code = code WHERE id = 500;
          ALTER TABLE b7.${t}_parent ATTACH PARTITION b7.${t} FOR VALUES FROM (0) TO (1000);
          INSERT INTO b7.${t}_parent (id, code) VALUES (2, 'D-999');
          ${immediate ? 'SET CONSTRAINTS ALL IMMEDIATE;' : ''}
      END $$;
      RESET ROLE;`);
    const state = await tx([`SELECT b7.${t}_attach()`]);
    console.log(`armed, attached, routed${immediate ? ', checks immediate in the same statement' : ''}: ${state ?? 'committed'}`);
    await mismatches(t);
    return state;
  }
  it('control: armed, attached, routed without a permit: refused at commit (BG130), nothing left', async () => {
    const t = await family();
    expect(await armedAttach(t, false)).toBe('BG130');
    expect(await mismatches(t)).toEqual([]);
  });
  // layer 2 no longer defers to the statement writer of a table that is a partition (000022)
  it('armed, attached, routed without a permit, checks run in the same statement: refused (BG130), nothing left', async () => {
    const t = await family();
    expect(await armedAttach(t, true)).toBe('BG130');
    expect(await mismatches(t)).toEqual([]);
  });
  it('control: attached in an earlier transaction, the same routed row is refused (BG163)', async () => {
    const t = await family();
    await adm.query(`SET ROLE ${owner}; CREATE TABLE b7.${t}_parent (id int NOT NULL, code text NOT NULL, name text) PARTITION BY RANGE (id);
      ALTER TABLE b7.${t}_parent ATTACH PARTITION b7.${t} FOR VALUES FROM (0) TO (1000); RESET ROLE;`);
    expect(await tx([`INSERT INTO b7.${t}_parent (id, code) VALUES (2, 'D-999')`])).toBe('BG163');
    expect(await tx([`INSERT INTO b7.${t}_parent (id, code) VALUES (2, 'D-1')`])).toBe('BG163');
    expect(await mismatches(t)).toEqual([]);
  });
});
