-- 100 admission structure: the admission tables (keys, CHECKs, the partial unique "one live permit"
-- index, the FK birth_registry.permit_id), the contract functions (signatures, return types,
-- volatility, SECURITY DEFINER with a pinned search_path), privileges (nothing to PUBLIC, roles as
-- documented), comments, guard triggers, and that both tables are empty at install.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(67);

-- tables
SELECT has_table('birthgate', 'birth_admission_permit', 'birth_admission_permit exists');
SELECT has_table('birthgate', 'birth_gate_violation', 'birth_gate_violation exists');
SELECT col_is_pk('birthgate', 'birth_admission_permit', 'permit_id', 'permits are keyed by permit_id');
SELECT is((SELECT attidentity::text FROM pg_attribute WHERE attrelid = 'birthgate.birth_admission_permit'::regclass AND attname = 'permit_id'),
          'a', 'permit_id is an identity column (GENERATED ALWAYS)');
SELECT fk_ok('birthgate', 'birth_admission_permit', 'collection_name', 'birthgate', 'birth_family', 'collection_name',
             'every permit belongs to a registered family');
SELECT fk_ok('birthgate', 'birth_registry', 'permit_id', 'birthgate', 'birth_admission_permit', 'permit_id',
             'birth_registry.permit_id references the permit it consumed');
SELECT col_has_check('birthgate', 'birth_admission_permit', 'state', 'permit state is checked against the vocabulary');
SELECT col_default_is('birthgate', 'birth_admission_permit', 'state', 'ISSUED', 'a new permit is ISSUED');
SELECT columns_are('birthgate', 'birth_admission_permit', ARRAY[
    'permit_id', 'collection_name', 'entity_code', 'state', 'issued_at', 'issued_by', 'expires_at',
    'consumed_at', 'consumed_by', 'revoked_at', 'revoked_by', 'revoke_reason', 'expired_at'
]::name[], 'the permit records who and when for every transition');
SELECT col_not_null('birthgate', 'birth_admission_permit', 'expires_at', 'every permit has an end of lifetime');
SELECT has_index('birthgate', 'birth_admission_permit', 'birth_admission_permit_live_key', ARRAY['collection_name', 'entity_code'],
                 'the live-permit key indexes (collection_name, entity_code)');
SELECT index_is_unique('birthgate', 'birth_admission_permit', 'birth_admission_permit_live_key', 'the live-permit key is UNIQUE');
SELECT is((SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indexrelid = 'birthgate.birth_admission_permit_live_key'::regclass),
          '(state = ''ISSUED''::text)', 'the live-permit key is partial: WHERE state = ''ISSUED''');
SELECT has_index('birthgate', 'birth_admission_permit', 'birth_admission_permit_expiry_idx', 'lapsed permits are found by index');
SELECT is((SELECT count(*)::int FROM pg_constraint WHERE conrelid = 'birthgate.birth_admission_permit'::regclass AND contype = 'c'
           AND conname IN ('birth_admission_permit_lifetime', 'birth_admission_permit_consumed_consistent',
                           'birth_admission_permit_revoked_consistent', 'birth_admission_permit_expired_consistent')), 4,
          'four CHECKs tie lifetime, timestamps and actors to the state');

SELECT col_is_pk('birthgate', 'birth_gate_violation', 'violation_id', 'violations are keyed by violation_id');
SELECT col_has_check('birthgate', 'birth_gate_violation', 'kind', 'violation kind is checked against the vocabulary');
SELECT col_has_check('birthgate', 'birth_gate_violation', 'mode', 'violation mode is checked against the vocabulary');
SELECT col_type_is('birthgate', 'birth_gate_violation', 'txid', 'xid8', 'a violation records its transaction as xid8');
SELECT col_type_is('birthgate', 'birth_gate_violation', 'detail', 'jsonb', 'a violation carries a jsonb detail');
SELECT columns_are('birthgate', 'birth_gate_violation', ARRAY[
    'violation_id', 'kind', 'collection_name', 'entity_code', 'table_name', 'operation', 'mode', 'layer',
    'actor', 'login_user', 'txid', 'detail', 'recorded_at'
]::name[], 'a violation records kind, collection, code, table, mode, layer, actor, txid, detail and time');
SELECT has_index('birthgate', 'birth_gate_violation', 'birth_gate_violation_code_txid_idx', ARRAY['collection_name', 'entity_code', 'txid'],
                 'the finalize gate finds this transaction''s findings by index');

-- empty at install
SELECT is_empty('SELECT 1 FROM birthgate.birth_admission_permit', 'birth_admission_permit is empty at install');
SELECT is_empty('SELECT 1 FROM birthgate.birth_gate_violation', 'birth_gate_violation is empty at install');

