/**
 * Rehearsal: apply every pending migration (its Up section, as node-pg-migrate would, with the
 * bookkeeping rows) inside ONE transaction on the target database, fire the deferred constraints,
 * read the drift report, diff the catalog, then ROLLBACK. A fingerprint taken outside the
 * transaction before and after proves that nothing changed.
 */
import pg from 'pg';
import { openClient } from '../db.js';
import { catalogSnapshot, diffCatalog, rowsWritten, type CatalogDiff } from './catalog.js';
import { compareFingerprints, fingerprint, type Fingerprint, type FingerprintDiff } from './fingerprint.js';
import { migrationState, type MigrationState } from './migrations.js';
import { splitStatements } from './split.js';
import type { Finding } from './report.js';
import { readFindings, severityRank, type SeverityName } from './report.js';

export interface PgErrorInfo {
  sqlstate: string | null;
  message: string;
  detail: string | null;
  hint: string | null;
  where: string | null;
  /** 1-based line in the migration file, when PostgreSQL reported a position. */
  line: number | null;
  statement: string | null;
}

export interface RehearsedMigration {
  name: string;
  sha256: string;
  status: 'ok' | 'failed' | 'not reached';
  ms: number | null;
  error: PgErrorInfo | null;
}

export interface RehearsalReport {
  ok: boolean;
  exitCode: number;
  database: string;
  schema: string;
  applied: string[];
  pending: string[];
  unknownApplied: string[];
  outOfOrder: string[];
  migrations: RehearsedMigration[];
  checks: { constraints: PgErrorInfo | 'ok' | 'not reached'; findings: Finding[] | null; failOn: SeverityName; blocking: number };
  changes: CatalogDiff | null;
  rowsWritten: { table: string; inserted: number; updated: number; deleted: number }[];
  before: Fingerprint;
  after: Fingerprint;
  comparison: FingerprintDiff;
  notes: string[];
}

export interface RehearseOptions {
  databaseUrl: string;
  schema: string;
  lockTimeout: string;
  failOn: SeverityName;
  dir?: string;
}

function pgError(e: unknown, sql: string | null, lineOffset: number): PgErrorInfo {
  const err = e as { code?: string; message?: string; detail?: string; hint?: string; where?: string; position?: string };
  let line: number | null = null;
  let statement: string | null = null;
  if (sql && err.position) {
    const pos = Number(err.position) - 1;
    line = lineOffset + sql.slice(0, pos).split('\n').length;
    const start = sql.lastIndexOf('\n\n', pos);
    const end = sql.indexOf('\n\n', pos);
    statement = sql.slice(start < 0 ? 0 : start + 2, end < 0 ? undefined : end).trim().slice(0, 400);
  }
  return {
    sqlstate: err.code ?? null,
    message: err.message ?? String(e),
    detail: err.detail ?? null,
    hint: err.hint ?? null,
    where: err.where ?? null,
    line,
    statement,
  };
}

/**
 * PostgreSQL gives no position for many errors (e.g. "already exists"): replay the section
 * statement by statement from the savepoint to find the one that fails, for its line number.
 */
async function locate(client: pg.Client, sql: string, lineOffset: number, error: PgErrorInfo): Promise<PgErrorInfo> {
  try {
    await client.query('ROLLBACK TO SAVEPOINT birthgate_rehearse_migration');
    for (const st of splitStatements(sql)) {
      try {
        await client.query(st.text);
      } catch (e) {
        const again = e as { code?: string };
        if (again.code !== error.sqlstate) return error;
        const lead = /^(?:\s|--[^\n]*\n)*/.exec(st.text)![0].length;
        return {
          ...error,
          line: lineOffset + sql.slice(0, st.offset + lead).split('\n').length,
          statement: st.text.slice(lead).trim().slice(0, 400),
        };
      }
    }
  } catch {
    // the diagnosis is best effort; the original error stands
  }
  return error;
}

