/**
 * Admission through the 000011 upgrade (issue 8 follow-up): a database at 0.2.0 (migrations up to
 * 000010) with a governed table holding rows, a live permit and a family whose code column is a
 * domain over a domain; up to 000011 (the triggers of every registered family are re-attached with
 * the new definitions, drift stays clean), down to 000010 (the 000006 definitions come back), up
 * again; births work at each level and layer 2 still refuses an unborn row. Then on to the newest
 * (000015: _900_birth_finalize without the verify setting, admission_verify) and down to 000014.
 */
import { describe, expect, it } from 'vitest';
import type pg from 'pg';
import { migrate } from '../src/migrate.js';
import { migrations } from '../generator/migrations/index.js';
import { databasesDroppedAfterAll } from './helpers/db.js';

const databases = databasesDroppedAfterAll();
const ID = '000011';

async function triggerDefs(c: pg.Client): Promise<Record<string, string>> {
  const r = await c.query<{ tgname: string; def: string }>(
    `SELECT tgname, pg_get_triggerdef(oid) AS def FROM pg_trigger WHERE tgrelid = 'pilot.tools'::regclass AND NOT tgisinternal ORDER BY tgname`,
  );
  return Object.fromEntries(r.rows.map((x) => [x.tgname, x.def]));
}

async function driftFindings(c: pg.Client): Promise<number> {
  const r = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM birthgate.v_drift_trigger_state WHERE state <> 'ok'`);
  return r.rows[0]!.n;
}

async function births(c: pg.Client): Promise<number> {
  const r = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM birthgate.birth_registry WHERE collection_name = 'tools'`);
  return r.rows[0]!.n;
}

async function unbornRefused(c: pg.Client, code: string): Promise<string> {
  await c.query('BEGIN');
  try {
    await c.query(`ALTER TABLE pilot.tools DISABLE TRIGGER _110_birth_register`);
    await c.query(`INSERT INTO pilot.tools (code) VALUES ($1)`, [code]);
    await c.query('COMMIT');
    return 'committed';
  } catch (e) {
    await c.query('ROLLBACK');
    return (e as { code?: string }).code ?? 'error';
  }
}

