-- pgTAP 668: who may execute a package function, as the drift monitor sees it (000026).
-- The package grants EXECUTE only to its own roles, each only the functions of its role table,
-- never WITH GRANT OPTION. Any other grant is a function_execute_grant finding: critical on a
-- SECURITY DEFINER function (the grantee runs it with the owner's rights), a warning on a plain one;
-- a capture never records a role outside the package as a legitimate grantee.
BEGIN;
SELECT plan(12);

SELECT is((SELECT count(*)::int FROM birthgate.v_drift_report WHERE kind IN ('function_execute_grant', 'function_public_execute')), 0,
          'no grant finding on the installed package (every grant is the package''s own)');

CREATE ROLE b668_app NOLOGIN;
-- a login of the application granted a SECURITY DEFINER function directly
GRANT EXECUTE ON FUNCTION birthgate.issue_permit(text, text, interval) TO b668_app;
SELECT results_eq(
  $$SELECT severity, kind, detail ->> 'grantee' FROM birthgate.v_drift_report WHERE kind = 'function_execute_grant'$$,
  $$VALUES ('critical'::text, 'function_execute_grant'::text, 'b668_app'::text)$$,
  'EXECUTE on issue_permit for a role outside the package: one critical function_execute_grant naming it');
SELECT matches((SELECT remedy FROM birthgate.v_drift_report WHERE kind = 'function_execute_grant'),
               '^REVOKE EXECUTE ON ROUTINE birthgate\.issue_permit\(text,text,interval\) FROM b668_app CASCADE;',
               'its remedy is a copyable REVOKE of that grant');
-- the remedy, run as printed (up to the first semicolon), clears it
SELECT lives_ok((SELECT split_part(remedy, ';', 1) FROM birthgate.v_drift_report WHERE kind = 'function_execute_grant'), 'the remedy runs');
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_report WHERE kind = 'function_execute_grant'), 0, 'and the finding is gone');

-- a package role granted a function outside its role table: the reader would change family modes
GRANT EXECUTE ON FUNCTION birthgate.set_family_mode(text, text) TO birthgate_reader;
SELECT results_eq(
  $$SELECT severity, detail ->> 'grantee' FROM birthgate.v_drift_report WHERE kind = 'function_execute_grant'$$,
  $$VALUES ('critical'::text, 'birthgate_reader'::text)$$,
  'set_family_mode granted to birthgate_reader, which the baseline does not name for it: critical');
REVOKE EXECUTE ON FUNCTION birthgate.set_family_mode(text, text) FROM birthgate_reader;

-- a grant option on a package role's own grant
GRANT EXECUTE ON FUNCTION birthgate.outbox_claim(text, integer, interval) TO birthgate_delivery WITH GRANT OPTION;
SELECT results_eq(
  $$SELECT severity, (detail ->> 'grant_option')::boolean FROM birthgate.v_drift_report WHERE kind = 'function_execute_grant'$$,
  $$VALUES ('critical'::text, true)$$,
  'outbox_claim WITH GRANT OPTION to birthgate_delivery: critical, grant_option true');
SELECT matches((SELECT remedy FROM birthgate.v_drift_report WHERE kind = 'function_execute_grant'),
               '^REVOKE GRANT OPTION FOR EXECUTE ON ROUTINE birthgate\.outbox_claim\(text,integer,interval\) FROM birthgate_delivery CASCADE;$',
               'its remedy revokes only the grant option');
SELECT lives_ok((SELECT remedy FROM birthgate.v_drift_report WHERE kind = 'function_execute_grant'), 'that remedy runs');
SELECT ok(has_function_privilege('birthgate_delivery', 'birthgate.outbox_claim(text,integer,interval)', 'EXECUTE')
          AND (SELECT count(*) FROM birthgate.v_drift_report WHERE kind = 'function_execute_grant') = 0,
          'the delivery role keeps EXECUTE, the finding is gone');

-- a plain (not SECURITY DEFINER) package function granted outside the package: a warning
SELECT is((SELECT count(*)::int FROM pg_proc p WHERE p.pronamespace = 'birthgate'::regnamespace AND p.proname = 'assert_writable' AND NOT p.prosecdef), 1,
          'assert_writable is a plain function (security invoker)');
GRANT EXECUTE ON FUNCTION birthgate.assert_writable(text, text) TO b668_app;
SELECT results_eq(
  $$SELECT severity FROM birthgate.v_drift_report WHERE kind = 'function_execute_grant'$$,
  $$VALUES ('warning'::text)$$,
  'EXECUTE on a plain package function for a role outside the package: a warning');

SELECT * FROM finish();
ROLLBACK;
