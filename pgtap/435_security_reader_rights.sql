-- 435 security: who may read the monitor (000019).
--   (a) every view granted to birthgate_reader (and to birthgate_admin) reads without error for a
--       member that has no right at all on the schema of a family table (before 000019 the drift
--       views raised 42501 "permission denied for schema" from birth_gate_trigger_definitions);
--   (b) with a package owner that is not superuser (bg435_pkg owns drift_family_objects and
--       retire_gate_check, as on a managed server) and a family table whose schema it may not use
--       (never granted, or revoked by the table owner), v_drift_report does not fail (raw 42501
--       before 000019): that family is a critical family_table_unsafe finding naming the missing
--       USAGE, the other families are still scanned (a phantom elsewhere is found), retire_gate_check
--       raises BG321, and nothing is written;
--   (c) the remedy (GRANT USAGE) clears the finding.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(14);

CREATE ROLE bg435_reader LOGIN IN ROLE birthgate_reader;
CREATE ROLE bg435_admin LOGIN IN ROLE birthgate_admin;
CREATE ROLE bg435_owner LOGIN IN ROLE birthgate_admin;
CREATE ROLE bg435_pkg NOLOGIN;
DO $$ BEGIN EXECUTE format('GRANT %I TO bg435_pkg', current_user); END $$;
CREATE SCHEMA s435_closed AUTHORIZATION bg435_owner;
CREATE SCHEMA s435_open AUTHORIZATION bg435_owner;
SET ROLE bg435_owner;
CREATE TABLE s435_closed.t (id int PRIMARY KEY, code text NOT NULL UNIQUE);
CREATE TABLE s435_open.t (id int PRIMARY KEY, code text NOT NULL UNIQUE);
GRANT USAGE ON SCHEMA s435_open TO bg435_pkg;
GRANT SELECT ON s435_closed.t, s435_open.t TO bg435_pkg;
SELECT birthgate.register_family('closed435', 's435_closed.t', 'code', '^C-[0-9]+$', 'enforce');
SELECT birthgate.register_family('open435', 's435_open.t', 'code', '^O-[0-9]+$', 'enforce');
RESET ROLE;
SELECT birthgate.issue_permit('closed435', 'C-1'), birthgate.issue_permit('open435', 'O-1');
SET ROLE bg435_owner;
INSERT INTO s435_closed.t VALUES (1, 'C-1');
INSERT INTO s435_open.t VALUES (1, 'O-1');
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
RESET ROLE;
-- a phantom in the open family: its object deleted with the gates out of the way (as a superuser may)
SET LOCAL session_replication_role = replica;
DELETE FROM s435_open.t WHERE code = 'O-1';
SET LOCAL session_replication_role = origin;
SELECT birthgate.drift_capture_baseline();

SELECT ok(NOT has_schema_privilege('bg435_reader', 's435_closed', 'USAGE') AND NOT has_schema_privilege('bg435_admin', 's435_closed', 'USAGE'),
          'setup: neither the reader nor the admin may use the family table''s schema');

-- (a) every view a reader / an admin may read, read as that role ------------------------------------
CREATE FUNCTION pg_temp.unreadable(p_role name) RETURNS text LANGUAGE plpgsql AS $$
DECLARE v_view regclass; v_bad text[] := '{}';
BEGIN
    FOR v_view IN SELECT c.oid::regclass FROM pg_class c
                   WHERE c.relnamespace = 'birthgate'::regnamespace AND c.relkind = 'v' AND has_table_privilege(p_role, c.oid, 'SELECT')
                   ORDER BY 1
    LOOP
        BEGIN
            EXECUTE format('SET LOCAL ROLE %I', p_role);
            EXECUTE format('SELECT count(*) FROM %s', v_view);
            RESET ROLE;
        EXCEPTION WHEN OTHERS THEN
            RESET ROLE;
            v_bad := v_bad || format('%s: %s %s', v_view, SQLSTATE, SQLERRM);
        END;
    END LOOP;
    RETURN array_to_string(v_bad, '; ');
