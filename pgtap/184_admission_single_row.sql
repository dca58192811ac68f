-- 184 admission single row (000015): one code that passes every check is born by tg_birth_register
-- with four point statements (cached plans); every other case takes the set-based statement and
-- fails exactly as before, changing nothing. The commit-time re-verification of an armed
-- statement's births is queued by the writer in admission_verify (one row per transaction and
-- collection, gone after the check); it catches a registry row changed after the writer, and an
-- object deleted inside an armed statement; with nothing deleted and every birth intact it reads
-- no family table.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(33);

CREATE SCHEMA t184;
CREATE TABLE t184.tools (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text UNIQUE, name text);
SELECT birthgate.register_family('f184', 't184.tools', 'code', '^A-[0-9]+$', 'enforce');
CREATE TABLE t184.notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code varchar(40) UNIQUE, name text);
SELECT birthgate.register_family('r184', 't184.notes', 'code', '^N-[0-9]+$', 'report');
SELECT birthgate.issue_permit('f184', 'A-' || g) FROM generate_series(1, 60) g;
SELECT birthgate.issue_permit('r184', 'N-' || g) FROM generate_series(1, 10) g;
-- an expired and a revoked permit
INSERT INTO birthgate.birth_admission_permit (collection_name, entity_code, issued_by, issued_at, expires_at)
VALUES ('f184', 'A-901', current_user, clock_timestamp() - interval '2 hours', clock_timestamp() - interval '1 hour');
SELECT birthgate.revoke_permit((SELECT birthgate.issue_permit('f184', 'A-902')), 'withdrawn for the test');

CREATE FUNCTION pg_temp.counts() RETURNS text LANGUAGE sql AS $$
    SELECT format('registry=%s issued=%s consumed=%s changelog=%s violations=%s rows=%s/%s queued=%s',
        (SELECT count(*) FROM birthgate.birth_registry),
        (SELECT count(*) FROM birthgate.birth_admission_permit WHERE state = 'ISSUED'),
        (SELECT count(*) FROM birthgate.birth_admission_permit WHERE state = 'CONSUMED'),
        (SELECT count(*) FROM birthgate.registry_changelog),
        (SELECT count(*) FROM birthgate.birth_gate_violation),
        (SELECT count(*) FROM t184.tools), (SELECT count(*) FROM t184.notes),
        (SELECT count(*) FROM birthgate.admission_verify))
$$;
CREATE TEMP TABLE before1 AS SELECT pg_temp.counts() AS c;

-- a single-row birth -----------------------------------------------------------------------------
INSERT INTO t184.tools (code, name) VALUES ('A-1', 'one');
SELECT is((SELECT count(*)::int FROM birthgate.admission_verify WHERE txid = pg_current_xact_id() AND collection_name = 'f184'), 1,
          'the writer queued one re-verification for this transaction and collection');
INSERT INTO t184.tools (code, name) VALUES ('A-2', 'two');
SELECT is((SELECT count(*)::int FROM birthgate.admission_verify), 1, 'a second statement queues no second one');
SELECT is((SELECT status FROM birthgate.birth_registry WHERE collection_name = 'f184' AND entity_code = 'A-1'), 'BORN', 'A-1 is BORN');
SELECT ok((SELECT r.born_txid = pg_current_xact_id() AND p.state = 'CONSUMED' AND p.consumed_at >= p.issued_at
             FROM birthgate.birth_registry r JOIN birthgate.birth_admission_permit p ON p.permit_id = r.permit_id
            WHERE r.collection_name = 'f184' AND r.entity_code = 'A-1'),
          'born in this transaction from its permit, consumed no earlier than issued');
SELECT is((SELECT detail - 'permit_id' FROM birthgate.registry_changelog WHERE collection_name = 'f184' AND entity_code = 'A-1' AND op = 'BORN'),
          '{"mode": "enforce", "table": "t184.tools", "bypass": false, "operation": "INSERT"}'::jsonb,
          'one BORN changelog row with the same detail as the set-based statement writes');
