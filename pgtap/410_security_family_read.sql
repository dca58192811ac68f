-- 410 security, family reads: the drift monitor (v_drift_report, drift_family_objects) and the retire
-- check read family tables with the package owner's rights. A table owner who is neither superuser
-- nor admin sets every trap it can reach after registration, each calling a probe that records
-- current_user: a range type and a composite type with its own cast to text, a domain over such a
-- type, a domain over a domain over text whose CHECK calls the probe, a custom `=` operator in a
-- schema on the caller's search_path, a table turned into a view by an ON SELECT rule (PostgreSQL
-- < 16), a foreign table as inheritance child, a foreign table, a materialized view and a
-- partitioned table with a foreign partition swapped in, a row-level policy. The probe never runs
-- as anyone but the owner; every unsafe table is a critical family_table_unsafe finding (drift) or
-- BG321 (retire), and bad input changes nothing. Codes are shown only to callers who may read them.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(46);

CREATE TEMP TABLE pkg AS SELECT current_user::name AS package_owner;
CREATE EXTENSION IF NOT EXISTS postgres_fdw;
CREATE ROLE bg410_owner LOGIN;                       -- owns the family tables: no superuser, no package role
CREATE ROLE bg410_reader LOGIN IN ROLE birthgate_reader;
CREATE ROLE bg410_admin LOGIN IN ROLE birthgate_admin;
CREATE SCHEMA s410 AUTHORIZATION bg410_owner;
GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO bg410_owner;

SET ROLE bg410_owner;
CREATE TABLE s410.probe_log (who name, what text);
GRANT INSERT ON s410.probe_log TO PUBLIC;
GRANT USAGE ON SCHEMA s410 TO PUBLIC;
CREATE FUNCTION s410.probe(p_what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO s410.probe_log VALUES (current_user, p_what);
    RETURN true;
END $$;
GRANT EXECUTE ON FUNCTION s410.probe(text) TO PUBLIC;
-- one family table per trap, each an ordinary table with a text code when registered
CREATE TABLE s410.t_range (id int, code text);
CREATE TABLE s410.t_comp (id int, code text);
CREATE TABLE s410.t_domain (id int, code text);
CREATE TABLE s410.t_nested (id int, code text);
CREATE TABLE s410.t_plain (id int, code text);
CREATE TABLE s410.t_view (id int, code text);
CREATE TABLE s410.t_inh (id int, code text);
CREATE TABLE s410.t_rls (id int, code text);
RESET ROLE;

SELECT birthgate.register_family(f, ('s410.t_' || f)::regclass, 'code', '^[A-Z]-[0-9]+$', 'report')
  FROM unnest(ARRAY['range', 'comp', 'domain', 'nested', 'plain', 'inh', 'rls']) f;
-- the view family: registered as a row directly, because a table that ever had triggers keeps
-- relhastriggers until VACUUM (impossible in this transaction), and CREATE RULE refuses it until then
INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern, mode)
VALUES ('view', 's410.t_view', 'code', '^V-[0-9]+$', 'report');
INSERT INTO birthgate.birth_registry (collection_name, entity_code) VALUES ('view', 'V-1');
-- one born object per family (report mode registers it), then the gates go: the owner may drop them
SET ROLE bg410_owner;
INSERT INTO s410.t_range VALUES (1, 'R-1');
INSERT INTO s410.t_comp VALUES (1, 'C-1');
INSERT INTO s410.t_domain VALUES (1, 'D-1');
INSERT INTO s410.t_nested VALUES (1, 'N-1');
INSERT INTO s410.t_plain VALUES (1, 'P-1');
INSERT INTO s410.t_inh VALUES (1, 'I-1');
INSERT INTO s410.t_rls VALUES (1, 'L-1');
RESET ROLE;
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
SELECT is((SELECT count(*)::int FROM birthgate.birth_registry WHERE entity_code IN ('R-1', 'C-1', 'D-1', 'N-1', 'P-1', 'V-1', 'I-1', 'L-1')), 8,
          'setup: one born object in each of the eight families');

SET ROLE bg410_owner;
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['t_range', 't_comp', 't_domain', 't_nested', 't_plain', 't_inh', 't_rls'] LOOP
        -- the hostile owner drops every gate trigger the package attached (whatever their number)
        EXECUTE (SELECT string_agg(format('DROP TRIGGER %I ON s410.%I;', tg.tgname, t), ' ')
                   FROM pg_trigger tg
                  WHERE tg.tgrelid = format('s410.%I', t)::regclass AND NOT tg.tgisinternal AND tg.tgname LIKE '\_%birth\_%');
    END LOOP;
