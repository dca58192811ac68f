-- 310 drift monitor: structure of drift_baseline, the hash views, the family scan and the report;
-- then every finding kind appears when provoked and disappears when repaired: a gate function
-- altered (whitespace-only and owner changes are not drift), a function dropped or added, a gate
-- trigger disabled / replica-only / dropped / redefined, a package trigger disabled, a row inserted
-- under session_replication_role = replica (unborn), a born object deleted (phantom), the handoff
-- heartbeat aged. Reading the report writes nothing.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(70);

-- structure
SELECT has_table('birthgate', 'drift_baseline', 'drift_baseline exists');
SELECT col_is_pk('birthgate', 'drift_baseline', ARRAY['object_kind', 'identity'], 'drift_baseline is keyed by (object_kind, identity)');
SELECT col_has_check('birthgate', 'drift_baseline', 'object_kind', 'object_kind is checked (function | trigger)');
SELECT has_view('birthgate', 'v_drift_function_hash', 'v_drift_function_hash exists');
SELECT has_view('birthgate', 'v_drift_trigger_state', 'v_drift_trigger_state exists');
SELECT has_view('birthgate', 'v_drift_report', 'v_drift_report exists');
SELECT function_returns('birthgate', 'drift_capture_baseline', ARRAY[]::text[], 'integer', 'drift_capture_baseline() returns integer');
SELECT volatility_is('birthgate', 'drift_capture_baseline', ARRAY[]::text[], 'volatile', 'drift_capture_baseline() is volatile');
SELECT is_definer('birthgate', 'drift_capture_baseline', ARRAY[]::text[], 'drift_capture_baseline() is SECURITY DEFINER');
SELECT volatility_is('birthgate', 'drift_family_objects', ARRAY['text'], 'stable', 'the family scan is stable (detect-only)');
SELECT volatility_is('birthgate', 'drift_normalize_definition', ARRAY['text'], 'immutable', 'normalisation is immutable');
SELECT volatility_is('birthgate', 'drift_assert_clean', ARRAY['text'], 'stable', 'drift_assert_clean() is stable (detect-only)');
SELECT ok(NOT has_function_privilege('public', 'birthgate.drift_capture_baseline()', 'EXECUTE'), 'PUBLIC cannot capture a baseline');
SELECT ok(has_function_privilege('birthgate_admin', 'birthgate.drift_capture_baseline()', 'EXECUTE')
          AND NOT has_function_privilege('birthgate_reader', 'birthgate.drift_capture_baseline()', 'EXECUTE'),
          'only the admin role may capture a baseline');
SELECT ok(has_table_privilege('birthgate_reader', 'birthgate.v_drift_report', 'SELECT'), 'the reader role may read the report');
SELECT is(birthgate.drift_normalize_definition(E'SELECT  a ,\n\t b FROM ( x )'), 'SELECT a,b FROM(x)',
          'normalisation collapses whitespace and drops it next to punctuation');

-- a governed family with one born object; a fresh heartbeat
CREATE TABLE public.drift_probe (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text);
SELECT birthgate.register_family('drift_probe', 'public.drift_probe', 'code', '^DP-[0-9]+$', 'enforce');
SELECT birthgate.issue_permit('drift_probe', 'DP-1');
INSERT INTO public.drift_probe (code) VALUES ('DP-1');
SET CONSTRAINTS ALL IMMEDIATE;
UPDATE birthgate.handoff_cursor SET heartbeat_at = now();
CREATE TEMP TABLE saved AS
SELECT p.oid::regprocedure::text AS fn, pg_get_functiondef(p.oid) AS def
  FROM pg_proc p WHERE p.oid IN ('birthgate.tg_birth_gate()'::regprocedure, 'birthgate.expire_permits()'::regprocedure,
                                 'birthgate.tg_registry_changelog_append_only()'::regprocedure);
CREATE TEMP VIEW findings AS SELECT severity, kind, object_name FROM birthgate.v_drift_report;

