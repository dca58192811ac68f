-- 620 sweeps, adoption of a hostile family table. sweep_adopt reads a family table with the package
-- owner's rights, only through family_read_source (the gate shared with the drift monitor and the
-- retire check). A table owner who is neither superuser nor admin sets traps after registration,
-- each calling a probe that records current_user: a table swapped for a view (an ON SELECT rule
-- before PostgreSQL 16, a view after), a domain over a range type with its own cast to text, a
-- composite type with its own cast, a generated code column, a row-level policy, a partitioned table
-- with a foreign partition, a foreign table as inheritance child, a domain over a domain over text
-- whose CHECKs call the probe, and custom =, >, < and ~ operators in a schema on the caller's
-- search_path. An admin (and the consumer role) then runs the adoption:
--  (a) every unsafe table is refused with its BG code (BG602 kind, BG603 code column; BG607, row-level
--      security the package owner is subject to, needs a package owner that is not superuser), with
--      DETAIL and a copyable HINT, and changes nothing;
--  (b) the safe tables (nested domain over text, partitioned table of ordinary
--      partitions, a policy the superuser package owner bypasses) are adopted, reading only what
--      family_read_source checked (FROM ONLY, row_security off);
--  (c) the probe never ran as the package owner, nor as anyone else.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(26);

CREATE TEMP TABLE pkg AS SELECT current_user::name AS package_owner;
CREATE EXTENSION IF NOT EXISTS postgres_fdw;
CREATE ROLE bg620_owner LOGIN;                       -- owns the family tables: no superuser, no package role
CREATE ROLE bg620_admin LOGIN IN ROLE birthgate_admin;
CREATE ROLE bg620_consumer LOGIN IN ROLE birthgate_consumer;
CREATE SCHEMA s620 AUTHORIZATION bg620_owner;
GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO bg620_owner;

SET ROLE bg620_owner;
CREATE TABLE s620.probe_log (who name, what text);
GRANT INSERT ON s620.probe_log TO PUBLIC;
GRANT USAGE ON SCHEMA s620 TO PUBLIC;
CREATE FUNCTION s620.probe(p_what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO s620.probe_log VALUES (current_user, p_what);
    RETURN true;
END $$;
GRANT EXECUTE ON FUNCTION s620.probe(text) TO PUBLIC;
CREATE TABLE s620.t_view (id int, code text);
CREATE TABLE s620.t_range (id int, code text);
CREATE TABLE s620.t_comp (id int, code text);
CREATE TABLE s620.t_gen (id int, code text);
CREATE TABLE s620.t_rls (id int, code text);
CREATE TABLE s620.t_nested (id int, code text);
CREATE TABLE s620.t_plain (id int, code text);
CREATE TABLE s620.t_inh (id int, code text);
CREATE TABLE s620.t_part (id int, code text) PARTITION BY RANGE (id);
CREATE TABLE s620.t_part_1 PARTITION OF s620.t_part FOR VALUES FROM (0) TO (10);
CREATE TABLE s620.t_part_2 PARTITION OF s620.t_part FOR VALUES FROM (10) TO (20);
CREATE TABLE s620.t_partf (id int, code text) PARTITION BY RANGE (id);
CREATE TABLE s620.t_partf_1 PARTITION OF s620.t_partf FOR VALUES FROM (0) TO (10);
-- rows written before the table was governed
INSERT INTO s620.t_range VALUES (1, 'R-1');
INSERT INTO s620.t_comp VALUES (1, 'C-1');
INSERT INTO s620.t_gen VALUES (1, 'G-1');
INSERT INTO s620.t_rls VALUES (1, 'L-1');
INSERT INTO s620.t_nested VALUES (1, 'N-1'), (2, 'N-2');
INSERT INTO s620.t_plain SELECT g, 'P-' || g FROM generate_series(1, 12) AS g;
INSERT INTO s620.t_inh VALUES (1, 'I-1'), (2, 'I-2');
INSERT INTO s620.t_part VALUES (1, 'Q-1'), (11, 'Q-11'), (12, 'Q-12');
INSERT INTO s620.t_partf VALUES (1, 'F-1');
RESET ROLE;

-- the ordinary tables are registered as usual; the owner then drops the gates (it may) and swaps
-- the code column's type. The partitioned ones are registered as rows (register_family takes
-- ordinary tables; adoption reads partitioned ones through the shared gate as well).
SELECT birthgate.register_family(f, ('s620.t_' || f)::regclass, 'code', '^[A-Z]-[0-9]+$', 'report')
  FROM unnest(ARRAY['range', 'comp', 'gen', 'rls', 'nested', 'plain', 'inh']) f;
INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern, mode)
VALUES ('view', 's620.t_view', 'code', '^V-[0-9]+$', 'report'),
       ('part', 's620.t_part', 'code', '^Q-[0-9]+$', 'report'),
       ('partf', 's620.t_partf', 'code', '^F-[0-9]+$', 'report');

SET ROLE bg620_owner;
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['t_range', 't_comp', 't_gen', 't_rls', 't_nested', 't_plain', 't_inh'] LOOP
        -- the hostile owner drops every gate trigger the package attached (whatever their number)
        EXECUTE (SELECT string_agg(format('DROP TRIGGER %I ON s620.%I;', tg.tgname, t), ' ')
                   FROM pg_trigger tg
                  WHERE tg.tgrelid = format('s620.%I', t)::regclass AND NOT tg.tgisinternal AND tg.tgname LIKE '\_%birth\_%');
    END LOOP;
END $$;
-- a domain over a range type whose subtype_diff and cast to text are the owner's
CREATE FUNCTION s620.span_diff(int4, int4) RETURNS float8 LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM s620.probe('range subtype_diff'); RETURN ($1 - $2)::float8; END $$;
CREATE TYPE s620.span AS RANGE (subtype = int4, subtype_diff = s620.span_diff);
CREATE FUNCTION s620.span_text(s620.span) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM s620.probe('range cast to text'); RETURN 'R-1'; END $$;
CREATE CAST (s620.span AS text) WITH FUNCTION s620.span_text(s620.span) AS IMPLICIT;
CREATE DOMAIN s620.span_d AS s620.span CHECK (s620.probe('range domain check'));
ALTER TABLE s620.t_range RENAME COLUMN code TO code_old;
ALTER TABLE s620.t_range ADD COLUMN code s620.span_d;
UPDATE s620.t_range SET code = '[1,5)';
-- a composite type with its own cast to text
CREATE TYPE s620.comp AS (a text);
CREATE FUNCTION s620.comp_text(s620.comp) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM s620.probe('composite cast to text'); RETURN 'C-1'; END $$;
CREATE CAST (s620.comp AS text) WITH FUNCTION s620.comp_text(s620.comp) AS IMPLICIT;
ALTER TABLE s620.t_comp RENAME COLUMN code TO code_old;
ALTER TABLE s620.t_comp ADD COLUMN code s620.comp;
UPDATE s620.t_comp SET code = ROW('C-1');
-- a generated code column over an own function
CREATE FUNCTION s620.gen(text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM s620.probe('generated column'); RETURN $1; END $$;
ALTER TABLE s620.t_gen RENAME COLUMN code TO code_old;
ALTER TABLE s620.t_gen ADD COLUMN code text GENERATED ALWAYS AS (s620.gen(code_old)) STORED;
-- a row-level policy
ALTER TABLE s620.t_rls ENABLE ROW LEVEL SECURITY;
ALTER TABLE s620.t_rls FORCE ROW LEVEL SECURITY;
CREATE POLICY p620 ON s620.t_rls USING (s620.probe('row policy'));
-- a domain over a domain over text whose CHECKs call the probe: text underneath, read but never checked
CREATE DOMAIN s620.code_inner AS text CHECK (s620.probe('inner domain check'));
CREATE DOMAIN s620.code_outer AS s620.code_inner CHECK (s620.probe('outer domain check'));
ALTER TABLE s620.t_nested ALTER COLUMN code TYPE s620.code_outer;
-- a foreign table as inheritance child (a scan without ONLY would connect) and as a partition
CREATE SERVER s620_nowhere FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '/nonexistent/bg620', dbname 'nowhere');
CREATE USER MAPPING FOR PUBLIC SERVER s620_nowhere OPTIONS (user 'nobody');
CREATE FOREIGN TABLE s620.t_inh_remote () INHERITS (s620.t_inh) SERVER s620_nowhere;
CREATE FOREIGN TABLE s620.t_partf_2 PARTITION OF s620.t_partf FOR VALUES FROM (10) TO (20) SERVER s620_nowhere;
RESET ROLE;

-- the view: an ON SELECT rule turns the table into one before PostgreSQL 16; 16+ cannot convert a
-- table, so the family points at a view, the same case
SELECT current_setting('server_version_num')::int < 160000 AS has_rule_views \gset
\if :has_rule_views
SET ROLE bg620_owner;
CREATE RULE "_RETURN" AS ON SELECT TO s620.t_view DO INSTEAD
    SELECT 1 AS id, 'V-1'::text AS code WHERE s620.probe('ON SELECT rule');
