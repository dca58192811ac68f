/**
 * A fingerprint of a whole database taken from outside any transaction: the cleaned schema-only
 * dump (every schema, with owners and privileges), the (package's) roles, the exact row count of every table
 * and the sequence positions. `rehearse` takes one before and one after its BEGIN … ROLLBACK; equal
 * schema, roles and row counts are the proof that the rehearsal changed nothing.
 * Sequences are reported apart: nextval() is never rolled back, so a rehearsed migration that
 * inserts into an existing identity table advances it (harmless, but said).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { openClient } from '../db.js';
import { cleanDump, dumpTool } from '../schema-dump.js';
import { catalogDump } from '../catalog-dump.js';
import { sha256 } from './migrations.js';

const run = promisify(execFile);

export interface Fingerprint {
  takenAt: string;
  schemaSha256: string;
  schemaBytes: number;
  rolesSha256: string;
  rowCountsSha256: string;
  tables: number;
  totalRows: number;
  rowCounts: Record<string, number>;
  sequences: Record<string, string | null>;
}

export async function dumpDatabaseSchema(databaseUrl: string): Promise<string> {
  // a server newer than the local pg_dump: the catalogs' description (owners and privileges too)
  if (!(await dumpTool(databaseUrl)).pgDump) return catalogDump(databaseUrl, { schemas: null, owners: true });
  const { stdout } = await run('pg_dump', ['--schema-only', databaseUrl], { maxBuffer: 256 * 1024 * 1024 });
  return cleanDump(stdout);
}

/**
 * `roleSchema`: compare only the package's roles (`<schema>_…`), the only roles a migration creates,
 * drops or grants to. Roles are cluster-wide: other databases of the server create and drop their
 * own while a rehearsal runs, and that is no change the rehearsal made.
 */
export async function fingerprint(databaseUrl: string, roleSchema?: string): Promise<Fingerprint> {
  const schema = await dumpDatabaseSchema(databaseUrl);
  const client = await openClient({ connectionString: databaseUrl, application_name: 'birthgate fingerprint' });
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const roles = await client.query<{ line: string }>(`
      SELECT format('%s super=%s inherit=%s createrole=%s createdb=%s login=%s repl=%s bypassrls=%s member_of=%s',
                    r.rolname, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin, r.rolreplication, r.rolbypassrls,
                    (SELECT string_agg(g.rolname, ',' ORDER BY g.rolname) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid)) AS line
        FROM pg_roles r
       WHERE $1::text IS NULL OR left(r.rolname, length($1::text) + 1) = $1::text || '_'
       ORDER BY r.rolname`, [roleSchema ?? null]);
    const tables = await client.query<{ ident: string }>(`
      SELECT format('%I.%I', n.nspname, c.relname) AS ident
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
         AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
       ORDER BY 1`);
    const rowCounts: Record<string, number> = {};
    let totalRows = 0;
    for (const { ident } of tables.rows) {
      const r = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${ident}`);
      const n = Number(r.rows[0]!.n);
      rowCounts[ident] = n;
      totalRows += n;
    }
    const seq = await client.query<{ ident: string; last_value: string | null }>(`
      SELECT format('%I.%I', schemaname, sequencename) AS ident, last_value::text FROM pg_sequences ORDER BY 1`);
    await client.query('COMMIT');
    const sequences: Record<string, string | null> = {};
    for (const s of seq.rows) sequences[s.ident] = s.last_value;
    const countsText = Object.entries(rowCounts)
      .map(([k, v]) => `${k} ${v}`)
      .join('\n');
    return {
      takenAt: new Date().toISOString(),
      schemaSha256: sha256(schema),
      schemaBytes: Buffer.byteLength(schema),
      rolesSha256: sha256(roles.rows.map((r) => r.line).join('\n')),
      rowCountsSha256: sha256(countsText),
      tables: tables.rows.length,
      totalRows,
      rowCounts,
      sequences,
    };
  } finally {
    await client.end();
  }
}

export interface FingerprintDiff {
  identical: boolean;
  schema: boolean;
  roles: boolean;
  rowCounts: boolean;
  changedTables: { table: string; before: number | null; after: number | null }[];
  advancedSequences: { sequence: string; before: string | null; after: string | null }[];
}

export function compareFingerprints(a: Fingerprint, b: Fingerprint): FingerprintDiff {
  const changedTables: FingerprintDiff['changedTables'] = [];
  for (const t of new Set([...Object.keys(a.rowCounts), ...Object.keys(b.rowCounts)])) {
    const before = a.rowCounts[t] ?? null;
    const after = b.rowCounts[t] ?? null;
    if (before !== after) changedTables.push({ table: t, before, after });
  }
  const advancedSequences: FingerprintDiff['advancedSequences'] = [];
  for (const s of new Set([...Object.keys(a.sequences), ...Object.keys(b.sequences)])) {
    const before = a.sequences[s] ?? null;
    const after = b.sequences[s] ?? null;
    if (before !== after) advancedSequences.push({ sequence: s, before, after });
  }
  const schema = a.schemaSha256 === b.schemaSha256;
  const roles = a.rolesSha256 === b.rolesSha256;
  const rowCounts = a.rowCountsSha256 === b.rowCountsSha256;
  return { identical: schema && roles && rowCounts, schema, roles, rowCounts, changedTables, advancedSequences };
}
