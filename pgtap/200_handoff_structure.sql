-- 200 handoff structure: the handoff functions, procedure and views exist with the contract
-- signatures, volatility, security (SECURITY DEFINER only with a pinned search_path), privileges
-- (admin runs, reader reads, nothing to PUBLIC), comments, and refuse bad arguments with BG200.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(59);

-- functions and their signatures
SELECT has_function('birthgate', 'handoff_consume', ARRAY['integer'], 'handoff_consume(integer) exists');
SELECT function_returns('birthgate', 'handoff_consume', ARRAY['integer'], 'setof record', 'handoff_consume returns a set (RETURNS TABLE)');
SELECT is(pg_get_function_result('birthgate.handoff_consume(integer)'::regprocedure),
          'TABLE(consumed integer, emitted integer, captured integer, lag bigint)',
          'handoff_consume returns TABLE (consumed, emitted, captured, lag) as the contract says');
SELECT is(pg_get_function_arguments('birthgate.handoff_consume(integer)'::regprocedure),
          'p_batch_size integer DEFAULT 5000', 'handoff_consume(p_batch_size integer DEFAULT 5000)');
SELECT volatility_is('birthgate', 'handoff_consume', ARRAY['integer'], 'volatile', 'handoff_consume is VOLATILE');
SELECT is_definer('birthgate', 'handoff_consume', ARRAY['integer'], 'handoff_consume is SECURITY DEFINER');

SELECT is_procedure('birthgate', 'handoff_drain', ARRAY['integer', 'integer'], 'handoff_drain(integer, integer) is a procedure');
SELECT is(pg_get_function_arguments('birthgate.handoff_drain(integer, integer)'::regprocedure),
          'IN p_batch_size integer DEFAULT 5000, IN p_max_batches integer DEFAULT NULL::integer',
          'handoff_drain(p_batch_size integer DEFAULT 5000, p_max_batches integer DEFAULT NULL)');
SELECT isnt_definer('birthgate', 'handoff_drain', ARRAY['integer', 'integer'],
                    'handoff_drain is security invoker (a procedure that COMMITs cannot be SECURITY DEFINER)');
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'birthgate.handoff_drain(integer, integer)'::regprocedure), NULL,
          'handoff_drain has no SET clause (it could not COMMIT with one)');

SELECT has_function('birthgate', 'release_pending', ARRAY['text'], 'release_pending(text) exists');
SELECT function_returns('birthgate', 'release_pending', ARRAY['text'], 'integer', 'release_pending returns integer');
SELECT volatility_is('birthgate', 'release_pending', ARRAY['text'], 'volatile', 'release_pending is VOLATILE');
SELECT is_definer('birthgate', 'release_pending', ARRAY['text'], 'release_pending is SECURITY DEFINER');

SELECT has_function('birthgate', 'activate_candidates', ARRAY['integer'], 'activate_candidates(integer) exists');
SELECT function_returns('birthgate', 'activate_candidates', ARRAY['integer'], 'integer', 'activate_candidates returns integer');
SELECT is(pg_get_function_arguments('birthgate.activate_candidates(integer)'::regprocedure),
          'p_limit integer DEFAULT 1000', 'activate_candidates(p_limit integer DEFAULT 1000)');
SELECT volatility_is('birthgate', 'activate_candidates', ARRAY['integer'], 'volatile', 'activate_candidates is VOLATILE');
SELECT is_definer('birthgate', 'activate_candidates', ARRAY['integer'], 'activate_candidates is SECURITY DEFINER');