export async function rehearse(o: RehearseOptions): Promise<RehearsalReport> {
  const before = await fingerprint(o.databaseUrl, o.schema);
  const client = await openClient({ connectionString: o.databaseUrl, application_name: 'birthgate rehearse' });
  const notes: string[] = [];
  const migrations: RehearsedMigration[] = [];
  let changes: CatalogDiff | null = null;
  let written: RehearsalReport['rowsWritten'] = [];
  let constraints: RehearsalReport['checks']['constraints'] = 'not reached';
  let findings: Finding[] | null = null;
  let state: MigrationState | undefined;
  try {
    state = await migrationState(client, o.schema, o.dir);
    if (state.unknown.length) notes.push(`the database has applied migrations this checkout does not have: ${state.unknown.join(', ')}`);
    if (state.outOfOrder.length) notes.push(`pending migrations sort before the last applied one (the migrator refuses this): ${state.outOfOrder.join(', ')}`);
    await client.query('BEGIN');
    try {
      await client.query(`SELECT set_config('lock_timeout', $1, true)`, [o.lockTimeout]);
      const catalogBefore = await catalogSnapshot(client);
      let failed = false;
      for (const m of state.pending) {
        if (failed) {
          migrations.push({ name: m.name, sha256: m.sha256, status: 'not reached', ms: null, error: null });
          continue;
        }
        const started = process.hrtime.bigint();
        const lineOffset = m.text.slice(0, m.text.indexOf(m.up)).split('\n').length - 1;
        try {
          await client.query('SAVEPOINT birthgate_rehearse_migration');
          await client.query(m.up);
          // the bookkeeping row, as node-pg-migrate writes it; the id is computed so that no
          // sequence value is consumed (nextval would survive the ROLLBACK)
          await client.query(`CREATE SCHEMA IF NOT EXISTS "${o.schema}_migrations"`);
          await client.query(
            `CREATE TABLE IF NOT EXISTS ${state.table} (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL)`,
          );
          await client.query(`INSERT INTO ${state.table} (id, name, run_on) SELECT coalesce(max(id), 0) + 1, $1, now() FROM ${state.table}`, [m.name]);
          migrations.push({ name: m.name, sha256: m.sha256, status: 'ok', ms: Number(process.hrtime.bigint() - started) / 1e6, error: null });
        } catch (e) {
          failed = true;
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          let error = pgError(e, m.up, lineOffset);
          if (error.line === null) error = await locate(client, m.up, lineOffset, error);
          migrations.push({ name: m.name, sha256: m.sha256, status: 'failed', ms, error });
        }
      }
      if (!failed) {
        try {
          await client.query('SET CONSTRAINTS ALL IMMEDIATE');
          constraints = 'ok';
        } catch (e) {
          constraints = pgError(e, null, 0);
          failed = true;
        }
      }
      if (!failed) {
        findings = await readFindings(client, o.schema);
        if (findings === null) notes.push('v_drift_report does not exist after the pending migrations: no drift checks ran');
        changes = diffCatalog(catalogBefore, await catalogSnapshot(client));
        written = await rowsWritten(client);
      }
    } finally {
      await client.query('ROLLBACK');
    }
  } finally {
    await client.end();
  }
  const after = await fingerprint(o.databaseUrl, o.schema);
  const comparison = compareFingerprints(before, after);
  if (comparison.advancedSequences.length) {
    notes.push(
      `sequences moved during the rehearsal (nextval is not rolled back; other sessions may also have used them): ${comparison.advancedSequences.map((s) => s.sequence).join(', ')}`,
    );
  }
  const blocking = (findings ?? []).filter((f) => severityRank(f.severity) >= severityRank(o.failOn)).length;
  const migrationFailed = migrations.some((m) => m.status === 'failed') || (constraints !== 'ok' && constraints !== 'not reached');
  const exitCode = !comparison.identical ? 4 : migrationFailed || blocking > 0 ? 3 : 0;
  if (!comparison.identical) {
    notes.push('the database changed between the two fingerprints: either another session wrote to it meanwhile, or something the rehearsal ran is not transactional; compare the row counts');
  }
  const u = new URL(o.databaseUrl);
  return {
    ok: exitCode === 0,
    exitCode,
    database: decodeURIComponent(u.pathname.slice(1)),
    schema: o.schema,
    applied: state!.applied,
    pending: state!.pending.map((m) => m.name),
    unknownApplied: state!.unknown,
    outOfOrder: state!.outOfOrder,
    migrations,
    checks: { constraints, findings, failOn: o.failOn, blocking },
    changes,
    rowsWritten: written,
    before,
    after,
    comparison,
    notes,
  };
}
