-- 650 sweeps, migration 000012: the adaptive batch size and the range-based backfill.
--  (a) p_batch_size defaults to NULL (adaptive) in the four sweep entry points; a number is still an
--      exact batch size; the time target comes from birthgate.sweep_batch_target (bad values: BG605);
--  (b) an adaptive batch far under its target doubles the next one, within bounds; a statement
--      timeout recorded with sweep_note halves it (the next batch is retried smaller), and is counted;
--  (c) the backfill walks object keys: every BORN object without a candidate gets one, stamped with
--      its latest changelog row; what the consumer seeded is left alone;
--  (d) a candidate the consumer writes between the batch's anti-join and its INSERT (emulated by a
--      trigger) makes the plain INSERT fail: the batch is written again with ON CONFLICT, keeps the
--      consumer's row and seeds the rest;
--  (e) a run begun by 000009 (position_id) is finished by the new keyset, seeding what was left;
--  (f) adopting a table without a btree index on its code column: the first batch writes a
--      no_code_index finding with the CREATE INDEX statement, an adaptive run takes the largest
--      batches (each would sort the whole table anyway); with the index, the usual sizes.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(25);

-- (a)
SELECT is((SELECT count(*)::int FROM pg_proc
            WHERE pronamespace = 'birthgate'::regnamespace
              AND proname IN ('sweep_adopt', 'sweep_backfill', 'sweep_adopt_run', 'sweep_backfill_run')
              AND pg_get_function_arguments(oid) LIKE '%p_batch_size integer DEFAULT NULL::integer%'), 4,
          'sweep_adopt, sweep_backfill and both procedures take p_batch_size DEFAULT NULL (adaptive)');

-- 30 objects born (registry + changelog, as the gate writes them), none handed off yet
INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern)
VALUES ('ad650', 'pg_catalog.pg_am', 'amname', '^A-[0-9]+$');
WITH r AS (
    INSERT INTO birthgate.birth_registry (collection_name, entity_code)
    SELECT 'ad650', 'A-' || lpad(g::text, 2, '0') FROM generate_series(1, 30) AS g
    RETURNING registry_id, collection_name, entity_code, born_at)
INSERT INTO birthgate.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r ORDER BY r.registry_id;
-- whatever other suites committed is outside this test: only this family's keys are seeded here
DELETE FROM birthgate.sweep_cursor WHERE sweep_name = 'backfill';
CREATE TEMP TABLE before650 AS SELECT (SELECT count(*) FROM birthgate.governance_candidate_state) AS gcs;

SELECT throws_ok($$SELECT * FROM birthgate.sweep_backfill(0)$$, 'BG600', NULL, 'a batch size of 0 is still BG600');
SET LOCAL birthgate.sweep_batch_target = 'soon';
SELECT throws_ok($$SELECT * FROM birthgate.sweep_backfill()$$, 'BG605', NULL, 'an unreadable birthgate.sweep_batch_target: BG605');
SET LOCAL birthgate.sweep_batch_target = '0';
SELECT throws_ok($$SELECT * FROM birthgate.sweep_backfill()$$, 'BG605', NULL, 'a target of 0: BG605');
SET LOCAL birthgate.sweep_batch_target = '2 hours';
SELECT throws_ok($$SELECT * FROM birthgate.sweep_backfill()$$, 'BG605', NULL, 'a target above 1 minute: BG605');
SELECT is((SELECT count(*) FROM birthgate.governance_candidate_state), (SELECT gcs FROM before650), 'the refused calls seeded nothing');
SET LOCAL birthgate.sweep_batch_target = '3 seconds';
SELECT lives_ok($$SELECT * FROM birthgate.sweep_adopt('ad650', true, 5, NULL, false)$$, '... and a fixed size ignores the setting');