SELECT is((SELECT status FROM birthgate.birth_registry WHERE collection_name = 'drift_probe' AND entity_code = 'DP-1'), 'BORN',
          'setup: DP-1 is born through a permit');
SELECT is_empty('SELECT * FROM findings', 'a registered family with a born object and a fresh heartbeat: no findings');
SELECT results_eq($$SELECT state, count(*)::int FROM birthgate.v_drift_trigger_state WHERE collection_name = 'drift_probe' GROUP BY state$$,
                  $$VALUES ('ok'::text, 7)$$, 'registering a family after the baseline is not drift: all seven gate triggers ok');
SELECT is(birthgate.drift_assert_clean('info'), 0, 'drift_assert_clean(info) passes on a clean database');

-- reading the report writes nothing
CREATE TEMP TABLE writes_before AS SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) AS n FROM pg_stat_xact_user_tables;
SELECT count(*) FROM birthgate.v_drift_report;
SELECT count(*) FROM birthgate.v_drift_trigger_state;
SELECT is((SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_xact_user_tables),
          (SELECT n FROM writes_before) + 1, 'reading the drift views writes no row (the +1 is writes_before itself)');

-- functions: whitespace-only and ownership changes are not drift
DO $$ BEGIN EXECUTE replace((SELECT def FROM saved WHERE fn = 'birthgate.tg_registry_changelog_append_only()'), E'\n', E'\n    '); END $$;
ALTER FUNCTION birthgate.tg_registry_changelog_append_only() OWNER TO birthgate_admin;
SELECT isnt((SELECT def FROM saved WHERE fn = 'birthgate.tg_registry_changelog_append_only()'),
            pg_get_functiondef('birthgate.tg_registry_changelog_append_only()'::regprocedure), 'setup: the function text was re-indented');
SELECT is_empty('SELECT * FROM findings', 'a re-indented function with another owner is not drift');

-- a gate function altered
CREATE OR REPLACE FUNCTION birthgate.tg_birth_gate() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
SELECT results_eq('SELECT * FROM findings', $$VALUES ('critical'::text, 'function_drifted'::text, 'birthgate.tg_birth_gate()'::text)$$,
                  'an altered gate function is a critical function_drifted finding');
SELECT is((SELECT state FROM birthgate.v_drift_function_hash WHERE identity = 'birthgate.tg_birth_gate()'), 'drifted',
          'v_drift_function_hash shows it drifted');
SELECT throws_ok($$SELECT birthgate.drift_assert_clean()$$, 'BG300', NULL, 'drift_assert_clean() raises BG300 while it is drifted');
DO $$ BEGIN EXECUTE (SELECT def FROM saved WHERE fn = 'birthgate.tg_birth_gate()'); END $$;
SELECT is_empty('SELECT * FROM findings', 'restoring the gate function from its migration clears the finding');

-- a function dropped, a function added
DROP FUNCTION birthgate.expire_permits();
SELECT results_eq('SELECT * FROM findings', $$VALUES ('critical'::text, 'function_missing'::text, 'birthgate.expire_permits()'::text)$$,
                  'a dropped package function is a critical function_missing finding');
DO $$ BEGIN EXECUTE (SELECT def FROM saved WHERE fn = 'birthgate.expire_permits()'); END $$;
SELECT results_eq('SELECT * FROM findings', $$VALUES ('critical'::text, 'function_public_execute'::text, 'birthgate.expire_permits()'::text)$$,
                  'recreated from its text, it is no longer missing, but PUBLIC may now execute it, a SECURITY DEFINER function: critical (since 000026)');
REVOKE ALL ON FUNCTION birthgate.expire_permits() FROM PUBLIC;
SELECT is_empty('SELECT * FROM findings', 'with the grant repaired, no finding is left');
CREATE FUNCTION birthgate.sneaky() RETURNS integer LANGUAGE sql AS 'SELECT 1';
SELECT results_eq('SELECT * FROM findings',
                  $$VALUES ('warning'::text, 'function_public_execute'::text, 'birthgate.sneaky()'::text),
                           ('warning', 'function_unexpected', 'birthgate.sneaky()')$$,
                  'a new function in the schema is flagged, and so is its EXECUTE for PUBLIC');
