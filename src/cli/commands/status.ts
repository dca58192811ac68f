/**
 * birthgate status — a monitoring probe: migrations, the handoff (heartbeat, lag) and every drift
 * finding. Exit 0 when nothing at or above --fail-on (default critical) was found, 3 when
 * something was, 1 when the database cannot be reached or read, 2 for bad flags.
 */
import { z } from 'zod';
import { connectionFromEnv } from '../../config.js';
import { connect } from '../../db.js';
import { explainDenied } from '../denied.js';
import { Severity } from '../../generated/vocab.js';
import { parseFlags } from '../../operator/args.js';
import { age, table } from '../../operator/format.js';
import { migrationState, migrationsTable } from '../../operator/migrations.js';
import { readFindings, readHandoff, severityRank, type Finding, type HandoffState } from '../../operator/report.js';
import { COMMON_EXIT_CODES, printJson } from '../io.js';

export const usage = `birthgate status [--json] [--fail-on info|warning|critical]
  Shows the applied/pending migrations, the handoff (heartbeat, rows waiting and held back, the
  transaction holding them) and every drift finding. Read-only, with short lock/statement timeouts.
  --json              one JSON line on stdout (snake_case keys, numbers as numbers, ages in seconds)
  --fail-on SEVERITY  exit 3 when a finding at or above SEVERITY exists (default critical)
exit codes:
${COMMON_EXIT_CODES}
  3    a finding at or above --fail-on exists (a monitoring probe)`;

const Flags = z.object({
  json: z.boolean().default(false),
  'fail-on': Severity.default('critical'),
});

export const EXIT_FINDINGS = 3;

export interface StatusDocument {
  ok: boolean;
  exit_code: number;
  fail_on: Severity;
  checked_at: string;
  database: string;
  schema: string;
  installed: boolean;
  migrations: { applied: string[]; pending: string[]; unknown: string[] };
  handoff: HandoffState[];
  summary: Record<Severity, number>;
  findings: Finding[];
}

