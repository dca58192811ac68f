-- 140 admission finalize gate (layer 2, DEFERRABLE INITIALLY DEFERRED): nothing is checked at
-- statement time; at commit (fired here with SET CONSTRAINTS ALL IMMEDIATE) every row version
-- that brought a code must be BORN from a consumed permit in this transaction. A violation that
-- is not fixed fails (enforce: BG130); one fixed before commit passes (row deleted, re-coded to a
-- permitted code, registry row restored); a code changed after layer 1 ran is caught (by a later
-- BEFORE trigger, or by an UPDATE with layer 1 disabled); a registry row deleted or altered in the
-- same transaction is caught. report records UNFINALIZED (once), off does nothing.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(25);

CREATE SCHEMA pilot;
CREATE TABLE pilot.dot_tools (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text, name text);
CREATE TABLE pilot.dot_report (LIKE pilot.dot_tools INCLUDING ALL);
CREATE TABLE pilot.dot_off (LIKE pilot.dot_tools INCLUDING ALL);
SELECT birthgate.register_family('dot_tools', 'pilot.dot_tools', 'code', '^[A-Za-z]+-[0-9]+$', 'enforce');
SELECT birthgate.register_family('dot_report', 'pilot.dot_report', 'code', '^[A-Za-z]+-[0-9]+$', 'report');
SELECT birthgate.register_family('dot_off', 'pilot.dot_off', 'code', '^[A-Za-z]+-[0-9]+$', 'off');
SELECT birthgate.issue_permit(f, c) FROM unnest(ARRAY['dot_tools', 'dot_report', 'dot_off']) f,
       unnest(ARRAY['OK-3', 'OK-4', 'dot-5', 'OK-6', 'OK-7', 'OK-8', 'OK-9', 'OK-10', 'dot-22']) c;

-- bgtest.outcome (pgtap/setup/helpers.sql) runs the statements, then fires the deferred triggers and
-- says where it failed, if it did; everything is rolled back unless p_keep, so a pending deferred
-- event never leaks into the next case.

-- enforce: not fixed -> fails at commit, not before
SELECT is(bgtest.outcome(ARRAY['ALTER TABLE pilot.dot_tools DISABLE TRIGGER _100_birth_gate', 'ALTER TABLE pilot.dot_tools DISABLE TRIGGER _110_birth_register', 'ALTER TABLE pilot.dot_tools DISABLE TRIGGER _120_birth_recode',
                                'INSERT INTO pilot.dot_tools (code) VALUES (''NP-1'')']),
          'commit failed: BG130', 'layer 1 disabled, no permit: the INSERT passes, the commit fails (BG130)');
SELECT is(bgtest.outcome(ARRAY['ALTER TABLE pilot.dot_tools DISABLE TRIGGER _100_birth_gate', 'ALTER TABLE pilot.dot_tools DISABLE TRIGGER _110_birth_register', 'ALTER TABLE pilot.dot_tools DISABLE TRIGGER _120_birth_recode',
                                'INSERT INTO pilot.dot_tools (code) VALUES (NULL)']),
          'commit failed: BG130', 'layer 1 disabled, NULL code: the commit fails (BG130)');
SELECT is(bgtest.outcome(ARRAY['ALTER TABLE pilot.dot_tools DISABLE TRIGGER _100_birth_gate', 'ALTER TABLE pilot.dot_tools DISABLE TRIGGER _110_birth_register', 'ALTER TABLE pilot.dot_tools DISABLE TRIGGER _120_birth_recode',
                                'INSERT INTO pilot.dot_tools (code) VALUES (''OK-3''), (''OK-4''), (''NP-2'')']),
          'commit failed: BG130', 'layer 1 disabled: rows with unconsumed permits are not BORN either, the commit fails');

-- enforce: fixed before commit -> passes
SELECT is(bgtest.outcome(ARRAY['ALTER TABLE pilot.dot_tools DISABLE TRIGGER _100_birth_gate', 'ALTER TABLE pilot.dot_tools DISABLE TRIGGER _110_birth_register', 'ALTER TABLE pilot.dot_tools DISABLE TRIGGER _120_birth_recode',
                                'INSERT INTO pilot.dot_tools (code) VALUES (''NP-2'')',
                                'DELETE FROM pilot.dot_tools WHERE code = ''NP-2''']),
          'committed', 'fixed before commit: the unpermitted row is deleted again, the commit passes');
