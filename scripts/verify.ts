/**
 * make verify — fails (exit 1) when:
 *  1. a generated file is stale or missing (regenerates in memory and compares byte for byte);
 *  2. a released migration was edited or removed (migrations.sha256; an amendment counts only
 *     when recorded there, see src/manifest.ts), or a migration is not released yet (run
 *     `make freeze` once it is final);
 *  3. the schema that the migrations produce differs from schema/snapshot.sql
 *     (needs DATABASE_URL; skipped with --no-db).
 * Options: --root DIR (default: the project), --no-db, --update-snapshot, --freeze.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { generate } from '../generator/generate.js';
import { DEFAULT_SCHEMA } from '../generator/lib/ctx.js';
import { migrate } from '../src/migrate.js';
import { withDatabase } from '../src/db.js';
import { dumpSchema, dumpTool } from '../src/schema-dump.js';
import { packageVersion, projectRoot } from '../src/paths.js';
import { MANIFEST, readManifestFile } from '../src/manifest.js';

export { MANIFEST };
export const SNAPSHOT = 'schema/snapshot.sql';

const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

export function checkGenerated(root: string): string[] {
  const problems: string[] = [];
  const files = generate({ schema: DEFAULT_SCHEMA, version: packageVersion });
  for (const [rel, content] of files) {
    const path = join(root, rel);
    if (!existsSync(path)) problems.push(`missing generated file ${rel} (run make generate)`);
    else if (readFileSync(path, 'utf8') !== content) problems.push(`stale generated file ${rel} (run make generate)`);
  }
  for (const f of readdirSync(join(root, 'migrations'))) {
    if (f.endsWith('.sql') && !files.has(`migrations/${f}`)) problems.push(`migrations/${f} has no generator module`);
  }
  return problems;
}

/** Every released migration and the checksum it must have now (after recorded amendments). */
export function readManifest(root: string): Map<string, string> {
  return readManifestFile(root).current;
}

export function checkManifest(root: string): string[] {
  const { current: manifest, problems } = readManifestFile(root);
  for (const [rel, sum] of manifest) {
    const path = join(root, rel);
    if (!existsSync(path)) problems.push(`released migration ${rel} was removed`);
    else if (sha256(readFileSync(path)) !== sum) {
      problems.push(`released migration ${rel} was edited (checksum differs from ${MANIFEST}); add a new migration instead`);
    }
  }
  for (const f of readdirSync(join(root, 'migrations')).sort()) {
    if (f.endsWith('.sql') && !manifest.has(`migrations/${f}`)) problems.push(`migrations/${f} is not released (run make freeze when it is final)`);
  }
  return problems;
}

/** Appends every migration not yet in the manifest. Never rewrites an existing line. */
export function freeze(root: string): string[] {
  const manifest = readManifest(root);
  const path = join(root, MANIFEST);
  let text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  if (text !== '' && !text.endsWith('\n')) text += '\n';
  const added: string[] = [];
  for (const f of readdirSync(join(root, 'migrations')).sort()) {
    const rel = `migrations/${f}`;
    if (f.endsWith('.sql') && !manifest.has(rel)) {
      text += `${sha256(readFileSync(join(root, rel)))}  ${rel}\n`;
      added.push(rel);
    }
  }
  writeFileSync(path, text);
  return added;
}

/** Applies the migrations of `root` to a new empty database and returns the cleaned dump. */
export async function appliedSchema(adminUrl: string, root: string): Promise<string> {
  const db = `bg_verify_${process.pid}_${Date.now()}`;
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${db}`);
    const url = withDatabase(adminUrl, db);
    await migrate({ databaseUrl: url, direction: 'up', dir: join(root, 'migrations') });
    return await dumpSchema(url);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.end();
  }
}

export async function checkSnapshot(adminUrl: string, root: string): Promise<string[]> {
  const path = join(root, SNAPSHOT);
  if (!existsSync(path)) return [`${SNAPSHOT} is missing (run make snapshot)`];
  const tool = await dumpTool(adminUrl);
  if (tool.serverMajor !== tool.pgDumpMajor) {
    // pg_dump's output depends on both its own major and the server's: the snapshot is made by
    // pg_dump on a server of its own major (PostgreSQL 15 on Debian 12, the default of make).
    return [
      `${SNAPSHOT} can only be checked on a PostgreSQL ${tool.pgDumpMajor || '?'} server (the major of the local pg_dump); this one is PostgreSQL ${tool.serverMajor}: run make verify without PG=`,
    ];
  }
  const want = readFileSync(path, 'utf8');
  const have = await appliedSchema(adminUrl, root);
  if (have === want) return [];
  const a = want.split('\n');
  const b = have.split('\n');
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return [`applied schema differs from ${SNAPSHOT} at line ${i + 1}:\n  snapshot: ${a[i] ?? '<end>'}\n  applied:  ${b[i] ?? '<end>'}\n  (if intended: make snapshot)`];
}

async function main() {
  const { values } = parseArgs({
    options: {
      root: { type: 'string', default: projectRoot },
      'no-db': { type: 'boolean', default: false },
      'update-snapshot': { type: 'boolean', default: false },
      freeze: { type: 'boolean', default: false },
    },
  });
  const root = resolve(values.root!);
  if (values.freeze) {
    const added = freeze(root);
    console.log(added.length ? `froze ${added.join(', ')}` : 'freeze: every migration is already released');
    return 0;
  }
  if (values['update-snapshot']) {
    const url = process.env.DATABASE_URL;
    if (!url) throw new Error('DATABASE_URL is required');
    mkdirSync(join(root, 'schema'), { recursive: true });
    writeFileSync(join(root, SNAPSHOT), await appliedSchema(url, root));
    console.log(`wrote ${SNAPSHOT}`);
    return 0;
  }
  const problems = [...checkGenerated(root), ...checkManifest(root)];
  if (!values['no-db']) {
    const url = process.env.DATABASE_URL;
    if (!url) problems.push('DATABASE_URL is not set: cannot compare the applied schema with the snapshot');
    else problems.push(...(await checkSnapshot(url, root)));
  }
  for (const p of problems) console.error(`verify: ${p}`);
  console.log(problems.length === 0 ? 'verify: generated files, released migrations and schema snapshot are all current' : `verify: ${problems.length} problem(s)`);
  return problems.length === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      console.error(`verify: ${(e as Error).message}`);
      process.exitCode = 1;
    },
  );
}
