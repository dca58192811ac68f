/**
 * 000022 admission: a family table with row-level security the package owner is subject to (a
 * managed server, a package owner without BYPASSRLS) is refused at commit with BG161 (enforce) or
 * recorded as FAMILY_TABLE_UNSAFE (report) instead of failing with a raw 42501. SQL:
 * generator/admission/row_security_v6.ts.
 */
import type { Migration } from '../lib/migration.js';
import { recaptureDriftBaseline } from '../drift/monitor.js';
import { finalizeCheckFunctionV4 } from '../admission/single_row_v4.js';
import { reverifyFunctionV5 } from '../admission/reverify_v5.js';
import { finalizeCheckFunctionV6, reverifyFunctionV6 } from '../admission/row_security_v6.js';

export const admissionRowSecurity: Migration = {
  id: '000022',
  slug: 'admission_row_security',
  summary: 'admission: row-level security the package owner is subject to is BG161 / FAMILY_TABLE_UNSAFE at commit, not a raw 42501',
  up: (c) => [finalizeCheckFunctionV6(c), reverifyFunctionV6(c), recaptureDriftBaseline(c)],
  down: (c) => [finalizeCheckFunctionV4(c), reverifyFunctionV5(c), recaptureDriftBaseline(c)],
};