END $$;
-- (a) a range type over an own subtype_diff function, with an own cast to text; the code column renamed and replaced
CREATE FUNCTION s410.span_diff(int4, int4) RETURNS float8 LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM s410.probe('range subtype_diff'); RETURN ($1 - $2)::float8; END $$;
CREATE TYPE s410.span AS RANGE (subtype = int4, subtype_diff = s410.span_diff);
CREATE FUNCTION s410.span_text(s410.span) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM s410.probe('range cast to text'); RETURN 'R-1'; END $$;
CREATE CAST (s410.span AS text) WITH FUNCTION s410.span_text(s410.span) AS IMPLICIT;
ALTER TABLE s410.t_range RENAME COLUMN code TO code_old;
ALTER TABLE s410.t_range ADD COLUMN code s410.span;
UPDATE s410.t_range SET code = '[1,5)';
-- (b) a composite type with an own cast to text
CREATE TYPE s410.comp AS (a text);
CREATE FUNCTION s410.comp_text(s410.comp) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM s410.probe('composite cast to text'); RETURN 'C-1'; END $$;
CREATE CAST (s410.comp AS text) WITH FUNCTION s410.comp_text(s410.comp) AS IMPLICIT;
ALTER TABLE s410.t_comp RENAME COLUMN code TO code_old;
ALTER TABLE s410.t_comp ADD COLUMN code s410.comp;
UPDATE s410.t_comp SET code = ROW('C-1');
-- (c) a domain over that composite type (its cast applies through the domain)
CREATE DOMAIN s410.comp_d AS s410.comp;
ALTER TABLE s410.t_domain RENAME COLUMN code TO code_old;
ALTER TABLE s410.t_domain ADD COLUMN code s410.comp_d;
UPDATE s410.t_domain SET code = ROW('D-1');
-- (d) a domain over a domain over text whose CHECK calls the probe: text underneath, so it is read, never checked
CREATE DOMAIN s410.code_inner AS text CHECK (s410.probe('inner domain check'));
CREATE DOMAIN s410.code_outer AS s410.code_inner CHECK (s410.probe('outer domain check'));
ALTER TABLE s410.t_nested ALTER COLUMN code TYPE s410.code_outer;
INSERT INTO s410.t_nested VALUES (2, 'N-2');
-- (e) a row-level policy calling the probe
ALTER TABLE s410.t_rls ENABLE ROW LEVEL SECURITY;
ALTER TABLE s410.t_rls FORCE ROW LEVEL SECURITY;
CREATE POLICY p410 ON s410.t_rls USING (s410.probe('row policy'));
-- (f) a foreign table added as an inheritance child of a family table (a scan without ONLY would connect)
CREATE SERVER s410_nowhere FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '/nonexistent/bg410', dbname 'nowhere');
CREATE USER MAPPING FOR PUBLIC SERVER s410_nowhere OPTIONS (user 'nobody');
CREATE FOREIGN TABLE s410.t_inh_remote () INHERITS (s410.t_inh) SERVER s410_nowhere;
RESET ROLE;
DELETE FROM s410.probe_log;   -- the owner's own ALTER/UPDATE/INSERT ran some of its code as itself

-- (g) an ON SELECT rule turns the (emptied) table into a view (possible before PostgreSQL 16)
SELECT current_setting('server_version_num')::int < 160000 AS has_rule_views \gset
\if :has_rule_views
SET ROLE bg410_owner;
CREATE RULE "_RETURN" AS ON SELECT TO s410.t_view DO INSTEAD
    SELECT 1 AS id, 'V-1'::text AS code WHERE s410.probe('ON SELECT rule');
RESET ROLE;
\else
-- PostgreSQL 16+ cannot convert a table; a family pointing at a view is the same case
SET ROLE bg410_owner;
CREATE VIEW s410.t_view_v AS SELECT 1 AS id, 'V-1'::text AS code WHERE s410.probe('view');
RESET ROLE;
UPDATE birthgate.birth_family SET table_name = 's410.t_view_v' WHERE collection_name = 'view';
\endif
SELECT is((SELECT relkind::text FROM pg_class WHERE oid = (SELECT table_name FROM birthgate.birth_family WHERE collection_name = 'view')),
          'v', 'the family table of collection view is now a view');

