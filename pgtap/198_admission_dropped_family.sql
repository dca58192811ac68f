-- 198 admission: a family table dropped in the transaction of its births (000018).
--   The gate triggers go with the table, but the commit-time re-verification runs from the package
--   table admission_verify: enforce refuses the commit (BG157), report records one
--   BORN_WITHOUT_OBJECT violation per birth (removed_by DROP TABLE), a birth retired before the drop
--   passes, off has no births to judge. Also: DROP and re-CREATE under the same name, DROP SCHEMA
--   CASCADE, an upsert, a birth inside a function, a real COMMIT in another session.
-- Every refusal leaves every package table as it was (bgtest.package_counts() before/after).
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(29);
CREATE TEMP TABLE snap (label text PRIMARY KEY, v text);

-- one family per case: every birth of this test shares the test's transaction
CREATE SCHEMA t198;
CREATE FUNCTION pg_temp.family(p_name text, p_mode text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE t198.%I (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text NOT NULL UNIQUE, name text)', p_name);
    PERFORM birthgate.register_family(p_name, format('t198.%I', p_name), 'code', '^D-[0-9]+$', p_mode);
    PERFORM birthgate.issue_permit(p_name, 'D-' || g) FROM generate_series(1, 20) AS g;
END $$;
SELECT pg_temp.family('e1', 'enforce'), pg_temp.family('e2', 'enforce'), pg_temp.family('e3', 'enforce'),
       pg_temp.family('e4', 'enforce'), pg_temp.family('e5', 'enforce'), pg_temp.family('e6', 'enforce'),
       pg_temp.family('r1', 'report'), pg_temp.family('o1', 'off');
CREATE FUNCTION t198.birth_in_function(p_code text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO t198.e5 (code, name) VALUES (p_code, 'in a function')
$$;
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;

-- enforce ----------------------------------------------------------------------------------------
INSERT INTO snap VALUES ('e1', bgtest.package_counts());
SELECT is(bgtest.outcome(ARRAY[$$INSERT INTO t198.e1 (code) VALUES ('D-1')$$, 'DROP TABLE t198.e1']),
          'commit failed: BG157', 'enforce: a birth whose family table is dropped in the same transaction is refused at commit');
SELECT is(bgtest.package_counts(), (SELECT v FROM snap WHERE label = 'e1'), 'enforce: the refusal changes no package table');
SELECT ok(to_regclass('t198.e1') IS NOT NULL, 'enforce: the table is still there (the whole transaction rolled back)');

SELECT is(bgtest.outcome(ARRAY[$$INSERT INTO t198.e1 (code) SELECT 'D-' || g FROM generate_series(1, 12) AS g$$, 'DROP TABLE t198.e1']),
          'commit failed: BG157', 'enforce: a multi-row statement''s births are refused with their dropped table');
SELECT is(bgtest.outcome(ARRAY[$$INSERT INTO t198.e1 (code) VALUES ('D-1') ON CONFLICT (code) DO NOTHING$$, 'DROP TABLE t198.e1']),
          'commit failed: BG157', 'enforce: an upsert''s birth (ON CONFLICT DO NOTHING) too');
SELECT is(bgtest.outcome(ARRAY[$$INSERT INTO t198.e1 (code) VALUES ('D-1'), ('D-2')$$, 'SET CONSTRAINTS t198._900_birth_finalize IMMEDIATE', 'SET CONSTRAINTS ALL DEFERRED', 'DROP TABLE t198.e1']),
          'commit failed: BG157', 'enforce: after the family table''s own deferred checks ran early, the DROP is still judged at commit');
SELECT is(bgtest.package_counts(), (SELECT v FROM snap WHERE label = 'e1'), 'enforce: none of these refusals changes a package table');

-- the message names the collection, the table's last name and a code; the hint the remedies
SAVEPOINT s_msg;
INSERT INTO t198.e2 (code) VALUES ('D-7');
DROP TABLE t198.e2;
SELECT throws_like('SET CONSTRAINTS ALL IMMEDIATE', '%no longer exists at commit%', 'enforce: BG157''s message says the object is gone');
ROLLBACK TO SAVEPOINT s_msg;
CREATE FUNCTION pg_temp.diag() RETURNS text LANGUAGE plpgsql AS $$
DECLARE v_detail text; v_hint text; v_state text;
BEGIN
    BEGIN
        INSERT INTO t198.e2 (code) VALUES ('D-7');
        DROP TABLE t198.e2;
        SET CONSTRAINTS ALL IMMEDIATE;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
    END;
    SET CONSTRAINTS ALL DEFERRED;
    RETURN v_state || ' | ' || v_detail || ' | ' || v_hint;
END $$;
SELECT is(pg_temp.diag(),
          'BG157 | collection e2: the family table (t198.e2) was dropped in this transaction after 1 birth(s) in it, e.g. code ''D-7'' | Keep the table until the births are committed, or retire them before the drop (SELECT birthgate.retire(''e2'', ''D-7'', ''<reason>'');). To stop governing the table first: SELECT birthgate.set_family_mode(''e2'', ''off'');',
          'enforce: DETAIL names collection, table and code; HINT gives copyable remedies');

SELECT is(bgtest.outcome(ARRAY[$$INSERT INTO t198.e3 (code) VALUES ('D-1')$$, 'DROP TABLE t198.e3',
                               'CREATE TABLE t198.e3 (id int PRIMARY KEY, code text NOT NULL UNIQUE)', $$INSERT INTO t198.e3 VALUES (1, 'D-1')$$]),
          'commit failed: BG157', 'enforce: DROP and re-CREATE under the same name (with the same code) is refused: the governed table is gone');
SELECT is(bgtest.outcome(ARRAY[$$INSERT INTO t198.e4 (code) VALUES ('D-1')$$, 'DROP SCHEMA t198 CASCADE']),
          'commit failed: BG157', 'enforce: DROP SCHEMA ... CASCADE is refused the same way');
SELECT is(bgtest.outcome(ARRAY[$$SELECT t198.birth_in_function('D-3')$$, 'DROP TABLE t198.e5']),
          'commit failed: BG157', 'enforce: a birth made inside a function, table dropped after it');

-- a birth retired before the drop is no birth any more (the DELETE's check runs first: PostgreSQL
-- refuses to drop a table with pending trigger events, 55006)
SELECT is(bgtest.outcome(ARRAY[$$INSERT INTO t198.e6 (code) VALUES ('D-1')$$, $$DELETE FROM t198.e6 WHERE code = 'D-1'$$,
                               $$SELECT birthgate.retire('e6', 'D-1', 'test: retired before the drop')$$,
                               'SET CONSTRAINTS t198._905_birth_finalize_delete IMMEDIATE', 'DROP TABLE t198.e6']),
          'committed', 'enforce: births retired before the DROP pass');
SELECT is(bgtest.package_counts(), (SELECT v FROM snap WHERE label = 'e1'), 'enforce: nothing of the refused or rolled-back cases is left');

-- off: no births to judge
SELECT is(bgtest.outcome(ARRAY[$$INSERT INTO t198.o1 (code) VALUES ('D-1')$$, 'SET CONSTRAINTS t198._900_birth_finalize IMMEDIATE', 'DROP TABLE t198.o1']),
          'committed', 'off: no birth, nothing to refuse');

-- report: recorded, one row per birth ------------------------------------------------------------
INSERT INTO snap VALUES ('r1', bgtest.package_counts());
SELECT is(bgtest.outcome(ARRAY[$$INSERT INTO t198.r1 (code) VALUES ('D-1')$$, $$INSERT INTO t198.r1 (code) VALUES ('D-2')$$,
                               'SET CONSTRAINTS t198._900_birth_finalize IMMEDIATE', 'DROP TABLE t198.r1'], true),
          'committed', 'report: the transaction commits');
SELECT is((SELECT count(*)::int FROM birthgate.birth_gate_violation WHERE collection_name = 'r1' AND kind = 'UNFINALIZED'
              AND detail ->> 'finding' = 'BORN_WITHOUT_OBJECT' AND detail ->> 'removed_by' = 'DROP TABLE' AND layer = 2), 2,
          'report: one BORN_WITHOUT_OBJECT violation per birth, removed_by DROP TABLE');
SELECT is((SELECT array_agg(entity_code ORDER BY entity_code) FROM birthgate.birth_gate_violation WHERE collection_name = 'r1'),
          ARRAY['D-1', 'D-2'], 'report: the violations name the codes');
SELECT is((SELECT DISTINCT table_name FROM birthgate.birth_gate_violation WHERE collection_name = 'r1'), 't198.r1',
          'report: and the table by its last name');
SELECT is((SELECT count(*)::int FROM birthgate.birth_registry WHERE collection_name = 'r1' AND status = 'BORN'), 2,
          'report: the births stay recorded (admitted, as report does)');
SELECT is((SELECT count(*)::int FROM birthgate.birth_admission_permit WHERE collection_name = 'r1' AND state = 'CONSUMED'), 2,
          'report: both permits consumed');

-- a rewrite that changes the codes counts no UPDATE: with the gates whose WHEN clauses name the code
-- column dropped by the owner, ALTER COLUMN ... TYPE ... USING rewrites the born object's code; the
-- commit check must not trust the statistics counters then (the table's pg_class row is this
-- transaction's) and probes the table
SELECT pg_temp.family('e8', 'enforce');
SELECT is(bgtest.outcome(ARRAY[$$INSERT INTO t198.e8 (code) VALUES ('D-1')$$, 'DROP TRIGGER _100_birth_gate ON t198.e8',
                               'DROP TRIGGER _120_birth_recode ON t198.e8', 'DROP TRIGGER _910_birth_finalize_recode ON t198.e8',
                               $$ALTER TABLE t198.e8 ALTER COLUMN code TYPE text USING 'D-9' || id$$]),
          'commit failed: BG157', 'enforce: a born object re-coded by a table rewrite (no UPDATE counted) is found at commit');
SELECT is(bgtest.outcome(ARRAY[$$INSERT INTO t198.e8 (code) VALUES ('D-1')$$, 'ALTER TABLE t198.e8 ADD COLUMN extra int DEFAULT 1',
                               'VACUUM FULL t198.e8']),
          'statements failed: 25001', 'setup check: VACUUM cannot run inside the transaction (the rewrite above is the case)');
SELECT is(bgtest.outcome(ARRAY[$$INSERT INTO t198.e8 (code) VALUES ('D-1')$$, 'ALTER TABLE t198.e8 ADD COLUMN extra int DEFAULT random()::int']),
          'committed', 'enforce: a rewrite that keeps every code commits (the probes find the object)');

-- every deferred check run early (SET CONSTRAINTS ALL IMMEDIATE), then the DROP: nothing is left
-- to judge at commit, as if the table were dropped in the next transaction; the drift monitor
-- reports the governed table gone
SELECT pg_temp.family('e7', 'enforce');
SELECT is(bgtest.outcome(ARRAY[$$INSERT INTO t198.e7 (code) VALUES ('D-1')$$, 'SET CONSTRAINTS ALL IMMEDIATE', 'SET CONSTRAINTS ALL DEFERRED', 'DROP TABLE t198.e7'], true),
          'committed', 'enforce: a DROP after every deferred check ran early commits (as a DROP in the next transaction would)');
SELECT is((SELECT severity || ' ' || kind FROM birthgate.v_drift_report WHERE detail ->> 'collection_name' = 'e7' AND kind = 'family_table_missing'),
          'critical family_table_missing', 'the drift report names the governed table that is gone');

-- a real COMMIT in another session -----------------------------------------------------------------
SELECT dblink_connect('s198', bgtest.connstr()) AS c \gset
SELECT dblink_exec('s198', $q$CREATE TABLE public.t198_real (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text NOT NULL UNIQUE)$q$) AS x \gset
SELECT x FROM dblink('s198', $q$SELECT birthgate.register_family('t198_real', 'public.t198_real', 'code', '^D-[0-9]+$', 'enforce')::text$q$) AS r (x text) \gset
SELECT x FROM dblink('s198', $q$SELECT birthgate.issue_permit('t198_real', 'D-1')::text$q$) AS r (x text) \gset
SELECT dblink_exec('s198', 'BEGIN') AS x \gset
SELECT dblink_exec('s198', $q$INSERT INTO public.t198_real (code) VALUES ('D-1')$q$) AS x \gset
SELECT dblink_exec('s198', 'DROP TABLE public.t198_real') AS x \gset
SELECT throws_like($$SELECT dblink_exec('s198', 'COMMIT')$$, '%commit refused: an object born in this transaction no longer exists at commit%', 'a real COMMIT of a birth whose table was dropped fails');
SELECT dblink_exec('s198', 'ROLLBACK') AS x \gset
SELECT is((SELECT x FROM dblink('s198', $q$SELECT format('%s %s %s', to_regclass('public.t198_real') IS NOT NULL,
                                                  (SELECT count(*) FROM birthgate.birth_registry WHERE collection_name = 't198_real'),
                                                  (SELECT state FROM birthgate.birth_admission_permit WHERE collection_name = 't198_real'))$q$) AS r (x text)),
          't 0 ISSUED', 'after the failed COMMIT: the table exists, no registry row, the permit still ISSUED');
-- clean up what the other session committed (its family, permit and table)
SELECT lives_ok($q$SELECT dblink_exec('s198', $c$
    BEGIN;
    SET LOCAL session_replication_role = replica;
    DELETE FROM birthgate.birth_admission_permit WHERE collection_name = 't198_real';
    DROP TABLE public.t198_real;
    DELETE FROM birthgate.birth_family WHERE collection_name = 't198_real';
    COMMIT;$c$)$q$, 'the other session''s family is removed');
SELECT dblink_disconnect('s198') AS x \gset

SELECT * FROM finish();
ROLLBACK;
