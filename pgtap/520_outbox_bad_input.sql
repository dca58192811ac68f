-- 520 outbox bad input: every bad argument of the pull API and the operator functions raises its
-- own BG SQLSTATE with the values in DETAIL (never more than ~100 characters of a worker name) and
-- a HINT, and changes nothing: a fingerprint of event_outbox, event_dead_letter, outbox_counter and
-- outbox_config is the same before and after. A bad id in an ack or re-drive batch undoes the
-- whole batch.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(45);

DELETE FROM birthgate.event_outbox;
DELETE FROM birthgate.event_dead_letter;
DELETE FROM birthgate.outbox_counter;
INSERT INTO birthgate.event_outbox (event_type, object_key, born_at, payload, source_change_id)
SELECT 'handoff.object_born', 'bad:' || g, now(), '{}', g FROM generate_series(1, 4) AS g;
-- bad:1 claimed by w1, bad:2 acknowledged, bad:3 dead-lettered, bad:4 unclaimed
CREATE TEMP TABLE ids AS SELECT object_key, outbox_id FROM birthgate.event_outbox;
SELECT count(*) AS claimed FROM birthgate.outbox_claim('w1', 2) \gset
SELECT birthgate.outbox_ack(ARRAY[(SELECT outbox_id FROM ids WHERE object_key = 'bad:2')], 'w1') AS acked \gset
SELECT * FROM birthgate.outbox_configure(p_max_attempts => 1) \gset
SELECT outbox_id AS dl_claim FROM birthgate.outbox_claim('w2', 1) \gset
SELECT birthgate.outbox_fail(:dl_claim, 'gone', 'w2') AS dead \gset
SELECT * FROM birthgate.outbox_configure(p_max_attempts => 10) \gset
SELECT outbox_id AS claimed_id FROM ids WHERE object_key = 'bad:1' \gset
SELECT outbox_id AS delivered_id FROM ids WHERE object_key = 'bad:2' \gset
SELECT outbox_id AS dead_id FROM ids WHERE object_key = 'bad:3' \gset
SELECT outbox_id AS free_id FROM ids WHERE object_key = 'bad:4' \gset
SELECT max(outbox_id) + 1000 AS unknown_id FROM ids \gset

CREATE FUNCTION pg_temp.fp() RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT md5(concat_ws('|',
        (SELECT string_agg(o::text, ',' ORDER BY o.outbox_id) FROM birthgate.event_outbox o),
        (SELECT string_agg(d::text, ',' ORDER BY d.outbox_id) FROM birthgate.event_dead_letter d),
        (SELECT string_agg(k::text, ',' ORDER BY k.counter, k.at) FROM birthgate.outbox_counter k),
        (SELECT string_agg(c::text, ',') FROM birthgate.outbox_config c)));
$fn$;
CREATE FUNCTION pg_temp.detail_of(p_sql text) RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
    v_detail text;
BEGIN
    EXECUTE p_sql;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL;
    RETURN v_detail;
END;
$fn$;
SELECT is((SELECT (:claimed, :acked, :'dead')::text), '(2,1,dead)', 'setup: one claimed, one acknowledged, one dead-lettered, one free');
SELECT pg_temp.fp() AS before \gset

-- outbox_claim
SELECT throws_ok($$SELECT * FROM birthgate.outbox_claim(NULL)$$, 'BG500', NULL, 'claim: NULL worker -> BG500');
SELECT throws_ok($$SELECT * FROM birthgate.outbox_claim('  ')$$, 'BG500', NULL, 'claim: blank worker -> BG500');
SELECT throws_ok($$SELECT * FROM birthgate.outbox_claim(repeat('x', 129))$$, 'BG500', NULL, 'claim: 129-character worker -> BG500');
SELECT ok(length(pg_temp.detail_of($$SELECT * FROM birthgate.outbox_claim(repeat('x', 100000))$$)) < 250,
          'claim: the DETAIL quotes at most 100 characters of a 100000-character worker name');
