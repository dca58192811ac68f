-- 120 admission permits: every transition of ISSUED -> CONSUMED | EXPIRED | REVOKED, allowed and
-- refused (by the functions, by the guard trigger and by the CHECKs), the one-live-permit rule, the
-- composite unique (entity_code, collection_name) of the registry, and
-- that a permit is consumed at most once: in one transaction, and by two dblink sessions racing for
-- the same permit (the loser waits on the winner's row lock, then is refused; if the winner rolls
-- back, the loser gets the permit). The race uses committed fixtures and removes them at the end.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(60);

CREATE SCHEMA pilot;
CREATE TABLE pilot.dot_tools (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text, name text);
SELECT birthgate.register_family('dot_tools', 'pilot.dot_tools', 'code', '^[A-Z]+-[0-9]+$', 'enforce');
CREATE TEMP TABLE p (code text PRIMARY KEY, permit_id bigint);

-- issue
INSERT INTO p SELECT 'DOT-1', birthgate.issue_permit('dot_tools', 'DOT-1');
SELECT isnt((SELECT permit_id FROM p WHERE code = 'DOT-1'), NULL, 'issue_permit returns the new permit_id');
SELECT results_eq($$SELECT state, issued_at BETWEEN now() AND clock_timestamp(), issued_by::text COLLATE "default", expires_at - issued_at FROM birthgate.birth_admission_permit
                    WHERE permit_id = (SELECT permit_id FROM p WHERE code = 'DOT-1')$$,
                  $$VALUES ('ISSUED'::text, true, current_user::text COLLATE "default", interval '24 hours')$$,
                  'a new permit is ISSUED, records who issued it and when, and lives 24 hours by default');
INSERT INTO p SELECT 'DOT-2', birthgate.issue_permit('dot_tools', 'DOT-2', '1 hour');
SELECT is((SELECT expires_at - issued_at FROM birthgate.birth_admission_permit WHERE permit_id = (SELECT permit_id FROM p WHERE code = 'DOT-2')),
          interval '1 hour', 'p_ttl sets the lifetime (from the clock time of issue)');
SELECT throws_ok($$SELECT birthgate.issue_permit('dot_tools', 'DOT-1')$$, 'BG110', NULL, 'a second live permit for the same code is refused (BG110)');
SELECT throws_ok($$SELECT birthgate.issue_permit('no_such_family', 'DOT-1')$$, 'BG100', NULL, 'a permit for an unknown family is refused (BG100)');
SELECT throws_ok($$SELECT birthgate.issue_permit('dot_tools', NULL)$$, 'BG114', NULL, 'a permit for a NULL code is refused (BG114)');
SELECT throws_ok($$SELECT birthgate.issue_permit('dot_tools', '')$$, 'BG114', NULL, 'a permit for an empty code is refused (BG114)');
SELECT throws_ok($$SELECT birthgate.issue_permit('dot_tools', 'dot-3')$$, 'BG114', NULL, 'a permit for a code that fails the family pattern is refused (BG114)');
SELECT throws_ok($$SELECT birthgate.issue_permit('dot_tools', 'DOT-3', '0 seconds')$$, 'BG113', NULL, 'a zero lifetime is refused (BG113)');
SELECT throws_ok($$SELECT birthgate.issue_permit('dot_tools', 'DOT-3', '-1 hour')$$, 'BG113', NULL, 'a negative lifetime is refused (BG113)');
SELECT throws_ok($$SELECT birthgate.issue_permit('dot_tools', 'DOT-3', NULL)$$, 'BG113', NULL, 'a NULL lifetime is refused (BG113)');
SELECT is((SELECT count(*)::int FROM birthgate.birth_admission_permit), 2, 'refused issues left no permit behind');

-- a lapsed ISSUED permit does not block a new one: issue_permit marks it EXPIRED first
INSERT INTO birthgate.birth_admission_permit (collection_name, entity_code, issued_by, issued_at, expires_at)
VALUES ('dot_tools', 'DOT-5', 'fixture', now() - interval '2 days', now() - interval '1 day');
INSERT INTO p SELECT 'DOT-5', birthgate.issue_permit('dot_tools', 'DOT-5');
SELECT results_eq($$SELECT state, expired_at >= now() FROM birthgate.birth_admission_permit WHERE entity_code = 'DOT-5' ORDER BY permit_id$$,
                  $$VALUES ('EXPIRED'::text, true), ('ISSUED', NULL)$$,
                  'issuing over a lapsed permit: ISSUED -> EXPIRED (time), then a new ISSUED permit');

