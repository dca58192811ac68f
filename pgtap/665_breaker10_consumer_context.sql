-- 665 the consumer called where it cannot write: inside a READ ONLY transaction (what
-- default_transaction_read_only = on and a hot standby give every session), and handoff_drain
-- inside an explicit transaction block. Each must be refused with a BG SQLSTATE that says what to
-- do, never a raw 25006 / 2D000, and must change nothing (cursor and lanes as before).
-- The refusals are TODO tests: today both raise PostgreSQL's own error.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(6);

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

CREATE TEMP TABLE fp AS
SELECT (SELECT count(*) FROM birthgate.event_pending) AS pending,
       (SELECT count(*) FROM birthgate.event_outbox) AS outbox,
       (SELECT count(*) FROM birthgate.governance_candidate_state) AS candidates,
       (SELECT md5(string_agg(hc::text, ',' ORDER BY consumer_name)) FROM birthgate.handoff_cursor AS hc) AS cursor;

-- a read-only transaction: a savepoint lets the rest of the file write again
SAVEPOINT ro;
SET LOCAL transaction_read_only = on;
SELECT coalesce(pg_temp.bg_sqlstate($$SELECT * FROM birthgate.handoff_consume(10)$$), 'none') AS ro_state \gset
ROLLBACK TO SAVEPOINT ro;
SELECT todo('handoff_consume in a read-only transaction raises PostgreSQL''s 25006, not a BG code', 1);
SELECT ok(:'ro_state' ~ '^BG',
  'handoff_consume in a READ ONLY transaction raises a BG SQLSTATE');

SELECT todo('handoff_drain inside a transaction block raises PostgreSQL''s 2D000 from its COMMIT', 1);
SELECT ok(
  coalesce(pg_temp.bg_sqlstate($$CALL birthgate.handoff_drain(10)$$) ~ '^BG', false),
  'handoff_drain inside a transaction block raises a BG SQLSTATE (got 2D000)');

-- today's raw codes, so the change is seen when it comes
SELECT ok(:'ro_state' !~ '^BG',
  'today: handoff_consume in a READ ONLY transaction raises no BG code (25006 in a session without an xid; here, after writes to temp tables, it returns without error) (reproduction)');
SELECT is(pg_temp.bg_sqlstate($$CALL birthgate.handoff_drain(10)$$), '2D000',
  'today: handoff_drain in a transaction block raises 2D000 (reproduction)');

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
