/**
 * birthgate rehearse — apply every pending migration inside ONE transaction on DATABASE_URL, run
 * the checks, print what would change, ROLLBACK; fingerprints taken outside the transaction
 * before and after prove zero mutation.
 */
import { z } from 'zod';
import { connectionFromEnv } from '../../config.js';
import { Severity } from '../../generated/vocab.js';
import { parseFlags } from '../../operator/args.js';
import { table } from '../../operator/format.js';
import { rehearse, type RehearsalReport } from '../../operator/rehearse.js';
import { COMMON_EXIT_CODES, printJson } from '../io.js';

export const usage = `birthgate rehearse [--json] [--fail-on info|warning|critical] [--lock-timeout 5s]
  Applies every pending migration (Up sections, with their bookkeeping rows) inside one
  transaction on DATABASE_URL, fires the deferred constraints (SET CONSTRAINTS ALL IMMEDIATE),
  reads v_drift_report, lists the objects created/altered/dropped and the rows written, then
  ROLLBACKs. A fingerprint (schema dump, roles, row counts) taken before and after, outside the
  transaction, proves that nothing changed.
  Note: while it runs it takes the same locks a real apply would (bounded by --lock-timeout).
  --fail-on SEVERITY   fail when the post-migration drift report has a finding at or above it (default critical)
  --lock-timeout T     lock_timeout inside the rehearsal (default 5s)
exit codes:
${COMMON_EXIT_CODES}
  (0: the pending migrations would apply cleanly)
  3    a migration or check would fail
  4    the database changed between the fingerprints`;

const Flags = z.object({
  json: z.boolean().default(false),
  'fail-on': Severity.default('critical'),
  'lock-timeout': z
    .string()
    .regex(/^\d+(ms|s|min)?$/, 'expected a duration such as 5s, 500ms or 1min')
    .default('5s'),
});

function short(hash: string): string {
  return hash.slice(0, 16);
}

export function renderRehearsal(r: RehearsalReport): string {
  const out: string[] = [];
  out.push(`birthgate rehearse: database ${r.database}, schema ${r.schema} — BEGIN … ROLLBACK`);
  out.push(`applied before: ${r.applied.length ? r.applied.join(', ') : '(none)'}`);
  out.push(`pending: ${r.pending.length ? r.pending.join(', ') : '(none)'}`);
  out.push('');
  for (const m of r.migrations) {
    out.push(`  ${m.status === 'ok' ? 'ok    ' : m.status === 'failed' ? 'FAILED' : 'skip  '} ${m.name}${m.ms !== null ? ` (${m.ms.toFixed(0)} ms)` : ''}  sha256 ${short(m.sha256)}`);
    if (m.error) {
      out.push(`         ERROR: ${m.error.message}${m.error.sqlstate ? ` [SQLSTATE ${m.error.sqlstate}]` : ''}`);
      if (m.error.detail) out.push(`         DETAIL: ${m.error.detail}`);
      if (m.error.hint) out.push(`         HINT: ${m.error.hint}`);
      if (m.error.line) out.push(`         at migrations/${m.name}.sql line ${m.error.line}${m.error.statement ? `: ${m.error.statement.split('\n')[0]}` : ''}`);
      if (m.error.where) out.push(`         CONTEXT: ${m.error.where}`);
    }
  }
  const c = r.checks.constraints;
  out.push(`deferred constraints (SET CONSTRAINTS ALL IMMEDIATE): ${typeof c === 'string' ? c : `FAILED: ${c.message} [SQLSTATE ${c.sqlstate}]${c.detail ? ` DETAIL: ${c.detail}` : ''}`}`);
  if (r.checks.findings) {
    out.push(`drift report after the migrations: ${r.checks.findings.length} finding(s), ${r.checks.blocking} at or above ${r.checks.failOn}`);
    if (r.checks.findings.length) {
      out.push(table(['SEVERITY', 'KIND', 'OBJECT', 'MESSAGE'], r.checks.findings.map((f) => [f.severity, f.kind, f.object_name, f.message])));
    }
  }
  if (r.changes) {
    const { created, altered, dropped } = r.changes;
    out.push('');
    out.push(`would change: ${created.length} created, ${altered.length} altered, ${dropped.length} dropped`);
    const rows = [
      ...created.map((o) => ['create', o.kind, o.identity]),
      ...altered.map((o) => ['alter', o.kind, o.identity]),
      ...dropped.map((o) => ['drop', o.kind, o.identity]),
    ];
    if (rows.length) out.push(table(['ACTION', 'KIND', 'OBJECT'], rows));
  }
  if (r.rowsWritten.length) {
    out.push('');
    out.push(table(['TABLE', 'INSERTED', 'UPDATED', 'DELETED'], r.rowsWritten.map((w) => [w.table, String(w.inserted), String(w.updated), String(w.deleted)])));
  }
  out.push('');
  out.push('fingerprint (outside the transaction)   before            after');
  out.push(`  schema dump sha256                    ${short(r.before.schemaSha256)}  ${short(r.after.schemaSha256)}  ${r.comparison.schema ? 'identical' : 'DIFFERENT'}`);
  out.push(`  roles sha256                          ${short(r.before.rolesSha256)}  ${short(r.after.rolesSha256)}  ${r.comparison.roles ? 'identical' : 'DIFFERENT'}`);
  out.push(`  row counts sha256 (${r.before.tables} tables, ${r.before.totalRows} rows)`.padEnd(40) + `${short(r.before.rowCountsSha256)}  ${short(r.after.rowCountsSha256)}  ${r.comparison.rowCounts ? 'identical' : 'DIFFERENT'}`);
  for (const t of r.comparison.changedTables) out.push(`    ${t.table}: ${t.before} -> ${t.after}`);
  for (const n of r.notes) out.push(`note: ${n}`);
  out.push('');
  if (r.exitCode === 0) out.push(`OK: ${r.pending.length} migration(s) would apply cleanly; zero mutation (database unchanged)`);
  else if (r.exitCode === 4) out.push('FAIL: the database is not identical after the rehearsal (exit 4)');
  else out.push(`FAIL: a real apply would fail or leave findings at or above ${r.checks.failOn} (exit 3); database unchanged: ${r.comparison.identical ? 'yes' : 'NO'}`);
  return out.join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlags(
    'rehearse',
    usage,
    argv,
    { json: { type: 'boolean' }, 'fail-on': { type: 'string' }, 'lock-timeout': { type: 'string' } },
    Flags,
  );
  const cfg = connectionFromEnv();
  const report = await rehearse({ databaseUrl: cfg.databaseUrl, schema: cfg.schema, lockTimeout: flags['lock-timeout'], failOn: flags['fail-on'] });
  if (flags.json) printJson(report);
  else console.log(renderRehearsal(report));
  return report.exitCode;
}