-- ISSUED -> CONSUMED by the birth gate, exactly once
INSERT INTO pilot.dot_tools (code, name) VALUES ('DOT-1', 'first');
SELECT results_eq($$SELECT state, consumed_at BETWEEN issued_at AND clock_timestamp(), consumed_by::text COLLATE "default" FROM birthgate.birth_admission_permit
                    WHERE permit_id = (SELECT permit_id FROM p WHERE code = 'DOT-1')$$,
                  $$VALUES ('CONSUMED'::text, true, current_user::text COLLATE "default")$$,
                  'a birth consumes the permit: ISSUED -> CONSUMED, recording who and when');
SELECT is((SELECT permit_id FROM birthgate.birth_registry WHERE collection_name = 'dot_tools' AND entity_code = 'DOT-1'),
          (SELECT permit_id FROM p WHERE code = 'DOT-1'), 'the registry row names the permit it consumed');
SELECT throws_ok($$INSERT INTO pilot.dot_tools (code, name) VALUES ('DOT-1', 'second')$$, 'BG125', NULL,
                 'a second birth with the same code in the same transaction is refused (BG125): the permit is spent');
SELECT throws_ok($$INSERT INTO pilot.dot_tools (code, name) VALUES ('DOT-2', 'a'), ('DOT-2', 'b')$$, 'BG125', NULL,
                 'two rows with one code in one statement: the second is refused (BG125) and the statement fails');
SELECT is((SELECT state FROM birthgate.birth_admission_permit WHERE permit_id = (SELECT permit_id FROM p WHERE code = 'DOT-2')),
          'ISSUED', 'the failed statement consumed nothing');
SELECT results_eq($$SELECT (SELECT count(*)::int FROM birthgate.birth_registry WHERE entity_code = 'DOT-1'),
                           (SELECT count(*)::int FROM birthgate.registry_changelog WHERE entity_code = 'DOT-1'),
                           (SELECT count(*)::int FROM pilot.dot_tools WHERE code = 'DOT-1')$$,
                  $$VALUES (1, 1, 1)$$, 'one permit, one birth: one registry row, one changelog row, one object');
SELECT throws_ok($$SELECT birthgate.issue_permit('dot_tools', 'DOT-1')$$, 'BG115', NULL, 'no permit is issued for a code already born (BG115)');

-- the composite unique (entity_code, collection_name): one birth per code per family, the same code in two families
CREATE TABLE pilot.other_tools (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text);
SELECT birthgate.register_family('other_tools', 'pilot.other_tools', 'code', '^[A-Z]+-[0-9]+$', 'enforce');
SELECT birthgate.issue_permit('other_tools', 'DOT-1');
SELECT lives_ok($$INSERT INTO pilot.other_tools (code) VALUES ('DOT-1')$$, 'the same code is born in another family with that family''s permit');
SELECT results_eq($$SELECT collection_name, object_key FROM birthgate.birth_registry WHERE entity_code = 'DOT-1' ORDER BY 1$$,
                  $$VALUES ('dot_tools'::text, 'dot_tools:DOT-1'::text), ('other_tools', 'other_tools:DOT-1')$$,
                  'one code, two families: two registry rows with distinct object keys');
SELECT throws_ok($$INSERT INTO birthgate.birth_registry (collection_name, entity_code) VALUES ('dot_tools', 'DOT-1')$$, '23505', NULL,
                 'UNIQUE (entity_code, collection_name) refuses a second registry row even from the owner');

-- ISSUED -> REVOKED
SELECT lives_ok($$SELECT birthgate.revoke_permit((SELECT permit_id FROM p WHERE code = 'DOT-2'), 'order cancelled')$$,
                'revoke_permit revokes an ISSUED permit');
SELECT results_eq($$SELECT state, revoked_at BETWEEN issued_at AND clock_timestamp(), revoked_by::text COLLATE "default", revoke_reason FROM birthgate.birth_admission_permit
                    WHERE permit_id = (SELECT permit_id FROM p WHERE code = 'DOT-2')$$,
                  $$VALUES ('REVOKED'::text, true, current_user::text COLLATE "default", 'order cancelled'::text)$$,
                  'ISSUED -> REVOKED records who, when and why');
SELECT throws_ok($$SELECT birthgate.revoke_permit((SELECT permit_id FROM p WHERE code = 'DOT-2'), 'again')$$, 'BG112', NULL,
                 'REVOKED -> REVOKED is refused (BG112)');
