-- 672 adversarial pass on 000027: nothing legitimate is refused. The gates and layer 2 inside an
-- application's ordinary read-write transaction, a DO block calling the writers, a SECURITY DEFINER
-- wrapper of the application calling issue_permit, SET TRANSACTION READ WRITE after BEGIN in a
-- session with default_transaction_read_only = on, CALL handoff_drain() at top level (dblink, as a
-- cron job does); and the refusals: BG code, DETAIL, HINT, nothing changed.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(13);

CREATE TABLE public.b11_items (code text PRIMARY KEY);
SELECT birthgate.register_family('b11_rw', 'public.b11_items', 'code', '^Q-[0-9]+$', 'enforce');

-- the gates in an ordinary read-write transaction
SELECT lives_ok($$SELECT birthgate.issue_permit('b11_rw', 'Q-1')$$, 'issue_permit in a read-write transaction');
SELECT lives_ok($$INSERT INTO public.b11_items VALUES ('Q-1')$$, 'a permitted INSERT passes the gates');
SELECT lives_ok($$SET CONSTRAINTS ALL IMMEDIATE$$, 'layer 2 (deferred) passes');
SET CONSTRAINTS ALL DEFERRED;

-- a DO block calling the writers
SELECT lives_ok($q$DO $d$ BEGIN PERFORM birthgate.issue_permit('b11_rw', 'Q-2'); PERFORM * FROM birthgate.handoff_consume(10); END $d$$q$,
                'a DO block calling issue_permit and handoff_consume');

-- a SECURITY DEFINER wrapper of the application (owned by a role with the issuer role)
CREATE ROLE b11_app NOLOGIN;
GRANT birthgate_issuer TO b11_app;
GRANT USAGE ON SCHEMA birthgate TO b11_app;
CREATE FUNCTION public.b11_issue(p_code text) RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
AS $f$ SELECT birthgate.issue_permit('b11_rw', p_code) $f$;
ALTER FUNCTION public.b11_issue(text) OWNER TO b11_app;
SELECT lives_ok($$SELECT public.b11_issue('Q-3')$$, 'a SECURITY DEFINER wrapper of the application calling issue_permit');
-- a wrapper that sets default_transaction_read_only (a defensive habit) does not make its transaction read-only
CREATE FUNCTION public.b11_issue_ro_default(p_code text) RETURNS bigint LANGUAGE sql SET default_transaction_read_only = on
AS $f$ SELECT birthgate.issue_permit('b11_rw', p_code) $f$;
SELECT lives_ok($$SELECT public.b11_issue_ro_default('Q-4')$$, 'SET default_transaction_read_only = on on a function does not refuse its (read-write) transaction');

-- a session with default_transaction_read_only = on: SET TRANSACTION READ WRITE after BEGIN
SELECT dblink_connect('b11', bgtest.connstr());
SELECT dblink_exec('b11', 'SET default_transaction_read_only = on');
SELECT dblink_exec('b11', 'BEGIN');
SELECT dblink_exec('b11', 'SET TRANSACTION READ WRITE');
SELECT is((SELECT s FROM dblink('b11', $$SELECT current_setting('transaction_read_only')$$) AS t(s text)), 'off',
          'SET TRANSACTION READ WRITE after BEGIN: the transaction is read-write');
SELECT lives_ok($$SELECT * FROM dblink('b11', 'SELECT * FROM birthgate.handoff_consume(10)') AS t(a int, b int, c int, d bigint)$$,
                'handoff_consume in it is not refused');
SELECT dblink_exec('b11', 'ROLLBACK');
-- the same session, no SET TRANSACTION: refused with BG222, DETAIL and HINT
SELECT throws_ok($$SELECT * FROM dblink('b11', 'SELECT * FROM birthgate.handoff_consume(10)') AS t(a int, b int, c int, d bigint)$$,
                 'BG222', NULL, 'with default_transaction_read_only = on and no SET TRANSACTION: BG222');
SELECT dblink_exec('b11', 'RESET default_transaction_read_only');

-- pg_cron style: CALL handoff_drain() at top level (own session, no transaction block)
SELECT lives_ok($$SELECT dblink_exec('b11', 'CALL birthgate.handoff_drain(100, 2)')$$, 'CALL handoff_drain() at top level');
SELECT dblink_disconnect('b11');

-- BEGIN READ ONLY: issue_permit refused with BG165, DETAIL and HINT, nothing changed
CREATE TEMP TABLE n_before AS SELECT count(*) AS n FROM birthgate.birth_admission_permit;
CREATE FUNCTION pg_temp.ro_issue() RETURNS text LANGUAGE plpgsql AS $f$
DECLARE d text; h text;
BEGIN
  SET LOCAL transaction_read_only = on;
  PERFORM birthgate.issue_permit('b11_rw', 'Q-6');
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
  RETURN SQLSTATE || '|' || (d <> '') || '|' || (h <> '');
END $f$;
SELECT is(pg_temp.ro_issue(), 'BG165|true|true', 'issue_permit read-only: BG165 with DETAIL and HINT');
SELECT is((SELECT count(*) FROM birthgate.birth_admission_permit), (SELECT n FROM n_before), 'the refusal changed nothing');
SELECT is((SELECT current_setting('transaction_read_only')), 'off', 'and this transaction is read-write again');

SELECT * FROM finish();
ROLLBACK;
