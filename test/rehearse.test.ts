/**
 * birthgate rehearse: pending migrations applied in one transaction and rolled back. The database
 * is byte-identical afterwards (schema dump and row counts, measured here independently of the
 * command's own fingerprints), and a failure a real apply would hit is reported with its SQLSTATE,
 * DETAIL, HINT and line, with a non-zero exit.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate } from '../src/migrate.js';
import { migrationsDir } from '../src/paths.js';
import { dumpDatabaseSchema } from '../src/operator/fingerprint.js';
import { rehearse, type RehearsalReport } from '../src/operator/rehearse.js';
import { databasesDroppedAfterAll, type TestDb } from './helpers/db.js';
import { beforeDrift, cli, migrationNames, report, rowCounts } from './drift-helpers.js';

const databases = databasesDroppedAfterAll();
const db = (fresh = false): Promise<TestDb> => (fresh ? databases.fresh() : databases.empty());

async function state(d: TestDb) {
  const c = await d.client();
  return { dump: await dumpDatabaseSchema(d.url), counts: await rowCounts(c) };
}

describe('birthgate rehearse', () => {
  it('rehearses the pending migrations, reports what would change, and leaves the database identical', async () => {
    const d = await db();
    await migrate({ databaseUrl: d.url, direction: 'up', count: beforeDrift });
    const c = await d.client();
    await c.query(`INSERT INTO birthgate.governance_build_authorization (reference) VALUES ('rehearsal-row-count-probe')`);
    const before = await state(d);
    const r = await cli(['rehearse', '--json'], { DATABASE_URL: d.url });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as RehearsalReport;
    expect(j.pending).toEqual(migrationNames.slice(beforeDrift));
    expect(j.migrations.every((m) => m.status === 'ok')).toBe(true);
    expect(j.checks.constraints).toBe('ok');
    expect(j.checks.findings).toEqual([]);
    expect(j.changes!.created).toContainEqual(expect.objectContaining({ kind: 'table', identity: 'birthgate.drift_baseline' }));
    expect(j.changes!.created).toContainEqual(expect.objectContaining({ kind: 'view', identity: 'birthgate.v_drift_report' }));
    expect(j.rowsWritten).toContainEqual(expect.objectContaining({ table: 'birthgate_migrations.pgmigrations', inserted: j.pending.length }));
    expect(j.comparison.identical).toBe(true);
    expect(j.before.schemaSha256).toBe(j.after.schemaSha256);
    expect(j.before.totalRows).toBeGreaterThan(0);
    // independently of the command's own fingerprints
    const after = await state(d);
    expect(after.dump).toBe(before.dump);
    expect(after.counts).toEqual(before.counts);
    const applied = await c.query('SELECT name FROM birthgate_migrations.pgmigrations ORDER BY id');
    expect(applied.rows.map((x) => x.name)).toEqual(migrationNames.slice(0, beforeDrift));
    // and the real apply then does what the rehearsal said
    expect(await migrate({ databaseUrl: d.url, direction: 'up' })).toEqual(j.pending);
    expect(await report(c)).toEqual([]);
  });

  it('reports a failure a real apply would hit (a conflicting object), exits 3, and changes nothing', async () => {
    const d = await db();
    await migrate({ databaseUrl: d.url, direction: 'up', count: beforeDrift });
    const c = await d.client();
    await c.query('CREATE TABLE birthgate.drift_baseline (conflict integer)');
    const before = await state(d);
    const r = await cli(['rehearse', '--json'], { DATABASE_URL: d.url });
    expect(r.code).toBe(3);
    const j = JSON.parse(r.stdout) as RehearsalReport;
    const failed = j.migrations.find((m) => m.status === 'failed')!;
    expect(failed.name).toBe('000004_drift');
    expect(failed.error!.sqlstate).toBe('42P07');
    expect(failed.error!.message).toMatch(/drift_baseline.*already exists/);
    expect(failed.error!.line).toBeGreaterThan(1);
    expect(j.comparison.identical).toBe(true);
    const after = await state(d);
    expect(after.dump).toBe(before.dump);
    expect(after.counts).toEqual(before.counts);
    // the real migrator fails the same way
    await expect(migrate({ databaseUrl: d.url, direction: 'up' })).rejects.toThrow(/already exists/);
    const text = await cli(['rehearse'], { DATABASE_URL: d.url });
    expect(text.code).toBe(3);
    expect(text.stdout).toContain('SQLSTATE 42P07');
    expect(text.stdout).toMatch(/at migrations\/000004_drift\.sql line \d+/);
    expect(text.stdout).toContain('database unchanged: yes');
  });

  it('reports DETAIL and HINT of a deliberate error, and a deferred constraint that would fail at COMMIT', async () => {
    const d = await db(true);
    const dir = mkdtempSync(join(tmpdir(), 'bg-rehearse-'));
    for (const name of migrationNames) copyFileSync(join(migrationsDir, `${name}.sql`), join(dir, `${name}.sql`));
    writeFileSync(
      join(dir, '900000_raises.sql'),
      `-- Up Migration\nDO $$ BEGIN RAISE EXCEPTION USING ERRCODE = 'BG399', MESSAGE = 'refused on purpose', DETAIL = 'value 42', HINT = 'do the other thing'; END $$;\n-- Down Migration\n`,
    );
    const before = await state(d);
    const r = await rehearse({ databaseUrl: d.url, schema: 'birthgate', lockTimeout: '5s', failOn: 'critical', dir });
    expect(r.exitCode).toBe(3);
    expect(r.migrations[0]!.error).toMatchObject({ sqlstate: 'BG399', message: 'refused on purpose', detail: 'value 42', hint: 'do the other thing' });

    writeFileSync(
      join(dir, '900000_raises.sql'),
      `-- Up Migration\nCREATE TABLE public.p (id int PRIMARY KEY);\nCREATE TABLE public.ch (p int REFERENCES public.p DEFERRABLE INITIALLY DEFERRED);\nINSERT INTO public.ch VALUES (7);\n-- Down Migration\nDROP TABLE public.ch; DROP TABLE public.p;\n`,
    );
    const r2 = await rehearse({ databaseUrl: d.url, schema: 'birthgate', lockTimeout: '5s', failOn: 'critical', dir });
    expect(r2.exitCode).toBe(3);
    expect(r2.migrations[0]!.status).toBe('ok');
    expect(r2.checks.constraints).toMatchObject({ sqlstate: '23503' });
    const after = await state(d);
    expect(after.dump).toBe(before.dump);
    expect(after.counts).toEqual(before.counts);
  });

  it('with nothing pending it still runs the checks: a critical finding fails it', async () => {
    const d = await db(true);
    const c = await d.client();
    const clean = await cli(['rehearse', '--json'], { DATABASE_URL: d.url });
    expect(clean.code).toBe(0);
    expect((JSON.parse(clean.stdout) as RehearsalReport).pending).toEqual([]);
    await c.query('ALTER TABLE birthgate.registry_changelog DISABLE TRIGGER _100_append_only');
    const bad = await cli(['rehearse', '--json'], { DATABASE_URL: d.url });
    expect(bad.code).toBe(3);
    expect((JSON.parse(bad.stdout) as RehearsalReport).checks.blocking).toBe(1);
    expect((await cli(['rehearse', '--lock-timeout', 'soon'], { DATABASE_URL: d.url })).code).toBe(2);
  });
});
