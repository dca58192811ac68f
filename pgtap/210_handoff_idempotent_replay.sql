-- 210 handoff idempotent replay: consume everything, reset the cursor to earlier positions
-- (zero, after the first batch, just before the RETIRED rows, the last row) with
-- handoff_rewind(txid, change_id): replay everything after that row, and consume again
-- with other batch sizes and through handoff_drain: governance_candidate_state and both event
-- lanes stay identical byte for byte (every column, timestamps included, and the same tuple ctid:
-- no row is even rewritten), a candidate governance already cleaned (dirty = false) stays clean.
--
-- Births and consumer runs are committed by a dblink session, so every run is its own transaction
-- with its own now(). The births are committed before plan() gives this transaction an xid: the
-- test transaction's own xid then sorts after all of them. Everything committed is removed and
-- the cursor restored at the end.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;

DO $setup$
BEGIN
    PERFORM dblink_connect('replay', bgtest.connstr());
    PERFORM dblink_exec('replay', $q$
        INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern)
        VALUES ('replay_probe', 'pg_catalog.pg_am', 'amname', '^R-[0-9]+$')$q$);
    -- three birth transactions: R-1..R-7, R-8..R-12, then (one transaction) R-1 and R-2 retired + R-13, R-14 born
    PERFORM dblink_exec('replay', format($q$
        WITH r AS (
            INSERT INTO birthgate.birth_registry (collection_name, entity_code)
            SELECT 'replay_probe', 'R-' || g FROM generate_series(%s, %s) AS g
            RETURNING registry_id, collection_name, entity_code, born_at)
        INSERT INTO birthgate.registry_changelog (op, collection_name, entity_code, registry_id, born_at, detail)
        SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at, jsonb_build_object('probe', r.entity_code)
        FROM r ORDER BY r.registry_id$q$, lo, hi))
    FROM (VALUES (1, 7), (8, 12)) AS v (lo, hi);
    PERFORM dblink_exec('replay', $q$
        BEGIN;
        UPDATE birthgate.birth_registry
        SET status = 'RETIRED', retired_at = now(), retired_by = current_user, retire_reason = 'replay probe'
        WHERE collection_name = 'replay_probe' AND entity_code IN ('R-1', 'R-2');
        INSERT INTO birthgate.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
        SELECT 'RETIRED', r.collection_name, r.entity_code, r.registry_id, r.born_at
        FROM birthgate.birth_registry AS r
        WHERE r.collection_name = 'replay_probe' AND r.entity_code IN ('R-1', 'R-2') ORDER BY r.registry_id;
        WITH r AS (
            INSERT INTO birthgate.birth_registry (collection_name, entity_code)
            SELECT 'replay_probe', 'R-' || g FROM generate_series(13, 14) AS g
            RETURNING registry_id, collection_name, entity_code, born_at)
        INSERT INTO birthgate.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
        SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r ORDER BY r.registry_id;
        COMMIT;$q$);
END
$setup$;

SELECT plan(24);

CREATE TEMP TABLE saved_cursor AS SELECT * FROM birthgate.handoff_cursor;

-- consume through the dblink session with batch size p_batch until a batch comes back short
CREATE FUNCTION pg_temp.consume_remote(p_batch integer) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    v_total bigint := 0;
    v_n integer;
BEGIN
    LOOP
        SELECT t.consumed INTO v_n
        FROM dblink('replay', format('SELECT consumed FROM birthgate.handoff_consume(%s)', p_batch)) AS t (consumed integer);
        v_total := v_total + v_n;
        EXIT WHEN v_n < p_batch;
    END LOOP;
    RETURN v_total;
END
$fn$;
CREATE FUNCTION pg_temp.reset_cursor(p_txid xid8, p_change_id bigint) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM t.n FROM dblink('replay', format('SELECT birthgate.handoff_rewind(%L, %s)', p_txid, p_change_id)) AS t (n bigint);
END
$fn$;
-- the full state under test, one text row per tuple: lane/table, ctid, every column
CREATE VIEW pg_temp.probe_state AS
    SELECT 'candidate' AS lane, g.object_key AS k, g.ctid::text AS tid, g::text AS row
    FROM birthgate.governance_candidate_state AS g WHERE g.collection_name = 'replay_probe'
    UNION ALL
    SELECT 'pending', p.object_key, p.ctid::text, p::text
    FROM birthgate.event_pending AS p WHERE p.object_key LIKE 'replay\_probe:%'
    UNION ALL
    SELECT 'outbox', o.object_key, o.ctid::text, o::text
    FROM birthgate.event_outbox AS o WHERE o.object_key LIKE 'replay\_probe:%';
