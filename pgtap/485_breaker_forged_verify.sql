-- 485 adversarial review of the layer-2 fast path (000011): the transaction-local settings that
-- steer _900_birth_finalize (birthgate.gate_statement, birthgate.gate_armed and
-- birthgate.gate_verify_<collection>) can be set by any role. Forging them must not skip a check
-- that layer 2 made before the fast path and that the statement writer cannot make:
--  (a) with gate_verify_<collection> forged to 'pending' before the first insert, 0.3.0 queued no
--      event at all, so the set-based re-verification at commit never ran: a registry row changed
--      after the writer ran (pgTAP 183's case) was not caught. Since 000015 the writer queues the
--      re-verification itself (a row in admission_verify, which no role but the package may write):
--      no setting steers it any more;
--  (b) regression: all three settings forged, writer enabled: a code without a permit is still
--      refused by the writer (BG120), for the table owner and for a role with INSERT only;
--  (c) regression: forged settings and a valid birth commit normally.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(9);

CREATE ROLE bg485_owner;
CREATE ROLE bg485_app;
CREATE SCHEMA t485 AUTHORIZATION bg485_owner;
GRANT USAGE ON SCHEMA t485 TO bg485_app;
SET ROLE bg485_owner;
CREATE TABLE t485.tools (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text UNIQUE, name text);
GRANT INSERT, SELECT ON t485.tools TO bg485_app;
RESET ROLE;
SELECT birthgate.register_family('f485', 't485.tools', 'code', '^A-[0-9]+$', 'enforce');
SELECT birthgate.issue_permit('f485', 'A-' || g) FROM generate_series(1, 20) g;

CREATE FUNCTION pg_temp.counts() RETURNS text LANGUAGE sql SECURITY DEFINER AS $$
    SELECT format('registry=%s issued=%s consumed=%s changelog=%s violations=%s rows=%s',
        (SELECT count(*) FROM birthgate.birth_registry),
        (SELECT count(*) FROM birthgate.birth_admission_permit WHERE state = 'ISSUED'),
        (SELECT count(*) FROM birthgate.birth_admission_permit WHERE state = 'CONSUMED'),
        (SELECT count(*) FROM birthgate.registry_changelog),
        (SELECT count(*) FROM birthgate.birth_gate_violation),
        (SELECT count(*) FROM t485.tools))
$$;
GRANT EXECUTE ON FUNCTION pg_temp.counts() TO bg485_owner, bg485_app;

-- all three settings as tg_birth_gate would set them for this statement
\set forge 'SELECT set_config(''birthgate.gate_statement'', statement_timestamp()::text || '' f485'', true), set_config(''birthgate.gate_armed'', statement_timestamp()::text || '' f485'', true), set_config(''birthgate.gate_verify_f485'', ''pending'', true)'

CREATE TEMP TABLE before1 AS SELECT pg_temp.counts() AS c;

-- (a) ------------------------------------------------------------------------------------------------
SELECT is(bgtest.outcome(ARRAY['INSERT INTO t485.tools (code) VALUES (''A-1'')',
                                'DELETE FROM birthgate.birth_registry WHERE collection_name = ''f485'' AND entity_code = ''A-1''']),
          'commit failed: BG130', 'baseline: a registry row removed after the writer ran is caught at commit (BG130)');
SELECT is(bgtest.outcome(ARRAY['SELECT set_config(''birthgate.gate_verify_f485'', ''pending'', true)',
                                'INSERT INTO t485.tools (code) VALUES (''A-1'')',
                                'DELETE FROM birthgate.birth_registry WHERE collection_name = ''f485'' AND entity_code = ''A-1''']),
          'commit failed: BG130', 'the same with gate_verify_f485 = pending set by hand first: still caught at commit (BG130)');
SELECT is(bgtest.outcome(ARRAY[:'forge',
                                'INSERT INTO t485.tools (code) VALUES (''A-1'')',
                                'DELETE FROM birthgate.birth_registry WHERE collection_name = ''f485'' AND entity_code = ''A-1''']),
          'commit failed: BG130', 'all three settings forged before the insert: still caught at commit (BG130)');
SET ROLE bg485_owner;
SELECT throws_ok($$INSERT INTO birthgate.admission_verify (txid, collection_name) VALUES (pg_current_xact_id(), 'f485')$$,
                 '42501', NULL, 'the table owner cannot write the re-verification queue (no privilege on admission_verify)');
SELECT throws_ok($$DELETE FROM birthgate.admission_verify$$,
                 '42501', NULL, 'nor remove a queued re-verification');
RESET ROLE;

-- (b) ------------------------------------------------------------------------------------------------
SET ROLE bg485_app;
SELECT is(bgtest.outcome(ARRAY[format($s$INSERT INTO t485.tools (code) SELECT 'A-99' FROM (%s) x$s$, :'forge')]),
          'statements failed: BG120', 'a role with INSERT only, all three settings forged: a code without a permit is refused (BG120)');
RESET ROLE;
SET ROLE bg485_owner;
SELECT is(bgtest.outcome(ARRAY[format($s$INSERT INTO t485.tools (code) SELECT 'A-98' FROM (%s) x$s$, :'forge')]),
          'statements failed: BG120', 'the table owner, all three settings forged: a code without a permit is refused (BG120)');
RESET ROLE;

-- (c) ------------------------------------------------------------------------------------------------
SET ROLE bg485_app;
SELECT is(bgtest.outcome(ARRAY[format($s$INSERT INTO t485.tools (code) SELECT 'A-2' FROM (%s) x$s$, :'forge')]),
          'committed', 'forged settings and a permitted code: born and committed');
RESET ROLE;
SELECT is(pg_temp.counts(), (SELECT c FROM before1), 'every case was rolled back: every table as it was');

SELECT * FROM finish();
ROLLBACK;
