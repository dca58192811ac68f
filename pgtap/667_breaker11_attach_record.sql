-- 667 adversarial pass on 000026: what gate_attach_record() may record (never a disabled,
-- replica-only or drifted gate; a moved family, a family registered later, a renamed or re-schemed
-- table stay clean), the printed per-family remedy after a restore whose old trigger OIDs collide
-- with new ones, and EXECUTE granted on a SECURITY DEFINER package function to a role the baseline
-- does not name (directly or WITH GRANT OPTION), and whether a capture launders it.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(26);

CREATE SCHEMA b11;
CREATE TABLE b11.fa (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text);
CREATE TABLE b11.fb (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text);
SELECT birthgate.register_family('b11_a', 'b11.fa', 'code', '^A-[0-9]+$', 'enforce');
SELECT birthgate.register_family('b11_b', 'b11.fb', 'code', '^B-[0-9]+$', 'enforce');
UPDATE birthgate.handoff_cursor SET heartbeat_at = now();
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_report), 0, 'two families: the report starts clean');

-- an unrecorded gate (as after a restore) that is then DISABLEd / ENABLE REPLICA / re-created otherwise
CREATE TEMP TABLE g AS SELECT pg_get_triggerdef(oid) AS def FROM pg_trigger WHERE tgrelid = 'b11.fa'::regclass AND tgname = '_110_birth_register';
DROP TRIGGER _110_birth_register ON b11.fa;
DO $$ BEGIN EXECUTE (SELECT def FROM g); END $$;
SELECT is((SELECT state FROM birthgate.v_drift_trigger_state WHERE table_name = 'b11.fa' AND trigger_name = '_110_birth_register'), 'unrecorded',
          're-created gate: unrecorded');
ALTER TABLE b11.fa DISABLE TRIGGER _110_birth_register;
SELECT is(birthgate.gate_attach_record('b11_a'), 0, 'a DISABLEd unrecorded gate is not recorded');
SELECT is((SELECT state FROM birthgate.v_drift_trigger_state WHERE table_name = 'b11.fa' AND trigger_name = '_110_birth_register'), 'disabled',
          'it stays disabled (a finding)');
ALTER TABLE b11.fa ENABLE REPLICA TRIGGER _110_birth_register;
SELECT is(birthgate.gate_attach_record('b11_a'), 0, 'an ENABLE REPLICA unrecorded gate is not recorded');
SELECT is((SELECT state FROM birthgate.v_drift_trigger_state WHERE table_name = 'b11.fa' AND trigger_name = '_110_birth_register'), 'replica_only',
          'it stays replica_only');
DROP TRIGGER _110_birth_register ON b11.fa;
DO $$ BEGIN EXECUTE replace((SELECT def FROM g), '''b11_a''', '''b11_b'''); END $$;
SELECT is(birthgate.gate_attach_record('b11_a'), 0, 'a gate re-created with another argument (another family''s name) is not recorded');
SELECT is((SELECT state FROM birthgate.v_drift_trigger_state WHERE table_name = 'b11.fa' AND trigger_name = '_110_birth_register'), 'drifted',
          'it stays drifted');
DROP TRIGGER _110_birth_register ON b11.fa;
DO $$ BEGIN EXECUTE (SELECT def FROM g); END $$;
ALTER TABLE b11.fa ENABLE ALWAYS TRIGGER _110_birth_register;
SELECT is(birthgate.gate_attach_record('b11_a'), 1, 'an ENABLE ALWAYS gate (fires in every replication role: stricter) may be recorded');
ALTER TABLE b11.fa ENABLE TRIGGER _110_birth_register;
SELECT is((SELECT state FROM birthgate.v_drift_trigger_state WHERE table_name = 'b11.fa' AND trigger_name = '_110_birth_register'), 'altered',
          'once recorded, a change back to ENABLE is trigger_altered');

-- a table renamed, then moved to another schema: no finding
ALTER TABLE b11.fb RENAME TO fb2;
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_report WHERE object_name LIKE '%fb%'), 0, 'a renamed family table has no finding');
CREATE SCHEMA b11x;
ALTER TABLE b11.fb2 SET SCHEMA b11x;
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_report WHERE object_name LIKE '%fb%'), 0, 'a family table moved to another schema has no finding');

-- move_family: the new table's gates are recorded, the old table stays "missing"
CREATE TABLE b11x.fb3 (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text);
SELECT birthgate.move_family('b11_b', 'b11x.fb3', 'new table');
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_trigger_state WHERE table_name = 'b11x.fb3' AND state <> 'ok'), 0,
          'after move_family the new table''s gates are ok (recorded)');
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_report WHERE kind = 'trigger_unrecorded'), 0, 'no trigger_unrecorded after move_family');
SELECT is(birthgate.gate_attach_record('b11_b'), 0, 'gate_attach_record records nothing on the old (moved-off) table');

