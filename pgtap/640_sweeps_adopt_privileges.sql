-- 640 sweeps, adoption of a family table the package owner may not read (migration 000012). On a
-- managed server the package is installed by a role that is not superuser: sweep_adopt then reads a
-- family table with rights that row-level security, a missing GRANT or a missing USAGE on the
-- schema can refuse. Here sweep_adopt belongs to such a role (bg640_pkg: member of the installing
-- role, so it has the package's own tables, but neither superuser nor BYPASSRLS), and a table owner
-- that is not superuser either (bg640_owner, a birthgate_admin) adopts its own tables:
--  (a) RLS enabled, RLS forced, a policy that refuses every row: BG609, dry run and run, DETAIL with
--      the table, HINT with ALTER ROLE ... BYPASSRLS and ALTER TABLE ... DISABLE ROW LEVEL SECURITY;
--  (b) no SELECT for the package owner, no USAGE on the schema (a raw 42501 before 000012), a
--      partitioned parent without SELECT (its partitions readable): BG608 with the GRANT statements;
--  (c) none of these changed anything (registry, changelog, findings, cursors counted before/after);
--  (d) the remedies in the HINTs, run as they are, make the adoption work;
--  (e) a family table swapped for a view or a partitioned table between the dry run and the run is
--      BG602 (nothing read) with move_family in the HINT; the backfill never reads family tables.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(32);

CREATE ROLE bg640_pkg NOLOGIN;
DO $$ BEGIN EXECUTE format('GRANT %I TO bg640_pkg', current_user); END $$;
ALTER FUNCTION birthgate.sweep_adopt(text, boolean, integer, integer, boolean) OWNER TO bg640_pkg;
CREATE ROLE bg640_owner LOGIN IN ROLE birthgate_admin;
CREATE SCHEMA s640 AUTHORIZATION bg640_owner;
CREATE SCHEMA s640_closed AUTHORIZATION bg640_owner;

SELECT ok(NOT (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = 'bg640_pkg'),
          'setup: the package owner of sweep_adopt is neither superuser nor BYPASSRLS');
SELECT is((SELECT proowner::regrole::text FROM pg_proc WHERE oid = 'birthgate.sweep_adopt(text, boolean, integer, integer, boolean)'::regprocedure),
          'bg640_pkg', 'setup: sweep_adopt runs as bg640_pkg');

SET ROLE bg640_owner;
GRANT USAGE ON SCHEMA s640 TO bg640_pkg;
CREATE TABLE s640.t_rls (id int, code text);
CREATE TABLE s640.t_forced (id int, code text);
CREATE TABLE s640.t_refuse (id int, code text);
CREATE TABLE s640.t_nosel (id int, code text);
CREATE TABLE s640_closed.t_closed (id int, code text);
CREATE TABLE s640.t_part (id int, code text) PARTITION BY RANGE (id);
CREATE TABLE s640.t_part_1 PARTITION OF s640.t_part FOR VALUES FROM (0) TO (100);
CREATE TABLE s640.t_swap (id int, code text);
CREATE TABLE s640.t_swapp (id int, code text);
INSERT INTO s640.t_rls SELECT g, 'L-' || g FROM generate_series(1, 3) g;
INSERT INTO s640.t_forced SELECT g, 'F-' || g FROM generate_series(1, 3) g;
INSERT INTO s640.t_refuse SELECT g, 'R-' || g FROM generate_series(1, 3) g;
INSERT INTO s640.t_nosel SELECT g, 'N-' || g FROM generate_series(1, 3) g;
INSERT INTO s640_closed.t_closed SELECT g, 'C-' || g FROM generate_series(1, 3) g;
INSERT INTO s640.t_part SELECT g, 'P-' || g FROM generate_series(1, 3) g;
INSERT INTO s640.t_swap SELECT g, 'S-' || g FROM generate_series(1, 3) g;
INSERT INTO s640.t_swapp SELECT g, 'W-' || g FROM generate_series(1, 3) g;
GRANT SELECT ON s640.t_rls, s640.t_forced, s640.t_refuse, s640_closed.t_closed, s640.t_part_1, s640.t_swap, s640.t_swapp TO bg640_pkg;
SELECT birthgate.register_family(f, ('s640.t_' || f)::regclass, 'code', '^[A-Z]-[0-9]+$', 'report')
  FROM unnest(ARRAY['rls', 'forced', 'refuse', 'nosel', 'swap', 'swapp']) f;
SELECT birthgate.register_family('closed', 's640_closed.t_closed', 'code', '^[A-Z]-[0-9]+$', 'report');
ALTER TABLE s640.t_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY p640_all ON s640.t_rls USING (true);
ALTER TABLE s640.t_forced ENABLE ROW LEVEL SECURITY;
ALTER TABLE s640.t_forced FORCE ROW LEVEL SECURITY;
CREATE POLICY p640_all ON s640.t_forced USING (true);
ALTER TABLE s640.t_refuse ENABLE ROW LEVEL SECURITY;
CREATE POLICY p640_none ON s640.t_refuse USING (false);
RESET ROLE;
-- register_family takes ordinary tables; a partitioned family is recorded as a row (as in 620)
INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern, mode)
VALUES ('part', 's640.t_part', 'code', '^P-[0-9]+$', 'report');

