-- 230 handoff release_pending: events captured while handoff.object_born is inactive move to the
-- outbox exactly once when the type is activated and release_pending() runs; a repeat releases
-- nothing; unknown and inactive types are refused (BG202, BG203); after activation the consumer
-- emits straight to the outbox; replays and lane switches never put an event into both lanes; a
-- running batch makes lane switches and releases wait (the type row is locked FOR SHARE).
-- The consumer runs in this (rolled back) transaction; births are committed by a dblink session
-- and removed at the end.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(24);

SELECT dblink_connect('w', bgtest.connstr()) AS w \gset
SELECT dblink_exec('w', $q$INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern)
                          VALUES ('release_probe', 'pg_catalog.pg_amproc', 'amproc', '^F-[0-9]+$')$q$) AS family \gset
CREATE FUNCTION pg_temp.births(p_from integer, p_to integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT format($q$WITH r AS (
        INSERT INTO birthgate.birth_registry (collection_name, entity_code)
        SELECT 'release_probe', 'F-' || g FROM generate_series(%s, %s) AS g
        RETURNING registry_id, collection_name, entity_code, born_at)
    INSERT INTO birthgate.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
    SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r ORDER BY r.registry_id$q$, p_from, p_to);
$fn$;
CREATE VIEW pg_temp.lanes AS
    SELECT (SELECT count(*)::int FROM birthgate.event_pending WHERE object_key LIKE 'release\_probe:%') AS pending,
           (SELECT count(*)::int FROM birthgate.event_outbox WHERE object_key LIKE 'release\_probe:%') AS outbox,
           (SELECT count(*)::int FROM birthgate.event_outbox WHERE object_key LIKE 'release\_probe:%' AND released_from_pending) AS released;

SELECT dblink_exec('w', pg_temp.births(1, 4)) AS b \gset
SELECT results_eq('SELECT consumed, emitted, captured FROM birthgate.handoff_consume(100)', 'VALUES (4, 0, 4)',
                  'while the type is inactive, 4 births are captured, none emitted');
SELECT results_eq('SELECT pending, outbox FROM pg_temp.lanes', 'VALUES (4, 0)', 'the 4 events wait in event_pending');

-- a running batch (this transaction consumed) holds the type row FOR SHARE: switches and releases wait
SELECT dblink_exec('w', 'SET lock_timeout = ''300ms''') AS lt \gset
SELECT throws_ok($$SELECT dblink_exec('w', 'SELECT birthgate.set_event_type_active(''handoff.object_born'', true)')$$,
                 '55P03', NULL, 'switching the lane waits for the running batch (lock timeout in the other session)');
SELECT throws_ok($$SELECT dblink_exec('w', 'SELECT birthgate.release_pending(''handoff.object_born'')')$$,
                 '55P03', NULL, 'a release waits for the running batch too');

-- refusals
SELECT throws_ok($$SELECT birthgate.release_pending('handoff.object_born')$$, 'BG203', NULL,
                 'release_pending of an inactive type is refused with BG203');
SELECT throws_ok($$SELECT birthgate.release_pending('handoff.no_such_event')$$, 'BG202', NULL,
                 'release_pending of an unknown type is refused with BG202');
SELECT throws_ok($$SELECT birthgate.set_event_type_active('handoff.no_such_event', true)$$, 'BG202', NULL,
                 'switching an unknown type is refused with BG202');

-- activate, release
CREATE TEMP TABLE captured AS
    SELECT object_key, born_at, payload, source_change_id FROM birthgate.event_pending WHERE object_key LIKE 'release\_probe:%';
SELECT is(birthgate.set_event_type_active('handoff.object_born', true), false, 'set_event_type_active returns the previous state (inactive)');
SELECT ok((SELECT active AND active_changed_at = now() AND active_changed_by = session_user
           FROM birthgate.event_type_registry WHERE event_type = 'handoff.object_born'), 'the switch records when and who');
SELECT is(birthgate.release_pending('handoff.object_born') >= 4, true, 'release_pending releases the captured events');
SELECT results_eq('SELECT pending, outbox, released FROM pg_temp.lanes', 'VALUES (0, 4, 4)',
                  'they moved: none left in event_pending, 4 in event_outbox, marked released_from_pending');
SELECT results_eq(
    $$SELECT object_key, born_at, payload, source_change_id FROM birthgate.event_outbox WHERE object_key LIKE 'release\_probe:%' ORDER BY object_key$$,
    'SELECT object_key, born_at, payload, source_change_id FROM captured ORDER BY object_key',
    'the released events are the captured ones, payload unchanged');
SELECT is(birthgate.release_pending('handoff.object_born'), 0, 'a second release_pending releases nothing (idempotent)');
SELECT results_eq('SELECT pending, outbox FROM pg_temp.lanes', 'VALUES (0, 4)', 'still exactly one event per birth');

-- active type: new births go straight to the outbox
SELECT dblink_exec('w', pg_temp.births(5, 6)) AS b \gset
SELECT results_eq('SELECT consumed, emitted, captured FROM birthgate.handoff_consume(100)', 'VALUES (2, 2, 0)',
                  'with the type active, new births are emitted, not captured');
SELECT results_eq('SELECT pending, outbox, released FROM pg_temp.lanes', 'VALUES (0, 6, 4)',
                  'the two new events are in the outbox, not marked released');

-- replays with the type active, then inactive: never a second event, never both lanes
UPDATE birthgate.handoff_cursor SET position_txid = '0', position_change_id = 0;
SELECT results_eq('SELECT emitted, captured FROM birthgate.handoff_consume(1000)', 'VALUES (0, 0)',
                  'a replay from zero with the type active emits nothing again');
SELECT is(birthgate.set_event_type_active('handoff.object_born', false), true, 'switching back returns the previous state (active)');
UPDATE birthgate.handoff_cursor SET position_txid = '0', position_change_id = 0;
SELECT results_eq('SELECT emitted, captured FROM birthgate.handoff_consume(1000)', 'VALUES (0, 0)',
                  'a replay with the type inactive captures nothing: the events already sit in the outbox');
SELECT results_eq('SELECT pending, outbox FROM pg_temp.lanes', 'VALUES (0, 6)', 'six births, six events, one lane each');
SELECT is(birthgate.set_event_type_active('handoff.object_born', false), false, 'switching to the current state changes nothing');

SELECT dblink_exec('w', pg_temp.births(7, 7)) AS b \gset
SELECT results_eq('SELECT consumed, emitted, captured FROM birthgate.handoff_consume(100)', 'VALUES (1, 0, 1)',
                  'inactive again: the next birth is captured');
SELECT results_eq('SELECT pending, outbox FROM pg_temp.lanes', 'VALUES (1, 6)', 'F-7 waits in event_pending, the others stay in the outbox');

SELECT lives_ok($q$SELECT dblink_exec('w', $c$
    BEGIN;
    SET LOCAL session_replication_role = replica;
    DELETE FROM birthgate.registry_changelog WHERE collection_name = 'release_probe';
    DELETE FROM birthgate.birth_registry WHERE collection_name = 'release_probe';
    DELETE FROM birthgate.birth_family WHERE collection_name = 'release_probe';
    COMMIT;$c$)$q$, 'the committed births are removed');
SELECT dblink_disconnect('w') AS d \gset

SELECT * FROM finish();
ROLLBACK;
