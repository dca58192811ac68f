-- 260 adversarial handoff: births around subtransactions, prepared transactions and families
-- changed while births wait for the consumer. Writers are dblink sessions that commit; the
-- consumer runs in this (rolled back) transaction.
--  (a) SAVEPOINT / ROLLBACK TO / RELEASE around births in a writer left open across three consumer
--      runs while a younger writer commits: the younger one is handed off at once, the open one's
--      surviving births exactly once after its commit, its rolled-back births never;
--  (b) the writer's xid is first taken inside a subtransaction that is rolled back, the consumer
--      runs, then the writer births and commits: handed off, nothing of the rolled-back part;
--  (c) 100 births in 100 subtransactions (more than a backend caches: the snapshot's subxact list
--      overflows), open across a consumer run: all 100 handed off once after the commit;
--  (d) a consumer batch run inside a savepoint that is rolled back changes nothing: the next run
--      takes the same rows, exactly one event each;
--  (e) a family set to off, then moved to another table while its committed births wait: they are
--      handed off with their object keys unchanged; deleting the family is refused while it has
--      births (foreign key), so no birth loses its family;
--  (f) a prepared transaction (PREPARE TRANSACTION) holding a birth, when max_prepared_transactions
--      allows it (else skipped): a younger committed birth is handed off, the prepared one is not,
--      the heartbeat advances, activation works, v_handoff_status names the holder; after COMMIT
--      PREPARED the birth is handed off exactly once.
-- Every committed birth: one candidate row and exactly one event.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(32);

SELECT dblink_connect('b6w1', bgtest.connstr()) AS w1 \gset
SELECT dblink_connect('b6w2', bgtest.connstr()) AS w2 \gset
SELECT dblink_exec('b6w2', $q$INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern)
                            VALUES ('b6sub', 'pg_catalog.pg_amproc', 'amproclefttype', '^[A-Z]-[0-9]+$')$q$) AS family \gset

