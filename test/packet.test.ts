/**
 * birthgate packet: the operator apply packet applied with psql alone produces exactly what the
 * migrator produces (schema and bookkeeping), keeps the migrator in sync, has correct checksums,
 * refuses a database in another state (BG310) without changing it, and its rollback undoes it.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { migrate } from '../src/migrate.js';
import { migrationsDir } from '../src/paths.js';
import { dumpSchema } from '../src/schema-dump.js';
import { databasesDroppedAfterAll, type TestDb } from './helpers/db.js';
import { beforeDrift, cli, migrationNames, report } from './drift-helpers.js';

const run = promisify(execFile);
const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const { empty: db } = databasesDroppedAfterAll();
const out = () => join(mkdtempSync(join(tmpdir(), 'bg-packet-')), 'packet');
const psql = (file: string, url: string) =>
  run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file, url]).then(
    () => null,
    (e: { stderr: string }) => e.stderr,
  );
async function applied(d: TestDb): Promise<string[]> {
  const c = await d.client();
  const r = await c.query(`SELECT name FROM birthgate_migrations.pgmigrations ORDER BY run_on, id`);
  return r.rows.map((x) => x.name as string);
}

describe('birthgate packet', () => {
  it('--all: checksums hold, psql apply equals the migrator, the migrator stays in sync, rollback undoes it', async () => {
    const reference = await db();
    await migrate({ databaseUrl: reference.url, direction: 'up' });
    const want = await dumpSchema(reference.url);

    const dir = out();
    const r = await cli(['packet', '--all', '--out', dir], { DATABASE_URL: undefined });
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.apply_order).toEqual(migrationNames);
    expect(manifest.rollback_order).toEqual([...migrationNames].reverse());
    for (const m of manifest.migrations) expect(m.sha256).toBe(sha(readFileSync(join(migrationsDir, `${m.name}.sql`))));
    for (const f of manifest.files) expect(sha(readFileSync(join(dir, f.path)))).toBe(f.sha256);
    const sums = await run('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir });
    expect(sums.stdout).toContain('apply.sql: OK');
    expect(readFileSync(join(dir, 'APPLY.md'), 'utf8')).toContain('psql -X -v ON_ERROR_STOP=1 -f apply.sql');

    const d = await db();
    expect(await psql(join(dir, 'apply.sql'), d.url)).toBeNull();
    expect(await dumpSchema(d.url)).toBe(want);
    expect(await applied(d)).toEqual(migrationNames);
    expect(await migrate({ databaseUrl: d.url, direction: 'up' })).toEqual([]);
    expect(await report(await d.client())).toEqual([]);
    expect(await psql(join(dir, 'verify.sql'), d.url)).toBeNull();

    // applying it twice is refused with BG310 and changes nothing
    const again = await psql(join(dir, 'apply.sql'), d.url);
    expect(again).toContain('BG310');
    expect(await dumpSchema(d.url)).toBe(want);

    expect(await psql(join(dir, 'rollback.sql'), d.url)).toBeNull();
    expect(await applied(d)).toEqual([]);
    const c = await d.client();
    expect((await c.query(`SELECT to_regnamespace('birthgate') IS NULL AS gone`)).rows[0].gone).toBe(true);
    // and the rollback is not run twice either
    expect(await psql(join(dir, 'rollback.sql'), d.url)).toContain('BG310');
  });

  it('for a database part-way: only the pending migrations, guarded by the applied ones', async () => {
    const reference = await db();
    await migrate({ databaseUrl: reference.url, direction: 'up' });
    const want = await dumpSchema(reference.url);

    const d = await db();
    await migrate({ databaseUrl: d.url, direction: 'up', count: beforeDrift });
    const atBase = await dumpSchema(d.url);
    const dir = out();
    const r = await cli(['packet', '--out', dir, '--json'], { DATABASE_URL: d.url });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).migrations).toEqual(migrationNames.slice(beforeDrift));
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.base_applied).toEqual(migrationNames.slice(0, beforeDrift));
    expect(manifest.target.database).toBe(d.name);

    // a database in another state (nothing applied) is refused and left alone
    const other = await db();
    expect(await psql(join(dir, 'apply.sql'), other.url)).toContain('BG310');
    expect((await (await other.client()).query(`SELECT to_regnamespace('birthgate') IS NULL AS gone`)).rows[0].gone).toBe(true);

    expect(await psql(join(dir, 'apply.sql'), d.url)).toBeNull();
    expect(await dumpSchema(d.url)).toBe(want);
    expect(await applied(d)).toEqual(migrationNames);
    expect(await report(await d.client())).toEqual([]);
    expect(await psql(join(dir, 'rollback.sql'), d.url)).toBeNull();
    expect(await dumpSchema(d.url)).toBe(atBase);
    expect(await applied(d)).toEqual(migrationNames.slice(0, beforeDrift));

    // nothing pending: nothing written; an existing packet directory is not overwritten
    await migrate({ databaseUrl: d.url, direction: 'up' });
    const none = await cli(['packet', '--out', out()], { DATABASE_URL: d.url });
    expect(none.code).toBe(0);
    expect(none.stdout).toContain('nothing pending');
    expect((await cli(['packet', '--all', '--out', dir], {})).code).toBe(2);
  });
});
