-- 160 admission privileges: a login role with nothing but INSERT on pilot.dot_tools (and USAGE on
-- its schema) births objects through the gate, yet cannot write registry, permit, changelog or
-- violation rows, nor call the admission functions. Members of the reader, issuer and admin roles
-- get exactly their documented rights: reader reads, issuer issues/revokes permits, admin
-- administers; none of them writes the tables directly.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(35);

CREATE SCHEMA pilot;
CREATE TABLE pilot.dot_tools (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text, name text);
SELECT birthgate.register_family('dot_tools', 'pilot.dot_tools', 'code', '^[A-Z]+-[0-9]+$', 'enforce');
CREATE ROLE bg160_ins LOGIN;
GRANT USAGE ON SCHEMA pilot TO bg160_ins;
GRANT INSERT ON pilot.dot_tools TO bg160_ins;
CREATE ROLE bg160_reader LOGIN IN ROLE birthgate_reader;
CREATE ROLE bg160_issuer LOGIN IN ROLE birthgate_issuer;
CREATE ROLE bg160_admin LOGIN IN ROLE birthgate_admin;
SELECT birthgate.issue_permit('dot_tools', 'DOT-1');

-- the ordinary inserter
SET ROLE bg160_ins;
SELECT lives_ok($$INSERT INTO pilot.dot_tools (code, name) VALUES ('DOT-1', 'via the gate')$$,
                'a role with only INSERT on the family table births an object with a permit');
SELECT throws_ok($$INSERT INTO pilot.dot_tools (code, name) VALUES ('DOT-2', 'no permit')$$, 'BG120', NULL,
                 'and is refused by the gate without one (BG120)');
SELECT throws_ok($$INSERT INTO birthgate.birth_registry (collection_name, entity_code) VALUES ('dot_tools', 'DOT-3')$$, '42501', NULL,
                 'it cannot forge a registry row');
SELECT throws_ok($$UPDATE birthgate.birth_registry SET status = 'RETIRED'$$, '42501', NULL, 'it cannot update registry rows');
SELECT throws_ok($$INSERT INTO birthgate.birth_admission_permit (collection_name, entity_code, issued_by, expires_at)
                   VALUES ('dot_tools', 'DOT-3', 'me', now() + interval '1 day')$$, '42501', NULL, 'it cannot forge a permit');
SELECT throws_ok($$UPDATE birthgate.birth_admission_permit SET state = 'ISSUED'$$, '42501', NULL, 'it cannot update permits');
SELECT throws_ok($$INSERT INTO birthgate.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
                   VALUES ('BORN', 'dot_tools', 'DOT-3', 0, now())$$, '42501', NULL, 'it cannot forge a changelog row');
SELECT throws_ok($$INSERT INTO birthgate.birth_gate_violation (kind, collection_name, table_name, operation, mode, layer, actor)
                   VALUES ('BYPASS', 'dot_tools', 'x', 'INSERT', 'enforce', 1, 'me')$$, '42501', NULL, 'it cannot write violation rows');
SELECT throws_ok($$SELECT birthgate.issue_permit('dot_tools', 'DOT-3')$$, '42501', NULL, 'it cannot issue itself a permit');
SELECT throws_ok($$SELECT birthgate.set_family_mode('dot_tools', 'off')$$, '42501', NULL, 'it cannot switch the gate off');
RESET ROLE;
SELECT results_eq($$SELECT entity_code, born_by::text COLLATE "default", permit_id IS NOT NULL FROM birthgate.birth_registry$$,
                  $$VALUES ('DOT-1'::text, 'bg160_ins'::text, true)$$,
                  'the gate wrote the registry row on the inserter''s behalf, recording the inserter');
SELECT is((SELECT consumed_by::text FROM birthgate.birth_admission_permit WHERE entity_code = 'DOT-1'), 'bg160_ins',
          'and consumed the permit in the inserter''s name');

-- reader
SET ROLE bg160_reader;
SELECT lives_ok($$SELECT count(*) FROM birthgate.birth_admission_permit, birthgate.birth_gate_violation, birthgate.birth_registry,
                                         birthgate.registry_changelog, birthgate.birth_family$$, 'the reader reads every admission table');
SELECT throws_ok($$INSERT INTO birthgate.birth_registry (collection_name, entity_code) VALUES ('dot_tools', 'DOT-3')$$, '42501', NULL,
                 'the reader cannot write the registry');