RESET ROLE;
\else
SET ROLE bg620_owner;
CREATE VIEW s620.t_view_v AS SELECT 1 AS id, 'V-1'::text AS code WHERE s620.probe('view');
RESET ROLE;
UPDATE birthgate.birth_family SET table_name = 's620.t_view_v' WHERE collection_name = 'view';
\endif
DELETE FROM s620.probe_log;   -- the owner's own ALTER/UPDATE ran some of its code as itself
SELECT is((SELECT relkind::text FROM pg_class WHERE oid = (SELECT table_name FROM birthgate.birth_family WHERE collection_name = 'view')),
          'v', 'setup: the family table of collection view is now a view');

-- (a) every unsafe table refused with its code; nothing changes
CREATE TEMP TABLE before AS
SELECT (SELECT count(*) FROM birthgate.birth_registry) AS reg, (SELECT count(*) FROM birthgate.registry_changelog) AS log,
       (SELECT count(*) FROM birthgate.sweep_finding) AS fnd, (SELECT count(*) FROM birthgate.sweep_cursor) AS cur;
SET ROLE bg620_admin;
SELECT throws_ok($$SELECT * FROM birthgate.sweep_adopt('view')$$, 'BG602', NULL, 'a table swapped for a view (rule) is refused: BG602');
SELECT throws_ok($$SELECT * FROM birthgate.sweep_adopt('view', true)$$, 'BG602', NULL, '... in a dry run too');
SELECT throws_ok($$SELECT * FROM birthgate.sweep_adopt('range')$$, 'BG603', NULL, 'a domain over a range type with an own cast to text: BG603');
SELECT throws_ok($$SELECT * FROM birthgate.sweep_adopt('comp')$$, 'BG603', NULL, 'a composite type with an own cast to text: BG603');
SELECT throws_ok($$SELECT * FROM birthgate.sweep_adopt('gen')$$, 'BG603', NULL, 'a generated code column: BG603');
SELECT throws_ok($$SELECT * FROM birthgate.sweep_adopt('partf')$$, 'BG602', NULL, 'a partitioned table with a foreign partition: BG602');
CREATE TEMP TABLE err620 AS SELECT NULL::text AS state, NULL::text AS detail, NULL::text AS hint;
DO $$
DECLARE v_state text; v_detail text; v_hint text;
BEGIN
    PERFORM * FROM birthgate.sweep_adopt('range');
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
    UPDATE err620 SET state = v_state, detail = v_detail, hint = v_hint;
END $$;
RESET ROLE;
SELECT matches((SELECT detail FROM err620), '^family range: code column code of s620\.t_range has type s620\.span_d',
               'the DETAIL names the family, the column, the table and the type');
SELECT matches((SELECT hint FROM err620), 'SELECT birthgate\.register_family\(''range'', ''s620\.t_range'', ''code'', ',
               'the HINT ends with a copyable, schema-qualified register_family call');
SELECT is((SELECT (reg, log, fnd, cur)::text FROM before),
          ((SELECT count(*) FROM birthgate.birth_registry), (SELECT count(*) FROM birthgate.registry_changelog),
           (SELECT count(*) FROM birthgate.sweep_finding), (SELECT count(*) FROM birthgate.sweep_cursor))::text,
          'the refused calls wrote no registry, changelog, finding or cursor row');
SELECT is((SELECT count(*)::int FROM s620.probe_log), 0, 'the refused calls ran none of the owner''s code');

-- (b) the safe tables are adopted
SET ROLE bg620_admin;
CREATE TEMP TABLE got620 AS
SELECT f, (SELECT r.status || ':' || r.applied FROM birthgate.sweep_adopt(f, false, 100, NULL, false) r) AS res
  FROM unnest(ARRAY['nested', 'part', 'rls']) f;
RESET ROLE;
SELECT is((SELECT res FROM got620 WHERE f = 'nested'), 'finished:2', 'a domain over a domain over text is adopted (2 objects)');
SELECT throws_ok($$SELECT * FROM birthgate.sweep_adopt('inh', false, 100, NULL, false)$$, 'BG607', NULL,
                 'an inheritance parent is refused (BG607): its foreign child holds rows no gate saw, and is never read');
SELECT is((SELECT res FROM got620 WHERE f = 'part'), 'finished:3', 'a partitioned table of ordinary partitions is adopted, every partition');
SELECT is((SELECT res FROM got620 WHERE f = 'rls'), 'finished:1',
          'a table with a forced row-level policy is read without it (the package owner bypasses row-level security; BG607 otherwise)');
SELECT is((SELECT string_agg(entity_code, ',' ORDER BY entity_code) FROM birthgate.birth_registry WHERE collection_name = 'part'),
          'Q-1,Q-11,Q-12', 'the partitioned family''s codes are registered BORN');
