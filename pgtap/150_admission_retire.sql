-- 150 admission retire: retire_gate_check allows only phantoms (a BORN object no longer in its
-- table, or whose family table is gone) and says why it refuses everything else; retire() moves
-- BORN -> RETIRED only when the check allows it, writes a RETIRED changelog row carrying the
-- object's born_at, and refuses a live object, an unknown or already RETIRED code, an unknown
-- family and a missing reason with their SQLSTATEs. A RETIRED code is never born again.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(27);

CREATE SCHEMA pilot;
CREATE TABLE pilot.dot_tools (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text, name text);
SELECT birthgate.register_family('dot_tools', 'pilot.dot_tools', 'code', '^[A-Z]+-[0-9]+$', 'enforce');
SELECT birthgate.issue_permit('dot_tools', c) FROM unnest(ARRAY['DOT-1', 'DOT-2', 'DOT-3', 'DOT-4']) c;
INSERT INTO pilot.dot_tools (code, name) VALUES ('DOT-1', 'live'), ('DOT-2', 'to delete'), ('DOT-3', 'to re-code');
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
-- make DOT-2 a phantom (its row is gone) and DOT-3 a phantom by re-coding its row to DOT-4
DELETE FROM pilot.dot_tools WHERE code = 'DOT-2';
UPDATE pilot.dot_tools SET code = 'DOT-4' WHERE code = 'DOT-3';
-- (layer 2 is not fired here: these births and removals share one transaction, which it would refuse
-- at commit unless the phantoms are retired first -- pgtap/191 proves that)

-- the check on its own
SELECT results_eq($$SELECT allowed, reason FROM birthgate.retire_gate_check('dot_tools', 'DOT-1')$$,
                  $$VALUES (false, 'live: pilot.dot_tools still has a row with code = ''DOT-1''')$$,
                  'the check refuses a live object and says where it lives');
SELECT results_eq($$SELECT allowed, reason FROM birthgate.retire_gate_check('dot_tools', 'DOT-2')$$,
                  $$VALUES (true, 'phantom: no row of pilot.dot_tools has code = ''DOT-2''')$$,
                  'the check allows a phantom (its row was deleted)');
SELECT is((SELECT allowed FROM birthgate.retire_gate_check('dot_tools', 'DOT-3')), true,
          'the check allows a phantom left by re-coding the row');
SELECT is((SELECT allowed FROM birthgate.retire_gate_check('dot_tools', 'DOT-4')), false, 'the re-coded object is live under its new code');
SELECT results_eq($$SELECT allowed, reason FROM birthgate.retire_gate_check('dot_tools', 'DOT-99')$$,
                  $$VALUES (false, 'not born: no registry row for dot_tools:DOT-99')$$, 'the check refuses an unknown code');
SELECT results_eq($$SELECT allowed, reason FROM birthgate.retire_gate_check('nope', 'DOT-1')$$,
                  $$VALUES (false, 'unknown family ''nope''')$$, 'the check refuses an unknown family');
SELECT is((SELECT count(*)::int FROM birthgate.retire_gate_check('dot_tools', 'DOT-1')), 1, 'the check always answers exactly one row');

-- retire refuses
SELECT throws_ok($$SELECT birthgate.retire('dot_tools', 'DOT-1', 'cleanup')$$, 'BG141', NULL, 'retire refuses a live object (BG141)');
SELECT throws_like($$SELECT birthgate.retire('dot_tools', 'DOT-1', 'cleanup')$$, '%retire refused by retire_gate_check%',
                   'the refusal says the check refused it');
SELECT throws_ok($$SELECT birthgate.retire('dot_tools', 'DOT-99', 'cleanup')$$, 'BG140', NULL, 'retire refuses a code that was never born (BG140)');
SELECT throws_ok($$SELECT birthgate.retire('nope', 'DOT-2', 'cleanup')$$, 'BG100', NULL, 'retire refuses an unknown family (BG100)');
SELECT throws_ok($$SELECT birthgate.retire('dot_tools', 'DOT-2', '')$$, 'BG117', NULL, 'retire refuses an empty reason (BG117)');
SELECT throws_ok($$SELECT birthgate.retire('dot_tools', 'DOT-2', NULL)$$, 'BG117', NULL, 'retire refuses a NULL reason (BG117)');
SELECT is((SELECT status FROM birthgate.birth_registry WHERE entity_code = 'DOT-1'), 'BORN', 'the live object is still BORN');

