-- 010 substrate structure: every substrate table exists with its keys, unique constraints,
-- CHECK constraints, indexes and comments; the changelog is append-only; the seeds are present.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(73);

SELECT has_schema('birthgate', 'the package schema exists');
SELECT tables_are('birthgate', ARRAY[
    'birth_family', 'birth_family_move', 'birth_registry', 'registry_changelog', 'event_type_registry', 'event_pending',
    'event_outbox', 'governance_candidate_state', 'governance_build_authorization', 'handoff_cursor',
    'birth_admission_permit', 'birth_gate_violation', 'drift_baseline', 'sweep_cursor', 'sweep_finding',
    'event_dead_letter', 'outbox_receipt', 'outbox_config', 'outbox_counter', 'admission_verify', 'gate_trigger_attach'
]::name[], 'the package owns exactly the contract tables');
SELECT is((SELECT count(*)::int FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid
           WHERE n.nspname = 'public' AND c.relname LIKE 'birth%'), 0, 'nothing is created in public');

-- birth_family
SELECT has_pk('birthgate', 'birth_family', 'birth_family has a primary key');
SELECT col_is_pk('birthgate', 'birth_family', 'collection_name', 'birth_family is keyed by collection_name');
SELECT col_is_unique('birthgate', 'birth_family', 'table_name', 'a table belongs to at most one family');
SELECT col_type_is('birthgate', 'birth_family', 'table_name', 'regclass', 'birth_family.table_name is a regclass');
SELECT col_has_check('birthgate', 'birth_family', 'mode', 'birth_family.mode is checked against the vocabulary');
SELECT col_default_is('birthgate', 'birth_family', 'mode', 'report', 'families start in report mode');
SELECT throws_ok($$INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern, mode)
                  VALUES ('x', 'pg_class', 'relname', '.*', 'strict')$$, '23514', NULL,
                 'a mode outside off/report/enforce is refused by the CHECK');
SELECT throws_ok($$INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern)
                  VALUES ('Bad Name', 'pg_class', 'relname', '.*')$$, '23514', NULL,
                 'a collection name that is not a plain identifier is refused');

-- birth_registry
SELECT has_pk('birthgate', 'birth_registry', 'birth_registry has a primary key');
SELECT col_is_unique('birthgate', 'birth_registry', ARRAY['entity_code', 'collection_name'],
                     'birth_registry is UNIQUE (entity_code, collection_name)');
SELECT fk_ok('birthgate', 'birth_registry', 'collection_name', 'birthgate', 'birth_family', 'collection_name',
             'every registry row belongs to a registered family');
SELECT col_has_check('birthgate', 'birth_registry', 'status', 'birth_registry.status is checked');
SELECT col_default_is('birthgate', 'birth_registry', 'status', 'BORN', 'a new registry row is BORN');
SELECT col_type_is('birthgate', 'birth_registry', 'born_txid', 'xid8', 'the birth records its transaction as xid8');
SELECT col_not_null('birthgate', 'birth_registry', 'object_key', 'object_key is never NULL');
SELECT has_index('birthgate', 'birth_registry', 'birth_registry_object_key_idx', 'object_key is indexed');

-- registry_changelog
SELECT has_pk('birthgate', 'registry_changelog', 'registry_changelog has a primary key');
SELECT col_type_is('birthgate', 'registry_changelog', 'txid', 'xid8', 'changelog rows carry an xid8');
SELECT col_default_is('birthgate', 'registry_changelog', 'txid', 'pg_current_xact_id()', 'txid defaults to pg_current_xact_id()');
SELECT col_has_check('birthgate', 'registry_changelog', 'op', 'changelog op is checked');
SELECT has_index('birthgate', 'registry_changelog', 'registry_changelog_txid_change_id_idx', ARRAY['txid', 'change_id'],
                 'the consumer order (txid, change_id) is indexed');
SELECT has_trigger('birthgate', 'registry_changelog', '_100_append_only', 'UPDATE/DELETE guard exists');
SELECT has_trigger('birthgate', 'registry_changelog', '_101_append_only_truncate', 'TRUNCATE guard exists');

