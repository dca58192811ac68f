-- 40 drift monitor: a clean report, a provoked finding (a gate trigger disabled, a row slipped in
-- under session_replication_role = replica), the report showing it with its remedy, the repair, and
-- a clean report again (the altered gate re-attached). Re-runnable: the family is registered idempotently and the demo removes
-- what it provoked.

-- a governed family for this demo (register_family is idempotent)
CREATE TABLE IF NOT EXISTS public.demo_gadgets (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text UNIQUE);
SELECT birthgate.register_family('demo_gadgets', 'public.demo_gadgets', 'code', '^GD-[0-9]+$', 'enforce');

-- the handoff consumer runs (as cron would), so the heartbeat is fresh
CALL birthgate.handoff_drain();

-- 1. the report is clean: no rows
SELECT severity, kind, object_name, message FROM birthgate.v_drift_report;
SELECT scope, table_name, trigger_name, present, enabled, enabled_mode, state
  FROM birthgate.v_drift_trigger_state WHERE collection_name = 'demo_gadgets';

-- 2. someone disables the gate and slips a row in behind the gates' back
ALTER TABLE public.demo_gadgets DISABLE TRIGGER _100_birth_gate;
SET session_replication_role = replica;
INSERT INTO public.demo_gadgets (code) VALUES ('GD-999');
RESET session_replication_role;

-- 3. the report shows both, worst first, each with what to do
SELECT severity, kind, object_name, message, remedy FROM birthgate.v_drift_report;
SELECT * FROM birthgate.drift_family_objects('demo_gadgets');

-- a probe (cron, CI, a migration) fails on it with SQLSTATE BG300
\set ON_ERROR_STOP off
SELECT birthgate.drift_assert_clean('critical');
\set ON_ERROR_STOP on

-- 4. repair: re-enable the gate, remove the unborn row
ALTER TABLE public.demo_gadgets ENABLE TRIGGER _100_birth_gate;
DELETE FROM public.demo_gadgets WHERE code = 'GD-999';

-- enabled again, the gate is still reported: it was altered after the package attached it (births
-- may have gone ungated meanwhile); the remedy re-attaches it
SELECT severity, kind, object_name, remedy FROM birthgate.v_drift_report;
DROP TRIGGER IF EXISTS _100_birth_gate ON public.demo_gadgets;
SELECT birthgate.register_family('demo_gadgets', 'public.demo_gadgets', 'code', '^GD-[0-9]+$', 'enforce');

-- 5. clean again
SELECT severity, kind, object_name, message FROM birthgate.v_drift_report;
SELECT birthgate.drift_assert_clean('critical');
