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
import { createHash } from 'node:crypto';
import { readManifestFile } from '../src/manifest.js';
import { dumpTool } from '../src/schema-dump.js';
import { packageVersion, projectRoot } from '../src/paths.js';

const run = promisify(execFile);
let root: string;
// The snapshot is pg_dump's view of a server of pg_dump's own major (make verify's default, 15);
// on another major (make test PG=17) the check says so instead of comparing.
const tool = await dumpTool(adminUrl());
const snapshotMajor = tool.serverMajor === tool.pgDumpMajor;

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
    if (!snapshotMajor) {
      expect(await checkSnapshot(adminUrl(), root)).toEqual([
        `${SNAPSHOT} can only be checked on a PostgreSQL ${tool.pgDumpMajor} server (the major of the local pg_dump); this one is PostgreSQL ${tool.serverMajor}: run make verify without PG=`,
      ]);
      return;
    }
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

  it.skipIf(!snapshotMajor)('fails when the applied schema differs from the committed snapshot', async () => {
    const snap = join(root, SNAPSHOT);
    writeFileSync(snap, readFileSync(snap, 'utf8').replace('entity_code text NOT NULL', 'entity_code varchar NOT NULL'));
    const problems = await checkSnapshot(adminUrl(), root);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/applied schema differs from schema\/snapshot.sql/);
    const r = await verifyExit();
    expect(r.code).toBe(1);
  });

  it.skipIf(!snapshotMajor)('fails when a migration changes the schema but the snapshot was not updated', async () => {
    const first = join(root, 'migrations', '000001_substrate.sql');
    writeFileSync(first, readFileSync(first, 'utf8').replace('-- Down Migration', 'CREATE TABLE birthgate.sneaky (id int);\n\n-- Down Migration'));
    const problems = await checkSnapshot(adminUrl(), root);
    expect(problems.join('\n')).toMatch(/sneaky/);
  });

  describe('recorded amendments of a released migration', () => {
    const sha = (t: string | Buffer) => createHash('sha256').update(t).digest('hex');
    const handoff = 'migrations/000003_handoff.sql';

    it('the committed amendment of 000003 is recorded, chains from the released checksum and explains itself', () => {
      const m = readManifestFile(root);
      expect(m.problems).toEqual([]);
      const a = m.amendments.filter((x) => x.path === handoff);
      expect(a).toHaveLength(1);
      expect(a[0]!.from).toBe(m.released.get(handoff));
      expect(a[0]!.to).toBe(sha(readFileSync(join(root, handoff))));
      expect(a[0]!.version).toBe('0.2.0');
      expect(a[0]!.reason).toMatch(/PostgreSQL 14 has no min\(\)\/max\(\) for xid8/);
      // the released line itself is kept as it was released
      expect(readFileSync(join(root, MANIFEST), 'utf8')).toContain(`${m.released.get(handoff)}  ${handoff}\n`);
      expect(checkManifest(root)).toEqual([]);
    });

    it('any further edit of the amended migration that is not recorded fails', async () => {
      const path = join(root, handoff);
      writeFileSync(path, readFileSync(path, 'utf8').replace('ORDER BY x.xid LIMIT 1', 'ORDER BY x.xid LIMIT 2'));
      expect(checkManifest(root)).toEqual([
        `released migration ${handoff} was edited (checksum differs from ${MANIFEST}); add a new migration instead`,
      ]);
      const r = await verifyExit('--no-db');
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/000003_handoff.sql was edited/);
    });

    it('an edit of another released migration is not covered by that amendment', () => {
      const path = join(root, 'migrations', '000004_drift.sql');
      writeFileSync(path, readFileSync(path, 'utf8').replace('CREATE', 'CREATE /* x */'));
      expect(checkManifest(root)).toEqual([
        `released migration migrations/000004_drift.sql was edited (checksum differs from ${MANIFEST}); add a new migration instead`,
      ]);
    });

    it('an amendment line that does not chain, changes nothing, names an unreleased file or is malformed fails', () => {
      const base = readFileSync(join(root, MANIFEST), 'utf8');
      const released = readManifestFile(root).released.get('migrations/000004_drift.sql')!;
      const bogus = 'f'.repeat(64);
      const cases: [string, RegExp][] = [
        [`amended ${'e'.repeat(64)}  migrations/000004_drift.sql  was ${bogus}  in 0.2.0: says it was something else`, /says it was ffffffffffff/],
        [`amended ${released}  migrations/000004_drift.sql  was ${released}  in 0.2.0: no change`, /changes nothing/],
        [`amended ${bogus}  migrations/999999_x.sql  was ${'e'.repeat(64)}  in 0.2.0: not released`, /not released above it/],
        [`amended ${bogus}  migrations/000004_drift.sql  in 0.2.0: no previous checksum`, /not a checksum line/],
      ];
      for (const [line, want] of cases) {
        writeFileSync(join(root, MANIFEST), `${base}${line}\n`);
        const problems = checkManifest(root);
        expect(problems.join('\n'), line).toMatch(want);
      }
    });

    it('an amendment recorded for the edit makes it pass; freeze keeps every line and only appends', () => {
      const path = join(root, 'migrations', '000004_drift.sql');
      const before = sha(readFileSync(path));
      writeFileSync(path, readFileSync(path, 'utf8').replace('CREATE', 'CREATE /* x */'));
      const after = sha(readFileSync(path));
      const base = readFileSync(join(root, MANIFEST), 'utf8');
      writeFileSync(join(root, MANIFEST), `${base}amended ${after}  migrations/000004_drift.sql  was ${before}  in 9.9.9: a test\n`);
      expect(checkManifest(root)).toEqual([]);
      const text = readFileSync(join(root, MANIFEST), 'utf8');
      writeFileSync(join(root, 'migrations', '999999_extra.sql'), '-- Up Migration\nSELECT 1;\n-- Down Migration\nSELECT 1;\n');
      expect(freeze(root)).toEqual(['migrations/999999_extra.sql']);
      const frozen = readFileSync(join(root, MANIFEST), 'utf8');
      expect(frozen.startsWith(text)).toBe(true);
      expect(frozen.slice(text.length)).toBe(`${sha(readFileSync(join(root, 'migrations', '999999_extra.sql')))}  migrations/999999_extra.sql\n`);
      expect(checkManifest(root)).toEqual([]);
    });
  });
});