SELECT throws_ok($$UPDATE birthgate.birth_admission_permit SET state = 'ISSUED'$$, '42501', NULL, 'the reader cannot write permits');
SELECT throws_ok($$DELETE FROM birthgate.birth_gate_violation$$, '42501', NULL, 'the reader cannot delete violations');
SELECT throws_ok($$SELECT birthgate.issue_permit('dot_tools', 'DOT-3')$$, '42501', NULL, 'the reader cannot issue permits');
SELECT throws_ok($$SELECT * FROM birthgate.retire_gate_check('dot_tools', 'DOT-1')$$, '42501', NULL, 'the reader cannot run the retire check');
RESET ROLE;

-- issuer
SET ROLE bg160_issuer;
SELECT lives_ok($$SELECT birthgate.issue_permit('dot_tools', 'DOT-3')$$, 'the issuer issues a permit');
SELECT lives_ok($$SELECT birthgate.revoke_permit((SELECT permit_id FROM birthgate.birth_admission_permit WHERE entity_code = 'DOT-3'), 'typo')$$,
                'the issuer revokes a permit');
SELECT lives_ok($$SELECT birthgate.issue_permit('dot_tools', 'DOT-4')$$, 'the issuer issues another');
SELECT throws_ok($$INSERT INTO birthgate.birth_admission_permit (collection_name, entity_code, issued_by, expires_at)
                   VALUES ('dot_tools', 'DOT-5', 'me', now() + interval '1 day')$$, '42501', NULL, 'the issuer cannot insert permits directly');
SELECT throws_ok($$UPDATE birthgate.birth_admission_permit SET expires_at = expires_at + interval '1 year'$$, '42501', NULL,
                 'the issuer cannot extend permits directly');
SELECT throws_ok($$SELECT birthgate.register_family('x', 'pilot.dot_tools', 'code', '^.*$', 'off')$$, '42501', NULL, 'the issuer cannot register families');
SELECT throws_ok($$SELECT birthgate.retire('dot_tools', 'DOT-1', 'x')$$, '42501', NULL, 'the issuer cannot retire objects');
SELECT throws_ok($$SELECT birthgate.expire_permits()$$, '42501', NULL, 'the issuer cannot run expire_permits');
RESET ROLE;
SELECT results_eq($$SELECT entity_code, state, issued_by::text COLLATE "default", revoked_by::text COLLATE "default" FROM birthgate.birth_admission_permit
                    WHERE entity_code IN ('DOT-3', 'DOT-4') ORDER BY 1$$,
                  $$VALUES ('DOT-3'::text, 'REVOKED'::text, 'bg160_issuer'::text, 'bg160_issuer'::text), ('DOT-4', 'ISSUED', 'bg160_issuer', NULL)$$,
                  'permits record the issuer, not the function owner');

-- admin
CREATE TABLE pilot.admin_owned (code text);
ALTER TABLE pilot.admin_owned OWNER TO bg160_admin;
GRANT USAGE ON SCHEMA pilot TO bg160_admin;
SET ROLE bg160_admin;
SELECT lives_ok($$SELECT birthgate.register_family('admin_owned', 'pilot.admin_owned', 'code', '^[A-Z]+-[0-9]+$', 'report')$$,
                'the admin registers a table it owns');
SELECT lives_ok($$SELECT birthgate.set_family_mode('admin_owned', 'enforce')$$, 'the admin switches its mode');
SELECT lives_ok($$SELECT birthgate.expire_permits()$$, 'the admin runs expire_permits');
SELECT lives_ok($$SELECT birthgate.revoke_permit((SELECT permit_id FROM birthgate.birth_admission_permit WHERE entity_code = 'DOT-4'), 'cleanup')$$,
                'the admin revokes a permit');
SELECT lives_ok($$SELECT * FROM birthgate.retire_gate_check('dot_tools', 'DOT-1')$$, 'the admin runs the retire check');
SELECT throws_ok($$SELECT birthgate.register_family('dot_tools2', 'pilot.dot_tools', 'code', '^.*$', 'off')$$, 'BG107', NULL,
                 'the admin cannot register (or take over) a table it does not own (BG107)');
SELECT throws_ok($$SELECT birthgate.issue_permit('dot_tools', 'DOT-6')$$, '42501', NULL, 'the admin does not issue permits (separation of duties)');
SELECT throws_ok($$INSERT INTO birthgate.birth_registry (collection_name, entity_code) VALUES ('dot_tools', 'DOT-6')$$, '42501', NULL,
                 'the admin cannot write the registry directly either');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
