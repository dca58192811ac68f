-- 666 drift monitor after a restore (000026): every trigger the package owns or attaches is a
-- deparse/re-parse fixpoint (re-created from its own pg_get_triggerdef, as pg_restore does, it keeps
-- its definition and hash); the permit guard in its canonical form still guards; a gate without a
-- record of its own (restore, DROP + CREATE TRIGGER) is a critical trigger_unrecorded finding that
-- gate_attach_record() clears, after which DISABLE/ENABLE is trigger_altered again and is not
-- laundered; an attach record naming another trigger is no record; PUBLIC EXECUTE on a SECURITY
-- DEFINER package function is critical with a remedy that, run as printed, clears it.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(38);

-- structure
SELECT has_function('birthgate', 'gate_attach_record', ARRAY['text'], 'gate_attach_record(text) exists');
SELECT function_returns('birthgate', 'gate_attach_record', ARRAY['text'], 'integer', 'gate_attach_record() returns integer');
SELECT volatility_is('birthgate', 'gate_attach_record', ARRAY['text'], 'volatile', 'gate_attach_record() is volatile');
SELECT is_definer('birthgate', 'gate_attach_record', ARRAY['text'], 'gate_attach_record() is SECURITY DEFINER');
SELECT ok(NOT has_function_privilege('public', 'birthgate.gate_attach_record(text)', 'EXECUTE'), 'PUBLIC cannot record gates');
SELECT ok(has_function_privilege('birthgate_admin', 'birthgate.gate_attach_record(text)', 'EXECUTE')
          AND NOT has_function_privilege('birthgate_reader', 'birthgate.gate_attach_record(text)', 'EXECUTE')
          AND NOT has_function_privilege('birthgate_issuer', 'birthgate.gate_attach_record(text)', 'EXECUTE'),
          'only the admin role may record gates');
SELECT has_column('birthgate', 'drift_baseline', 'execute_grantees', 'drift_baseline records who may execute each function');
SELECT is((SELECT execute_grantees FROM birthgate.drift_baseline WHERE object_kind = 'function' AND identity = 'birthgate.set_family_mode(text,text)'),
          ARRAY['birthgate_admin']::text[], 'the baseline records the admin role as the one grantee of set_family_mode');

-- a family, born objects, a fresh heartbeat: a clean report
CREATE TABLE public.restore_probe (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text);
SELECT birthgate.register_family('restore_probe', 'public.restore_probe', 'code', '^RP-[0-9]+$', 'enforce');
SELECT birthgate.issue_permit('restore_probe', 'RP-' || g) FROM generate_series(1, 3) AS g;
INSERT INTO public.restore_probe (code) VALUES ('RP-1');
SET CONSTRAINTS ALL IMMEDIATE;
UPDATE birthgate.handoff_cursor SET heartbeat_at = now();
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_report), 0, 'the report starts clean');

-- every trigger on a package table or calling a package function, re-created from its own definition
CREATE TEMP TABLE walked (tbl regclass, name name, def text, def_after text, family text);
INSERT INTO walked (tbl, name, def, family)
SELECT t.tgrelid::regclass, t.tgname, pg_get_triggerdef(t.oid), f.collection_name
  FROM pg_trigger t
  JOIN pg_class c ON c.oid = t.tgrelid
  JOIN pg_proc p ON p.oid = t.tgfoid
  LEFT JOIN birthgate.birth_family f ON f.table_name::oid = t.tgrelid
 WHERE NOT t.tgisinternal AND (c.relnamespace = 'birthgate'::regnamespace OR p.pronamespace = 'birthgate'::regnamespace);
SAVEPOINT walk;
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT * FROM walked LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', r.name, r.tbl);
        EXECUTE r.def;
    END LOOP;