END $$;
SELECT cmp_ok((SELECT count(*)::int FROM pg_class c WHERE c.relnamespace = 'birthgate'::regnamespace AND c.relkind = 'v'
                  AND has_table_privilege('bg435_reader', c.oid, 'SELECT')), '>=', 10, 'setup: the reader may read the monitoring views');
SELECT is(pg_temp.unreadable('bg435_reader'), '', 'a reader without rights on the family schemas reads every view granted to it');
SELECT is(pg_temp.unreadable('bg435_admin'), '', 'an admin without rights on the family schemas reads every view granted to it');
SET ROLE bg435_reader;
SELECT is((SELECT string_agg(DISTINCT state, ',') FROM birthgate.v_drift_trigger_state WHERE collection_name = 'closed435'), 'ok',
          'the reader sees the gate triggers of the closed family as ok');
RESET ROLE;

-- (b) a package owner that is not superuser, without USAGE on a family schema ------------------------
ALTER FUNCTION birthgate.drift_family_objects(text) OWNER TO bg435_pkg;
ALTER FUNCTION birthgate.retire_gate_check(text, text) OWNER TO bg435_pkg;
SELECT ok(NOT (SELECT rolsuper FROM pg_roles WHERE rolname = 'bg435_pkg') AND NOT has_schema_privilege('bg435_pkg', 's435_closed', 'USAGE'),
          'setup: the package owner of the family scan is no superuser and may not use s435_closed');
CREATE TEMP TABLE before435 AS
SELECT (SELECT count(*) FROM birthgate.birth_registry) AS registry, (SELECT count(*) FROM birthgate.registry_changelog) AS changelog,
       (SELECT count(*) FROM birthgate.birth_gate_violation) AS violations;
SET ROLE bg435_reader;
SELECT lives_ok('SELECT count(*) FROM birthgate.v_drift_report', 'v_drift_report does not fail on a family schema the package owner may not use');
SELECT is((SELECT severity || ' ' || kind FROM birthgate.v_drift_report WHERE detail ->> 'collection_name' = 'closed435' AND kind = 'family_table_unsafe'),
          'critical family_table_unsafe', 'that family is a critical family_table_unsafe finding');
SELECT matches((SELECT message FROM birthgate.v_drift_report WHERE detail ->> 'collection_name' = 'closed435' AND kind = 'family_table_unsafe'),
               'may not read s435_closed\.t: no USAGE on schema s435_closed', 'the finding names the missing USAGE');
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_report WHERE kind = 'phantom_objects' AND message LIKE 'family open435:%'), 1,
          'the other families are still scanned: the phantom of open435 is found');
RESET ROLE;
SET ROLE bg435_admin;
SELECT throws_ok($$SELECT * FROM birthgate.retire_gate_check('closed435', 'C-1')$$, 'BG321', NULL,
                 'retire_gate_check: BG321 (the table cannot be read), not a raw 42501');
RESET ROLE;
SELECT is((SELECT ARRAY[(SELECT count(*) FROM birthgate.birth_registry), (SELECT count(*) FROM birthgate.registry_changelog),
                        (SELECT count(*) FROM birthgate.birth_gate_violation)]),
          (SELECT ARRAY[registry, changelog, violations] FROM before435), 'nothing was written by the refused reads');

-- (c) the remedy -----------------------------------------------------------------------------------
SET ROLE bg435_owner;
GRANT USAGE ON SCHEMA s435_closed TO bg435_pkg;
RESET ROLE;
SET ROLE bg435_reader;
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_report WHERE detail ->> 'collection_name' = 'closed435'), 0,
          'after GRANT USAGE the closed family has no finding');
RESET ROLE;
SET ROLE bg435_owner;
REVOKE USAGE ON SCHEMA s435_closed FROM bg435_pkg;
RESET ROLE;
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_report WHERE detail ->> 'collection_name' = 'closed435' AND kind = 'family_table_unsafe'), 1,
          'revoked again by the table owner: the finding is back (the monitor is not blinded)');

SELECT * FROM finish();
ROLLBACK;