-- swapped in by a superuser (the catalog allows nothing else to point a family at them): a foreign
-- table, a materialized view, a partitioned table with a foreign partition, one with ordinary partitions only
SET ROLE bg410_owner;
CREATE FOREIGN TABLE s410.t_foreign (id int, code text) SERVER s410_nowhere;
CREATE MATERIALIZED VIEW s410.t_matview AS SELECT 1 AS id, 'M-1'::text AS code WHERE s410.probe('materialized view') WITH NO DATA;
CREATE TABLE s410.t_part (id int, code text) PARTITION BY RANGE (id);
CREATE TABLE s410.t_part_1 PARTITION OF s410.t_part FOR VALUES FROM (0) TO (10);
CREATE FOREIGN TABLE s410.t_part_2 PARTITION OF s410.t_part FOR VALUES FROM (10) TO (20) SERVER s410_nowhere;
CREATE TABLE s410.t_part_ok (id int, code text) PARTITION BY RANGE (id);
CREATE TABLE s410.t_part_ok_1 PARTITION OF s410.t_part_ok FOR VALUES FROM (0) TO (10);
CREATE TABLE s410.t_part_ok_2 PARTITION OF s410.t_part_ok FOR VALUES FROM (10) TO (20);
INSERT INTO s410.t_part_ok VALUES (1, 'Q-1'), (11, 'Q-11');
RESET ROLE;
INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern, mode) VALUES
    ('foreign', 's410.t_foreign', 'code', '^F-[0-9]+$', 'report'),
    ('matview', 's410.t_matview', 'code', '^M-[0-9]+$', 'report'),
    ('part', 's410.t_part', 'code', '^Q-[0-9]+$', 'report'),
    ('part_ok', 's410.t_part_ok', 'code', '^Q-[0-9]+$', 'report');
INSERT INTO birthgate.birth_registry (collection_name, entity_code) VALUES ('foreign', 'F-1'), ('part', 'Q-1'), ('part_ok', 'Q-1');
SELECT is((SELECT count(*)::int FROM s410.probe_log), 0, 'the traps are set and have not fired');

-- the drift monitor, read by a reader
SET ROLE bg410_reader;
CREATE TEMP TABLE report410 AS SELECT * FROM birthgate.v_drift_report;
RESET ROLE;
SELECT is((SELECT count(*)::int FROM s410.probe_log), 0, 'reading v_drift_report ran none of the owner''s code');
SELECT set_eq($$SELECT detail->>'collection_name' FROM report410 WHERE kind = 'family_table_unsafe'$$,
              ARRAY['range', 'comp', 'domain', 'view', 'foreign', 'matview', 'part', 'inh'],
              'exactly the unsafe families are critical family_table_unsafe findings (inh: its inheritance child holds rows no gate saw)');
SELECT ok((SELECT bool_and(severity = 'critical') FROM report410 WHERE kind = 'family_table_unsafe'), 'all of them critical');
SELECT alike((SELECT message FROM report410 WHERE kind = 'family_table_unsafe' AND detail->>'collection_name' = 'range'),
            '%type s410.span, which is not text, varchar or name%', 'the range type is named as the reason');
SELECT alike((SELECT message FROM report410 WHERE kind = 'family_table_unsafe' AND detail->>'collection_name' = 'domain'),
            '%type s410.comp_d, which is not text, varchar or name%', 'so is the domain over the composite type');
SELECT alike((SELECT message FROM report410 WHERE kind = 'family_table_unsafe' AND detail->>'collection_name' = 'view'),
            '%is a view%', 'the rule-made view is named as such');
SELECT alike((SELECT message FROM report410 WHERE kind = 'family_table_unsafe' AND detail->>'collection_name' = 'foreign'),
            '%is a foreign table%', 'the foreign table is named as such');
SELECT alike((SELECT message FROM report410 WHERE kind = 'family_table_unsafe' AND detail->>'collection_name' = 'matview'),
            '%materialized view%', 'the materialized view is named as such');
SELECT alike((SELECT message FROM report410 WHERE kind = 'family_table_unsafe' AND detail->>'collection_name' = 'part'),
            '%partition s410.t_part_2 is a foreign table%', 'the foreign partition is named');
SELECT alike((SELECT remedy FROM report410 WHERE kind = 'family_table_unsafe' AND detail->>'collection_name' = 'range'),
            '%SELECT birthgate.register_family(''range'', ''s410.t_range'', ''code'', %', 'the remedy is a copyable re-registration');
SELECT is((SELECT detail->>'count' FROM report410 WHERE kind = 'unborn_objects' AND object_name = 'nested'), '1',
          'the nested domain over text is read natively: its unborn row is found');
