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
