-- 190 admission statement gate (000006): the four 0.1.0 defects, reproduced, and the upsert matrix.
--   1. ON CONFLICT rows that were not inserted consume nothing and birth nothing
--   2. ordinary upserts (DO UPDATE, same code) work in enforce and record nothing in report
--   3. a permit issued (or revoked) after the writing transaction began is usable (dblink session)
--   4. register_family cannot move a collection silently; move_family is explicit and recorded
-- plus: code length limit, TTL overflow, NULL code column, the ON CONFLICT matrix in off/report/
-- enforce, multi-row statements mixing inserted and conflicting rows. Every refusal leaves every
-- package table as it was (pg_temp.counts() before/after).
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(73);

CREATE FUNCTION pg_temp.counts() RETURNS text LANGUAGE sql AS $$
    SELECT format('family=%s registry=%s issued=%s consumed=%s revoked=%s changelog=%s violations=%s moves=%s',
        (SELECT count(*) FROM birthgate.birth_family),
        (SELECT count(*) FROM birthgate.birth_registry),
        (SELECT count(*) FROM birthgate.birth_admission_permit WHERE state = 'ISSUED'),
        (SELECT count(*) FROM birthgate.birth_admission_permit WHERE state = 'CONSUMED'),
        (SELECT count(*) FROM birthgate.birth_admission_permit WHERE state = 'REVOKED'),
        (SELECT count(*) FROM birthgate.registry_changelog),
        (SELECT count(*) FROM birthgate.birth_gate_violation),
        (SELECT count(*) FROM birthgate.birth_family_move))
$$;
CREATE FUNCTION pg_temp.born(p_code text) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM birthgate.registry_changelog WHERE op = 'BORN' AND collection_name = 'gate190' AND entity_code = p_code
$$;

CREATE SCHEMA t190;
CREATE TABLE t190.tools (id int PRIMARY KEY, code text UNIQUE, name text);
CREATE TABLE t190.other (id int PRIMARY KEY, code text, name text);
SELECT birthgate.register_family('gate190', 't190.tools', 'code', '^T-[0-9]+$', 'enforce');

-- structure -----------------------------------------------------------------------------------
SELECT has_function('birthgate', 'tg_birth_register', ARRAY[]::text[], 'tg_birth_register() exists');
SELECT has_function('birthgate', 'move_family', ARRAY['text', 'regclass', 'text'], 'move_family(text, regclass, text) exists');
SELECT has_function('birthgate', 'set_family_code_limit', ARRAY['text', 'integer'], 'set_family_code_limit(text, integer) exists');
SELECT has_function('birthgate', 'register_family', ARRAY['text', 'regclass', 'name', 'text', 'text', 'integer'], 'register_family with a code length limit exists');
SELECT has_column('birthgate', 'birth_family', 'code_max_length', 'birth_family has code_max_length');
SELECT has_table('birthgate', 'birth_family_move', 'birth_family_move exists');
SELECT set_eq($$SELECT tgname::text FROM pg_trigger WHERE tgrelid = 't190.tools'::regclass AND NOT tgisinternal$$,
              ARRAY['_100_birth_gate', '_110_birth_register', '_120_birth_recode', '_130_birth_truncate', '_900_birth_finalize', '_905_birth_finalize_delete', '_910_birth_finalize_recode'],
              'register_family attaches the seven gate triggers');
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_trigger_state WHERE collection_name = 'gate190' AND state = 'ok'), 7,
          'the drift monitor expects exactly these seven and finds them ok');
SELECT is((SELECT code_max_length FROM birthgate.birth_family WHERE collection_name = 'gate190'), 256, 'the default code length limit is 256');

-- a born object to upsert against
SELECT birthgate.issue_permit('gate190', 'T-1');
INSERT INTO t190.tools VALUES (1, 'T-1', 'hammer');
SELECT is(pg_temp.born('T-1'), 1::bigint, 'plain INSERT with a permit: one BORN changelog row');

