-- 510 outbox state machine, one event at a time (the outbox is emptied first inside this
-- rolled-back transaction, so every claim is predictable):
--  (a) claim -> ack: emission order, attempt 1, hidden while claimed, acknowledged exactly once;
--  (b) claim -> fail -> backoff -> claim: 'retry', the error recorded with attempt, worker and time,
--      invisible during the jittered backoff, claimable after it with attempt 2;
--  (c) the backoff is bounded: base * 2^(attempts-1) jittered into [half, full], never above backoff_max;
--  (d) -> dead letter: the failure of attempt max_attempts returns 'dead' and moves the event with
--      every error to event_dead_letter; counted; reported;
--  (e) -> re-drive: back under the same id, attempts 0, errors kept, claimable at once; repeating is 0;
--  (f) visibility expiry: an unacknowledged claim becomes claimable again, the expiry is recorded
--      as an error, the late worker's fenced ack is refused (0, counted) and its fail raises BG506,
--      the new holder acknowledges;
--  (g) an expired claim that was the last attempt is dead-lettered by the next claim (poison event).
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(60);

DELETE FROM birthgate.event_outbox;
DELETE FROM birthgate.event_dead_letter;
DELETE FROM birthgate.outbox_counter;
DELETE FROM birthgate.outbox_receipt;
SELECT lives_ok($$SELECT * FROM birthgate.outbox_configure(p_max_attempts => 3, p_backoff_base => '1 second', p_backoff_max => '2 seconds')$$,
                'settings for the test: 3 attempts, backoff 1 s doubling up to 2 s (long enough to observe on a busy machine)');

CREATE FUNCTION pg_temp.emit(p_key text) RETURNS bigint
LANGUAGE sql AS $fn$
    INSERT INTO birthgate.event_outbox (event_type, object_key, born_at, payload, source_change_id)
    VALUES ('handoff.object_born', 'sm:' || p_key, now(), jsonb_build_object('key', p_key), 0)
    RETURNING outbox_id;
$fn$;
CREATE FUNCTION pg_temp.id(p_key text) RETURNS bigint
LANGUAGE sql STABLE AS $fn$
    SELECT coalesce((SELECT outbox_id FROM birthgate.event_outbox WHERE object_key = 'sm:' || p_key),
                    (SELECT outbox_id FROM birthgate.event_dead_letter WHERE object_key = 'sm:' || p_key));
$fn$;
-- poll until the event is claimable again (generous deadline, no fixed sleep in the assertion)
CREATE FUNCTION pg_temp.wait_visible(p_key text) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
    v_deadline timestamptz := clock_timestamp() + interval '30 seconds';
BEGIN
    LOOP
        IF (SELECT visible_at <= clock_timestamp() AND coalesce(claim_expires_at, '-infinity') <= clock_timestamp()
              FROM birthgate.event_outbox WHERE object_key = 'sm:' || p_key) THEN
            RETURN true;
        END IF;
        IF clock_timestamp() > v_deadline THEN
            RETURN false;
        END IF;
        PERFORM pg_sleep(0.02);
    END LOOP;
END;
$fn$;
CREATE TEMP TABLE got (outbox_id bigint, event_type text, object_key text, payload jsonb, attempt integer) ON COMMIT DROP;
CREATE FUNCTION pg_temp.claim(p_worker text, p_limit integer DEFAULT 10, p_visibility interval DEFAULT '30 seconds') RETURNS text
LANGUAGE plpgsql AS $fn$
BEGIN
    DELETE FROM got;
    INSERT INTO got SELECT * FROM birthgate.outbox_claim(p_worker, p_limit, p_visibility);
    RETURN coalesce((SELECT string_agg(replace(object_key, 'sm:', '') || '#' || attempt, ',' ORDER BY outbox_id) FROM got), '');
END;
$fn$;

