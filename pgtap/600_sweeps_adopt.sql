-- 600 sweeps: adoption of an existing family table. A table filled before it was governed holds
-- valid codes, NULL, empty, pattern-mismatching, duplicated, oversize and RETIRED codes:
--  (a) structure: tables, views, functions, volatility;
--  (b) the dry run lists every finding and writes no registry or changelog row;
--  (c) the run adopts every valid code once (BORN, no permit, changelog detail: adopted, by whom,
--      run id), writes a finding for every other row (nothing lost: adopted + findings = rows);
--  (d) after it, v_drift_report counts exactly the rows that could not be adopted;
--  (e) a re-run is idempotent; the handoff hands the adopted objects on;
--  (f) bad input raises its BG code and changes nothing; a view, a non-text code column refused;
--      a domain CHECK (owner code) never runs; rate limit and load guard pause (visible in status).
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(47);

-- (a) structure
SELECT has_table('birthgate', 'sweep_cursor', 'sweep_cursor exists');
SELECT has_table('birthgate', 'sweep_finding', 'sweep_finding exists');
SELECT has_view('birthgate', 'v_sweep_status', 'v_sweep_status exists');
SELECT has_view('birthgate', 'v_sweep_findings', 'v_sweep_findings exists');
SELECT has_function('birthgate', 'sweep_adopt', ARRAY['text', 'boolean', 'integer', 'integer', 'boolean'], 'sweep_adopt(text, boolean, integer, integer, boolean) exists');
SELECT volatility_is('birthgate', 'sweep_adopt', ARRAY['text', 'boolean', 'integer', 'integer', 'boolean'], 'volatile', 'sweep_adopt is volatile');
SELECT is_definer('birthgate', 'sweep_adopt', ARRAY['text', 'boolean', 'integer', 'integer', 'boolean'], 'sweep_adopt is SECURITY DEFINER');
SELECT has_function('birthgate', 'sweep_load_guard', ARRAY['integer', 'interval', 'interval'], 'sweep_load_guard exists');
SELECT has_function('birthgate', 'sweep_note', ARRAY['text', 'text', 'text', 'timestamp with time zone'], 'sweep_note exists');
SELECT ok(EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'sweep_adopt_run' AND prokind = 'p'
                  AND pronamespace = 'birthgate'::regnamespace), 'procedure sweep_adopt_run exists');
SELECT ok((SELECT proconfig @> ARRAY['search_path=pg_catalog, pg_temp', 'row_security=off'] FROM pg_proc
            WHERE oid = 'birthgate.sweep_adopt(text, boolean, integer, integer, boolean)'::regprocedure),
          'sweep_adopt pins search_path and turns row_security off');

-- the family table, filled before it was governed
CREATE SCHEMA adoptapp;
CREATE TABLE adoptapp.tools (id serial PRIMARY KEY, code text, name text);
CREATE INDEX ON adoptapp.tools (code);
INSERT INTO adoptapp.tools (code) SELECT 'T-' || g FROM generate_series(1, 30) AS g;
INSERT INTO adoptapp.tools (code) VALUES (NULL), (NULL), (NULL), (''), ('bad-1'), ('bad-2'), ('T-7'), ('T-7'), (repeat('T', 300)), ('T-99');
SELECT birthgate.register_family('tools', 'adoptapp.tools', 'code', '^T-[0-9]+$', 'enforce');
-- T-99 was born and retired long ago: its row is still there
INSERT INTO birthgate.birth_registry (collection_name, entity_code, status, retired_at, retired_by, retire_reason)
VALUES ('tools', 'T-99', 'RETIRED', now(), current_user, 'test');

-- drive a sweep to its end in this transaction (each call is one batch)
CREATE FUNCTION pg_temp.adopt_all(p_dry boolean, p_batch integer) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE v_r record; v_applied integer := 0; v_n integer := 0;
BEGIN
    LOOP
        SELECT * INTO v_r FROM birthgate.sweep_adopt('tools', p_dry, p_batch);
        v_applied := v_applied + v_r.applied;
        v_n := v_n + 1;
        EXIT WHEN v_r.status <> 'batch' OR v_n > 1000;
    END LOOP;
    RETURN v_applied;
END $fn$;
CREATE FUNCTION pg_temp.findings(p_sweep text) RETURNS text
LANGUAGE sql AS $fn$
    SELECT string_agg(kind || '=' || occurrences, ' ' ORDER BY kind) FROM birthgate.v_sweep_findings WHERE sweep_name = p_sweep;
$fn$;
CREATE TEMP TABLE before AS SELECT (SELECT count(*) FROM birthgate.birth_registry) AS reg, (SELECT count(*) FROM birthgate.registry_changelog) AS log;

