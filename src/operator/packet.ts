/**
 * The operator apply packet: plain files a DBA can review, checksum and apply with psql alone.
 *   apply.sql     the pending migrations' Up sections in order, with the bookkeeping rows, in ONE
 *                 transaction, guarded: it refuses (BG310) a database whose applied migrations are
 *                 not exactly the ones the packet was made for
 *   rollback.sql  the Down sections in reverse order (same guard, the other way round)
 *   verify.sql    read-only checks to run afterwards (applied migrations, v_drift_report)
 *   manifest.json what the packet contains: base state, migrations with their source checksums,
 *                 every file's sha256
 *   SHA256SUMS    for `sha256sum -c`
 *   APPLY.md      the exact commands
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bgErrorCatalog, BgError } from '../generated/errors.js';
import { packageVersion, projectRoot } from '../paths.js';
import { sha256, type MigrationFile } from './migrations.js';
import { readManifestFile } from '../manifest.js';

/** node-pg-migrate's advisory lock key: a packet and the migrator never run at once. */
export const MIGRATOR_LOCK_ID = '7241865325823964';

export interface PacketInput {
  schema: string;
  /** Migrations already applied on the target (empty for a fresh database). */
  base: string[];
  /** The migrations the packet applies, in order. */
  migrations: MigrationFile[];
  /** Where the packet was made for (no password), or null for --all. */
  target: { database: string; host: string } | null;
  generatedAt?: string;
}

export interface PacketFile {
  path: string;
  content: string;
}

const lit = (v: string) => `'${v.replaceAll("'", "''")}'`;
const arr = (vs: string[]) => (vs.length ? `ARRAY[${vs.map(lit).join(', ')}]::text[]` : `ARRAY[]::text[]`);

/** Released migrations (by name) and their checksum now, recorded amendments included. */
function released(): Map<string, string> {
  const m = new Map<string, string>();
  for (const [rel, sum] of readManifestFile(projectRoot).current) {
    const hit = /^migrations\/(\S+)\.sql$/.exec(rel);
    if (hit) m.set(hit[1]!, sum);
  }
  return m;
}

function guard(table: string, expected: string[], what: string): string {
  const e = bgErrorCatalog[BgError.PACKET_STATE_MISMATCH];
  return [
    `DO $guard$`,
    `DECLARE`,
    `    v_applied text[];`,
    `BEGIN`,
    `    SELECT coalesce(array_agg(name::text ORDER BY run_on, id), ARRAY[]::text[]) INTO v_applied FROM ${table};`,
    `    IF v_applied IS DISTINCT FROM ${arr(expected)} THEN`,
    `        RAISE EXCEPTION USING`,
    `            ERRCODE = ${lit(BgError.PACKET_STATE_MISMATCH)},`,
    `            MESSAGE = ${lit(e.message)},`,
    `            DETAIL = format('%s expects the applied migrations to be %s, the database has %s', ${lit(what)}, ${lit(JSON.stringify(expected))}, to_json(v_applied)),`,
    `            HINT = ${lit(e.hint)};`,
    `    END IF;`,
    `END`,
    `$guard$;`,
  ].join('\n');
}

