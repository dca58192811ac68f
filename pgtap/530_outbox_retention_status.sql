-- 530 outbox retention and status: outbox_purge() deletes only the receipts of events acknowledged
-- longer ago than the retention, in bounded batches of whole receipts, never silently (counted in v_outbox_status, a NOTICE, the purged
-- finding); undelivered, recently delivered and dead-lettered events stay; purge_overdue is
-- reported while the purge does not run; the counter log is folded without losing a count;
-- v_outbox_status splits the depth into ready / in flight / backing off / expired claims and
-- reports the oldest undelivered age (undelivered_old finding past alert_after) and the size.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(24);

DELETE FROM birthgate.event_outbox;
DELETE FROM birthgate.event_dead_letter;
DELETE FROM birthgate.outbox_counter;
DELETE FROM birthgate.outbox_receipt;

-- 5 acknowledged 8 days ago (receipts of 1, 1 and 3 events), 2 acknowledged an hour ago (one
-- receipt), 1 undelivered emitted 8 days ago
INSERT INTO birthgate.outbox_receipt (delivered_at, acked_by, outbox_ids, events, min_outbox_id, max_outbox_id)
VALUES (now() - interval '8 days', 'w', ARRAY[1]::bigint[], 1, 1, 1),
       (now() - interval '8 days', 'w', ARRAY[2]::bigint[], 1, 2, 2),
       (now() - interval '8 days', 'w', ARRAY[3, 4, 5]::bigint[], 3, 3, 5),
       (now() - interval '1 hour', 'w', ARRAY[6, 7]::bigint[], 2, 6, 7);
INSERT INTO birthgate.event_outbox (event_type, object_key, born_at, payload, source_change_id, emitted_at, visible_at)
VALUES ('handoff.object_born', 'ret:waiting', now(), '{}', 0, now() - interval '8 days', now() - interval '8 days');

SELECT is((SELECT (delivered_retained, purge_due, depth)::text FROM birthgate.v_outbox_status), '(7,5,1)',
          'before: 7 acknowledged retained, 5 past the 7-day retention, 1 undelivered');
SELECT is((SELECT severity FROM birthgate.v_outbox_findings WHERE kind = 'purge_overdue'), 'warning', 'purge_overdue is reported while the purge does not run');
SELECT is((SELECT count(*)::int FROM birthgate.v_outbox_findings WHERE kind = 'purged'), 0, 'no purged finding before any purge');
SELECT is(birthgate.outbox_purge(2), 2, 'purge(2) deletes the receipts of 2 events (bounded batch)');
SELECT is(birthgate.outbox_purge(1), 3, 'purge(1) deletes a whole receipt (3 events): at least p_limit while some are due');
SELECT is(birthgate.outbox_purge(100), 0, 'nothing more is due: 0');
SELECT is((SELECT count(*)::int FROM birthgate.outbox_receipt WHERE delivered_at < now() - interval '7 days'), 0, 'the receipts past the retention are gone');
SELECT is((SELECT array_agg(x ORDER BY x) FROM birthgate.outbox_receipt, unnest(outbox_ids) AS x), ARRAY[6, 7]::bigint[], 'recent receipts are kept');
SELECT throws_ok($$SELECT birthgate.outbox_ack(ARRAY[3]::bigint[])$$, 'BG504', NULL, 'acknowledging a purged id again raises BG504');
SELECT is(birthgate.outbox_ack(ARRAY[6, 7]::bigint[]), 0, 'acknowledging a retained one again counts 0');
SELECT is((SELECT count(*)::int FROM birthgate.event_outbox WHERE object_key = 'ret:waiting'), 1, 'an undelivered event is never purged, however old');
SELECT is((SELECT (purged_total, last_purge_at IS NOT NULL, purge_due)::text FROM birthgate.v_outbox_status), '(5,t,0)', 'v_outbox_status counts the 5 purged and when');
SELECT is((SELECT detail->>'purged_total' FROM birthgate.v_outbox_findings WHERE kind = 'purged'), '5', 'the purged finding counts what was purged');
SELECT is((SELECT count(*)::int FROM birthgate.v_outbox_findings WHERE kind = 'purge_overdue'), 0, 'purge_overdue is gone');

-- a later purge adds to the count (each purge that deletes rows also raises a NOTICE)
INSERT INTO birthgate.outbox_receipt (delivered_at, acked_by, outbox_ids, events, min_outbox_id, max_outbox_id)
VALUES (now() - interval '9 days', 'w', ARRAY[9]::bigint[], 1, 9, 9);
SELECT is(birthgate.outbox_purge(10), 1, 'a later purge deletes the newly due receipt');
SELECT is((SELECT purged_total FROM birthgate.v_outbox_status), 6::bigint, 'and is counted: 6 in all');

-- the counter log is folded without losing a count
INSERT INTO birthgate.outbox_counter (counter, amount) SELECT 'expired_claims', 2 FROM generate_series(1, 1200);
SELECT is((SELECT (expired_claims_total, purged_total)::text FROM birthgate.v_outbox_status), '(2400,6)', 'before folding: 2400 expired claims, 6 purged');
SELECT is(birthgate.outbox_purge(10), 0, 'a purge with nothing due still folds the counter log');
SELECT is((SELECT count(*)::int FROM birthgate.outbox_counter), 2, 'the log is folded to one row per counter');
SELECT is((SELECT (expired_claims_total, purged_total)::text FROM birthgate.v_outbox_status), '(2400,6)', 'after folding the totals are the same');

-- depth by state
DELETE FROM birthgate.event_outbox;
INSERT INTO birthgate.event_outbox (event_type, object_key, born_at, payload, source_change_id, visible_at, claimed_by, claimed_at, claim_expires_at, emitted_at)
VALUES ('handoff.object_born', 'st:ready', now(), '{}', 1, now() - interval '1 minute', NULL, NULL, NULL, now() - interval '1 hour'),
       ('handoff.object_born', 'st:inflight', now(), '{}', 2, now(), 'w', now(), clock_timestamp() + interval '1 hour', now()),
       ('handoff.object_born', 'st:backoff', now(), '{}', 3, clock_timestamp() + interval '1 hour', NULL, NULL, NULL, now()),
       ('handoff.object_born', 'st:expired', now(), '{}', 4, now() - interval '3 minutes', 'w', now() - interval '2 minutes', now() - interval '1 minute', now());
SELECT is((SELECT (depth, ready, in_flight, backing_off, expired_claims)::text FROM birthgate.v_outbox_status), '(4,1,1,1,1)',
          'depth 4 = 1 ready + 1 in flight + 1 backing off + 1 expired claim');
SELECT ok((SELECT oldest_undelivered_age >= interval '1 hour' FROM birthgate.v_outbox_status), 'the oldest undelivered age is at least an hour');
SELECT is((SELECT severity FROM birthgate.v_outbox_findings WHERE kind = 'undelivered_old'), 'warning', 'older than alert_after (15 minutes): undelivered_old is reported');
SELECT ok((SELECT table_bytes > 0 AND index_bytes > 0 FROM birthgate.v_outbox_status), 'v_outbox_status reports table and index size');

SELECT * FROM finish();
ROLLBACK;
