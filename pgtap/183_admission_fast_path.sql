-- 183 admission fast path (000011): layer 2 queues no per-row INSERT event while the statement
-- writer is certain to check the statement (armed by the first row of each INSERT statement in
-- enforce mode, when _110_birth_register is enabled), and keeps every check the writer cannot make:
-- writer disabled, a DELETE inside an armed statement, a registry row changed after the writer ran
-- (one set-based re-verification per transaction and collection at commit). A marker set by hand
-- skips nothing. Code columns may be domains at any depth over text/varchar/name.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(16);

CREATE SCHEMA t183;
CREATE TABLE t183.tools (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text UNIQUE, name text);
SELECT birthgate.register_family('f183', 't183.tools', 'code', '^A-[0-9]+$', 'enforce');
SELECT birthgate.issue_permit('f183', 'A-' || g) FROM generate_series(1, 60) g;

CREATE FUNCTION pg_temp.counts() RETURNS text LANGUAGE sql AS $$
    SELECT format('registry=%s issued=%s consumed=%s changelog=%s violations=%s rows=%s',
        (SELECT count(*) FROM birthgate.birth_registry),
        (SELECT count(*) FROM birthgate.birth_admission_permit WHERE state = 'ISSUED'),
        (SELECT count(*) FROM birthgate.birth_admission_permit WHERE state = 'CONSUMED'),
        (SELECT count(*) FROM birthgate.registry_changelog),
        (SELECT count(*) FROM birthgate.birth_gate_violation),
        (SELECT count(*) FROM t183.tools))
$$;

-- the fast path: valid rows queue no layer-2 event of their own --------------------------------
CREATE TEMP TABLE plan_json (j json);
DO $$
DECLARE v json;
BEGIN
    EXECUTE $q$EXPLAIN (ANALYZE, FORMAT JSON) INSERT INTO t183.tools (code) SELECT 'A-' || g FROM generate_series(1, 40) g$q$ INTO v;
    INSERT INTO plan_json VALUES (v);
END $$;
SELECT is((SELECT (t->>'Calls')::int FROM plan_json, json_array_elements(j->0->'Triggers') t WHERE t->>'Trigger Name' = '_110_birth_register'), 1,
          'a 40-row INSERT ... SELECT: the writer ran once');
SELECT is(current_setting('birthgate.gate_armed', true), '', 'the writer disarmed the statement marker when it ran');
SELECT is((SELECT count(*)::int FROM birthgate.admission_verify WHERE txid = pg_current_xact_id() AND collection_name = 'f183'), 1,
          'one commit-time re-verification is queued for the collection (by the writer, in admission_verify)');
SELECT is(bgtest.outcome(ARRAY[]::text[], true), 'committed', 'at commit the re-verification finds every birth in order');

-- what the writer cannot see is still checked at commit --------------------------------------------
CREATE TEMP TABLE before1 AS SELECT pg_temp.counts() AS c;
SELECT is(bgtest.outcome(ARRAY['ALTER TABLE t183.tools DISABLE TRIGGER _110_birth_register',
                                'INSERT INTO t183.tools (code) VALUES (''A-41'')']),
          'commit failed: BG130', 'writer disabled: the statement is not armed and layer 2 refuses the unborn row (BG130)');
SELECT is(bgtest.outcome(ARRAY['ALTER TABLE t183.tools DISABLE TRIGGER _110_birth_register',
                                $s$INSERT INTO t183.tools (code) SELECT 'A-42' FROM (SELECT set_config('birthgate.gate_armed', statement_timestamp()::text || ' f183', true)) x$s$]),
          'commit failed: BG130', 'writer disabled and the armed marker forged by hand: the first row re-arms from the catalog, layer 2 refuses (BG130)');
SELECT is(bgtest.outcome(ARRAY[$s$INSERT INTO t183.tools (code) SELECT 'A-99' FROM (SELECT set_config('birthgate.gate_armed', statement_timestamp()::text || ' f183', true), set_config('birthgate.gate_statement', statement_timestamp()::text || ' f183', true)) x$s$]),
          'statements failed: BG120', 'both markers forged, writer enabled: the writer still refuses a code without a permit (BG120)');
SELECT is(bgtest.outcome(ARRAY['INSERT INTO t183.tools (code) VALUES (''A-43'')',
                                'WITH d AS (DELETE FROM t183.tools WHERE code = ''A-43'' RETURNING 1) INSERT INTO t183.tools (code) VALUES (''A-44'')']),
          'commit failed: BG157', 'a DELETE inside an armed statement of a code born in this transaction: caught at commit (BG157)');
SELECT is(bgtest.outcome(ARRAY['INSERT INTO t183.tools (code) VALUES (''A-45'')',
                                'DELETE FROM birthgate.birth_registry WHERE collection_name = ''f183'' AND entity_code = ''A-45''']),
          'commit failed: BG130', 'the registry row deleted after the writer ran: caught by the re-verification (BG130)');
SELECT is(bgtest.outcome(ARRAY['INSERT INTO t183.tools (code) SELECT ''A-'' || g FROM generate_series(46, 50) g',
                                'INSERT INTO t183.tools (code) VALUES (''A-51'')',
                                'UPDATE birthgate.birth_registry SET permit_id = NULL WHERE collection_name = ''f183'' AND entity_code = ''A-47''']),
          'commit failed: BG130', 'several armed statements, one registry row altered: one re-verification covers all (BG130)');
SELECT is(pg_temp.counts(), (SELECT c FROM before1), 'every refused case left every table as it was');
SELECT is(bgtest.outcome(ARRAY['INSERT INTO t183.tools (code) VALUES (''A-52'')', 'INSERT INTO t183.tools (code) VALUES (''A-53'')',
                                'UPDATE t183.tools SET name = ''renamed'' WHERE code = ''A-52''']),
          'committed', 'births in two statements of one call (each armed by its own first row) and an update: admitted');

-- domains at any depth -------------------------------------------------------------------------------
CREATE DOMAIN t183.code1 AS varchar(40);
CREATE DOMAIN t183.code2 AS t183.code1;
CREATE DOMAIN t183.code3 AS t183.code2 CHECK (VALUE <> 'never');
CREATE DOMAIN t183.num1 AS integer;
CREATE DOMAIN t183.num2 AS t183.num1;
CREATE TABLE t183.deep (id int PRIMARY KEY, code t183.code3 UNIQUE);
CREATE TABLE t183.numeric_deep (id int PRIMARY KEY, code t183.num2);
SELECT lives_ok($$SELECT birthgate.register_family('f183_deep', 't183.deep', 'code', '^D-[0-9]+$', 'enforce')$$,
                'register_family accepts a domain over a domain over a domain over varchar');
SELECT throws_ok($$SELECT birthgate.register_family('f183_num', 't183.numeric_deep', 'code', '^[0-9]+$', 'enforce')$$,
                 'BG103', NULL, 'and refuses a domain over a domain over integer (BG103)');
SELECT birthgate.issue_permit('f183_deep', 'D-1');
SELECT is(bgtest.outcome(ARRAY['INSERT INTO t183.deep VALUES (1, ''D-1'')'], true), 'committed', 'a row of the deep-domain family is born and passes layer 2');
SELECT is(bgtest.outcome(ARRAY['ALTER TABLE t183.deep DISABLE TRIGGER _110_birth_register', 'INSERT INTO t183.deep VALUES (2, ''D-2'')']),
          'commit failed: BG130', 'layer 2 reads the deep-domain code (as varchar, no domain CHECK) and refuses an unborn one');

SELECT * FROM finish();
ROLLBACK;
