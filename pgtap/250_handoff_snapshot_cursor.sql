-- 250 handoff snapshot cursor (000005): the PgQ-style snapshot position, with dblink sessions that
-- really commit:
--  (s) structure: handoff_snapshot(), handoff_rewind(), privileges; handoff_snapshot() counts the
--      caller's own transaction as running;
--  (a) the consumer inside a writing transaction (DOT-400/401/402): T births DOT-400, another
--      session births DOT-401 and commits, T consumes (DOT-401 only: its own row is not taken before
--      it commits), births DOT-402, commits; the next consumer hands off DOT-400 and DOT-402 — each
--      of the three exactly once;
--  (b) a writer holding a transaction open in ANOTHER database does not hold back committed births
--      (nor does this test's own open transaction, which has an xid all along);
--  (c) a large transaction is split over batches: the window is kept, lag exact after every batch,
--      a stored window finished short continues with a new one in the same call;
--  (d) replay from every earlier saved position (between windows and inside a split window) leaves
--      candidates and events identical byte for byte;
--  (e) a transaction holding the cursor: v_handoff_status counts its waiting rows as held back and
--      names it; a concurrent consumer returns zeros;
--  (f) errors: BG220 (position ahead), BG200 — and they change nothing;
--  (g) handoff_rewind inside a split window (BG221 past its last row taken).
-- Births and consumers run in dblink sessions; everything committed is removed at the end.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(48);

SELECT dblink_connect('t', bgtest.connstr()) AS t \gset
SELECT dblink_connect('w', bgtest.connstr()) AS w \gset
SELECT dblink_connect('c', bgtest.connstr()) AS c \gset
SELECT dblink_connect('o', regexp_replace(bgtest.connstr(), 'dbname=\S+', 'dbname=postgres')) AS o \gset
SELECT dblink_exec('w', $q$INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern)
                          VALUES ('snapcase', 'pg_catalog.pg_amproc', 'amproc', '^[A-Z]+-[0-9]+$')$q$) AS family \gset
-- start from an empty backlog
SELECT dblink_exec('c', 'CALL birthgate.handoff_drain(1000)') AS drained \gset

