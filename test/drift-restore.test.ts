/**
 * The drift monitor across a restore, without pg_dump: every trigger the package owns (on its own
 * tables) or attaches (the gates on family tables, found through the catalog: every trigger whose
 * function lives in the package schema, not a list of names) is re-created from its own
 * pg_get_triggerdef, as pg_restore and pg_upgrade do. Its definition must come back byte for byte
 * (a deparse/re-parse fixpoint), and the drift report must be unchanged: at once for a package
 * trigger, after the documented post-restore step (gate_attach_record) for a gate, which before it
 * is exactly one critical trigger_unrecorded finding naming that step. Also: a package trigger
 * dropped or redefined is cleared by its printed remedy, run as printed; a gate the owner drops and
 * creates again is unrecorded, and after gate_attach_record every DISABLE/ENABLE of it is seen.
 * Runs on every supported major (`scripts/with-pg --pg 14 -- npx --no-install vitest run test/drift-restore.test.ts`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { adminUrl, databasesDroppedAfterAll, type TestDb } from './helpers/db.js';

const dbs = databasesDroppedAfterAll();
const suffix = Math.random().toString(36).slice(2, 8);
const owner = `bg_dr_owner_${suffix}`;
let d: TestDb;
let c: pg.Client;

interface Finding { severity: string; kind: string; object_name: string; remedy: string }
async function report(): Promise<Finding[]> {
  const r = await c.query<Finding>(`SELECT severity, kind, object_name, remedy FROM birthgate.v_drift_report ORDER BY kind, object_name`);
  return r.rows;
}
const brief = (f: Finding[]) => f.map((x) => `${x.severity} ${x.kind} ${x.object_name}`);
async function one<T = unknown>(sql: string, params: unknown[] = []): Promise<T> {
  const r = await c.query(sql, params);
  return Object.values(r.rows[0] ?? {})[0] as T;
}

interface Trig { oid: number; tbl: string; name: string; def: string; enabled: string; family: string | null; pkg: boolean }
/** Every non-internal trigger on a package table or calling a package function, from the catalog. */
async function ownedTriggers(): Promise<Trig[]> {
  const r = await c.query<Trig>(`
    SELECT t.oid::int AS oid, format('%I.%I', n.nspname, cl.relname) AS tbl, t.tgname AS name,
           pg_get_triggerdef(t.oid) AS def, t.tgenabled AS enabled, f.collection_name AS family,
           n.nspname = 'birthgate' AS pkg
      FROM pg_trigger t
      JOIN pg_class cl ON cl.oid = t.tgrelid
      JOIN pg_namespace n ON n.oid = cl.relnamespace
      JOIN pg_proc p ON p.oid = t.tgfoid
      LEFT JOIN birthgate.birth_family f ON f.table_name::oid = t.tgrelid
     WHERE NOT t.tgisinternal AND (n.nspname = 'birthgate' OR p.pronamespace = 'birthgate'::regnamespace)
     ORDER BY 2, 3`);
  return r.rows;
}

beforeAll(async () => {
  d = await dbs.fresh();
  c = await d.client();
  await c.query(`CREATE ROLE ${owner}; GRANT ${owner} TO CURRENT_USER;
    CREATE SCHEMA "Dr Mixed" AUTHORIZATION ${owner};
    SET ROLE ${owner};
    CREATE TABLE "Dr Mixed"."Tools" (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "Code" text NOT NULL);
    CREATE TABLE "Dr Mixed".parts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code varchar(40));
    RESET ROLE;
    SELECT birthgate.register_family('tools', '"Dr Mixed"."Tools"', 'Code', '^T-[0-9]+$', 'enforce');
    SELECT birthgate.register_family('parts', '"Dr Mixed".parts', 'code', '^P-[0-9]+$', 'report');`);
});
afterAll(async () => {
  await d.drop().catch(() => undefined);
  const a = new (await import('pg')).default.Client(adminUrl());
  await a.connect();
  await a.query(`DROP ROLE IF EXISTS ${owner}`).catch(() => undefined);
  await a.end();
});

