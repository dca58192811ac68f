-- 400 security, roles and definers: catalog-driven. For each package role the set of package
-- functions it may EXECUTE equals its documented set (README "Roles"); the consumer role runs the
-- handoff and cannot register a family, set a mode, bypass the gate, issue or revoke a permit or
-- retire; every SECURITY DEFINER function pins search_path; nothing is executable by PUBLIC; the
-- internal family_read_source is executable by no package role; readers can read what
-- `birthgate status` needs (the migrations bookkeeping and the heartbeat).
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(33);

CREATE TEMP TABLE expected_exec (role name, fn text);
-- the sweeps (adoption, candidate-seed backfill) run as admin or consumer
CREATE FUNCTION pg_temp.sweeps() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['sweep_adopt(text,boolean,integer,integer,boolean)', 'sweep_adopt_run(text,boolean,integer,integer,integer,interval,text)',
                 'sweep_backfill(integer,integer,boolean)', 'sweep_backfill_run(integer,integer,integer,interval,text)',
                 'sweep_load_guard(integer,interval,interval)', 'sweep_note(text,text,text,timestamp with time zone)']
$$;
INSERT INTO expected_exec
SELECT 'birthgate_admin', unnest(ARRAY[
    'activate_candidates(integer)', 'drift_assert_clean(text)', 'drift_capture_baseline()', 'gate_attach_record(text)', 'drift_current_functions()',
    'drift_current_triggers()', 'drift_definition_hash(text)', 'drift_family_objects(text)', 'drift_normalize_definition(text)',
    'expire_permits()', 'handoff_consume(integer)', 'handoff_drain(integer,integer)', 'handoff_holding_xact()', 'handoff_horizon()',
    'register_family(text,regclass,name,text,text)', 'release_pending(text)', 'retire(text,text,text)', 'retire_gate_check(text,text)',
    'revoke_permit(bigint,text)', 'set_event_type_active(text,boolean)', 'set_family_mode(text,text)',
    'register_family(text,regclass,name,text,text,integer)', 'move_family(text,regclass,text)', 'set_family_code_limit(text,integer)',
    'birth_gate_trigger_definitions(text,text,name)', 'birth_gate_triggers_present()',
    'outbox_claim(text,integer,interval)', 'outbox_ack(bigint[],text)', 'outbox_fail(bigint,text,text)', 'outbox_redrive(bigint[])',
    'outbox_purge(integer)', 'outbox_configure(integer,interval,interval,interval,interval)',
    'handoff_snapshot()', 'handoff_rewind(xid8,bigint)', 'metrics_exposition()'] || pg_temp.sweeps())
UNION ALL
SELECT 'birthgate_issuer', unnest(ARRAY['issue_permit(text,text,interval)', 'revoke_permit(bigint,text)'])
UNION ALL
SELECT 'birthgate_reader', unnest(ARRAY[
    'drift_assert_clean(text)', 'drift_current_functions()', 'drift_current_triggers()', 'drift_definition_hash(text)',
    'drift_family_objects(text)', 'drift_normalize_definition(text)', 'handoff_holding_xact()', 'handoff_horizon()',
    'sweep_load_guard(integer,interval,interval)', 'birth_gate_trigger_definitions(text,text,name)', 'birth_gate_triggers_present()',
    'handoff_snapshot()', 'metrics_exposition()'])
UNION ALL
SELECT 'birthgate_consumer', unnest(ARRAY['handoff_consume(integer)', 'handoff_drain(integer,integer)', 'handoff_holding_xact()', 'handoff_horizon()']
    || pg_temp.sweeps())
UNION ALL
SELECT 'birthgate_delivery', unnest(ARRAY['outbox_claim(text,integer,interval)', 'outbox_ack(bigint[],text)', 'outbox_fail(bigint,text,text)']);

CREATE FUNCTION pg_temp.executable(p_role name) RETURNS SETOF text LANGUAGE sql STABLE AS $$
    SELECT pg_catalog.regexp_replace(p.oid::pg_catalog.regprocedure::text, '^birthgate\.', '')
      FROM pg_catalog.pg_proc p
     WHERE p.pronamespace = 'birthgate'::regnamespace AND pg_catalog.has_function_privilege(p_role, p.oid, 'EXECUTE')
$$;

-- structure
SELECT has_role('birthgate_consumer', 'the consumer role exists');
SELECT ok(NOT (SELECT rolcanlogin OR rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls FROM pg_roles WHERE rolname = 'birthgate_consumer'),
          'it is NOLOGIN and has no attributes');
SELECT is((SELECT count(*)::int FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
            WHERE m.member = 'birthgate_consumer'::regrole), 0, 'it is a member of no other role');
SELECT is_empty($$SELECT p.oid::regprocedure FROM pg_proc p WHERE p.pronamespace = 'birthgate'::regnamespace AND p.prosecdef
                    AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)$$,
                'every SECURITY DEFINER function pins search_path = pg_catalog, pg_temp');
SELECT is_empty($$SELECT p.oid::regprocedure FROM pg_proc p WHERE p.pronamespace = 'birthgate'::regnamespace
                    AND p.prorettype <> 'trigger'::regtype AND has_function_privilege('public', p.oid, 'EXECUTE')$$,
                'PUBLIC may execute no package function');
SELECT ok(NOT p.prosecdef AND p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], 'family_read_source is SECURITY INVOKER with a pinned search_path')
  FROM pg_proc p WHERE p.oid = 'birthgate.family_read_source(oid, name)'::regprocedure;