-- a family registered after the restore is recorded by register_family itself
CREATE TABLE b11.fc (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text);
SELECT birthgate.register_family('b11_c', 'b11.fc', 'code', '^C-[0-9]+$', 'enforce');
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_trigger_state WHERE collection_name = 'b11_c' AND state <> 'ok'), 0,
          'a family registered later: every gate ok');

-- a restore: the attach table comes back with the OIDs of the source cluster; one of them is now
-- the OID of another family's gate. The printed remedy, run for that family, must clear its finding.
SAVEPOINT collide;
CREATE TEMP TABLE cgate AS SELECT oid AS toid, pg_get_triggerdef(oid) AS def FROM pg_trigger WHERE tgrelid = 'b11.fc'::regclass AND tgname = '_120_birth_recode';
DELETE FROM birthgate.gate_trigger_attach WHERE trigger_oid = (SELECT toid FROM cgate);
-- family a's stale record (its source-cluster table OID and trigger OID) happens to carry that OID
INSERT INTO birthgate.gate_trigger_attach (trigger_oid, table_oid, trigger_name, collection_name, attached_xmin)
SELECT (SELECT toid FROM cgate), 4242424, '_120_birth_recode', 'b11_a', attached_xmin
  FROM birthgate.gate_trigger_attach WHERE collection_name = 'b11_a' LIMIT 1;
SELECT is((SELECT state FROM birthgate.v_drift_trigger_state WHERE table_name = 'b11.fc' AND trigger_name = '_120_birth_recode'), 'unrecorded',
          'collision: family c''s gate has no record of its own');
SELECT matches((SELECT remedy FROM birthgate.v_drift_report WHERE kind = 'trigger_unrecorded' AND object_name LIKE '% ON b11.fc'),
               'gate_attach_record\(''b11_c''\)', 'the remedy names gate_attach_record(''b11_c'')');

SELECT is(birthgate.gate_attach_record('b11_c'), 1, 'the printed remedy records family c''s gate despite a stale record of family a with the same OID');
SELECT is((SELECT count(*)::int FROM birthgate.v_drift_report WHERE kind = 'trigger_unrecorded' AND object_name LIKE '% ON b11.fc'), 0,
          'and its finding is gone');
ROLLBACK TO SAVEPOINT collide;

-- EXECUTE on a SECURITY DEFINER package function for a role the baseline does not name
CREATE ROLE b11_mallory NOLOGIN;
GRANT EXECUTE ON FUNCTION birthgate.set_family_mode(text, text) TO b11_mallory;

SELECT ok(EXISTS (SELECT 1 FROM birthgate.v_drift_report WHERE severity = 'critical' AND object_name = 'birthgate.set_family_mode(text,text)'),
          'EXECUTE granted to a role not in execute_grantees on a SECURITY DEFINER function is a critical finding');
REVOKE EXECUTE ON FUNCTION birthgate.set_family_mode(text, text) FROM b11_mallory;
GRANT EXECUTE ON FUNCTION birthgate.set_family_mode(text, text) TO birthgate_admin WITH GRANT OPTION;

SELECT ok(EXISTS (SELECT 1 FROM birthgate.v_drift_report WHERE object_name = 'birthgate.set_family_mode(text,text)'),
          'EXECUTE WITH GRANT OPTION on a SECURITY DEFINER function is a finding');
REVOKE GRANT OPTION FOR EXECUTE ON FUNCTION birthgate.set_family_mode(text, text) FROM birthgate_admin;
-- a capture while PUBLIC and another role may execute it
GRANT EXECUTE ON FUNCTION birthgate.set_family_mode(text, text) TO PUBLIC, b11_mallory;
SELECT cmp_ok(birthgate.drift_capture_baseline(), '>', 0, 'a capture while PUBLIC and b11_mallory may execute set_family_mode');
SELECT ok(NOT (SELECT 'PUBLIC' = ANY (execute_grantees) FROM birthgate.drift_baseline WHERE identity = 'birthgate.set_family_mode(text,text)')
          AND (SELECT execute_grantees FROM birthgate.drift_baseline WHERE identity = 'birthgate.set_family_mode(text,text)') = ARRAY['birthgate_admin']::text[],
          'the capture records neither PUBLIC nor b11_mallory (keeps the grantees recorded before)');
REVOKE EXECUTE ON FUNCTION birthgate.set_family_mode(text, text) FROM PUBLIC;
SELECT cmp_ok(birthgate.drift_capture_baseline(), '>', 0, 'a capture once PUBLIC is revoked, b11_mallory still granted');

SELECT is((SELECT execute_grantees FROM birthgate.drift_baseline WHERE identity = 'birthgate.set_family_mode(text,text)'), ARRAY['birthgate_admin']::text[],
          'a role granted outside the package is not recorded as a legitimate grantee by a routine capture');

SELECT * FROM finish();
ROLLBACK;
