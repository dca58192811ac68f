-- 220 handoff no lost handoff: with dblink writer sessions committing out of order, every
-- committed BORN row reaches one candidate row and exactly one event:
--  (a) a transaction holding the lower changelog id stays open while a later one commits and the
--      consumer runs: the committed one is handed off at once (the snapshot cursor holds nothing
--      back for an open transaction), v_handoff_status names the open writer; the open one is
--      handed off once it commits;
--  (b) the id-only hazard itself: the later id commits first and is consumed, the cursor's
--      change_id passes the still-open lower id, which is nevertheless handed off after its commit;
--  (c) a consumer batch that fails midway leaves cursor, candidates and events unchanged;
--  (d) a rolled-back birth is never handed off;
--  (e) a second consumer while one holds the cursor returns zeros (lag NULL) and processes nothing;
--  (f) after draining, v_handoff_lag is 0 and the heartbeat is fresh.
-- The consumer runs in this (rolled back) transaction; births are committed by dblink sessions and
-- removed at the end.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(33);

SELECT dblink_connect('w1', bgtest.connstr()) AS w1 \gset
SELECT dblink_connect('w2', bgtest.connstr()) AS w2 \gset
SELECT dblink_exec('w1', $q$INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern)
                           VALUES ('noloss', 'pg_catalog.pg_amop', 'amopmethod', '^[A-Z]-[0-9]+$')$q$) AS family \gset