CREATE FUNCTION pg_temp.birth(p_code text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT format($q$WITH r AS (
        INSERT INTO birthgate.birth_registry (collection_name, entity_code) VALUES ('snapcase', %L)
        RETURNING registry_id, collection_name, entity_code, born_at)
    INSERT INTO birthgate.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
    SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r$q$, p_code);
$fn$;
CREATE FUNCTION pg_temp.handed(p_code text) RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT format('candidates=%s events=%s',
        (SELECT count(*) FROM birthgate.governance_candidate_state WHERE object_key = 'snapcase:' || p_code),
        (SELECT count(*) FROM birthgate.event_pending WHERE object_key = 'snapcase:' || p_code)
      + (SELECT count(*) FROM birthgate.event_outbox WHERE object_key = 'snapcase:' || p_code));
$fn$;
-- one consumer batch in session c (its own transaction): consumed, lag
CREATE FUNCTION pg_temp.consume(p_batch integer) RETURNS text
LANGUAGE sql AS $fn$
    SELECT format('consumed=%s lag=%s', t.consumed, coalesce(t.lag::text, 'NULL'))
    FROM dblink('c', format('SELECT consumed, lag FROM birthgate.handoff_consume(%s)', p_batch)) AS t (consumed integer, lag bigint);
$fn$;

-- (s) structure
SELECT has_function('birthgate', 'handoff_snapshot', ARRAY[]::text[], 'handoff_snapshot() exists');
SELECT function_returns('birthgate', 'handoff_snapshot', ARRAY[]::text[], 'pg_snapshot', 'handoff_snapshot returns pg_snapshot');
SELECT has_function('birthgate', 'handoff_rewind', ARRAY['xid8', 'bigint'], 'handoff_rewind(xid8, bigint) exists');
SELECT is_definer('birthgate', 'handoff_rewind', ARRAY['xid8', 'bigint'], 'handoff_rewind is SECURITY DEFINER');
SELECT ok((SELECT 'search_path=pg_catalog, pg_temp' = ANY (proconfig) FROM pg_proc WHERE oid = 'birthgate.handoff_rewind(xid8, bigint)'::regprocedure),
          'handoff_rewind pins search_path');
SELECT ok(has_function_privilege('birthgate_admin', 'birthgate.handoff_rewind(xid8, bigint)', 'EXECUTE')
          AND NOT has_function_privilege('birthgate_reader', 'birthgate.handoff_rewind(xid8, bigint)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'birthgate.handoff_rewind(xid8, bigint)', 'EXECUTE'),
          'admin may rewind; reader and PUBLIC may not');
SELECT col_type_is('birthgate', 'handoff_cursor', 'position_snapshot', 'pg_snapshot', 'the cursor position is a pg_snapshot');
SELECT ok(pg_visible_in_snapshot(pg_current_xact_id(), pg_current_snapshot())
          AND NOT pg_visible_in_snapshot(pg_current_xact_id(), birthgate.handoff_snapshot()),
          'handoff_snapshot() counts the caller''s own transaction as running (pg_current_snapshot() does not)');
SELECT ok(NOT EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = 'birthgate'::regnamespace
                        AND p.proname LIKE 'handoff%' AND p.prosrc ~* '\m(min|max)\s*\(\s*[a-z_.]*txid\M'),
          'no handoff function aggregates min()/max() over an xid8 column (PostgreSQL 14 has no such aggregates)');
SELECT ok((SELECT prosrc ~ 'set_config\(''search_path'', ''pg_catalog, pg_temp'', true\)' FROM pg_proc
           WHERE oid = 'birthgate.handoff_drain(integer, integer)'::regprocedure),
          'handoff_drain pins its own search_path with set_config(..., true)');

-- (a) the consumer inside a writing transaction: DOT-400 / DOT-401 / DOT-402
SELECT dblink_exec('t', 'BEGIN') AS b \gset
SELECT dblink_exec('t', pg_temp.birth('DOT-400')) AS d400 \gset
SELECT dblink_exec('w', pg_temp.birth('DOT-401')) AS d401 \gset
SELECT is((SELECT format('consumed=%s lag=%s', r.consumed, r.lag)
           FROM dblink('t', 'SELECT consumed, lag FROM birthgate.handoff_consume(100)') AS r (consumed integer, lag bigint)),
          'consumed=1 lag=0', 'T (which wrote DOT-400) consumes: only DOT-401; its own row is neither taken nor counted');
SELECT is((SELECT r.n FROM dblink('t', $q$SELECT count(*) FROM birthgate.governance_candidate_state WHERE object_key = 'snapcase:DOT-400'$q$) AS r (n bigint)),
          0::bigint, 'inside T, DOT-400 has no candidate row: not consumed before T commits');
SELECT dblink_exec('t', pg_temp.birth('DOT-402')) AS d402 \gset
SELECT dblink_exec('t', 'COMMIT') AS c \gset
SELECT is((SELECT rows_waiting FROM birthgate.v_handoff_status), 2::bigint, 'after T commits, v_handoff_status shows DOT-400 and DOT-402 waiting');
SELECT ok((SELECT lag_seconds > 0 FROM birthgate.v_handoff_status), 'lag_seconds is the age of the oldest waiting row (> 0)');
SELECT is(pg_temp.consume(100), 'consumed=2 lag=0', 'the next consumer takes DOT-400 and DOT-402');
SELECT is(pg_temp.handed('DOT-400'), 'candidates=1 events=1', 'DOT-400 (T''s row before its consume) is handed off exactly once');
SELECT is(pg_temp.handed('DOT-401'), 'candidates=1 events=1', 'DOT-401 (the other session''s row) is handed off exactly once');
SELECT is(pg_temp.handed('DOT-402'), 'candidates=1 events=1', 'DOT-402 (T''s row after its consume) is handed off exactly once');

-- (b) a writer open in another database, and this test's own open transaction (it has an xid)
SELECT dblink_exec('o', 'BEGIN') AS b \gset
SELECT t.x AS other_xid FROM dblink('o', 'SELECT pg_current_xact_id()::text') AS t (x text) \gset
SELECT count(dblink_exec('w', pg_temp.birth('X-' || g))) AS x FROM generate_series(1, 3) AS g \gset
SELECT ok(:'other_xid'::xid8 < (SELECT txid FROM birthgate.registry_changelog WHERE entity_code = 'X-1' AND collection_name = 'snapcase')
          AND pg_current_xact_id() < :'other_xid'::xid8,
          'the other database''s writer and this test''s transaction are both older than the births');
SELECT is(pg_temp.consume(100), 'consumed=3 lag=0', 'with a writer open in another database, the committed births are consumed at once');
SELECT is(pg_temp.handed('X-3'), 'candidates=1 events=1', 'X-3 is handed off');
SELECT results_eq($$SELECT rows_waiting, rows_held_back, holding_pid FROM birthgate.v_handoff_status$$,
                  $$VALUES (0::bigint, 0::bigint, NULL::integer)$$,
                  'v_handoff_status: nothing waits, nothing is held back, nobody is named (the other database writes no changelog)');
SELECT dblink_exec('o', 'ROLLBACK') AS r \gset

-- (c) a large transaction split over batches
SELECT dblink_exec('w', 'BEGIN; ' || string_agg(pg_temp.birth('S-' || g), '; ') || '; COMMIT') AS s
FROM generate_series(1, 7) AS g \gset
CREATE TEMP TABLE saved_positions AS SELECT 0 AS k, c.* FROM birthgate.handoff_cursor AS c;
SELECT is(pg_temp.consume(3), 'consumed=3 lag=4', 'batch 1 of the 7-row transaction: 3 rows, lag 4 (exact)');
INSERT INTO saved_positions SELECT 1, c.* FROM birthgate.handoff_cursor AS c;
SELECT ok((SELECT window_snapshot IS NOT NULL AND window_rows = 7 AND window_done = 3 FROM birthgate.handoff_cursor),
          'the cursor keeps the window open: 7 rows, 3 done');
SELECT is((SELECT rows_waiting FROM birthgate.v_handoff_status), 4::bigint, 'v_handoff_status: 4 rows waiting inside the split window');
SELECT is(pg_temp.consume(3), 'consumed=3 lag=1', 'batch 2: 3 rows, lag 1');
INSERT INTO saved_positions SELECT 2, c.* FROM birthgate.handoff_cursor AS c;
SELECT dblink_exec('w', pg_temp.birth('S-8')) AS s8 \gset
SELECT is(pg_temp.consume(3), 'consumed=2 lag=0', 'batch 3: the last row of the window and, from a new window in the same call, S-8');
INSERT INTO saved_positions SELECT 3, c.* FROM birthgate.handoff_cursor AS c;
SELECT ok((SELECT window_snapshot IS NULL FROM birthgate.handoff_cursor), 'the window is closed');
SELECT is((SELECT count(*)::int FROM generate_series(1, 8) AS g WHERE pg_temp.handed('S-' || g) = 'candidates=1 events=1'), 8,
          'each of S-1..S-8 is handed off exactly once');
SELECT is((SELECT string_agg(entity_code, ',' ORDER BY source_change_id) FROM birthgate.governance_candidate_state
           WHERE collection_name = 'snapcase' AND entity_code LIKE 'S-%'),
          'S-1,S-2,S-3,S-4,S-5,S-6,S-7,S-8', 'the split kept (txid, change_id) order: nothing skipped, nothing twice');

-- (d) replay from every earlier position: byte-identical candidates and events
CREATE VIEW pg_temp.probe_state AS
    SELECT 'candidate' AS lane, g.object_key AS k, g.ctid::text AS tid, g::text AS row
    FROM birthgate.governance_candidate_state AS g WHERE g.collection_name = 'snapcase'
    UNION ALL SELECT 'pending', p.object_key, p.ctid::text, p::text FROM birthgate.event_pending AS p WHERE p.object_key LIKE 'snapcase:%'
    UNION ALL SELECT 'outbox', o.object_key, o.ctid::text, o::text FROM birthgate.event_outbox AS o WHERE o.object_key LIKE 'snapcase:%';
CREATE TEMP TABLE reference AS SELECT * FROM pg_temp.probe_state;
CREATE FUNCTION pg_temp.replay_from(p_k integer, p_batch integer) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
    v record;
BEGIN
    SELECT * INTO v FROM saved_positions WHERE k = p_k;
    PERFORM dblink_exec('c', format(
        'UPDATE birthgate.handoff_cursor SET position_snapshot = %L, window_snapshot = %L, window_after_txid = %L,
             window_after_change_id = %L, window_rows = %L, window_done = %L WHERE consumer_name = %L',
        v.position_snapshot, v.window_snapshot, v.window_after_txid, v.window_after_change_id, v.window_rows, v.window_done,
        'governance_handoff'));
    PERFORM dblink_exec('c', format('CALL birthgate.handoff_drain(%s)', p_batch));
    RETURN NOT EXISTS (
        (SELECT lane, k, tid, row FROM pg_temp.probe_state EXCEPT SELECT lane, k, tid, row FROM reference)
        UNION ALL
        (SELECT lane, k, tid, row FROM reference EXCEPT SELECT lane, k, tid, row FROM pg_temp.probe_state));
END
$fn$;
SELECT ok(pg_temp.replay_from(0, 2), 'replay from the position before the split window (batch 2): identical byte for byte');
SELECT ok(pg_temp.replay_from(1, 1), 'replay from inside the split window, after batch 1 (batch 1): identical byte for byte');
SELECT ok(pg_temp.replay_from(2, 5), 'replay from inside the split window, after batch 2 (batch 5): identical byte for byte');
SELECT ok(pg_temp.replay_from(3, 100), 'replay from the last position (nothing to do): identical byte for byte');
SELECT is(pg_temp.consume(100), 'consumed=0 lag=0', 'after the replays nothing is left');

-- (e) a transaction that holds the cursor holds the waiting rows back, and is named
SELECT dblink_exec('t', 'BEGIN') AS b \gset
SELECT t.n AS held_n FROM dblink('t', 'SELECT consumed FROM birthgate.handoff_consume(1)') AS t (n integer) \gset
SELECT t.pid AS t_pid FROM dblink('t', 'SELECT pg_backend_pid()') AS t (pid integer) \gset
SELECT dblink_exec('w', pg_temp.birth('H-1')) AS h1 \gset
SELECT is(pg_temp.consume(100), 'consumed=0 lag=NULL', 'a second consumer does not wait while T holds the cursor: zeros, lag NULL');
SELECT results_eq($$SELECT rows_waiting, rows_held_back, holding_pid, holding_state LIKE 'holds the handoff cursor%' FROM birthgate.v_handoff_status$$,
                  format('VALUES (1::bigint, 1::bigint, %s, true)', :t_pid),
                  'v_handoff_status: H-1 waits, held back by T, which it names as holding the cursor');
SELECT dblink_exec('t', 'COMMIT') AS c \gset
SELECT is(pg_temp.consume(100), 'consumed=1 lag=0', 'once T ends, H-1 is consumed');

-- (f) deliberate errors change nothing
CREATE TEMP TABLE before_errors AS
    SELECT (SELECT c::text FROM birthgate.handoff_cursor c) AS cursor,
           (SELECT count(*) FROM birthgate.governance_candidate_state) AS candidates,
           (SELECT count(*) FROM birthgate.event_pending) + (SELECT count(*) FROM birthgate.event_outbox) AS events;
SELECT throws_ok($$SELECT birthgate.handoff_rewind('1', -1)$$, 'BG200', NULL, 'handoff_rewind with a negative change_id is refused (BG200)');
SELECT throws_ok('SELECT birthgate.handoff_rewind(NULL)', 'BG200', NULL, 'handoff_rewind(NULL) is refused (BG200)');
SELECT results_eq($$SELECT (SELECT c::text FROM birthgate.handoff_cursor c),
                           (SELECT count(*) FROM birthgate.governance_candidate_state),
                           (SELECT count(*) FROM birthgate.event_pending) + (SELECT count(*) FROM birthgate.event_outbox)$$,
                  'SELECT cursor, candidates, events FROM before_errors', 'the refused rewinds changed nothing');
SELECT throws_ok($$DO $d$ BEGIN
                       UPDATE birthgate.handoff_cursor SET position_snapshot = format('%s:%s:', x, x)::pg_snapshot
                       FROM (SELECT (pg_snapshot_xmax(pg_current_snapshot())::text::numeric + 1000)::text AS x) AS v;
                       PERFORM birthgate.handoff_consume(10);
                   END $d$ $$,
                 'BG220', NULL, 'a position ahead of the current snapshot (a hand edit, a restore) is refused (BG220), not trusted');
SELECT results_eq($$SELECT (SELECT c::text FROM birthgate.handoff_cursor c),
                           (SELECT count(*) FROM birthgate.governance_candidate_state),
                           (SELECT count(*) FROM birthgate.event_pending) + (SELECT count(*) FROM birthgate.event_outbox)$$,
                  'SELECT cursor, candidates, events FROM before_errors', 'the refused batch changed nothing');

-- (g) handoff_rewind inside a split window: back to a row already taken replays from there; past
--     the last row taken is refused; draining hands every row off once
SELECT dblink_exec('w', 'BEGIN; ' || string_agg(pg_temp.birth('G-' || g), '; ') || '; COMMIT') AS g
FROM generate_series(1, 5) AS g \gset
SELECT is(pg_temp.consume(2), 'consumed=2 lag=3', 'a 5-row transaction: batch 1 takes G-1 and G-2, the window stays open');
SELECT is((SELECT t.n FROM birthgate.registry_changelog l,
                  dblink('c', format('SELECT birthgate.handoff_rewind(%L, %s)', l.txid, l.change_id)) AS t (n bigint)
           WHERE l.collection_name = 'snapcase' AND l.entity_code = 'G-1'),
          4::bigint, 'rewinding inside the open window to G-1 replays G-2 (again) and the untaken G-3..G-5');
SELECT throws_ok(format('SELECT birthgate.handoff_rewind(%L, %s)', l.txid, l.change_id), 'BG221', NULL,
                 'rewinding past the last row taken of the open window (to G-3) is refused: it would skip rows')
FROM birthgate.registry_changelog l WHERE l.collection_name = 'snapcase' AND l.entity_code = 'G-3';
SELECT dblink_exec('c', 'CALL birthgate.handoff_drain(2)') AS drained \gset
SELECT is((SELECT count(*)::int FROM generate_series(1, 5) AS g WHERE pg_temp.handed('G-' || g) = 'candidates=1 events=1'), 5,
          'after the rewind and a drain, G-1..G-5 are each handed off exactly once');

-- clean up the committed births
SELECT lives_ok($q$SELECT dblink_exec('w', $c$
    BEGIN;
    SET LOCAL session_replication_role = replica;
    DELETE FROM birthgate.event_pending WHERE object_key LIKE 'snapcase:%';
    DELETE FROM birthgate.event_outbox WHERE object_key LIKE 'snapcase:%';
    DELETE FROM birthgate.governance_candidate_state WHERE collection_name = 'snapcase';
    DELETE FROM birthgate.registry_changelog WHERE collection_name = 'snapcase';
    DELETE FROM birthgate.birth_registry WHERE collection_name = 'snapcase';
    DELETE FROM birthgate.birth_family WHERE collection_name = 'snapcase';
    COMMIT;$c$)$q$, 'the committed births are removed');
SELECT dblink_disconnect('t') AS d1, dblink_disconnect('w') AS d2, dblink_disconnect('c') AS d3, dblink_disconnect('o') AS d4 \gset

SELECT * FROM finish();
ROLLBACK;