DROP FUNCTION birthgate.sneaky();
SELECT is_empty('SELECT * FROM findings', 'dropping it clears both');

-- gate triggers: disabled, replica-only, always, dropped, redefined
ALTER TABLE public.drift_probe DISABLE TRIGGER _100_birth_gate;
SELECT results_eq('SELECT * FROM findings', $$VALUES ('critical'::text, 'trigger_disabled'::text, '_100_birth_gate ON public.drift_probe'::text)$$,
                  'a disabled gate trigger is a critical trigger_disabled finding');
SELECT is((SELECT enabled_mode FROM birthgate.v_drift_trigger_state WHERE collection_name = 'drift_probe' AND trigger_name = '_100_birth_gate'),
          'disabled', 'v_drift_trigger_state reads tgenabled D as disabled');
ALTER TABLE public.drift_probe ENABLE TRIGGER _100_birth_gate;
SELECT results_eq('SELECT * FROM findings', $$VALUES ('critical'::text, 'trigger_altered'::text, '_100_birth_gate ON public.drift_probe'::text)$$,
                  'enabled again, the gate stays a critical trigger_altered finding (since 000016): births may have gone ungated meanwhile');
SELECT is((SELECT state FROM birthgate.v_drift_trigger_state WHERE collection_name = 'drift_probe' AND trigger_name = '_100_birth_gate'),
          'altered', 'v_drift_trigger_state: altered (its pg_trigger row changed after the package attached it)');
SELECT matches((SELECT remedy FROM birthgate.v_drift_report WHERE kind = 'trigger_altered'),
               'DROP TRIGGER IF EXISTS _100_birth_gate ON public.drift_probe; SELECT birthgate.register_family\(''drift_probe''',
               'its remedy re-attaches the gate');
SELECT birthgate.register_family('drift_probe', 'public.drift_probe', 'code', '^DP-[0-9]+$', 'enforce');
SELECT results_eq('SELECT kind FROM findings', $$VALUES ('trigger_altered'::text)$$,
                  're-registering alone (idempotent: the gates are all there) does not launder the alteration');
DROP TRIGGER IF EXISTS _100_birth_gate ON public.drift_probe;
SELECT birthgate.register_family('drift_probe', 'public.drift_probe', 'code', '^DP-[0-9]+$', 'enforce');
SELECT is_empty('SELECT * FROM findings', 'the remedy (drop the gate, re-register) clears the finding');
ALTER TABLE public.drift_probe ENABLE REPLICA TRIGGER _900_birth_finalize;
SELECT results_eq('SELECT * FROM findings', $$VALUES ('critical'::text, 'trigger_replica_only'::text, '_900_birth_finalize ON public.drift_probe'::text)$$,
                  'a gate trigger that fires only under replica mode is critical: it never fires in a normal session');
ALTER TABLE public.drift_probe ENABLE ALWAYS TRIGGER _900_birth_finalize;
SELECT results_eq($$SELECT * FROM findings WHERE kind <> 'trigger_altered'$$, $$VALUES ('info'::text, 'trigger_always'::text, '_900_birth_finalize ON public.drift_probe'::text)$$,
                  'ENABLE ALWAYS (fires even under replica mode) is only info (besides the alteration itself)');
ALTER TABLE public.drift_probe ENABLE TRIGGER _900_birth_finalize;
SELECT results_eq('SELECT * FROM findings', $$VALUES ('critical'::text, 'trigger_altered'::text, '_900_birth_finalize ON public.drift_probe'::text)$$,
                  'the installed state again: only the alteration is reported');
DROP TRIGGER _900_birth_finalize ON public.drift_probe;
SELECT results_eq('SELECT * FROM findings', $$VALUES ('critical'::text, 'trigger_missing'::text, '_900_birth_finalize ON public.drift_probe'::text)$$,
                  'a dropped gate trigger is a critical trigger_missing finding');
