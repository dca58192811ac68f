-- 540 outbox replay guard: exactly-once acknowledgement across a rewound handoff.
--  (a) structure: the guard trigger on both event lanes, its SECURITY DEFINER function with a pinned
--      search_path, v_outbox_replay, no forced generic plans;
--  (b) births handed off, claimed; three acknowledged, one dead-lettered; the handoff rewound and
--      consumed again: nothing new to claim (acknowledged: the receipts keep the source rows;
--      dead-lettered: the same key is in event_dead_letter), counted as replay_deduplicated;
--  (c) the same replay while the type is inactive captures nothing into event_pending;
--  (d) a re-drive of the dead-lettered event passes the guard (same id, back in the outbox);
--  (e) the same object re-born (another born_at) is a new event;
--  (f) retention: once the receipts are purged, a replay reaching below them cannot be
--      deduplicated: the events are delivered again (never lost) and reported
--      (replay_unverified_total, finding replay_past_retention);
--  (g) the guard's fast path (events above everything settled pass after three index probes) is
--      only a shortcut: a late event below the settled mark that nothing matches is kept.
--
-- Births are committed by a dblink session before plan() (the handoff takes only committed rows
-- and counts this transaction as running); consuming, claiming and acknowledging happen in this
-- transaction and roll back. The committed probe rows are removed at the end.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;

DO $setup$
BEGIN
    PERFORM dblink_connect('guard', bgtest.connstr());
    PERFORM dblink_exec('guard', $q$
        BEGIN;
        INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern)
        VALUES ('replay_guard', 'pg_catalog.pg_am', 'amname', '^G-[0-9]+$');
        WITH r AS (
            INSERT INTO birthgate.birth_registry (collection_name, entity_code)
            SELECT 'replay_guard', 'G-' || g FROM generate_series(1, 4) AS g
            RETURNING registry_id, collection_name, entity_code, born_at)
        INSERT INTO birthgate.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
        SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r ORDER BY r.registry_id;
        COMMIT;$q$);
END
$setup$;

SELECT plan(39);

CREATE TEMP TABLE saved_cursor AS SELECT * FROM birthgate.handoff_cursor;
-- a clean slate for the counters and lanes (rolled back at the end)
DELETE FROM birthgate.event_outbox;
DELETE FROM birthgate.event_pending;
DELETE FROM birthgate.event_dead_letter;
DELETE FROM birthgate.outbox_receipt;
DELETE FROM birthgate.outbox_counter;
SELECT birthgate.set_event_type_active('handoff.object_born', true) IS NOT NULL AS activated \gset

CREATE FUNCTION pg_temp.consume_all() RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    v_total bigint := 0;
    r record;
BEGIN
    LOOP
        SELECT * INTO r FROM birthgate.handoff_consume(1000);
        v_total := v_total + r.emitted + r.captured;
        EXIT WHEN r.consumed = 0;
    END LOOP;
    RETURN v_total;
END;
$fn$;
-- rewind to just before the probe's first changelog row
CREATE FUNCTION pg_temp.rewind() RETURNS bigint
LANGUAGE sql AS $fn$
    SELECT birthgate.handoff_rewind(l.txid, l.change_id - 1)
    FROM birthgate.registry_changelog AS l
    WHERE l.collection_name = 'replay_guard'
    ORDER BY l.txid, l.change_id LIMIT 1;
$fn$;
CREATE FUNCTION pg_temp.probe(p_table text) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    v integer;
BEGIN
    EXECUTE format('SELECT count(*)::int FROM birthgate.%I WHERE object_key LIKE %L', p_table, 'replay\_guard:%') INTO v;
    RETURN v;
END;
$fn$;
CREATE FUNCTION pg_temp.id(p_code text) RETURNS bigint
LANGUAGE sql STABLE AS $fn$
    SELECT outbox_id FROM birthgate.event_outbox WHERE object_key = 'replay_guard:' || p_code;
$fn$;

-- (a) structure
SELECT has_trigger('birthgate', 'event_outbox', '_100_replay_guard', 'event_outbox has the replay guard');
SELECT has_trigger('birthgate', 'event_pending', '_100_replay_guard', 'event_pending has the replay guard');
SELECT is((SELECT prosecdef FROM pg_proc WHERE oid = 'birthgate.tg_outbox_replay_guard()'::regprocedure), true, 'the guard function is SECURITY DEFINER');
SELECT is((SELECT coalesce('plan_cache_mode=force_generic_plan' = ANY (proconfig), false) FROM pg_proc WHERE oid = 'birthgate.tg_outbox_replay_guard()'::regprocedure), false,
          'the guard function forces no generic plan');