describe('every trigger the package owns or attaches survives re-creation from its own definition', () => {
  it('the walk covers every trigger the drift monitor hashes, and the report starts clean', async () => {
    const all = await ownedTriggers();
    const server = await one<string>('SHOW server_version');
    console.log(`PostgreSQL ${server}: ${all.length} triggers (${all.filter((t) => t.pkg).length} on package tables, ${all.filter((t) => !t.pkg).length} gates)`);
    expect(all.filter((t) => t.pkg).length).toBeGreaterThanOrEqual(9);
    expect(all.filter((t) => t.family === 'tools').length).toBe(7);
    expect(all.filter((t) => t.family === 'parts').length).toBe(7);
    // everything v_drift_trigger_state judges is in the walk
    const judged = await c.query<{ k: string }>(`SELECT table_name || ' ' || trigger_name AS k FROM birthgate.v_drift_trigger_state WHERE present`);
    const walked = new Set(all.map((t) => `${t.tbl} ${t.name}`));
    for (const j of judged.rows) expect(walked.has(j.k), j.k).toBe(true);
    expect(judged.rows.length).toBe(all.length);
    expect(brief(await report())).toEqual([]);
  });

  it('each one, dropped and created again from pg_get_triggerdef: the same definition; an unchanged report at once for the package triggers, after gate_attach_record for the gates (before it, exactly one trigger_unrecorded per gate, naming that step)', async () => {
    const before = await report();
    const all = await ownedTriggers();
    await c.query('BEGIN');
    try {
      for (const t of all) {
        await c.query(`DROP TRIGGER ${JSON.stringify(t.name)} ON ${t.tbl}`);
        await c.query(t.def);
        const again = await one<string>(`SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname = $2`, [t.tbl, t.name]);
        expect(again, `${t.tbl} ${t.name}`).toBe(t.def);
      }
      const mid = await report();
      const extra = mid.filter((f) => !before.some((b) => b.kind === f.kind && b.object_name === f.object_name));
      expect(brief(mid.filter((f) => !extra.includes(f)))).toEqual(brief(before));
      expect(brief(extra)).toEqual(all.filter((t) => t.family !== null).map((t) => `critical trigger_unrecorded ${t.name} ON ${t.tbl}`).sort());
      for (const f of extra) {
        const t = all.find((x) => f.object_name === `${x.name} ON ${x.tbl}`)!;
        expect(f.remedy).toContain(`SELECT birthgate.gate_attach_record('${t.family}');`);
      }
      expect(await one(`SELECT birthgate.gate_attach_record()`)).toBe(all.filter((t) => t.family !== null).length);
      expect(brief(await report())).toEqual(brief(before));
    } finally {
      await c.query('ROLLBACK');
    }
  });
});

describe('remedies, run as printed', () => {
  it('every package trigger dropped: trigger_missing for each, and the printed remedies restore them and clear the findings', async () => {
    const pkg = (await ownedTriggers()).filter((t) => t.pkg);
    await c.query('BEGIN');
    try {
      for (const t of pkg) await c.query(`DROP TRIGGER ${JSON.stringify(t.name)} ON ${t.tbl}`);
      const f = await report();
      expect(brief(f)).toEqual(pkg.map((t) => `critical trigger_missing ${t.name} ON ${t.tbl}`).sort());
      for (const x of f) await c.query(x.remedy.slice(x.remedy.indexOf('DROP TRIGGER')));
      expect(brief(await report())).toEqual([]);
      for (const t of pkg) {
        expect(await one(`SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname = $2`, [t.tbl, t.name])).toBe(t.def);
      }
    } finally {
      await c.query('ROLLBACK');
    }
  });

  it('a package trigger redefined: trigger_drifted, cleared by its printed remedy', async () => {
    await c.query('BEGIN');
    try {
      await c.query(`DROP TRIGGER _100_replay_guard ON birthgate.event_outbox;
        CREATE TRIGGER _100_replay_guard BEFORE INSERT ON birthgate.event_outbox FOR EACH ROW WHEN (NEW.redrive_count < 0) EXECUTE FUNCTION birthgate.tg_outbox_replay_guard()`);
      const f = await report();
      expect(brief(f)).toEqual(['critical trigger_drifted _100_replay_guard ON birthgate.event_outbox']);
      await c.query(f[0]!.remedy.slice(f[0]!.remedy.indexOf('DROP TRIGGER')));
      expect(brief(await report())).toEqual([]);
    } finally {
      await c.query('ROLLBACK');
    }
  });
});