-- defect 1: ON CONFLICT DO NOTHING consumes nothing ------------------------------------------
SELECT birthgate.issue_permit('gate190', 'T-2');
CREATE TEMP TABLE before1 AS SELECT pg_temp.counts() AS c;
INSERT INTO t190.tools VALUES (1, 'T-2', 'not inserted') ON CONFLICT (id) DO NOTHING;
SELECT is(pg_temp.counts(), (SELECT c FROM before1), 'defect 1: ON CONFLICT DO NOTHING on an existing row writes no package row');
SELECT is((SELECT state FROM birthgate.birth_admission_permit WHERE entity_code = 'T-2'), 'ISSUED', 'defect 1: the permit of the row that was not inserted stays ISSUED');
SELECT is(pg_temp.born('T-2'), 0::bigint, 'defect 1: no BORN changelog row (so no handoff event) for a row that was not inserted');
INSERT INTO t190.tools VALUES (1, 'T-2', 'not inserted') ON CONFLICT (id) DO UPDATE SET name = 'hammer 2';
SELECT is(pg_temp.counts(), (SELECT c FROM before1), 'defect 1: ON CONFLICT DO UPDATE (code unchanged) writes no package row');
SELECT is((SELECT name FROM t190.tools WHERE id = 1), 'hammer 2', 'defect 2: the upsert updated the row (enforce)');

-- defect 2: upserts in enforce / report -----------------------------------------------------
SELECT lives_ok($$INSERT INTO t190.tools VALUES (1, 'T-1', 'hammer 3') ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name$$,
                'defect 2: INSERT ... ON CONFLICT DO UPDATE of an existing object (same code) works in enforce');
SELECT lives_ok($$INSERT INTO t190.tools VALUES (1, 'T-1', 'hammer 4') ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name$$,
                'defect 2: ... and with the conflict on the code itself');
SELECT birthgate.set_family_mode('gate190', 'report');
CREATE TEMP TABLE before2 AS SELECT pg_temp.counts() AS c;
INSERT INTO t190.tools VALUES (1, 'T-1', 'hammer 5') ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name;
SELECT is(pg_temp.counts(), (SELECT c FROM before2), 'defect 2: in report the upsert records no spurious violation');
SELECT birthgate.set_family_mode('gate190', 'off');
INSERT INTO t190.tools VALUES (1, 'T-1', 'hammer 6') ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name;
SELECT is(pg_temp.counts(), (SELECT c FROM before2), 'off: the upsert writes nothing');
SELECT birthgate.set_family_mode('gate190', 'enforce');

-- DO UPDATE that changes the code: a re-code -------------------------------------------------
CREATE TEMP TABLE before3 AS SELECT pg_temp.counts() AS c;
SELECT throws_ok($$INSERT INTO t190.tools VALUES (1, 'T-3', 'x') ON CONFLICT (id) DO UPDATE SET code = EXCLUDED.code$$,
                 'BG120', NULL, 'DO UPDATE to a code without a permit: BG120 in enforce');
SELECT is(pg_temp.counts(), (SELECT c FROM before3), '... and nothing is written');
SELECT birthgate.issue_permit('gate190', 'T-3');
SELECT lives_ok($$INSERT INTO t190.tools VALUES (1, 'T-3', 'x') ON CONFLICT (id) DO UPDATE SET code = EXCLUDED.code$$,
                'DO UPDATE to a code with a live permit: a re-code, born');