describe('admission across the 000011 upgrade', () => {
  it('0.2.0 -> 000011 -> down -> up: triggers re-attached, births and layer 2 work at every level', async () => {
    const d = await databases.empty();
    const before = await migrate({ databaseUrl: d.url, direction: 'up', count: 10 });
    expect(before.at(-1)).toMatch(/^000010_/);
    const c = await d.client();
    await c.query(`CREATE SCHEMA pilot`);
    await c.query(`CREATE TABLE pilot.tools (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text NOT NULL UNIQUE, name text)`);
    await c.query(`CREATE DOMAIN pilot.code1 AS text`);
    await c.query(`CREATE DOMAIN pilot.code2 AS pilot.code1`);
    await c.query(`CREATE TABLE pilot.parts (id int PRIMARY KEY, code pilot.code2 UNIQUE)`);
    await c.query(`SELECT birthgate.register_family('tools', 'pilot.tools', 'code', '^T-[0-9]+$', 'enforce')`);
    await c.query(`SELECT birthgate.issue_permit('tools', 'T-' || g) FROM generate_series(1, 12) g`);
    await c.query(`INSERT INTO pilot.tools (code) SELECT 'T-' || g FROM generate_series(1, 5) g`);
    expect(await births(c)).toBe(5);
    // a domain over a domain is refused at 0.2.0 (a domain directly over text only)
    await expect(c.query(`SELECT birthgate.register_family('parts', 'pilot.parts', 'code', '^P-[0-9]+$', 'enforce')`)).rejects.toMatchObject({ code: 'BG103' });
    const old = await triggerDefs(c);
    expect(old._900_birth_finalize).not.toContain('WHEN');

    expect(await migrate({ databaseUrl: d.url, direction: 'up', count: 1 })).toEqual([expect.stringMatching(new RegExp(`^${ID}_`))]);
    const now = await triggerDefs(c);
    expect(now._900_birth_finalize).toContain('birthgate.gate_armed');
    expect(Object.keys(now)).toEqual(Object.keys(old));
    expect(await driftFindings(c)).toBe(0);
    // the permit issued before the upgrade is still live and usable
    await c.query(`INSERT INTO pilot.tools (code) VALUES ('T-6'), ('T-7')`);
    expect(await births(c)).toBe(7);
    expect(await unbornRefused(c, 'T-100')).toBe('BG130');
    await c.query(`SELECT birthgate.register_family('parts', 'pilot.parts', 'code', '^P-[0-9]+$', 'enforce')`);
    await c.query(`SELECT birthgate.issue_permit('parts', 'P-1')`);
    await c.query(`INSERT INTO pilot.parts VALUES (1, 'P-1')`);

    await migrate({ databaseUrl: d.url, direction: 'down', count: 1 });
    expect(await triggerDefs(c)).toEqual(old);
    await c.query(`INSERT INTO pilot.tools (code) VALUES ('T-8')`);
    expect(await births(c)).toBe(8);
    expect(await unbornRefused(c, 'T-101')).toBe('BG130');

    await migrate({ databaseUrl: d.url, direction: 'up', count: 1 });
    expect(await triggerDefs(c)).toEqual(now);
    expect(await driftFindings(c)).toBe(0);
    await c.query(`INSERT INTO pilot.tools (code) SELECT 'T-' || g FROM generate_series(9, 12) g`);
    expect(await births(c)).toBe(12);
    expect(await unbornRefused(c, 'T-102')).toBe('BG130');

    // on to the newest: 000015 re-attaches _900_birth_finalize without the verify setting, and the
    // writer queues the re-verification in admission_verify; down to 000014 restores the 000011 set
    await migrate({ databaseUrl: d.url, direction: 'up' });
    const latest = await triggerDefs(c);
    expect(latest._900_birth_finalize).toContain('birthgate.gate_armed');
    expect(latest._900_birth_finalize).not.toContain('gate_verify_');
    expect(Object.keys(latest)).toEqual([...Object.keys(old), '_905_birth_finalize_delete'].sort());
    expect(latest._905_birth_finalize_delete).toContain('AFTER DELETE');
    expect(latest._900_birth_finalize).toContain('AFTER INSERT ON');
    expect(await driftFindings(c)).toBe(0);
    await c.query(`SELECT birthgate.issue_permit('tools', 'T-' || g) FROM generate_series(13, 16) g`);
    await c.query(`INSERT INTO pilot.tools (code) VALUES ('T-13')`);
    await c.query(`INSERT INTO pilot.tools (code) SELECT 'T-' || g FROM generate_series(14, 15) g`);
    expect(await births(c)).toBe(15);
    expect(await unbornRefused(c, 'T-103')).toBe('BG130');
    expect(Number((await c.query(`SELECT count(*) AS n FROM birthgate.admission_verify`)).rows[0].n)).toBe(0);
    // down to 000014 (every migration from 000015 on)
    const since15 = migrations.filter((m) => m.id >= '000015').length;
    const undone = await migrate({ databaseUrl: d.url, direction: 'down', count: since15 });
    expect(undone).toHaveLength(since15);
    expect(undone.at(-1)).toMatch(/^000015_admission_single_row/);
    expect(await triggerDefs(c)).toEqual(now);
    expect((await c.query(`SELECT to_regclass('birthgate.admission_verify') AS t`)).rows[0].t).toBeNull();
    await c.query(`INSERT INTO pilot.tools (code) VALUES ('T-16')`);
    expect(await births(c)).toBe(16);
    expect(await unbornRefused(c, 'T-104')).toBe('BG130');
    await migrate({ databaseUrl: d.url, direction: 'up' });
    expect(await triggerDefs(c)).toEqual(latest);
    expect(await driftFindings(c)).toBe(0);
  }, 180_000);
});
