/**
 * 000026 drift: the monitor after a dump/restore, and package functions open to PUBLIC.
 * - _100_permit_transition_guard is re-created in canonical form (the flat OR its row comparison
 *   re-parses to), so its hash survives pg_dump/pg_restore, pg_upgrade and any re-creation from
 *   pg_get_triggerdef; we re-create instead of normalising the hash because a canonical definition
 *   keeps the hash exact (a text normaliser would have to undo the parser's flattening and would
 *   make different trees hash equal).
 * - A gate without an attach record of its own (restore, or DROP + CREATE TRIGGER by the owner) is a
 *   critical trigger_unrecorded finding; gate_attach_record(collection) records it, after which every
 *   ALTER/DISABLE/ENABLE of it is trigger_altered again.
 * - PUBLIC may execute a SECURITY DEFINER package function: critical function_public_execute, with
 *   the REVOKE and the GRANTs the baseline recorded (drift_baseline.execute_grantees).
 * SQL: generator/drift/restore_v4.ts.
 */
import type { Migration } from '../lib/migration.js';
import { orReplace } from '../lib/sql.js';
import { captureBaseline, recaptureDriftBaseline } from '../drift/monitor.js';
import { reportViewV3, triggerStateViewV3 } from '../drift/gate_alteration_v3.js';
import * as v4 from '../drift/restore_v4.js';

export const driftRestore: Migration = {
  id: '000026',
  slug: 'drift_restore',
  summary: 'drift: hashes survive a dump/restore, a gate without its own attach record is a finding (gate_attach_record), PUBLIC EXECUTE on a SECURITY DEFINER function is critical',
  up: (c) => [
    v4.permitGuardTriggerCanonical(c),
    v4.triggerStateViewV4(c),
    v4.baselineGranteesColumn(c),
    v4.captureBaselineV2(c),
    v4.reportViewV4(c),
    v4.gateAttachRecord(c),
    recaptureDriftBaseline(c),
  ],
  // v_drift_report v4 is the one object that reads execute_grantees: replaced first, then the column
  // goes, and only then the trigger-state view of 000016 (it reads drift_baseline with *) comes back
  down: (c) => [
    v4.dropGateAttachRecord(c),
    reportViewV3(c),
    orReplace(captureBaseline(c)),
    v4.dropBaselineGranteesColumn(c),
    triggerStateViewV3(c),
    v4.permitGuardTriggerV1(c),
    recaptureDriftBaseline(c),
  ],
};
