-- 500 outbox structure: the delivery columns of event_outbox (with defaults, so the handoff's
-- INSERT keeps working), event_dead_letter, the settings and counter tables, the pull API
-- functions (signatures, volatility, SECURITY DEFINER with a pinned search_path), the views, and
-- the birthgate_delivery role: NOLOGIN, allowed the pull API and nothing else; nothing granted to
-- PUBLIC.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(55);

-- event_outbox: new columns, all with defaults or nullable
SELECT has_column('birthgate', 'event_outbox', 'visible_at', 'event_outbox has visible_at');
SELECT col_not_null('birthgate', 'event_outbox', 'visible_at', 'visible_at is NOT NULL');
SELECT col_has_default('birthgate', 'event_outbox', 'visible_at', 'visible_at has a default (emission time)');
SELECT has_column('birthgate', 'event_outbox', 'claimed_by', 'event_outbox has claimed_by');
SELECT has_column('birthgate', 'event_outbox', 'claimed_at', 'event_outbox has claimed_at');
SELECT has_column('birthgate', 'event_outbox', 'claim_expires_at', 'event_outbox has claim_expires_at');
SELECT col_type_is('birthgate', 'event_outbox', 'errors', 'jsonb', 'errors is jsonb');
SELECT col_has_default('birthgate', 'event_outbox', 'errors', 'errors defaults to an empty array');
SELECT col_has_default('birthgate', 'event_outbox', 'redrive_count', 'redrive_count has a default');
SELECT is((SELECT count(*)::int FROM pg_attribute a
            WHERE a.attrelid = 'birthgate.event_outbox'::regclass AND a.attnum > 0 AND NOT a.attisdropped
              AND a.attnotnull AND NOT a.atthasdef AND a.attidentity = ''
              AND a.attname NOT IN ('event_type', 'object_key', 'born_at', 'payload', 'source_change_id')),
          0, 'every NOT NULL column beyond the 0.1 INSERT list has a default');
SELECT has_index('birthgate', 'event_outbox', 'event_outbox_undelivered_idx', ARRAY['visible_at', 'outbox_id'],
                 'the claim index orders undelivered events by (visible_at, outbox_id)');
SELECT is((SELECT count(*)::int FROM pg_index i WHERE i.indrelid = 'birthgate.event_outbox'::regclass), 3,
          'event_outbox has 3 indexes to maintain: primary key, the unique event key, the claim index');
SELECT col_has_check('birthgate', 'event_outbox', ARRAY['claimed_by', 'claimed_at', 'claim_expires_at'], 'a claim has a holder, a time and an expiry, or none of them');
-- the claim is a HOT update: no index covers a column it changes, and every page keeps room for it
SELECT is((SELECT count(*)::int FROM pg_index i, unnest(i.indkey) AS k (attnum), pg_attribute a
            WHERE i.indrelid = 'birthgate.event_outbox'::regclass AND a.attrelid = i.indrelid AND a.attnum = k.attnum
              AND a.attname IN ('attempts', 'claimed_by', 'claimed_at', 'claim_expires_at', 'errors', 'last_error'))
          + (SELECT count(*)::int FROM pg_index i WHERE i.indrelid = 'birthgate.event_outbox'::regclass AND i.indpred IS NOT NULL
              AND pg_get_expr(i.indpred, i.indrelid) ~ '(attempts|claimed_by|claimed_at|claim_expires_at|errors|last_error)'),
          0, 'no index (key or predicate) covers a column the claim changes');
SELECT ok((SELECT 'fillfactor=45' = ANY (reloptions) FROM pg_class WHERE oid = 'birthgate.event_outbox'::regclass),
          'event_outbox keeps free space on every page for the claim (fillfactor 45)');

-- outbox_receipt: one row per acknowledgement call
SELECT has_table('birthgate', 'outbox_receipt', 'outbox_receipt exists');
SELECT columns_are('birthgate', 'outbox_receipt', ARRAY['receipt_id', 'delivered_at', 'acked_by', 'outbox_ids', 'events', 'min_outbox_id', 'max_outbox_id', 'source_change_ids', 'min_source_change_id', 'max_source_change_id']::name[],
                   'outbox_receipt holds the delivered ids, when and by whom');