-- guard triggers
SELECT has_trigger('birthgate', 'birth_admission_permit', '_100_permit_transition_guard', 'the permit transition guard exists');
SELECT has_trigger('birthgate', 'birth_admission_permit', '_101_permit_no_delete', 'the permit delete guard exists');
SELECT has_trigger('birthgate', 'birth_gate_violation', '_100_append_only', 'the violation UPDATE/DELETE guard exists');
SELECT has_trigger('birthgate', 'birth_gate_violation', '_101_append_only_truncate', 'the violation TRUNCATE guard exists');

-- contract functions
SELECT has_function('birthgate', 'register_family', ARRAY['text', 'regclass', 'name', 'text', 'text'], 'register_family(text, regclass, name, text, text) exists');
SELECT function_returns('birthgate', 'register_family', ARRAY['text', 'regclass', 'name', 'text', 'text'], 'void', 'register_family returns void');
SELECT has_function('birthgate', 'set_family_mode', ARRAY['text', 'text'], 'set_family_mode(text, text) exists');
SELECT function_returns('birthgate', 'set_family_mode', ARRAY['text', 'text'], 'void', 'set_family_mode returns void');
SELECT has_function('birthgate', 'issue_permit', ARRAY['text', 'text', 'interval'], 'issue_permit(text, text, interval) exists');
SELECT function_returns('birthgate', 'issue_permit', ARRAY['text', 'text', 'interval'], 'bigint', 'issue_permit returns the permit_id');
SELECT has_function('birthgate', 'revoke_permit', ARRAY['bigint', 'text'], 'revoke_permit(bigint, text) exists');
SELECT function_returns('birthgate', 'revoke_permit', ARRAY['bigint', 'text'], 'void', 'revoke_permit returns void');
SELECT has_function('birthgate', 'expire_permits', ARRAY[]::text[], 'expire_permits() exists');
SELECT function_returns('birthgate', 'expire_permits', ARRAY[]::text[], 'integer', 'expire_permits returns how many');
SELECT has_function('birthgate', 'retire', ARRAY['text', 'text', 'text'], 'retire(text, text, text) exists');
SELECT function_returns('birthgate', 'retire', ARRAY['text', 'text', 'text'], 'void', 'retire returns void');
SELECT has_function('birthgate', 'retire_gate_check', ARRAY['text', 'text'], 'retire_gate_check(text, text) exists');
SELECT is((SELECT pg_get_function_result('birthgate.retire_gate_check(text, text)'::regprocedure)),
          'TABLE(allowed boolean, reason text)', 'retire_gate_check returns TABLE (allowed boolean, reason text)');
SELECT is((SELECT pg_get_function_arguments('birthgate.register_family(text, regclass, name, text, text)'::regprocedure)),
          'p_collection text, p_table regclass, p_code_column name, p_code_pattern text, p_mode text DEFAULT ''report''::text',
          'register_family takes the contract parameter names, p_mode defaults to report');
SELECT is((SELECT pg_get_function_arguments('birthgate.issue_permit(text, text, interval)'::regprocedure)),
          'p_collection text, p_entity_code text, p_ttl interval DEFAULT ''24:00:00''::interval',
          'issue_permit takes the contract parameter names, p_ttl defaults to 24 hours');
SELECT has_function('birthgate', 'tg_birth_gate', ARRAY[]::text[], 'the layer-1 trigger function tg_birth_gate() exists');
SELECT function_returns('birthgate', 'tg_birth_gate', ARRAY[]::text[], 'trigger', 'tg_birth_gate is a trigger function');
SELECT has_function('birthgate', 'tg_birth_finalize', ARRAY[]::text[], 'the layer-2 trigger function tg_birth_finalize() exists');
SELECT function_returns('birthgate', 'tg_birth_finalize', ARRAY[]::text[], 'trigger', 'tg_birth_finalize is a trigger function');

SELECT volatility_is('birthgate', 'retire_gate_check', ARRAY['text', 'text'], 'stable', 'retire_gate_check is STABLE (a check, no writes)');
SELECT volatility_is('birthgate', 'issue_permit', ARRAY['text', 'text', 'interval'], 'volatile', 'issue_permit is VOLATILE');
SELECT volatility_is('birthgate', 'expire_permits', ARRAY[]::text[], 'volatile', 'expire_permits is VOLATILE');
SELECT is_definer('birthgate', 'tg_birth_gate', ARRAY[]::name[], 'the layer-1 gate runs as SECURITY DEFINER (inserters need no registry rights)');
SELECT is_definer('birthgate', 'tg_birth_finalize', ARRAY[]::name[], 'the layer-2 gate runs as SECURITY DEFINER');
SELECT is_definer('birthgate', 'issue_permit', ARRAY['text', 'text', 'interval']::name[], 'issue_permit runs as SECURITY DEFINER');
SELECT is_empty($$SELECT p.oid::regprocedure::text FROM pg_proc p
                  WHERE p.pronamespace = 'birthgate'::regnamespace AND p.prosecdef
                    AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)$$,
                'every SECURITY DEFINER function of the schema pins search_path = pg_catalog, pg_temp');
