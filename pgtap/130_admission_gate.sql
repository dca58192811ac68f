-- 130 admission gate (layer 1): each mode (off, report, enforce) x each bad input (no permit, lapsed
-- permit, EXPIRED permit, REVOKED permit, pattern mismatch, NULL code, empty code, code already born,
-- kill switch by an authorised and by an unauthorised role, invalid kill-switch value) gives the
-- documented result: enforce raises its own SQLSTATE and writes nothing; report admits, registers
-- non-empty codes (permit_id NULL) and records one birth_gate_violation per finding; off does nothing.
-- The deferred gate is fired with SET CONSTRAINTS ALL IMMEDIATE to show it agrees with layer 1.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(52);

CREATE SCHEMA pilot;
CREATE TABLE pilot.t_enforce (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text, name text);
CREATE TABLE pilot.t_report (LIKE pilot.t_enforce INCLUDING ALL);
CREATE TABLE pilot.t_off (LIKE pilot.t_enforce INCLUDING ALL);
SELECT birthgate.register_family('g_enforce', 'pilot.t_enforce', 'code', '^[A-Z]+-[0-9]+$', 'enforce');
SELECT birthgate.register_family('g_report', 'pilot.t_report', 'code', '^[A-Z]+-[0-9]+$', 'report');
SELECT birthgate.register_family('g_off', 'pilot.t_off', 'code', '^[A-Z]+-[0-9]+$', 'off');

-- roles: an ordinary inserter and an inserter who is a member of the admin role
CREATE ROLE bg130_user LOGIN;
CREATE ROLE bg130_admin LOGIN;
GRANT birthgate_admin TO bg130_admin;
GRANT USAGE ON SCHEMA pilot TO bg130_user, bg130_admin;
GRANT INSERT, UPDATE, SELECT ON pilot.t_enforce, pilot.t_report, pilot.t_off TO bg130_user, bg130_admin;