SELECT has_index('birthgate', 'outbox_receipt', 'outbox_receipt_id_range_idx', 'the receipts are indexed by the id range they cover');
SELECT throws_ok($$INSERT INTO birthgate.outbox_receipt (delivered_at, outbox_ids, events, min_outbox_id, max_outbox_id) VALUES (now(), ARRAY[1, 2]::bigint[], 3, 1, 2)$$,
                 '23514', NULL, 'a receipt''s count matches its ids');
SELECT ok(has_table_privilege('birthgate_reader', 'birthgate.outbox_receipt', 'SELECT'), 'birthgate_reader can read outbox_receipt');

-- event_dead_letter
SELECT has_table('birthgate', 'event_dead_letter', 'event_dead_letter exists');
SELECT col_is_pk('birthgate', 'event_dead_letter', 'outbox_id', 'event_dead_letter is keyed by the outbox id');
SELECT col_is_unique('birthgate', 'event_dead_letter', ARRAY['event_type', 'object_key', 'born_at'],
                     'event_dead_letter is UNIQUE (event_type, object_key, born_at)');
SELECT columns_are('birthgate', 'event_dead_letter', ARRAY[
    'outbox_id', 'event_type', 'object_key', 'born_at', 'payload', 'source_change_id', 'emitted_at',
    'released_from_pending', 'attempts', 'errors', 'last_error', 'redrive_count', 'dead_lettered_at', 'dead_lettered_by'
]::name[], 'event_dead_letter keeps the whole event, every error and when');
SELECT fk_ok('birthgate', 'event_dead_letter', 'event_type', 'birthgate', 'event_type_registry', 'event_type',
             'dead-lettered events reference a registered type');
SELECT has_table('birthgate', 'outbox_config', 'outbox_config exists');
SELECT is((SELECT count(*)::int FROM birthgate.outbox_config), 1, 'outbox_config has its one row');
SELECT has_table('birthgate', 'outbox_counter', 'outbox_counter exists');

-- functions
SELECT function_returns('birthgate', 'outbox_claim', ARRAY['text', 'integer', 'interval'], 'setof record', 'outbox_claim(text, integer, interval) returns a set');
SELECT function_returns('birthgate', 'outbox_ack', ARRAY['bigint[]', 'text'], 'integer', 'outbox_ack(bigint[], text) returns integer');
SELECT function_returns('birthgate', 'outbox_fail', ARRAY['bigint', 'text', 'text'], 'text', 'outbox_fail(bigint, text, text) returns text');
SELECT function_returns('birthgate', 'outbox_redrive', ARRAY['bigint[]'], 'integer', 'outbox_redrive(bigint[]) returns integer');
SELECT function_returns('birthgate', 'outbox_purge', ARRAY['integer'], 'integer', 'outbox_purge(integer) returns integer');
SELECT has_function('birthgate', 'outbox_configure', ARRAY['integer', 'interval', 'interval', 'interval', 'interval'], 'outbox_configure exists');
SELECT is((SELECT array_agg(p.proname::text ORDER BY p.proname) FROM pg_proc p
            WHERE p.pronamespace = 'birthgate'::regnamespace AND p.proname LIKE 'outbox\_%'
              AND p.prosecdef AND p.provolatile = 'v'
              AND p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp']),
          ARRAY['outbox_ack', 'outbox_claim', 'outbox_configure', 'outbox_fail', 'outbox_purge', 'outbox_redrive'],
          'every outbox function is VOLATILE SECURITY DEFINER with the pinned search_path');
SELECT ok((SELECT pg_get_function_arguments('birthgate.outbox_claim(text, integer, interval)'::regprocedure)
           = 'p_worker text, p_limit integer DEFAULT 100, p_visibility interval DEFAULT ''00:00:30''::interval'),
          'outbox_claim keeps the contract defaults (100, 30 seconds)');
SELECT ok((SELECT pg_get_function_arguments('birthgate.outbox_redrive(bigint[])'::regprocedure) = 'p_outbox_ids bigint[] DEFAULT NULL::bigint[]'),
          'outbox_redrive() without arguments re-drives all');
SELECT lives_ok($$SELECT birthgate.outbox_ack(ARRAY[]::bigint[])$$, 'outbox_ack is callable with the contract signature (ids only)');

-- views
SELECT has_view('birthgate', 'v_outbox_status', 'v_outbox_status exists');
SELECT has_view('birthgate', 'v_outbox_findings', 'v_outbox_findings exists');
SELECT is((SELECT count(*)::int FROM birthgate.v_outbox_status), 1, 'v_outbox_status has exactly one row');
SELECT columns_are('birthgate', 'v_outbox_findings', ARRAY['severity', 'severity_rank', 'kind', 'object_type', 'object_name', 'message', 'remedy', 'detail']::name[],
                   'v_outbox_findings has the shape of v_drift_report');

-- the delivery role: exactly the pull API
SELECT has_role('birthgate_delivery', 'the birthgate_delivery role exists');
SELECT ok(NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'birthgate_delivery'), 'birthgate_delivery is NOLOGIN');
SELECT ok(has_schema_privilege('birthgate_delivery', 'birthgate', 'USAGE'), 'birthgate_delivery may use the schema');
SELECT is((SELECT array_agg(p.oid::regprocedure::text ORDER BY p.oid::regprocedure::text) FROM pg_proc p
            WHERE p.pronamespace = 'birthgate'::regnamespace AND has_function_privilege('birthgate_delivery', p.oid, 'EXECUTE')),
          ARRAY['birthgate.outbox_ack(bigint[],text)', 'birthgate.outbox_claim(text,integer,interval)', 'birthgate.outbox_fail(bigint,text,text)'],
          'birthgate_delivery may execute outbox_claim, outbox_ack and outbox_fail, and no other package function');