SELECT is((SELECT detail->'sample' FROM report410 WHERE kind = 'unborn_objects' AND object_name = 'nested'), 'null'::jsonb,
          'but a reader without SELECT on the table sees no code in the sample');
SELECT is((SELECT detail->>'codes_hidden' FROM report410 WHERE kind = 'unborn_objects' AND object_name = 'nested'), '1',
          'and is told one code is hidden');
SELECT is((SELECT detail->>'count' FROM report410 WHERE kind = 'unborn_objects' AND object_name = 'part_ok'), '1',
          'a partitioned table of ordinary partitions is scanned: one unborn row (Q-11)');
SELECT ok(NOT EXISTS (SELECT 1 FROM report410 WHERE object_name IN ('rls', 'plain') AND kind IN ('family_table_unsafe', 'unborn_objects', 'phantom_objects')),
          'the policy is bypassed by the package owner: no findings for rls and plain');

-- drift_family_objects directly
SET ROLE bg410_reader;
SELECT results_eq($$SELECT finding, entity_code, code_hidden FROM birthgate.drift_family_objects('nested')$$,
                  $$VALUES ('unborn'::text, NULL::text, true)$$, 'a reader calling drift_family_objects gets the unborn row with its code hidden');
RESET ROLE;
GRANT SELECT (code) ON s410.t_nested TO bg410_reader;
SET ROLE bg410_reader;
SELECT results_eq($$SELECT finding, entity_code, code_hidden FROM birthgate.drift_family_objects('nested')$$,
                  $$VALUES ('unborn'::text, 'N-2'::text, false)$$, 'with SELECT on the code column it sees the code');
SELECT is((SELECT detail->'sample' FROM birthgate.v_drift_report WHERE kind = 'unborn_objects' AND object_name = 'nested'), '["N-2"]'::jsonb,
          'and so does the report sample');
SELECT results_eq($$SELECT finding, note FROM birthgate.drift_family_objects('view')$$,
                  $$VALUES ('unsafe_table'::text, 's410.t_view is a view (e.g. a table turned into one by an ON SELECT rule), not an ordinary or partitioned table'::text)$$,
                  'drift_family_objects reports an unsafe table as such instead of reading it')
  WHERE current_setting('server_version_num')::int < 160000
UNION ALL SELECT pass('drift_family_objects reports an unsafe table as such instead of reading it (a plain view on 16+)')
  WHERE current_setting('server_version_num')::int >= 160000;
RESET ROLE;
SELECT is((SELECT count(*)::int FROM s410.probe_log), 0, 'still none of the owner''s code ran');

