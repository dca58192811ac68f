/**
 * `birthgate backfill` — seeds governance_candidate_state (dirty) for every BORN object that has no
 * candidate row yet (objects born before the handoff ran); idempotent with the consumer. Resumable.
 */
import { usageError } from '../io.js';
import { commonUsage, parseSweepArgs, runCommand } from './sweep-runner.js';

export const usage = `birthgate backfill [options]
  Seeds the governance candidate state for objects born before the handoff (sweep_backfill,
  one committed batch at a time).
JSON: {"ok","sweep","run_id","finished","rows_done","rows_total_estimated","applied","findings","batches",
       "pauses","paused_ms","retries","elapsed_ms","skipped","interrupted","deferred"}
${commonUsage}`;

export async function run(argv: string[]): Promise<number> {
  const { o, positionals } = parseSweepArgs('backfill', argv);
  if (positionals.length !== 0) throw usageError('backfill', `unexpected argument ${JSON.stringify(positionals[0]!.slice(0, 100))} (backfill takes no collection: it seeds every family)`);
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
    'backfill',
  );
}