-- (a) claim -> ack
SELECT pg_temp.emit('a1') IS NOT NULL AS a1, pg_temp.emit('a2') IS NOT NULL AS a2 \gset
SELECT pg_temp.id('a1') AS a1_id \gset
SELECT pg_stat_get_xact_tuples_updated('birthgate.event_outbox'::regclass) AS upd0, pg_stat_get_xact_tuples_hot_updated('birthgate.event_outbox'::regclass) AS hot0 \gset
SELECT is(pg_temp.claim('w1', 1), 'a1#1', 'the first claim takes the oldest event, attempt 1');
SELECT is((SELECT payload->>'key' FROM got), 'a1', 'the claim returns the payload');
SELECT is(pg_temp.claim('w2', 10), 'a2#1', 'a claimed event is hidden: the next claim takes only the other one');
SELECT is(pg_temp.claim('w3', 10), '', 'nothing is left to claim');
SELECT is((pg_stat_get_xact_tuples_updated('birthgate.event_outbox'::regclass) - :upd0, pg_stat_get_xact_tuples_hot_updated('birthgate.event_outbox'::regclass) - :hot0)::text,
          '(2,2)', 'both claims were HOT updates (no new index entries)');
SELECT is((SELECT claimed_by FROM birthgate.event_outbox WHERE outbox_id = pg_temp.id('a1')), 'w1', 'the claim records the worker');
SELECT is(birthgate.outbox_ack(ARRAY[pg_temp.id('a1')], 'w1'), 1, 'ack by the holder acknowledges it: 1');
SELECT is(birthgate.outbox_ack(ARRAY[:a1_id]::bigint[], 'w1'), 0, 'the same ack again: 0 (already acknowledged)');
SELECT is(birthgate.outbox_ack(ARRAY[:a1_id, :a1_id]::bigint[]), 0, 'an unfenced ack of it, twice in one array: 0');
SELECT is(birthgate.outbox_ack(ARRAY[pg_temp.id('a2'), pg_temp.id('a2')]), 1, 'an unfenced ack with a duplicated id counts the event once');
SELECT is((SELECT count(*)::int FROM birthgate.event_outbox WHERE object_key IN ('sm:a1', 'sm:a2')), 0, 'acknowledged events leave event_outbox');
SELECT is((SELECT array_agg((acked_by, events)::text ORDER BY receipt_id) FROM birthgate.outbox_receipt),
          ARRAY['(w1,1)', '(,1)'], 'one receipt per acknowledging call, with the worker and the count');
SELECT ok((SELECT :a1_id = ANY (outbox_ids) AND delivered_at IS NOT NULL FROM birthgate.outbox_receipt WHERE acked_by = 'w1'), 'the receipt holds the acknowledged id and when');
SELECT throws_ok(format('SELECT birthgate.outbox_fail(%s, %L, %L)', :a1_id, 'late', 'w1'), 'BG507', NULL, 'failing an acknowledged event raises BG507');

-- (b) claim -> fail -> backoff -> claim
SELECT pg_temp.emit('b') IS NOT NULL AS b \gset
SELECT is(pg_temp.claim('w1'), 'b#1', 'b is claimed, attempt 1');
SELECT is(birthgate.outbox_fail(pg_temp.id('b'), 'HTTP 503 from the receiver', 'w1'), 'retry', 'the first failure returns retry');
SELECT is((SELECT (claimed_by, jsonb_array_length(errors), errors->0->>'error', errors->0->>'worker', (errors->0->>'attempt')::int, last_error)::text
             FROM birthgate.event_outbox WHERE outbox_id = pg_temp.id('b')),
          '(,1,"HTTP 503 from the receiver",w1,1,"HTTP 503 from the receiver")',
          'the failure released the claim and recorded the error with its attempt and worker');
SELECT ok((SELECT visible_at - (errors->0->>'at')::timestamptz BETWEEN interval '500 milliseconds' AND interval '1 second'
             FROM birthgate.event_outbox WHERE outbox_id = pg_temp.id('b')),
          'the first backoff is base (1 s) jittered into [500 ms, 1 s]');