SELECT is((SELECT (detail ->> 'permit_id')::bigint FROM birthgate.registry_changelog WHERE collection_name = 'f184' AND entity_code = 'A-1' AND op = 'BORN'),
          (SELECT permit_id FROM birthgate.birth_registry WHERE collection_name = 'f184' AND entity_code = 'A-1'),
          'the changelog names the consumed permit');
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
SELECT is((SELECT count(*)::int FROM birthgate.admission_verify), 0, 'the re-verification ran and removed its row');
INSERT INTO t184.tools (code, name) VALUES ('A-3', 'three');
SELECT is((SELECT count(*)::int FROM birthgate.admission_verify), 1, 'a later statement of the same transaction queues it again');
SELECT is((SELECT count(*)::int FROM birthgate.registry_changelog WHERE collection_name = 'f184' AND txid = pg_current_xact_id()), 3,
          'three births, three changelog rows');

-- every failing single row: the same error as the set-based statement, nothing written ------------
CREATE TEMP TABLE before2 AS SELECT pg_temp.counts() AS c;
SELECT throws_ok($$INSERT INTO t184.tools (code) VALUES ('A-999')$$, 'BG120', NULL, 'no permit: BG120');
SELECT throws_ok($$INSERT INTO t184.tools (code) VALUES ('A-901')$$, 'BG121', NULL, 'expired permit: BG121');
SELECT throws_ok($$INSERT INTO t184.tools (code) VALUES ('A-902')$$, 'BG122', NULL, 'revoked permit: BG122');
SELECT throws_ok($$INSERT INTO t184.tools (code) VALUES ('B-1')$$, 'BG123', NULL, 'pattern mismatch: BG123');
SELECT throws_ok($$INSERT INTO t184.tools (code) VALUES (NULL)$$, 'BG124', NULL, 'NULL code: BG124');
SELECT throws_ok($$INSERT INTO t184.tools (code) VALUES ('')$$, 'BG124', NULL, 'empty code: BG124');
SELECT throws_ok($$INSERT INTO t184.tools (code) VALUES ('A-' || repeat('7', 300))$$, 'BG152', NULL, 'a code over the limit: BG152');
SELECT is(bgtest.outcome(ARRAY['DELETE FROM t184.tools WHERE code = ''A-3''', 'INSERT INTO t184.tools (code) VALUES (''A-3'')']),
          'statements failed: BG125', 'the object deleted, its code again: born already (BG125)');
SELECT is(pg_temp.counts(), (SELECT c FROM before2), 'after every refused single row: every table as it was');

-- what the re-verification catches -----------------------------------------------------------------
SELECT is(bgtest.outcome(ARRAY['INSERT INTO t184.tools (code) VALUES (''A-10'')',
                                'UPDATE birthgate.birth_registry SET permit_id = NULL WHERE collection_name = ''f184'' AND entity_code = ''A-10''']),
          'commit failed: BG130', 'a registry row changed after the writer ran: refused at commit (BG130)');
SELECT is(bgtest.outcome(ARRAY['INSERT INTO t184.tools (code) VALUES (''A-11'')',
                                'WITH d AS (DELETE FROM t184.tools WHERE code = ''A-11'' RETURNING 1) INSERT INTO t184.tools (code) VALUES (''A-12'')']),
          'commit failed: BG157', 'an object born here deleted inside a later armed statement: refused at commit (BG157)');
SELECT is(bgtest.outcome(ARRAY['WITH d AS (DELETE FROM t184.tools WHERE code = ''A-2'' RETURNING 1) INSERT INTO t184.tools (code) VALUES (''A-13'')']),
          'commit failed: BG157', 'an object born earlier in the transaction deleted inside an armed statement: BG157');
SELECT is(bgtest.outcome(ARRAY['INSERT INTO t184.tools (code) VALUES (''A-14'')',
                                'DO $d$ BEGIN BEGIN DELETE FROM t184.tools WHERE code = ''A-1''; RAISE EXCEPTION ''undo'' USING ERRCODE = ''TT002''; EXCEPTION WHEN SQLSTATE ''TT002'' THEN NULL; END; END $d$']),
          'committed', 'a delete rolled back in a subtransaction (counted, so the objects are probed): every object still there, committed');
SELECT is(bgtest.outcome(ARRAY['SET CONSTRAINTS ALL IMMEDIATE', 'INSERT INTO t184.tools (code) VALUES (''A-15'')',
                                'SELECT 1/(1 - count(*))::int FROM birthgate.admission_verify']),
          'committed', 'SET CONSTRAINTS ALL IMMEDIATE: the re-verification runs at the end of the statement (its row is gone at once)');
