-- 493 adversarial review (0.4.2): ordinary maintenance and odd-but-legal writes inside a birth's
-- transaction, by the owner of a governed table (no package role) and by an application (table
-- privileges only), in enforce. The deferred checks are run with SET CONSTRAINTS ALL IMMEDIATE.
--   (a) maintenance after a birth where every object is still there commits (no false refusal):
--       REINDEX TABLE, CLUSTER, SET UNLOGGED / SET LOGGED (a rewrite), SET TABLESPACE, OWNER TO
--       another role and back, REVOKE / GRANT on the table, ALTER DOMAIN of the code column's domain
--       (ADD / DROP CONSTRAINT, SET DEFAULT, RENAME), TRUNCATE of another table;
--   (b) TRUNCATE ... RESTART IDENTITY of the family table, and TRUNCATE of a table it references
--       with CASCADE (which truncates the family table too), after a birth: BG162, nothing changed;
--   (c) writes in one statement: a data-modifying CTE that DELETEs one object and INSERTs another,
--       a CTE that INSERTs one and re-codes another, INSERT ... SELECT of the table into itself
--       (every copied code is a duplicate: BG125, nothing changed), UPDATE ... FROM matching a row
--       twice (one re-code, one birth, the other permit untouched), an application AFTER INSERT
--       trigger that inserts a second family row (one birth each).
-- After each legitimate step the invariant holds: every row has one BORN registry row, every BORN
-- registry row born here has its row.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(27);
CREATE TEMP TABLE snap (label text PRIMARY KEY, v text);

CREATE ROLE bg493_owner;
CREATE ROLE bg493_owner2;
CREATE ROLE bg493_app;
GRANT bg493_owner2 TO bg493_owner;
CREATE SCHEMA t493 AUTHORIZATION bg493_owner;
GRANT USAGE, CREATE ON SCHEMA t493 TO bg493_owner2;
GRANT USAGE ON SCHEMA t493 TO bg493_app;
SET ROLE bg493_owner;
CREATE DOMAIN t493.code_d AS text CHECK (VALUE <> 'forbidden');
CREATE TABLE t493.parent (id int PRIMARY KEY);
INSERT INTO t493.parent VALUES (1);
CREATE TABLE t493.m (id serial PRIMARY KEY, code t493.code_d NOT NULL, name text, parent_id int REFERENCES t493.parent (id));
CREATE TABLE t493.other (id int);
CREATE TABLE t493.src (k int, code text);
GRANT SELECT, INSERT, UPDATE, DELETE ON t493.m, t493.src TO bg493_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA t493 TO bg493_app;
CREATE TABLE t493.n (id serial PRIMARY KEY, code text NOT NULL);
GRANT SELECT, INSERT, UPDATE, DELETE ON t493.n TO bg493_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA t493 TO bg493_app;
-- an application trigger: a row named 'twin:<code>' brings a second row with that code
CREATE FUNCTION t493.tg_twin() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.name LIKE 'twin:%' THEN INSERT INTO t493.m (code, name) VALUES (substr(NEW.name, 6), 'twin'); END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER app_twin AFTER INSERT ON t493.m FOR EACH ROW EXECUTE FUNCTION t493.tg_twin();
RESET ROLE;
SELECT birthgate.register_family('f493', 't493.m', 'code', '^M-[0-9]+$', 'enforce');
SELECT birthgate.register_family('g493', 't493.n', 'code', '^N-[0-9]+$', 'enforce');
SELECT count(*) FROM (SELECT birthgate.issue_permit('f493', 'M-' || g) FROM generate_series(1, 60) AS g) AS s;
SELECT count(*) FROM (SELECT birthgate.issue_permit('g493', 'N-' || g) FROM generate_series(1, 10) AS g) AS s;

-- the invariant: '' when it holds, else what is wrong
CREATE FUNCTION pg_temp.mismatch() RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(string_agg(m, '; ' ORDER BY m), '') FROM (
    SELECT 'object without birth: ' || x.code AS m FROM t493.m x
     WHERE NOT EXISTS (SELECT 1 FROM birthgate.birth_registry r WHERE r.collection_name = 'f493' AND r.status = 'BORN' AND r.entity_code = x.code::text)
    UNION ALL
    SELECT 'born without object: ' || r.entity_code FROM birthgate.birth_registry r
     WHERE r.collection_name = 'f493' AND r.status = 'BORN' AND NOT EXISTS (SELECT 1 FROM t493.m x WHERE x.code::text = r.entity_code)
  ) AS s $$;