SELECT is(pg_temp.claim('w2'), '', 'during the backoff the event is not claimable');
SELECT ok(pg_temp.wait_visible('b'), 'the backoff ends');
SELECT is(pg_temp.claim('w2'), 'b#2', 'after the backoff it is claimed again, attempt 2');

-- (c) the backoff is bounded (attempt 2: 2 s; attempt 60 would be 2^59 s: capped at 2 s)
SELECT is(birthgate.outbox_fail(pg_temp.id('b'), 'timeout', 'w2'), 'retry', 'the second failure (attempt 2 of 3) returns retry');
SELECT ok((SELECT visible_at - (errors->1->>'at')::timestamptz BETWEEN interval '1 second' AND interval '2 seconds'
             FROM birthgate.event_outbox WHERE outbox_id = pg_temp.id('b')),
          'the second backoff doubles: 2 s jittered into [1 s, 2 s]');
SELECT pg_temp.emit('c') IS NOT NULL AS c \gset
SELECT lives_ok($$SELECT * FROM birthgate.outbox_configure(p_max_attempts => 100)$$, 'allow many attempts for the bound check');
UPDATE birthgate.event_outbox SET attempts = 60, claimed_by = 'w9', claimed_at = clock_timestamp(), claim_expires_at = clock_timestamp() + interval '1 minute' WHERE outbox_id = pg_temp.id('c');
SELECT is(birthgate.outbox_fail(pg_temp.id('c'), 'again', 'w9'), 'retry', 'a failure at attempt 60 returns retry');
SELECT ok((SELECT visible_at - (errors->0->>'at')::timestamptz BETWEEN interval '1 second' AND interval '2 seconds'
             FROM birthgate.event_outbox WHERE outbox_id = pg_temp.id('c')),
          'the backoff of attempt 60 is capped at backoff_max (2 s, jittered into [1 s, 2 s])');
DELETE FROM birthgate.event_outbox WHERE outbox_id = pg_temp.id('c');
SELECT lives_ok($$SELECT * FROM birthgate.outbox_configure(p_max_attempts => 3)$$, 'back to 3 attempts');

-- (d) -> dead letter
SELECT ok(pg_temp.wait_visible('b'), 'the second backoff ends');
SELECT is(pg_temp.claim('w3'), 'b#3', 'b is claimed a third time');
SELECT is(birthgate.outbox_fail(pg_temp.id('b'), 'HTTP 410 gone', 'w3'), 'dead', 'the failure of the last attempt returns dead');
SELECT is((SELECT count(*)::int FROM birthgate.event_outbox WHERE object_key = 'sm:b'), 0, 'the event left event_outbox');
SELECT is((SELECT (attempts, jsonb_array_length(errors), last_error, dead_lettered_by, payload->>'key')::text FROM birthgate.event_dead_letter WHERE object_key = 'sm:b'),
          '(3,3,"HTTP 410 gone",w3,b)', 'event_dead_letter holds the event, its 3 attempts and all 3 errors');
SELECT is((SELECT array_agg(e->>'error' ORDER BY ord) FROM birthgate.event_dead_letter d, jsonb_array_elements(d.errors) WITH ORDINALITY AS x (e, ord) WHERE d.object_key = 'sm:b'),
          ARRAY['HTTP 503 from the receiver', 'timeout', 'HTTP 410 gone'], 'every error is kept, oldest first');
SELECT ok((SELECT bool_and((e->>'at') IS NOT NULL) FROM birthgate.event_dead_letter d, jsonb_array_elements(d.errors) AS e WHERE d.object_key = 'sm:b'),
          'every error has its time');
SELECT is((SELECT (dead_lettered, dead_lettered_total)::text FROM birthgate.v_outbox_status), '(1,1)', 'v_outbox_status counts it');
SELECT is((SELECT severity FROM birthgate.v_outbox_findings WHERE kind = 'dead_letters'), 'warning', 'v_outbox_findings reports the dead letter');
SELECT throws_ok($$SELECT birthgate.outbox_fail(pg_temp.id('b'), 'more', 'w3')$$, 'BG508', NULL, 'failing a dead-lettered event raises BG508');
SELECT is(birthgate.outbox_ack(ARRAY[pg_temp.id('b')], 'w3'), 0, 'acknowledging a dead-lettered event counts 0');

