/**
 * 000019 drift: the drift views readable by a role without rights on the family tables' schemas,
 * and a family table whose schema the package owner may not use reported instead of failing the
 * whole report with a raw 42501. SQL: generator/security/reader_rights_v2.ts.
 */
import type { Migration } from '../lib/migration.js';
import { recaptureDriftBaseline } from '../drift/monitor.js';
import { triggerDefsFunctionV4 } from '../admission/single_row_v4.js';
import { familyReadSourceV1Replacing, familyReadSourceV2, triggerDefsFunctionV5 } from '../security/reader_rights_v2.js';

export const driftReaderRights: Migration = {
  id: '000019',
  slug: 'drift_reader_rights',
  summary: 'drift: v_drift_report readable without USAGE on family schemas; a family schema the package owner may not use is a finding, not a raw 42501',
  up: (c) => [triggerDefsFunctionV5(c), familyReadSourceV2(c), recaptureDriftBaseline(c)],
  down: (c) => [triggerDefsFunctionV4(c), familyReadSourceV1Replacing(c), recaptureDriftBaseline(c)],
};