SELECT is(bgtest.outcome(ARRAY['INSERT INTO t184.tools (code) VALUES (''A-16'')',
                                'UPDATE birthgate.birth_admission_permit SET state = ''ISSUED'', consumed_at = NULL, consumed_by = NULL WHERE collection_name = ''f184'' AND entity_code = ''A-16''']),
          'statements failed: BG112', 'a consumed permit cannot be put back (its guard), so a birth cannot lose its permit that way');

-- report mode: born on the single-row path too
CREATE TEMP TABLE before3 AS SELECT pg_temp.counts() AS c;
INSERT INTO t184.notes (code) VALUES ('N-1');
SELECT is((SELECT detail ->> 'mode' FROM birthgate.registry_changelog WHERE collection_name = 'r184' AND entity_code = 'N-1'), 'report',
          'report: a permitted code is born, the changelog says report');
SELECT is((SELECT count(*)::int FROM birthgate.admission_verify WHERE collection_name = 'r184'), 1, 'report: the writer queued the re-verification too (it queues after every INSERT statement)');
INSERT INTO t184.notes (code) VALUES ('N-99');
SELECT is((SELECT kind FROM birthgate.birth_gate_violation WHERE collection_name = 'r184' AND entity_code = 'N-99'), 'NO_PERMIT',
          'report: a code without a permit is admitted and recorded (the set-based statement)');
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
SELECT is((SELECT count(*)::int FROM birthgate.birth_gate_violation WHERE collection_name = 'r184'), 1, 'report: no second finding at commit');

-- upserts and re-codes of one row -------------------------------------------------------------------
SELECT is(bgtest.outcome(ARRAY['INSERT INTO t184.tools (code, name) VALUES (''A-1'', ''renamed'') ON CONFLICT (code) DO UPDATE SET name = excluded.name',
                                'SELECT 1/(CASE WHEN count(*) = 1 THEN 1 ELSE 0 END) FROM birthgate.registry_changelog WHERE collection_name = ''f184'' AND entity_code = ''A-1''']),
          'committed', 'an upsert of an existing object (same code): no birth, nothing refused');
SELECT is(bgtest.outcome(ARRAY['UPDATE t184.tools SET code = ''A-20'' WHERE code = ''A-1''',
                                'SELECT 1/(CASE WHEN detail ->> ''operation'' = ''UPDATE'' THEN 1 ELSE 0 END) FROM birthgate.registry_changelog WHERE collection_name = ''f184'' AND entity_code = ''A-20''']),
          'commit failed: BG157', 'a re-code to a permitted code: A-20 born (operation UPDATE); A-1, born here, left its object: BG157 at commit');
SELECT is(bgtest.outcome(ARRAY['UPDATE t184.tools SET code = ''A-999'' WHERE code = ''A-2''']),
          'statements failed: BG120', 'a re-code to a code without a permit: BG120');

-- the session's planner settings do not reach the writer --------------------------------------------
SELECT is(bgtest.outcome(ARRAY['SET LOCAL plan_cache_mode = force_generic_plan',
                                'INSERT INTO t184.tools (code) VALUES (''A-30'')', 'INSERT INTO t184.tools (code) VALUES (''A-31'')',
                                'INSERT INTO t184.tools (code) VALUES (''A-32'')', 'INSERT INTO t184.tools (code) VALUES (''A-33'')',
                                'INSERT INTO t184.tools (code) VALUES (''A-34'')', 'INSERT INTO t184.tools (code) VALUES (''A-35'')',
                                'INSERT INTO t184.tools (code) SELECT ''A-'' || g FROM generate_series(40, 60) g',
                                'SELECT 1/(CASE WHEN current_setting(''plan_cache_mode'') = ''force_generic_plan'' THEN 1 ELSE 0 END)']),
          'committed', 'plan_cache_mode = force_generic_plan in the session: single rows and a multi-row statement are born, the setting is the session''s again afterwards');
SELECT is(current_setting('plan_cache_mode'), 'auto', 'the writer leaves plan_cache_mode as it found it');

SELECT * FROM finish();
ROLLBACK;