SELECT throws_ok($$SELECT * FROM birthgate.outbox_claim('w', 0)$$, 'BG501', NULL, 'claim: limit 0 -> BG501');
SELECT throws_ok($$SELECT * FROM birthgate.outbox_claim('w', NULL)$$, 'BG501', NULL, 'claim: NULL limit -> BG501');
SELECT throws_ok($$SELECT * FROM birthgate.outbox_claim('w', 10001)$$, 'BG501', NULL, 'claim: limit 10001 -> BG501');
SELECT throws_ok($$SELECT * FROM birthgate.outbox_claim('w', 10, '0 seconds')$$, 'BG502', NULL, 'claim: zero visibility -> BG502');
SELECT throws_ok($$SELECT * FROM birthgate.outbox_claim('w', 10, '-5 seconds')$$, 'BG502', NULL, 'claim: negative visibility -> BG502');
SELECT throws_ok($$SELECT * FROM birthgate.outbox_claim('w', 10, NULL)$$, 'BG502', NULL, 'claim: NULL visibility -> BG502');
SELECT throws_ok($$SELECT * FROM birthgate.outbox_claim('w', 10, '2 days')$$, 'BG502', NULL, 'claim: visibility of 2 days -> BG502');
SELECT is(pg_temp.detail_of($$SELECT * FROM birthgate.outbox_claim('w', 10001)$$),
          'outbox_claim(p_limit => 10001): must be between 1 and 10000', 'claim: DETAIL names the value refused');

-- outbox_ack
SELECT throws_ok($$SELECT birthgate.outbox_ack(NULL)$$, 'BG503', NULL, 'ack: NULL array -> BG503');
SELECT throws_ok($$SELECT birthgate.outbox_ack(ARRAY[1, NULL]::bigint[])$$, 'BG503', NULL, 'ack: NULL element -> BG503');
SELECT throws_ok($$SELECT birthgate.outbox_ack(array_agg(g)) FROM generate_series(1, 10001) g$$, 'BG503', NULL, 'ack: 10001 ids -> BG503');
SELECT throws_ok(format('SELECT birthgate.outbox_ack(ARRAY[%s, %s]::bigint[], %L)', :claimed_id, :unknown_id, 'w1'), 'BG504', NULL,
                 'ack: an unknown id next to a claimed one -> BG504');
SELECT is((SELECT delivered_at IS NULL FROM birthgate.event_outbox WHERE outbox_id = :claimed_id), true, 'ack: ... and the claimed one was not acknowledged either');
SELECT ok(pg_temp.detail_of(format('SELECT birthgate.outbox_ack(ARRAY[%s]::bigint[])', :unknown_id)) LIKE '%' || :unknown_id || '%', 'ack: DETAIL names the unknown id');
SELECT throws_ok(format('SELECT birthgate.outbox_ack(ARRAY[%s]::bigint[], %L)', :claimed_id, ''), 'BG500', NULL, 'ack: blank worker -> BG500');
SELECT is(birthgate.outbox_ack(ARRAY[:free_id]::bigint[]), 0, 'ack: an unclaimed event is not acknowledged (0)');
SELECT is(birthgate.outbox_ack(ARRAY[]::bigint[]), 0, 'ack: an empty array acknowledges nothing (0)');

-- outbox_fail
SELECT throws_ok($$SELECT birthgate.outbox_fail(NULL, 'x')$$, 'BG503', NULL, 'fail: NULL id -> BG503');
SELECT throws_ok(format('SELECT birthgate.outbox_fail(%s, %L)', :unknown_id, 'x'), 'BG504', NULL, 'fail: unknown id -> BG504');
SELECT throws_ok(format('SELECT birthgate.outbox_fail(%s, NULL)', :claimed_id), 'BG505', NULL, 'fail: NULL error text -> BG505');
SELECT throws_ok(format('SELECT birthgate.outbox_fail(%s, %L)', :claimed_id, '   '), 'BG505', NULL, 'fail: blank error text -> BG505');
SELECT ok(length(pg_temp.detail_of(format('SELECT birthgate.outbox_fail(%s, %L)', :claimed_id, repeat(' ', 100000)))) < 250,
          'fail: the DETAIL quotes at most 100 characters of a blank 100000-character error text');