-- the custom = operator on the caller's search_path
CREATE SCHEMA s410_ops AUTHORIZATION bg410_owner;
SET ROLE bg410_owner;
GRANT USAGE ON SCHEMA s410_ops TO PUBLIC;
CREATE FUNCTION s410_ops.eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM s410.probe('custom = operator'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR s410_ops.= (LEFTARG = text, RIGHTARG = text, FUNCTION = s410_ops.eq);
CREATE FUNCTION s410_ops.eqn(name, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM s410.probe('custom = operator (name)'); RETURN $1::text OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR s410_ops.= (LEFTARG = name, RIGHTARG = text, FUNCTION = s410_ops.eqn);
RESET ROLE;
-- (no pgTAP call while the path is set: pgTAP's own comparisons would resolve to the operator)
SET search_path = s410_ops, pg_catalog, public;
SELECT 'x'::text = 'x'::text AS control_fired;
SET ROLE bg410_admin;
CREATE TEMP TABLE ops410 AS
SELECT (SELECT count(*) FROM birthgate.v_drift_report) AS findings,
       (SELECT allowed FROM birthgate.retire_gate_check('plain', 'P-1')) AS plain_allowed,
       (SELECT count(*) FROM birthgate.drift_family_objects(NULL)) AS scanned,
       NULL::text AS assert_state;
DO $$
BEGIN
    PERFORM birthgate.drift_assert_clean('info');
EXCEPTION WHEN SQLSTATE 'BG300' THEN
    UPDATE ops410 SET assert_state = SQLSTATE;
END $$;
RESET ROLE;
RESET search_path;
SELECT is((SELECT count(*)::int FROM s410.probe_log WHERE what = 'custom = operator'), 1,
          'control: on that search_path the custom operator wins for the caller''s own query');
DELETE FROM s410.probe_log;
SELECT ok((SELECT findings > 0 AND scanned > 0 FROM ops410), 'with the operator on its search_path, an admin read the report and the family scan');
SELECT is((SELECT plain_allowed FROM ops410), false, 'ran the retire check of a live object (not allowed)');
SELECT is((SELECT assert_state FROM ops410), 'BG300', 'and drift_assert_clean raised BG300 for the findings');
SELECT is((SELECT count(*)::int FROM s410.probe_log), 0, 'the custom operator never ran inside the package');

-- the retire check and retire(): BG321, nothing changed
SELECT count(*) AS reg_before FROM birthgate.birth_registry \gset
SELECT count(*) AS log_before FROM birthgate.registry_changelog \gset
SET ROLE bg410_admin;
SELECT throws_ok($$SELECT * FROM birthgate.retire_gate_check('range', 'R-1')$$, 'BG321', NULL, 'retire check on the range-typed code column: BG321');
SELECT throws_ok($$SELECT * FROM birthgate.retire_gate_check('comp', 'C-1')$$, 'BG321', NULL, 'on the composite-typed code column: BG321');
SELECT throws_ok($$SELECT * FROM birthgate.retire_gate_check('domain', 'D-1')$$, 'BG321', NULL, 'on the domain over the composite type: BG321');
SELECT throws_ok($$SELECT * FROM birthgate.retire_gate_check('view', 'V-1')$$, 'BG321', NULL, 'on the rule-made view: BG321');
SELECT throws_ok($$SELECT * FROM birthgate.retire_gate_check('foreign', 'F-1')$$, 'BG321', NULL, 'on the foreign table: BG321');
SELECT throws_ok($$SELECT * FROM birthgate.retire_gate_check('part', 'Q-1')$$, 'BG321', NULL, 'on the partitioned table with a foreign partition: BG321');
SELECT throws_ok($$SELECT birthgate.retire('view', 'V-1', 'gone')$$, 'BG321', NULL, 'retire() itself refuses the view with BG321');
SELECT is((SELECT allowed FROM birthgate.retire_gate_check('part_ok', 'Q-1')), false, 'the ordinary partitioned table is read: Q-1 is live');
SELECT throws_ok($$SELECT * FROM birthgate.retire_gate_check('inh', 'I-1')$$, 'BG321', NULL,
                 'the table with a foreign inheritance child is refused (BG321): its child holds rows no gate saw');
SELECT is((SELECT allowed FROM birthgate.retire_gate_check('nested', 'N-1')), false, 'the nested domain over text is read: N-1 is live');
SELECT is((SELECT allowed FROM birthgate.retire_gate_check('rls', 'L-1')), false, 'the policy table is read without its policy (package owner bypasses): L-1 is live');
SELECT throws_ok(format($$SELECT * FROM birthgate.retire_gate_check('plain', %L)$$, repeat('P', 300)), 'BG320', NULL,
                 'a 300-character code: BG320, not a raw error');
RESET ROLE;
DO $$
BEGIN
    PERFORM * FROM birthgate.retire_gate_check('plain', repeat('P', 5000));
EXCEPTION WHEN SQLSTATE 'BG320' THEN
    DECLARE v_detail text; v_hint text;
    BEGIN
        GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        CREATE TEMP TABLE bg320 AS SELECT v_detail AS detail, v_hint AS hint;
    END;
END $$;
SELECT ok((SELECT length(detail) < 200 AND detail LIKE '%5000 characters%' AND hint LIKE '%birthgate.birth_registry%' FROM bg320),
          'its DETAIL names the length and at most 100 characters of the code; its HINT a schema-qualified query');
-- the limit is the family's own code_max_length, not a constant
SELECT birthgate.set_family_code_limit('plain', 12);
SELECT throws_ok($$SELECT * FROM birthgate.retire_gate_check('plain', 'P-1234567890123')$$, 'BG320', NULL,
                 'with a family limit of 12, a 15-character code is BG320');
SELECT lives_ok($$SELECT * FROM birthgate.retire_gate_check('plain', 'P-123456789')$$, 'and an 11-character code is checked');
SELECT birthgate.set_family_code_limit('plain', 256);
SELECT is((SELECT count(*) FROM birthgate.birth_registry), :reg_before::bigint, 'the refused checks and retire changed no registry row');
SELECT is((SELECT count(*) FROM birthgate.registry_changelog), :log_before::bigint, 'and wrote no changelog row');

SELECT is_empty($$SELECT who, what FROM s410.probe_log$$, 'in all of it the owner''s code never ran, as anyone');

SELECT * FROM finish();
ROLLBACK;
