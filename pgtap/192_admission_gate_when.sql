-- 192 admission gate at CHECK cost (000006): _100_birth_gate carries the family code rules in its
-- WHEN clause, so a valid row calls no function; a row the gate might refuse still reaches
-- tg_birth_gate with the same early, precise errors (also for a row that then conflicts).
--   - the WHEN clause follows the family: set_family_code_limit and a new pattern re-attach the gate;
--     a pattern with quotes and backslashes deparses exactly as birth_gate_trigger_definitions
--     says (no drift finding, attaching again changes nothing)
--   - valid rows: no tg_birth_gate call (pg_stat_xact_user_functions), every row born
--   - NULL, empty, too long, pattern mismatch, kill switch set: refused by the gate (BG124, BG123,
--     BG152, BG126) before anything is written (pg_temp.counts() before/after), also on ON CONFLICT
--   - _120_birth_recode fires only for a changed code (its WHEN clause): an upsert setting the same
--     codes calls the writer once per statement, a real re-code is still born
--   - the statement marker is set by the WHEN clause: an insert under SET CONSTRAINTS ALL IMMEDIATE
--     works, and a varchar code column and a domain over text work the same way
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(36);

SET LOCAL track_functions = 'all';

CREATE FUNCTION pg_temp.counts() RETURNS text LANGUAGE sql AS $$
    SELECT format('registry=%s issued=%s consumed=%s changelog=%s violations=%s',
        (SELECT count(*) FROM birthgate.birth_registry),
        (SELECT count(*) FROM birthgate.birth_admission_permit WHERE state = 'ISSUED'),
        (SELECT count(*) FROM birthgate.birth_admission_permit WHERE state = 'CONSUMED'),
        (SELECT count(*) FROM birthgate.registry_changelog),
        (SELECT count(*) FROM birthgate.birth_gate_violation))
$$;
CREATE FUNCTION pg_temp.gate_calls() RETURNS bigint LANGUAGE sql AS $$
    SELECT COALESCE((SELECT calls FROM pg_stat_xact_user_functions WHERE schemaname = 'birthgate' AND funcname = 'tg_birth_gate'), 0)
$$;
CREATE FUNCTION pg_temp.writer_calls() RETURNS bigint LANGUAGE sql AS $$
    SELECT COALESCE((SELECT calls FROM pg_stat_xact_user_functions WHERE schemaname = 'birthgate' AND funcname = 'tg_birth_register'), 0)
$$;
CREATE FUNCTION pg_temp.gate_def(p_table regclass) RETURNS text LANGUAGE sql AS $$
    SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = p_table AND tgname = '_100_birth_gate'
$$;
CREATE FUNCTION pg_temp.drifted(p_collection text) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM birthgate.v_drift_trigger_state WHERE collection_name = p_collection AND (drifted OR NOT present)
$$;

CREATE ROLE bg192_user;
CREATE SCHEMA t192;
GRANT USAGE ON SCHEMA t192 TO bg192_user;
CREATE DOMAIN t192.code_text AS text;
CREATE TABLE t192.tools (id int PRIMARY KEY, code text, name text);
CREATE TABLE t192.parts (id int PRIMARY KEY, code varchar(40), name text);
CREATE TABLE t192.kits (id int PRIMARY KEY, code t192.code_text, name text);
GRANT SELECT, INSERT, UPDATE ON t192.tools TO bg192_user;
SELECT birthgate.register_family('gate192', 't192.tools', 'code', '^W-[0-9]+$', 'enforce');
SELECT birthgate.register_family('parts192', 't192.parts', 'code', '^P-[0-9]+$', 'enforce');
SELECT birthgate.register_family('kits192', 't192.kits', 'code', '^K-[0-9]+$', 'enforce');
SELECT count(birthgate.issue_permit('gate192', 'W-' || g)) FROM generate_series(1, 200) g;
SELECT birthgate.issue_permit('parts192', 'P-1'), birthgate.issue_permit('kits192', 'K-1');

