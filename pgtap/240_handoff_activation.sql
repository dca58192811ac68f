-- 240 handoff activation: activate_candidates() is governed and fail-closed. It refuses with BG210
-- while the OSPA ledger (governance_build_authorization) is empty and with BG211 while the handoff
-- heartbeat is missing or older than handoff_cursor.stale_after (configurable), with the values in
-- DETAIL; capture goes on regardless. Once allowed it activates up to p_limit CAPTURED candidates of
-- BORN objects (never a RETIRED one), recording when and who, and reports how many.
-- The consumer runs in this (rolled back) transaction; births are committed by a dblink session and
-- removed at the end.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(24);

SELECT dblink_connect('w', bgtest.connstr()) AS w \gset
SELECT dblink_exec('w', $q$INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern)
                          VALUES ('activation_probe', 'pg_catalog.pg_aggregate', 'aggfnoid', '^G-[0-9]+$')$q$) AS family \gset
CREATE FUNCTION pg_temp.births(p_from integer, p_to integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT format($q$WITH r AS (
        INSERT INTO birthgate.birth_registry (collection_name, entity_code)
        SELECT 'activation_probe', 'G-' || g FROM generate_series(%s, %s) AS g
        RETURNING registry_id, collection_name, entity_code, born_at)
    INSERT INTO birthgate.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
    SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r ORDER BY r.registry_id$q$, p_from, p_to);
$fn$;
-- SQLSTATE and DETAIL of the error a statement raises
CREATE FUNCTION pg_temp.error_of(p_sql text) RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
    v_state text;
    v_detail text;
BEGIN
    EXECUTE p_sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_detail = PG_EXCEPTION_DETAIL;
    RETURN v_state || ': ' || coalesce(v_detail, '');
END
$fn$;
CREATE VIEW pg_temp.states AS
    SELECT activation_state, count(*)::int AS n FROM birthgate.governance_candidate_state
    WHERE collection_name = 'activation_probe' GROUP BY activation_state;

-- the starting point of the pilot: OSPA = 0, heartbeat never advanced
DELETE FROM birthgate.governance_build_authorization;
UPDATE birthgate.handoff_cursor SET heartbeat_at = NULL;
SELECT throws_ok('SELECT birthgate.activate_candidates()', 'BG210', NULL, 'with OSPA = 0 activation is refused with BG210');
SELECT matches(pg_temp.error_of('SELECT birthgate.activate_candidates()'),
               '^BG210: OSPA rows \(governance_build_authorization\): 0, needs >= 1; heartbeat_at: never',
               'the DETAIL gives the OSPA row count and the heartbeat');

-- capture works regardless
SELECT dblink_exec('w', pg_temp.births(1, 5)) AS b \gset
SELECT results_eq('SELECT consumed, captured FROM birthgate.handoff_consume(100)', 'VALUES (5, 5)',
                  'births are captured while activation is closed: nothing blocks a birth or its capture');
SELECT results_eq('SELECT activation_state, n FROM pg_temp.states', $$VALUES ('CAPTURED'::text, 5)$$, 'five CAPTURED candidates');
SELECT throws_ok('SELECT birthgate.activate_candidates()', 'BG210', NULL, 'a fresh heartbeat alone does not open activation (OSPA still 0)');
SELECT matches(pg_temp.error_of('SELECT birthgate.activate_candidates()'),
               '^BG210: OSPA rows \(governance_build_authorization\): 0, needs >= 1; heartbeat_at: .+, age 00:00:00, stale_after 00:15:00$',
               'the DETAIL shows the heartbeat age against the threshold');

-- OSPA seeded by a human: activation opens
INSERT INTO birthgate.governance_build_authorization (reference, note) VALUES ('OSPA-TEST-1', 'pgTAP activation probe');
SELECT is(birthgate.activate_candidates(2), 2, 'with OSPA >= 1 and a fresh heartbeat, activate_candidates(2) activates 2');
SELECT results_eq('SELECT activation_state, n FROM pg_temp.states ORDER BY 1', $$VALUES ('ACTIVATED'::text, 2), ('CAPTURED', 3)$$,
                  'two ACTIVATED, three still CAPTURED');
SELECT is((SELECT count(*)::int FROM birthgate.governance_candidate_state
           WHERE collection_name = 'activation_probe' AND activation_state = 'ACTIVATED'
             AND activated_at = now() AND activated_by = session_user), 2, 'activation records when and who (session_user)');
SELECT is((SELECT string_agg(entity_code, ',' ORDER BY entity_code) FROM birthgate.governance_candidate_state
           WHERE collection_name = 'activation_probe' AND activation_state = 'ACTIVATED'), 'G-1,G-2',
          'the oldest marks are activated first');

-- a RETIRED object is never activated
SELECT dblink_exec('w', $q$
    BEGIN;
    UPDATE birthgate.birth_registry SET status = 'RETIRED', retired_at = now(), retired_by = current_user, retire_reason = 'activation probe'
    WHERE collection_name = 'activation_probe' AND entity_code = 'G-5';
    INSERT INTO birthgate.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
    SELECT 'RETIRED', collection_name, entity_code, registry_id, born_at FROM birthgate.birth_registry
    WHERE collection_name = 'activation_probe' AND entity_code = 'G-5';
    COMMIT;$q$) AS retired \gset
SELECT is((SELECT consumed FROM birthgate.handoff_consume(100)), 1, 'the RETIRED change of G-5 is handed off');
SELECT is((SELECT registry_status FROM birthgate.governance_candidate_state WHERE object_key = 'activation_probe:G-5'), 'RETIRED',
          'G-5''s candidate is RETIRED');
SELECT is(birthgate.activate_candidates(), 2, 'the next call activates the remaining two BORN candidates, not the RETIRED one');
SELECT is((SELECT activation_state FROM birthgate.governance_candidate_state WHERE object_key = 'activation_probe:G-5'), 'CAPTURED',
          'G-5 stays CAPTURED');
SELECT is(birthgate.activate_candidates(), 0, 'nothing left: 0');

-- stale heartbeat: fail-closed
SELECT dblink_exec('w', pg_temp.births(6, 6)) AS b \gset
SELECT is((SELECT consumed FROM birthgate.handoff_consume(100)), 1, 'G-6 is captured');
UPDATE birthgate.handoff_cursor SET heartbeat_at = now() - interval '1 hour';
SELECT is((SELECT stale FROM birthgate.v_handoff_status), true, 'a heartbeat 1 hour old is stale against 15 minutes');
SELECT throws_ok('SELECT birthgate.activate_candidates()', 'BG211', NULL, 'with a stale heartbeat activation is refused with BG211');
SELECT matches(pg_temp.error_of('SELECT birthgate.activate_candidates()'),
               '^BG211: OSPA rows \(governance_build_authorization\): 1, needs >= 1; heartbeat_at: .+, age 01:00:00, stale_after 00:15:00$',
               'the DETAIL shows the age (1 hour) against the threshold (15 minutes)');
UPDATE birthgate.handoff_cursor SET heartbeat_at = NULL;
SELECT throws_ok('SELECT birthgate.activate_candidates()', 'BG211', NULL, 'with no heartbeat at all activation is refused with BG211');

-- the threshold is configurable
UPDATE birthgate.handoff_cursor SET heartbeat_at = now() - interval '1 hour', stale_after = interval '2 hours';
SELECT is((SELECT stale FROM birthgate.v_handoff_status), false, 'with stale_after = 2 hours the same heartbeat is fresh');
SELECT is(birthgate.activate_candidates(), 1, 'and activation proceeds: G-6 activated');

-- an empty ledger closes it again
DELETE FROM birthgate.governance_build_authorization;
SELECT throws_ok('SELECT birthgate.activate_candidates()', 'BG210', NULL, 'emptying the OSPA ledger closes activation again');

SELECT lives_ok($q$SELECT dblink_exec('w', $c$
    BEGIN;
    SET LOCAL session_replication_role = replica;
    DELETE FROM birthgate.registry_changelog WHERE collection_name = 'activation_probe';
    DELETE FROM birthgate.birth_registry WHERE collection_name = 'activation_probe';
    DELETE FROM birthgate.birth_family WHERE collection_name = 'activation_probe';
    COMMIT;$c$)$q$, 'the committed births are removed');
SELECT dblink_disconnect('w') AS d \gset

SELECT * FROM finish();
ROLLBACK;
