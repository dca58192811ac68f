/** Deliberate errors of outbox delivery (issue 14): BG500–BG549. */
import type { ErrorDef } from './types.js';

export const outboxErrors = [
  {
    code: 'BG500',
    name: 'OUTBOX_INVALID_WORKER',
    message: 'invalid worker name',
    hint: "Pass a stable, unique name per worker process, 1 to 128 characters, e.g. SELECT * FROM birthgate.outbox_claim('mailer@host-1:4711', 100);",
  },
  {
    code: 'BG501',
    name: 'OUTBOX_INVALID_LIMIT',
    message: 'invalid batch limit',
    hint: 'Claim between 1 and 10000 events per call (birthgate.outbox_claim(worker, 100)); purge between 1 and 1000000 per call (birthgate.outbox_purge(10000)).',
  },
  {
    code: 'BG502',
    name: 'OUTBOX_INVALID_VISIBILITY',
    message: 'invalid visibility timeout',
    hint: "Pass a visibility timeout above 0 and at most 1 day, longer than one delivery takes, e.g. SELECT * FROM birthgate.outbox_claim('worker-1', 100, interval '30 seconds');",
  },
  {
    code: 'BG503',
    name: 'OUTBOX_INVALID_IDS',
    message: 'invalid outbox id list',
    hint: 'Pass a non-NULL array without NULL elements and at most 10000 ids, e.g. SELECT birthgate.outbox_ack(ARRAY[101, 102]::bigint[]);',
  },
  {
    code: 'BG504',
    name: 'OUTBOX_UNKNOWN_ID',
    message: 'no such event in the outbox or the dead letter table',
    hint: 'Use the outbox_id values returned by birthgate.outbox_claim(); an event delivered longer ago than the retention may have been purged (SELECT * FROM birthgate.v_outbox_status).',
  },
  {
    code: 'BG505',
    name: 'OUTBOX_INVALID_ERROR_TEXT',
    message: 'invalid error text',
    hint: "Pass what went wrong as a non-empty text, e.g. SELECT birthgate.outbox_fail(101, 'HTTP 503 from the webhook');",
  },
  {
    code: 'BG506',
    name: 'OUTBOX_NOT_CLAIMED',
    message: 'the event is not claimed by this worker',
    hint: 'Fail only events you hold: claim with birthgate.outbox_claim() and pass the same worker name; after the visibility timeout another worker may have taken the event over, then drop it.',
  },
  {
    code: 'BG507',
    name: 'OUTBOX_ALREADY_DELIVERED',
    message: 'the event has already been acknowledged',
    hint: 'Nothing to do: the event was delivered (SELECT receipt_id, delivered_at, acked_by FROM birthgate.outbox_receipt WHERE ... = ANY (outbox_ids)).',
  },
  {
    code: 'BG508',
    name: 'OUTBOX_DEAD_LETTERED',
    message: 'the event is in the dead letter table',
    hint: 'Inspect it (SELECT * FROM birthgate.event_dead_letter WHERE outbox_id = ...) and, once the cause is fixed, re-drive it: SELECT birthgate.outbox_redrive(ARRAY[...]::bigint[]);',
  },
  {
    code: 'BG509',
    name: 'OUTBOX_INVALID_SETTING',
    message: 'invalid outbox delivery setting',
    hint: "Settings: max_attempts 1..1000, backoff_base above 0 and at most backoff_max, backoff_max at most 1 day, retention at least 1 minute, alert_after above 0; e.g. SELECT * FROM birthgate.outbox_configure(p_max_attempts => 12);",
  },
  {
    code: 'BG510',
    name: 'OUTBOX_CONFIG_MISSING',
    message: 'the outbox delivery settings row is missing',
    hint: 'Re-create it with the defaults: INSERT INTO birthgate.outbox_config DEFAULT VALUES;',
  },
] as const satisfies readonly ErrorDef[];