-- event_type_registry and the seed
SELECT has_pk('birthgate', 'event_type_registry', 'event_type_registry has a primary key');
SELECT col_is_pk('birthgate', 'event_type_registry', 'event_type', 'event types are keyed by name');
SELECT col_has_check('birthgate', 'event_type_registry', 'event_type', 'event type names are checked');
SELECT col_default_is('birthgate', 'event_type_registry', 'active', 'false', 'event types start inactive');

-- event lanes
SELECT has_pk('birthgate', 'event_pending', 'event_pending has a primary key');
SELECT col_is_unique('birthgate', 'event_pending', ARRAY['event_type', 'object_key', 'born_at'],
                     'event_pending is UNIQUE (event_type, object_key, born_at)');
SELECT fk_ok('birthgate', 'event_pending', 'event_type', 'birthgate', 'event_type_registry', 'event_type',
             'captured events name a registered type');
SELECT has_pk('birthgate', 'event_outbox', 'event_outbox has a primary key');
SELECT col_is_unique('birthgate', 'event_outbox', ARRAY['event_type', 'object_key', 'born_at'],
                     'event_outbox is UNIQUE (event_type, object_key, born_at)');
SELECT fk_ok('birthgate', 'event_outbox', 'event_type', 'birthgate', 'event_type_registry', 'event_type',
             'emitted events name a registered type');
SELECT col_has_check('birthgate', 'event_outbox', 'attempts', 'delivery attempts cannot be negative');
SELECT has_index('birthgate', 'event_outbox', 'event_outbox_undelivered_idx', 'undelivered events are indexed');

-- governance_candidate_state
SELECT has_pk('birthgate', 'governance_candidate_state', 'governance_candidate_state has a primary key');
SELECT col_is_pk('birthgate', 'governance_candidate_state', 'object_key', 'one candidate row per object key');
SELECT col_has_check('birthgate', 'governance_candidate_state', 'activation_state', 'activation_state is checked');
SELECT col_default_is('birthgate', 'governance_candidate_state', 'dirty', 'true', 'candidates are marked dirty');
SELECT col_type_is('birthgate', 'governance_candidate_state', 'source_txid', 'xid8', 'the source transaction is an xid8');

-- governance_build_authorization (OSPA) and handoff_cursor
SELECT has_pk('birthgate', 'governance_build_authorization', 'the OSPA ledger has a primary key');
SELECT col_not_null('birthgate', 'governance_build_authorization', 'reference', 'every authorization names its reference');
SELECT has_pk('birthgate', 'handoff_cursor', 'handoff_cursor has a primary key');
SELECT col_type_is('birthgate', 'handoff_cursor', 'position_txid', 'xid8', 'the cursor position is an xid8');
SELECT col_has_check('birthgate', 'handoff_cursor', 'stale_after', 'the stale threshold must be positive');
SELECT col_type_is('birthgate', 'handoff_cursor', 'heartbeat_at', 'timestamp with time zone', 'the heartbeat is a timestamptz');

-- seeds
SELECT results_eq($$SELECT event_type, active FROM birthgate.event_type_registry WHERE event_type = 'handoff.object_born'$$,
                  $$VALUES ('handoff.object_born'::text, false)$$, 'handoff.object_born is registered, inactive');
SELECT results_eq($$SELECT consumer_name, position_change_id FROM birthgate.handoff_cursor$$,
                  $$VALUES ('governance_handoff'::text, 0::bigint)$$, 'the handoff cursor starts at zero');

-- comments on every table of the schema, and on every column that is part of the contract
SELECT is_empty($$SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'birthgate' AND c.relkind IN ('r', 'v') AND obj_description(c.oid, 'pg_class') IS NULL$$,
                'every table and view of the schema has a COMMENT');
SELECT isnt(obj_description('birthgate'::regnamespace, 'pg_namespace'), NULL, 'the schema has a COMMENT');
SELECT is_empty($$SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'birthgate' AND NOT t.tgisinternal AND obj_description(t.oid, 'pg_trigger') IS NULL$$,
                'every trigger on a package table has a COMMENT');
SELECT is_empty($$SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                  WHERE n.nspname = 'birthgate' AND obj_description(p.oid, 'pg_proc') IS NULL$$,
                'every function of the schema has a COMMENT');
SELECT isnt(col_description('birthgate.registry_changelog'::regclass,
           (SELECT attnum::int FROM pg_attribute WHERE attrelid = 'birthgate.registry_changelog'::regclass AND attname = 'txid')), NULL, 'registry_changelog.txid is commented');

