/**
 * Adversarial review (0.4.2): a DBA's ordinary maintenance on a governed table while an application
 * keeps giving birth, with real COMMITs (the cheap commit check of tg_admission_reverify only runs
 * on a table committed before the births). The application (table privileges only) commits single-row
 * and multi-row births, some with a DELETE of an earlier-born object; meanwhile the DBA runs
 * VACUUM FULL, CLUSTER, REINDEX TABLE CONCURRENTLY, SET UNLOGGED / SET LOGGED, ANALYZE, and the
 * owner re-grants the application's privileges. What must hold at the end: no birth without an
 * object (other than the deleted ones, which are phantoms), no object without a birth, one BORN
 * changelog row per birth, one handoff event per BORN row, no refusal of a legitimate transaction,
 * the gates present and unaltered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { databasesDroppedAfterAll, type TestDb } from './helpers/db.js';

const dbs = databasesDroppedAfterAll();
const suffix = Math.random().toString(36).slice(2, 8);
const owner = `bg_b9m_owner_${suffix}`;
const app = `bg_b9m_app_${suffix}`;
let d: TestDb;
let adm: pg.Client;

beforeAll(async () => {
  d = await dbs.fresh();
  adm = await d.client();
  await adm.query(`CREATE ROLE ${owner}; CREATE ROLE ${app}; GRANT ${owner} TO CURRENT_USER; GRANT ${app} TO CURRENT_USER;
    CREATE SCHEMA b9m AUTHORIZATION ${owner};
    GRANT USAGE ON SCHEMA b9m TO ${app};
    SET ROLE ${owner};
    CREATE TABLE b9m.tools (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text NOT NULL UNIQUE, name text);
    GRANT SELECT, INSERT, UPDATE, DELETE ON b9m.tools TO ${app};
    RESET ROLE;
    SELECT birthgate.register_family('b9m', 'b9m.tools', 'code', '^T-[0-9]+$', 'enforce');
    SELECT count(*) FROM (SELECT birthgate.issue_permit('b9m', 'T-' || g) FROM generate_series(1, 400) AS g) AS s;`);
});
afterAll(async () => {
  await d?.drop();
  const c = await (await dbs.empty()).client();
  await c.query(`DROP ROLE IF EXISTS ${owner}; DROP ROLE IF EXISTS ${app}`).catch(() => undefined);
});

describe('maintenance while births run', () => {
  it('births commit through VACUUM FULL, CLUSTER, REINDEX CONCURRENTLY, SET UNLOGGED/LOGGED and re-grants; every invariant holds', async () => {
    const a = await d.client();
    const m = await d.client();
    let stop = false;
    const refused: string[] = [];
    let born = 0;
    let deleted = 0;
    const births = (async () => {
      let g = 1;
      await a.query(`SET ROLE ${app}`);
      while (g <= 390) {
        const k = g;
        try {
          await a.query('BEGIN');
          if (k % 10 === 0) {
            await a.query(`INSERT INTO b9m.tools (code) SELECT 'T-' || x FROM generate_series($1::int, $1::int + 4) AS x`, [k]);
            g += 5;
          } else {
            await a.query(`INSERT INTO b9m.tools (code) VALUES ('T-' || $1::int)`, [k]);
            g += 1;
          }
          if (k % 7 === 0) await a.query(`DELETE FROM b9m.tools WHERE code = 'T-' || $1::int`, [k - 6]);
          await a.query('COMMIT');
          born = g - 1;
          if (k % 7 === 0) deleted += 1;
        } catch (e) {
          refused.push(`${k}: ${(e as { code?: string }).code} ${(e as Error).message}`);
          await a.query('ROLLBACK').catch(() => undefined);
          g += 1;
        }
      }
      stop = true;
    })();
    const maintenance = [
      'VACUUM FULL b9m.tools',
      'CLUSTER b9m.tools USING tools_pkey',
      'REINDEX TABLE CONCURRENTLY b9m.tools',
      'ALTER TABLE b9m.tools SET UNLOGGED',
      'ALTER TABLE b9m.tools SET LOGGED',
      'ANALYZE b9m.tools',
      `BEGIN; SET LOCAL ROLE ${owner}; REVOKE ALL ON b9m.tools FROM ${app}; GRANT SELECT, INSERT, UPDATE, DELETE ON b9m.tools TO ${app}; COMMIT`,
    ];
    let rounds = 0;
    while (!stop) {
      for (const s of maintenance) {
        await m.query(s);
        if (stop) break;
      }
      rounds += 1;
    }
    await births;
    console.log(`maintenance rounds ${rounds}, births up to T-${born}, transactions with a delete ${deleted}, refused ${refused.length}`);
    expect(refused).toEqual([]);
    expect(rounds).toBeGreaterThan(0);
    const r = await adm.query<{ m: string }>(`
      SELECT 'object without birth: ' || x.code AS m FROM b9m.tools x
       WHERE NOT EXISTS (SELECT 1 FROM birthgate.birth_registry r WHERE r.collection_name = 'b9m' AND r.status = 'BORN' AND r.entity_code = x.code)
      UNION ALL
      SELECT 'changelog rows: ' || r.entity_code FROM birthgate.birth_registry r
       WHERE r.collection_name = 'b9m' AND (SELECT count(*) FROM birthgate.registry_changelog c WHERE c.collection_name = 'b9m' AND c.entity_code = r.entity_code AND c.op = 'BORN') <> 1
      UNION ALL
      SELECT 'permit not consumed: ' || r.entity_code FROM birthgate.birth_registry r
       WHERE r.collection_name = 'b9m' AND NOT EXISTS (SELECT 1 FROM birthgate.birth_admission_permit p WHERE p.collection_name = 'b9m' AND p.entity_code = r.entity_code AND p.state = 'CONSUMED')`);
    expect(r.rows.map((x) => x.m)).toEqual([]);
    expect(Number((await adm.query(`SELECT count(*) AS n FROM birthgate.birth_registry WHERE collection_name = 'b9m'`)).rows[0].n)).toBe(born);
    expect(Number((await adm.query(`SELECT count(*) AS n FROM b9m.tools`)).rows[0].n)).toBe(born - deleted);
    let consumed = 1;
    while (consumed > 0) consumed = Number((await adm.query(`SELECT consumed FROM birthgate.handoff_consume(100)`)).rows[0].consumed);
    expect((await adm.query(`SELECT count(*)::int AS n, count(DISTINCT object_key)::int AS k FROM birthgate.event_pending WHERE object_key LIKE 'b9m:%' OR payload ->> 'collection_name' = 'b9m'`)).rows[0])
      .toEqual({ n: born, k: born });
    const findings = await adm.query<{ f: string }>(`SELECT severity || ' ' || kind AS f FROM birthgate.v_drift_report WHERE object_name LIKE '%b9m%' ORDER BY 1`);
    expect(findings.rows.map((x) => x.f)).toEqual(deleted > 0 ? ['warning phantom_objects'] : []);
  });
});
