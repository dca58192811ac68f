-- Test helpers installed into the pgTAP database before pg_prove runs (not a test file).
-- bgtest.connstr(): a libpq connection string back to this very database, for dblink sessions.
-- Override with: ALTER DATABASE ... SET bgtest.connstr = '...' (e.g. on a server that needs a password).
CREATE SCHEMA IF NOT EXISTS bgtest;
CREATE OR REPLACE FUNCTION bgtest.connstr() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        nullif(current_setting('bgtest.connstr', true), ''),
        format('dbname=%s user=%s host=%s port=%s application_name=bgtest_dblink',
               current_database(), current_user,
               coalesce(nullif(split_part(current_setting('unix_socket_directories'), ',', 1), ''), 'localhost'),
               current_setting('port')));
$$;
COMMENT ON FUNCTION bgtest.connstr() IS 'Connection string for dblink sessions opened by the pgTAP suites.';

-- bgtest.outcome(statements, keep): runs the statements, then the deferred checks (SET CONSTRAINTS
-- ALL IMMEDIATE), in a subtransaction that is rolled back unless p_keep; returns 'committed',
-- 'statements failed: <SQLSTATE>' or 'commit failed: <SQLSTATE>'. Runs as the caller (SET ROLE
-- before calling it tests a role's rights).
GRANT USAGE ON SCHEMA bgtest TO PUBLIC;
CREATE OR REPLACE FUNCTION bgtest.outcome(p_stmts text[], p_keep boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_stage text := 'statements';
    v_stmt text;
BEGIN
    BEGIN
        FOREACH v_stmt IN ARRAY p_stmts LOOP
            EXECUTE v_stmt;
        END LOOP;
        v_stage := 'commit';
        SET CONSTRAINTS ALL IMMEDIATE;
        SET CONSTRAINTS ALL DEFERRED;
        IF NOT p_keep THEN
            RAISE EXCEPTION 'undo' USING ERRCODE = 'TT001';
        END IF;
        RETURN 'committed';
    EXCEPTION
        WHEN SQLSTATE 'TT001' THEN RETURN 'committed';
        WHEN OTHERS THEN RETURN v_stage || ' failed: ' || SQLSTATE;
    END;
END
$$;
COMMENT ON FUNCTION bgtest.outcome(text[], boolean) IS 'Statements, then the deferred checks, rolled back unless p_keep: committed / statements failed: SQLSTATE / commit failed: SQLSTATE.';