SELECT ok(NOT prosecdef, format('%s is SECURITY INVOKER (it reads catalogs and birth_family only)', oid::regprocedure))
  FROM pg_proc WHERE oid IN ('birthgate.drift_current_functions()'::regprocedure, 'birthgate.drift_current_triggers()'::regprocedure);

-- each role can call exactly its functions
SELECT set_eq(format('SELECT pg_temp.executable(%L)', r), format('SELECT fn FROM expected_exec WHERE role = %L', r),
              format('%s may execute exactly its documented functions', r))
  FROM unnest(ARRAY['birthgate_admin', 'birthgate_issuer', 'birthgate_reader', 'birthgate_consumer', 'birthgate_delivery']) r;
SELECT ok(NOT bool_or(has_function_privilege(r, 'birthgate.family_read_source(oid, name)', 'EXECUTE')),
          'no package role may execute family_read_source (internal)')
  FROM unnest(ARRAY['birthgate_admin', 'birthgate_issuer', 'birthgate_reader', 'birthgate_consumer']) r;
SELECT set_eq($$SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = 'birthgate'::regnamespace
                  AND (has_table_privilege('birthgate_consumer', c.oid, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER'))$$,
              ARRAY['handoff_cursor', 'v_handoff_status', 'sweep_cursor', 'sweep_finding', 'v_sweep_status', 'v_sweep_findings'],
              'the consumer may read the heartbeat, v_handoff_status and the sweep progress, and no other relation');
SELECT is_empty($$SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'birthgate'::regnamespace
                   AND has_table_privilege('birthgate_consumer', c.oid, 'INSERT,UPDATE,DELETE,TRUNCATE')$$,
                'the consumer writes no table directly');

-- behaviour: what a consumer login can and cannot do
CREATE SCHEMA pilot400;
CREATE TABLE pilot400.tools (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text);
SELECT birthgate.register_family('tools400', 'pilot400.tools', 'code', '^T-[0-9]+$', 'enforce');
SELECT birthgate.issue_permit('tools400', 'T-1') AS permit_id \gset
CREATE ROLE bg400_consumer LOGIN IN ROLE birthgate_consumer;
CREATE ROLE bg400_reader LOGIN IN ROLE birthgate_reader;
GRANT USAGE ON SCHEMA pilot400 TO bg400_consumer;
GRANT INSERT ON pilot400.tools TO bg400_consumer;
SELECT count(*) AS fam_before FROM birthgate.birth_family \gset
SELECT count(*) AS permits_before FROM birthgate.birth_admission_permit WHERE state = 'ISSUED' \gset

SET ROLE bg400_consumer;
SELECT lives_ok($$SELECT * FROM birthgate.handoff_consume(100)$$, 'the consumer runs a handoff batch');
SELECT lives_ok($$SELECT consumer_name, heartbeat_at, stale FROM birthgate.v_handoff_status$$, 'and reads v_handoff_status');
SELECT ok((SELECT heartbeat_at IS NOT NULL FROM birthgate.handoff_cursor), 'and the heartbeat it just advanced');
SELECT throws_ok($$SELECT birthgate.register_family('evil', 'pilot400.tools', 'code', '^.*$', 'off')$$, '42501', NULL, 'the consumer cannot register a family');
SELECT throws_ok($$SELECT birthgate.set_family_mode('tools400', 'off')$$, '42501', NULL, 'cannot set a family mode');
SELECT throws_ok($$SELECT birthgate.issue_permit('tools400', 'T-2')$$, '42501', NULL, 'cannot issue a permit');
SELECT throws_ok(format($$SELECT birthgate.revoke_permit(%s, 'no')$$, :permit_id), '42501', NULL, 'cannot revoke a permit');
SELECT throws_ok($$SELECT birthgate.retire('tools400', 'T-1', 'no')$$, '42501', NULL, 'cannot retire');
SELECT throws_ok($$SELECT birthgate.drift_capture_baseline()$$, '42501', NULL, 'cannot accept drift');
SELECT throws_ok($$SELECT * FROM birthgate.birth_registry$$, '42501', NULL, 'cannot read the registry');
SET birthgate.bypass_gate = on;
SELECT throws_ok($$INSERT INTO pilot400.tools (code) VALUES ('T-9')$$, 'BG126', NULL, 'cannot bypass the gate: BG126');
RESET birthgate.bypass_gate;
RESET ROLE;
SELECT is((SELECT count(*) FROM birthgate.birth_family), :fam_before::bigint, 'no family was added');
SELECT is((SELECT count(*) FROM birthgate.birth_admission_permit WHERE state = 'ISSUED'), :permits_before::bigint, 'no permit was issued or revoked');
SELECT is((SELECT mode FROM birthgate.birth_family WHERE collection_name = 'tools400'), 'enforce', 'the mode is unchanged');
SELECT is((SELECT count(*)::int FROM pilot400.tools), 0, 'nothing was born by the bypass attempt');

-- what birthgate status reads, for a reader
SET ROLE bg400_reader;
SELECT lives_ok($$SELECT name FROM birthgate_migrations.pgmigrations$$, 'a reader reads the migrations bookkeeping (birthgate status)');
SELECT lives_ok($$SELECT heartbeat_at FROM birthgate.handoff_cursor$$, 'and the heartbeat');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