-- nothing granted to PUBLIC
SELECT is_empty($$SELECT p.oid::regprocedure::text FROM pg_proc p
                  WHERE p.pronamespace = 'birthgate'::regnamespace
                    AND (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0))$$,
                'no function of the schema is executable by PUBLIC');
SELECT is_empty($$SELECT c.relname FROM pg_class c
                  WHERE c.relnamespace = 'birthgate'::regnamespace
                    AND EXISTS (SELECT 1 FROM aclexplode(c.relacl) a WHERE a.grantee = 0)$$,
                'no table, view or sequence of the schema is granted to PUBLIC');
SELECT ok(NOT has_schema_privilege('public', 'birthgate', 'USAGE'), 'PUBLIC has no USAGE on the schema');

-- the changelog is append-only
INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern)
VALUES ('structure_probe', 'pg_class', 'relname', '.*');
INSERT INTO birthgate.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
VALUES ('BORN', 'structure_probe', 'A-1', 0, now());
SELECT throws_ok($$UPDATE birthgate.registry_changelog SET entity_code = 'X' WHERE collection_name = 'structure_probe'$$,
                 'BG001', NULL, 'UPDATE of a changelog row is refused with BG001');
SELECT throws_ok($$DELETE FROM birthgate.registry_changelog WHERE collection_name = 'structure_probe'$$,
                 'BG001', NULL, 'DELETE of a changelog row is refused with BG001');
SELECT throws_ok($$TRUNCATE birthgate.registry_changelog$$, 'BG001', NULL, 'TRUNCATE of the changelog is refused with BG001');
SELECT throws_ok($$INSERT INTO birthgate.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
                  VALUES ('UPDATED', 'structure_probe', 'A-2', 0, now())$$, '23514', NULL, 'a changelog op outside BORN/RETIRED is refused');
SELECT is((SELECT txid FROM birthgate.registry_changelog WHERE collection_name = 'structure_probe'), pg_current_xact_id(),
          'a changelog row records the writing transaction''s xid8');

-- registry consistency checks
SELECT lives_ok($$INSERT INTO birthgate.birth_registry (collection_name, entity_code) VALUES ('structure_probe', 'A-1')$$,
                'a registry row can be recorded');
SELECT throws_ok($$INSERT INTO birthgate.birth_registry (collection_name, entity_code) VALUES ('structure_probe', 'A-1')$$,
                 '23505', NULL, 'the same (entity_code, collection_name) cannot be born twice');
SELECT is((SELECT object_key FROM birthgate.birth_registry WHERE entity_code = 'A-1' AND collection_name = 'structure_probe'),
          'structure_probe:A-1', 'object_key is collection_name:entity_code');
SELECT throws_ok($$UPDATE birthgate.birth_registry SET status = 'RETIRED' WHERE collection_name = 'structure_probe'$$,
                 '23514', NULL, 'RETIRED without retired_at/by/reason is refused by the CHECK');
SELECT throws_ok($$UPDATE birthgate.birth_registry SET status = 'DEAD' WHERE collection_name = 'structure_probe'$$,
                 '23514', NULL, 'a status outside BORN/RETIRED is refused');
SELECT throws_ok($$INSERT INTO birthgate.birth_registry (collection_name, entity_code) VALUES ('nope', 'A-1')$$,
                 '23503', NULL, 'a registry row for an unknown family is refused');
SELECT throws_ok($$INSERT INTO birthgate.event_pending (event_type, object_key, born_at, payload, source_change_id)
                  VALUES ('unknown.type', 'k', now(), '{}', 1)$$, '23503', NULL, 'an event of an unregistered type is refused');
SELECT throws_ok($$INSERT INTO birthgate.governance_candidate_state (object_key, collection_name, entity_code, registry_status, born_at, marked_at, source_change_id, source_txid, activation_state)
                  VALUES ('k', 'c', 'e', 'BORN', now(), now(), 1, '1', 'ACTIVATED')$$, '23514', NULL,
                 'ACTIVATED without activated_at/by is refused');
SELECT throws_ok($$UPDATE birthgate.handoff_cursor SET stale_after = '0 seconds'$$, '23514', NULL, 'a zero stale threshold is refused');

SELECT * FROM finish();
ROLLBACK;
