/**
 * `birthgate adopt <collection> [--dry-run]` — adopts the existing rows of a registered family
 * table: every valid code with no registry row becomes BORN (no permit; the changelog says adopted,
 * by whom, in which run); every other row becomes a finding (v_sweep_findings). Resumable.
 */
import { usageError } from '../io.js';
import { commonUsage, parseSweepArgs, runCommand } from './sweep-runner.js';

export const usage = `birthgate adopt <collection> [--dry-run] [options]
  Adopts the rows already in a family table (sweep_adopt, one committed batch at a time).
  --dry-run                     list what would be adopted and what cannot be (findings), write no registry row
JSON: {"ok","sweep","run_id","finished","rows_done","rows_total_estimated","applied","findings","batches",
       "pauses","paused_ms","retries","elapsed_ms","skipped","interrupted","deferred"}
${commonUsage}`;

export async function run(argv: string[]): Promise<number> {
  const { o, values, positionals } = parseSweepArgs('adopt', argv, { 'dry-run': { type: 'boolean' } });
  if (positionals.length !== 1) {
    throw usageError('adopt', positionals.length === 0 ? 'expected the collection name of a registered family' : `expected exactly one collection name (got ${positionals.length})`);
  }
  const collection = positionals[0]!;
  const dryRun = Boolean(values['dry-run']);
  return runCommand(
    'adopt',
    o,
    `adopt ${collection}${dryRun ? ' (dry run)' : ''}`,
    (schema) => (batchSize) => ({
      sql: `SELECT * FROM "${schema}".sweep_adopt($1, $2, $3, $4, $5)`,
      params: [collection, dryRun, batchSize, o.maxBatchesPerMinute ?? null, o.loadGuard],
    }),
    (r) =>
      r.skipped
        ? `adopt: skipped: another worker holds the cursor ${r.sweep}`
        : `adopt ${collection}${dryRun ? ' (dry run)' : ''}: ${r.rows_done} codes swept in run ${r.run_id}, ${r.applied} ${dryRun ? 'would be adopted' : 'adopted'}, ` +
          `${r.findings} findings (SELECT * FROM v_sweep_findings WHERE sweep_name = '${r.sweep}'), ${r.batches} batches, ${r.elapsed_ms} ms` +
          `${r.finished ? '' : r.interrupted ? '; interrupted: run it again to resume' : '; not finished: run it again to resume'}`,
    `${dryRun ? 'adopt_dry_run' : 'adopt'}:${collection}`,
  );
}