-- (e) -> re-drive
SELECT is(birthgate.outbox_redrive(ARRAY[pg_temp.id('b')]), 1, 're-drive moves it back: 1');
SELECT is((SELECT (attempts, redrive_count, jsonb_array_length(errors), claimed_by IS NULL, delivered_at IS NULL)::text FROM birthgate.event_outbox WHERE object_key = 'sm:b'),
          '(0,1,3,t,t)', 'back in the outbox: attempts 0, redrive_count 1, errors kept, unclaimed, undelivered');
SELECT is(birthgate.outbox_redrive(ARRAY[pg_temp.id('b')]), 0, 're-driving it again: 0');
SELECT is(birthgate.outbox_redrive(), 0, 're-drive all with an empty dead letter table: 0');
SELECT is(pg_temp.claim('w1'), 'b#1', 'the re-driven event is claimable at once, attempt 1 again');
SELECT is(birthgate.outbox_ack(ARRAY[pg_temp.id('b')], 'w1'), 1, 'and can be acknowledged');

-- (f) visibility expiry
SELECT pg_temp.emit('f') IS NOT NULL AS f \gset
SELECT is(pg_temp.claim('w1', 10, '1 second'), 'f#1', 'f is claimed by w1 with a 1 s visibility');
SELECT is(pg_temp.claim('w2'), '', 'while the visibility runs nobody else gets it');
SELECT ok(pg_temp.wait_visible('f'), 'the visibility expires');
SELECT is(pg_temp.claim('w2'), 'f#2', 'w2 claims it after the expiry, attempt 2');
SELECT is((SELECT (errors->0->>'worker') || ' ' || (errors->0->>'error' LIKE 'visibility timeout expired%')::text FROM birthgate.event_outbox WHERE object_key = 'sm:f'),
          'w1 true', 'the expiry of w1''s claim is recorded as an error');
SELECT is(birthgate.outbox_ack(ARRAY[pg_temp.id('f')], 'w1'), 0, 'w1''s late, fenced ack is refused: 0');
SELECT is((SELECT (claimed_by, delivered_at IS NULL)::text FROM birthgate.event_outbox WHERE object_key = 'sm:f'), '(w2,t)', 'the event stays with w2, undelivered');
SELECT throws_ok($$SELECT birthgate.outbox_fail(pg_temp.id('f'), 'late failure', 'w1')$$, 'BG506', NULL, 'w1''s late fail raises BG506');
SELECT is(birthgate.outbox_ack(ARRAY[pg_temp.id('f')], 'w2'), 1, 'w2 acknowledges it: 1');
SELECT is((SELECT (stale_acks_total, expired_claims_total)::text FROM birthgate.v_outbox_status), '(1,1)', 'the refused ack and the expired claim are counted');

-- (g) an expired last attempt is dead-lettered by the next claim
SELECT lives_ok($$SELECT * FROM birthgate.outbox_configure(p_max_attempts => 1)$$, 'one attempt only');
SELECT pg_temp.emit('g') IS NOT NULL AS g \gset
SELECT is(pg_temp.claim('w1', 10, '50 milliseconds'), 'g#1', 'g is claimed (its only attempt) and the worker crashes');
SELECT ok(pg_temp.wait_visible('g'), 'the claim expires');
SELECT is(pg_temp.claim('w2'), '', 'the next claim does not hand it out again');
SELECT is((SELECT (attempts, dead_lettered_by, last_error LIKE 'visibility timeout expired%')::text FROM birthgate.event_dead_letter WHERE object_key = 'sm:g'),
          '(1,w1,t)', 'it is dead-lettered, naming the worker whose claim expired');

SELECT * FROM finish();
ROLLBACK;