-- (b) dry run
SELECT is(pg_temp.adopt_all(true, 7), 29, 'the dry run would adopt the 29 distinct valid codes (T-7 is there three times)');
SELECT is((SELECT count(*) FROM birthgate.birth_registry), (SELECT reg FROM before), 'the dry run wrote no registry row');
SELECT is((SELECT count(*) FROM birthgate.registry_changelog), (SELECT log FROM before), 'the dry run wrote no changelog row');
SELECT is(pg_temp.findings('adopt_dry_run:tools'),
          'duplicate_code=3 empty_code=1 null_code=3 oversize_code=1 pattern_mismatch=2 retired_present=1',
          'the dry run lists every row it cannot adopt, by kind, with counts');
SELECT is((SELECT state FROM birthgate.v_sweep_status WHERE sweep_name = 'adopt_dry_run:tools'), 'finished', 'the dry-run cursor is finished');

-- (c) the run, in small batches
SELECT is(pg_temp.adopt_all(false, 4), 29, 'the run adopts the 29 valid codes');
SELECT is((SELECT count(*) FROM birthgate.birth_registry WHERE collection_name = 'tools' AND status = 'BORN'), 29::bigint, '29 BORN registry rows');
SELECT is((SELECT count(*) FROM birthgate.birth_registry WHERE collection_name = 'tools' AND status = 'BORN' AND permit_id IS NULL), 29::bigint, 'adopted without a permit');
SELECT is((SELECT count(*) FROM birthgate.registry_changelog WHERE collection_name = 'tools' AND op = 'BORN'
            AND (detail ->> 'adopted')::boolean AND detail ->> 'adopted_by' = current_user
            AND (detail ->> 'run_id')::bigint = (SELECT run_id FROM birthgate.sweep_cursor WHERE sweep_name = 'adopt:tools')), 29::bigint,
          'one BORN changelog row per adopted object says adopted, by whom and in which run');
SELECT is((SELECT count(*) FROM (SELECT entity_code FROM birthgate.birth_registry WHERE collection_name = 'tools' GROUP BY 1 HAVING count(*) > 1) d), 0::bigint,
          'no code registered twice');
SELECT is(pg_temp.findings('adopt:tools'),
          'duplicate_code=3 empty_code=1 null_code=3 oversize_code=1 pattern_mismatch=2 retired_present=1',
          'the run writes the same findings');
SELECT is((SELECT 29 + sum(occurrences) FROM birthgate.sweep_finding WHERE sweep_name = 'adopt:tools'), (SELECT count(*) FROM adoptapp.tools)::numeric,
          'nothing lost: adopted + finding rows = every row of the table');
SELECT is((SELECT entity_code FROM birthgate.sweep_finding WHERE sweep_name = 'adopt:tools' AND kind = 'oversize_code'), repeat('T', 256),
          'an oversize code is stored cut to 256 characters');
SELECT is((SELECT code_length FROM birthgate.sweep_finding WHERE sweep_name = 'adopt:tools' AND kind = 'oversize_code'), 300, '... with its real length');
SELECT is((SELECT rows_applied FROM birthgate.v_sweep_status WHERE sweep_name = 'adopt:tools'), 29::bigint, 'v_sweep_status counts the adopted rows');

-- (d) the drift monitor now reports only what could not be adopted
SELECT is((SELECT (detail ->> 'count')::bigint FROM birthgate.v_drift_report WHERE kind = 'unborn_objects' AND object_name = 'tools'),
          (SELECT sum(occurrences)::bigint FROM birthgate.sweep_finding WHERE sweep_name = 'adopt:tools' AND kind <> 'retired_present'),
          'v_drift_report counts as unborn exactly the rows adoption could not adopt');
SELECT is((SELECT count(*) FROM birthgate.drift_family_objects('tools') WHERE finding = 'unborn' AND entity_code ~ '^T-[0-9]+$' AND entity_code <> 'T-7'), 0::bigint,
          'no valid code is left unborn');

-- (e) re-run and handoff
SELECT is(pg_temp.adopt_all(false, 50), 0, 'a re-run adopts nothing');
SELECT is((SELECT count(*) FROM birthgate.registry_changelog WHERE collection_name = 'tools'), 29::bigint, 'a re-run writes no changelog row');
SELECT is((SELECT count(*) FROM birthgate.v_handoff_lag WHERE collection_name = 'tools'), 29::bigint, 'the adopted objects wait for the handoff like any birth');

-- (f) bad input: BG error, nothing changed
CREATE TEMP TABLE counts AS SELECT (SELECT count(*) FROM birthgate.birth_registry) AS reg, (SELECT count(*) FROM birthgate.sweep_finding) AS fnd,
                                   (SELECT count(*) FROM birthgate.sweep_cursor) AS cur;
