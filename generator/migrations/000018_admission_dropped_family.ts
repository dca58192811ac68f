/**
 * 000018 admission: a family table dropped in the transaction of its births. The commit-time
 * re-verification (tg_admission_reverify, on the package table admission_verify) refuses the commit
 * in enforce (BG157) and records every such birth in report, instead of returning because the table
 * is gone. SQL: generator/admission/reverify_v5.ts.
 */
import type { Migration } from '../lib/migration.js';
import { recaptureDriftBaseline } from '../drift/monitor.js';
import { reverifyFunctionV4Replacing, reverifyFunctionV5 } from '../admission/reverify_v5.js';

export const admissionDroppedFamily: Migration = {
  id: '000018',
  slug: 'admission_dropped_family',
  summary: 'admission: births whose family table is dropped in the same transaction are refused at commit (enforce) or recorded (report)',
  up: (c) => [reverifyFunctionV5(c), recaptureDriftBaseline(c)],
  down: (c) => [reverifyFunctionV4Replacing(c), recaptureDriftBaseline(c)],
};
