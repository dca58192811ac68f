/**
 * 000008 outbox delivery (issue 14): a pull API over event_outbox for downstream workers —
 * outbox_claim (FOR UPDATE SKIP LOCKED, visibility timeout), outbox_ack (exactly once, fenced by
 * worker), outbox_fail (bounded exponential backoff with jitter, dead-letter after max_attempts),
 * outbox_redrive, outbox_purge (retention, counted), outbox_configure; event_dead_letter,
 * outbox_receipt, outbox_config, outbox_counter; v_outbox_status, v_outbox_findings; the role <schema>_delivery.
 *
 * Down moves dead-lettered events back to event_outbox (as undelivered, attempts and last_error
 * kept) before dropping the table, so rolling back loses no undelivered event. Acknowledged events
 * left event_outbox at acknowledgement (their payload is gone); their receipts are dropped with
 * outbox_receipt.
 */
import type { Ctx } from '../lib/ctx.js';
import type { Migration } from '../lib/migration.js';
import { sqlText } from '../lib/sql.js';
import { recaptureDriftBaseline } from '../drift/monitor.js';
import { fnRef, signatures, type OutboxFunction } from '../outbox/common.js';
import { configTable, counterTable, deadLetterTable, dropOutboxColumns, outboxColumns, receiptTable } from '../outbox/tables.js';
import {
  ackFunction,
  claimFunction,
  configureFunction,
  failFunction,
  purgeFunction,
  redriveFunction,
} from '../outbox/functions.js';
import { findingsView, statusView } from '../outbox/views.js';
import { createRole, dropRole, grants } from '../outbox/privileges.js';

/** Down: dead-lettered events go back to the outbox as undelivered events, nothing is lost. */
function returnDeadLetters(c: Ctx): string {
  return sqlText`
    INSERT INTO ${c.q('event_outbox')} (outbox_id, event_type, object_key, born_at, payload, source_change_id, emitted_at, released_from_pending, attempts, last_error)
    OVERRIDING SYSTEM VALUE
    SELECT d.outbox_id, d.event_type, d.object_key, d.born_at, d.payload, d.source_change_id, d.emitted_at, d.released_from_pending, d.attempts, d.last_error
    FROM ${c.q('event_dead_letter')} AS d
    ORDER BY d.outbox_id
    ON CONFLICT DO NOTHING;`;
}

export const outboxDelivery: Migration = {
  id: '000008',
  slug: 'outbox_delivery',
  summary: 'outbox delivery: claim/ack/fail pull API with visibility timeout, backoff, dead letter, re-drive, retention purge, status views, delivery role',
  up: (c) => [
    outboxColumns(c),
    receiptTable(c),
    deadLetterTable(c),
    configTable(c),
    counterTable(c),
    claimFunction(c),
    ackFunction(c),
    failFunction(c),
    redriveFunction(c),
    purgeFunction(c),
    configureFunction(c),
    statusView(c),
    findingsView(c),
    createRole(c),
    grants(c),
    recaptureDriftBaseline(c),
  ],
  down: (c) => [
    `DROP VIEW ${c.q('v_outbox_findings')};\nDROP VIEW ${c.q('v_outbox_status')};`,
    (Object.keys(signatures) as OutboxFunction[])
      .reverse()
      .map((f) => `DROP FUNCTION ${fnRef(c, f)};`)
      .join('\n'),
    returnDeadLetters(c),
    `DROP TABLE ${c.q('outbox_counter')};\nDROP TABLE ${c.q('outbox_config')};\nDROP TABLE ${c.q('event_dead_letter')};\nDROP TABLE ${c.q('outbox_receipt')};`,
    dropOutboxColumns(c),
    dropRole(c),
    recaptureDriftBaseline(c),
  ],
};