SELECT matches((SELECT remedy FROM birthgate.v_drift_report WHERE kind = 'trigger_missing'),
               'register_family\(''drift_probe'', ''public.drift_probe'', ''code'', ''\^DP-\[0-9\]\+\$'', ''enforce''\)',
               'its remedy is the exact register_family call for the family');
SELECT birthgate.register_family('drift_probe', 'public.drift_probe', 'code', '^DP-[0-9]+$', 'enforce');
SELECT is_empty('SELECT * FROM findings', 're-registering the family (idempotent) re-attaches it: no finding');
DROP TRIGGER _100_birth_gate ON public.drift_probe;
CREATE TRIGGER _100_birth_gate BEFORE INSERT ON public.drift_probe FOR EACH ROW EXECUTE FUNCTION birthgate.tg_birth_gate('drift_probe');
COMMENT ON TRIGGER _100_birth_gate ON public.drift_probe IS 'hand-made';
SELECT results_eq('SELECT * FROM findings', $$VALUES ('critical'::text, 'trigger_drifted'::text, '_100_birth_gate ON public.drift_probe'::text)$$,
                  'a gate trigger recreated without UPDATE OF code is a critical trigger_drifted finding');
SELECT birthgate.register_family('drift_probe', 'public.drift_probe', 'code', '^DP-[0-9]+$', 'enforce');
SELECT is_empty('SELECT * FROM findings', 're-registering repairs the drifted trigger');

-- a package trigger (the changelog guard) disabled
ALTER TABLE birthgate.registry_changelog DISABLE TRIGGER _100_append_only;
SELECT results_eq('SELECT * FROM findings',
                  $$VALUES ('critical'::text, 'trigger_disabled'::text, '_100_append_only ON birthgate.registry_changelog'::text)$$,
                  'the changelog append-only guard disabled is critical');
ALTER TABLE birthgate.registry_changelog ENABLE TRIGGER _100_append_only;
SELECT is_empty('SELECT * FROM findings', 'enabled again: no finding');

-- unborn: a superuser inserts under session_replication_role = replica (no gate fires)
SET session_replication_role = replica;
INSERT INTO public.drift_probe (code) VALUES ('DP-2'), (NULL);
RESET session_replication_role;
SELECT results_eq('SELECT * FROM findings', $$VALUES ('critical'::text, 'unborn_objects'::text, 'drift_probe'::text)$$,
                  'rows inserted under replica mode in an enforce family are a critical unborn_objects finding');
SELECT results_eq($$SELECT finding, entity_code FROM birthgate.drift_family_objects('drift_probe') ORDER BY entity_code NULLS LAST$$,
                  $$VALUES ('unborn'::text, 'DP-2'::text), ('unborn', NULL)$$, 'drift_family_objects lists them, NULL code included');
SELECT is((SELECT detail->>'count' FROM birthgate.v_drift_report WHERE kind = 'unborn_objects'), '2', 'the finding counts them');
SELECT birthgate.set_family_mode('drift_probe', 'report');
SELECT results_eq('SELECT * FROM findings', $$VALUES ('warning'::text, 'unborn_objects'::text, 'drift_probe'::text)$$,
                  'in a report family unborn objects are a warning');
SELECT birthgate.set_family_mode('drift_probe', 'enforce');
DELETE FROM public.drift_probe WHERE code = 'DP-2' OR code IS NULL;
SELECT is_empty('SELECT * FROM findings', 'removing the unborn rows clears the finding');

-- phantom: a born object deleted (layer 2 held off for the delete: in this one test transaction
-- the birth and the delete share a transaction, which layer 2 would refuse)
ALTER TABLE public.drift_probe DISABLE TRIGGER _905_birth_finalize_delete;
DELETE FROM public.drift_probe WHERE code = 'DP-1';
ALTER TABLE public.drift_probe ENABLE TRIGGER _905_birth_finalize_delete;
SELECT results_eq($$SELECT * FROM findings WHERE kind <> 'trigger_altered'$$, $$VALUES ('warning'::text, 'phantom_objects'::text, 'drift_probe'::text)$$,
                  'a BORN registry row whose object is gone is a phantom_objects finding');