-- retire a phantom
SELECT lives_ok($$SELECT birthgate.retire('dot_tools', 'DOT-2', 'row deleted by the migration of 2026-06')$$, 'retire retires a phantom');
SELECT results_eq($$SELECT status, retired_at, retired_by::text COLLATE "default", retire_reason FROM birthgate.birth_registry WHERE entity_code = 'DOT-2'$$,
                  $$VALUES ('RETIRED'::text, now(), current_user::text COLLATE "default", 'row deleted by the migration of 2026-06'::text)$$,
                  'BORN -> RETIRED records when, who and why');
SELECT results_eq($$SELECT c.op, c.born_at = r.born_at, c.registry_id = r.registry_id, c.txid = pg_current_xact_id(), c.detail->>'reason'
                    FROM birthgate.registry_changelog c JOIN birthgate.birth_registry r USING (collection_name, entity_code)
                    WHERE c.entity_code = 'DOT-2' ORDER BY c.change_id$$,
                  $$VALUES ('BORN'::text, true, true, true, NULL::text), ('RETIRED', true, true, true, 'row deleted by the migration of 2026-06')$$,
                  'a RETIRED changelog row follows the BORN row, with the object''s born_at');
SELECT throws_ok($$SELECT birthgate.retire('dot_tools', 'DOT-2', 'again')$$, 'BG140', NULL, 'RETIRED is final: retiring again is refused (BG140)');
SELECT results_eq($$SELECT allowed FROM birthgate.retire_gate_check('dot_tools', 'DOT-2')$$, $$VALUES (false)$$,
                  'the check refuses a RETIRED object');
SELECT lives_ok($$SELECT birthgate.retire('dot_tools', 'DOT-3', 'row re-coded to DOT-4')$$, 'the phantom left by re-coding is retired');

-- a RETIRED code is never born again
SELECT throws_ok($$SELECT birthgate.issue_permit('dot_tools', 'DOT-2')$$, 'BG115', NULL, 'no permit for a RETIRED code (BG115)');
SELECT throws_ok($$INSERT INTO pilot.dot_tools (code) VALUES ('DOT-2')$$, 'BG125', NULL, 'no rebirth of a RETIRED code (BG125)');

-- layer 2 over this transaction's births and removals: the phantoms are RETIRED now, so it passes
SELECT lives_ok($$SET CONSTRAINTS ALL IMMEDIATE$$, 'the births of DOT-2 and DOT-3 lost their objects in this transaction, but they are retired: layer 2 passes');
SET CONSTRAINTS ALL DEFERRED;

-- an object whose whole family table is gone is a phantom
ALTER TABLE pilot.dot_tools RENAME TO dot_tools_old;
SELECT is((SELECT allowed FROM birthgate.retire_gate_check('dot_tools', 'DOT-1')), false, 'a renamed table is the same table: DOT-1 is still live');
DROP TABLE pilot.dot_tools_old;
SELECT results_eq($$SELECT allowed, reason ~ '^phantom: the family table \(oid [0-9]+\) no longer exists$' FROM birthgate.retire_gate_check('dot_tools', 'DOT-1')$$,
                  $$VALUES (true, true)$$, 'once the family table is dropped, its objects are phantoms');
SELECT lives_ok($$SELECT birthgate.retire('dot_tools', 'DOT-1', 'table dropped')$$, 'and can be retired');
SELECT is((SELECT count(*)::int FROM birthgate.registry_changelog WHERE op = 'RETIRED'), 3, 'three retirements, three RETIRED changelog rows');

SELECT * FROM finish();
ROLLBACK;