SELECT throws_ok($$SELECT birthgate.revoke_permit((SELECT permit_id FROM p WHERE code = 'DOT-1'), 'too late')$$, 'BG112', NULL,
                 'CONSUMED -> REVOKED is refused (BG112)');
SELECT throws_ok($$SELECT birthgate.revoke_permit(-1, 'no such permit')$$, 'BG111', NULL, 'revoking an unknown permit is refused (BG111)');
SELECT throws_ok($$SELECT birthgate.revoke_permit((SELECT permit_id FROM p WHERE code = 'DOT-5'), '  ')$$, 'BG117', NULL,
                 'revoking without a reason is refused (BG117)');
SELECT throws_ok($$SELECT birthgate.revoke_permit((SELECT permit_id FROM p WHERE code = 'DOT-5'), NULL)$$, 'BG117', NULL,
                 'revoking with a NULL reason is refused (BG117)');
SELECT lives_ok($$SELECT birthgate.issue_permit('dot_tools', 'DOT-2')$$, 'a revoked permit does not block a new permit for the code');

-- ISSUED -> EXPIRED (time)
INSERT INTO birthgate.birth_admission_permit (collection_name, entity_code, issued_by, issued_at, expires_at)
VALUES ('dot_tools', 'DOT-6', 'fixture', now() - interval '2 days', now() - interval '1 day'),
       ('dot_tools', 'DOT-7', 'fixture', now() - interval '3 days', now() - interval '1 second');
SELECT is(birthgate.expire_permits(), 2, 'expire_permits expires the two lapsed permits and says so');
SELECT results_eq($$SELECT entity_code, state, expired_at BETWEEN now() AND clock_timestamp() FROM birthgate.birth_admission_permit WHERE entity_code IN ('DOT-6', 'DOT-7') ORDER BY 1$$,
                  $$VALUES ('DOT-6'::text, 'EXPIRED'::text, true), ('DOT-7', 'EXPIRED', true)$$, 'lapsed permits are EXPIRED with expired_at');
SELECT is((SELECT count(*)::int FROM birthgate.birth_admission_permit WHERE state = 'ISSUED'), 2,
          'live permits (DOT-2, DOT-5) are left ISSUED');
SELECT is(birthgate.expire_permits(), 0, 'a second run expires nothing');
SELECT throws_ok($$SELECT birthgate.revoke_permit((SELECT permit_id FROM birthgate.birth_admission_permit WHERE entity_code = 'DOT-6'), 'late')$$,
                 'BG112', NULL, 'EXPIRED -> REVOKED is refused (BG112)');

-- the guard trigger and the CHECKs refuse every other change, even by the owner
SELECT throws_ok($$UPDATE birthgate.birth_admission_permit SET state = 'ISSUED', consumed_at = NULL, consumed_by = NULL WHERE entity_code = 'DOT-1'$$,
                 'BG112', NULL, 'CONSUMED -> ISSUED is refused (BG112)');
SELECT throws_ok($$UPDATE birthgate.birth_admission_permit SET state = 'CONSUMED', consumed_at = now(), consumed_by = 'x', expired_at = NULL WHERE entity_code = 'DOT-6'$$,
                 'BG112', NULL, 'EXPIRED -> CONSUMED is refused (BG112)');
SELECT throws_ok($$UPDATE birthgate.birth_admission_permit SET state = 'ISSUED', revoked_at = NULL, revoked_by = NULL, revoke_reason = NULL
                   WHERE permit_id = (SELECT permit_id FROM p WHERE code = 'DOT-2')$$,
                 'BG112', NULL, 'REVOKED -> ISSUED is refused (BG112)');
SELECT throws_ok($$UPDATE birthgate.birth_admission_permit SET revoke_reason = 'rewritten' WHERE permit_id = (SELECT permit_id FROM p WHERE code = 'DOT-2')$$,
                 'BG112', NULL, 'a final permit cannot even be annotated (BG112)');
SELECT throws_ok($$UPDATE birthgate.birth_admission_permit SET entity_code = 'DOT-99' WHERE entity_code = 'DOT-5' AND state = 'ISSUED'$$,
                 'BG116', NULL, 'the code of a live permit cannot be changed (BG116)');
SELECT throws_ok($$UPDATE birthgate.birth_admission_permit SET expires_at = expires_at + interval '1 year' WHERE entity_code = 'DOT-5' AND state = 'ISSUED'$$,
                 'BG116', NULL, 'the lifetime of a live permit cannot be extended (BG116)');
