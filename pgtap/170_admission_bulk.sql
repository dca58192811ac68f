-- 170 admission bulk: a multi-row INSERT ... SELECT of many permitted rows works in one statement,
-- layer 2 fires once per row and the writer once per statement, while the row gate's WHEN clause
-- calls no function for a valid row (EXPLAIN ANALYZE trigger calls); each row writes exactly
-- one registry row, one changelog row and one permit transition; one unpermitted row among many
-- refuses the whole statement in enforce mode and leaves every permit live.
-- (Throughput and statements per row are measured by bench/admission.ts, not asserted here.)
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(12);

CREATE SCHEMA pilot;
CREATE TABLE pilot.dot_tools (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text, name text);
SELECT birthgate.register_family('dot_tools', 'pilot.dot_tools', 'code', '^[A-Z]+-[0-9]+$', 'enforce');

SELECT is((SELECT count(birthgate.issue_permit('dot_tools', 'DOT-' || g))::int FROM generate_series(1, 5000) g), 5000,
          '5000 permits issued');
SELECT lives_ok($$INSERT INTO pilot.dot_tools (code, name) SELECT 'DOT-' || g, 'tool ' || g FROM generate_series(1, 5000) g$$,
                'one INSERT ... SELECT of 5000 permitted rows is admitted');
SELECT lives_ok($$SET CONSTRAINTS ALL IMMEDIATE$$, 'the deferred gate finalizes all 5000 rows');
SET CONSTRAINTS ALL DEFERRED;
SELECT results_eq($$SELECT (SELECT count(*)::int FROM pilot.dot_tools),
                           (SELECT count(*)::int FROM birthgate.birth_registry WHERE status = 'BORN' AND permit_id IS NOT NULL AND born_txid = pg_current_xact_id()),
                           (SELECT count(*)::int FROM birthgate.registry_changelog WHERE op = 'BORN' AND txid = pg_current_xact_id()),
                           (SELECT count(*)::int FROM birthgate.birth_admission_permit WHERE state = 'CONSUMED'),
                           (SELECT count(*)::int FROM birthgate.birth_gate_violation)$$,
                  $$VALUES (5000, 5000, 5000, 5000, 0)$$,
                  'each row: one object, one BORN registry row from its permit, one changelog row, one consumed permit, no violation');
SELECT is((SELECT count(*)::int FROM pilot.dot_tools t JOIN birthgate.birth_registry r ON r.collection_name = 'dot_tools' AND r.entity_code = t.code
           JOIN birthgate.birth_admission_permit p ON p.permit_id = r.permit_id AND p.entity_code = t.code), 5000,
          'every object maps to its own registry row and its own permit');

-- trigger calls per row, from EXPLAIN ANALYZE (layer 2 made immediate so that it is counted)
SELECT is((SELECT count(birthgate.issue_permit('dot_tools', 'BULK-' || g))::int FROM generate_series(1, 2000) g), 2000, '2000 more permits issued');
SET CONSTRAINTS ALL IMMEDIATE;
CREATE TEMP TABLE plan_json (j json);
DO $$
DECLARE v json;
BEGIN
    EXECUTE $q$EXPLAIN (ANALYZE, FORMAT JSON) INSERT INTO pilot.dot_tools (code) SELECT 'BULK-' || g FROM generate_series(1, 2000) g$q$ INTO v;
    INSERT INTO plan_json VALUES (v);
END $$;
SET CONSTRAINTS ALL DEFERRED;
SELECT results_eq($$SELECT t->>'Trigger Name', (t->>'Calls')::int FROM plan_json, json_array_elements(j->0->'Triggers') t ORDER BY 1$$,
                  $$VALUES ('_100_birth_gate'::text, 1), ('_110_birth_register', 1)$$,
                  'EXPLAIN ANALYZE: the row gate calls its function once (the first row arms the statement), the writer fires once per statement, layer 2 not at all on the family table (the writer checks the rows and queues one re-verification of its births in admission_verify), nothing else');
SELECT is((SELECT count(*)::int FROM birthgate.birth_registry WHERE entity_code LIKE 'BULK-%'), 2000, 'the explained insert registered its 2000 rows');

-- one bad row refuses the whole statement
SELECT is((SELECT count(birthgate.issue_permit('dot_tools', 'MIX-' || g))::int FROM generate_series(1, 999) g), 999, '999 permits for 1000 rows');
SELECT throws_ok($$INSERT INTO pilot.dot_tools (code) SELECT 'MIX-' || g FROM generate_series(1, 1000) g$$, 'BG120', NULL,
                 'enforce: 999 permitted rows and one without a permit: the statement is refused (BG120)');
SELECT results_eq($$SELECT (SELECT count(*)::int FROM pilot.dot_tools WHERE code LIKE 'MIX-%'),
                           (SELECT count(*)::int FROM birthgate.birth_registry WHERE entity_code LIKE 'MIX-%'),
                           (SELECT count(*)::int FROM birthgate.registry_changelog WHERE entity_code LIKE 'MIX-%')$$,
                  $$VALUES (0, 0, 0)$$, 'nothing of the refused statement was written');
SELECT is((SELECT count(*)::int FROM birthgate.birth_admission_permit WHERE entity_code LIKE 'MIX-%' AND state = 'ISSUED'), 999,
          'and all 999 permits are still live');

SELECT * FROM finish();
ROLLBACK;