-- (a) maintenance after a birth --------------------------------------------------------------------
SET ROLE bg493_app;
INSERT INTO t493.m (code, parent_id) VALUES ('M-1', 1), ('M-2', 1);
INSERT INTO t493.m (code) VALUES ('M-3');
SET ROLE bg493_owner;
REINDEX TABLE t493.m;
CLUSTER t493.m USING m_pkey;
SELECT lives_ok('SET CONSTRAINTS ALL IMMEDIATE', 'REINDEX and CLUSTER after births: the commit checks pass');
SET CONSTRAINTS ALL DEFERRED;
SET ROLE bg493_app;
INSERT INTO t493.m (code) VALUES ('M-4');
SET ROLE bg493_owner;
ALTER TABLE t493.m DROP CONSTRAINT m_parent_id_fkey;
ALTER TABLE t493.m SET UNLOGGED;
SELECT lives_ok('SET CONSTRAINTS ALL IMMEDIATE', 'SET UNLOGGED (a rewrite) after a birth: the commit checks pass');
SET CONSTRAINTS ALL DEFERRED;
ALTER TABLE t493.m SET LOGGED;
ALTER TABLE t493.m ADD CONSTRAINT m_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES t493.parent (id);
ALTER TABLE t493.m SET TABLESPACE pg_default;
SELECT lives_ok('SET CONSTRAINTS ALL IMMEDIATE', 'SET LOGGED and SET TABLESPACE after a birth: the commit checks pass');
SET CONSTRAINTS ALL DEFERRED;
SET ROLE bg493_app;
INSERT INTO t493.m (code) VALUES ('M-5');
SET ROLE bg493_owner;
ALTER TABLE t493.m OWNER TO bg493_owner2;
SELECT lives_ok('SET CONSTRAINTS ALL IMMEDIATE', 'OWNER TO another role after a birth: the commit checks pass');
SET CONSTRAINTS ALL DEFERRED;
ALTER TABLE t493.m OWNER TO bg493_owner;
REVOKE ALL ON t493.m FROM bg493_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON t493.m TO bg493_app;
SET ROLE bg493_app;
INSERT INTO t493.m (code) VALUES ('M-6');
SET ROLE bg493_owner;
ALTER DOMAIN t493.code_d ADD CONSTRAINT code_d_more CHECK (VALUE <> 'also forbidden');
ALTER DOMAIN t493.code_d DROP CONSTRAINT code_d_more;
ALTER DOMAIN t493.code_d SET DEFAULT 'M-0';
ALTER DOMAIN t493.code_d RENAME TO code_e;
TRUNCATE t493.other;
SELECT lives_ok('SET CONSTRAINTS ALL IMMEDIATE', 'REVOKE/GRANT, ALTER DOMAIN of the code column''s domain and TRUNCATE of another table after a birth: the commit checks pass');
SET CONSTRAINTS ALL DEFERRED;
RESET ROLE;
SELECT is(pg_temp.mismatch(), '', 'after the maintenance: every object born, every birth has its object');
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_trigger_state WHERE collection_name = 'f493' AND state = 'ok'), 7,
          'the seven gates are still there and ok after the maintenance');
SELECT is((SELECT tgenabled::text FROM pg_trigger WHERE tgrelid = 't493.m'::regclass AND tgname = '_110_birth_register'), 'O',
          'the writer is still enabled (origin)');
SET ROLE bg493_app;
SELECT throws_ok($$INSERT INTO t493.m (code) VALUES ('M-999')$$, 'BG120', NULL,
                 'the gates still refuse a code without a permit after the maintenance');
RESET ROLE;

-- (b) TRUNCATE of the family table ---------------------------------------------------------------------
INSERT INTO snap VALUES ('b', bgtest.package_counts());
SET client_min_messages = warning;  -- the CASCADE NOTICE
SET ROLE bg493_owner;
SELECT throws_ok('TRUNCATE t493.m RESTART IDENTITY', 'BG162', NULL,
                 'TRUNCATE ... RESTART IDENTITY of a table holding objects born in this transaction: BG162');
SELECT throws_ok('TRUNCATE t493.parent CASCADE', 'BG162', NULL,
                 'TRUNCATE of a table the family table references, CASCADE (truncates the family table): BG162');