END $$;
UPDATE walked w SET def_after = (SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t WHERE t.tgrelid = w.tbl AND t.tgname = w.name);
SELECT cmp_ok((SELECT count(*)::int FROM walked), '>=', 16, 'the walk covers the package triggers and the seven gates');
SELECT is((SELECT string_agg(name || ' ON ' || tbl::text, ', ') FROM walked WHERE def_after IS DISTINCT FROM def), NULL,
          'every trigger re-created from its pg_get_triggerdef comes back with the same definition (a fixpoint)');
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_report WHERE kind <> 'trigger_unrecorded'), 0,
          'after the re-creation: no finding but trigger_unrecorded (no trigger_drifted, no function finding)');
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_report WHERE kind = 'trigger_unrecorded' AND severity = 'critical'),
          (SELECT count(*)::int FROM walked WHERE family IS NOT NULL), 'each re-created gate is a critical trigger_unrecorded finding');
SELECT is(birthgate.gate_attach_record(), (SELECT count(*)::int FROM walked WHERE family IS NOT NULL), 'gate_attach_record() records every re-created gate');
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_report), 0, 'after gate_attach_record() the report is clean again');
ROLLBACK TO SAVEPOINT walk;

-- the canonical permit guard still guards
SELECT throws_ok($$UPDATE birthgate.birth_admission_permit SET issued_by = 'someone' WHERE entity_code = 'RP-2'$$, 'BG116', NULL,
                 'a live permit''s terms cannot change (canonical WHEN clause)');
SELECT throws_ok($$UPDATE birthgate.birth_admission_permit SET state = 'REVOKED' WHERE entity_code = 'RP-1'$$, 'BG112', NULL,
                 'a consumed permit stays consumed');
SELECT lives_ok($$SELECT birthgate.revoke_permit(permit_id, 'test') FROM birthgate.birth_admission_permit WHERE entity_code = 'RP-3'$$,
                'ISSUED -> REVOKED still passes the guard');

-- a gate dropped and created again
CREATE TEMP TABLE gate_def AS
SELECT pg_get_triggerdef(oid) AS def FROM pg_trigger WHERE tgrelid = 'public.restore_probe'::regclass AND tgname = '_905_birth_finalize_delete';
DROP TRIGGER _905_birth_finalize_delete ON public.restore_probe;
SELECT is((SELECT state FROM birthgate.v_drift_trigger_state WHERE table_name = 'public.restore_probe' AND trigger_name = '_905_birth_finalize_delete'), 'missing',
          'a dropped gate is missing');
DO $$ BEGIN EXECUTE (SELECT def FROM gate_def); END $$;
SELECT is((SELECT state FROM birthgate.v_drift_trigger_state WHERE table_name = 'public.restore_probe' AND trigger_name = '_905_birth_finalize_delete'), 'unrecorded',
          'the gate created again with the same definition is unrecorded');
SELECT is((SELECT severity || ' ' || kind FROM birthgate.v_drift_report WHERE object_name = '_905_birth_finalize_delete ON public.restore_probe'),
          'critical trigger_unrecorded', 'it is a critical trigger_unrecorded finding');
SELECT matches((SELECT remedy FROM birthgate.v_drift_report WHERE kind = 'trigger_unrecorded'),
               'SELECT birthgate\.gate_attach_record\(''restore_probe''\);$', 'its remedy names the step to run');
-- unknown family: BG302, nothing changes
CREATE TEMP TABLE attach_before AS SELECT count(*) AS n FROM birthgate.gate_trigger_attach;
SELECT throws_ok($$SELECT birthgate.gate_attach_record('no_such_family')$$, 'BG302', NULL, 'an unknown family raises BG302');
SELECT is((SELECT count(*) FROM birthgate.gate_trigger_attach), (SELECT n FROM attach_before), 'BG302 changed no attach record');
SELECT is(birthgate.gate_attach_record('restore_probe'), 1, 'gate_attach_record records the one unrecorded gate');
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_report), 0, 'the report is clean again');
SELECT is((SELECT count(*)::int FROM birthgate.gate_trigger_attach a WHERE a.collection_name = 'restore_probe' AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.oid = a.trigger_oid)), 0,
          'the record of the dropped trigger is gone');