SELECT throws_ok($$DELETE FROM birthgate.birth_admission_permit WHERE entity_code = 'DOT-5' AND state = 'ISSUED'$$,
                 'BG116', NULL, 'a live permit cannot be deleted (BG116)');
SELECT throws_ok($$DELETE FROM birthgate.birth_admission_permit WHERE entity_code = 'DOT-1'$$,
                 'BG116', NULL, 'a consumed permit cannot be deleted (BG116)');
SELECT throws_ok($$UPDATE birthgate.birth_admission_permit SET state = 'CONSUMED' WHERE entity_code = 'DOT-5' AND state = 'ISSUED'$$,
                 '23514', NULL, 'CONSUMED without consumed_at/by is refused by the CHECK');
SELECT throws_ok($$UPDATE birthgate.birth_admission_permit SET state = 'REVOKED', revoked_at = now(), revoked_by = 'x' WHERE entity_code = 'DOT-5' AND state = 'ISSUED'$$,
                 '23514', NULL, 'REVOKED without a reason is refused by the CHECK');
SELECT throws_ok($$UPDATE birthgate.birth_admission_permit SET state = 'EXPIRED', expired_at = now() WHERE entity_code = 'DOT-5' AND state = 'ISSUED'$$,
                 '23514', NULL, 'EXPIRED before the end of the lifetime is refused by the CHECK');
SELECT throws_ok($$INSERT INTO birthgate.birth_admission_permit (collection_name, entity_code, issued_by, expires_at)
                   VALUES ('dot_tools', 'DOT-5', 'x', now() + interval '1 day')$$,
                 '23505', NULL, 'a second ISSUED row for one (collection, code) violates the partial unique index');
SELECT lives_ok($$INSERT INTO birthgate.birth_admission_permit (collection_name, entity_code, issued_by, issued_at, expires_at, state, expired_at)
                  VALUES ('dot_tools', 'DOT-5', 'x', now() - interval '2 days', now() - interval '1 day', 'EXPIRED', now())$$,
                'the unique index covers live permits only: history rows for the same code are fine');

