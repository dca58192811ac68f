-- 670 every package function a cron job, a worker or an issuer calls that writes, called where it
-- cannot write: a READ ONLY transaction (also one that had written first), a session with
-- default_transaction_read_only = on (dblink). Each raises its lane's BG code first thing
-- (BG222 handoff and sweeps, BG511 outbox, BG165 admission) with the caller and the reason in
-- DETAIL and a remedy in HINT, and changes nothing. Read-only readers (retire_gate_check) still work.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(32);

-- 'SQLSTATE|DETAIL|HINT' of a statement run read-only (set inside the same subtransaction)
CREATE FUNCTION pg_temp.read_only(p_sql text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE v_detail text; v_hint text;
BEGIN
  SET LOCAL transaction_read_only = on;
  EXECUTE p_sql;
  RAISE EXCEPTION USING ERRCODE = 'ZZ000';
EXCEPTION
  WHEN SQLSTATE 'ZZ000' THEN RETURN 'no error';
  WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || '|' || coalesce(v_detail, '') || '|' || coalesce(v_hint, '');
END
$f$;


-- something for every writer to do: a family, a permit, births waiting for the handoff, an
-- active event type with an event claimed and one dead-lettered
CREATE TABLE public.ro670_items (code text PRIMARY KEY);
SELECT birthgate.register_family('ro670', 'public.ro670_items', 'code', '^R-[0-9]+$', 'report');
SELECT birthgate.issue_permit('ro670', 'R-1') AS permit_id \gset
INSERT INTO public.ro670_items VALUES ('R-2'), ('R-3');
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
SELECT birthgate.set_event_type_active('handoff.object_born', true);
INSERT INTO birthgate.event_outbox (event_type, object_key, born_at, payload, source_change_id)
SELECT 'handoff.object_born', 'ro670:' || g, now(), '{}', g FROM generate_series(1, 2) AS g;
SELECT outbox_id AS claimed_id FROM birthgate.outbox_claim('w670', 1) \gset

CREATE TEMP TABLE before AS SELECT bgtest.package_state() AS fp;

CREATE TEMP TABLE calls (fn text, lane_code text, sql text);
INSERT INTO calls VALUES
  ('handoff_consume', 'BG222', $$SELECT * FROM birthgate.handoff_consume(100)$$),
  ('handoff_consume', 'BG222', $$CALL birthgate.handoff_drain(100)$$),
  ('set_event_type_active', 'BG222', $$SELECT birthgate.set_event_type_active('handoff.object_born', false)$$),
  ('release_pending', 'BG222', $$SELECT birthgate.release_pending('handoff.object_born')$$),
  ('activate_candidates', 'BG222', $$SELECT birthgate.activate_candidates(10)$$),
  ('sweep_adopt', 'BG222', $$SELECT * FROM birthgate.sweep_adopt('ro670')$$),
  ('sweep_adopt', 'BG222', $$CALL birthgate.sweep_adopt_run('ro670')$$),
  ('sweep_backfill', 'BG222', $$SELECT * FROM birthgate.sweep_backfill()$$),
  ('sweep_backfill', 'BG222', $$CALL birthgate.sweep_backfill_run()$$),
  ('outbox_claim', 'BG511', $$SELECT * FROM birthgate.outbox_claim('w670', 10)$$),
  ('outbox_ack', 'BG511', format('SELECT birthgate.outbox_ack(ARRAY[%s]::bigint[], %L)', :claimed_id, 'w670')),
  ('outbox_fail', 'BG511', format('SELECT birthgate.outbox_fail(%s, %L, %L)', :claimed_id, 'HTTP 503', 'w670')),
  ('outbox_redrive', 'BG511', $$SELECT birthgate.outbox_redrive()$$),
  ('outbox_purge', 'BG511', $$SELECT birthgate.outbox_purge(100)$$),
  ('outbox_configure', 'BG511', $$SELECT * FROM birthgate.outbox_configure(p_max_attempts => 3)$$),
  ('set_family_code_limit', 'BG165', $$SELECT birthgate.set_family_code_limit('ro670', 40)$$),
  ('set_family_mode', 'BG165', $$SELECT birthgate.set_family_mode('ro670', 'enforce')$$),
  ('issue_permit', 'BG165', $$SELECT birthgate.issue_permit('ro670', 'R-9')$$),
  ('revoke_permit', 'BG165', format('SELECT birthgate.revoke_permit(%s, %L)', :permit_id, 'read-only test')),
  ('expire_permits', 'BG165', $$SELECT birthgate.expire_permits()$$),
  ('retire', 'BG165', $$SELECT birthgate.retire('ro670', 'R-2', 'read-only test')$$);

CREATE TEMP TABLE results AS
SELECT c.fn, c.lane_code, c.sql, pg_temp.read_only(c.sql) AS got FROM calls AS c;

SELECT is(
  (SELECT string_agg(r.sql || ' -> ' || split_part(r.got, '|', 1), E'\n' ORDER BY r.sql) FROM results AS r WHERE split_part(r.got, '|', 1) IS DISTINCT FROM r.lane_code),
  NULL,
  'every writer in a READ ONLY transaction raises its lane''s BG code (BG222 handoff and sweeps, BG511 outbox, BG165 admission), procedures included');
SELECT is(
  (SELECT string_agg(r.sql, E'\n' ORDER BY r.sql) FROM results AS r
   WHERE split_part(r.got, '|', 2) !~ ('^' || r.fn || ': the transaction is read-only \(transaction_read_only = on; default_transaction_read_only = off\)$')),
  NULL,
  'each DETAIL names the function and says the transaction is read-only');
SELECT is(
  (SELECT string_agg(r.sql, E'\n' ORDER BY r.sql) FROM results AS r
   WHERE split_part(r.got, '|', 3) !~ 'primary' OR split_part(r.got, '|', 3) !~ 'SET TRANSACTION READ WRITE'),
  NULL,
  'each HINT points at the primary and at SET TRANSACTION READ WRITE');
SELECT ok((SELECT bool_and(split_part(r.got, '|', 3) ~ 'Connect the delivery worker') FROM results AS r WHERE r.lane_code = 'BG511'),
  'the outbox HINT is written for the delivery worker');
SELECT ok((SELECT bool_and(split_part(r.got, '|', 3) ~ 'cron job') FROM results AS r WHERE r.lane_code = 'BG222'),
  'the handoff HINT is written for the cron job');
SELECT is(bgtest.package_state(), (SELECT fp FROM before), 'the refused calls changed nothing');

-- the transaction has written (it has an xid) and is then set read-only: refused all the same, and
-- nothing it would have written is there
SELECT ok(pg_current_xact_id_if_assigned() IS NOT NULL, 'this transaction has an xid');
SELECT is(split_part(pg_temp.read_only($$SELECT * FROM birthgate.handoff_consume(100)$$), '|', 1), 'BG222',
  'handoff_consume read-only after writes: BG222');
SELECT is(split_part(pg_temp.read_only($$SELECT * FROM birthgate.outbox_claim('w670', 10)$$), '|', 1), 'BG511',
  'outbox_claim read-only after writes: BG511');
SELECT is(split_part(pg_temp.read_only($$SELECT birthgate.issue_permit('ro670', 'R-9')$$), '|', 1), 'BG165',
  'issue_permit read-only after writes: BG165');

-- readers keep working read-only
SELECT is(pg_temp.read_only($$SELECT * FROM birthgate.retire_gate_check('ro670', 'R-2')$$), 'no error',
  'retire_gate_check (reads only) works in a READ ONLY transaction');
SELECT is(pg_temp.read_only($$SELECT * FROM birthgate.v_handoff_status$$), 'no error',
  'v_handoff_status reads in a READ ONLY transaction');

-- a session whose default_transaction_read_only = on (what a hot standby gives every session):
-- every writer, over dblink, committed nothing
SELECT dblink_connect('ro670', bgtest.connstr() || ' options=''-c default_transaction_read_only=on''') AS ro_conn \gset
SELECT is((SELECT t FROM dblink('ro670', 'SHOW default_transaction_read_only') AS r (t text)), 'on',
  'the dblink session is read-only by default');
CREATE FUNCTION pg_temp.remote_state(p_sql text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE v_hint text;
BEGIN
  PERFORM dblink_exec('ro670', p_sql);
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS v_hint = PG_EXCEPTION_HINT;
  RETURN SQLSTATE || CASE WHEN coalesce(v_hint, '') <> '' THEN ' with hint' ELSE ' without hint' END;
END
$f$;
SELECT is(pg_temp.remote_state(c.sql), c.lane_code || ' with hint', 'default_transaction_read_only = on: ' || c.sql)
FROM calls AS c
WHERE c.sql NOT LIKE '%outbox_ack%' AND c.sql NOT LIKE '%outbox_fail%' AND c.sql NOT LIKE '%revoke_permit%'
ORDER BY c.sql;
SELECT dblink_disconnect('ro670');

SELECT is(bgtest.package_state(), (SELECT fp FROM before), 'still nothing changed');

SELECT * FROM finish();
ROLLBACK;
