-- 197 admission: a re-code made by another trigger, and TRUNCATE (000006).
--   1. a BEFORE UPDATE trigger of the application/owner that sets the code during an UPDATE of another
--      column goes through the re-code writer (_120_birth_recode) and layer 2 (_910_birth_finalize_recode):
--      both fire on every UPDATE whose final row has another code (WHEN on OLD/NEW), not only for
--      UPDATE OF code
--   2. an UPDATE that does not change the code fires neither (no function call, no deferred event)
--   3. TRUNCATE of a table holding an object born in this transaction: enforce refuses (BG162), report
--      records BORN_WITHOUT_OBJECT; objects born earlier may be truncated (they become phantoms)
-- Every refusal leaves every package table as it was (bgtest.package_counts() before/after).
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(23);
CREATE TEMP TABLE snap (label text PRIMARY KEY, v text);

CREATE SCHEMA t197;
CREATE TABLE t197.a (id int PRIMARY KEY, code text, name text);
CREATE FUNCTION t197.tg_norm() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.name LIKE 'recode %' THEN NEW.code := substr(NEW.name, 8); END IF; RETURN NEW; END $$;
-- sorts after _100_birth_gate and before _120_birth_recode: layer 1's BEFORE check never sees its change
CREATE TRIGGER _150_app_upd BEFORE UPDATE ON t197.a FOR EACH ROW EXECUTE FUNCTION t197.tg_norm();
SELECT birthgate.register_family('f197', 't197.a', 'code', '^A-[0-9]+$', 'enforce');
SELECT birthgate.issue_permit('f197', 'A-1');
INSERT INTO t197.a VALUES (1, 'A-1', 'born');
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;

-- structure ------------------------------------------------------------------------------------
SELECT set_eq($$SELECT tgname::text FROM pg_trigger WHERE tgrelid = 't197.a'::regclass AND NOT tgisinternal AND tgname LIKE '\_%'$$,
              ARRAY['_100_birth_gate', '_110_birth_register', '_120_birth_recode', '_130_birth_truncate', '_150_app_upd', '_900_birth_finalize', '_905_birth_finalize_delete', '_910_birth_finalize_recode'],
              'register_family attaches seven gate triggers (the application trigger is its own)');
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_trigger_state WHERE collection_name = 'f197' AND state = 'ok'), 7,
          'the drift monitor expects the seven and finds them ok');
SELECT is((SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 't197.a'::regclass AND tgname = '_120_birth_recode'),
          'CREATE TRIGGER _120_birth_recode AFTER UPDATE ON t197.a FOR EACH ROW WHEN (((old.code COLLATE "default") IS DISTINCT FROM (new.code COLLATE "default"))) EXECUTE FUNCTION birthgate.tg_birth_register(''f197'', ''code'')',
          '_120_birth_recode fires on every UPDATE whose final row has another code');
SELECT is((SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 't197.a'::regclass AND tgname = '_910_birth_finalize_recode'),
          'CREATE CONSTRAINT TRIGGER _910_birth_finalize_recode AFTER UPDATE ON t197.a DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (((old.code COLLATE "default") IS DISTINCT FROM (new.code COLLATE "default"))) EXECUTE FUNCTION birthgate.tg_birth_finalize(''f197'', ''code'')',
          'layer 2 for a re-code is a deferred constraint trigger with the same WHEN');
SELECT is((SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 't197.a'::regclass AND tgname = '_900_birth_finalize'),
          'CREATE CONSTRAINT TRIGGER _900_birth_finalize AFTER INSERT ON t197.a DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ((current_setting(''birthgate.gate_armed''::text, true) IS DISTINCT FROM ((statement_timestamp())::text || '' f197''::text))) EXECUTE FUNCTION birthgate.tg_birth_finalize(''f197'', ''code'')',
          'layer 2 for INSERT and DELETE');
SELECT is((SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 't197.a'::regclass AND tgname = '_130_birth_truncate'),
          'CREATE TRIGGER _130_birth_truncate BEFORE TRUNCATE ON t197.a FOR EACH STATEMENT EXECUTE FUNCTION birthgate.tg_birth_finalize(''f197'', ''code'')',
          'TRUNCATE is watched by layer 2');

-- 1. re-code by another trigger -------------------------------------------------------------------
INSERT INTO snap VALUES ('f3', bgtest.package_counts());
SELECT throws_ok($$UPDATE t197.a SET name = 'recode A-777' WHERE id = 1$$, 'BG120', NULL,
                 'enforce: a re-code to a code without a permit is refused, whoever set the code (no permit for A-777)');
