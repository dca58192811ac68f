-- 630 sweeps: adoption measures an oversize code against the family's own code_max_length (set by
-- register_family / set_family_code_limit), the same limit the gates and retire_gate_check use:
-- codes within it are adopted, codes beyond it are oversize_code findings, nothing is lost.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(5);

CREATE SCHEMA limitapp;
CREATE TABLE limitapp.tools (id serial PRIMARY KEY, code text);
CREATE INDEX ON limitapp.tools (code);
INSERT INTO limitapp.tools (code) VALUES ('T-1'), ('T-22'), ('T-12345'), ('T-123456'), ('T-1234567890');
SELECT birthgate.register_family('limits', 'limitapp.tools', 'code', '^T-[0-9]+$', 'enforce', 8);
SELECT is((SELECT code_max_length FROM birthgate.birth_family WHERE collection_name = 'limits'), 8,
          'the family is registered with a code limit of 8 characters');

DO $$
BEGIN
    FOR i IN 1..20 LOOP
        EXIT WHEN (SELECT status FROM birthgate.sweep_adopt('limits', false, 2, NULL, false)) = 'finished';
    END LOOP;
END $$;

SELECT set_eq($$SELECT entity_code FROM birthgate.birth_registry WHERE collection_name = 'limits'$$,
              ARRAY['T-1', 'T-22', 'T-12345', 'T-123456'],
              'codes of up to 8 characters are adopted');
SELECT set_eq($$SELECT entity_code FROM birthgate.sweep_finding WHERE collection_name = 'limits' AND kind = 'oversize_code'$$,
              ARRAY['T-1234567890'],
              'the 12-character code is an oversize_code finding, measured against the family limit');
SELECT is((SELECT count(*)::int FROM birthgate.registry_changelog WHERE collection_name = 'limits' AND op = 'BORN'), 4,
          'one BORN changelog row per adopted object');
SELECT is((SELECT count(*)::int FROM birthgate.birth_registry WHERE collection_name = 'limits')
          + (SELECT count(*)::int FROM birthgate.sweep_finding WHERE collection_name = 'limits'), 5,
          'adopted + findings = every row of the table (nothing silently skipped)');

SELECT * FROM finish();
ROLLBACK;
