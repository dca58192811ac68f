/**
 * 000024 admission: register_family under concurrency: two sessions registering the same collection
 * at once both succeed (idempotent), two collections onto one table give BG106, instead of a raw
 * 23505 for the second.
 * SQL: generator/admission/register_serialized_v6.ts.
 */
import type { Migration } from '../lib/migration.js';
import { recaptureDriftBaseline } from '../drift/monitor.js';
import { registerFamilyV4 } from '../admission/live_tables_v5.js';
import { registerFamilyV5 } from '../admission/register_serialized_v6.js';

export const admissionRegisterSerialized: Migration = {
  id: '000024',
  slug: 'admission_register_serialized',
  summary: 'admission: concurrent register_family calls retry after a unique violation (idempotent, BG106; no raw 23505)',
  up: (c) => [registerFamilyV5(c), recaptureDriftBaseline(c)],
  down: (c) => [registerFamilyV4(c), recaptureDriftBaseline(c)],
};