CREATE FUNCTION pg_temp.birth(p_code text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT format($q$WITH r AS (
        INSERT INTO birthgate.birth_registry (collection_name, entity_code) VALUES ('b6sub', %L)
        RETURNING registry_id, collection_name, entity_code, born_at)
    INSERT INTO birthgate.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
    SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r$q$, p_code);
$fn$;
CREATE FUNCTION pg_temp.handed(p_code text) RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT format('candidates=%s events=%s',
        (SELECT count(*) FROM birthgate.governance_candidate_state WHERE object_key = 'b6sub:' || p_code),
        (SELECT count(*) FROM birthgate.event_pending WHERE object_key = 'b6sub:' || p_code)
      + (SELECT count(*) FROM birthgate.event_outbox WHERE object_key = 'b6sub:' || p_code));
$fn$;
CREATE FUNCTION pg_temp.consume_all() RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    v_total bigint := 0;
    v_n integer;
BEGIN
    LOOP
        SELECT consumed INTO v_n FROM birthgate.handoff_consume(7);
        v_total := v_total + v_n;
        EXIT WHEN v_n < 7;
    END LOOP;
    RETURN v_total;
END
$fn$;
-- the whole family: one candidate per committed birth, one event per committed birth
CREATE FUNCTION pg_temp.family_ok() RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT format('births=%s candidates=%s events=%s distinct_events=%s',
        (SELECT count(*) FROM birthgate.birth_registry WHERE collection_name = 'b6sub'),
        (SELECT count(*) FROM birthgate.governance_candidate_state WHERE collection_name = 'b6sub'),
        (SELECT count(*) FROM (SELECT object_key FROM birthgate.event_pending WHERE object_key LIKE 'b6sub:%'
                               UNION ALL SELECT object_key FROM birthgate.event_outbox WHERE object_key LIKE 'b6sub:%') e),
        (SELECT count(DISTINCT object_key) FROM (SELECT object_key FROM birthgate.event_pending WHERE object_key LIKE 'b6sub:%'
                               UNION ALL SELECT object_key FROM birthgate.event_outbox WHERE object_key LIKE 'b6sub:%') e));
$fn$;

SELECT pg_temp.consume_all() AS start \gset

-- (a) subtransactions around births, the writer open across three consumer runs
SELECT dblink_exec('b6w1', 'BEGIN') AS b \gset
SELECT dblink_exec('b6w1', 'SAVEPOINT s1') AS s \gset
SELECT dblink_exec('b6w1', pg_temp.birth('S-1')) AS x \gset
SELECT dblink_exec('b6w1', 'ROLLBACK TO SAVEPOINT s1') AS s \gset
SELECT dblink_exec('b6w1', pg_temp.birth('S-2')) AS x \gset
SELECT dblink_exec('b6w1', 'SAVEPOINT s2') AS s \gset
SELECT dblink_exec('b6w1', pg_temp.birth('S-3')) AS x \gset
SELECT dblink_exec('b6w1', 'RELEASE SAVEPOINT s2') AS s \gset
SELECT dblink_exec('b6w1', 'SAVEPOINT s3') AS s \gset
SELECT dblink_exec('b6w1', pg_temp.birth('S-4')) AS x \gset
SELECT dblink_exec('b6w1', 'ROLLBACK TO SAVEPOINT s3') AS s \gset
SELECT is(pg_temp.consume_all(), 0::bigint, '(a) first consumer run while the writer with savepoints is open: nothing to take');
SELECT dblink_exec('b6w2', pg_temp.birth('T-1')) AS x \gset
SELECT is(pg_temp.consume_all(), 1::bigint, '(a) second run: the younger committed birth is taken at once');
SELECT is(pg_temp.handed('T-1'), 'candidates=1 events=1', '(a) T-1 is handed off while the older writer is still open');
SELECT is(pg_temp.consume_all(), 0::bigint, '(a) third run with the writer still open: nothing taken twice, nothing early');
SELECT is((SELECT rows_waiting FROM birthgate.v_handoff_status), 0::bigint, '(a) no committed row waits while the writer is open');
SELECT dblink_exec('b6w1', 'COMMIT') AS c \gset
SELECT is(pg_temp.consume_all(), 2::bigint, '(a) after the commit exactly the two surviving births are taken');
SELECT is(pg_temp.handed('S-2') || ' ' || pg_temp.handed('S-3'), 'candidates=1 events=1 candidates=1 events=1',
          '(a) S-2 (after a rolled-back savepoint) and S-3 (in a released savepoint) are handed off once');
SELECT is(pg_temp.handed('S-1') || ' ' || pg_temp.handed('S-4'), 'candidates=0 events=0 candidates=0 events=0',
          '(a) the births rolled back to a savepoint are never handed off');

-- (b) the xid is first taken inside a subtransaction that is rolled back
SELECT dblink_exec('b6w1', 'BEGIN') AS b \gset
SELECT dblink_exec('b6w1', 'SAVEPOINT s1') AS s \gset
SELECT dblink_exec('b6w1', pg_temp.birth('U-1')) AS x \gset
SELECT dblink_exec('b6w1', 'ROLLBACK TO SAVEPOINT s1') AS s \gset
SELECT t.xid AS u_xid FROM dblink('b6w1', 'SELECT pg_current_xact_id_if_assigned()::text') AS t (xid text) \gset
SELECT isnt(:'u_xid'::text, NULL::text, '(b) the writer holds an xid taken by its rolled-back subtransaction');
SELECT is(pg_temp.consume_all(), 0::bigint, '(b) the consumer runs while that writer is open: nothing to take');
SELECT dblink_exec('b6w1', pg_temp.birth('U-2')) AS x \gset
SELECT dblink_exec('b6w1', 'COMMIT') AS c \gset
SELECT is(pg_temp.consume_all(), 1::bigint, '(b) after the commit its one surviving birth is taken');
SELECT is(pg_temp.handed('U-2') || ' ' || pg_temp.handed('U-1'), 'candidates=1 events=1 candidates=0 events=0',
          '(b) U-2 handed off once, the rolled-back U-1 never');

-- (c) 100 births in 100 subtransactions (the snapshot's subxact cache overflows), open across a run
SELECT dblink_exec('b6w1', 'BEGIN') AS b \gset
SELECT dblink_exec('b6w1', format($q$DO $do$ BEGIN FOR i IN 1..100 LOOP BEGIN EXECUTE %L USING i; END; END LOOP; END $do$$q$,
    $q$WITH r AS (INSERT INTO birthgate.birth_registry (collection_name, entity_code) VALUES ('b6sub', 'V-' || $1)
                  RETURNING registry_id, collection_name, entity_code, born_at)
       INSERT INTO birthgate.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
       SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r$q$)) AS x \gset
SELECT dblink_exec('b6w2', pg_temp.birth('T-2')) AS x \gset
SELECT is(pg_temp.consume_all(), 1::bigint, '(c) with 100 subtransactions open elsewhere the younger committed birth is taken');
SELECT dblink_exec('b6w1', 'COMMIT') AS c \gset
SELECT is(pg_temp.consume_all(), 100::bigint, '(c) after the commit all 100 births of the subtransactions are taken');
SELECT is((SELECT count(*) FROM birthgate.governance_candidate_state WHERE collection_name = 'b6sub' AND entity_code LIKE 'V-%'),
          100::bigint, '(c) 100 candidate rows');

-- (d) a consumer run inside a savepoint that is rolled back changes nothing
SELECT dblink_exec('b6w2', pg_temp.birth('D-1')) AS x \gset
SELECT dblink_exec('b6w2', pg_temp.birth('D-2')) AS x \gset
SAVEPOINT consumer_attempt;
SELECT is(pg_temp.consume_all(), 2::bigint, '(d) a consumer run inside a savepoint takes the two new births');
ROLLBACK TO SAVEPOINT consumer_attempt;
SELECT is(pg_temp.handed('D-1'), 'candidates=0 events=0', '(d) rolled back: no candidate, no event');
SELECT is(pg_temp.consume_all(), 2::bigint, '(d) the next run takes the same two rows again');
SELECT is(pg_temp.handed('D-1') || ' ' || pg_temp.handed('D-2'), 'candidates=1 events=1 candidates=1 events=1', '(d) exactly one event each');

-- (e) family set to off, then moved, while committed births wait
SELECT dblink_exec('b6w2', pg_temp.birth('M-1')) AS x \gset
SELECT dblink_exec('b6w2', $q$UPDATE birthgate.birth_family SET mode = 'off' WHERE collection_name = 'b6sub'$q$) AS off \gset
SELECT dblink_exec('b6w2', 'CREATE TABLE public.b6_moved_to (amproclefttype text PRIMARY KEY)') AS t \gset
SELECT t.m AS moved FROM dblink('b6w2', $q$SELECT birthgate.move_family('b6sub', 'public.b6_moved_to', 'test: moved while births wait')::text$q$) AS t (m text) \gset
SELECT is((SELECT table_name::text || ' ' || mode FROM birthgate.birth_family WHERE collection_name = 'b6sub'), 'b6_moved_to off',
          '(e) the family is off and on its new table');
SELECT is(pg_temp.consume_all(), 1::bigint, '(e) the waiting birth is taken');
SELECT is(pg_temp.handed('M-1'), 'candidates=1 events=1', '(e) M-1 is handed off under its unchanged object key');
-- the foreign key is ON DELETE RESTRICT: 23503 up to PostgreSQL 17, 23001 (restrict_violation) from 18
SELECT matches(bgtest.outcome(ARRAY[$q$SELECT dblink_exec('b6w2', $$DELETE FROM birthgate.birth_family WHERE collection_name = 'b6sub'$$)$q$]),
               '^statements failed: (23503|23001)$', '(e) a family with births cannot be deleted (its births keep their family)');

-- (f) a prepared transaction holding a birth
SELECT current_setting('max_prepared_transactions')::int > 0 AS can_prepare, 'bg260_' || pg_backend_pid() AS gid \gset
\if :can_prepare
SELECT dblink_exec('b6w1', 'BEGIN') AS b \gset
SELECT dblink_exec('b6w1', pg_temp.birth('P-1')) AS x \gset
SELECT t.xid AS p_xid FROM dblink('b6w1', 'SELECT pg_current_xact_id()::text') AS t (xid text) \gset
SELECT dblink_exec('b6w1', format('PREPARE TRANSACTION %L', :'gid')) AS p \gset
SELECT dblink_exec('b6w2', pg_temp.birth('P-2')) AS x \gset
SELECT is(pg_temp.consume_all(), 1::bigint, '(f) with a prepared transaction holding P-1 the younger committed P-2 is taken');
SELECT is(pg_temp.handed('P-1') || ' ' || pg_temp.handed('P-2'), 'candidates=0 events=0 candidates=1 events=1',
          '(f) P-2 handed off, the prepared P-1 not yet');
INSERT INTO birthgate.governance_build_authorization (reference, note) VALUES ('bg260', 'test');
SELECT ok((SELECT NOT stale AND heartbeat_at = now() FROM birthgate.v_handoff_status) AND birthgate.activate_candidates(1000) >= 0,
          '(f) the heartbeat advances and activation opens while the prepared transaction pins the horizon');
-- named since 000021 (before, every holding_* column was NULL for a prepared transaction)
SELECT is((SELECT holding_txid::text FROM birthgate.v_handoff_status), :'p_xid',
          '(f) v_handoff_status names the prepared transaction that holds P-1 back (holding_txid)');
SELECT dblink_exec('b6w2', format('COMMIT PREPARED %L', :'gid')) AS cp \gset
SELECT is(pg_temp.consume_all(), 1::bigint, '(f) after COMMIT PREPARED the prepared birth is taken');
SELECT is(pg_temp.handed('P-1'), 'candidates=1 events=1', '(f) P-1 handed off exactly once');
\else
SELECT skip('max_prepared_transactions is 0 on this server: prepared transactions cannot be tested', 6);
\endif

SELECT is(pg_temp.family_ok(), (SELECT format('births=%1$s candidates=%1$s events=%1$s distinct_events=%1$s', count(*)) FROM birthgate.birth_registry WHERE collection_name = 'b6sub'),
          'every committed birth of the family: one candidate, exactly one event');
SELECT ok((SELECT NOT stale FROM birthgate.v_handoff_status) AND (SELECT count(*) FROM birthgate.v_handoff_lag) = 0,
          'heartbeat fresh, v_handoff_lag 0');

-- clean up what the sessions committed (and never leave a prepared transaction behind)
SELECT dblink_exec('b6w2', format('ROLLBACK PREPARED %L', gid)) FROM pg_prepared_xacts WHERE gid = :'gid';
SELECT lives_ok($q$SELECT dblink_exec('b6w2', $c$
    BEGIN;
    SET LOCAL session_replication_role = replica;
    DELETE FROM birthgate.registry_changelog WHERE collection_name = 'b6sub';
    DELETE FROM birthgate.birth_registry WHERE collection_name = 'b6sub';
    DELETE FROM birthgate.birth_family_move WHERE collection_name = 'b6sub';
    DELETE FROM birthgate.birth_family WHERE collection_name = 'b6sub';
    DROP TABLE IF EXISTS public.b6_moved_to;
    COMMIT;$c$)$q$, 'the committed births are removed');
SELECT dblink_disconnect('b6w1') AS d1, dblink_disconnect('b6w2') AS d2 \gset

SELECT * FROM finish();
ROLLBACK;