CREATE TEMP TABLE changes AS
    SELECT l.txid, l.change_id, l.op, l.entity_code,
           row_number() OVER (ORDER BY l.txid, l.change_id) AS n
    FROM birthgate.registry_changelog AS l WHERE l.collection_name = 'replay_probe';

SELECT is((SELECT count(*)::int FROM changes), 16, 'the probe wrote 16 changelog rows (14 BORN, 2 RETIRED) in 3 transactions');

-- first run: batch 3, remembering the position after the first batch
SELECT is((SELECT t.consumed FROM dblink('replay', 'SELECT consumed FROM birthgate.handoff_consume(3)') AS t (consumed integer)), 3,
          'the first batch consumes 3 rows');
CREATE TEMP TABLE after_first AS SELECT position_txid, position_change_id FROM birthgate.handoff_cursor;
SELECT cmp_ok(pg_temp.consume_remote(3), '>=', 13::bigint, 'the remaining 13 probe rows are consumed in batches of 3');

SELECT is((SELECT count(*)::int FROM birthgate.governance_candidate_state WHERE collection_name = 'replay_probe'), 14,
          'one candidate row per object: 14');
SELECT is((SELECT count(*)::int FROM birthgate.event_pending WHERE object_key LIKE 'replay\_probe:%'), 14,
          'one captured event per birth: 14 (the type is inactive)');
SELECT is((SELECT count(*)::int FROM birthgate.event_outbox WHERE object_key LIKE 'replay\_probe:%'), 0,
          'nothing in the outbox while the type is inactive');
SELECT results_eq(
    $$SELECT g.object_key, g.registry_status, g.source_change_id, g.marked_at
      FROM birthgate.governance_candidate_state g WHERE g.entity_code IN ('R-1', 'R-2') ORDER BY g.object_key$$,
    $$SELECT l.collection_name || ':' || l.entity_code, 'RETIRED'::text, l.change_id, l.changed_at
      FROM birthgate.registry_changelog l
      WHERE l.collection_name = 'replay_probe' AND l.op = 'RETIRED' ORDER BY 1$$,
    'retired objects carry the RETIRED change, marked_at = its changed_at (not now())');
SELECT is((SELECT count(*)::int FROM birthgate.governance_candidate_state g
           JOIN birthgate.registry_changelog l ON l.change_id = g.source_change_id
           WHERE g.collection_name = 'replay_probe' AND g.marked_at = l.changed_at AND g.source_txid = l.txid), 14,
          'every candidate records its source change (change_id, txid) and marked_at = changed_at');

-- governance has looked at two candidates: a replay must not mark them dirty again
SELECT dblink_exec('replay', $q$UPDATE birthgate.governance_candidate_state SET dirty = false
                              WHERE object_key IN ('replay_probe:R-3', 'replay_probe:R-4')$q$) AS cleaned \gset
CREATE TEMP TABLE reference AS SELECT * FROM pg_temp.probe_state;
SELECT is((SELECT count(*)::int FROM reference), 28, 'the reference state: 14 candidates + 14 events');

-- replay 1: from zero, batch 3
SELECT pg_temp.reset_cursor('0', 0);
SELECT cmp_ok(pg_temp.consume_remote(3), '>=', 16::bigint, 'replay from zero re-reads all 16 probe rows');
SELECT results_eq('SELECT lane, k, tid, row FROM pg_temp.probe_state ORDER BY lane, k',
                  'SELECT lane, k, tid, row FROM reference ORDER BY lane, k',
                  'replay from zero (batch 3): candidates and events identical byte for byte, no tuple rewritten');

-- replay 2: from the position after the first batch, through handoff_drain (COMMIT per batch)
SELECT pg_temp.reset_cursor(position_txid, position_change_id) FROM after_first;
SELECT lives_ok($$SELECT dblink_exec('replay', 'CALL birthgate.handoff_drain(2)')$$, 'handoff_drain(2) replays from the first batch position');
SELECT results_eq('SELECT lane, k, tid, row FROM pg_temp.probe_state ORDER BY lane, k',
                  'SELECT lane, k, tid, row FROM reference ORDER BY lane, k',
                  'replay from after the first batch (handoff_drain(2)): identical byte for byte');

