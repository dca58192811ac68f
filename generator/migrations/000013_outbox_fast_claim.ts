/**
 * 000013 outbox fast claim and replay guard (issue 14, follow-up):
 *  - outbox_ack skips its accounting query when every id was acknowledged (no function forces a
 *    plan-cache mode: see generator/outbox/fast_claim_v3.ts);
 *  - exactly-once acknowledgement across a replay of the handoff: receipts keep the source
 *    changelog rows of the events they acknowledged; the replay guard (_100_replay_guard on
 *    event_outbox and event_pending) drops a re-emission of an acknowledged or dead-lettered
 *    event; a replay below the purged receipts is delivered and reported
 *    (replay_unverified, finding replay_past_retention); outbox_purge records how far it purged;
 *  - v_outbox_replay (new) shows the replay counters, v_outbox_findings gains the replay findings.
 * The SQL lives in generator/outbox/fast_claim_v3.ts. Down restores the 000008 definitions; the
 * source ids recorded in receipts meanwhile are dropped with their columns.
 */
import type { Migration } from '../lib/migration.js';
import { recaptureDriftBaseline } from '../drift/monitor.js';
import { ackFunction, purgeFunction } from '../outbox/functions.js';
import {
  ackFunctionV3,
  dropReceiptColumnsV3,
  dropReplayGuard,
  findingsViewV3,
  orReplace,
  purgeFunctionV3,
  receiptColumnsV3,
  replayGuardFunction,
  restoreViewsV2,
  replayViewV3,
} from '../outbox/fast_claim_v3.js';

export const outboxFastClaim: Migration = {
  id: '000013',
  slug: 'outbox_fast_claim',
  summary: 'outbox: ack planned once per session; replay guard (no re-emission of acknowledged or dead-lettered events), replay counters and findings',
  up: (c) => [
    receiptColumnsV3(c),
    ackFunctionV3(c),
    purgeFunctionV3(c),
    replayGuardFunction(c),
    replayViewV3(c),
    findingsViewV3(c),
    recaptureDriftBaseline(c),
  ],
  down: (c) => [
    restoreViewsV2(c),
    dropReplayGuard(c),
    orReplace(purgeFunction(c)),
    orReplace(ackFunction(c)),
    dropReceiptColumnsV3(c),
    recaptureDriftBaseline(c),
  ],
};
