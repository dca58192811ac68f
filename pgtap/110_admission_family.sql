-- 110 admission families: register_family validates its arguments (table, code column, pattern,
-- mode, collection name, ownership, one collection per table), attaches both gate triggers with
-- the exact names and definitions the drift monitor expects (commented), is idempotent (same
-- arguments: nothing changes; changed arguments: update + re-attach; missing/disabled triggers are
-- repaired) and set_family_mode switches modes and records who and when.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(45);

CREATE SCHEMA pilot;
CREATE TABLE pilot.dot_tools (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text, name text);
CREATE TABLE pilot.species (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, species_code varchar(40), alt_code text, n integer,
                            fixed char(8), derived text GENERATED ALWAYS AS (upper(alt_code)) STORED);
CREATE VIEW pilot.dot_tools_v AS SELECT * FROM pilot.dot_tools;
CREATE TABLE pilot.parted (code text) PARTITION BY LIST (code);
CREATE TEMP TABLE tmp_family (code text);

-- argument validation
SELECT throws_ok($$SELECT birthgate.register_family('Dot Tools', 'pilot.dot_tools', 'code', '^[A-Z]+-[0-9]+$', 'enforce')$$,
                 'BG101', NULL, 'a collection name that is not a plain identifier is refused (BG101)');
SELECT throws_ok($$SELECT birthgate.register_family('dot_tools', 'pilot.dot_tools', 'code', '^[A-Z]+-[0-9]+$', 'strict')$$,
                 'BG105', NULL, 'a mode outside off/report/enforce is refused (BG105)');
SELECT throws_ok($$SELECT birthgate.register_family('dot_tools', 'pilot.dot_tools', 'code', '^[A-Z]+-[0-9]+$', NULL)$$,
                 'BG105', NULL, 'a NULL mode is refused (BG105)');
SELECT throws_ok($$SELECT birthgate.register_family('dot_tools', 4294967000::oid::regclass, 'code', '^[A-Z]+-[0-9]+$', 'enforce')$$,
                 'BG102', NULL, 'a table that does not exist is refused (BG102)');
SELECT throws_ok($$SELECT birthgate.register_family('dot_tools', 'pilot.dot_tools_v', 'code', '^[A-Z]+-[0-9]+$', 'enforce')$$,
                 'BG102', NULL, 'a view is refused (BG102)');
SELECT throws_ok($$SELECT birthgate.register_family('dot_tools', 'pilot.parted', 'code', '^[A-Z]+-[0-9]+$', 'enforce')$$,
                 'BG102', NULL, 'a partitioned table is refused (BG102)');
SELECT throws_ok($$SELECT birthgate.register_family('dot_tools', 'tmp_family', 'code', '^[A-Z]+-[0-9]+$', 'enforce')$$,
                 'BG102', NULL, 'a temporary table is refused (BG102)');
SELECT throws_ok($$SELECT birthgate.register_family('dot_tools', 'birthgate.birth_registry', 'entity_code', '^[A-Z]+-[0-9]+$', 'enforce')$$,
                 'BG102', NULL, 'a table of the package schema is refused (BG102)');
SELECT throws_ok($$SELECT birthgate.register_family('species', 'pilot.species', 'nope', '^[a-z]+$', 'report')$$,
                 'BG103', NULL, 'a code column that does not exist is refused (BG103)');
SELECT throws_ok($$SELECT birthgate.register_family('species', 'pilot.species', 'n', '^[a-z]+$', 'report')$$,
                 'BG103', NULL, 'a code column that is not text-like (integer) is refused (BG103)');
SELECT throws_ok($$SELECT birthgate.register_family('species', 'pilot.species', 'fixed', '^[a-z]+$', 'report')$$,
                 'BG103', NULL, 'a blank-padded char(n) code column is refused (BG103)');
SELECT throws_ok($$SELECT birthgate.register_family('species', 'pilot.species', 'derived', '^[a-z]+$', 'report')$$,
                 'BG103', NULL, 'a generated code column is refused: BEFORE triggers cannot see it (BG103)');
SELECT throws_ok($$SELECT birthgate.register_family('species', 'pilot.species', 'species_code', '^[a-z(+$', 'report')$$,
                 'BG104', NULL, 'an invalid regular expression is refused (BG104)');
SELECT throws_ok($$SELECT birthgate.register_family('species', 'pilot.species', 'species_code', '', 'report')$$,
                 'BG104', NULL, 'an empty pattern is refused (BG104)');
SELECT is((SELECT count(*)::int FROM birthgate.birth_family), 0, 'no refused registration left a family row');

-- registration
SELECT lives_ok($$SELECT birthgate.register_family('dot_tools', 'pilot.dot_tools', 'code', '^[A-Z]+-[0-9]+$', 'enforce')$$,
                'register_family registers pilot.dot_tools in enforce mode');
SELECT results_eq($$SELECT collection_name, table_name::text, code_column::text COLLATE "default", code_pattern, mode, registered_by::text COLLATE "default"
                    FROM birthgate.birth_family$$,
                  $$VALUES ('dot_tools'::text, 'pilot.dot_tools'::text, 'code'::text, '^[A-Z]+-[0-9]+$'::text, 'enforce'::text, current_user::text COLLATE "default")$$,
                  'the family row records table, code column, pattern, mode and who registered it');