SELECT is(pg_temp.born('T-3'), 1::bigint, '... exactly one BORN row for the new code');
SELECT is((SELECT state FROM birthgate.birth_admission_permit WHERE entity_code = 'T-3'), 'CONSUMED', '... its permit is consumed');
SELECT birthgate.set_family_mode('gate190', 'report');
CREATE TEMP TABLE before4 AS SELECT pg_temp.counts() AS c;
INSERT INTO t190.tools VALUES (1, 'T-4', 'x') ON CONFLICT (id) DO UPDATE SET code = EXCLUDED.code;
SELECT is(pg_temp.born('T-4'), 1::bigint, 'report: DO UPDATE to a code without a permit is admitted and born');
SELECT is((SELECT kind FROM birthgate.birth_gate_violation WHERE entity_code = 'T-4'), 'NO_PERMIT', '... and recorded as NO_PERMIT');
SELECT is((SELECT operation FROM birthgate.birth_gate_violation WHERE entity_code = 'T-4'), 'UPDATE', '... as an UPDATE');
SELECT birthgate.set_family_mode('gate190', 'off');
INSERT INTO t190.tools VALUES (1, 'T-5', 'x') ON CONFLICT (id) DO UPDATE SET code = EXCLUDED.code;
SELECT is(pg_temp.born('T-5'), 0::bigint, 'off: a re-code writes nothing');
SELECT birthgate.set_family_mode('gate190', 'enforce');

-- multi-row: inserted and conflicting rows in one statement ----------------------------------
SELECT birthgate.issue_permit('gate190', 'T-10');
SELECT birthgate.issue_permit('gate190', 'T-11');
SELECT birthgate.issue_permit('gate190', 'T-12');
CREATE TEMP TABLE before5 AS SELECT pg_temp.counts() AS c;
INSERT INTO t190.tools VALUES (10, 'T-10', 'a'), (1, 'T-11', 'conflict'), (12, 'T-12', 'c') ON CONFLICT (id) DO NOTHING;
SELECT is((SELECT count(*)::int FROM birthgate.registry_changelog WHERE entity_code IN ('T-10', 'T-11', 'T-12')), 2,
          'multi-row DO NOTHING: only the two inserted rows are born');
SELECT is((SELECT state FROM birthgate.birth_admission_permit WHERE entity_code = 'T-11'), 'ISSUED', '... the conflicting row''s permit stays ISSUED');
INSERT INTO t190.tools VALUES (11, 'T-11', 'b'), (10, 'T-10', 'a2') ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name;
SELECT is(pg_temp.born('T-11'), 1::bigint, 'multi-row DO UPDATE: the inserted row is born');
SELECT is(pg_temp.born('T-10'), 1::bigint, '... the updated one is not born again');
SELECT is((SELECT name FROM t190.tools WHERE id = 10), 'a2', '... and was updated');
CREATE TEMP TABLE before6 AS SELECT pg_temp.counts() AS c;
SELECT throws_ok($$INSERT INTO t190.tools VALUES (20, 'T-20', 'ok?'), (21, 'T-21', 'no permit')$$, 'BG120', NULL,
                 'enforce: one code without a permit refuses the whole statement');
SELECT is(pg_temp.counts(), (SELECT c FROM before6), '... nothing of it is written');

-- defect 3: a permit issued after the writing transaction began ------------------------------
DO $$ BEGIN PERFORM pg_sleep(0.01); END $$;
SELECT ok((SELECT now() < clock_timestamp()), 'this transaction began before the clock reading below');
-- issue in this transaction, but stamp it as if issued later: a permit issued after the writer's start
SELECT birthgate.issue_permit('gate190', 'T-41');
SELECT ok((SELECT issued_at > now() FROM birthgate.birth_admission_permit WHERE entity_code = 'T-41'),
          'defect 3: issued_at is the clock time of issue (later than the writing transaction''s start)');
SELECT lives_ok($$INSERT INTO t190.tools VALUES (41, 'T-41', 'late permit')$$, 'defect 3: the permit is usable (no raw 23514)');
SELECT ok((SELECT consumed_at >= issued_at AND consumed_at < expires_at FROM birthgate.birth_admission_permit WHERE entity_code = 'T-41'),
          'defect 3: consumed_at lies within the permit''s lifetime');
SELECT birthgate.issue_permit('gate190', 'T-42');
SELECT lives_ok($$SELECT birthgate.revoke_permit((SELECT permit_id FROM birthgate.birth_admission_permit WHERE entity_code = 'T-42'), 'not wanted')$$,
                'defect 3: revoke_permit of a permit issued after the transaction began works');
