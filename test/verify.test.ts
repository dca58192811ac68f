/**
 * make verify must fail when a generated file is stale, when a released migration was edited,
 * and when the applied schema differs from the committed snapshot — proven on a copy of the
 * project's generated files, tampered one way at a time.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFileSync, cpSync, mkdtempSync, rmSync, unlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { adminUrl } from './helpers/db.js';
import { checkGenerated, checkManifest, checkSnapshot, freeze, MANIFEST, SNAPSHOT } from '../scripts/verify.js';
import { packageVersion, projectRoot } from '../src/paths.js';

const run = promisify(execFile);
let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'bg-verify-'));
  for (const p of ['migrations', 'sql', 'src/generated', 'docs', 'schema', MANIFEST]) {
    cpSync(join(projectRoot, p), join(root, p), { recursive: true });
  }
  // the checks are proven on a released state: migrations a branch adds stay unreleased in the
  // project until `make freeze`, so the copy releases them first (the project's manifest is untouched)
  freeze(root);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

async function verifyExit(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await run('node', ['--import', 'tsx', join(projectRoot, 'scripts/verify.ts'), '--root', root, ...args], {
      cwd: projectRoot,
      env: { ...process.env, DATABASE_URL: adminUrl() },
    });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, out: err.stdout + err.stderr };
  }
}

describe('verify', () => {
  it('passes on the committed files (generated, released, snapshot)', async () => {
    expect(checkGenerated(root)).toEqual([]);
    expect(checkManifest(root)).toEqual([]);
    expect(await checkSnapshot(adminUrl(), root)).toEqual([]);
    const r = await verifyExit();
    expect(r.out).toContain('all current');
    expect(r.code).toBe(0);
  });

  it('fails when a generated file is stale or missing', async () => {
    appendFileSync(join(root, 'sql', `birthgate--${packageVersion}.sql`), '\n-- hand edit\n');
    unlinkSync(join(root, 'src/generated/vocab.ts'));
    const problems = checkGenerated(root);
    expect(problems).toContain(`stale generated file sql/birthgate--${packageVersion}.sql (run make generate)`);
    expect(problems).toContain('missing generated file src/generated/vocab.ts (run make generate)');
    const r = await verifyExit('--no-db');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/stale generated file/);
  });

  it('fails when a released migration was edited, removed, or a migration is unreleased', async () => {
    const first = join(root, 'migrations', '000001_substrate.sql');
    writeFileSync(first, readFileSync(first, 'utf8').replace('CREATE SCHEMA', 'CREATE SCHEMA /* edited */'));
    expect(checkManifest(root)).toEqual([
      `released migration migrations/000001_substrate.sql was edited (checksum differs from ${MANIFEST}); add a new migration instead`,
    ]);
    writeFileSync(join(root, 'migrations', '999999_extra.sql'), '-- Up Migration\nSELECT 1;\n-- Down Migration\nSELECT 1;\n');
    expect(checkManifest(root)).toContain('migrations/999999_extra.sql is not released (run make freeze when it is final)');
    expect(checkGenerated(root)).toContain('migrations/999999_extra.sql has no generator module');
    const r = await verifyExit('--no-db');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/was edited/);
  });

  it('fails when the applied schema differs from the committed snapshot', async () => {
    const snap = join(root, SNAPSHOT);
    writeFileSync(snap, readFileSync(snap, 'utf8').replace('entity_code text NOT NULL', 'entity_code varchar NOT NULL'));
    const problems = await checkSnapshot(adminUrl(), root);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/applied schema differs from schema\/snapshot.sql/);
    const r = await verifyExit();
    expect(r.code).toBe(1);
  });

  it('fails when a migration changes the schema but the snapshot was not updated', async () => {
    const first = join(root, 'migrations', '000001_substrate.sql');
    writeFileSync(first, readFileSync(first, 'utf8').replace('-- Down Migration', 'CREATE TABLE birthgate.sneaky (id int);\n\n-- Down Migration'));
    const problems = await checkSnapshot(adminUrl(), root);
    expect(problems.join('\n')).toMatch(/sneaky/);
  });
});
