/**
 * The drift monitor on the paths a DBA walks: a fresh install (migrator and install script), a
 * fresh upgrade (up to the migration before 000004, then the rest), every migration level after
 * 000004 (so a later migration that changes a package function without re-capturing the
 * baseline fails here), and down to zero and up again: zero findings each time.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { migrate } from '../src/migrate.js';
import { packageVersion, projectRoot } from '../src/paths.js';
import { databasesDroppedAfterAll, type TestDb } from './helpers/db.js';
import { beforeDrift, migrationNames, report } from './drift-helpers.js';

const run = promisify(execFile);
const databases = databasesDroppedAfterAll();
const db = (fresh = false): Promise<TestDb> => (fresh ? databases.fresh() : databases.empty());

describe('drift monitor after install and upgrade', () => {
  it('000004_drift exists and has predecessors', () => {
    expect(beforeDrift).toBeGreaterThan(0);
  });

  it('a fresh install reports zero findings, and the baseline covers every function and package trigger', async () => {
    const d = await db(true);
    const c = await d.client();
    expect(await report(c)).toEqual([]);
    const fns = await c.query<{ missing: number }>(`
      SELECT count(*)::int AS missing FROM pg_proc p
       WHERE p.pronamespace = 'birthgate'::regnamespace AND p.prokind IN ('f', 'p')
         AND NOT EXISTS (SELECT 1 FROM birthgate.drift_baseline b WHERE b.object_kind = 'function' AND b.identity = p.oid::regprocedure::text)`);
    // regprocedure prints unqualified names when birthgate is on the search_path; it is not here
    expect(fns.rows[0]!.missing).toBe(0);
    const trg = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM birthgate.drift_baseline WHERE identity = 'birthgate.registry_changelog._100_append_only'`);
    expect(trg.rows[0]!.n).toBe(1);
    expect(await c.query(`SELECT birthgate.drift_assert_clean('info')`).then((r) => r.rows[0].drift_assert_clean)).toBe(0);
  });

  it('a fresh upgrade (up to the migration before 000004, then on) reports zero findings at every level', async () => {
    const d = await db();
    const ran = await migrate({ databaseUrl: d.url, direction: 'up', count: beforeDrift });
    expect(ran).toEqual(migrationNames.slice(0, beforeDrift));
    const c = await d.client();
    for (const name of migrationNames.slice(beforeDrift)) {
      expect(await migrate({ databaseUrl: d.url, direction: 'up', count: 1 })).toEqual([name]);
      expect(await report(c), `findings after ${name}`).toEqual([]);
    }
  });

  it('down to zero and up again: zero findings at every level that has the monitor', async () => {
    const d = await db();
    await migrate({ databaseUrl: d.url, direction: 'up' });
    const c = await d.client();
    for (let i = migrationNames.length - 1; i > beforeDrift; i--) {
      await migrate({ databaseUrl: d.url, direction: 'down', count: 1 });
      expect(await report(c), `findings after rolling back ${migrationNames[i]}`).toEqual([]);
    }
    await migrate({ databaseUrl: d.url, direction: 'down', count: Infinity });
    const gone = await c.query(`SELECT to_regnamespace('birthgate') IS NULL AS gone`);
    expect(gone.rows[0].gone).toBe(true);
    await migrate({ databaseUrl: d.url, direction: 'up' });
    expect(await report(c)).toEqual([]);
  });

  it('the install script reports zero findings', async () => {
    const d = await db();
    await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', join(projectRoot, 'sql', `birthgate--${packageVersion}.sql`), d.url]);
    const c = await d.client();
    expect(await report(c)).toEqual([]);
  });

  it('the monitor reads the same for a caller with birthgate on its search_path', async () => {
    const d = await db(true);
    const c = await d.client();
    await c.query('SET search_path = birthgate, public');
    expect(await report(c)).toEqual([]);
    const h = await c.query(`SELECT count(*)::int AS n FROM v_drift_function_hash WHERE state <> 'ok'`);
    expect(h.rows[0].n).toBe(0);
  });

  it('the reader role can read the report; only the admin role can capture a baseline', async () => {
    const d = await db(true);
    const c = await d.client();
    await c.query('SET ROLE birthgate_reader');
    expect(await report(c)).toEqual([]);
    await expect(c.query('SELECT birthgate.drift_capture_baseline()')).rejects.toMatchObject({ code: '42501' });
    await c.query('RESET ROLE');
    await c.query('SET ROLE birthgate_admin');
    const n = await c.query('SELECT birthgate.drift_capture_baseline() AS n');
    expect(n.rows[0].n).toBeGreaterThan(10);
    expect(await report(c)).toEqual([]);
  });
});