SELECT ok((SELECT revoked_at >= issued_at FROM birthgate.birth_admission_permit WHERE entity_code = 'T-42'), '... revoked_at >= issued_at');

-- defect 4: no silent move -------------------------------------------------------------------
CREATE TEMP TABLE before8 AS SELECT pg_temp.counts() AS c;
SELECT throws_ok($$SELECT birthgate.register_family('gate190', 't190.other', 'code', '^T-[0-9]+$', 'enforce')$$, 'BG153', NULL,
                 'defect 4: re-registering a collection onto another table is refused');
SELECT is(pg_temp.counts(), (SELECT c FROM before8), '... nothing changes');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 't190.tools'::regclass AND NOT tgisinternal), 7, '... the gates stay on the governed table');
CREATE ROLE r190_nobody;
GRANT birthgate_admin TO r190_nobody;
GRANT USAGE ON SCHEMA t190 TO r190_nobody;
SET ROLE r190_nobody;
SELECT throws_ok($$SELECT birthgate.move_family('gate190', 't190.other', 'takeover')$$, 'BG154', NULL,
                 'defect 4: an admin who owns neither table cannot move the collection');
RESET ROLE;
SELECT is(pg_temp.counts(), (SELECT c FROM before8), '... nothing changes');
SELECT throws_ok($$SELECT birthgate.move_family('gate190', 't190.other', '  ')$$, 'BG117', NULL, 'a move needs a reason');
SELECT lives_ok($$SELECT birthgate.move_family('gate190', 't190.other', 'table split')$$, 'the owner moves it explicitly');
SELECT is((SELECT from_table_name || ' -> ' || to_table::regclass::text || ' by ' || moved_by FROM birthgate.birth_family_move),
          't190.tools -> t190.other by ' || current_user, 'the move is recorded (from, to, who)');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 't190.other'::regclass AND NOT tgisinternal), 7, 'the gates are on the new table');
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_trigger_state WHERE table_name = 't190.tools' AND state = 'missing'), 7,
          'the drift monitor reports the formerly governed table without its gates');
SELECT ok(EXISTS (SELECT 1 FROM birthgate.v_drift_report WHERE kind = 'trigger_missing' AND object_name LIKE '%ON t190.tools'),
          'v_drift_report names it');
SELECT lives_ok($$SELECT birthgate.move_family('gate190', 't190.tools', 'back')$$, 'moved back');
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_trigger_state WHERE table_name IN ('t190.tools', 't190.other') AND state <> 'ok'), 7,
          'now t190.other is the former table reported without gates');

-- oversized codes, TTL overflow, NULL code column --------------------------------------------
CREATE TEMP TABLE before9 AS SELECT pg_temp.counts() AS c;
SELECT throws_ok(format($$SELECT birthgate.issue_permit('gate190', 'T-%s')$$, repeat('9', 300)), 'BG152', NULL,
                 'issue_permit refuses a code longer than the family limit');
SELECT throws_ok(format($$INSERT INTO t190.tools VALUES (50, 'T-%s', 'long')$$, repeat('9', 3000)), 'BG152', NULL,
                 'the gate refuses it (never raw 54000 from an index)');
SELECT birthgate.set_family_mode('gate190', 'report');
SELECT throws_ok(format($$INSERT INTO t190.tools VALUES (50, 'T-%s', 'long')$$, repeat('9', 3000)), 'BG152', NULL,
                 'the gate refuses it in report mode too (the registry cannot hold it)');
SELECT birthgate.set_family_mode('gate190', 'enforce');
SELECT throws_ok(format($$SELECT birthgate.retire('gate190', 'T-%s', 'gone')$$, repeat('9', 3000)), 'BG152', NULL,
                 'retire refuses it');