SELECT is(bgtest.outcome(ARRAY['INSERT INTO pilot.dot_tools (code) VALUES (''OK-3'')',
                                'DELETE FROM birthgate.birth_registry WHERE collection_name = ''dot_tools'' AND entity_code = ''OK-3''',
                                'UPDATE pilot.dot_tools SET code = ''OK-4'' WHERE code = ''OK-3''']),
          'committed', 'fixed before commit: a row left unborn is re-coded to a permitted code (born by layer 1), the commit passes');
SELECT is(bgtest.outcome(ARRAY['INSERT INTO pilot.dot_tools (code) VALUES (''OK-4'')',
                                'DELETE FROM birthgate.birth_registry WHERE collection_name = ''dot_tools'' AND entity_code = ''OK-4''',
                                'INSERT INTO birthgate.birth_registry (collection_name, entity_code, permit_id)
                                 SELECT ''dot_tools'', ''OK-4'', permit_id FROM birthgate.birth_admission_permit
                                  WHERE collection_name = ''dot_tools'' AND entity_code = ''OK-4''']),
          'committed', 'fixed before commit: a removed registry row is restored, the commit passes');
SELECT is(bgtest.outcome(ARRAY['INSERT INTO pilot.dot_tools (code) VALUES (''OK-3''), (''OK-4'')']),
          'committed', 'control: permitted births pass the deferred gate');

-- enforce: the code changed after birth
CREATE FUNCTION pg_temp.tg_upper() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.code := upper(NEW.code); RETURN NEW; END $$;
SELECT is(bgtest.outcome(ARRAY['CREATE TRIGGER _500_upper BEFORE INSERT ON pilot.dot_tools FOR EACH ROW EXECUTE FUNCTION pg_temp.tg_upper()',
                                'INSERT INTO pilot.dot_tools (code) VALUES (''dot-5'')']),
          'statements failed: BG120', 'a later BEFORE trigger rewrites the code: the statement-level writer sees the final code and refuses it at once (BG120)');
SELECT is(bgtest.outcome(ARRAY['INSERT INTO pilot.dot_tools (code) VALUES (''OK-6'')'], true),
          'committed', 'OK-6 is born (kept for the next case)');
SELECT is(bgtest.outcome(ARRAY['ALTER TABLE pilot.dot_tools DISABLE TRIGGER _100_birth_gate', 'ALTER TABLE pilot.dot_tools DISABLE TRIGGER _110_birth_register', 'ALTER TABLE pilot.dot_tools DISABLE TRIGGER _120_birth_recode',
                                'UPDATE pilot.dot_tools SET code = ''NP-6'' WHERE code = ''OK-6''']),
          'commit failed: BG157', 'the code of a row born in this transaction is updated with layer 1 disabled: caught at commit (BG157, the birth lost its object)');
SELECT is(bgtest.outcome(ARRAY['UPDATE pilot.dot_tools SET code = ''NP-6'' WHERE code = ''OK-6''']),
          'statements failed: BG120', 'with layer 1 enabled the same UPDATE is refused at once (BG120)');
SELECT is(bgtest.outcome(ARRAY['INSERT INTO pilot.dot_tools (code) VALUES (''OK-7'')',
                                'UPDATE pilot.dot_tools SET code = ''OK-8'' WHERE code = ''OK-7''']),
          'commit failed: BG157', 'a re-code, in the birth transaction, to a code with its own permit: the new code is born, the old birth has no object left (BG157)');
SELECT is(bgtest.outcome(ARRAY['INSERT INTO pilot.dot_tools (code) VALUES (''OK-7'')',
                                'UPDATE pilot.dot_tools SET name = ''renamed'', code = code WHERE code = ''OK-7''']),
          'committed', 'an UPDATE that names the code column without changing it is not a birth and passes');

-- enforce: the registry row removed or altered in the same transaction
SELECT is(bgtest.outcome(ARRAY['INSERT INTO pilot.dot_tools (code) VALUES (''OK-9'')',
                                'DELETE FROM birthgate.birth_registry WHERE collection_name = ''dot_tools'' AND entity_code = ''OK-9''']),
          'commit failed: BG130', 'the registry row is deleted in the same transaction: caught at commit (BG130)');
