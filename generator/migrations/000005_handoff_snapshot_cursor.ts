/**
 * 000005 handoff snapshot cursor (issue 9): the handoff cursor becomes a PgQ-style snapshot
 * position, so an open transaction anywhere in the cluster no longer holds back committed births,
 * and a consumer called inside a transaction that wrote changelog rows no longer loses them.
 * The stored 0.1.0 position (txid, change_id) is converted without losing or repeating a handoff.
 * Replaces handoff_consume, handoff_drain, handoff_horizon, handoff_holding_xact and
 * v_handoff_status (same names, signatures and result columns; the view gains columns at the
 * end); adds handoff_snapshot() and handoff_rewind(txid, change_id). The Down section restores the 0.1.0 definitions and position.
 * The SQL lives in generator/handoff/snapshot_cursor_v2.ts.
 */
import type { Ctx } from '../lib/ctx.js';
import type { Migration } from '../lib/migration.js';
import { qi } from '../lib/sql.js';
import { recaptureDriftBaseline } from '../drift/monitor.js';
import { consumeFunction, drainProcedure, holdingFunction, horizonFunction } from '../handoff/consume.js';
import { statusView } from '../handoff/views.js';
import {
  consumeFunctionV2,
  convertCursorDown,
  convertCursorUp,
  cursorColumnsV2,
  drainProcedureV2,
  holdingFunctionV2,
  horizonFunctionV2,
  rewindFunctionV2,
  snapshotFunctionV2,
  statusViewV2,
} from '../handoff/snapshot_cursor_v2.js';

/** A 0.1.0 CREATE FUNCTION/PROCEDURE, as CREATE OR REPLACE (for the Down section). */
const orReplace = (sql: string) => sql.replace(/^CREATE (FUNCTION|PROCEDURE) /, 'CREATE OR REPLACE $1 ');

function snapshotGrants(c: Ctx): string {
  const { admin, reader } = c.roles;
  return [
    `REVOKE ALL ON FUNCTION ${c.q('handoff_snapshot')}() FROM PUBLIC;`,
    `GRANT EXECUTE ON FUNCTION ${c.q('handoff_snapshot')}() TO ${qi(admin)}, ${qi(reader)};`,
    `REVOKE ALL ON FUNCTION ${c.q('handoff_rewind')}(xid8, bigint) FROM PUBLIC;`,
    `GRANT EXECUTE ON FUNCTION ${c.q('handoff_rewind')}(xid8, bigint) TO ${qi(admin)};`,
  ].join('\n');
}

function statusViewGrants(c: Ctx): string {
  const { admin, reader } = c.roles;
  return [
    `REVOKE ALL ON ${c.q('v_handoff_status')} FROM PUBLIC;`,
    `GRANT SELECT ON ${c.q('v_handoff_status')} TO ${qi(admin)}, ${qi(reader)};`,
  ].join('\n');
}

export const handoffSnapshotCursor: Migration = {
  id: '000005',
  slug: 'handoff_snapshot_cursor',
  summary: 'handoff snapshot cursor: PgQ-style snapshot position, split windows, own-transaction safety, exact lag; converts the 0.1.0 position',
  up: (c) => [
    cursorColumnsV2(c),
    snapshotFunctionV2(c),
    rewindFunctionV2(c),
    snapshotGrants(c),
    convertCursorUp(c),
    horizonFunctionV2(c),
    holdingFunctionV2(c),
    consumeFunctionV2(c),
    drainProcedureV2(c),
    statusViewV2(c),
    recaptureDriftBaseline(c),
  ],
  down: (c) => [
    `DROP VIEW ${c.q('v_handoff_status')};`,
    orReplace(horizonFunction(c)),
    orReplace(holdingFunction(c)),
    orReplace(consumeFunction(c)),
    orReplace(drainProcedure(c)),
    convertCursorDown(c),
    `DROP FUNCTION ${c.q('handoff_rewind')}(xid8, bigint);`,
    `DROP FUNCTION ${c.q('handoff_snapshot')}();`,
    statusView(c),
    statusViewGrants(c),
    recaptureDriftBaseline(c),
  ],
};