SELECT has_function('birthgate', 'set_event_type_active', ARRAY['text', 'boolean'], 'set_event_type_active(text, boolean) exists');
SELECT function_returns('birthgate', 'set_event_type_active', ARRAY['text', 'boolean'], 'boolean', 'set_event_type_active returns the previous state');
SELECT has_function('birthgate', 'handoff_horizon', ARRAY[]::text[], 'handoff_horizon() exists');
SELECT function_returns('birthgate', 'handoff_horizon', ARRAY[]::text[], 'xid8', 'handoff_horizon returns xid8');
SELECT volatility_is('birthgate', 'handoff_horizon', ARRAY[]::text[], 'stable', 'handoff_horizon is STABLE');
SELECT is_definer('birthgate', 'handoff_horizon', ARRAY[]::text[], 'handoff_horizon is SECURITY DEFINER (it reads the cursor, which readers cannot)');
SELECT has_function('birthgate', 'handoff_holding_xact', ARRAY[]::text[], 'handoff_holding_xact() exists');
SELECT volatility_is('birthgate', 'handoff_holding_xact', ARRAY[]::text[], 'volatile', 'handoff_holding_xact is VOLATILE (it refreshes the pg_stat_activity snapshot)');

-- security: every SECURITY DEFINER function of this feature pins search_path
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
    WHERE p.pronamespace = 'birthgate'::regnamespace AND p.prosecdef
      AND p.proname IN ('handoff_consume', 'release_pending', 'activate_candidates', 'set_event_type_active', 'handoff_holding_xact', 'handoff_horizon')
      AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)$$,
    'every SECURITY DEFINER handoff function has SET search_path = pg_catalog, pg_temp');

-- privileges: admin executes, reader reads, PUBLIC nothing
SELECT function_privs_are('birthgate', 'handoff_consume', ARRAY['integer'], 'birthgate_admin', ARRAY['EXECUTE'], 'admin may run handoff_consume');
SELECT function_privs_are('birthgate', 'handoff_consume', ARRAY['integer'], 'birthgate_reader', ARRAY[]::text[], 'reader may not run handoff_consume');
SELECT function_privs_are('birthgate', 'handoff_consume', ARRAY['integer'], 'public', ARRAY[]::text[], 'PUBLIC may not run handoff_consume');
SELECT function_privs_are('birthgate', 'handoff_consume', ARRAY['integer'], 'birthgate_issuer', ARRAY[]::text[], 'issuer may not run handoff_consume');
SELECT function_privs_are('birthgate', 'release_pending', ARRAY['text'], 'birthgate_admin', ARRAY['EXECUTE'], 'admin may run release_pending');
SELECT function_privs_are('birthgate', 'release_pending', ARRAY['text'], 'public', ARRAY[]::text[], 'PUBLIC may not run release_pending');
SELECT function_privs_are('birthgate', 'activate_candidates', ARRAY['integer'], 'birthgate_admin', ARRAY['EXECUTE'], 'admin may run activate_candidates');
SELECT function_privs_are('birthgate', 'activate_candidates', ARRAY['integer'], 'birthgate_reader', ARRAY[]::text[], 'reader may not run activate_candidates');
SELECT function_privs_are('birthgate', 'activate_candidates', ARRAY['integer'], 'public', ARRAY[]::text[], 'PUBLIC may not run activate_candidates');
SELECT ok(has_function_privilege('birthgate_admin', 'birthgate.handoff_drain(integer, integer)', 'EXECUTE'), 'admin may CALL handoff_drain');
SELECT ok(NOT has_function_privilege('birthgate_reader', 'birthgate.handoff_drain(integer, integer)', 'EXECUTE'), 'reader may not CALL handoff_drain');
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
    WHERE p.pronamespace = 'birthgate'::regnamespace AND a.grantee = 0
      AND p.proname IN ('handoff_consume', 'handoff_drain', 'release_pending', 'activate_candidates', 'set_event_type_active', 'handoff_horizon', 'handoff_holding_xact')$$,
    'no handoff function or procedure is executable by PUBLIC');

