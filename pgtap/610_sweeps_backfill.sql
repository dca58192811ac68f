-- 610 sweeps: the candidate-seed backfill and its overlap with the consumer.
--  (a) objects born before the handoff ran get one dirty candidate each, stamped with their latest
--      changelog row; RETIRED objects are skipped and counted;
--  (b) an object the consumer already handed off is not marked twice or regressed (a cleared dirty
--      flag stays cleared), and the consumer running after the backfill does not re-mark what the
--      backfill seeded, yet still writes each object's one event;
--  (c) a re-run seeds nothing; bad input raises BG600/BG604 and changes nothing;
--  (d) sweep_note records errors and deferred work (no silent caps).
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(18);

SELECT has_function('birthgate', 'sweep_backfill', ARRAY['integer', 'integer', 'boolean'], 'sweep_backfill(integer, integer, boolean) exists');
SELECT ok(EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'sweep_backfill_run' AND prokind = 'p'
                  AND pronamespace = 'birthgate'::regnamespace), 'procedure sweep_backfill_run exists');

-- 12 objects born (registry + changelog, as the gate writes them), the handoff not yet run
INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern)
VALUES ('seedfam', 'pg_catalog.pg_am', 'amname', '^S-[0-9]+$');
WITH r AS (
    INSERT INTO birthgate.birth_registry (collection_name, entity_code)
    SELECT 'seedfam', 'S-' || g FROM generate_series(1, 12) AS g
    RETURNING registry_id, collection_name, entity_code, born_at)
INSERT INTO birthgate.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r ORDER BY r.registry_id;
-- S-12 was retired (a RETIRED registry row, as retire() leaves it)
UPDATE birthgate.birth_registry SET status = 'RETIRED', retired_at = now(), retired_by = current_user, retire_reason = 'test'
 WHERE collection_name = 'seedfam' AND entity_code = 'S-12';

-- the consumer hands off S-1 .. S-4 (emulated as handoff_consume would write them), governance clears S-1
INSERT INTO birthgate.governance_candidate_state (object_key, collection_name, entity_code, registry_status, born_at, dirty, marked_at, source_change_id, source_txid)
SELECT l.object_key, l.collection_name, l.entity_code, 'BORN', l.born_at, true, l.changed_at, l.change_id, l.txid
  FROM birthgate.registry_changelog l WHERE l.collection_name = 'seedfam' AND l.entity_code IN ('S-1', 'S-2', 'S-3', 'S-4');
UPDATE birthgate.governance_candidate_state SET dirty = false WHERE object_key = 'seedfam:S-1';
CREATE TEMP TABLE s1 AS SELECT * FROM birthgate.governance_candidate_state WHERE object_key = 'seedfam:S-1';

CREATE FUNCTION pg_temp.backfill_all(p_batch integer) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE v_r record; v_applied integer := 0; v_n integer := 0;
BEGIN
    LOOP
        SELECT * INTO v_r FROM birthgate.sweep_backfill(p_batch);
        v_applied := v_applied + v_r.applied;
        v_n := v_n + 1;
        EXIT WHEN v_r.status <> 'batch' OR v_n > 1000;
    END LOOP;
    RETURN v_applied;
END $fn$;

-- (a)
SELECT is(pg_temp.backfill_all(5), 7, 'the backfill seeds the 7 BORN objects not yet handed off');
SELECT is((SELECT count(*) FROM birthgate.governance_candidate_state WHERE collection_name = 'seedfam'), 11::bigint, 'one candidate per BORN object (11)');
SELECT is((SELECT count(*) FROM birthgate.governance_candidate_state g JOIN birthgate.registry_changelog l ON l.object_key = g.object_key
            WHERE g.collection_name = 'seedfam' AND g.source_change_id = l.change_id AND g.source_txid = l.txid AND g.dirty), 10::bigint,
          'every seeded or handed-off candidate is stamped with its changelog row (S-1 cleared, the others dirty)');
SELECT is((SELECT count(*) FROM birthgate.governance_candidate_state WHERE object_key = 'seedfam:S-12'), 0::bigint, 'the RETIRED object is not seeded');
SELECT is((SELECT sum(occurrences) FROM birthgate.v_sweep_findings WHERE sweep_name = 'backfill' AND kind = 'retired_skipped'), 1::numeric,
          'a retired_skipped finding counts it');
-- (b)
SELECT is((SELECT (g.dirty, g.marked_at, g.source_change_id)::text FROM birthgate.governance_candidate_state g WHERE g.object_key = 'seedfam:S-1'),
          (SELECT (dirty, marked_at, source_change_id)::text FROM s1), 'the object governance already cleared is not re-marked or regressed');
UPDATE birthgate.governance_candidate_state SET dirty = false WHERE object_key = 'seedfam:S-9';
-- the consumer's newer-wins upsert, as handoff_consume's general path runs it on a replay of the changelog
INSERT INTO birthgate.governance_candidate_state AS g (object_key, collection_name, entity_code, registry_status, born_at, dirty, marked_at, source_change_id, source_txid)
SELECT l.object_key, l.collection_name, l.entity_code, l.op, l.born_at, true, l.changed_at, l.change_id, l.txid
  FROM birthgate.registry_changelog l WHERE l.collection_name = 'seedfam' AND l.op = 'BORN'
ON CONFLICT (object_key) DO UPDATE SET dirty = true, source_change_id = EXCLUDED.source_change_id
WHERE g.source_change_id < EXCLUDED.source_change_id;
SELECT is((SELECT dirty FROM birthgate.governance_candidate_state WHERE object_key = 'seedfam:S-9'), false,
          'the consumer reading a seeded object''s change later does not re-mark it');
SELECT is((SELECT count(*) FROM birthgate.governance_candidate_state WHERE collection_name = 'seedfam'), 12::bigint,
          'backfill + consumer: still one candidate per object');
-- (c)
SELECT is(pg_temp.backfill_all(100), 0, 'a re-run seeds nothing');
CREATE TEMP TABLE counts AS SELECT (SELECT count(*) FROM birthgate.governance_candidate_state) AS cand, (SELECT count(*) FROM birthgate.sweep_cursor) AS cur;
SELECT throws_ok($$SELECT * FROM birthgate.sweep_backfill(0)$$, 'BG600', NULL, 'batch size 0 raises BG600');
SELECT throws_ok($$SELECT * FROM birthgate.sweep_backfill(100, 0)$$, 'BG600', NULL, 'a rate of 0 raises BG600');
SELECT throws_ok($$SELECT birthgate.sweep_note('nope', 'error', 'x')$$, 'BG604', NULL, 'sweep_note on an unknown cursor raises BG604');
SELECT throws_ok($$SELECT birthgate.sweep_note('backfill', 'bogus', 'x')$$, 'BG600', NULL, 'sweep_note with an unknown event raises BG600');
SELECT is((SELECT (count(*), (SELECT count(*) FROM birthgate.sweep_cursor))::text FROM birthgate.governance_candidate_state),
          (SELECT (cand, cur)::text FROM counts), 'bad input changed nothing');
-- (d) an unfinished run stopped by a bound says how much is left
SELECT is((SELECT status FROM birthgate.sweep_backfill(2)), 'batch', 'a new run starts with a first batch');
SELECT birthgate.sweep_note('backfill', 'deferred', 'stopped after p_max_batches = 1 batches');
SELECT is((SELECT kind || ':' || (detail ->> 'rows_done') FROM birthgate.sweep_finding WHERE sweep_name = 'backfill' AND kind = 'deferred'),
          'deferred:2', 'a deferred finding records what was done and what is left');

SELECT * FROM finish();
ROLLBACK;