SELECT is(bgtest.outcome(ARRAY['INSERT INTO pilot.dot_tools (code) VALUES (''OK-10'')',
                                'UPDATE birthgate.birth_registry SET permit_id = NULL WHERE collection_name = ''dot_tools'' AND entity_code = ''OK-10''']),
          'commit failed: BG130', 'the registry row loses its permit in the same transaction: caught at commit (BG130)');
SELECT is(bgtest.outcome(ARRAY['INSERT INTO pilot.dot_tools (code) VALUES (''OK-10'')',
                                'UPDATE birthgate.birth_registry SET status = ''RETIRED'', retired_at = now(), retired_by = current_user, retire_reason = ''x''
                                  WHERE collection_name = ''dot_tools'' AND entity_code = ''OK-10''']),
          'commit failed: BG130', 'the registry row is RETIRED in the same transaction: caught at commit (BG130)');
SELECT is(bgtest.outcome(ARRAY['ALTER TABLE pilot.dot_tools DISABLE TRIGGER _100_birth_gate', 'ALTER TABLE pilot.dot_tools DISABLE TRIGGER _110_birth_register', 'ALTER TABLE pilot.dot_tools DISABLE TRIGGER _120_birth_recode',
                                'SET CONSTRAINTS pilot."_900_birth_finalize" IMMEDIATE',
                                'INSERT INTO pilot.dot_tools (code) VALUES (''NP-11'')']),
          'statements failed: BG130', 'SET CONSTRAINTS _900_birth_finalize IMMEDIATE makes the check run at the end of the statement');

-- report: recorded as UNFINALIZED, once
SELECT is(bgtest.outcome(ARRAY['ALTER TABLE pilot.dot_report DISABLE TRIGGER _100_birth_gate', 'ALTER TABLE pilot.dot_report DISABLE TRIGGER _110_birth_register',
                                'INSERT INTO pilot.dot_report (code) VALUES (''NP-20'')'], true),
          'committed', 'report, layer 1 disabled, no permit: the commit passes');
SELECT results_eq($$SELECT entity_code, kind, layer::int, detail ? 'registry_id' FROM birthgate.birth_gate_violation WHERE collection_name = 'dot_report'$$,
                  $$VALUES ('NP-20'::text, 'UNFINALIZED'::text, 2, false)$$,
                  'report: the deferred gate records one UNFINALIZED violation (layer 2, no registry row)');
SELECT is(bgtest.outcome(ARRAY['ALTER TABLE pilot.dot_report ENABLE TRIGGER _100_birth_gate', 'ALTER TABLE pilot.dot_report ENABLE TRIGGER _110_birth_register',
                                'INSERT INTO pilot.dot_report (code) VALUES (''NP-21'')'], true),
          'committed', 'report, layer 1 enabled, no permit: the commit passes');
SELECT results_eq($$SELECT kind, layer::int FROM birthgate.birth_gate_violation WHERE collection_name = 'dot_report' AND entity_code = 'NP-21'$$,
                  $$VALUES ('NO_PERMIT'::text, 1)$$, 'report: a finding of layer 1 is not recorded again by layer 2');
SELECT is(bgtest.outcome(ARRAY['CREATE TRIGGER _500_upper BEFORE INSERT ON pilot.dot_report FOR EACH ROW EXECUTE FUNCTION pg_temp.tg_upper()',
                                'INSERT INTO pilot.dot_report (code) VALUES (''dot-22'')'], true),
          'committed', 'report, code rewritten after layer 1: the commit passes');
SELECT results_eq($$SELECT entity_code, kind FROM birthgate.birth_gate_violation WHERE collection_name = 'dot_report' AND entity_code IN ('dot-22', 'DOT-22')$$,
                  $$VALUES ('DOT-22'::text, 'NO_PERMIT'::text)$$, 'report: the writer sees the rewritten code and records it (NO_PERMIT); layer 2 adds nothing');

-- off: nothing
SELECT is(bgtest.outcome(ARRAY['ALTER TABLE pilot.dot_off DISABLE TRIGGER _100_birth_gate',
                                'INSERT INTO pilot.dot_off (code) VALUES (''NP-30''), (NULL)'], true),
          'committed', 'off: the deferred gate lets everything through');
SELECT is((SELECT count(*)::int FROM birthgate.birth_gate_violation WHERE collection_name = 'dot_off'), 0, 'off: and records nothing');

SELECT * FROM finish();
ROLLBACK;