-- views
SELECT has_view('birthgate', 'v_handoff_lag', 'v_handoff_lag exists');
SELECT has_view('birthgate', 'v_handoff_status', 'v_handoff_status exists');
SELECT columns_are('birthgate', 'v_handoff_status', ARRAY[
    'consumer_name', 'position_txid', 'position_change_id', 'heartbeat_at', 'heartbeat_age', 'stale_after', 'stale',
    'horizon_txid', 'rows_waiting', 'rows_held_back', 'oldest_held_back_txid', 'oldest_held_back_at', 'oldest_held_back_age',
    'holding_txid', 'holding_pid', 'holding_xact_start', 'holding_xact_age', 'holding_application_name', 'holding_state',
    'rows_consumed', 'batches_run', 'last_batch_rows', 'updated_at',
    'position_snapshot', 'window_snapshot', 'oldest_waiting_at', 'lag_seconds'
]::name[], 'v_handoff_status shows cursor, heartbeat, stale flag, waiting and held-back rows, who holds them, the snapshot position and lag_seconds');
SELECT ok(has_table_privilege('birthgate_reader', 'birthgate.v_handoff_lag', 'SELECT'), 'reader may read v_handoff_lag');
SELECT ok(has_table_privilege('birthgate_reader', 'birthgate.v_handoff_status', 'SELECT'), 'reader may read v_handoff_status');
SELECT ok(NOT has_table_privilege('public', 'birthgate.v_handoff_status', 'SELECT'), 'PUBLIC may not read v_handoff_status');

-- the reader can really use the views (functions inside them are executable by the reader)
SET LOCAL ROLE birthgate_reader;
SELECT lives_ok($$SELECT * FROM birthgate.v_handoff_status$$, 'the reader role can SELECT v_handoff_status');
SELECT lives_ok($$SELECT count(*) FROM birthgate.v_handoff_lag$$, 'the reader role can SELECT v_handoff_lag');
SELECT throws_ok($$SELECT * FROM birthgate.handoff_consume()$$, '42501', NULL, 'the reader role cannot run the consumer');
RESET ROLE;
SET LOCAL ROLE birthgate_admin;
SELECT lives_ok($$SELECT * FROM birthgate.handoff_consume(10)$$, 'the admin role can run the consumer (SECURITY DEFINER, no table grants needed)');
RESET ROLE;

-- comments
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
    WHERE p.pronamespace = 'birthgate'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL
      AND p.proname IN ('handoff_consume', 'handoff_drain', 'release_pending', 'activate_candidates', 'set_event_type_active', 'handoff_horizon', 'handoff_holding_xact')$$,
    'every handoff function and procedure has a COMMENT');
SELECT isnt(obj_description('birthgate.v_handoff_lag'::regclass, 'pg_class'), NULL, 'v_handoff_lag has a COMMENT');
SELECT isnt(obj_description('birthgate.v_handoff_status'::regclass, 'pg_class'), NULL, 'v_handoff_status has a COMMENT');

-- nothing on the birth path calls the handoff: no trigger function of the schema mentions it
SELECT is_empty($$
    SELECT p.proname FROM pg_proc p
    WHERE p.pronamespace = 'birthgate'::regnamespace AND p.prorettype = 'trigger'::regtype
      AND (p.prosrc ILIKE '%handoff_consume%' OR p.prosrc ILIKE '%handoff_drain%' OR p.prosrc ILIKE '%activate_candidates%')$$,
    'no trigger function calls the handoff: birth never waits on governance');

-- bad arguments: BG200
SELECT throws_ok($$SELECT * FROM birthgate.handoff_consume(0)$$, 'BG200', NULL, 'a batch size of 0 is refused with BG200');
SELECT throws_ok($$SELECT * FROM birthgate.handoff_consume(NULL)$$, 'BG200', NULL, 'a NULL batch size is refused with BG200');
SELECT throws_ok($$SELECT * FROM birthgate.handoff_consume(100001)$$, 'BG200', NULL, 'a batch size above 100000 is refused with BG200');
SELECT throws_ok($$SELECT birthgate.activate_candidates(0)$$, 'BG200', NULL, 'an activation limit of 0 is refused with BG200');
SELECT throws_ok($$CALL birthgate.handoff_drain(10, 0)$$, 'BG200', NULL, 'p_max_batches = 0 is refused with BG200');

SELECT * FROM finish();
ROLLBACK;