-- replay 3: from just before the first RETIRED row, batch 1 (every batch a single row)
SELECT pg_temp.reset_cursor(c.txid, c.change_id) FROM changes c
WHERE c.n = (SELECT min(n) - 1 FROM changes WHERE op = 'RETIRED');
SELECT cmp_ok(pg_temp.consume_remote(1), '>=', 4::bigint, 'replay from before the RETIRED rows (batch 1) re-reads at least 4 rows');
SELECT results_eq('SELECT lane, k, tid, row FROM pg_temp.probe_state ORDER BY lane, k',
                  'SELECT lane, k, tid, row FROM reference ORDER BY lane, k',
                  'replay from before the RETIRED rows (batch 1): identical byte for byte');

-- replay 4: from zero in one batch that holds BORN and RETIRED of the same objects
SELECT pg_temp.reset_cursor('0', 0);
SELECT cmp_ok(pg_temp.consume_remote(1000), '>=', 16::bigint, 'replay from zero in one batch of up to 1000 rows');
SELECT results_eq('SELECT lane, k, tid, row FROM pg_temp.probe_state ORDER BY lane, k',
                  'SELECT lane, k, tid, row FROM reference ORDER BY lane, k',
                  'replay from zero (one batch, BORN and RETIRED together): identical byte for byte');

-- replay 5: from the second-to-last probe row (only the tail again)
SELECT pg_temp.reset_cursor(c.txid, c.change_id) FROM changes c WHERE c.n = 15;
SELECT cmp_ok(pg_temp.consume_remote(7), '>=', 1::bigint, 'replay of the last row');
SELECT results_eq('SELECT lane, k, tid, row FROM pg_temp.probe_state ORDER BY lane, k',
                  'SELECT lane, k, tid, row FROM reference ORDER BY lane, k',
                  'replay of the tail: identical byte for byte');

SELECT is((SELECT dirty FROM birthgate.governance_candidate_state WHERE object_key = 'replay_probe:R-3'), false,
          'a candidate governance already cleaned stays clean after five replays');
SELECT is((SELECT count(*)::int FROM birthgate.v_handoff_lag WHERE collection_name = 'replay_probe'), 0,
          'v_handoff_lag is 0 for the probe');
SELECT results_eq(
    $$SELECT position_txid, position_change_id FROM birthgate.handoff_cursor$$,
    $$SELECT txid, change_id FROM birthgate.registry_changelog ORDER BY txid DESC, change_id DESC LIMIT 1$$,
    'after the replays the cursor sits on the last changelog row again');

-- clean up everything the dblink session committed, restore the cursor
SELECT lives_ok($cleanup$
    SELECT dblink_exec('replay', format($q$
        BEGIN;
        SET LOCAL session_replication_role = replica;
        DELETE FROM birthgate.event_pending WHERE object_key LIKE 'replay\_probe:%%';
        DELETE FROM birthgate.event_outbox WHERE object_key LIKE 'replay\_probe:%%';
        DELETE FROM birthgate.governance_candidate_state WHERE collection_name = 'replay_probe';
        DELETE FROM birthgate.registry_changelog WHERE collection_name = 'replay_probe';
        DELETE FROM birthgate.birth_registry WHERE collection_name = 'replay_probe';
        DELETE FROM birthgate.birth_family WHERE collection_name = 'replay_probe';
        UPDATE birthgate.handoff_cursor
        SET position_txid = %L, position_change_id = %s, heartbeat_at = %L, rows_consumed = %s,
            batches_run = %s, last_batch_rows = %s, updated_at = %L,
            position_snapshot = %L, window_snapshot = %L, window_after_txid = %L, window_after_change_id = %L,
            window_rows = %L, window_done = %L
        WHERE consumer_name = 'governance_handoff';
        COMMIT;$q$,
        s.position_txid, s.position_change_id, s.heartbeat_at, s.rows_consumed, s.batches_run, s.last_batch_rows, s.updated_at,
        s.position_snapshot, s.window_snapshot, s.window_after_txid, s.window_after_change_id, s.window_rows, s.window_done))
    FROM saved_cursor s$cleanup$, 'the committed probe rows are removed and the cursor restored');
SELECT is((SELECT count(*)::int FROM birthgate.registry_changelog WHERE collection_name = 'replay_probe')
        + (SELECT count(*)::int FROM birthgate.governance_candidate_state WHERE collection_name = 'replay_probe'), 0,
          'nothing of the probe is left behind');
SELECT dblink_disconnect('replay') AS disconnected \gset

SELECT * FROM finish();
ROLLBACK;