describe('a gate dropped and created again by the table owner', () => {
  it('is trigger_unrecorded; after gate_attach_record a DISABLE/ENABLE is trigger_altered, which gate_attach_record does not clear', async () => {
    const def = await one<string>(`SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = '"Dr Mixed"."Tools"'::regclass AND tgname = '_905_birth_finalize_delete'`);
    // as a superuser or an owner who may use the package schema would (the owner here may not)
    await c.query(`DROP TRIGGER _905_birth_finalize_delete ON "Dr Mixed"."Tools"; ${def};`);
    const f = await report();
    expect(brief(f)).toEqual(['critical trigger_unrecorded _905_birth_finalize_delete ON "Dr Mixed"."Tools"']);
    expect(f[0]!.remedy).toMatch(/SELECT birthgate\.gate_attach_record\('tools'\);$/);
    // the printed remedy, run as printed (its SQL is its last statement)
    await c.query(f[0]!.remedy.slice(f[0]!.remedy.lastIndexOf('SELECT birthgate.gate_attach_record')));
    expect(brief(await report())).toEqual([]);
    expect(await one(`SELECT count(*)::int FROM birthgate.gate_trigger_attach a WHERE NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.oid = a.trigger_oid)`)).toBe(0);
    await c.query(`SET ROLE ${owner}; ALTER TABLE "Dr Mixed"."Tools" DISABLE TRIGGER _905_birth_finalize_delete; ALTER TABLE "Dr Mixed"."Tools" ENABLE TRIGGER _905_birth_finalize_delete; RESET ROLE;`);
    expect(brief(await report())).toEqual(['critical trigger_altered _905_birth_finalize_delete ON "Dr Mixed"."Tools"']);
    expect(await one(`SELECT birthgate.gate_attach_record()`)).toBe(0);
    expect(brief(await report())).toEqual(['critical trigger_altered _905_birth_finalize_delete ON "Dr Mixed"."Tools"']);
    // the documented remedy for an altered gate (drop it, re-register) clears it
    await c.query(`DROP TRIGGER _905_birth_finalize_delete ON "Dr Mixed"."Tools"; SELECT birthgate.register_family('tools', '"Dr Mixed"."Tools"', 'Code', '^T-[0-9]+$', 'enforce')`);
    expect(brief(await report())).toEqual([]);
  });

  it('a gate dropped and re-created with another definition is not recorded: it stays trigger_drifted', async () => {
    await c.query('BEGIN');
    try {
      await c.query(`DROP TRIGGER _905_birth_finalize_delete ON "Dr Mixed".parts;
        CREATE TRIGGER _905_birth_finalize_delete AFTER DELETE ON "Dr Mixed".parts FOR EACH STATEMENT EXECUTE FUNCTION birthgate.tg_birth_finalize('parts', 'code');`);
      expect(brief(await report())).toContain('critical trigger_drifted _905_birth_finalize_delete ON "Dr Mixed".parts');
      expect(await one(`SELECT birthgate.gate_attach_record('parts')`)).toBe(0);
      expect(brief(await report())).toContain('critical trigger_drifted _905_birth_finalize_delete ON "Dr Mixed".parts');
    } finally {
      await c.query('ROLLBACK');
    }
  });
});