SELECT ok((SELECT 'search_path=pg_catalog, pg_temp' = ANY (proconfig) FROM pg_proc WHERE oid = 'birthgate.tg_outbox_replay_guard()'::regprocedure), 'the guard function pins search_path');
SELECT is((SELECT coalesce('plan_cache_mode=force_generic_plan' = ANY (proconfig), false) FROM pg_proc WHERE oid = 'birthgate.outbox_ack(bigint[], text)'::regprocedure), false,
          'outbox_ack forces no generic plan (a plan cached while the outbox was small must not outlive its growth)');
SELECT is((SELECT coalesce('plan_cache_mode=force_generic_plan' = ANY (proconfig), false) FROM pg_proc WHERE oid = 'birthgate.outbox_claim(text, integer, interval)'::regprocedure), false,
          'outbox_claim keeps custom plans (a generic plan could scan the whole outbox on a large backlog)');
SELECT is((SELECT has_function_privilege('public', 'birthgate.tg_outbox_replay_guard()', 'EXECUTE')), false, 'PUBLIC cannot execute the guard function');
SELECT columns_are('birthgate', 'v_outbox_replay', ARRAY['replay_deduplicated_total', 'replay_unverified_total', 'last_replay_unverified_at',
                   'purged_through_change_id', 'oldest_receipt_at', 'receipts_without_source', 'retention']::name[], 'v_outbox_replay has the documented columns');

-- (b) hand off, deliver three, dead-letter one, replay
SELECT cmp_ok(pg_temp.consume_all(), '>=', 4::bigint, 'the handoff emits the four births');
SELECT is(pg_temp.probe('event_outbox'), 4, 'four probe events wait in event_outbox');
SELECT lives_ok($$SELECT * FROM birthgate.outbox_configure(p_max_attempts => 1)$$, 'one attempt per event for the test');
SELECT is((SELECT count(*)::int FROM birthgate.outbox_claim('w-guard', 100) WHERE object_key LIKE 'replay\_guard:%'), 4, 'a worker claims the four');
SELECT is(birthgate.outbox_ack(ARRAY[pg_temp.id('G-1'), pg_temp.id('G-2'), pg_temp.id('G-3')], 'w-guard'), 3, 'three are acknowledged');
SELECT is(birthgate.outbox_fail(pg_temp.id('G-4'), 'HTTP 410 from the receiver', 'w-guard'), 'dead', 'the fourth is dead-lettered');
SELECT is((SELECT array_length(source_change_ids, 1) FROM birthgate.outbox_receipt WHERE acked_by = 'w-guard'), 3, 'the receipt keeps the three source changelog rows');
SELECT is(pg_temp.probe('event_outbox'), 0, 'nothing of the probe is left to claim');

SELECT pg_temp.rewind() IS NOT NULL AS rewound \gset
SELECT is(pg_temp.consume_all(), 0::bigint, 'after a rewind the handoff emits none of them again');
SELECT is(pg_temp.probe('event_outbox'), 0, 'nothing new to claim after the replay');
SELECT is((SELECT count(*)::int FROM birthgate.outbox_claim('w-guard', 100) WHERE object_key LIKE 'replay\_guard:%'), 0, 'a claim after the replay gets none of them');
SELECT is((SELECT replay_deduplicated_total FROM birthgate.v_outbox_replay), 4::bigint, 'the four dropped re-emissions are counted');
SELECT is((SELECT severity FROM birthgate.v_outbox_findings WHERE kind = 'replay_deduplicated'), 'info', 'and reported as an info finding');

-- (c) the same replay into the inactive lane
SELECT birthgate.set_event_type_active('handoff.object_born', false) IS NOT NULL AS deactivated \gset
SELECT pg_temp.rewind() IS NOT NULL AS rewound \gset
SELECT is(pg_temp.consume_all(), 0::bigint, 'a replay while the type is inactive captures none of them');
SELECT is(pg_temp.probe('event_pending'), 0, 'event_pending holds nothing of the probe');
SELECT birthgate.set_event_type_active('handoff.object_born', true) IS NOT NULL AS activated \gset

-- (d) a re-drive passes the guard
SELECT is(birthgate.outbox_redrive(), 1, 'the dead-lettered event is re-driven');
SELECT is(pg_temp.probe('event_outbox'), 1, 'it is back in event_outbox');

