-- 671 every public function of the contract called with NULL in each argument: a BG SQLSTATE with a
-- non-empty DETAIL that reads NULL where the argument is shown (format('%s', NULL) prints nothing),
-- a HINT, and no change to the package tables. Arguments where NULL is documented to mean something
-- (a default, "all", "no limit", "any worker") are called and must work.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(47);

CREATE FUNCTION pg_temp.err(p_sql text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE v_d text; v_h text;
BEGIN
  EXECUTE p_sql;
  RAISE EXCEPTION USING ERRCODE = 'ZZ000';
EXCEPTION
  WHEN SQLSTATE 'ZZ000' THEN RETURN 'no error';
  WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_d = PG_EXCEPTION_DETAIL, v_h = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || '|' || coalesce(v_d, '') || '|' || coalesce(v_h, '');
END
$f$;

CREATE TABLE public.n671 (code text PRIMARY KEY);
CREATE TABLE public.n671_other (code text PRIMARY KEY);
CREATE TABLE public.n671_fresh (code text PRIMARY KEY);
SELECT birthgate.register_family('n671', 'public.n671', 'code', '^N-[0-9]+$', 'report');
SELECT birthgate.issue_permit('n671', 'N-1') AS permit_id \gset
CREATE TEMP TABLE before AS SELECT bgtest.package_state() AS fp;

-- (call, the text DETAIL must contain for the NULL argument)
CREATE TEMP TABLE refused (sql text, shows text);
INSERT INTO refused VALUES
  ($$SELECT birthgate.register_family(NULL, 'public.n671_fresh', 'code', '^N-[0-9]+$', 'report')$$, 'collection NULL'),
  ($$SELECT birthgate.register_family('n671b', NULL, 'code', '^N-[0-9]+$', 'report')$$, 'table is NULL'),
  ($$SELECT birthgate.register_family('n671b', 'public.n671_fresh', NULL, '^N-[0-9]+$', 'report')$$, 'code column is NULL'),
  ($$SELECT birthgate.register_family('n671b', 'public.n671_fresh', 'code', NULL, 'report')$$, 'pattern NULL'),
  ($$SELECT birthgate.register_family('n671b', 'public.n671_fresh', 'code', '^N-[0-9]+$', NULL)$$, 'mode NULL'),
  ($$SELECT birthgate.set_family_mode(NULL, 'report')$$, 'collection NULL'),
  ($$SELECT birthgate.set_family_mode('n671', NULL)$$, 'mode NULL'),
  ($$SELECT birthgate.set_family_code_limit(NULL, 10)$$, 'collection NULL'),
  ($$SELECT birthgate.set_family_code_limit('n671', NULL)$$, 'code length limit NULL'),
  ($$SELECT birthgate.move_family(NULL, 'public.n671_other', 'split')$$, 'collection NULL'),
  ($$SELECT birthgate.move_family('n671', NULL, 'split')$$, 'move_family(''n671'', NULL)'),
  ($$SELECT birthgate.move_family('n671', 'public.n671_other', NULL)$$, 'public.n671_other, NULL)'),
  ($$SELECT birthgate.issue_permit(NULL, 'N-2')$$, 'collection NULL'),
  ($$SELECT birthgate.issue_permit('n671', NULL)$$, 'code NULL'),
  ($$SELECT birthgate.issue_permit('n671', 'N-2', NULL)$$, 'ttl NULL'),
  ($$SELECT birthgate.revoke_permit(NULL, 'mistake')$$, 'permit_id NULL'),
  ($$SELECT birthgate.revoke_permit(NULL, NULL)$$, 'revoke_permit(NULL, NULL)'),
  ($$SELECT birthgate.revoke_permit(1, NULL)$$, 'revoke_permit(1, NULL)'),
  ($$SELECT birthgate.retire(NULL, 'N-1', 'gone')$$, 'collection NULL'),
  ($$SELECT birthgate.retire('n671', NULL, 'gone')$$, 'n671:NULL'),
  ($$SELECT birthgate.retire('n671', 'N-1', NULL)$$, 'retire(''n671'', ''N-1'', NULL)'),
  ($$SELECT * FROM birthgate.handoff_consume(NULL)$$, 'p_batch_size => NULL'),
  ($$CALL birthgate.handoff_drain(NULL)$$, 'p_batch_size => NULL'),
  ($$SELECT birthgate.release_pending(NULL)$$, 'event type NULL'),
  ($$SELECT birthgate.set_event_type_active(NULL, true)$$, 'event type NULL'),
  ($$SELECT birthgate.set_event_type_active('handoff.object_born', NULL)$$, '''handoff.object_born'', NULL'),
  ($$SELECT birthgate.activate_candidates(NULL)$$, 'p_limit => NULL'),
  ($$SELECT * FROM birthgate.outbox_claim(NULL, 10)$$, 'p_worker => NULL'),
  ($$SELECT * FROM birthgate.outbox_claim('w671', NULL)$$, 'p_limit => NULL'),
  ($$SELECT * FROM birthgate.outbox_claim('w671', 10, NULL)$$, 'p_visibility => NULL'),
  ($$SELECT birthgate.outbox_ack(NULL)$$, 'p_outbox_ids => NULL'),
  ($$SELECT birthgate.outbox_ack(ARRAY[NULL]::bigint[])$$, 'contains NULL'),
  ($$SELECT birthgate.outbox_fail(NULL, 'HTTP 503')$$, 'p_outbox_id => NULL'),
  ($$SELECT birthgate.outbox_fail(1, NULL)$$, 'p_error => NULL'),
  ($$SELECT birthgate.outbox_redrive(ARRAY[NULL]::bigint[])$$, 'contains NULL'),
  ($$SELECT birthgate.outbox_purge(NULL)$$, 'p_limit => NULL');

CREATE TEMP TABLE got AS SELECT r.sql, r.shows, pg_temp.err(r.sql) AS e FROM refused AS r;

SELECT ok(g.e ~ '^BG[0-9A-Z]{3}\|' AND split_part(g.e, '|', 2) <> '' AND split_part(g.e, '|', 3) <> ''
          AND strpos(split_part(g.e, '|', 2), g.shows) > 0,
  g.sql || ': BG code, DETAIL showing ' || g.shows || ', HINT (got ' || left(g.e, 200) || ')')
FROM got AS g ORDER BY g.sql;

-- no DETAIL shows an argument as nothing: "( ", ", )", ":  ", "  for" are where a NULL printed empty
SELECT is((SELECT string_agg(g.sql || ' -> ' || split_part(g.e, '|', 2), E'\n') FROM got AS g
           WHERE split_part(g.e, '|', 2) ~ '(\(,|, \)|, ,|  for | $|:$|\(\))'),
  NULL, 'no DETAIL prints a NULL argument as an empty string');

-- hints fit the function they come from
SELECT ok((SELECT split_part(e, '|', 3) FROM got WHERE sql LIKE '%set_event_type_active(''handoff.object_born'', NULL)%') ~ 'p_active true',
  'set_event_type_active''s BG200 hint is about p_active, not p_batch_size');
SELECT ok((SELECT split_part(e, '|', 3) FROM got WHERE sql LIKE '%activate_candidates(NULL)%') ~ 'activate_candidates\(1000\)',
  'activate_candidates''s BG200 hint shows a call of activate_candidates');
SELECT ok((SELECT split_part(e, '|', 3) FROM got WHERE sql LIKE '%outbox_fail(NULL%') ~ 'outbox_fail\(101',
  'outbox_fail''s BG503 hint is about one outbox_id, not an array');
SELECT is(bgtest.package_state(), (SELECT fp FROM before), 'the refused calls changed nothing');

-- NULL where it is documented to mean something: works
SELECT lives_ok($$SELECT birthgate.register_family('n671b', 'public.n671_fresh', 'code', '^N-[0-9]+$', 'report', NULL)$$,
  'register_family(..., p_code_max_length => NULL) takes the default limit');
SELECT lives_ok($$SELECT birthgate.outbox_redrive(NULL)$$, 'outbox_redrive(NULL) re-drives all (none here)');
SELECT lives_ok($$SELECT * FROM birthgate.outbox_configure(p_max_attempts => NULL)$$, 'outbox_configure(NULL) keeps the setting');
SELECT lives_ok($$SELECT birthgate.outbox_ack(ARRAY[]::bigint[], NULL)$$, 'outbox_ack(..., p_worker => NULL) acknowledges any current claim');
SELECT is((SELECT allowed FROM birthgate.retire_gate_check(NULL, 'N-1')), false, 'retire_gate_check(NULL, ...) answers not allowed');
SELECT is((SELECT allowed FROM birthgate.retire_gate_check('n671', NULL)), false, 'retire_gate_check(..., NULL) answers not allowed');

SELECT * FROM finish();
ROLLBACK;