-- two sessions race for one permit (committed fixtures, dblink)
CREATE FUNCTION pg_temp.wait_blocked(p_pid integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..500 LOOP
        IF cardinality(pg_blocking_pids(p_pid)) > 0 THEN RETURN true; END IF;
        PERFORM pg_sleep(0.01);
    END LOOP;
    RETURN false;
END $$;
SELECT dblink_connect('bg120_setup', bgtest.connstr());
SELECT lives_ok($$SELECT dblink_exec('bg120_setup', $x$
    CREATE SCHEMA bg120_race;
    CREATE TABLE bg120_race.tools (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text);
    CREATE FUNCTION bg120_race.try(p_sql text) RETURNS text LANGUAGE plpgsql AS $f$
    BEGIN EXECUTE p_sql; RETURN 'ok'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END $f$;
    DO $d$ BEGIN
        PERFORM birthgate.register_family('bg120_race', 'bg120_race.tools', 'code', '^R-[0-9]+$', 'enforce');
        PERFORM birthgate.issue_permit('bg120_race', 'R-1');
        PERFORM birthgate.issue_permit('bg120_race', 'R-2');
    END $d$;
$x$)$$, 'race fixture committed: family bg120_race in enforce mode, permits for R-1 and R-2');
SELECT dblink_connect('bg120_a', bgtest.connstr());
SELECT dblink_connect('bg120_b', bgtest.connstr());
CREATE TEMP TABLE pids AS
SELECT (SELECT pid FROM dblink('bg120_b', 'SELECT pg_backend_pid()') AS t(pid integer)) AS b;

-- race 1: A consumes and commits, B waited on A and is refused
SELECT dblink_exec('bg120_a', 'BEGIN');
SELECT is((SELECT r FROM dblink('bg120_a', $$SELECT bg120_race.try('INSERT INTO bg120_race.tools (code) VALUES (''R-1'')')$$) AS t(r text)),
          'ok', 'race 1: session A inserts R-1 and holds the consumed permit (not yet committed)');
SELECT dblink_send_query('bg120_b', $$SELECT bg120_race.try('INSERT INTO bg120_race.tools (code) VALUES (''R-1'')')$$);
SELECT ok(pg_temp.wait_blocked((SELECT b FROM pids)), 'race 1: session B, inserting R-1 too, waits on session A''s permit row lock');
SELECT dblink_exec('bg120_a', 'COMMIT');
SELECT is((SELECT r FROM dblink_get_result('bg120_b') AS t(r text)), 'BG158',
          'race 1: after A commits, B re-checks the permit, finds it CONSUMED and is refused (BG158, the permit was contended)');
SELECT * FROM dblink_get_result('bg120_b') AS t(r text);
SELECT results_eq($$SELECT * FROM dblink('bg120_setup', 'SELECT (SELECT count(*)::int FROM bg120_race.tools WHERE code = ''R-1''),
                                                              (SELECT count(*)::int FROM birthgate.birth_registry WHERE collection_name = ''bg120_race'' AND entity_code = ''R-1''),
                                                              (SELECT count(*)::int FROM birthgate.registry_changelog WHERE collection_name = ''bg120_race'' AND entity_code = ''R-1''),
                                                              (SELECT string_agg(state, '','') FROM birthgate.birth_admission_permit WHERE collection_name = ''bg120_race'' AND entity_code = ''R-1'')')
                           AS t(objects int, registry int, changelog int, permits text)$$,
                  $$VALUES (1, 1, 1, 'CONSUMED'::text)$$,
                  'race 1 committed exactly one object, one registry row, one changelog row; the one permit is CONSUMED once');

-- race 2: A consumes and rolls back, B waited on A and gets the permit
SELECT dblink_exec('bg120_a', 'BEGIN');
SELECT is((SELECT r FROM dblink('bg120_a', $$SELECT bg120_race.try('INSERT INTO bg120_race.tools (code) VALUES (''R-2'')')$$) AS t(r text)),
          'ok', 'race 2: session A inserts R-2 and holds the consumed permit');
SELECT dblink_send_query('bg120_b', $$SELECT bg120_race.try('INSERT INTO bg120_race.tools (code) VALUES (''R-2'')')$$);
SELECT ok(pg_temp.wait_blocked((SELECT b FROM pids)), 'race 2: session B waits on session A''s permit row lock');
SELECT dblink_exec('bg120_a', 'ROLLBACK');
SELECT is((SELECT r FROM dblink_get_result('bg120_b') AS t(r text)), 'ok',
          'race 2: after A rolls back, B consumes the still-live permit and the birth succeeds');
SELECT * FROM dblink_get_result('bg120_b') AS t(r text);
SELECT results_eq($$SELECT * FROM dblink('bg120_setup', 'SELECT (SELECT count(*)::int FROM bg120_race.tools WHERE code = ''R-2''),
                                                              (SELECT count(*)::int FROM birthgate.birth_registry WHERE collection_name = ''bg120_race'' AND entity_code = ''R-2''),
                                                              (SELECT string_agg(state, '','') FROM birthgate.birth_admission_permit WHERE collection_name = ''bg120_race'' AND entity_code = ''R-2'')')
                           AS t(objects int, registry int, permits text)$$,
                  $$VALUES (1, 1, 'CONSUMED'::text)$$, 'race 2 committed exactly one birth from the one permit');

-- remove the committed race fixtures
SELECT dblink_disconnect('bg120_a');
SELECT dblink_disconnect('bg120_b');
SELECT lives_ok($$SELECT dblink_exec('bg120_setup', $x$
    SET session_replication_role = replica;
    DELETE FROM birthgate.registry_changelog WHERE collection_name = 'bg120_race';
    DELETE FROM birthgate.birth_registry WHERE collection_name = 'bg120_race';
    DELETE FROM birthgate.birth_gate_violation WHERE collection_name = 'bg120_race';
    DELETE FROM birthgate.birth_admission_permit WHERE collection_name = 'bg120_race';
    DROP SCHEMA bg120_race CASCADE;
    DELETE FROM birthgate.birth_family WHERE collection_name = 'bg120_race';
    RESET session_replication_role;
$x$)$$, 'the race fixtures are removed');
SELECT dblink_disconnect('bg120_setup');
SELECT is((SELECT count(*)::int FROM (
              SELECT 1 FROM birthgate.birth_family WHERE collection_name = 'bg120_race'
              UNION ALL SELECT 1 FROM birthgate.birth_registry WHERE collection_name = 'bg120_race'
              UNION ALL SELECT 1 FROM birthgate.registry_changelog WHERE collection_name = 'bg120_race'
              UNION ALL SELECT 1 FROM birthgate.birth_admission_permit WHERE collection_name = 'bg120_race'
              UNION ALL SELECT 1 FROM pg_namespace WHERE nspname = 'bg120_race') x), 0,
          'nothing committed by the race is left behind');

SELECT * FROM finish();
ROLLBACK;