export function buildPacket(p: PacketInput): PacketFile[] {
  const generatedAt = p.generatedAt ?? new Date().toISOString();
  const mschema = `"${p.schema}_migrations"`;
  const table = `${mschema}."pgmigrations"`;
  const names = p.migrations.map((m) => m.name);
  const header = (title: string) =>
    [
      `-- birthgate operator packet: ${title}`,
      `-- birthgate ${packageVersion}, schema ${p.schema}, generated ${generatedAt}${p.target ? ` for database ${p.target.database} on ${p.target.host}` : ' (--all: for a database without birthgate)'}`,
      `-- migrations: ${names.join(', ') || '(none)'}`,
      '-- Do not edit: manifest.json and SHA256SUMS hold the checksums. See APPLY.md.',
      '\\set ON_ERROR_STOP 1',
      '\\set VERBOSITY verbose',
      '',
    ].join('\n');
  const bookkeeping = [
    `CREATE SCHEMA IF NOT EXISTS ${mschema};`,
    `CREATE TABLE IF NOT EXISTS ${table} (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL);`,
  ].join('\n');

  const apply = [
    header(`apply ${names.length} migration(s) in one transaction`),
    'BEGIN;',
    "SET LOCAL lock_timeout = '10s';",
    `SELECT pg_advisory_xact_lock(${MIGRATOR_LOCK_ID}); -- the migrator's lock: never together with birthgate migrate`,
    bookkeeping,
    guard(table, p.base, 'apply.sql'),
    '',
    ...p.migrations.flatMap((m) => [
      `-- ==== ${m.name} (source sha256 ${m.sha256}) ====`,
      m.up.trimEnd(),
      '',
      `INSERT INTO ${table} (name, run_on) VALUES (${lit(m.name)}, NOW());`,
      '',
    ]),
    '-- fire the deferred constraints now, so a violation fails here and not at COMMIT',
    'SET CONSTRAINTS ALL IMMEDIATE;',
    'COMMIT;',
    '',
  ].join('\n');

  const rollback = [
    header(`roll back ${names.length} migration(s) in one transaction (Down sections, reverse order)`),
    'BEGIN;',
    "SET LOCAL lock_timeout = '10s';",
    `SELECT pg_advisory_xact_lock(${MIGRATOR_LOCK_ID});`,
    bookkeeping,
    guard(table, [...p.base, ...names], 'rollback.sql'),
    '',
    ...[...p.migrations].reverse().flatMap((m) => {
      if (m.down === null) throw new Error(`${m.name} has no Down section: the packet cannot offer a rollback`);
      return [`-- ==== ${m.name} (down) ====`, m.down.trimEnd(), '', `DELETE FROM ${table} WHERE name = ${lit(m.name)};`, ''];
    }),
    'COMMIT;',
    '',
  ].join('\n');

  const reportView = `"${p.schema}"."v_drift_report"`;
  const verify = [
    header('read-only checks after apply (or after rollback)'),
    'BEGIN READ ONLY;',
    `SELECT id, name, run_on FROM ${table} ORDER BY run_on, id;`,
    `SELECT to_regclass(${lit(reportView)}) IS NOT NULL AS has_drift_report \\gset`,
    '\\if :has_drift_report',
    `SELECT severity, kind, object_name, message, remedy FROM ${reportView};`,
    `SELECT count(*) FILTER (WHERE severity = 'critical') AS critical, count(*) FILTER (WHERE severity = 'warning') AS warning, count(*) FILTER (WHERE severity = 'info') AS info FROM ${reportView};`,
    '\\else',
    "\\echo 'no drift monitor installed in this database'",
    '\\endif',
    'ROLLBACK;',
    '',
  ].join('\n');

  const sums = released();
  const files: PacketFile[] = [
    { path: 'apply.sql', content: apply },
    { path: 'rollback.sql', content: rollback },
    { path: 'verify.sql', content: verify },
  ];
  const applyMd = [
    `# birthgate operator packet`,
    '',
    `Generated ${generatedAt} by birthgate ${packageVersion} (schema \`${p.schema}\`)${p.target ? ` for database \`${p.target.database}\` on \`${p.target.host}\`` : ' for a database that has no birthgate yet (--all)'}.`,
    '',
    `Applies, in one transaction: ${names.map((n) => `\`${n}\``).join(', ') || '(nothing)'}.`,
    `The database must have applied exactly: ${p.base.map((n) => `\`${n}\``).join(', ') || '(nothing)'} — otherwise apply.sql stops with SQLSTATE BG310 and changes nothing.`,
    '',
    '## 1. Check the packet',
    '',
    '```sh',
    'sha256sum -c SHA256SUMS',
    '```',
    '',
    '## 2. Rehearse (optional, zero mutation)',
    '',
    '```sh',
    'DATABASE_URL=postgresql://USER@HOST/DB birthgate rehearse',
    '```',
    '',
    '## 3. Apply',
    '',
    '```sh',
    'psql -X -v ON_ERROR_STOP=1 -f apply.sql "postgresql://USER@HOST/DB"',
    'psql -X -v ON_ERROR_STOP=1 -f verify.sql "postgresql://USER@HOST/DB"',
    '```',
    '',
    'apply.sql is one transaction: it applies completely or not at all. It takes the migrator\'s advisory lock and',
    `records each migration in ${p.schema}_migrations.pgmigrations, so \`birthgate migrate\` stays in sync afterwards.`,
    'verify.sql is read-only: the applied migrations, then v_drift_report (expect no rows).',
    '',
    '## 4. Roll back (only if needed)',
    '',
    '```sh',
    'psql -X -v ON_ERROR_STOP=1 -f rollback.sql "postgresql://USER@HOST/DB"',
    '```',
    '',
    'rollback.sql runs the Down sections in reverse order in one transaction, and refuses (BG310) unless the',
    "packet's migrations are exactly the last ones applied.",
    '',
  ].join('\n');
  files.push({ path: 'APPLY.md', content: applyMd });
  const manifest = {
    packet_format: 1,
    birthgate_version: packageVersion,
    schema: p.schema,
    generated_at: generatedAt,
    target: p.target,
    base_applied: p.base,
    apply_order: names,
    rollback_order: [...names].reverse(),
    migrations: p.migrations.map((m) => ({
      name: m.name,
      source: `migrations/${m.name}.sql`,
      sha256: m.sha256,
      released: sums.has(m.name) ? sums.get(m.name) === m.sha256 : null,
      up_sha256: sha256(m.up),
      down_sha256: m.down === null ? null : sha256(m.down),
    })),
    files: files.map((f) => ({ path: f.path, sha256: sha256(f.content), bytes: Buffer.byteLength(f.content) })),
  };
  const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
  files.push({ path: 'manifest.json', content: manifestText });
  files.push({ path: 'SHA256SUMS', content: files.map((f) => `${sha256(f.content)}  ${f.path}\n`).join('') });
  return files;
}

export function writePacket(dir: string, files: PacketFile[]): void {
  mkdirSync(dir, { recursive: true });
  for (const f of files) writeFileSync(join(dir, f.path), f.content);
}