-- permit fixtures per family: OK-1 live, AB-1 live (born below), EX-1 lapsed but ISSUED, EX-2 EXPIRED, RV-1 REVOKED
CREATE FUNCTION pg_temp.fixtures(p_collection text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM birthgate.issue_permit(p_collection, 'OK-1');
    PERFORM birthgate.issue_permit(p_collection, 'AB-1');
    INSERT INTO birthgate.birth_admission_permit (collection_name, entity_code, issued_by, issued_at, expires_at)
    VALUES (p_collection, 'EX-1', 'fixture', now() - interval '2 days', now() - interval '1 day');
    INSERT INTO birthgate.birth_admission_permit (collection_name, entity_code, issued_by, issued_at, expires_at, state, expired_at)
    VALUES (p_collection, 'EX-2', 'fixture', now() - interval '2 days', now() - interval '1 day', 'EXPIRED', now());
    PERFORM birthgate.revoke_permit(birthgate.issue_permit(p_collection, 'RV-1'), 'cancelled');
END $$;
SELECT pg_temp.fixtures('g_enforce');
SELECT pg_temp.fixtures('g_report');
SELECT pg_temp.fixtures('g_off');

-- a summary of what a family has written
CREATE FUNCTION pg_temp.written(p_collection text) RETURNS text LANGUAGE sql AS $$
    SELECT format('registry=%s changelog=%s violations=%s',
                  (SELECT count(*) FROM birthgate.birth_registry WHERE collection_name = p_collection),
                  (SELECT count(*) FROM birthgate.registry_changelog WHERE collection_name = p_collection),
                  (SELECT count(*) FROM birthgate.birth_gate_violation WHERE collection_name = p_collection))
$$;

------------------------------------------------------------------------------------------------
-- enforce
------------------------------------------------------------------------------------------------
SET ROLE bg130_user;
SELECT lives_ok($$INSERT INTO pilot.t_enforce (code) VALUES ('OK-1')$$, 'enforce: a birth with a live permit is admitted');
SELECT lives_ok($$INSERT INTO pilot.t_enforce (code) VALUES ('AB-1')$$, 'enforce: AB-1 is born with its permit');
SELECT throws_ok($$INSERT INTO pilot.t_enforce (code) VALUES ('NP-1')$$, 'BG120', NULL, 'enforce + no permit: BG120');
SELECT throws_ok($$INSERT INTO pilot.t_enforce (code) VALUES ('EX-1')$$, 'BG121', NULL, 'enforce + lapsed (still ISSUED) permit: BG121');
SELECT throws_ok($$INSERT INTO pilot.t_enforce (code) VALUES ('EX-2')$$, 'BG121', NULL, 'enforce + EXPIRED permit: BG121');
SELECT throws_ok($$INSERT INTO pilot.t_enforce (code) VALUES ('RV-1')$$, 'BG122', NULL, 'enforce + REVOKED permit: BG122');
SELECT throws_ok($$INSERT INTO pilot.t_enforce (code) VALUES ('ok-1')$$, 'BG123', NULL, 'enforce + code that fails the pattern: BG123');
SELECT throws_ok($$INSERT INTO pilot.t_enforce (code) VALUES (NULL)$$, 'BG124', NULL, 'enforce + NULL code: BG124 (never skipped)');
SELECT throws_ok($$INSERT INTO pilot.t_enforce (code) VALUES ('')$$, 'BG124', NULL, 'enforce + empty code: BG124');
SELECT throws_ok($$INSERT INTO pilot.t_enforce (name) VALUES ('no code column given')$$, 'BG124', NULL, 'enforce + code column left out (NULL): BG124');
SELECT throws_ok($$INSERT INTO pilot.t_enforce (code) VALUES ('AB-1')$$, 'BG125', NULL, 'enforce + code already born: BG125');
SELECT throws_ok($$UPDATE pilot.t_enforce SET code = 'NP-2' WHERE code = 'OK-1'$$, 'BG120', NULL,
                 'enforce + UPDATE of the code to an unpermitted code: BG120');
SET LOCAL birthgate.bypass_gate = 'on';
SELECT throws_ok($$INSERT INTO pilot.t_enforce (code) VALUES ('NP-1')$$, 'BG126', NULL,
                 'enforce + kill switch set by a role outside birthgate_admin: BG126, not a bypass');
SELECT throws_ok($$INSERT INTO pilot.t_enforce (code) VALUES ('AB-9')$$, 'BG126', NULL,
                 'the unauthorised kill switch is an error even for an otherwise valid-looking row');
SET LOCAL birthgate.bypass_gate = 'yes';
SELECT throws_ok($$INSERT INTO pilot.t_enforce (code) VALUES ('NP-1')$$, 'BG127', NULL, 'a kill-switch value other than on/off: BG127');
RESET birthgate.bypass_gate;
RESET ROLE;
SELECT is(pg_temp.written('g_enforce'), 'registry=2 changelog=2 violations=0',
          'enforce: the refused rows wrote nothing (only OK-1 and AB-1 are registered and logged)');
SELECT is((SELECT count(*)::int FROM pilot.t_enforce), 2, 'enforce: only the two admitted rows are in the table');
SELECT results_eq($$SELECT entity_code, state FROM birthgate.birth_admission_permit WHERE collection_name = 'g_enforce' ORDER BY entity_code$$,
                  $$VALUES ('AB-1'::text, 'CONSUMED'::text), ('EX-1', 'ISSUED'), ('EX-2', 'EXPIRED'), ('OK-1', 'CONSUMED'), ('RV-1', 'REVOKED')$$,
                  'enforce: refused births left the permits as they were');
SELECT results_eq($$SELECT entity_code, born_by::text COLLATE "default", permit_id IS NOT NULL FROM birthgate.birth_registry WHERE collection_name = 'g_enforce' ORDER BY 1$$,
                  $$VALUES ('AB-1'::text, 'bg130_user'::text, true), ('OK-1', 'bg130_user', true)$$,
                  'enforce: births record the inserting role (not the definer) and their permit');

-- the kill switch, by a member of birthgate_admin: admitted, registered, recorded
SET ROLE bg130_admin;
SET LOCAL birthgate.bypass_gate = 'on';
SELECT lives_ok($$INSERT INTO pilot.t_enforce (code) VALUES ('NP-1')$$, 'enforce + kill switch by an admin member: admitted without a permit');
SELECT lives_ok($$INSERT INTO pilot.t_enforce (code) VALUES ('ok-5')$$, 'enforce + kill switch by an admin member: admitted despite the pattern');
SELECT lives_ok($$INSERT INTO pilot.t_enforce (code) VALUES (NULL)$$, 'enforce + kill switch by an admin member: admitted with a NULL code');
RESET birthgate.bypass_gate;
RESET ROLE;
SELECT results_eq($$SELECT entity_code, kind, layer::int, actor::text COLLATE "default", detail->'findings' FROM birthgate.birth_gate_violation
                    WHERE collection_name = 'g_enforce' ORDER BY violation_id$$,
                  $$VALUES ('NP-1'::text, 'BYPASS'::text, 1, 'bg130_admin'::text, '["NO_PERMIT"]'::jsonb),
                           ('ok-5', 'BYPASS', 1, 'bg130_admin', '["PATTERN_MISMATCH", "NO_PERMIT"]'),
                           (NULL, 'BYPASS', 1, 'bg130_admin', '["NULL_CODE"]')$$,
                  'every bypassed birth is recorded as BYPASS, with the role and what the gate would have refused');
SELECT results_eq($$SELECT entity_code, status, permit_id FROM birthgate.birth_registry WHERE collection_name = 'g_enforce' AND entity_code IN ('NP-1', 'ok-5') ORDER BY 1$$,
                  $$VALUES ('NP-1'::text, 'BORN'::text, NULL::bigint), ('ok-5', 'BORN', NULL)$$,
                  'a bypassed birth with a code is registered BORN without a permit (so the handoff still sees it)');
SELECT is(pg_temp.written('g_enforce'), 'registry=4 changelog=4 violations=3', 'a bypassed NULL code is recorded but cannot be registered');
SELECT lives_ok($$SET CONSTRAINTS ALL IMMEDIATE$$, 'the deferred gate accepts every admitted row: permitted births and recorded bypasses');
SET CONSTRAINTS ALL DEFERRED;

------------------------------------------------------------------------------------------------
-- report
------------------------------------------------------------------------------------------------
SET ROLE bg130_user;
SELECT lives_ok($$INSERT INTO pilot.t_report (code) VALUES ('OK-1'), ('AB-1')$$, 'report: births with live permits are admitted');
SELECT lives_ok($$INSERT INTO pilot.t_report (code) VALUES ('NP-1')$$, 'report + no permit: admitted');
SELECT lives_ok($$INSERT INTO pilot.t_report (code) VALUES ('EX-1')$$, 'report + lapsed permit: admitted');
SELECT lives_ok($$INSERT INTO pilot.t_report (code) VALUES ('EX-2')$$, 'report + EXPIRED permit: admitted');
SELECT lives_ok($$INSERT INTO pilot.t_report (code) VALUES ('RV-1')$$, 'report + REVOKED permit: admitted');
SELECT lives_ok($$INSERT INTO pilot.t_report (code) VALUES ('ok-1')$$, 'report + pattern mismatch: admitted');
SELECT lives_ok($$INSERT INTO pilot.t_report (code) VALUES (NULL), ('')$$, 'report + NULL and empty codes: admitted');
SELECT lives_ok($$INSERT INTO pilot.t_report (code) VALUES ('AB-1')$$, 'report + code already born: admitted');
SET LOCAL birthgate.bypass_gate = 'on';
SELECT throws_ok($$INSERT INTO pilot.t_report (code) VALUES ('NP-3')$$, 'BG126', NULL,
                 'report + kill switch set by a role outside birthgate_admin: BG126 as well');
RESET birthgate.bypass_gate;
RESET ROLE;
SELECT results_eq($$SELECT entity_code, kind, layer::int, detail->>'finding', actor::text COLLATE "default" FROM birthgate.birth_gate_violation
                    WHERE collection_name = 'g_report' ORDER BY violation_id$$,
                  $$VALUES ('NP-1'::text, 'NO_PERMIT'::text, 1, 'NO_PERMIT'::text, 'bg130_user'::text),
                           ('EX-1', 'PERMIT_EXPIRED', 1, 'PERMIT_EXPIRED', 'bg130_user'),
                           ('EX-2', 'PERMIT_EXPIRED', 1, 'PERMIT_EXPIRED', 'bg130_user'),
                           ('RV-1', 'PERMIT_REVOKED', 1, 'PERMIT_REVOKED', 'bg130_user'),
                           ('ok-1', 'PATTERN_MISMATCH', 1, 'PATTERN_MISMATCH', 'bg130_user'),
                           ('ok-1', 'NO_PERMIT', 1, 'NO_PERMIT', 'bg130_user'),
                           (NULL, 'NULL_CODE', 1, 'NULL_CODE', 'bg130_user'),
                           ('', 'NULL_CODE', 1, 'NULL_CODE', 'bg130_user'),
                           ('AB-1', 'NO_PERMIT', 1, 'ALREADY_BORN', 'bg130_user')$$,
                  'report: one violation per finding, with the kind, the finding and the role');
SELECT results_eq($$SELECT entity_code, status, permit_id IS NOT NULL FROM birthgate.birth_registry WHERE collection_name = 'g_report' ORDER BY 1$$,
                  $$VALUES ('AB-1'::text, 'BORN'::text, true), ('EX-1', 'BORN', false), ('EX-2', 'BORN', false), ('NP-1', 'BORN', false),
                           ('OK-1', 'BORN', true), ('RV-1', 'BORN', false), ('ok-1', 'BORN', false)$$,
                  'report: admitted codes are registered (permit_id NULL when none was consumed); NULL/empty codes and the duplicate are not');
SELECT is((SELECT count(*)::int FROM birthgate.registry_changelog WHERE collection_name = 'g_report' AND op = 'BORN'), 7,
          'report: every registered birth has its BORN changelog row');
SELECT is((SELECT count(*)::int FROM pilot.t_report), 10, 'report: every row was admitted to the table');
SELECT results_eq($$SELECT entity_code, state FROM birthgate.birth_admission_permit WHERE collection_name = 'g_report' AND entity_code IN ('EX-1', 'RV-1') ORDER BY 1$$,
                  $$VALUES ('EX-1'::text, 'ISSUED'::text), ('RV-1', 'REVOKED')$$, 'report: a lapsed or revoked permit is never consumed');
SELECT lives_ok($$SET CONSTRAINTS ALL IMMEDIATE$$, 'report: the deferred gate never blocks');
SET CONSTRAINTS ALL DEFERRED;
SELECT is((SELECT count(*)::int FROM birthgate.birth_gate_violation WHERE collection_name = 'g_report' AND layer = 2), 0,
          'report: the deferred gate does not repeat what layer 1 already recorded');
SET ROLE bg130_admin;
SET LOCAL birthgate.bypass_gate = 'on';
SELECT lives_ok($$INSERT INTO pilot.t_report (code) VALUES ('NP-4')$$, 'report + kill switch by an admin member: admitted');
RESET birthgate.bypass_gate;
RESET ROLE;
SELECT is((SELECT kind FROM birthgate.birth_gate_violation WHERE collection_name = 'g_report' AND entity_code = 'NP-4'), 'BYPASS',
          'report + kill switch: recorded as BYPASS (one row, not NO_PERMIT)');

------------------------------------------------------------------------------------------------
-- off
------------------------------------------------------------------------------------------------
SET ROLE bg130_user;
SELECT lives_ok($$INSERT INTO pilot.t_off (code) VALUES ('OK-1'), ('NP-1'), ('EX-1'), ('EX-2'), ('RV-1'), ('ok-1'), (NULL), (''), ('NP-1')$$,
                'off: every row is admitted, bad or not');
SET LOCAL birthgate.bypass_gate = 'on';
SELECT lives_ok($$INSERT INTO pilot.t_off (code) VALUES ('NP-5')$$, 'off: the kill switch is not even read (there is no gate to bypass)');
RESET birthgate.bypass_gate;
RESET ROLE;
SELECT is(pg_temp.written('g_off'), 'registry=0 changelog=0 violations=0', 'off: nothing is registered, logged or recorded');
SELECT is((SELECT state FROM birthgate.birth_admission_permit WHERE collection_name = 'g_off' AND entity_code = 'OK-1'), 'ISSUED',
          'off: a live permit is not consumed');
SELECT lives_ok($$SET CONSTRAINTS ALL IMMEDIATE$$, 'off: the deferred gate does nothing');
SET CONSTRAINTS ALL DEFERRED;
SELECT is(pg_temp.written('g_off'), 'registry=0 changelog=0 violations=0', 'off: not even at commit time');

-- a family switched to enforce is gated from the next row on
SELECT birthgate.set_family_mode('g_off', 'enforce');
SELECT throws_ok($$INSERT INTO pilot.t_off (code) VALUES ('NP-6')$$, 'BG120', NULL, 'after set_family_mode(enforce) the same table refuses a birth without permit');
SELECT lives_ok($$INSERT INTO pilot.t_off (code) VALUES ('OK-1')$$, 'and admits one with its permit');

SELECT * FROM finish();
ROLLBACK;
