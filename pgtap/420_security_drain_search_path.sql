-- 420 security, handoff_drain and the caller's search_path: a procedure that commits can have no
-- SET clause, so it would resolve names through the caller's search_path. A table owner puts an
-- exact-match operator *(numeric, integer) (which beats the built-in numeric * numeric even with
-- pg_catalog first on the path: CVE-2018-1058) into a schema on the cron role's path; the consumer
-- CALLs handoff_drain there. The probe records nothing: drain pins its own path at the top and
-- after every COMMIT. The CALL needs its own session (it commits): dblink; committed objects are
-- removed at the end.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(5);

SELECT dblink_connect('s420', bgtest.connstr()) AS s420 \gset
SELECT dblink_exec('s420', $q$
    DROP SCHEMA IF EXISTS s420_ops CASCADE;   -- left over by an interrupted run
    DROP ROLE IF EXISTS bg420_owner;
    DROP ROLE IF EXISTS bg420_cron;
    CREATE ROLE bg420_owner LOGIN;
    CREATE ROLE bg420_cron LOGIN IN ROLE birthgate_consumer;
    CREATE SCHEMA s420_ops AUTHORIZATION bg420_owner;
    SET ROLE bg420_owner;
    GRANT USAGE ON SCHEMA s420_ops TO PUBLIC;
    CREATE TABLE s420_ops.probe_log (who name, what text);
    GRANT SELECT, INSERT, DELETE ON s420_ops.probe_log TO PUBLIC;
    CREATE FUNCTION s420_ops.mul(numeric, integer) RETURNS numeric LANGUAGE plpgsql AS $f$
    BEGIN
        INSERT INTO s420_ops.probe_log VALUES (current_user, 'numeric * integer');
        RETURN $1 OPERATOR(pg_catalog.*) $2::numeric;
    END $f$;
    GRANT EXECUTE ON FUNCTION s420_ops.mul(numeric, integer) TO PUBLIC;
    CREATE OPERATOR s420_ops.* (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = s420_ops.mul);
    RESET ROLE$q$) AS setup \gset

SELECT is(dblink_exec('s420', $q$SET ROLE bg420_cron; SET search_path = s420_ops, public$q$), 'SET',
          'a consumer session with the owner''s schema on its search_path');
SELECT is((SELECT v FROM dblink('s420', $q$SELECT (1.5 * 2)::text$q$) AS t(v text)), '3.0',
          'control: there an unqualified numeric * integer runs the owner''s operator');
SELECT is((SELECT n FROM dblink('s420', $q$SELECT count(*)::int FROM s420_ops.probe_log$q$) AS t(n int)), 1, 'and the probe saw it');
SELECT dblink_exec('s420', 'DELETE FROM s420_ops.probe_log') AS cleared \gset
SELECT lives_ok($$SELECT dblink_exec('s420', 'CALL birthgate.handoff_drain(10, 2)')$$,
                'the consumer CALLs handoff_drain (two batches, a COMMIT after each)');
SELECT is((SELECT n FROM dblink('s420', $q$RESET ROLE; SELECT count(*)::int FROM s420_ops.probe_log$q$) AS t(n int)), 0,
          'handoff_drain resolved nothing through the caller''s search_path: the operator never ran');

SELECT dblink_exec('s420', $q$RESET ROLE; RESET search_path;
    DROP SCHEMA s420_ops CASCADE;
    DROP ROLE bg420_owner;
    DROP ROLE bg420_cron$q$) AS cleanup \gset
SELECT dblink_disconnect('s420') AS disconnected \gset

SELECT * FROM finish();
ROLLBACK;