SELECT lives_ok($$SELECT birthgate.register_family('species', 'pilot.species', 'species_code', '^[a-z]+(_[a-z]+)*$')$$,
                'a second family with its own code rule registers (varchar code column, default mode)');
SELECT is((SELECT mode FROM birthgate.birth_family WHERE collection_name = 'species'), 'report', 'p_mode defaults to report');
SELECT throws_ok($$SELECT birthgate.register_family('dot_tools_again', 'pilot.dot_tools', 'code', '^[A-Z]+-[0-9]+$', 'enforce')$$,
                 'BG106', NULL, 'a table already registered under another collection is refused (BG106)');

-- the triggers, exactly as the drift monitor expects them
SELECT is((SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'pilot.dot_tools'::regclass AND tgname = '_100_birth_gate'),
          'CREATE TRIGGER _100_birth_gate BEFORE INSERT OR UPDATE OF code ON pilot.dot_tools FOR EACH ROW WHEN (((current_setting(''birthgate.gate_statement''::text, true) IS DISTINCT FROM ((statement_timestamp())::text || '' dot_tools''::text)) OR (new.code IS NULL) OR (new.code = ''''::text) OR (length(new.code) > 256) OR ((new.code COLLATE "default") !~ ''^[A-Z]+-[0-9]+$''::text) OR (COALESCE(current_setting(''birthgate.bypass_gate''::text, true), ''''::text) <> ''''::text))) EXECUTE FUNCTION birthgate.tg_birth_gate(''dot_tools'', ''code'')',
          'layer 1 is _100_birth_gate BEFORE INSERT OR UPDATE OF code FOR EACH ROW WHEN (<the family code rules>) EXECUTE FUNCTION birthgate.tg_birth_gate(collection, column)');
SELECT is((SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'pilot.dot_tools'::regclass AND tgname = '_900_birth_finalize'),
          'CREATE CONSTRAINT TRIGGER _900_birth_finalize AFTER INSERT ON pilot.dot_tools DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ((current_setting(''birthgate.gate_armed''::text, true) IS DISTINCT FROM ((statement_timestamp())::text || '' dot_tools''::text))) EXECUTE FUNCTION birthgate.tg_birth_finalize(''dot_tools'', ''code'')',
          'layer 2 is the DEFERRABLE INITIALLY DEFERRED constraint trigger _900_birth_finalize');
SELECT is((SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'pilot.species'::regclass AND tgname = '_100_birth_gate'),
          'CREATE TRIGGER _100_birth_gate BEFORE INSERT OR UPDATE OF species_code ON pilot.species FOR EACH ROW WHEN (((current_setting(''birthgate.gate_statement''::text, true) IS DISTINCT FROM ((statement_timestamp())::text || '' species''::text)) OR ((new.species_code)::text IS NULL) OR ((new.species_code)::text = ''''::text) OR (length((new.species_code)::text) > 256) OR (((new.species_code)::text COLLATE "default") !~ ''^[a-z]+(_[a-z]+)*$''::text) OR (COALESCE(current_setting(''birthgate.bypass_gate''::text, true), ''''::text) <> ''''::text))) EXECUTE FUNCTION birthgate.tg_birth_gate(''species'', ''species_code'')',
          'each family''s gate watches its own code column');
SELECT is_empty($$SELECT t.tgname FROM pg_trigger t WHERE t.tgrelid IN ('pilot.dot_tools'::regclass, 'pilot.species'::regclass)
                  AND NOT t.tgisinternal AND obj_description(t.oid, 'pg_trigger') IS NULL$$,
                'register_family comments both triggers it creates');
SELECT matches(obj_description((SELECT oid FROM pg_trigger WHERE tgrelid = 'pilot.dot_tools'::regclass AND tgname = '_100_birth_gate'), 'pg_trigger'),
               'collection dot_tools ', 'the trigger comment names its collection');