SELECT throws_ok($$SELECT * FROM birthgate.sweep_adopt('no_such_family')$$, 'BG601', NULL, 'an unknown family raises BG601');
SELECT throws_ok($$SELECT * FROM birthgate.sweep_adopt('tools', false, 0)$$, 'BG600', NULL, 'batch size 0 raises BG600');
SELECT throws_ok($$SELECT * FROM birthgate.sweep_adopt('tools', NULL)$$, 'BG600', NULL, 'p_dry_run NULL raises BG600');
SELECT throws_ok($$SELECT * FROM birthgate.sweep_adopt('tools', false, 10, 0)$$, 'BG600', NULL, 'a rate of 0 batches per minute raises BG600');
CREATE VIEW adoptapp.tools_v AS SELECT * FROM adoptapp.tools;
INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern) VALUES ('toolsview', 'adoptapp.tools_v', 'code', '^T-');
SELECT throws_ok($$SELECT * FROM birthgate.sweep_adopt('toolsview')$$, 'BG602', NULL, 'a family on a view raises BG602');
CREATE TABLE adoptapp.numbered (id serial, code integer);
INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern) VALUES ('numbered', 'adoptapp.numbered', 'code', '^[0-9]+$');
SELECT throws_ok($$SELECT * FROM birthgate.sweep_adopt('numbered')$$, 'BG603', NULL, 'an integer code column raises BG603');
SELECT is((SELECT (count(*), (SELECT count(*) FROM birthgate.sweep_finding), (SELECT count(*) FROM birthgate.sweep_cursor))::text FROM birthgate.birth_registry),
          (SELECT (reg, fnd, cur)::text FROM counts), 'bad input changed no registry, finding or cursor row');

-- a domain CHECK is owner code: adoption reads the base type and never runs it
CREATE TABLE adoptapp.spy_log (at timestamptz);
CREATE FUNCTION adoptapp.spy(text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN INSERT INTO adoptapp.spy_log VALUES (now()); RETURN true; END $$;
CREATE DOMAIN adoptapp.code_t AS text CHECK (adoptapp.spy(VALUE));
CREATE TABLE adoptapp.dom (id serial, code adoptapp.code_t);
INSERT INTO adoptapp.dom (code) VALUES ('D-1'), ('D-2');
DELETE FROM adoptapp.spy_log;
INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern) VALUES ('dom', 'adoptapp.dom', 'code', '^D-[0-9]+$');
SELECT is((SELECT applied FROM birthgate.sweep_adopt('dom')), 2, 'a domain-over-text code column is adopted');
SELECT is((SELECT count(*) FROM adoptapp.spy_log), 0::bigint, 'the domain CHECK (owner code) never ran');

-- rate limit and load guard pause, visible in the status view
SELECT is((SELECT status FROM birthgate.sweep_adopt('tools', true, 5, 1)), 'batch', 'with 1 batch per minute the first batch runs');
SELECT is((SELECT status FROM birthgate.sweep_adopt('tools', true, 5, 1)), 'paused', 'the second one within the minute pauses');
SELECT matches((SELECT state || ': ' || paused_reason FROM birthgate.v_sweep_status WHERE sweep_name = 'adopt_dry_run:tools'),
               '^paused: rate limit', 'v_sweep_status shows the pause and why');
SELECT dblink_connect('holder', bgtest.connstr()) AS h \gset
SELECT dblink_connect('waiter', bgtest.connstr()) AS w \gset
SELECT dblink_exec('holder', 'BEGIN') AS b \gset
SELECT dblink_exec('holder', 'LOCK TABLE birthgate.birth_admission_permit IN ACCESS EXCLUSIVE MODE') AS l \gset
SELECT dblink_send_query('waiter', 'SELECT count(*)::text FROM birthgate.birth_admission_permit') AS s \gset
CREATE FUNCTION pg_temp.wait_for_waiter() RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
    FOR i IN 1..600 LOOP
        IF EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND relation = 'birthgate.birth_admission_permit'::regclass) THEN RETURN true; END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN false;
END $fn$;
SELECT ok(pg_temp.wait_for_waiter(), 'a second session waits for a lock on a governed table');
SELECT matches((SELECT reason FROM birthgate.sweep_load_guard(0, '0 seconds') WHERE pause), '^lock waits: 1 session',
               'the load guard says pause, and why');
SET LOCAL birthgate.sweep_max_lock_wait = '0';
SELECT is((SELECT status FROM birthgate.sweep_adopt('tools', false, 5, NULL, true)), 'paused', 'with the load guard on, the sweep pauses instead of failing');
SELECT dblink_exec('holder', 'ROLLBACK') AS r \gset
SELECT * FROM dblink_get_result('waiter') AS t (x text);
SELECT dblink_disconnect('holder') AS d1 \gset
SELECT dblink_disconnect('waiter') AS d2 \gset
SET LOCAL birthgate.sweep_max_lock_wait = 'soon';
SELECT throws_ok($$SELECT * FROM birthgate.sweep_load_guard()$$, 'BG605', NULL, 'an unreadable load-guard setting raises BG605');

SELECT * FROM finish();
ROLLBACK;