RESET ROLE;
SELECT is(bgtest.package_counts(), (SELECT v FROM snap WHERE label = 'b'), 'the refused TRUNCATEs changed nothing');
SELECT is((SELECT count(*)::int FROM t493.m), 6, 'the family table still holds its six objects');

-- (c) odd-but-legal writes ------------------------------------------------------------------------------
SET ROLE bg493_app;
WITH d AS (DELETE FROM t493.m WHERE code::text = 'M-1' RETURNING id)
INSERT INTO t493.m (code) SELECT 'M-7' FROM d;
SELECT is((SELECT array_agg(code::text ORDER BY code) FROM t493.m WHERE code::text IN ('M-1', 'M-7')),
          ARRAY['M-7'], 'a CTE that deletes one object and inserts another in one statement');
SELECT throws_ok('SET CONSTRAINTS ALL IMMEDIATE', 'BG157', NULL,
                 'the object M-1, born in this transaction, is gone: BG157 at the commit checks');
SET CONSTRAINTS ALL DEFERRED;
RESET ROLE;
SELECT birthgate.retire('f493', 'M-1', 'deleted by the application (test 493)');
SELECT lives_ok('SET CONSTRAINTS ALL IMMEDIATE', 'retired before commit: the commit checks pass');
SET CONSTRAINTS ALL DEFERRED;
SET ROLE bg493_app;
WITH i AS (INSERT INTO t493.m (code) VALUES ('M-8') RETURNING id)
UPDATE t493.m SET code = 'M-9' WHERE code::text = 'M-7';
SELECT is((SELECT array_agg(code::text ORDER BY code) FROM t493.m WHERE code::text IN ('M-7', 'M-8', 'M-9')),
          ARRAY['M-8', 'M-9'], 'a CTE that inserts one object and re-codes another');
RESET ROLE;
SELECT birthgate.retire('f493', 'M-7', 're-coded to M-9 (test 493)');
SELECT lives_ok('SET CONSTRAINTS ALL IMMEDIATE', 'the re-coded birth retired: the commit checks pass');
SET CONSTRAINTS ALL DEFERRED;
SELECT is(pg_temp.mismatch(), '', 'after the CTEs: every object born, every birth has its object');

INSERT INTO snap VALUES ('c', bgtest.package_counts());
SET ROLE bg493_app;
SELECT throws_ok('INSERT INTO t493.m (code, name) SELECT code, ''copy'' FROM t493.m', 'BG125', NULL,
                 'INSERT ... SELECT of the family table into itself: every code is a duplicate, BG125');
RESET ROLE;
SELECT is(bgtest.package_counts(), (SELECT v FROM snap WHERE label = 'c'), 'the refused self-copy changed nothing');
SELECT is((SELECT count(*)::int FROM t493.m WHERE name = 'copy'), 0, 'no copied row is left');

SET ROLE bg493_app;
INSERT INTO t493.src VALUES (1, 'M-10'), (1, 'M-11');
UPDATE t493.m SET code = s.code FROM t493.src AS s WHERE t493.m.code::text = 'M-9' AND s.k = 1;
RESET ROLE;
SELECT is((SELECT count(*)::int FROM t493.m WHERE code::text IN ('M-10', 'M-11')), 1,
          'UPDATE ... FROM matching the row twice re-codes it once');
SELECT is((SELECT count(*)::int FROM birthgate.birth_admission_permit WHERE collection_name = 'f493' AND entity_code IN ('M-10', 'M-11') AND state = 'CONSUMED'), 1,
          'exactly one of the two permits is consumed');
SELECT birthgate.retire('f493', 'M-9', 're-coded (test 493)');
SET ROLE bg493_app;
INSERT INTO t493.m (code, name) VALUES ('M-20', 'twin:M-21');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM birthgate.registry_changelog WHERE collection_name = 'f493' AND entity_code IN ('M-20', 'M-21') AND op = 'BORN'), 2,
          'an application trigger inserting a second row: one BORN changelog row each');
SELECT lives_ok('SET CONSTRAINTS ALL IMMEDIATE', 'the nested birth passes the commit checks');
SET CONSTRAINTS ALL DEFERRED;
SELECT is(pg_temp.mismatch(), '', 'at the end: every object born, every birth has its object');

SELECT * FROM finish();
ROLLBACK;