-- after that, an alteration is seen and not laundered
ALTER TABLE public.restore_probe DISABLE TRIGGER _905_birth_finalize_delete;
ALTER TABLE public.restore_probe ENABLE TRIGGER _905_birth_finalize_delete;
SELECT is((SELECT kind FROM birthgate.v_drift_report WHERE object_name = '_905_birth_finalize_delete ON public.restore_probe'), 'trigger_altered',
          'DISABLE/ENABLE after recording is trigger_altered');
SELECT is(birthgate.gate_attach_record('restore_probe'), 0, 'gate_attach_record does not refresh a valid record');
SELECT is((SELECT kind FROM birthgate.v_drift_report WHERE object_name = '_905_birth_finalize_delete ON public.restore_probe'), 'trigger_altered',
          'the alteration stays a finding');

-- an attach record that names another trigger (a reused OID) is no record
SAVEPOINT forged;
UPDATE birthgate.gate_trigger_attach SET trigger_name = '_900_birth_finalize'
 WHERE table_oid = 'public.restore_probe'::regclass AND trigger_name = '_110_birth_register';
SELECT is((SELECT state FROM birthgate.v_drift_trigger_state WHERE table_name = 'public.restore_probe' AND trigger_name = '_110_birth_register'), 'unrecorded',
          'a record whose OID matches but whose trigger name does not is no record');
ROLLBACK TO SAVEPOINT forged;

-- PUBLIC EXECUTE on package functions
GRANT EXECUTE ON FUNCTION birthgate.set_family_mode(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION birthgate.drift_normalize_definition(text) TO PUBLIC;
SELECT is((SELECT severity FROM birthgate.v_drift_report WHERE kind = 'function_public_execute' AND object_name = 'birthgate.set_family_mode(text,text)'), 'critical',
          'PUBLIC EXECUTE on a SECURITY DEFINER function is critical');
SELECT is((SELECT severity FROM birthgate.v_drift_report WHERE kind = 'function_public_execute' AND object_name = 'birthgate.drift_normalize_definition(text)'), 'warning',
          'PUBLIC EXECUTE on a SECURITY INVOKER function stays a warning');
SELECT is((SELECT remedy FROM birthgate.v_drift_report WHERE kind = 'function_public_execute' AND object_name = 'birthgate.set_family_mode(text,text)'),
          'REVOKE ALL ON ROUTINE birthgate.set_family_mode(text,text) FROM PUBLIC; GRANT EXECUTE ON ROUTINE birthgate.set_family_mode(text,text) TO birthgate_admin;',
          'its remedy revokes from PUBLIC and grants what the baseline recorded');
SELECT throws_ok($$SELECT birthgate.drift_assert_clean('critical')$$, 'BG300', NULL, 'drift_assert_clean fails on it');
SELECT is(birthgate.drift_capture_baseline() > 0, true, 'a capture while PUBLIC may execute it ...');
SELECT is((SELECT execute_grantees FROM birthgate.drift_baseline WHERE object_kind = 'function' AND identity = 'birthgate.set_family_mode(text,text)'),
          ARRAY['birthgate_admin']::text[], '... keeps the recorded grantees');
DO $$ DECLARE r record; BEGIN
    FOR r IN SELECT remedy FROM birthgate.v_drift_report WHERE kind = 'function_public_execute' LOOP EXECUTE r.remedy; END LOOP;
END $$;
SELECT ok(NOT has_function_privilege('public', 'birthgate.set_family_mode(text,text)', 'EXECUTE')
          AND has_function_privilege('birthgate_admin', 'birthgate.set_family_mode(text,text)', 'EXECUTE')
          AND (SELECT count(*) FROM birthgate.v_drift_report WHERE kind = 'function_public_execute') = 0,
          'the remedies, run as printed, clear the findings and keep the admin grant');

SELECT * FROM finish();
ROLLBACK;
