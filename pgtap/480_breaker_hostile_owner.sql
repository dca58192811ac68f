-- 480 adversarial review, the owner of a governed table (no superuser, no package role) against the
-- admission gate: it can neither read nor forge package rows, attach package trigger functions,
-- register or re-register families, use the kill switch, slip a code past the gate with its own
-- BEFORE trigger, nor commit an unborn row by disabling the statement-level writer and spoofing the
-- layer-2 marker. Its own AFTER trigger that inserts more rows gets exactly one birth per row.
-- Every refusal leaves every package table unchanged (row counts before/after).
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(20);

CREATE ROLE bg480_owner;
CREATE SCHEMA s480 AUTHORIZATION bg480_owner;
SET ROLE bg480_owner;
CREATE TABLE s480.t (id int PRIMARY KEY, code text, name text);
CREATE TABLE s480.other (id int PRIMARY KEY, code text);
CREATE FUNCTION s480.tg_swap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.name = 'swap' THEN NEW.code := 'T-999'; END IF; RETURN NEW; END $$;
CREATE TRIGGER _150_owner BEFORE INSERT ON s480.t FOR EACH ROW EXECUTE FUNCTION s480.tg_swap();
CREATE FUNCTION s480.tg_spawn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.name = 'spawn' THEN INSERT INTO s480.t VALUES (NEW.id + 1000, 'T-' || (NEW.id + 1000), 'child'); END IF; RETURN NULL; END $$;
CREATE TRIGGER _200_owner AFTER INSERT ON s480.t FOR EACH ROW EXECUTE FUNCTION s480.tg_spawn();
RESET ROLE;
SELECT birthgate.register_family('c480', 's480.t', 'code', '^T-[0-9]+$', 'enforce');
SELECT birthgate.issue_permit('c480', c) FROM unnest(ARRAY['T-1', 'T-2', 'T-1002', 'T-3']) c;

CREATE FUNCTION pg_temp.pkg_counts() RETURNS text LANGUAGE sql AS $$
    SELECT format('registry=%s changelog=%s permits_issued=%s violations=%s families=%s',
        (SELECT count(*) FROM birthgate.birth_registry),
        (SELECT count(*) FROM birthgate.registry_changelog),
        (SELECT count(*) FROM birthgate.birth_admission_permit WHERE state = 'ISSUED'),
        (SELECT count(*) FROM birthgate.birth_gate_violation),
        (SELECT count(*) FROM birthgate.birth_family))
$$;
GRANT EXECUTE ON FUNCTION pg_temp.pkg_counts() TO bg480_owner;
SELECT pg_temp.pkg_counts() AS before \gset

-- (a) package tables and functions are out of reach
SET ROLE bg480_owner;
SELECT throws_ok($$SELECT count(*) FROM birthgate.birth_registry$$, '42501', NULL, 'the owner cannot read the registry');
SELECT throws_ok($$INSERT INTO birthgate.birth_registry (collection_name, entity_code) VALUES ('c480', 'T-5')$$, '42501', NULL, 'the owner cannot forge a registry row');
SELECT throws_ok($$INSERT INTO birthgate.registry_changelog (op, collection_name, entity_code) VALUES ('BORN', 'c480', 'T-5')$$, '42501', NULL, 'the owner cannot forge a changelog row');
SELECT throws_ok($$UPDATE birthgate.birth_admission_permit SET state = 'ISSUED'$$, '42501', NULL, 'the owner cannot touch permits');
SELECT throws_ok($$SELECT birthgate.issue_permit('c480', 'T-5')$$, '42501', NULL, 'the owner cannot issue a permit');
SELECT throws_ok($$SELECT birthgate.set_family_mode('c480', 'off')$$, '42501', NULL, 'the owner cannot switch the family off');
SELECT throws_ok($$SELECT birthgate.register_family('c481', 's480.other', 'code', '^T-[0-9]+$', 'off')$$, '42501', NULL, 'the owner cannot register a family');
SELECT throws_ok($$CREATE TRIGGER _110_fake AFTER INSERT ON s480.other REFERENCING NEW TABLE AS birthgate_new FOR EACH STATEMENT EXECUTE FUNCTION birthgate.tg_birth_register('c480', 'code')$$,
                 '42501', NULL, 'the owner cannot attach the package writer to a table of its own');
-- (b) the kill switch is not the owner's
SET birthgate.bypass_gate = on;
SELECT throws_ok($$INSERT INTO s480.t VALUES (5, 'T-5', 'bypass')$$, 'BG126', NULL, 'the owner''s kill switch is refused with BG126');
RESET birthgate.bypass_gate;
-- (c) its own BEFORE trigger changes the code after the gate validated it: the writer judges the row written
SELECT throws_ok($$INSERT INTO s480.t VALUES (1, 'T-1', 'swap')$$, 'BG120', NULL, 'a code swapped by a later BEFORE trigger needs its own permit (BG120)');
RESET ROLE;
SELECT is(pg_temp.pkg_counts(), :'before', 'refusals changed no package table');
SELECT is((SELECT state FROM birthgate.birth_admission_permit WHERE collection_name = 'c480' AND entity_code = 'T-1'), 'ISSUED', 'the permit of the validated code was not consumed');

-- (d) its own AFTER trigger inserting another row: one birth each, with each permit
SET ROLE bg480_owner;
INSERT INTO s480.t VALUES (2, 'T-2', 'spawn');
RESET ROLE;
SELECT is((SELECT array_agg(entity_code ORDER BY entity_code) FROM birthgate.birth_registry WHERE collection_name = 'c480'),
          ARRAY['T-1002', 'T-2'], 'the row and the row its trigger inserted are born once each');
SELECT is((SELECT count(*)::int FROM birthgate.registry_changelog WHERE collection_name = 'c480' AND op = 'BORN'), 2, 'one BORN changelog row each');
SELECT is((SELECT count(*)::int FROM birthgate.birth_admission_permit WHERE collection_name = 'c480' AND state = 'CONSUMED'), 2, 'two permits consumed');
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
SELECT pass('layer 2 accepts both births');

-- (e) the owner disables the statement-level writer and spoofs the layer-2 marker: commit is refused
SET ROLE bg480_owner;
ALTER TABLE s480.t DISABLE TRIGGER _110_birth_register;
SELECT set_config('birthgate.gate_statement', statement_timestamp()::text, true);
INSERT INTO s480.t VALUES (3, 'T-3', 'no writer');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM birthgate.birth_registry WHERE collection_name = 'c480' AND entity_code = 'T-3'), 0, 'without the writer nothing is registered');
SELECT ok(EXISTS (SELECT 1 FROM birthgate.v_drift_trigger_state WHERE collection_name = 'c480' AND trigger_name = '_110_birth_register' AND state = 'disabled'),
          'the drift monitor reports the disabled writer');
SELECT throws_ok($$SET CONSTRAINTS ALL IMMEDIATE$$, 'BG130', NULL, 'layer 2 refuses the unborn row even with a spoofed marker (BG130)');
SELECT is((SELECT state FROM birthgate.birth_admission_permit WHERE collection_name = 'c480' AND entity_code = 'T-3'), 'ISSUED', 'its permit is untouched');

SELECT * FROM finish();
ROLLBACK;