-- (e) the same object re-born (another born_at) is a new event
SELECT dblink_exec('guard', $q$
    INSERT INTO birthgate.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
    SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at + interval '1 hour'
    FROM birthgate.birth_registry AS r WHERE r.collection_name = 'replay_guard' AND r.entity_code = 'G-1'$q$) AS reborn \gset
SELECT is(pg_temp.consume_all(), 1::bigint, 'the re-birth is emitted');
SELECT is((SELECT count(*)::int FROM birthgate.event_outbox WHERE object_key = 'replay_guard:G-1'), 1, 'G-1 (born again) is a new event to claim');

-- (f) past the retention: the purged receipts cannot deduplicate; delivered again and reported
UPDATE birthgate.outbox_receipt SET delivered_at = delivered_at - interval '30 days';
SELECT cmp_ok(birthgate.outbox_purge(10000), '>=', 3, 'the purge removes the receipts past the retention');
SELECT cmp_ok((SELECT purged_through_change_id FROM birthgate.v_outbox_replay), '>=',
              (SELECT max(change_id) FROM birthgate.registry_changelog WHERE collection_name = 'replay_guard' AND entity_code = 'G-3'),
              'the purge records how far back it removed receipts');
SELECT pg_temp.rewind() IS NOT NULL AS rewound \gset
SELECT is(pg_temp.consume_all(), 3::bigint, 'a replay below the purged receipts emits the delivered events again (never lost)');
SELECT is((SELECT replay_unverified_total FROM birthgate.v_outbox_replay), 3::bigint, 'those re-emissions are counted as unverified');
SELECT is((SELECT severity FROM birthgate.v_outbox_findings WHERE kind = 'replay_past_retention'), 'warning', 'and reported as a warning finding');
SELECT is(pg_temp.probe('event_outbox'), 5, 'the re-driven and the re-born events are not duplicated');

-- (g) the fast path is only a shortcut: an event below everything settled that no receipt, dead
--     letter or purge matches (a long transaction's row handed off after later ones were settled)
--     is kept, and nothing is counted for it
SELECT (SELECT replay_deduplicated_total + replay_unverified_total FROM birthgate.v_outbox_replay) AS counted_before \gset
INSERT INTO birthgate.event_outbox (event_type, object_key, born_at, payload, source_change_id)
SELECT 'handoff.object_born', 'replay_guard:late', now(), '{}'::jsonb, min(change_id) - 1
FROM birthgate.registry_changelog WHERE collection_name = 'replay_guard';
SELECT ok((SELECT o.source_change_id < (SELECT max(max_source_change_id) FROM birthgate.outbox_receipt)
                  OR o.source_change_id <= (SELECT purged_through_change_id FROM birthgate.v_outbox_replay)
           FROM birthgate.event_outbox AS o WHERE o.object_key = 'replay_guard:late'),
          'a late event below the settled high-water mark is kept (the exact checks find nothing to drop)');
SELECT is((SELECT replay_deduplicated_total + replay_unverified_total FROM birthgate.v_outbox_replay), :counted_before::bigint,
          'and is counted neither as deduplicated nor as unverified');
SELECT has_index('birthgate', 'outbox_receipt', 'outbox_receipt_max_source_idx', 'the fast path reads the highest settled source row from an index (receipts)');
SELECT has_index('birthgate', 'event_dead_letter', 'event_dead_letter_source_change_id_idx', 'the fast path reads the highest settled source row from an index (dead letters)');

-- clean up everything the dblink session committed, restore the cursor
SELECT lives_ok($cleanup$
    SELECT dblink_exec('guard', $q$
        BEGIN;
        SET LOCAL session_replication_role = replica;
        DELETE FROM birthgate.event_pending WHERE object_key LIKE 'replay\_guard:%';
        DELETE FROM birthgate.event_outbox WHERE object_key LIKE 'replay\_guard:%';
        DELETE FROM birthgate.governance_candidate_state WHERE collection_name = 'replay_guard';
        DELETE FROM birthgate.registry_changelog WHERE collection_name = 'replay_guard';
        DELETE FROM birthgate.birth_registry WHERE collection_name = 'replay_guard';
        DELETE FROM birthgate.birth_family WHERE collection_name = 'replay_guard';
        COMMIT;$q$)$cleanup$, 'the committed probe rows are removed');
SELECT dblink_disconnect('guard') AS disconnected \gset

SELECT * FROM finish();
ROLLBACK;