SELECT is(pg_temp.counts(), (SELECT c FROM before9), '... nothing is written');
CREATE FUNCTION pg_temp.detail_of(p_sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE v text; BEGIN EXECUTE p_sql; RETURN NULL; EXCEPTION WHEN OTHERS THEN GET STACKED DIAGNOSTICS v = PG_EXCEPTION_DETAIL; RETURN v; END $$;
SELECT ok(length(pg_temp.detail_of(format($$INSERT INTO t190.tools VALUES (50, 'T-%s', 'long')$$, repeat('9', 3000)))) < 250,
          'the DETAIL shows at most about 100 characters of the code');
SELECT ok(length(pg_temp.detail_of(format($$SELECT birthgate.issue_permit('gate190', 'T-%s')$$, repeat('9', 3000)))) < 250,
          'issue_permit''s DETAIL too');
SELECT throws_ok($$SELECT birthgate.issue_permit('gate190', 'T-60', interval '300000 years')$$, 'BG155', NULL,
                 'a TTL past the timestamp range: BG155');
SELECT throws_ok($$SELECT birthgate.register_family('gate190', 't190.tools', NULL, '^T-[0-9]+$', 'enforce')$$, 'BG103', NULL,
                 'register_family with a NULL code column: BG103');
SELECT throws_ok($$SELECT birthgate.register_family('gate190', 't190.tools', 'code', '^T-[0-9]+$', 'enforce', 601)$$, 'BG159', NULL,
                 'a code length limit above 600: BG159');
SELECT is(pg_temp.counts(), (SELECT c FROM before9), '... none of them writes anything');
SELECT lives_ok($$SELECT birthgate.set_family_code_limit('gate190', 8)$$, 'the limit can be lowered');
SELECT throws_ok($$SELECT birthgate.issue_permit('gate190', 'T-123456789')$$, 'BG152', NULL, '... and then applies to issue_permit');

-- hints are copyable: schema-qualified --------------------------------------------------------
CREATE FUNCTION pg_temp.hint_of(p_sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE v text; BEGIN EXECUTE p_sql; RETURN NULL; EXCEPTION WHEN OTHERS THEN GET STACKED DIAGNOSTICS v = PG_EXCEPTION_HINT; RETURN v; END $$;
SELECT is(pg_temp.hint_of($$INSERT INTO t190.tools VALUES (70, 'T-70', 'no permit')$$),
          'Issue a permit first: SELECT birthgate.issue_permit(''gate190'', ''T-70''); then write the row within its lifetime.',
          'BG120''s HINT is a copyable, schema-qualified call');
SELECT ok(pg_temp.hint_of($$SELECT birthgate.register_family('gate190', 't190.other', 'code', '^T-[0-9]+$', 'enforce')$$) LIKE '%SELECT birthgate.move_family(%',
          'BG153''s HINT names birthgate.move_family');
SELECT ok(pg_temp.hint_of($$SELECT birthgate.issue_permit('nope', 'T-1')$$) LIKE '%birthgate.register_family(%',
          'BG100''s HINT names birthgate.register_family');

-- drift: a dropped gate trigger is reported ---------------------------------------------------
CREATE TABLE t190.quiet (id int PRIMARY KEY, code text);
SELECT birthgate.register_family('quiet190', 't190.quiet', 'code', '^Q-[0-9]+$', 'enforce');
ALTER TABLE t190.quiet DISABLE TRIGGER _110_birth_register;
SELECT is((SELECT state FROM birthgate.v_drift_trigger_state WHERE table_name = 't190.quiet' AND trigger_name = '_110_birth_register'), 'disabled',
          'a disabled register trigger is reported');
SELECT lives_ok($$SELECT birthgate.register_family('quiet190', 't190.quiet', 'code', '^Q-[0-9]+$', 'enforce')$$, 'register_family repairs it');
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_trigger_state WHERE table_name = 't190.quiet' AND state = 'ok'), 7, '... all seven ok again');

SELECT * FROM finish();
ROLLBACK;
