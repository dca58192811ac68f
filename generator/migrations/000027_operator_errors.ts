/**
 * 000027 operator errors: the package functions called where they cannot work say so with a BG
 * SQLSTATE, a DETAIL and a HINT: a read-only transaction or a hot standby (BG222 / BG511 / BG165,
 * checked first thing, nothing changed); handoff_consume under REPEATABLE READ / SERIALIZABLE
 * overtaken by another consumer returns "skipped" instead of 40001.
 * SQL: generator/operator/read_only_guard.ts.
 */
import type { Migration } from '../lib/migration.js';
import { recaptureDriftBaseline } from '../drift/monitor.js';
import { assertWritableFunction, consumeFunctionV3, dropAssertWritable, writersGuarded, writersRestored } from '../operator/read_only_guard.js';

export const operatorErrors: Migration = {
  id: '000027',
  slug: 'operator_errors',
  summary: 'operator errors: writers refuse read-only transactions and hot standbys up front (BG222/BG511/BG165); handoff_consume overtaken under REPEATABLE READ returns skipped',
  up: (c) => [
    assertWritableFunction(c),
    ...writersGuarded(c, { handoff_consume: (g) => consumeFunctionV3(c, g) }),
    recaptureDriftBaseline(c),
  ],
  down: (c) => [...writersRestored(c), dropAssertWritable(c), recaptureDriftBaseline(c)],
};
