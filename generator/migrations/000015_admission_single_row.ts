/**
 * 000015 admission single row (issue 8, follow-up): a one-row birth at the cost of its writes, and a
 * commit-time re-verification no session setting can skip.
 *  - tg_birth_register births one code with four point statements on cached plans; everything else
 *    keeps 000011's set-based statement, planned per execution.
 *  - The re-verification of the writer's births at commit is queued by the writer (a row in the new
 *    package table admission_verify, deferred constraint trigger _900_admission_reverify) instead of
 *    by a transaction-local setting a session could forge; the WHEN clause of _900_birth_finalize
 *    keeps only the armed test, and tg_birth_finalize no longer re-verifies.
 *  - _900_birth_finalize is AFTER INSERT only; a DELETE has its own deferred trigger
 *    _905_birth_finalize_delete without a WHEN clause, so no session setting can keep a deleted
 *    row from being checked at commit (with the armed marker forged, 000011 skipped it).
 * Every registered family gets the new trigger set on the way up and the 000011 set back on the way
 * down. SQL: generator/admission/single_row_v4.ts.
 */
import type { Migration } from '../lib/migration.js';
import { recaptureDriftBaseline } from '../drift/monitor.js';
import * as v3 from '../admission/statement_gate_v3.js';
import * as v4 from '../admission/single_row_v4.js';
import { reattachAll } from './000011_admission_fast_path.js';
import { admissionFunctionsV3 } from '../admission/functions_v3.js';

export const admissionSingleRow: Migration = {
  id: '000015',
  slug: 'admission_single_row',
  summary: 'admission: single-row births on cached point statements; the commit-time re-verification queued by the writer in admission_verify (no session setting can skip it)',
  up: (c) => [
    v4.verifyTable(c),
    v4.reverifyFunction(c),
    v4.triggerDefsFunctionV4(c),
    v4.attachGatesV4(c),
    v4.moveFamilyV4(c),
    v4.gateTriggersPresentV4(c),
    v4.registerTriggerFunctionV4(c),
    v4.finalizeCheckFunctionV4(c),
    reattachAll(c, 'the 000015 gate triggers (_900_birth_finalize for INSERT without the verify setting, _905_birth_finalize_delete for DELETE)'),
    recaptureDriftBaseline(c),
  ],
  down: (c) => [
    v4.dropDeleteTriggers(c),
    v3.triggerDefsFunction(c),
    v4.attachGatesV2(c),
    admissionFunctionsV3(c)[1]!,
    v4.gateTriggersPresentV2(c),
    v3.registerTriggerFunction(c),
    v3.finalizeCheckFunction(c),
    reattachAll(c, 'the 000011 gate triggers again'),
    v4.dropReverify(c),
    recaptureDriftBaseline(c),
  ],
};