CREATE TEMP TABLE before640 AS
SELECT (SELECT count(*) FROM birthgate.birth_registry) AS reg, (SELECT count(*) FROM birthgate.registry_changelog) AS log,
       (SELECT count(*) FROM birthgate.sweep_finding) AS fnd, (SELECT count(*) FROM birthgate.sweep_cursor) AS cur;
CREATE TEMP TABLE err640 (f text, dry boolean, state text, detail text, hint text);
GRANT ALL ON err640 TO PUBLIC;

-- every refused call, as the table owner, with what it raised
SET ROLE bg640_owner;
DO $$
DECLARE v_f text; v_dry boolean; v_state text; v_detail text; v_hint text;
BEGIN
    FOREACH v_f IN ARRAY ARRAY['rls', 'forced', 'refuse', 'nosel', 'closed', 'part'] LOOP
        FOREACH v_dry IN ARRAY ARRAY[true, false] LOOP
            v_state := 'no error';
            v_detail := NULL;
            v_hint := NULL;
            BEGIN
                PERFORM * FROM birthgate.sweep_adopt(v_f, v_dry);
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
            END;
            INSERT INTO err640 VALUES (v_f, v_dry, v_state, v_detail, v_hint);
        END LOOP;
    END LOOP;
END $$;
RESET ROLE;

-- (a) row-level security
SELECT is((SELECT string_agg(DISTINCT state, ',') FROM err640 WHERE f = 'rls'), 'BG609', 'RLS enabled (not forced) on a table the package owner does not own: BG609, dry run and run');
SELECT is((SELECT string_agg(DISTINCT state, ',') FROM err640 WHERE f = 'forced'), 'BG609', 'RLS forced: BG609, dry run and run');
SELECT is((SELECT string_agg(DISTINCT state, ',') FROM err640 WHERE f = 'refuse'), 'BG609', 'a policy that refuses every row: BG609, dry run and run');
SELECT matches((SELECT detail FROM err640 WHERE f = 'refuse' AND NOT dry), '^family refuse: s640\.t_refuse has row-level security enabled and the package owner bg640_pkg',
               'the BG609 DETAIL names the family, the table and the package owner');
SELECT matches((SELECT hint FROM err640 WHERE f = 'refuse' AND NOT dry),
               'ALTER ROLE bg640_pkg BYPASSRLS;.*ALTER TABLE s640\.t_refuse DISABLE ROW LEVEL SECURITY;.*ALTER TABLE s640\.t_refuse ENABLE ROW LEVEL SECURITY;',
               'the BG609 HINT gives both remedies as statements: BYPASSRLS for the package owner, or RLS off for the adoption and on again');

-- (b) privileges
SELECT is((SELECT string_agg(DISTINCT state, ',') FROM err640 WHERE f = 'nosel'), 'BG608', 'no SELECT for the package owner: BG608, dry run and run');
SELECT is((SELECT string_agg(DISTINCT state, ',') FROM err640 WHERE f = 'closed'), 'BG608', 'no USAGE on the schema (a raw 42501 before): BG608, dry run and run');
SELECT is((SELECT string_agg(DISTINCT state, ',') FROM err640 WHERE f = 'part'), 'BG608', 'a partitioned parent without SELECT (its partition readable): BG608, not a raw 42501');
SELECT matches((SELECT detail FROM err640 WHERE f = 'closed' AND NOT dry), '^family closed, table s640_closed\.t_closed, package owner bg640_pkg: the package owner bg640_pkg may not read s640_closed\.t_closed: no USAGE on schema s640_closed$',
               'the BG608 DETAIL names the family, the table, the package owner and what was refused');
