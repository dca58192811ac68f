/**
 * 000004 drift: the drift monitor. drift_baseline + drift_capture_baseline(), the hash views
 * v_drift_function_hash / v_drift_trigger_state, the family scan drift_family_objects(), the
 * report v_drift_report and drift_assert_clean(). Ends by capturing the baseline, so a fresh
 * install or a clean upgrade reports no drift. The SQL lives in generator/drift/monitor.ts.
 */
import type { Migration } from '../lib/migration.js';
import { driftDown, driftUp } from '../drift/monitor.js';

export const drift: Migration = {
  id: '000004',
  slug: 'drift',
  summary: 'drift monitor: function/trigger hash baseline, trigger state, unborn objects, phantoms, stale heartbeat, v_drift_report',
  up: (c) => driftUp(c),
  down: (c) => driftDown(c),
};