SELECT throws_ok(format('SELECT birthgate.outbox_fail(%s, %L)', :free_id, 'x'), 'BG506', NULL, 'fail: an unclaimed event -> BG506');
SELECT throws_ok(format('SELECT birthgate.outbox_fail(%s, %L, %L)', :claimed_id, 'x', 'w2'), 'BG506', NULL, 'fail: an event claimed by another worker -> BG506');
SELECT ok(pg_temp.detail_of(format('SELECT birthgate.outbox_fail(%s, %L, %L)', :claimed_id, 'x', 'w2')) LIKE '%claimed by ''w1''%', 'fail: DETAIL names the holder');
SELECT throws_ok(format('SELECT birthgate.outbox_fail(%s, %L)', :delivered_id, 'x'), 'BG507', NULL, 'fail: an acknowledged event -> BG507');
SELECT throws_ok(format('SELECT birthgate.outbox_fail(%s, %L)', :dead_id, 'x'), 'BG508', NULL, 'fail: a dead-lettered event -> BG508');
SELECT throws_ok(format('SELECT birthgate.outbox_fail(%s, %L, %L)', :claimed_id, 'x', repeat('y', 200)), 'BG500', NULL, 'fail: over-long worker -> BG500');

-- outbox_redrive
SELECT throws_ok($$SELECT birthgate.outbox_redrive(ARRAY[NULL]::bigint[])$$, 'BG503', NULL, 'redrive: NULL element -> BG503');
SELECT throws_ok(format('SELECT birthgate.outbox_redrive(ARRAY[%s, %s]::bigint[])', :dead_id, :unknown_id), 'BG504', NULL, 'redrive: an unknown id next to a dead one -> BG504');
SELECT is((SELECT count(*)::int FROM birthgate.event_dead_letter WHERE outbox_id = :dead_id), 1, 'redrive: ... and the dead one did not move either');

-- outbox_purge, outbox_configure
SELECT throws_ok($$SELECT birthgate.outbox_purge(0)$$, 'BG501', NULL, 'purge: limit 0 -> BG501');
SELECT throws_ok($$SELECT birthgate.outbox_purge(NULL)$$, 'BG501', NULL, 'purge: NULL limit -> BG501');
SELECT throws_ok($$SELECT * FROM birthgate.outbox_configure(p_max_attempts => 0)$$, 'BG509', NULL, 'configure: 0 attempts -> BG509');
SELECT throws_ok($$SELECT * FROM birthgate.outbox_configure(p_backoff_base => '2 hours')$$, 'BG509', NULL, 'configure: backoff_base above backoff_max -> BG509');
SELECT throws_ok($$SELECT * FROM birthgate.outbox_configure(p_retention => '1 second')$$, 'BG509', NULL, 'configure: retention of 1 second -> BG509');
SELECT throws_ok($$SELECT * FROM birthgate.outbox_configure(p_alert_after => '0 seconds')$$, 'BG509', NULL, 'configure: alert_after of 0 -> BG509');

SELECT is(pg_temp.fp(), :'before', 'nothing changed: outbox, dead letter, counters and settings are as before');

-- the settings row is required
DELETE FROM birthgate.outbox_config;
SELECT throws_ok($$SELECT * FROM birthgate.outbox_claim('w')$$, 'BG510', NULL, 'claim without the settings row -> BG510');
SELECT throws_ok(format('SELECT birthgate.outbox_fail(%s, %L)', :claimed_id, 'x'), 'BG510', NULL, 'fail without the settings row -> BG510');

SELECT * FROM finish();
ROLLBACK;