SELECT matches((SELECT hint FROM err640 WHERE f = 'closed' AND NOT dry), 'run: GRANT USAGE ON SCHEMA s640_closed TO bg640_pkg;$',
               'the BG608 HINT ends with exactly the missing GRANT (USAGE on the schema; SELECT was granted)');
SELECT matches((SELECT hint FROM err640 WHERE f = 'nosel' AND NOT dry), 'run: GRANT SELECT ON s640\.t_nosel TO bg640_pkg;$',
               '... and for a table without SELECT, the GRANT SELECT');
SELECT matches((SELECT hint FROM err640 WHERE f = 'part' AND NOT dry), 'run: GRANT SELECT ON s640\.t_part TO bg640_pkg;$',
               '... and for the partitioned parent, the GRANT SELECT on the parent only');
SELECT is((SELECT count(*)::int FROM err640 WHERE state NOT LIKE 'BG%'), 0, 'no call raised anything but a BG error');

-- (c) nothing changed
SELECT is((SELECT (reg, log, fnd, cur)::text FROM before640),
          ((SELECT count(*) FROM birthgate.birth_registry), (SELECT count(*) FROM birthgate.registry_changelog),
           (SELECT count(*) FROM birthgate.sweep_finding), (SELECT count(*) FROM birthgate.sweep_cursor))::text,
          'the refused calls wrote no registry, changelog, finding or cursor row');

-- the procedure and the one-batch function agree; a BG error is not retried
SET ROLE bg640_owner;
SELECT throws_ok($$CALL birthgate.sweep_adopt_run('closed')$$, 'BG608', NULL, 'sweep_adopt_run raises the BG608 at once (not retried as a transient error)');
RESET ROLE;
SELECT is((SELECT error_count FROM birthgate.sweep_cursor WHERE sweep_name = 'adopt:closed'), NULL::bigint, '... and wrote no cursor (nothing to resume)');

-- (d) the remedies, run as the HINTs give them
CREATE TEMP TABLE fix640 AS
SELECT f, substring(hint FROM 'run: (.*)$') AS grants
  FROM err640 WHERE state = 'BG608' AND NOT dry;
GRANT SELECT ON fix640 TO PUBLIC;
SET ROLE bg640_owner;
DO $$ DECLARE v text; BEGIN FOR v IN SELECT grants FROM fix640 LOOP EXECUTE v; END LOOP; END $$;
CREATE TEMP TABLE got640 AS
SELECT f, (SELECT r.status || ':' || r.applied FROM birthgate.sweep_adopt(f, false, 100, NULL, false) r) AS res
  FROM unnest(ARRAY['nosel', 'closed', 'part']) f;
-- RLS off for the adoption only, on again afterwards (the second remedy of the BG609 HINT)
ALTER TABLE s640.t_refuse DISABLE ROW LEVEL SECURITY;
INSERT INTO got640 SELECT 'refuse', (SELECT r.status || ':' || r.applied FROM birthgate.sweep_adopt('refuse', false, 100, NULL, false) r);
ALTER TABLE s640.t_refuse ENABLE ROW LEVEL SECURITY;
RESET ROLE;
SELECT is((SELECT res FROM got640 WHERE f = 'nosel'), 'finished:3', 'after the GRANT SELECT of the HINT, the table is adopted');
SELECT is((SELECT res FROM got640 WHERE f = 'closed'), 'finished:3', 'after the GRANT USAGE of the HINT, the table is adopted');
SELECT is((SELECT res FROM got640 WHERE f = 'part'), 'finished:3', 'after the GRANT SELECT on the parent, the partitioned table is adopted');
SELECT is((SELECT res FROM got640 WHERE f = 'refuse'), 'finished:3', 'with RLS off for the adoption, the refusing table is adopted (all 3 rows, the policy never ran)');
-- the first remedy: the package owner may bypass RLS (a superuser grants it)
ALTER ROLE bg640_pkg BYPASSRLS;
SET ROLE bg640_owner;
CREATE TEMP TABLE bypass640 AS
SELECT f, (SELECT r.status || ':' || r.applied FROM birthgate.sweep_adopt(f, false, 100, NULL, false) r) AS res
  FROM unnest(ARRAY['rls', 'forced']) f;
