/**
 * 000009 sweeps: live-scale sweeps (issue 10). Worker cursors (sweep_cursor) and findings
 * (sweep_finding); the adoption sweep of existing family rows (sweep_adopt, dry run and run), the
 * candidate-seed backfill (sweep_backfill), the server-load guard (sweep_load_guard), sweep_note,
 * the pg_cron procedures sweep_adopt_run / sweep_backfill_run, and the views v_sweep_status /
 * v_sweep_findings. Adds objects only: nothing of an earlier migration is replaced.
 */
import type { Ctx } from '../lib/ctx.js';
import type { Migration } from '../lib/migration.js';
import { lit, qi, sqlText } from '../lib/sql.js';
import { recaptureDriftBaseline } from '../drift/monitor.js';
import { adoptFunction } from '../sweeps/adopt.js';
import { backfillFunction } from '../sweeps/backfill.js';
import { loadGuardFunction } from '../sweeps/guard.js';
import { adoptRunProcedure, backfillRunProcedure, noteFunction } from '../sweeps/runner.js';
import { dropSweepTables, sweepTables } from '../sweeps/tables.js';
import { findingsView, statusView } from '../sweeps/views.js';

const functions = {
  sweep_load_guard: '(integer, interval, interval)',
  sweep_adopt: '(text, boolean, integer, integer, boolean)',
  sweep_backfill: '(integer, integer, boolean)',
  sweep_note: '(text, text, text, timestamptz)',
} as const;
const procedures = {
  sweep_adopt_run: '(text, boolean, integer, integer, integer, interval, text)',
  sweep_backfill_run: '(integer, integer, integer, interval, text)',
} as const;

/** The role that runs the handoff and the sweeps (0.2), when it exists: <schema>_consumer. */
const consumerRole = (c: Ctx) => `${c.schema}_consumer`;

function grants(c: Ctx): string {
  const { admin, reader } = c.roles;
  const fns = Object.entries(functions).map(([n, a]) => `${c.q(n)}${a}`);
  const prs = Object.entries(procedures).map(([n, a]) => `${c.q(n)}${a}`);
  const views = `${c.q('v_sweep_status')}, ${c.q('v_sweep_findings')}`;
  const tables = `${c.q('sweep_cursor')}, ${c.q('sweep_finding')}`;
  const consumer = consumerRole(c);
  return [
    ...fns.map((f) => `REVOKE ALL ON FUNCTION ${f} FROM PUBLIC;`),
    ...prs.map((p) => `REVOKE ALL ON PROCEDURE ${p} FROM PUBLIC;`),
    `REVOKE ALL ON ${tables}, ${views} FROM PUBLIC;`,
    `GRANT EXECUTE ON FUNCTION ${fns.join(', ')} TO ${qi(admin)};`,
    `GRANT EXECUTE ON FUNCTION ${c.q('sweep_load_guard')}${functions.sweep_load_guard} TO ${qi(reader)};`,
    `GRANT EXECUTE ON PROCEDURE ${prs.join(', ')} TO ${qi(admin)};`,
    `GRANT SELECT ON ${tables}, ${views} TO ${qi(admin)}, ${qi(reader)};`,
    sqlText`
      DO $consumer$
      BEGIN
          -- the least-privilege role that runs the handoff and the sweeps, when a migration created it
          IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = ${lit(consumer)}) THEN
              EXECUTE ${lit(`GRANT EXECUTE ON FUNCTION ${fns.join(', ')} TO ${qi(consumer)}`)};
              EXECUTE ${lit(`GRANT EXECUTE ON PROCEDURE ${prs.join(', ')} TO ${qi(consumer)}`)};
              EXECUTE ${lit(`GRANT SELECT ON ${tables}, ${views} TO ${qi(consumer)}`)};
          END IF;
      END
      $consumer$;`,
  ].join('\n');
}

export const sweeps: Migration = {
  id: '000009',
  slug: 'sweeps_adopt_backfill',
  summary: 'live-scale sweeps: adoption of existing rows, candidate-seed backfill, worker cursors, load guard, rate limits, findings',
  up: (c) => [
    ...sweepTables(c),
    loadGuardFunction(c),
    adoptFunction(c),
    backfillFunction(c),
    noteFunction(c),
    adoptRunProcedure(c),
    backfillRunProcedure(c),
    statusView(c),
    findingsView(c),
    grants(c),
    recaptureDriftBaseline(c),
  ],
  down: (c) => [
    `DROP VIEW ${c.q('v_sweep_findings')};`,
    `DROP VIEW ${c.q('v_sweep_status')};`,
    ...Object.entries(procedures).map(([n, a]) => `DROP PROCEDURE ${c.q(n)}${a};`),
    ...Object.entries(functions)
      .reverse()
      .map(([n, a]) => `DROP FUNCTION ${c.q(n)}${a};`),
    ...dropSweepTables(c),
    recaptureDriftBaseline(c),
  ],
};
