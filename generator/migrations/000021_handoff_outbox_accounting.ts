/**
 * 000021 handoff and outbox accounting: v_handoff_status names a prepared transaction that holds
 * births back, and replay_unverified counts each event emitted again past the purged receipts once.
 * SQL: generator/handoff/accounting_v3.ts.
 */
import type { Migration } from '../lib/migration.js';
import { recaptureDriftBaseline } from '../drift/monitor.js';
import { holdingFunctionV2 } from '../handoff/snapshot_cursor_v2.js';
import { holdingFunctionV3, replayGuardV3Replacing, replayGuardV4 } from '../handoff/accounting_v3.js';

export const handoffOutboxAccounting: Migration = {
  id: '000021',
  slug: 'handoff_outbox_accounting',
  summary: 'handoff/outbox accounting: the prepared transaction holding births back is named; replay_unverified counts real re-emissions once',
  up: (c) => [holdingFunctionV3(c), replayGuardV4(c), recaptureDriftBaseline(c)],
  down: (c) => [holdingFunctionV2(c), replayGuardV3Replacing(c), recaptureDriftBaseline(c)],
};