SELECT ok((SELECT proconfig @> ARRAY['row_security=off'] FROM pg_proc WHERE oid = 'birthgate.retire_gate_check(text, text)'::regprocedure),
          'retire_gate_check runs with row_security = off: a policy can never hide a live row');

-- privileges: nothing to PUBLIC
SELECT is_empty($$SELECT p.oid::regprocedure::text FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                  WHERE p.pronamespace = 'birthgate'::regnamespace AND a.grantee = 0
                    AND p.proname IN ('register_family', 'set_family_mode', 'issue_permit', 'revoke_permit', 'expire_permits',
                                      'retire', 'retire_gate_check', 'tg_birth_gate', 'tg_birth_finalize',
                                      'tg_birth_admission_permit_guard', 'tg_birth_gate_violation_append_only')$$,
                'no admission function is executable by PUBLIC');
SELECT is_empty($$SELECT c.relname FROM pg_class c, aclexplode(c.relacl) a
                  WHERE c.oid IN ('birthgate.birth_admission_permit'::regclass, 'birthgate.birth_gate_violation'::regclass) AND a.grantee = 0$$,
                'nothing on the admission tables is granted to PUBLIC');
SELECT table_privs_are('birthgate', 'birth_admission_permit', 'birthgate_reader', ARRAY['SELECT'], 'the reader role only reads permits');
SELECT table_privs_are('birthgate', 'birth_gate_violation', 'birthgate_reader', ARRAY['SELECT'], 'the reader role only reads violations');
SELECT table_privs_are('birthgate', 'birth_admission_permit', 'birthgate_issuer', ARRAY['SELECT'], 'the issuer role reads permits and writes none directly');
SELECT table_privs_are('birthgate', 'birth_admission_permit', 'birthgate_admin', ARRAY['SELECT'], 'the admin role reads permits and writes none directly');
SELECT table_privs_are('birthgate', 'birth_registry', 'birthgate_reader', ARRAY['SELECT'], 'the reader role reads the registry');
SELECT is(ARRAY(SELECT p.proname::text FROM pg_proc p WHERE p.pronamespace = 'birthgate'::regnamespace
                  AND p.proname IN ('register_family', 'set_family_mode', 'issue_permit', 'revoke_permit', 'expire_permits', 'retire', 'retire_gate_check', 'move_family', 'set_family_code_limit')
                  AND has_function_privilege('birthgate_admin', p.oid, 'EXECUTE') ORDER BY 1),
          ARRAY['expire_permits', 'move_family', 'register_family', 'register_family', 'retire', 'retire_gate_check', 'revoke_permit', 'set_family_code_limit', 'set_family_mode'],
          'the admin role executes the administration functions, not issue_permit');
SELECT is(ARRAY(SELECT p.proname::text FROM pg_proc p WHERE p.pronamespace = 'birthgate'::regnamespace
                  AND p.proname IN ('register_family', 'set_family_mode', 'issue_permit', 'revoke_permit', 'expire_permits', 'retire', 'retire_gate_check')
                  AND has_function_privilege('birthgate_issuer', p.oid, 'EXECUTE') ORDER BY 1),
          ARRAY['issue_permit', 'revoke_permit'], 'the issuer role executes issue_permit and revoke_permit only');
SELECT is(ARRAY(SELECT p.proname::text FROM pg_proc p WHERE p.pronamespace = 'birthgate'::regnamespace
                  AND p.proname IN ('register_family', 'set_family_mode', 'issue_permit', 'revoke_permit', 'expire_permits', 'retire', 'retire_gate_check')
                  AND has_function_privilege('birthgate_reader', p.oid, 'EXECUTE') ORDER BY 1),
          ARRAY[]::text[], 'the reader role executes none of the admission functions');

-- comments
SELECT isnt(col_description('birthgate.birth_admission_permit'::regclass,
           (SELECT attnum::int FROM pg_attribute WHERE attrelid = 'birthgate.birth_admission_permit'::regclass AND attname = 'state')), NULL,
           'birth_admission_permit.state is commented');

SELECT * FROM finish();
ROLLBACK;
