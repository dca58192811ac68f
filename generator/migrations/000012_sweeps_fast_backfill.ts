/**
 * 000012 sweeps: the backfill at registry scale, batches sized to a time target, and BG errors for
 * family tables the package owner may not read.
 * - sweep_backfill v3 (generator/sweeps/backfill_v3.ts): keyset over birth_registry.object_key;
 *   each batch reads one range of object keys from the registry, the changelog and the candidate
 *   table (no per-object probe) and writes one INSERT. No new index: every range uses an index
 *   that exists (birth_registry_object_key_idx, registry_changelog_object_key_idx, the candidate
 *   table's primary key), so births pay nothing for it.
 * - sweep_adopt v3 (adopt_v3.ts): BG608 (no USAGE on the schema or no SELECT on the table or a
 *   partition, also when revoked during the batch), BG609 (row-level security that applies to the
 *   package owner), with the remedy in the HINT; never a raw 42501.
 * - Adaptive batch size (worker_v3.ts): p_batch_size DEFAULT NULL in sweep_adopt, sweep_backfill,
 *   sweep_adopt_run and sweep_backfill_run sizes each batch to <schema>.sweep_batch_target
 *   (default 80 ms); sweep_note (runner_v3.ts) halves it after a statement timeout.
 * - Adoption of a table without a btree index on its code column (every batch sorts the whole
 *   table): a no_code_index finding with the CREATE INDEX statement (findings_v3.ts), and an
 *   adaptive run takes the largest batches.
 * Signatures and grants are unchanged (CREATE OR REPLACE); Down restores the 000009 definitions.
 */
import type { Migration } from '../lib/migration.js';
import { recaptureDriftBaseline } from '../drift/monitor.js';
import { adoptFunction } from '../sweeps/adopt.js';
import { adoptFunctionV3 } from '../sweeps/adopt_v3.js';
import { backfillFunction } from '../sweeps/backfill.js';
import { backfillFunctionV3 } from '../sweeps/backfill_v3.js';
import { adoptRunProcedure, backfillRunProcedure, noteFunction } from '../sweeps/runner.js';
import { adoptRunProcedureV3, backfillRunProcedureV3, noteFunctionV3 } from '../sweeps/runner_v3.js';
import { dropFindingKindsV3, findingKindsV3 } from '../sweeps/findings_v3.js';

export const sweepsFastBackfill: Migration = {
  id: '000012',
  slug: 'sweeps_fast_backfill',
  summary: 'sweeps: range-based backfill batches, adaptive batch size, BG608/BG609 for family tables the package owner may not read',
  up: (c) => [
    ...findingKindsV3(c),
    adoptFunctionV3(c),
    backfillFunctionV3(c),
    noteFunctionV3(c),
    adoptRunProcedureV3(c),
    backfillRunProcedureV3(c),
    recaptureDriftBaseline(c),
  ],
  down: (c) => [
    adoptFunction(c),
    backfillFunction(c),
    noteFunction(c),
    adoptRunProcedure(c),
    backfillRunProcedure(c),
    ...dropFindingKindsV3(c),
    recaptureDriftBaseline(c),
  ],
};