RESET ROLE;
ALTER ROLE bg640_pkg NOBYPASSRLS;
SELECT is((SELECT string_agg(f || '=' || res, ' ' ORDER BY f) FROM bypass640), 'forced=finished:3 rls=finished:3',
          'with BYPASSRLS, the RLS-enabled and the RLS-forced table are adopted, every row');
SELECT is((SELECT count(*)::int FROM birthgate.birth_registry WHERE collection_name IN ('rls', 'forced', 'refuse', 'nosel', 'closed', 'part')), 18,
          'the registry holds the 18 objects of the six tables, each once');

-- (e) swapped between the dry run and the run
SET ROLE bg640_owner;
CREATE TEMP TABLE dry640 AS
SELECT f, (SELECT r.status || ':' || r.applied FROM birthgate.sweep_adopt(f, true, 100, NULL, false) r) AS res
  FROM unnest(ARRAY['swap', 'swapp']) f;
DROP TABLE s640.t_swap;
CREATE VIEW s640.t_swap AS SELECT 1 AS id, 'S-1'::text AS code;
DROP TABLE s640.t_swapp;
CREATE TABLE s640.t_swapp (id int, code text) PARTITION BY RANGE (id);
CREATE TABLE s640.t_swapp_1 PARTITION OF s640.t_swapp FOR VALUES FROM (0) TO (100);
INSERT INTO s640.t_swapp VALUES (1, 'W-1');
RESET ROLE;
SELECT is((SELECT string_agg(f || '=' || res, ' ' ORDER BY f) FROM dry640), 'swap=finished:3 swapp=finished:3', 'setup: the dry runs saw 3 adoptable rows each');
CREATE TEMP TABLE before640e AS SELECT (SELECT count(*) FROM birthgate.birth_registry) AS reg;
SET ROLE bg640_owner;
SELECT throws_ok($$SELECT * FROM birthgate.sweep_adopt('swap')$$, 'BG602', NULL, 'a table replaced by a view after the dry run: BG602');
SELECT throws_ok($$SELECT * FROM birthgate.sweep_adopt('swapp')$$, 'BG602', NULL, 'a table replaced by a partitioned table after the dry run: BG602');
DO $$
DECLARE v_hint text;
BEGIN
    PERFORM * FROM birthgate.sweep_adopt('swapp');
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_hint = PG_EXCEPTION_HINT;
    INSERT INTO err640 VALUES ('swapp', false, 'hint', NULL, v_hint);
END $$;
RESET ROLE;
SELECT matches((SELECT hint FROM err640 WHERE f = 'swapp' AND state = 'hint'), 'SELECT birthgate\.move_family\(''swapp'', ',
               'the HINT names move_family, the recorded way to point the family at the new table');
SELECT is((SELECT count(*) FROM birthgate.birth_registry), (SELECT reg FROM before640e), 'the refused runs adopted nothing');
SELECT is((SELECT count(*)::int FROM birthgate.sweep_cursor WHERE sweep_name IN ('adopt:swap', 'adopt:swapp')), 0, '... and wrote no cursor');

-- the backfill reads package tables only: the hostile tables do not concern it
UPDATE birthgate.sweep_cursor SET finished_at = now() WHERE sweep_name = 'backfill';   -- a fresh run, whatever ran before
SET ROLE bg640_owner;
SELECT lives_ok($q$DO $do$ BEGIN LOOP EXIT WHEN (SELECT status FROM birthgate.sweep_backfill(NULL, NULL, false)) <> 'batch'; END LOOP; END $do$$q$,
                'the backfill runs to its end for the same non-superuser admin');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM birthgate.governance_candidate_state WHERE collection_name IN ('rls', 'forced', 'refuse', 'nosel', 'closed', 'part')), 18,
          '... and seeds a candidate for each of the 18 adopted objects');

SELECT * FROM finish();
ROLLBACK;
