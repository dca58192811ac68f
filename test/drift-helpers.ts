/** Shared by the drift/operator test files: run the CLI, read the report, migration names. */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { projectRoot } from '../src/paths.js';

export const migrationNames = readdirSync(join(projectRoot, 'migrations'))
  .filter((f) => f.endsWith('.sql'))
  .sort()
  .map((f) => f.replace(/\.sql$/, ''));

/** How many migrations come before 000004_drift. */
export const beforeDrift = migrationNames.indexOf('000004_drift');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], env: Record<string, string | undefined>): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(projectRoot, 'bin', 'birthgate.mjs'), ...args],
      { env: { ...process.env, ...env }, cwd: projectRoot, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export interface ReportRow {
  severity: string;
  kind: string;
  object_name: string;
  message: string;
}

export async function report(c: pg.Client): Promise<ReportRow[]> {
  return (await c.query<ReportRow>('SELECT severity, kind, object_name, message FROM birthgate.v_drift_report')).rows;
}

/** Exact row counts of every table outside the system schemas. */
export async function rowCounts(c: pg.Client): Promise<Record<string, number>> {
  const t = await c.query<{ ident: string }>(`
    SELECT format('%I.%I', n.nspname, c.relname) AS ident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1`);
  const out: Record<string, number> = {};
  for (const { ident } of t.rows) out[ident] = Number((await c.query(`SELECT count(*) AS n FROM ${ident}`)).rows[0].n);
  return out;
}