-- a fixed size is exact (the run starts, then walks this family's keys: other suites may have committed others)
CREATE TEMP TABLE b0 AS SELECT * FROM birthgate.sweep_backfill(1, NULL, false);
UPDATE birthgate.sweep_cursor SET position_code = 'ad650:' WHERE sweep_name = 'backfill';
CREATE TEMP TABLE b1 AS SELECT * FROM birthgate.sweep_backfill(4, NULL, false);
SELECT is((SELECT status || ':' || scanned FROM b1), 'batch:4', 'a fixed p_batch_size of 4 scans exactly 4 registry rows');
SELECT is((SELECT batch_size FROM birthgate.sweep_cursor WHERE sweep_name = 'backfill'), 4, '... and the cursor records that size');

-- (b) adaptive: far under a 3 s target, the next batch doubles (from the 4 the cursor holds); it
-- walks the keys after this family's, which (c) seeds later
UPDATE birthgate.sweep_cursor SET position_code = 'ad650:B' WHERE sweep_name = 'backfill';
CREATE TEMP TABLE b2 AS SELECT * FROM birthgate.sweep_backfill(NULL, NULL, false);
SELECT ok((SELECT scanned <= 100 FROM b2), 'an adaptive batch starts from the cursor''s size, raised to the lower bound of 100');
SELECT is((SELECT batch_size FROM birthgate.sweep_cursor WHERE sweep_name = 'backfill'), 200,
          'a batch far under its time target doubles the next one (100 -> 200)');
SELECT birthgate.sweep_note('backfill', 'error', '57014: canceling statement due to statement timeout');
SELECT is((SELECT batch_size || ' ' || error_count FROM birthgate.sweep_cursor WHERE sweep_name = 'backfill'), '100 1',
          'a statement timeout recorded with sweep_note halves the size (200 -> 100) and counts the error');
SELECT birthgate.sweep_note('backfill', 'error', '55P03: lock timeout');
SELECT is((SELECT batch_size || ' ' || error_count FROM birthgate.sweep_cursor WHERE sweep_name = 'backfill'), '100 2',
          'another error is counted and leaves the size alone');

UPDATE birthgate.sweep_cursor SET position_code = 'ad650:A-04', finished_at = NULL WHERE sweep_name = 'backfill';

-- (c)/(d): the consumer hands off A-20 before the batch, and A-25 while it runs (a trigger writes the
-- candidate when the batch's INSERT reaches A-24: the anti-join did not see it, the INSERT collides)
INSERT INTO birthgate.governance_candidate_state (object_key, collection_name, entity_code, registry_status, born_at, dirty, marked_at, source_change_id, source_txid)
SELECT l.object_key, l.collection_name, l.entity_code, 'BORN', l.born_at, false, l.changed_at, l.change_id, l.txid
  FROM birthgate.registry_changelog l WHERE l.object_key = 'ad650:A-20';
CREATE FUNCTION pg_temp.consumer_meanwhile() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.object_key = 'ad650:A-24' THEN
        INSERT INTO birthgate.governance_candidate_state (object_key, collection_name, entity_code, registry_status, born_at, dirty, marked_at, source_change_id, source_txid)
        SELECT l.object_key, l.collection_name, l.entity_code, 'BORN', l.born_at, false, l.changed_at, -1, l.txid
          FROM birthgate.registry_changelog l WHERE l.object_key = 'ad650:A-25'
        ON CONFLICT (object_key) DO NOTHING;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER zz650_consumer_meanwhile BEFORE INSERT ON birthgate.governance_candidate_state
    FOR EACH ROW EXECUTE FUNCTION pg_temp.consumer_meanwhile();
CREATE TEMP TABLE b3 AS SELECT * FROM birthgate.sweep_backfill(100, NULL, false);
DROP TRIGGER zz650_consumer_meanwhile ON birthgate.governance_candidate_state;
SELECT ok((SELECT status IN ('batch', 'finished') AND scanned >= 26 FROM b3), 'one batch of 100 covers the rest of the family (A-05 .. A-30)');
SELECT is((SELECT count(*)::int FROM birthgate.governance_candidate_state WHERE collection_name = 'ad650'), 30,
          'every one of the 30 objects has exactly one candidate (the key collision was retried, not fatal)');
SELECT is((SELECT source_change_id::text || ' ' || dirty FROM birthgate.governance_candidate_state WHERE object_key = 'ad650:A-25'), '-1 false',
          'the candidate the consumer wrote during the batch is kept as it wrote it');
SELECT is((SELECT dirty FROM birthgate.governance_candidate_state WHERE object_key = 'ad650:A-20'), false,
          'the candidate the consumer wrote before the batch is not re-marked');
SELECT is((SELECT count(*)::int FROM birthgate.governance_candidate_state g JOIN birthgate.registry_changelog l ON l.object_key = g.object_key
            WHERE g.collection_name = 'ad650' AND g.dirty AND g.source_change_id = l.change_id AND g.source_txid = l.txid), 28,
          'the 28 seeded candidates are dirty and stamped with their changelog row');

-- (e) a run 000009 began: position_id set, position_code empty; the new keyset walks from the first key
DELETE FROM birthgate.governance_candidate_state WHERE object_key IN ('ad650:A-03', 'ad650:A-29');
UPDATE birthgate.sweep_cursor
   SET finished_at = NULL, position_code = NULL,
       position_id = (SELECT registry_id FROM birthgate.birth_registry WHERE object_key = 'ad650:A-10')
 WHERE sweep_name = 'backfill';
CREATE FUNCTION pg_temp.backfill_run() RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE v_r record; v_applied integer := 0; v_n integer := 0;
BEGIN
    LOOP
        SELECT * INTO v_r FROM birthgate.sweep_backfill(NULL, NULL, false);
        v_applied := v_applied + v_r.applied;
        v_n := v_n + 1;
        EXIT WHEN v_r.status <> 'batch' OR v_n > 100000;
    END LOOP;
    RETURN v_applied;
END $fn$;
SELECT is(pg_temp.backfill_run(), 2,
          'an unfinished 000009 run is finished by the new keyset: both missing candidates are seeded (one before its old position)');
SELECT is((SELECT position_id FROM birthgate.sweep_cursor WHERE sweep_name = 'backfill'), NULL::bigint, '... and the cursor no longer holds the old position');

-- (f) a family table without an index on its code column, 1500 rows
CREATE SCHEMA s650;
CREATE TABLE s650.noidx (id int, code text);
INSERT INTO s650.noidx SELECT g, 'N-' || g FROM generate_series(1, 1500) g;
SELECT birthgate.register_family('noidx', 's650.noidx', 'code', '^N-[0-9]+$', 'report');
SET LOCAL birthgate.sweep_batch_target = '80ms';
CREATE TEMP TABLE f1 AS SELECT * FROM birthgate.sweep_adopt('noidx', true);
SELECT is((SELECT status || ':' || scanned FROM f1), 'finished:1500', 'without an index, an adaptive dry run takes the largest batch (all 1500 codes at once)');
SELECT is((SELECT detail->>'remedy' FROM birthgate.sweep_finding WHERE sweep_name = 'adopt_dry_run:noidx' AND kind = 'no_code_index'),
          'CREATE INDEX CONCURRENTLY ON s650.noidx (code);', '... and its first batch writes a no_code_index finding with the statement that fixes it');
SELECT matches((SELECT remedy FROM birthgate.v_sweep_findings WHERE sweep_name = 'adopt_dry_run:noidx' AND kind = 'no_code_index'),
               '^no btree index on the code column', 'v_sweep_findings explains the finding');
CREATE INDEX ON s650.noidx (code);
CREATE TEMP TABLE f2 AS SELECT * FROM birthgate.sweep_adopt('noidx', true);
SELECT is((SELECT status || ':' || scanned FROM f2), 'batch:1000', 'with the index, a new adaptive run starts at 1000 codes per batch');
SELECT is((SELECT count(*)::int FROM birthgate.sweep_finding WHERE sweep_name = 'adopt_dry_run:noidx' AND kind = 'no_code_index'), 0,
          '... and writes no no_code_index finding');

SELECT * FROM finish();
ROLLBACK;
