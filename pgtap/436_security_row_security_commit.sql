-- 436 security: row-level security at commit with a package owner that does not bypass it (000022).
-- On a managed server the package owner is neither superuser nor BYPASSRLS. Layer 2 and the
-- commit-time re-verification read the family table with row_security = off; on a table with
-- row-level security that read fails. Before 000022: a raw 42501 at commit (e.g. any INSERT of more
-- than 16 rows). Now: enforce BG161 with the table, the package owner and both remedies in DETAIL,
-- report admits and records FAMILY_TABLE_UNSAFE; the remedy makes births work; a package owner
-- that bypasses row security (superuser) is unaffected.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(10);

CREATE ROLE bg436_pkg NOLOGIN;
DO $$ BEGIN EXECUTE format('GRANT %I TO bg436_pkg', current_user); END $$;
CREATE ROLE bg436_owner LOGIN IN ROLE birthgate_admin;
CREATE SCHEMA s436 AUTHORIZATION bg436_owner;
SET ROLE bg436_owner;
CREATE TABLE s436.e (id int PRIMARY KEY, code text NOT NULL UNIQUE);
CREATE TABLE s436.r (id int PRIMARY KEY, code text NOT NULL UNIQUE);
GRANT USAGE ON SCHEMA s436 TO bg436_pkg;
GRANT SELECT ON s436.e, s436.r TO bg436_pkg;
ALTER TABLE s436.e ENABLE ROW LEVEL SECURITY;
ALTER TABLE s436.r ENABLE ROW LEVEL SECURITY;
CREATE POLICY p436 ON s436.e USING (true);
CREATE POLICY p436 ON s436.r USING (true);
SELECT birthgate.register_family('f436e', 's436.e', 'code', '^E-[0-9]+$', 'enforce');
SELECT birthgate.register_family('f436r', 's436.r', 'code', '^E-[0-9]+$', 'report');
RESET ROLE;
SELECT count(birthgate.issue_permit(f, 'E-' || g)) FROM unnest(ARRAY['f436e', 'f436r']) f, generate_series(1, 40) g;

-- control: the default install (a superuser package owner) bypasses row security
SELECT is(bgtest.outcome(ARRAY['SET LOCAL ROLE bg436_owner', 'INSERT INTO s436.e SELECT g, ''E-'' || g FROM generate_series(1, 20) g']),
          'committed', 'control: a superuser package owner checks 20 births on a table with row-level security');

ALTER FUNCTION birthgate.tg_admission_reverify() OWNER TO bg436_pkg;
ALTER FUNCTION birthgate.tg_birth_finalize() OWNER TO bg436_pkg;
SELECT ok(NOT (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = 'bg436_pkg') AND NOT pg_has_role('bg436_pkg', 'bg436_owner', 'USAGE'),
          'setup: the commit checks run as a package owner that does not bypass row security and does not own the table');
CREATE TEMP TABLE before436 AS SELECT (SELECT count(*) FROM birthgate.birth_registry) AS reg, (SELECT count(*) FROM birthgate.birth_gate_violation) AS vio,
                                     (SELECT count(*) FROM birthgate.birth_admission_permit WHERE state = 'ISSUED') AS issued;

-- enforce: BG161 instead of a raw 42501
SELECT is(bgtest.outcome(ARRAY['SET LOCAL ROLE bg436_owner', 'INSERT INTO s436.e SELECT g, ''E-'' || g FROM generate_series(1, 20) g']),
          'commit failed: BG161', 'enforce: 20 births on a table whose row security the package owner cannot bypass: BG161 at commit (a raw 42501 before)');
SELECT is(bgtest.outcome(ARRAY['SET LOCAL ROLE bg436_owner', 'INSERT INTO s436.e VALUES (1, ''E-1'')']),
          'commit failed: BG161', 'enforce: a single birth too (the table cannot be checked)');
SELECT is(bgtest.outcome(ARRAY['SET LOCAL ROLE bg436_owner', 'INSERT INTO s436.e VALUES (1, ''E-1'')', 'DELETE FROM s436.e']),
          'commit failed: BG161', 'enforce: a birth deleted again (layer 2 per row): BG161, not 42501');
CREATE FUNCTION pg_temp.detail436() RETURNS text LANGUAGE plpgsql AS $$
DECLARE v text;
BEGIN
    BEGIN
        SET LOCAL ROLE bg436_owner;
        INSERT INTO s436.e SELECT g, 'E-' || g FROM generate_series(1, 20) g;
        SET CONSTRAINTS ALL IMMEDIATE;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v = PG_EXCEPTION_DETAIL;
    END;
    SET CONSTRAINTS ALL DEFERRED;
    RESET ROLE;
    RETURN v;
END $$;
SELECT matches(pg_temp.detail436(), 'row-level security is enabled on s436\.e and the package owner bg436_pkg does not bypass it: ALTER ROLE bg436_pkg BYPASSRLS; or ALTER TABLE s436\.e DISABLE ROW LEVEL SECURITY;',
               'enforce: DETAIL names the table, the package owner and both remedies');
SELECT is(ARRAY[(SELECT count(*) FROM birthgate.birth_registry), (SELECT count(*) FROM birthgate.birth_gate_violation), (SELECT count(*) FROM birthgate.birth_admission_permit WHERE state = 'ISSUED')],
          (SELECT ARRAY[reg, vio, issued] FROM before436), 'enforce: the refusals changed nothing');

-- report: admitted and recorded
SELECT is(bgtest.outcome(ARRAY['SET LOCAL ROLE bg436_owner', 'INSERT INTO s436.r SELECT g, ''E-'' || g FROM generate_series(1, 20) g'], true),
          'committed', 'report: 20 births are admitted');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM birthgate.birth_gate_violation WHERE collection_name = 'f436r' AND detail ->> 'finding' = 'FAMILY_TABLE_UNSAFE'
              AND detail ->> 'reason' LIKE 'row-level security is enabled on s436.r%'), 20,
          'report: each of the 20 births is recorded as FAMILY_TABLE_UNSAFE (row-level security) by layer 2');

-- the remedy in DETAIL makes births work
SET ROLE bg436_owner;
ALTER TABLE s436.e DISABLE ROW LEVEL SECURITY;
RESET ROLE;
SELECT is(bgtest.outcome(ARRAY['SET LOCAL ROLE bg436_owner', 'INSERT INTO s436.e SELECT g, ''E-'' || g FROM generate_series(1, 20) g']),
          'committed', 'after ALTER TABLE ... DISABLE ROW LEVEL SECURITY the 20 births commit');

SELECT * FROM finish();
ROLLBACK;