export async function collectStatus(databaseUrl: string, schema: string, failOn: Severity): Promise<StatusDocument> {
  const client = await connect(databaseUrl, 'birthgate status');
  try {
    // a probe must never hold locks or run long: read-only, short timeouts
    await client.query(`SET statement_timeout = '30s'; SET lock_timeout = '5s'; SET default_transaction_read_only = on`);
    const installed = (await client.query<{ ok: boolean }>('SELECT to_regnamespace($1) IS NOT NULL AS ok', [schema])).rows[0]!.ok;
    const findings: Finding[] = [];
    let state: Awaited<ReturnType<typeof migrationState>>;
    try {
      state = await migrationState(client, schema);
    } catch (e) {
      // a monitoring role (birthgate_reader) may not read the migrator's bookkeeping table:
      // report that, and still report everything else
      if ((e as { code?: string }).code !== '42501') throw e;
      const table = migrationsTable(schema);
      state = { table, tableExists: true, applied: [], files: [], pending: [], unknown: [], outOfOrder: [] };
      findings.push({
        severity: 'info',
        kind: 'migrations_unreadable',
        object_type: 'migrations',
        object_name: table,
        message: `this role (${(await client.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u}) may not read ${table}: applied and pending migrations are not shown`,
        remedy: `Run birthgate migrate status as the owner, or GRANT USAGE ON SCHEMA ${schema}_migrations and SELECT ON ${table} to this role`,
        detail: {},
      });
    }
    let handoff: HandoffState[] = [];
    if (!installed) {
      findings.push({
        severity: 'critical',
        kind: 'not_installed',
        object_type: 'schema',
        object_name: schema,
        message: `schema ${schema} does not exist in this database: nothing is gated`,
        remedy: 'Install with `birthgate migrate up` (or the install script / an operator packet)',
        detail: {},
      });
    } else {
      handoff = await readHandoff(client, schema);
      const report = await readFindings(client, schema);
      if (report === null) {
        findings.push({
          severity: 'warning',
          kind: 'monitor_missing',
          object_type: 'view',
          object_name: `${schema}.v_drift_report`,
          message: 'the drift monitor is not installed: gate triggers, functions and heartbeat are not watched',
          remedy: 'Apply the pending migrations (birthgate rehearse, then birthgate migrate up)',
          detail: {},
        });
      } else findings.push(...report);
    }
    if (state.pending.length > 0) {
      findings.push({
        severity: 'warning',
        kind: 'migrations_pending',
        object_type: 'migrations',
        object_name: state.table,
        message: `${state.pending.length} migration(s) not applied: ${state.pending.map((m) => m.name).join(', ')}`,
        remedy: 'Rehearse them (birthgate rehearse), then apply (birthgate migrate up, or birthgate packet for an operator)',
        detail: { pending: state.pending.map((m) => m.name) },
      });
    }
    if (state.unknown.length > 0) {
      findings.push({
        severity: 'info',
        kind: 'migrations_unknown',
        object_type: 'migrations',
        object_name: state.table,
        message: `the database has migrations this birthgate does not know: ${state.unknown.join(', ')}`,
        remedy: 'Run the birthgate version that applied them',
        detail: { unknown: state.unknown },
      });
    }
    findings.sort((a, b) => severityRank(b.severity) - severityRank(a.severity));
    const summary = { info: 0, warning: 0, critical: 0 } as Record<Severity, number>;
    for (const f of findings) summary[f.severity]++;
    const failing = findings.some((f) => severityRank(f.severity) >= severityRank(failOn));
    const db = (await client.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db;
    return {
      ok: !failing,
      exit_code: failing ? EXIT_FINDINGS : 0,
      fail_on: failOn,
      checked_at: new Date().toISOString(),
      database: db,
      schema,
      installed,
      migrations: { applied: state.applied, pending: state.pending.map((m) => m.name), unknown: state.unknown },
      handoff,
      summary,
      findings,
    };
  } catch (e) {
    await explainDenied(client, e, 'status', schema);
    throw e;
  } finally {
    await client.end();
  }
}

export function renderStatus(d: StatusDocument): string {
  const lines: string[] = [];
  lines.push(`birthgate status: database ${d.database}, schema ${d.schema}, ${d.checked_at}`);
  if (d.findings.some((f) => f.kind === 'migrations_unreadable')) lines.push('migrations: not readable by this role (see the findings)');
  else lines.push(`migrations: ${d.migrations.applied.length} applied, ${d.migrations.pending.length} pending${d.migrations.pending.length ? ` (${d.migrations.pending.join(', ')})` : ''}`);
  for (const h of d.handoff) lines.push(renderHandoff(h));
  lines.push(`findings: ${d.summary.critical} critical, ${d.summary.warning} warning, ${d.summary.info} info`);
  if (d.findings.length > 0) {
    lines.push('');
    lines.push(
      table(
        ['SEVERITY', 'KIND', 'OBJECT', 'MESSAGE / REMEDY'],
        d.findings.map((f) => [f.severity, f.kind, f.object_name, `${f.message}. Remedy: ${f.remedy}`]),
      ),
    );
  }
  lines.push('');
  lines.push(d.ok ? `OK: nothing at or above ${d.fail_on}` : `FAIL: finding(s) at or above ${d.fail_on} (exit ${d.exit_code})`);
  return lines.join('\n');
}

/** One line per cursor, in the words of v_handoff_status: waiting (consumable now) vs held back. */
export function renderHandoff(h: HandoffState): string {
  const beat = h.heartbeat_at === null ? 'never ran' : `heartbeat ${age(h.heartbeat_age_seconds)} ago`;
  const verdict =
    h.heartbeat_at === null
      ? h.rows_waiting + h.rows_held_back > 0
        ? 'STALE: governed activation fails closed'
        : 'nothing handed off yet; governed activation stays closed until it runs'
      : h.stale
        ? 'STALE: governed activation fails closed'
        : 'fresh';
  const parts = [`${h.rows_waiting} changelog row(s) waiting`];
  if (h.rows_held_back > 0) {
    const who = h.holding_pid !== null ? ` by an open transaction (pid ${h.holding_pid}${h.holding_xact_age_seconds !== null ? `, open ${age(h.holding_xact_age_seconds)}` : ''})` : ' by an open transaction';
    parts.push(`${h.rows_held_back} held back${who}`);
  }
  if (h.unreconciled_objects > 0) parts.push(`${h.unreconciled_objects} BORN object(s) without a candidate row`);
  return `handoff ${h.consumer}: ${beat} (stale after ${age(h.stale_after_seconds)}) — ${verdict}; ${parts.join(', ')}`;
}

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlags('status', usage, argv, { json: { type: 'boolean' }, 'fail-on': { type: 'string' } }, Flags);
  const cfg = connectionFromEnv();
  const doc = await collectStatus(cfg.databaseUrl, cfg.schema, flags['fail-on']);
  if (flags.json) printJson(doc);
  else console.log(renderStatus(doc));
  return doc.exit_code;
}