-- SQL text of one birth: the registry row and its BORN changelog row, as the gate would write them
CREATE FUNCTION pg_temp.birth(p_code text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT format($q$WITH r AS (
        INSERT INTO birthgate.birth_registry (collection_name, entity_code) VALUES ('noloss', %L)
        RETURNING registry_id, collection_name, entity_code, born_at)
    INSERT INTO birthgate.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
    SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r$q$, p_code);
$fn$;
CREATE FUNCTION pg_temp.handed(p_code text) RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT format('candidates=%s events=%s',
        (SELECT count(*) FROM birthgate.governance_candidate_state WHERE object_key = 'noloss:' || p_code),
        (SELECT count(*) FROM birthgate.event_pending WHERE object_key = 'noloss:' || p_code)
      + (SELECT count(*) FROM birthgate.event_outbox WHERE object_key = 'noloss:' || p_code));
$fn$;
CREATE FUNCTION pg_temp.change_id(p_code text) RETURNS bigint
LANGUAGE sql STABLE AS $fn$
    SELECT change_id FROM birthgate.registry_changelog WHERE collection_name = 'noloss' AND entity_code = p_code;
$fn$;

-- (a) the lower id stays open while a later one commits
SELECT dblink_exec('w1', 'BEGIN') AS b \gset
SELECT dblink_exec('w1', pg_temp.birth('A-1')) AS a1 \gset
SELECT t.xid AS w1_xid FROM dblink('w1', 'SELECT pg_current_xact_id()::text') AS t (xid text) \gset
SELECT t.pid AS w1_pid FROM dblink('w1', 'SELECT pg_backend_pid()') AS t (pid integer) \gset
SELECT dblink_exec('w2', pg_temp.birth('A-2')) AS a2 \gset
SELECT cmp_ok(pg_temp.change_id('A-2'), '>', 0::bigint, 'A-2 is committed (it has a changelog row)');
SELECT lives_ok('SELECT * FROM birthgate.handoff_consume(100)', 'the consumer runs while A-1''s transaction is open');
SELECT is(pg_temp.handed('A-2'), 'candidates=1 events=1', 'A-2 (committed, younger xid) is handed off although A-1''s transaction is open');
SELECT is((SELECT rows_held_back FROM birthgate.v_handoff_status), 0::bigint, 'v_handoff_status: nothing committed is held back by the open writer');
SELECT is((SELECT holding_txid::text FROM birthgate.v_handoff_status), :'w1_xid', 'v_handoff_status names the open transaction''s xid');
SELECT is((SELECT holding_pid FROM birthgate.v_handoff_status), :w1_pid, 'v_handoff_status names the open transaction''s backend pid');
SELECT ok((SELECT holding_xact_age >= '0'::interval AND rows_waiting = 0 AND lag_seconds = 0 FROM birthgate.v_handoff_status),
          'v_handoff_status tells how long the writer is open, and that no committed row waits (lag 0, lag_seconds 0)');
SELECT dblink_exec('w1', 'COMMIT') AS c \gset
SELECT is((SELECT consumed FROM birthgate.handoff_consume(100)), 1, 'after A-1 commits, the next run consumes it');
SELECT is(pg_temp.handed('A-1'), 'candidates=1 events=1', 'A-1 (the lower id, committed last) is handed off once');
SELECT is(pg_temp.handed('A-2'), 'candidates=1 events=1', 'A-2 is handed off once');
SELECT is((SELECT rows_held_back FROM birthgate.v_handoff_status), 0::bigint, 'nothing is held back any more');

-- (b) the id-only hazard: the later id commits and is consumed first
SELECT dblink_exec('w2', 'BEGIN') AS b \gset
SELECT t.x AS w2_xid FROM dblink('w2', 'SELECT pg_current_xact_id()::text') AS t (x text) \gset
SELECT dblink_exec('w1', 'BEGIN') AS b \gset
SELECT dblink_exec('w1', pg_temp.birth('B-1')) AS b1 \gset
SELECT dblink_exec('w2', pg_temp.birth('B-2')) AS b2 \gset
SELECT dblink_exec('w2', 'COMMIT') AS c \gset
SELECT cmp_ok(pg_temp.change_id('B-2'), '>', (SELECT t.id FROM dblink('w1',
                  $q$SELECT change_id FROM birthgate.registry_changelog WHERE collection_name = 'noloss' AND entity_code = 'B-1'$q$) AS t (id bigint)),
              'B-1 (still open) holds the lower changelog id, B-2 (committed) the higher one');
SELECT is((SELECT consumed FROM birthgate.handoff_consume(100)), 1, 'the consumer takes B-2 (older xid, committed)');
SELECT is(pg_temp.handed('B-2'), 'candidates=1 events=1', 'B-2 is handed off');
SELECT is(pg_temp.handed('B-1'), 'candidates=0 events=0', 'B-1 is not yet (its transaction is open)');
SELECT ok((SELECT position_change_id FROM birthgate.handoff_cursor) > (SELECT t.id FROM dblink('w1',
              $q$SELECT change_id FROM birthgate.registry_changelog WHERE collection_name = 'noloss' AND entity_code = 'B-1'$q$) AS t (id bigint)),
          'the cursor''s change_id is already past B-1''s id: an id-only cursor would now skip B-1');
SELECT dblink_exec('w1', 'COMMIT') AS c \gset
SELECT is((SELECT consumed FROM birthgate.handoff_consume(100)), 1, 'after B-1 commits, the next run consumes it');
SELECT is(pg_temp.handed('B-1'), 'candidates=1 events=1', 'B-1 (the lower id, committed after the cursor passed it) is handed off');

-- (c) a batch that fails midway changes nothing
SELECT count(dblink_exec('w1', pg_temp.birth('C-' || g))) AS c FROM generate_series(1, 3) AS g \gset
CREATE FUNCTION pg_temp.poison() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF NEW.object_key = 'noloss:C-2' THEN
        RAISE EXCEPTION 'poisoned event for %', NEW.object_key USING ERRCODE = 'XX999';
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER poison BEFORE INSERT ON birthgate.event_pending FOR EACH ROW EXECUTE FUNCTION pg_temp.poison();
CREATE TEMP TABLE before_failure AS
    SELECT 'cursor' AS what, md5(string_agg(c::text, '|')) AS digest FROM birthgate.handoff_cursor c
    UNION ALL SELECT 'candidates', md5(string_agg(g::text, '|' ORDER BY g.object_key)) FROM birthgate.governance_candidate_state g
    UNION ALL SELECT 'pending', md5(string_agg(p::text, '|' ORDER BY p.pending_id)) FROM birthgate.event_pending p
    UNION ALL SELECT 'outbox', md5(string_agg(o::text, '|' ORDER BY o.outbox_id)) FROM birthgate.event_outbox o;
SELECT throws_ok('SELECT * FROM birthgate.handoff_consume(100)', 'XX999', NULL,
                 'a batch whose event insert fails midway raises the error');
SELECT results_eq(
    $$SELECT 'cursor' AS what, md5(string_agg(c::text, '|')) AS digest FROM birthgate.handoff_cursor c
      UNION ALL SELECT 'candidates', md5(string_agg(g::text, '|' ORDER BY g.object_key)) FROM birthgate.governance_candidate_state g
      UNION ALL SELECT 'pending', md5(string_agg(p::text, '|' ORDER BY p.pending_id)) FROM birthgate.event_pending p
      UNION ALL SELECT 'outbox', md5(string_agg(o::text, '|' ORDER BY o.outbox_id)) FROM birthgate.event_outbox o$$,
    'SELECT what, digest FROM before_failure',
    'after the failed batch, cursor (incl. heartbeat), candidates and events are exactly as before');
SELECT is(pg_temp.handed('C-1'), 'candidates=0 events=0', 'not even the rows before the failing one were handed off');
DROP TRIGGER poison ON birthgate.event_pending;
SELECT is((SELECT consumed FROM birthgate.handoff_consume(100)), 3, 'once the fault is gone the same rows are consumed');
SELECT is(pg_temp.handed('C-2'), 'candidates=1 events=1', 'C-2 is handed off exactly once');

-- (d) a rolled-back birth is never handed off
SELECT dblink_exec('w1', 'BEGIN') AS b \gset
SELECT dblink_exec('w1', pg_temp.birth('D-1')) AS d1 \gset
SELECT dblink_exec('w1', 'ROLLBACK') AS r \gset
SELECT dblink_exec('w2', pg_temp.birth('D-2')) AS d2 \gset
SELECT is((SELECT consumed FROM birthgate.handoff_consume(100)), 1, 'the next run finds only the committed D-2');
SELECT is(pg_temp.handed('D-1'), 'candidates=0 events=0', 'the rolled-back birth D-1 has no candidate and no event');
SELECT is(pg_temp.handed('D-2'), 'candidates=1 events=1', 'D-2 is handed off');

-- (e) a second consumer while this transaction holds the cursor
SELECT dblink_exec('w2', pg_temp.birth('E-1')) AS e1 \gset
SELECT results_eq($$SELECT * FROM dblink('w2', 'SELECT * FROM birthgate.handoff_consume(100)')
                    AS t (consumed integer, emitted integer, captured integer, lag bigint)$$,
                  $$VALUES (0, 0, 0, NULL::bigint)$$,
                  'a concurrent consumer does not wait and processes nothing: zeros, lag NULL');

-- (f) drain: v_handoff_lag is 0, heartbeat fresh, exactly one event per committed birth
SELECT is((SELECT count(*)::int FROM birthgate.v_handoff_lag WHERE collection_name = 'noloss'), 1, 'before draining v_handoff_lag shows E-1');
CREATE FUNCTION pg_temp.drain() RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE v_total bigint := 0; v_n integer;
BEGIN
    LOOP
        SELECT consumed INTO v_n FROM birthgate.handoff_consume(2);
        v_total := v_total + v_n;
        EXIT WHEN v_n < 2;
    END LOOP;
    RETURN v_total;
END
$fn$;
SELECT is(pg_temp.drain(), 1::bigint, 'draining consumes the last committed row');
SELECT is((SELECT count(*)::int FROM birthgate.v_handoff_lag), 0, 'after draining v_handoff_lag is 0');
SELECT results_eq(
    $$SELECT count(*)::int, count(DISTINCT object_key)::int FROM (
          SELECT object_key FROM birthgate.event_pending WHERE object_key LIKE 'noloss:%'
          UNION ALL SELECT object_key FROM birthgate.event_outbox WHERE object_key LIKE 'noloss:%') e$$,
    $$SELECT count(*)::int, count(*)::int FROM birthgate.birth_registry WHERE collection_name = 'noloss'$$,
    'exactly one event per committed birth, none for the rolled-back one');
SELECT ok((SELECT NOT stale AND heartbeat_at = now() FROM birthgate.v_handoff_status), 'the heartbeat is fresh (advanced by this run)');

-- clean up the committed births
SELECT lives_ok($q$SELECT dblink_exec('w2', $c$
    BEGIN;
    SET LOCAL session_replication_role = replica;
    DELETE FROM birthgate.registry_changelog WHERE collection_name = 'noloss';
    DELETE FROM birthgate.birth_registry WHERE collection_name = 'noloss';
    DELETE FROM birthgate.birth_family WHERE collection_name = 'noloss';
    COMMIT;$c$)$q$, 'the committed births are removed');
SELECT dblink_disconnect('w1') AS d1, dblink_disconnect('w2') AS d2 \gset

SELECT * FROM finish();
ROLLBACK;
