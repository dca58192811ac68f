-- 665 the consumer called where it cannot write: inside a READ ONLY transaction (what
-- default_transaction_read_only = on and a hot standby give every session), and handoff_drain
-- inside an explicit transaction block. Each must be refused with a BG SQLSTATE that says what to
-- do, never a raw 25006 / 2D000, and must change nothing (cursor and lanes as before).
-- The refusals are TODO tests: today both raise PostgreSQL's own error.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(7);

-- the SQLSTATE a statement raises (NULL when it succeeds); its work is undone either way
CREATE FUNCTION pg_temp.bg_sqlstate(p_sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
  EXECUTE p_sql;
  RAISE EXCEPTION USING ERRCODE = 'ZZ000';
EXCEPTION
  WHEN SQLSTATE 'ZZ000' THEN RETURN NULL;
  WHEN OTHERS THEN RETURN SQLSTATE;
END
$f$;

-- SQLSTATE, DETAIL and HINT of a failing statement, as one text
CREATE FUNCTION pg_temp.bg_error(p_sql text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE v_detail text; v_hint text;
BEGIN
  EXECUTE p_sql;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
  RETURN format('%s DETAIL=%s HINT=%s', SQLSTATE, v_detail, v_hint);
END
$f$;

CREATE TEMP TABLE fp AS
SELECT (SELECT count(*) FROM birthgate.event_pending) AS pending,
       (SELECT count(*) FROM birthgate.event_outbox) AS outbox,
       (SELECT count(*) FROM birthgate.governance_candidate_state) AS candidates,
       (SELECT md5(string_agg(hc::text, ',' ORDER BY consumer_name)) FROM birthgate.handoff_cursor AS hc) AS cursor;

-- the psql trap the first reproduction fell into: this transaction is not read-only afterwards
SAVEPOINT ro;
SET LOCAL transaction_read_only = on;
SELECT current_setting('transaction_read_only') AS ro_after_set \gset
ROLLBACK TO SAVEPOINT ro;
SELECT is(:'ro_after_set'::text, 'off',
  'SET LOCAL transaction_read_only = on as its own statement under ON_ERROR_ROLLBACK leaves the transaction writable (why handoff_consume used to "return without error" here)');

-- read-only for real: set inside the statement, after this transaction has written (it has an xid)
SELECT pg_current_xact_id_if_assigned() IS NOT NULL AS has_xid \gset
SELECT coalesce(pg_temp.bg_sqlstate($$SET LOCAL transaction_read_only = on; SELECT * FROM birthgate.handoff_consume(10)$$), 'none') AS ro_state \gset
SELECT pg_temp.bg_error($$SET LOCAL transaction_read_only = on; SELECT * FROM birthgate.handoff_consume(10)$$) AS ro_error \gset
SELECT coalesce(pg_temp.bg_sqlstate($$SET LOCAL transaction_read_only = on; CALL birthgate.handoff_drain(10)$$), 'none') AS ro_drain \gset
SELECT is(:'ro_state'::text || ' ' || :'has_xid', 'BG222 t',
  'handoff_consume in a READ ONLY transaction that had written first (it has an xid) raises BG222');
SELECT ok(:'ro_error' ~ 'DETAIL=handoff_consume: the transaction is read-only' AND :'ro_error' ~ 'HINT=.*SET TRANSACTION READ WRITE',
  'its DETAIL says the transaction is read-only and its HINT how to get a read-write one');
SELECT is(:'ro_drain'::text, 'BG222',
  'handoff_drain in a READ ONLY transaction raises BG222 before any batch');

-- No reliable test for an atomic CALL exists in plpgsql (statement_timestamp() = transaction_timestamp()
-- is false after a COMMIT inside a calling procedure or DO block, which would refuse legitimate
-- non-atomic CALLs), so the COMMIT itself refuses: 2D000, and the batch it would have committed is undone.
SELECT is(pg_temp.bg_sqlstate($$CALL birthgate.handoff_drain(10)$$), '2D000',
  'handoff_drain inside a transaction block fails at its first COMMIT with 2D000 (documented next to handoff_drain in the README)');

SELECT is(
  (SELECT row(pending, outbox, candidates, cursor)::text FROM fp),
  (SELECT row((SELECT count(*) FROM birthgate.event_pending), (SELECT count(*) FROM birthgate.event_outbox),
              (SELECT count(*) FROM birthgate.governance_candidate_state),
              (SELECT md5(string_agg(hc::text, ',' ORDER BY consumer_name)) FROM birthgate.handoff_cursor AS hc))::text),
  'the refused calls changed nothing');
SELECT lives_ok($$SELECT * FROM birthgate.handoff_consume(10)$$,
  'handoff_consume works again once the transaction may write');

SELECT * FROM finish();
ROLLBACK;
