/**
 * 000020 admission on live tables: a family table that became a partition after registration
 * (rows routed through the parent bypassed the statement-level writer) and a code column with a
 * nondeterministic collation (layer 2 took a case variant for the born object). tg_birth_gate
 * refuses both in enforce (BG163, BG164), register_family and move_family refuse the collation
 * (BG103), and the drift monitor reports both as family_table_unsafe. SQL:
 * generator/admission/live_tables_v5.ts.
 */
import type { Migration } from '../lib/migration.js';
import { recaptureDriftBaseline } from '../drift/monitor.js';
import * as v3 from '../admission/statement_gate_v3.js';
import { moveFamilyV4 } from '../admission/single_row_v4.js';
import { familyReadSourceV2 } from '../security/reader_rights_v2.js';
import { familyReadSourceV3, gateFunctionV4, moveFamilyV5, registerFamilyV3, registerFamilyV4 } from '../admission/live_tables_v5.js';

export const admissionLiveTables: Migration = {
  id: '000020',
  slug: 'admission_live_tables',
  summary: 'admission: a family table turned partition and a nondeterministic code collation are refused in enforce (BG163, BG164) and by register_family/move_family, and reported by the drift monitor',
  up: (c) => [gateFunctionV4(c), registerFamilyV4(c), moveFamilyV5(c), familyReadSourceV3(c), recaptureDriftBaseline(c)],
  down: (c) => [v3.gateCheckFunction(c), registerFamilyV3(c), moveFamilyV4(c), familyReadSourceV2(c), recaptureDriftBaseline(c)],
};
