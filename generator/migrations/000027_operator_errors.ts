/**
 * 000027 operator errors: the package functions called where they cannot work say so with a BG
 * SQLSTATE, a DETAIL and a HINT: a read-only transaction or a hot standby (BG222 / BG511 / BG165,
 * checked first thing, nothing changed); handoff_consume under REPEATABLE READ / SERIALIZABLE
 * overtaken by another consumer returns "skipped" instead of 40001; a NULL argument reads NULL
 * in DETAIL (revoke_permit, set_family_code_limit, move_family, retire); BG200/BG501/BG503/BG504
 * hints fit the function and the role that gets them.
 * SQL: generator/operator/read_only_guard.ts.
 */
import type { Migration } from '../lib/migration.js';
import { recaptureDriftBaseline } from '../drift/monitor.js';
import {
  assertWritableFunction,
  dropAssertWritable,
  drainProcedureV2,
  drainProcedureV3,
  operatorDetails,
  writersGuarded,
  writersRestored,
} from '../operator/read_only_guard.js';

export const operatorErrors: Migration = {
  id: '000027',
  slug: 'operator_errors',
  summary: 'operator errors: writers refuse read-only transactions and hot standbys up front (BG222/BG511/BG165); handoff_consume overtaken under REPEATABLE READ returns skipped',
  up: (c) => [
    assertWritableFunction(c),
    ...writersGuarded(c, operatorDetails(c)),
    drainProcedureV3(c),
    recaptureDriftBaseline(c),
  ],
  down: (c) => [...writersRestored(c), drainProcedureV2(c), dropAssertWritable(c), recaptureDriftBaseline(c)],
};
