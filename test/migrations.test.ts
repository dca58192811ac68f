/**
 * The path a DBA walks: empty → up → down to zero → up again leaves an identical schema
 * (pg_dump --schema-only), each step down returns exactly to the schema of the step before,
 * re-running up is a no-op, two migrators at once corrupt nothing, and the install script
 * produces the same schema as the migrations.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { migrate } from '../src/migrate.js';
import { dumpSchema } from '../src/schema-dump.js';
import { packageVersion, projectRoot } from '../src/paths.js';
import { databasesDroppedAfterAll, type TestDb } from './helpers/db.js';

const run = promisify(execFile);
const migrationNames = readdirSync(join(projectRoot, 'migrations'))
  .filter((f) => f.endsWith('.sql'))
  .sort()
  .map((f) => f.replace(/\.sql$/, ''));

const { empty: db } = databasesDroppedAfterAll();

async function appliedNames(d: TestDb): Promise<string[]> {
  const c = await d.client();
  const r = await c.query<{ name: string }>('SELECT name FROM birthgate_migrations.pgmigrations ORDER BY id');
  return r.rows.map((x) => x.name);
}

async function schemaExists(d: TestDb): Promise<boolean> {
  const c = await d.client();
  const r = await c.query<{ ok: boolean }>(`SELECT to_regnamespace('birthgate') IS NOT NULL AS ok`);
  return r.rows[0]!.ok;
}

describe('migrations', () => {
  it('there is at least one migration and the names are ordered', () => {
    expect(migrationNames.length).toBeGreaterThan(0);
    expect(migrationNames[0]).toBe('000001_substrate');
  });

  it('up, down step by step to zero, up again: every level has the same schema both ways', async () => {
    const d = await db();
    const levels: string[] = [];
    for (const name of migrationNames) {
      const ran = await migrate({ databaseUrl: d.url, direction: 'up', count: 1 });
      expect(ran).toEqual([name]);
      levels.push(await dumpSchema(d.url));
    }
    const full = levels[levels.length - 1]!;
    // pg_dump's text, or the catalog description on a server newer than pg_dump (src/catalog-dump.ts)
    expect(full).toMatch(/^(CREATE TABLE birthgate\.birth_registry|RELATION birthgate\.birth_registry kind=r) /m);

    for (let i = migrationNames.length - 1; i >= 0; i--) {
      const ran = await migrate({ databaseUrl: d.url, direction: 'down', count: 1 });
      expect(ran).toEqual([migrationNames[i]]);
      if (i > 0) expect(await dumpSchema(d.url)).toBe(levels[i - 1]);
    }
    expect(await schemaExists(d)).toBe(false);
    expect(await appliedNames(d)).toEqual([]);

    const again = await migrate({ databaseUrl: d.url, direction: 'up' });
    expect(again).toEqual(migrationNames);
    expect(await dumpSchema(d.url)).toBe(full);
  });

  it('re-running up is a no-op', async () => {
    const d = await db();
    await migrate({ databaseUrl: d.url, direction: 'up' });
    const before = await dumpSchema(d.url);
    const ran = await migrate({ databaseUrl: d.url, direction: 'up' });
    expect(ran).toEqual([]);
    expect(await dumpSchema(d.url)).toBe(before);
    expect(await appliedNames(d)).toEqual(migrationNames);
  });

  it('two migrators started at once: one applies, the other waits and finds nothing to do', async () => {
    const reference = await db();
    await migrate({ databaseUrl: reference.url, direction: 'up' });
    const want = await dumpSchema(reference.url);

    const d = await db();
    const [a, b] = await Promise.all([
      migrate({ databaseUrl: d.url, direction: 'up' }),
      migrate({ databaseUrl: d.url, direction: 'up' }),
    ]);
    expect([...a, ...b].sort()).toEqual(migrationNames);
    expect(await appliedNames(d)).toEqual(migrationNames);
    expect(await dumpSchema(d.url)).toBe(want);
  });

  it('the install script produces the same schema as the migrations, and a second run changes nothing', async () => {
    const viaMigrations = await db();
    await migrate({ databaseUrl: viaMigrations.url, direction: 'up' });
    const want = await dumpSchema(viaMigrations.url);

    const d = await db();
    const script = join(projectRoot, 'sql', `birthgate--${packageVersion}.sql`);
    await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', script, d.url]);
    expect(await dumpSchema(d.url)).toBe(want);
    expect(await appliedNames(d)).toEqual(migrationNames);
    // the migrator sees an installed database as fully migrated
    expect(await migrate({ databaseUrl: d.url, direction: 'up' })).toEqual([]);

    const second = await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose', '-f', script, d.url]).then(
      () => null,
      (e: { stderr: string; code: number }) => e,
    );
    expect(second).not.toBeNull();
    expect(second!.stderr).toContain('BG003');
    expect(await dumpSchema(d.url)).toBe(want);
  });

  it('a failing migration leaves nothing behind (each migration is one transaction)', async () => {
    const d = await db();
    const c = await d.client();
    // a conflicting object makes 000001 fail half-way: its schema already exists
    await c.query('CREATE SCHEMA birthgate');
    await expect(migrate({ databaseUrl: d.url, direction: 'up' })).rejects.toThrow(/already exists/);
    const r = await c.query(`SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = 'birthgate'::regnamespace`);
    expect(r.rows[0].n).toBe(0);
    expect(await appliedNames(d)).toEqual([]);
  });
});