SELECT is((SELECT count(*)::int FROM s620.probe_log), 0, 'adopting the safe tables ran none of the owner''s code (no domain CHECK)');

-- the consumer role may run it too, with the same result
SET ROLE bg620_consumer;
SELECT throws_ok($$SELECT * FROM birthgate.sweep_adopt('comp', true)$$, 'BG603', NULL, 'the consumer role gets the same refusal');
CREATE TEMP TABLE cons620 AS SELECT r.status, r.applied FROM birthgate.sweep_adopt('nested', true, 100, NULL, false) r;
RESET ROLE;
SELECT is((SELECT status || ':' || applied FROM cons620), 'finished:0', 'the consumer role''s dry run of an adopted family finds nothing new');

-- (c) custom =, >, < and ~ operators in a schema on the caller's search_path
CREATE SCHEMA s620_ops AUTHORIZATION bg620_owner;
SET ROLE bg620_owner;
GRANT USAGE ON SCHEMA s620_ops TO PUBLIC;
CREATE FUNCTION s620_ops.eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM s620.probe('custom = operator'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE FUNCTION s620_ops.gt(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM s620.probe('custom > operator'); RETURN $1 OPERATOR(pg_catalog.>) $2; END $$;
CREATE FUNCTION s620_ops.lt(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM s620.probe('custom < operator'); RETURN $1 OPERATOR(pg_catalog.<) $2; END $$;
CREATE FUNCTION s620_ops.re(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM s620.probe('custom ~ operator'); RETURN $1 OPERATOR(pg_catalog.~) $2; END $$;
CREATE OPERATOR s620_ops.= (LEFTARG = text, RIGHTARG = text, FUNCTION = s620_ops.eq);
CREATE OPERATOR s620_ops.> (LEFTARG = text, RIGHTARG = text, FUNCTION = s620_ops.gt);
CREATE OPERATOR s620_ops.< (LEFTARG = text, RIGHTARG = text, FUNCTION = s620_ops.lt);
CREATE OPERATOR s620_ops.~ (LEFTARG = text, RIGHTARG = text, FUNCTION = s620_ops.re);
RESET ROLE;
-- (no pgTAP call while the path is set: pgTAP's own comparisons would resolve to the operators)
SET search_path = s620_ops, pg_catalog, public;
SELECT 'x'::text = 'x'::text AS control_fired;
SET ROLE bg620_admin;
CREATE TEMP TABLE ops620 AS
SELECT (SELECT r.status || ':' || r.applied FROM birthgate.sweep_adopt('plain', true, 5, NULL, false) r) AS dry1,
       (SELECT r.status || ':' || r.applied FROM birthgate.sweep_adopt('plain', true, 5, NULL, false) r) AS dry2,
       (SELECT r.status || ':' || r.applied FROM birthgate.sweep_adopt('plain', false, 5, NULL, false) r) AS run1,
       (SELECT r.status || ':' || r.applied FROM birthgate.sweep_adopt('plain', false, 5, NULL, false) r) AS run2,
       (SELECT r.status || ':' || r.applied FROM birthgate.sweep_adopt('plain', false, 5, NULL, false) r) AS run3;
RESET ROLE;
RESET search_path;
SELECT is((SELECT count(*)::int FROM s620.probe_log WHERE what = 'custom = operator'), 1,
          'control: on that search_path the custom operator wins for the caller''s own query');
DELETE FROM s620.probe_log;
SELECT is((SELECT dry1 || ' ' || dry2 FROM ops620), 'batch:5 batch:5', 'with the operators on its search_path, an admin ran dry-run batches (keyset, pattern)');
SELECT is((SELECT run1 || ' ' || run2 || ' ' || run3 FROM ops620), 'batch:5 batch:5 finished:2', '... and the adoption itself, in three batches');
SELECT is((SELECT count(*)::int FROM birthgate.birth_registry WHERE collection_name = 'plain' AND status = 'BORN'), 12,
          'all 12 objects adopted, each once');
SELECT is((SELECT count(*)::int FROM s620.probe_log), 0, 'none of the custom operators ran inside the package');

-- the probe, overall
SELECT is((SELECT count(*)::int FROM s620.probe_log WHERE who = (SELECT package_owner FROM pkg)), 0,
          'the owner''s code never ran as the package owner');
SELECT is((SELECT count(*)::int FROM birthgate.sweep_finding WHERE collection_name IN ('range', 'comp', 'gen', 'view', 'partf')), 0,
          'no finding was written for a table that was never read');

SELECT * FROM finish();
ROLLBACK;
