-- 180 admission security: the gates and the retire check run as SECURITY DEFINER (the package
-- owner), so nothing a table owner controls may run inside them: not a user-defined cast of another
-- column's type (e.g. to json, which a whole-row to_jsonb(NEW) would call), not the CHECK of a
-- domain used as the code column type. A non-superuser table owner builds exactly those traps,
-- each logging current_user; none of them may ever log a superuser. The gate also refuses a code
-- column whose type was changed after registration to something other than text/varchar/name, and
-- a gate trigger that does not match its family registration (fail closed, BG128).
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(17);

CREATE SCHEMA pilot;
CREATE ROLE bg180_owner LOGIN IN ROLE birthgate_admin;
GRANT CREATE, USAGE ON SCHEMA pilot TO bg180_owner;
SET ROLE bg180_owner;
CREATE TABLE pilot.trap_log (who name, what text);
CREATE FUNCTION pilot.trap(p_what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pilot.trap_log VALUES (current_user, p_what);
    RETURN true;
END $$;
-- a range type of its own, with a cast to json: to_jsonb() of a row holding one calls the cast
CREATE TYPE pilot.span AS RANGE (subtype = int4);
CREATE FUNCTION pilot.span_to_json(pilot.span) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pilot.trap('cast to json');
    RETURN '{}'::json;
END $$;
CREATE CAST (pilot.span AS json) WITH FUNCTION pilot.span_to_json(pilot.span);
-- a domain over text whose CHECK calls it
CREATE DOMAIN pilot.code_t AS text CHECK (pilot.trap('domain check'));
CREATE TABLE pilot.trap_tools (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code pilot.code_t, extra pilot.span);
RESET ROLE;
SELECT is((SELECT count(*)::int FROM pilot.trap_log), 0, 'the traps are set and have not fired yet');

SET ROLE bg180_owner;
SELECT lives_ok($$SELECT birthgate.register_family('trap_tools', 'pilot.trap_tools', 'code', '^T-[0-9]+$', 'report')$$,
                'the owner registers its table (code column: a domain over text)');
RESET ROLE;
SELECT birthgate.issue_permit('trap_tools', 'T-1');
SELECT birthgate.issue_permit('trap_tools', 'T-2');

SET ROLE bg180_owner;
SELECT lives_ok($$INSERT INTO pilot.trap_tools (code, extra) VALUES ('T-1', '[1,5)')$$, 'a permitted birth into the trapped table works');
SELECT lives_ok($$INSERT INTO pilot.trap_tools (code, extra) VALUES ('T-9', '[1,5)')$$, 'a report-mode birth without permit works');
RESET ROLE;
SELECT lives_ok($$SET CONSTRAINTS ALL IMMEDIATE$$, 'the deferred gate runs over both rows');
SET CONSTRAINTS ALL DEFERRED;
SELECT is((SELECT count(*)::int FROM birthgate.birth_registry WHERE collection_name = 'trap_tools'), 2, 'both rows were registered');

-- the finalize gate's presence check (slow path) and the retire check read the code column
SET ROLE bg180_owner;
ALTER TABLE pilot.trap_tools DISABLE TRIGGER _100_birth_gate;
INSERT INTO pilot.trap_tools (code) VALUES ('T-2');
RESET ROLE;
SELECT lives_ok($$SET CONSTRAINTS ALL IMMEDIATE$$, 'the deferred gate checks an unborn row (its presence check reads the code column)');
SET CONSTRAINTS ALL DEFERRED;
DELETE FROM pilot.trap_tools WHERE code = 'T-1';
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
SELECT is((SELECT allowed FROM birthgate.retire_gate_check('trap_tools', 'T-1')), true, 'the retire check finds the phantom');
SELECT is((SELECT allowed FROM birthgate.retire_gate_check('trap_tools', 'T-9')), false, 'and the live object');

SELECT is_empty($$SELECT l.who, l.what FROM pilot.trap_log l JOIN pg_roles r ON r.rolname = l.who WHERE r.rolsuper$$,
                'no trap ever ran as a superuser: the gates and the retire check never call the owner''s code');
SELECT ok((SELECT count(*) FROM pilot.trap_log WHERE who = 'bg180_owner') > 0,
          'the traps did fire where they should, as the inserting owner (the domain CHECK on INSERT): the test can see them');

-- a code column whose type was changed after registration is refused, not read
SET ROLE bg180_owner;
ALTER TABLE pilot.trap_tools ENABLE TRIGGER _100_birth_gate;
SELECT throws_ok($$ALTER TABLE pilot.trap_tools ALTER COLUMN code TYPE pilot.span USING NULL$$, '0A000', NULL,
                 'while the gate is attached the code column type cannot even be changed (UPDATE OF code depends on it)');
DROP TRIGGER _100_birth_gate ON pilot.trap_tools;
DROP TRIGGER _900_birth_finalize ON pilot.trap_tools;
DROP TRIGGER _110_birth_register ON pilot.trap_tools;
DROP TRIGGER _120_birth_recode ON pilot.trap_tools;
DROP TRIGGER _910_birth_finalize_recode ON pilot.trap_tools;
DROP TRIGGER _130_birth_truncate ON pilot.trap_tools;
ALTER TABLE pilot.trap_tools ALTER COLUMN code TYPE pilot.span USING NULL;
SELECT throws_ok($$SELECT birthgate.register_family('trap_tools', 'pilot.trap_tools', 'code', '^T-[0-9]+$', 'report')$$, 'BG103', NULL,
                 're-registering with a code column of the owner''s own type is refused (BG103)');
RESET ROLE;
CREATE TRIGGER _100_birth_gate BEFORE INSERT OR UPDATE OF code ON pilot.trap_tools FOR EACH ROW EXECUTE FUNCTION birthgate.tg_birth_gate('trap_tools');
SET ROLE bg180_owner;
SELECT throws_ok($$INSERT INTO pilot.trap_tools (code) VALUES ('[1,2)')$$, 'BG128', NULL,
                 'a gate trigger put back by hand on that column refuses (BG128) instead of reading it');
RESET ROLE;

-- a gate trigger that does not match its registration fails closed
CREATE TABLE pilot.stray (id int, code text);
CREATE TRIGGER _100_birth_gate BEFORE INSERT ON pilot.stray FOR EACH ROW EXECUTE FUNCTION birthgate.tg_birth_gate('trap_tools');
SELECT throws_ok($$INSERT INTO pilot.stray VALUES (1, 'T-5')$$, 'BG128', NULL, 'a gate trigger on a table its collection is not registered for refuses (BG128)');
DROP TRIGGER _100_birth_gate ON pilot.stray;
CREATE TRIGGER _100_birth_gate BEFORE INSERT ON pilot.stray FOR EACH ROW EXECUTE FUNCTION birthgate.tg_birth_gate('no_such_family');
SELECT throws_ok($$INSERT INTO pilot.stray VALUES (1, 'T-5')$$, 'BG128', NULL, 'a gate trigger naming an unregistered collection refuses (BG128)');
CREATE CONSTRAINT TRIGGER _900_birth_finalize AFTER INSERT ON pilot.stray DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION birthgate.tg_birth_finalize('no_such_family');
DROP TRIGGER _100_birth_gate ON pilot.stray;
SELECT throws_ok($q$DO $d$ BEGIN INSERT INTO pilot.stray VALUES (2, 'T-6'); SET CONSTRAINTS ALL IMMEDIATE; END $d$ $q$, 'BG128', NULL,
                 'so does a finalize trigger naming an unregistered collection (BG128)');

SELECT * FROM finish();
ROLLBACK;