SELECT results_eq($$SELECT * FROM findings WHERE kind = 'trigger_altered'$$, $$VALUES ('critical'::text, 'trigger_altered'::text, '_905_birth_finalize_delete ON public.drift_probe'::text)$$,
                  'and the gate held off for the delete is reported as altered');
DROP TRIGGER _905_birth_finalize_delete ON public.drift_probe;
SELECT birthgate.register_family('drift_probe', 'public.drift_probe', 'code', '^DP-[0-9]+$', 'enforce');
SELECT results_eq($$SELECT finding, entity_code FROM birthgate.drift_family_objects('drift_probe')$$,
                  $$VALUES ('phantom'::text, 'DP-1'::text)$$, 'drift_family_objects names the phantom');
SELECT birthgate.retire('drift_probe', 'DP-1', 'object deleted by hand; retired after the drift report');
SELECT is_empty('SELECT * FROM findings', 'retiring the code clears the phantom finding');

-- the handoff heartbeat ages
UPDATE birthgate.handoff_cursor SET heartbeat_at = now() - interval '1 hour';
SELECT results_eq('SELECT * FROM findings', $$VALUES ('critical'::text, 'heartbeat_stale'::text, 'governance_handoff'::text)$$,
                  'a heartbeat older than stale_after is a critical heartbeat_stale finding');
SELECT matches((SELECT message FROM birthgate.v_drift_report WHERE kind = 'heartbeat_stale'), 'activation fails closed',
               'the message says that governed activation fails closed');
UPDATE birthgate.handoff_cursor SET heartbeat_at = NULL;
SELECT results_eq('SELECT kind FROM findings', $$VALUES ('heartbeat_stale'::text)$$,
                  'a consumer that never ran while changelog rows wait is stale too');
UPDATE birthgate.handoff_cursor SET heartbeat_at = now();
SELECT is_empty('SELECT * FROM findings', 'a fresh heartbeat clears it');

-- accepting a reviewed change: capture the baseline again
CREATE OR REPLACE FUNCTION birthgate.tg_birth_gate() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
SELECT isnt_empty('SELECT * FROM findings', 'setup: the gate function drifted again');
SELECT cmp_ok(birthgate.drift_capture_baseline(), '>', 10, 'drift_capture_baseline() records every owned function and trigger');
SELECT is_empty('SELECT * FROM findings', 'after the capture the change is the baseline');
SELECT is((SELECT count(*)::int FROM birthgate.drift_baseline WHERE scope = 'family' AND identity LIKE 'public.drift_probe.%'), 2,
          'the baseline records the family gate triggers too');
DO $$ BEGIN EXECUTE (SELECT def FROM saved WHERE fn = 'birthgate.tg_birth_gate()'); END $$;
SELECT birthgate.drift_capture_baseline();

-- family table or code column gone
ALTER TABLE public.drift_probe RENAME COLUMN code TO code_renamed;
SELECT results_eq('SELECT severity, kind FROM findings', $$VALUES ('critical'::text, 'family_column_missing'::text)$$,
                  'a renamed code column is a critical family_column_missing finding (and the scan skips the family)');
ALTER TABLE public.drift_probe RENAME COLUMN code_renamed TO code;
DROP TABLE public.drift_probe;
SELECT results_eq('SELECT severity, kind FROM findings', $$VALUES ('critical'::text, 'family_table_missing'::text)$$,
                  'a dropped family table is a critical family_table_missing finding');

-- errors
SELECT throws_ok($$SELECT * FROM birthgate.drift_family_objects('no_such_family')$$, 'BG302', NULL, 'scanning an unknown family raises BG302');
SELECT throws_ok($$SELECT birthgate.drift_assert_clean('fatal')$$, 'BG301', NULL, 'an unknown severity raises BG301');

SELECT * FROM finish();
ROLLBACK;