-- idempotent re-registration
CREATE TEMP TABLE before_state AS
SELECT (SELECT array_agg(oid ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'pilot.dot_tools'::regclass AND NOT tgisinternal) AS trigger_oids,
       (SELECT ctid::text FROM birthgate.birth_family WHERE collection_name = 'dot_tools') AS row_version;
SELECT lives_ok($$SELECT birthgate.register_family('dot_tools', 'pilot.dot_tools', 'code', '^[A-Z]+-[0-9]+$', 'enforce')$$,
                're-registering with the same arguments succeeds');
SELECT is((SELECT array_agg(oid ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'pilot.dot_tools'::regclass AND NOT tgisinternal),
          (SELECT trigger_oids FROM before_state), 'same arguments: the triggers are left as they are (same oids)');
SELECT is((SELECT ctid::text FROM birthgate.birth_family WHERE collection_name = 'dot_tools'), (SELECT row_version FROM before_state),
          'same arguments: the family row is not rewritten (same tuple)');

-- changed arguments
SELECT lives_ok($$SELECT birthgate.register_family('dot_tools', 'pilot.dot_tools', 'code', '^DOT-[0-9]+$', 'report')$$,
                're-registering with a new pattern and mode succeeds');
SELECT results_eq($$SELECT code_pattern, mode FROM birthgate.birth_family WHERE collection_name = 'dot_tools'$$,
                  $$VALUES ('^DOT-[0-9]+$'::text, 'report'::text)$$, 'changed arguments update the family row');
SELECT lives_ok($$SELECT birthgate.register_family('species', 'pilot.species', 'alt_code', '^[a-z]+(_[a-z]+)*$', 'report')$$,
                're-registering with another code column succeeds');
SELECT is((SELECT string_agg(pg_get_triggerdef(oid), ' | ' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'pilot.species'::regclass AND NOT tgisinternal)
          ~ 'UPDATE OF alt_code ON pilot.species FOR EACH ROW WHEN .*EXECUTE FUNCTION birthgate.tg_birth_gate.*_910_birth_finalize_recode AFTER UPDATE ON pilot.species DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN .*old.alt_code',
          true, 'a new code column re-attaches the triggers on that column');

-- repair: a dropped or disabled trigger is re-attached by re-registering
DROP TRIGGER _900_birth_finalize ON pilot.dot_tools;
ALTER TABLE pilot.dot_tools DISABLE TRIGGER _100_birth_gate;
SELECT lives_ok($$SELECT birthgate.register_family('dot_tools', 'pilot.dot_tools', 'code', '^DOT-[0-9]+$', 'report')$$,
                're-registering a family whose triggers were tampered with succeeds');
SELECT results_eq($$SELECT tgname::text COLLATE "default", tgenabled::text FROM pg_trigger WHERE tgrelid = 'pilot.dot_tools'::regclass AND NOT tgisinternal ORDER BY 1$$,
                  $$VALUES ('_100_birth_gate', 'O'), ('_110_birth_register', 'O'), ('_120_birth_recode', 'O'), ('_130_birth_truncate', 'O'), ('_900_birth_finalize', 'O'), ('_905_birth_finalize_delete', 'O'), ('_910_birth_finalize_recode', 'O')$$,
                  'the dropped trigger is back and the disabled one is enabled again');

-- moving a family to another table
CREATE TABLE pilot.dot_tools_v2 (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text);
SELECT throws_ok($$SELECT birthgate.register_family('dot_tools', 'pilot.dot_tools_v2', 'code', '^DOT-[0-9]+$', 'report')$$, 'BG153', NULL,
                 'register_family does not move a family silently (BG153)');
SELECT lives_ok($$SELECT birthgate.move_family('dot_tools', 'pilot.dot_tools_v2', 'new table')$$,
                'a family can be moved to another table, explicitly');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'pilot.dot_tools'::regclass AND NOT tgisinternal), 0,
          'moving a family takes the gate triggers off the old table');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'pilot.dot_tools_v2'::regclass AND NOT tgisinternal), 7,
          'and attaches all seven to the new one');

-- ownership: only the table owner registers its table
CREATE ROLE bg110_admin LOGIN;
GRANT birthgate_admin TO bg110_admin;
CREATE TABLE pilot.not_mine (code text);
GRANT USAGE ON SCHEMA pilot TO bg110_admin;
SET ROLE bg110_admin;
SELECT throws_ok($$SELECT birthgate.register_family('not_mine', 'pilot.not_mine', 'code', '^[A-Z]+-[0-9]+$', 'enforce')$$,
                 'BG107', NULL, 'an admin who does not own the table cannot register it (BG107)');
RESET ROLE;

-- set_family_mode
UPDATE birthgate.birth_family SET mode_changed_at = '2000-01-01', mode_changed_by = 'someone' WHERE collection_name = 'dot_tools';
SELECT lives_ok($$SELECT birthgate.set_family_mode('dot_tools', 'report')$$, 'setting the current mode again succeeds');
SELECT results_eq($$SELECT mode, mode_changed_at, mode_changed_by::text COLLATE "default" FROM birthgate.birth_family WHERE collection_name = 'dot_tools'$$,
                  $$VALUES ('report'::text, '2000-01-01'::timestamptz, 'someone'::text)$$, 'setting the current mode again changes nothing');
SET ROLE bg110_admin;
SELECT lives_ok($$SELECT birthgate.set_family_mode('dot_tools', 'enforce')$$, 'an admin switches a family to enforce');
RESET ROLE;
SELECT results_eq($$SELECT mode, mode_changed_at, mode_changed_by::text COLLATE "default" FROM birthgate.birth_family WHERE collection_name = 'dot_tools'$$,
                  $$VALUES ('enforce'::text, now(), 'bg110_admin'::text)$$, 'the mode change records the new mode, when and who (the caller, not the definer)');
SELECT throws_ok($$SELECT birthgate.set_family_mode('nope', 'enforce')$$, 'BG100', NULL, 'an unknown family is refused (BG100)');
SELECT throws_ok($$SELECT birthgate.set_family_mode('dot_tools', 'blocking')$$, 'BG105', NULL, 'an unknown mode is refused (BG105)');

SELECT * FROM finish();
ROLLBACK;
