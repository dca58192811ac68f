/**
 * 000016 drift: a gate trigger altered after the package attached it (issue 8 follow-up, from the
 * adversarial review of 000015). The owner of a family table may disable a gate for one statement and
 * enable it again, even inside a transaction that births objects; the trigger then looked untouched.
 * The package now records the pg_trigger row version (xmin) of every gate it attaches
 * (gate_trigger_attach); v_drift_trigger_state reports a gate whose row changed since as `altered`,
 * v_drift_report as a critical trigger_altered finding, until the gates are attached again.
 * SQL: generator/drift/gate_alteration_v3.ts.
 */
import type { Migration } from '../lib/migration.js';
import { recaptureDriftBaseline } from '../drift/monitor.js';
import { attachGatesV4 } from '../admission/single_row_v4.js';
import { triggerStateView } from '../drift/trigger_state_v2.js';
import * as v3 from '../drift/gate_alteration_v3.js';

export const driftGateAlteration: Migration = {
  id: '000016',
  slug: 'drift_gate_alteration',
  summary: 'drift: a gate trigger altered after the package attached it (disabled and enabled again, even for a moment) is a critical finding',
  up: (c) => [
    v3.attachTable(c),
    v3.attachGatesV5(c),
    v3.triggerStateViewV3(c),
    v3.reportViewV3(c),
    recaptureDriftBaseline(c),
  ],
  down: (c) => [
    v3.reportViewV2Replacing(c),
    triggerStateView(c, true),
    attachGatesV4(c),
    v3.dropAttachTable(c),
    recaptureDriftBaseline(c),
  ],
};
