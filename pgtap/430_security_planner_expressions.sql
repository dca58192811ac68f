-- 430 security, what the planner evaluates: planning a query over a family table as the package
-- owner const-folds its index expressions and partial-index predicates, its CHECK constraints (with
-- constraint_exclusion = on), its statistics expressions and its partitions' keys. A table owner who
-- puts an IMMUTABLE function of their own there must not get it run as the package owner, and an
-- inheritance child (rows that never pass a gate) must not hide from the drift monitor:
--  (a) each such table is an unsafe family table: a critical drift finding naming why, BG321 from
--      retire_gate_check, and the probe never records the package owner;
--  (b) expressions built from pg_catalog only (lower(code), a partial index on code IS NOT NULL,
--      a CHECK on length) are no reason to refuse: the family is read as before.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(15);

CREATE ROLE bg430_owner;
CREATE SCHEMA s430 AUTHORIZATION bg430_owner;
GRANT USAGE ON SCHEMA s430 TO PUBLIC;
SET ROLE bg430_owner;
CREATE TABLE s430.probe_log (who name, what text);
GRANT INSERT ON s430.probe_log TO PUBLIC;
CREATE FUNCTION s430.probe(p_what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN INSERT INTO s430.probe_log VALUES (current_user, p_what); RETURN true; END $$;
CREATE FUNCTION s430.imm(p_what text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM s430.probe(p_what); RETURN true; END $$;
CREATE FUNCTION s430.imm_int(p_what text) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM s430.probe(p_what); RETURN 0; END $$;
CREATE TABLE s430.t_idx (id int PRIMARY KEY, code text);
CREATE TABLE s430.t_chk (id int PRIMARY KEY, code text);
CREATE TABLE s430.t_stx (id int PRIMARY KEY, code text, name text);
CREATE TABLE s430.t_inh (id int PRIMARY KEY, code text);
CREATE TABLE s430.t_part (id int, code text) PARTITION BY RANGE ((id + s430.imm_int('partition key')));
CREATE TABLE s430.t_part_1 PARTITION OF s430.t_part FOR VALUES FROM (0) TO (1000);
CREATE TABLE s430.t_fine (id int PRIMARY KEY, code text CHECK (length(code) < 50));
CREATE INDEX ON s430.t_fine (lower(code));
CREATE INDEX ON s430.t_fine (code) WHERE code IS NOT NULL;
INSERT INTO s430.t_idx VALUES (1, 'X-1');
INSERT INTO s430.t_chk VALUES (1, 'X-1');
INSERT INTO s430.t_stx VALUES (1, 'X-1', 'a');
INSERT INTO s430.t_inh VALUES (1, 'X-1');
INSERT INTO s430.t_part VALUES (1, 'X-1');
INSERT INTO s430.t_fine VALUES (1, 'X-1');
RESET ROLE;
SELECT birthgate.register_family(f, format('s430.%I', 't_' || f)::regclass, 'code', '^X-[0-9]+$', 'report')
  FROM unnest(ARRAY['idx', 'chk', 'stx', 'inh', 'fine']) f;
-- a partitioned family is registered by hand (the gates refuse partitioned tables; the readers support them)
INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern, mode)
VALUES ('part', 's430.t_part', 'code', '^X-[0-9]+$', 'report');
INSERT INTO birthgate.birth_registry (collection_name, entity_code)
SELECT f, 'X-1' FROM unnest(ARRAY['idx', 'chk', 'stx', 'inh', 'part', 'fine']) f
ON CONFLICT DO NOTHING;

-- the owner arms the traps after registration
SET ROLE bg430_owner;
CREATE INDEX t_idx_trap ON s430.t_idx (code) WHERE s430.imm('partial index predicate');
ALTER TABLE s430.t_chk ADD CONSTRAINT t_chk_trap CHECK (s430.imm('check constraint'));
CREATE STATISTICS s430.t_stx_trap ON (id + s430.imm_int('statistics expression')), name FROM s430.t_stx;
CREATE TABLE s430.t_inh_child () INHERITS (s430.t_inh);
INSERT INTO s430.t_inh_child VALUES (2, 'X-2');
RESET ROLE;
TRUNCATE s430.probe_log;
SET LOCAL constraint_exclusion = on;

-- (a) the readers refuse every trapped table and run nothing of the owner
CREATE TEMP TABLE unsafe430 AS
SELECT d.detail->>'collection_name' AS collection_name, d.severity, d.detail
  FROM birthgate.v_drift_report d
 WHERE d.kind = 'family_table_unsafe' AND d.detail->>'collection_name' IN ('idx', 'chk', 'stx', 'inh', 'part', 'fine');
SELECT set_eq($$SELECT collection_name FROM unsafe430$$, ARRAY['idx', 'chk', 'stx', 'inh', 'part'],
              'v_drift_report: a critical family_table_unsafe finding for every trapped table, none for t_fine');
SELECT is((SELECT count(*)::int FROM unsafe430 WHERE severity = 'critical'), 5, 'all five findings are critical');
SELECT ok((SELECT detail::text LIKE '%index%' FROM unsafe430 WHERE collection_name = 'idx'), 'the index finding names the index');
SELECT ok((SELECT detail::text LIKE '%CHECK constraint%' FROM unsafe430 WHERE collection_name = 'chk'), 'the CHECK finding names the constraint');
SELECT ok((SELECT detail::text LIKE '%statistics object%' FROM unsafe430 WHERE collection_name = 'stx'), 'the statistics finding names the statistics object');
SELECT ok((SELECT detail::text LIKE '%inheritance child%t_inh_child%' FROM unsafe430 WHERE collection_name = 'inh'), 'the inheritance finding names the child');
SELECT ok((SELECT detail::text LIKE '%partition key%' FROM unsafe430 WHERE collection_name = 'part'), 'the partition finding names the partition key');
SELECT throws_ok($$SELECT * FROM birthgate.retire_gate_check('idx', 'X-1')$$, 'BG321', NULL, 'retire_gate_check: BG321 for the partial-index trap');
SELECT throws_ok($$SELECT * FROM birthgate.retire_gate_check('chk', 'X-1')$$, 'BG321', NULL, 'retire_gate_check: BG321 for the CHECK trap');
SELECT throws_ok($$SELECT * FROM birthgate.retire_gate_check('inh', 'X-1')$$, 'BG321', NULL,
                 'retire_gate_check: BG321 for a table with an inheritance child (never "phantom" for a row only the child holds)');
SELECT throws_ok($$SELECT * FROM birthgate.sweep_adopt('stx', true)$$, 'BG607', NULL, 'sweep_adopt: BG607 for the statistics trap');
SELECT is_empty($$SELECT who, what FROM s430.probe_log WHERE who = current_user$$,
                'the probe never ran as the package owner');

-- (b) pg_catalog-only expressions are read as before
SELECT is((SELECT allowed FROM birthgate.retire_gate_check('fine', 'X-1')), false, 't_fine (lower(code) index, partial index on code, length CHECK) is read: X-1 is live');
SELECT is((SELECT birthgate.family_relation_unsafe('s430.t_fine'::regclass)), NULL, 'family_relation_unsafe finds nothing in pg_catalog-only expressions');
SELECT is((SELECT count(*)::int FROM birthgate.drift_family_objects('fine') WHERE finding = 'unsafe_table'), 0, 'and drift_family_objects scans it');

SELECT * FROM finish();
ROLLBACK;