-- the WHEN clause follows the family -------------------------------------------------------------
SELECT matches(pg_temp.gate_def('t192.tools'), ' FOR EACH ROW WHEN \(.*\(length\(new\.code\) > 256\).*!~ ''\^W-\[0-9\]\+\$''::text.* EXECUTE FUNCTION birthgate\.tg_birth_gate\(''gate192'', ''code''\)$',
               'the gate carries the family limit and pattern in its WHEN clause');
SELECT matches(pg_temp.gate_def('t192.parts'), 'length\(\(new\.code\)::text\) > 256', 'a varchar code column is read as text in the WHEN clause');
SELECT is(pg_temp.drifted('gate192') + pg_temp.drifted('parts192') + pg_temp.drifted('kits192'), 0::bigint,
          'the drift monitor expects exactly these definitions');
SELECT lives_ok($$SELECT birthgate.set_family_code_limit('gate192', 12)$$, 'set_family_code_limit lowers the limit');
SELECT matches(pg_temp.gate_def('t192.tools'), '\(length\(new\.code\) > 12\)', 'set_family_code_limit re-attaches the gate with the new limit');
SELECT is(pg_temp.drifted('gate192'), 0::bigint, '... and the monitor agrees');
SELECT lives_ok($$SELECT birthgate.register_family('gate192', 't192.tools', 'code', E'^W-[0-9]+(\\.[0-9]+)?(''x)?$', 'enforce')$$,
                'register_family with a pattern holding a backslash and a quote');
SELECT is(pg_temp.gate_def('t192.tools'),
          (SELECT definition FROM birthgate.birth_gate_trigger_definitions('gate192', 't192.tools', 'code') WHERE trigger_name = '_100_birth_gate'),
          'the new pattern is in the WHEN clause exactly as birth_gate_trigger_definitions prints it');
SELECT is(birthgate.birth_family_attach_gates('gate192'), false, 'attaching again changes nothing (idempotent)');
SELECT is(pg_temp.drifted('gate192'), 0::bigint, 'no drift finding for the quoted pattern');
SELECT is((SELECT count(*) FROM regexp_matches('W-7.5', (SELECT code_pattern FROM birthgate.birth_family WHERE collection_name = 'gate192'))),
          1::bigint, 'the stored pattern still means what it says (a backslash-escaped dot)');

-- valid rows call no function (since 000011 the first row of each statement calls it once, to arm
-- the statement: see tg_birth_gate) ----------------------------------------------------------------
CREATE TEMP TABLE calls0 AS SELECT pg_temp.gate_calls() AS n;
SELECT lives_ok($$INSERT INTO t192.tools (id, code, name) SELECT g, 'W-' || g, 'tool' FROM generate_series(1, 100) g$$,
                'a 100-row INSERT ... SELECT of permitted codes is admitted');
SELECT is(pg_temp.gate_calls() - (SELECT n FROM calls0), 1::bigint, 'valid rows after the first never call tg_birth_gate (the WHEN clause is false for them)');
SELECT is((SELECT count(*) FROM birthgate.birth_registry WHERE collection_name = 'gate192'), 100::bigint, 'and all 100 rows are born');
SELECT lives_ok($$INSERT INTO t192.tools (id, code, name) VALUES (1, 'W-1', 'renamed') ON CONFLICT (id) DO UPDATE SET code = EXCLUDED.code, name = EXCLUDED.name$$,
                'an upsert that sets the same code works');
SELECT is(pg_temp.gate_calls() - (SELECT n FROM calls0), 2::bigint, '... calling tg_birth_gate once, for the statement');
SELECT matches((SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 't192.tools'::regclass AND tgname = '_120_birth_recode'),
               'FOR EACH ROW WHEN \(\(\(old\.code COLLATE "default"\) IS DISTINCT FROM \(new\.code COLLATE "default"\)\)\) EXECUTE FUNCTION',
               'the re-code trigger fires only for a changed code (its WHEN clause)');
CREATE TEMP TABLE wcalls0 AS SELECT pg_temp.writer_calls() AS n;
SELECT lives_ok($$INSERT INTO t192.tools (id, code, name) SELECT g, 'W-' || g, 'again' FROM generate_series(1, 50) g
                  ON CONFLICT (id) DO UPDATE SET code = EXCLUDED.code, name = EXCLUDED.name$$,
                'a 50-row upsert setting the same codes works');