SELECT is((SELECT count(*)::int FROM pg_class c
            WHERE c.relnamespace = 'birthgate'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
              AND (has_table_privilege('birthgate_delivery', c.oid, 'SELECT') OR has_table_privilege('birthgate_delivery', c.oid, 'INSERT')
                   OR has_table_privilege('birthgate_delivery', c.oid, 'UPDATE') OR has_table_privilege('birthgate_delivery', c.oid, 'DELETE'))),
          0, 'birthgate_delivery can read or write no table or view directly');
SELECT ok(NOT has_function_privilege('birthgate_delivery', 'birthgate.outbox_redrive(bigint[])', 'EXECUTE'), 'a delivery worker cannot re-drive');
SELECT ok(has_function_privilege('birthgate_admin', 'birthgate.outbox_redrive(bigint[])', 'EXECUTE'), 'birthgate_admin can re-drive');
SELECT ok(has_function_privilege('birthgate_admin', 'birthgate.outbox_purge(integer)', 'EXECUTE'), 'birthgate_admin can purge');
SELECT ok(has_table_privilege('birthgate_reader', 'birthgate.v_outbox_status', 'SELECT'), 'birthgate_reader can read v_outbox_status');
SELECT ok(has_table_privilege('birthgate_reader', 'birthgate.event_dead_letter', 'SELECT'), 'birthgate_reader can read event_dead_letter');
SELECT is((SELECT count(*)::int FROM pg_proc p WHERE p.pronamespace = 'birthgate'::regnamespace AND p.proname LIKE 'outbox\_%'
             AND has_function_privilege('public', p.oid, 'EXECUTE')), 0, 'PUBLIC may execute no outbox function');
SELECT is((SELECT count(*)::int FROM pg_class c WHERE c.relnamespace = 'birthgate'::regnamespace
             AND c.relname IN ('event_dead_letter', 'outbox_receipt', 'outbox_config', 'outbox_counter', 'v_outbox_status', 'v_outbox_findings')
             AND has_table_privilege('public', c.oid, 'SELECT')), 0, 'PUBLIC may read no outbox table or view');

-- a delivery worker, as the role, can claim (the outbox is emptied first, in this rolled-back transaction)
DELETE FROM birthgate.event_outbox;
INSERT INTO birthgate.event_outbox (event_type, object_key, born_at, payload, source_change_id)
VALUES ('handoff.object_born', 'structure_probe:1', now(), '{}', 1);
SET LOCAL ROLE birthgate_delivery;
SELECT is((SELECT count(*)::int FROM birthgate.outbox_claim('structure-worker', 10000)), (SELECT 1), 'as birthgate_delivery: claim works');
RESET ROLE;
SELECT * FROM finish();
ROLLBACK;
