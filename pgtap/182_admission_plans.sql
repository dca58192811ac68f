-- 182 admission plans (000011): the writer plans its statements at every execution, so a plan made
-- while the registry was small can never be reused for a later bulk statement in the same session
-- (defect F5: with force_generic_plan, a second 100,000-row INSERT ... SELECT in a session that had
-- made the plan earlier did not finish in 10 minutes). No package function forces generic plans.
-- The bulk case: small inserts first (more than the five custom plans after which plan_cache_mode
-- = auto may switch to a generic one), then two INSERT ... SELECT of 20,000 rows each into the same
-- family; a generous statement_timeout turns a hang into a failure (no duration is asserted).
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(10);

-- structure --------------------------------------------------------------------------------------
SELECT is_empty($$SELECT p.oid::regprocedure::text FROM pg_proc p
                   WHERE p.pronamespace = 'birthgate'::regnamespace
                     AND EXISTS (SELECT 1 FROM unnest(p.proconfig) s WHERE s LIKE 'plan\_cache\_mode=force\_generic\_plan')$$,
                'no package function forces generic plans (proconfig)');
SELECT ok((SELECT 'plan_cache_mode=auto' = ANY (proconfig)
                AND prosrc ~ 'set_config\(''plan_cache_mode'', ''force_custom_plan'', true\);\s+PERFORM pg_catalog.set_config\(''enable_seqscan'', ''on'', true\);\s+IF v_family.mode = ''report'' OR v_bypassed THEN'
             FROM pg_proc WHERE oid = 'birthgate.tg_birth_register()'::regprocedure),
          'the statement writer keeps cached plans for its one-code point statements and plans its set-based statement at every execution (force_custom_plan set just before it)');
SELECT is_empty($$SELECT p.oid::regprocedure::text FROM pg_proc p
                   WHERE p.pronamespace = 'birthgate'::regnamespace AND p.prosrc ~* 'unnest\s*\(\s*v_codes'
                     AND NOT COALESCE('plan_cache_mode=force_custom_plan' = ANY (p.proconfig), false)
                     AND NOT p.prosrc ~ 'set_config\(''plan_cache_mode'', ''force_custom_plan'', true\)'$$,
                'every package function that unnests a statement-sized array of codes plans it at every execution');
SELECT ok((SELECT prosrc ~ 'OPEN v_cur FOR EXECUTE pg_catalog.format\(\$q\$' AND NOT prosrc ~ 'set_config\(''enable_(seqscan|nestloop)'', v_'
             FROM pg_proc WHERE oid = 'birthgate.tg_admission_reverify()'::regprocedure),
          'layer 2 re-verifies many births with dynamic SQL (planned at every execution), planner settings scoped by SET clauses');

-- one session: small inserts, then two bulk inserts into the same family ------------------------
CREATE SCHEMA t182;
CREATE TABLE t182.tools (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text NOT NULL UNIQUE, name text);
SELECT birthgate.register_family('f182', 't182.tools', 'code', '^F-[0-9]+$', 'enforce');
INSERT INTO birthgate.birth_admission_permit (collection_name, entity_code, issued_by, issued_at, expires_at)
SELECT 'f182', 'F-' || g, current_user, clock_timestamp(), clock_timestamp() + interval '1 day' FROM generate_series(1, 40020) g;
SET LOCAL statement_timeout = '15min';
DO $$
BEGIN
    FOR i IN 1..20 LOOP
        EXECUTE format('INSERT INTO t182.tools (code) VALUES (%L)', 'F-' || (40000 + i));
    END LOOP;
END
$$;
SELECT is((SELECT count(*)::int FROM birthgate.birth_registry WHERE collection_name = 'f182'), 20, '20 single-row inserts first: 20 births');
SELECT lives_ok($$INSERT INTO t182.tools (code) SELECT 'F-' || g FROM generate_series(1, 20000) g$$,
                'a first INSERT ... SELECT of 20,000 rows in the same session finishes');
SELECT is((SELECT count(*)::int FROM birthgate.birth_registry WHERE collection_name = 'f182'), 20020, '... and bears its 20,000 codes');
SELECT lives_ok($$INSERT INTO t182.tools (code) SELECT 'F-' || g FROM generate_series(20001, 40000) g$$,
                'a second INSERT ... SELECT of 20,000 rows into the same family, same session, finishes (planned for its own size)');
SELECT is((SELECT count(*)::int FROM birthgate.registry_changelog WHERE collection_name = 'f182' AND op = 'BORN'), 40020,
          'one BORN changelog row per inserted row');
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
SELECT is((SELECT count(*)::int FROM birthgate.birth_gate_violation WHERE collection_name = 'f182'), 0,
          'layer 2 (fired with SET CONSTRAINTS ALL IMMEDIATE) finds nothing to object to');
RESET statement_timeout;

SELECT * FROM finish();
ROLLBACK;
