-- 700 operator metrics: structure and privileges of v_metrics and metrics_exposition(); then the
-- numbers follow the tables: a gated birth moves lag rows, permits by state and families by mode;
-- a disabled gate trigger shows as a critical drift finding; the exposition has # HELP and # TYPE
-- per metric, one line per v_metrics row, +Inf for a consumer that never ran, escaped label
-- values. Reading the metrics writes nothing.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(22);

-- structure
SELECT has_view('birthgate', 'v_metrics', 'v_metrics exists');
SELECT columns_are('birthgate', 'v_metrics', ARRAY['metric_order', 'metric', 'metric_type', 'help', 'labels', 'value'], 'v_metrics has the documented columns');
SELECT col_type_is('birthgate', 'v_metrics', 'labels', 'jsonb', 'labels is a jsonb object');
SELECT col_type_is('birthgate', 'v_metrics', 'value', 'double precision', 'value is double precision');
SELECT function_returns('birthgate', 'metrics_exposition', ARRAY[]::text[], 'text', 'metrics_exposition() returns text');
SELECT volatility_is('birthgate', 'metrics_exposition', ARRAY[]::text[], 'stable', 'metrics_exposition() is stable (read-only)');
SELECT isnt_definer('birthgate', 'metrics_exposition', ARRAY[]::text[], 'metrics_exposition() runs with the caller''s rights');
SELECT ok(NOT has_table_privilege('public', 'birthgate.v_metrics', 'SELECT')
          AND NOT has_function_privilege('public', 'birthgate.metrics_exposition()', 'EXECUTE'), 'nothing is granted to PUBLIC');
SELECT ok(has_table_privilege('birthgate_reader', 'birthgate.v_metrics', 'SELECT')
          AND has_function_privilege('birthgate_reader', 'birthgate.metrics_exposition()', 'EXECUTE'), 'the reader role may read the metrics');
SELECT is((SELECT count(*)::int FROM birthgate.v_metrics WHERE metric_type NOT IN ('gauge', 'counter')
                                                            OR (metric_type = 'counter') <> (metric LIKE '%\_total')), 0,
          'every metric is a gauge or a counter, and counters (only) end in _total');

-- the numbers follow the tables
CREATE TEMP VIEW m AS SELECT metric, labels, value FROM birthgate.v_metrics;
CREATE TABLE public.metrics_probe (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text);
SELECT birthgate.register_family('metrics_probe', 'public.metrics_probe', 'code', '^MP-[0-9]+$', 'enforce');
SELECT is((SELECT value FROM m WHERE metric = 'birthgate_families' AND labels = '{"mode": "enforce"}'), 1::float8, 'families by mode: one enforce family');
SELECT birthgate.issue_permit('metrics_probe', 'MP-1');
SELECT birthgate.issue_permit('metrics_probe', 'MP-2');
SELECT is((SELECT value FROM m WHERE metric = 'birthgate_permits' AND labels = '{"state": "ISSUED"}'), 2::float8, 'permits by state: two ISSUED');
INSERT INTO public.metrics_probe (code) VALUES ('MP-1');
SET CONSTRAINTS ALL IMMEDIATE;
SELECT is((SELECT value FROM m WHERE metric = 'birthgate_permits' AND labels = '{"state": "CONSUMED"}'), 1::float8, 'a birth consumes a permit: one CONSUMED');
SELECT is((SELECT value FROM m WHERE metric = 'birthgate_handoff_lag_rows'), 0::float8, 'the birth is not lag before it commits (this test never commits)');
SELECT is((SELECT value FROM m WHERE metric = 'birthgate_handoff_lag_rows'),
          (SELECT rows_waiting::float8 FROM birthgate.v_handoff_status), 'lag_rows is v_handoff_status.rows_waiting');
-- a consumer that never ran (earlier suites in this database may have run it: forget that here)
UPDATE birthgate.handoff_cursor SET heartbeat_at = NULL;
SELECT is((SELECT value FROM m WHERE metric = 'birthgate_handoff_heartbeat_age_seconds'), 'Infinity'::float8, 'a consumer that never ran: heartbeat age +Inf');
SELECT matches(birthgate.metrics_exposition(), E'\nbirthgate_handoff_heartbeat_age_seconds\\{consumer="governance_handoff"\\} \\+Inf\n',
               'labels rendered as name="value"; +Inf spelled the Prometheus way');
UPDATE birthgate.handoff_cursor SET heartbeat_at = now();
SELECT is((SELECT value FROM m WHERE metric = 'birthgate_drift_findings' AND labels = '{"severity": "critical"}'), 0::float8, 'a fresh heartbeat: no critical drift finding');
ALTER TABLE public.metrics_probe DISABLE TRIGGER _100_birth_gate;
SELECT is((SELECT value FROM m WHERE metric = 'birthgate_drift_findings' AND labels = '{"severity": "critical"}'), 1::float8, 'a disabled gate trigger: one critical drift finding');
ALTER TABLE public.metrics_probe ENABLE TRIGGER _100_birth_gate;

-- the exposition
SELECT is((SELECT count(*)::int FROM regexp_split_to_table(birthgate.metrics_exposition(), E'\n') AS l WHERE l <> '' AND l NOT LIKE '#%'),
          (SELECT count(*)::int FROM birthgate.v_metrics), 'one sample line per v_metrics row');
SELECT is((SELECT count(*)::int FROM regexp_split_to_table(birthgate.metrics_exposition(), E'\n') AS l WHERE l LIKE '# TYPE %'),
          (SELECT count(DISTINCT metric)::int FROM birthgate.v_metrics), 'one # TYPE line per metric');
SELECT is((SELECT count(*)::int FROM birthgate.birth_gate_violation), 0, 'reading the metrics wrote nothing');

SELECT * FROM finish();
ROLLBACK;