SELECT is((SELECT code FROM t197.a WHERE id = 1), 'A-1', 'the object keeps its born code');
SELECT is(bgtest.package_counts(), (SELECT v FROM snap WHERE label = 'f3'), 'nothing changed');
SELECT throws_ok($$UPDATE t197.a SET name = 'recode ' WHERE id = 1$$, 'BG124', NULL,
                 'enforce: a trigger emptying the code is refused too');
UPDATE t197.a SET name = 'plain' WHERE id = 1;
SELECT lives_ok('SET CONSTRAINTS ALL IMMEDIATE', 'an UPDATE that keeps the code queues nothing for layer 2');
SET CONSTRAINTS ALL DEFERRED;
SELECT birthgate.issue_permit('f197', 'A-2');
UPDATE t197.a SET name = 'recode A-2' WHERE id = 1;
SELECT is((SELECT status FROM birthgate.birth_registry WHERE collection_name = 'f197' AND entity_code = 'A-2'), 'BORN',
          'a re-code with a permit, made by a trigger, births the new code');
SELECT throws_ok('SET CONSTRAINTS ALL IMMEDIATE', 'BG157', NULL,
                 'layer 2 sees the re-code: A-1, born in this transaction, no longer has an object (BG157)');
SET CONSTRAINTS ALL DEFERRED;

-- report mode: the same re-code is recorded
SELECT birthgate.set_family_mode('f197', 'report');
UPDATE t197.a SET name = 'recode A-555' WHERE id = 1;
SELECT is((SELECT array_agg(kind ORDER BY kind) FROM birthgate.birth_gate_violation WHERE collection_name = 'f197' AND entity_code = 'A-555' AND layer = 1),
          ARRAY['NO_PERMIT'], 'report: a trigger-made re-code without a permit is recorded by layer 1');
SELECT lives_ok('SET CONSTRAINTS ALL IMMEDIATE', 'report: layer 2 records instead of refusing');
SET CONSTRAINTS ALL DEFERRED;
SELECT ok(EXISTS (SELECT 1 FROM birthgate.birth_gate_violation WHERE collection_name = 'f197' AND entity_code = 'A-2'
                   AND detail ->> 'finding' = 'BORN_WITHOUT_OBJECT' AND detail ->> 'removed_by' = 'UPDATE'),
          'report: the old code born in this transaction is recorded as BORN_WITHOUT_OBJECT');

-- 3. TRUNCATE -----------------------------------------------------------------------------------
CREATE TABLE t197.b (id int PRIMARY KEY, code text);
SELECT birthgate.register_family('g197', 't197.b', 'code', '^B-[0-9]+$', 'enforce');
SELECT birthgate.issue_permit('g197', 'B-1');
INSERT INTO t197.b VALUES (1, 'B-1');
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
INSERT INTO snap VALUES ('f4', bgtest.package_counts());
SELECT throws_ok('TRUNCATE t197.b', 'BG162', NULL,
                 'enforce: TRUNCATE of a table holding an object born in this transaction is refused');
SELECT is((SELECT count(*)::int FROM t197.b), 1, 'the row is still there');
SELECT is(bgtest.package_counts(), (SELECT v FROM snap WHERE label = 'f4'), 'nothing changed');
SET LOCAL birthgate.bypass_gate = on;
SELECT lives_ok('TRUNCATE t197.b', 'an authorised bypass (a superuser is a member of the admin role) may truncate');
SELECT ok(EXISTS (SELECT 1 FROM birthgate.birth_gate_violation WHERE collection_name = 'g197' AND entity_code = 'B-1'
                   AND detail ->> 'removed_by' = 'TRUNCATE' AND (detail ->> 'bypass')::boolean),
          '... and it is recorded');
RESET birthgate.bypass_gate;
SELECT birthgate.set_family_mode('g197', 'report');
SELECT birthgate.issue_permit('g197', 'B-2');
INSERT INTO t197.b VALUES (2, 'B-2');
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
SELECT lives_ok('TRUNCATE t197.b', 'report: TRUNCATE goes through');
SELECT ok(EXISTS (SELECT 1 FROM birthgate.birth_gate_violation WHERE collection_name = 'g197' AND entity_code = 'B-2'
                   AND kind = 'UNFINALIZED' AND layer = 2 AND detail ->> 'finding' = 'BORN_WITHOUT_OBJECT' AND detail ->> 'removed_by' = 'TRUNCATE'),
          'report: the truncated birth is recorded as BORN_WITHOUT_OBJECT');

SELECT * FROM finish();
ROLLBACK;