SELECT is(pg_temp.writer_calls() - (SELECT n FROM wcalls0), 1::bigint,
          '... and calls the writer once (the statement trigger), not once per updated row');

-- rows the gate might refuse still reach it --------------------------------------------------------
CREATE TEMP TABLE before1 AS SELECT pg_temp.counts() AS c;
SELECT throws_ok($$INSERT INTO t192.tools (id, code) VALUES (500, 'X-1')$$, 'BG123', NULL, 'pattern mismatch: BG123 from the gate');
SELECT throws_ok($$INSERT INTO t192.tools (id, code) VALUES (500, NULL)$$, 'BG124', NULL, 'NULL code: BG124 from the gate');
SELECT throws_ok($$INSERT INTO t192.tools (id, code) VALUES (500, '')$$, 'BG124', NULL, 'empty code: BG124 from the gate');
SELECT throws_ok($$INSERT INTO t192.tools (id, code) VALUES (500, 'W-1234567890123')$$, 'BG152', NULL, 'a code over the limit (12): BG152 from the gate');
SELECT throws_ok($$INSERT INTO t192.tools (id, code) SELECT g, CASE WHEN g = 150 THEN 'bad' ELSE 'W-' || g END FROM generate_series(101, 200) g$$,
                 'BG123', NULL, 'one bad row among 100 refuses the whole statement');
SELECT throws_ok($$INSERT INTO t192.tools (id, code) VALUES (1, 'nope') ON CONFLICT (id) DO NOTHING$$, 'BG123', NULL,
                 'like a CHECK, a bad code is refused even when the row then conflicts');
SELECT is(pg_temp.counts(), (SELECT c FROM before1), 'the refusals wrote nothing');
SET ROLE bg192_user;
SET birthgate.bypass_gate = on;
SELECT throws_ok($$INSERT INTO t192.tools (id, code) VALUES (501, 'W-101')$$, 'BG126', NULL,
                 'the kill switch set by a role outside birthgate_admin: BG126 even for a valid code');
RESET birthgate.bypass_gate;
SELECT lives_ok($$INSERT INTO t192.tools (id, code) VALUES (501, 'W-101')$$, 'after RESET the same row is admitted');
RESET ROLE;
SELECT is((SELECT status FROM birthgate.birth_registry WHERE collection_name = 'gate192' AND entity_code = 'W-101'), 'BORN', '... and born');

-- the statement marker comes from the WHEN clause --------------------------------------------------
SET CONSTRAINTS ALL IMMEDIATE;
SELECT lives_ok($$INSERT INTO t192.tools (id, code) VALUES (502, 'W-102'), (503, 'W-103')$$,
                'under SET CONSTRAINTS ALL IMMEDIATE a valid insert is admitted (layer 2 waits for the writer)');
SELECT lives_ok($$INSERT INTO t192.parts (id, code) VALUES (1, 'P-1')$$, 'a varchar code column: admitted');
SELECT lives_ok($$INSERT INTO t192.kits (id, code) VALUES (1, 'K-1')$$, 'a domain over text: admitted');
SELECT throws_ok($$INSERT INTO t192.kits (id, code) VALUES (2, 'K-2')$$, 'BG120', NULL, 'a domain code without a permit: BG120 from the writer');
SET CONSTRAINTS ALL DEFERRED;
SELECT is((SELECT count(*) FROM birthgate.birth_registry WHERE collection_name IN ('parts192', 'kits192') AND permit_id IS NOT NULL),
          2::bigint, 'the varchar and the domain codes were born from their permits');

SELECT lives_ok($$UPDATE t192.tools SET code = 'W-104' WHERE id = 501$$, 'a real re-code to a permitted code is admitted (layer 2, deferred, would ask at commit for the old code born in this transaction)');
SELECT is((SELECT count(*) FROM birthgate.birth_registry WHERE collection_name = 'gate192' AND entity_code = 'W-104' AND permit_id IS NOT NULL),
          1::bigint, '... and the new code is born from its permit (the re-code trigger fired)');

SELECT * FROM finish();
ROLLBACK;
