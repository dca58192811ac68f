/**
 * `birthgate backfill` — seeds governance_candidate_state (dirty) for every BORN object that has no
 * candidate row yet (objects born before the handoff ran); idempotent with the consumer. Resumable.
 */
import { CliError } from '../io.js';
import { commonUsage, parseSweepArgs, runCommand } from './sweep-runner.js';

export const usage = `birthgate backfill [options]
  Seeds the governance candidate state for objects born before the handoff (sweep_backfill,
  one committed batch at a time).
${commonUsage}
JSON: {"ok","sweep","run_id","finished","rows_done","rows_total_estimated","applied","findings","batches",
       "pauses","paused_ms","retries","elapsed_ms","skipped","interrupted","deferred"}`;

export async function run(argv: string[]): Promise<number> {
  const { o, positionals } = parseSweepArgs('backfill', argv, usage);
  if (positionals.length !== 0) throw new CliError(`backfill: unexpected argument ${JSON.stringify(positionals[0])}\n${usage}`, 2);
  return runCommand(
    'backfill',
    o,
    'backfill',
    (schema) => (batchSize) => ({
      sql: `SELECT * FROM "${schema}".sweep_backfill($1, $2, $3)`,
      params: [batchSize, o.maxBatchesPerMinute ?? null, o.loadGuard],
    }),
    (r) =>
      r.skipped
        ? 'backfill: skipped: another worker holds the cursor'
        : `backfill: ${r.rows_done} registry rows swept in run ${r.run_id}, ${r.applied} candidates seeded, ${r.batches} batches, ${r.elapsed_ms} ms` +
          `${r.finished ? '' : r.interrupted ? '; interrupted: run it again to resume' : '; not finished: run it again to resume'}`,
  );
}
