-- 481 adversarial review, the application writing like real applications do, in enforce, report and
-- off: multi-row INSERT ... ON CONFLICT DO NOTHING / DO UPDATE mixing inserted and conflicting rows,
-- an upsert re-coding to a code with and without a permit, a 10,000-row INSERT ... SELECT where ten
-- rows lack a permit (enforce; 2,000 rows in report), a writable CTE inserting twice into the family table, an UPDATE swapping two
-- codes, a savepoint rolled back after a birth, a prepared statement. After each committed-in-test
-- step the invariant holds: every row of the table has exactly one BORN registry row and one BORN
-- changelog row, no registry row lacks its object, and a permit is consumed only by a real birth.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(27);

CREATE SCHEMA s481;
CREATE TABLE s481.e (id int PRIMARY KEY, code text, name text);
CREATE TABLE s481.r (id int PRIMARY KEY, code text, name text);
CREATE TABLE s481.o (id int PRIMARY KEY, code text, name text);
SELECT birthgate.register_family('e481', 's481.e', 'code', '^E-[0-9]+$', 'enforce');
SELECT birthgate.register_family('r481', 's481.r', 'code', '^R-[0-9]+$', 'report');
SELECT birthgate.register_family('o481', 's481.o', 'code', '^O-[0-9]+$', 'off');

-- the invariant, per family: '' when it holds, else what is wrong
CREATE FUNCTION pg_temp.broken(p_collection text, p_table regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE v text;
BEGIN
    EXECUTE format($q$
      WITH obj AS (SELECT code FROM %s),
           reg AS (SELECT entity_code, permit_id FROM birthgate.birth_registry WHERE collection_name = %L AND status = 'BORN'),
           log AS (SELECT entity_code, count(*) AS n FROM birthgate.registry_changelog WHERE collection_name = %L AND op = 'BORN' GROUP BY 1)
      SELECT concat_ws('; ',
        (SELECT 'object without registry row: ' || string_agg(o.code, ',') FROM obj o WHERE NOT EXISTS (SELECT 1 FROM reg WHERE reg.entity_code = o.code)),
        (SELECT 'registry row without object: ' || string_agg(r.entity_code, ',') FROM reg r WHERE NOT EXISTS (SELECT 1 FROM obj WHERE obj.code = r.entity_code)),
        (SELECT 'changelog rows <> 1: ' || string_agg(r.entity_code, ',') FROM reg r LEFT JOIN log l USING (entity_code) WHERE coalesce(l.n, 0) <> 1),
        (SELECT 'consumed permit without birth: ' || string_agg(p.entity_code, ',') FROM birthgate.birth_admission_permit p
          WHERE p.collection_name = %L AND p.state = 'CONSUMED' AND NOT EXISTS (SELECT 1 FROM birthgate.birth_registry x WHERE x.permit_id = p.permit_id)))$q$,
      p_table, p_collection, p_collection, p_collection) INTO v;
    RETURN v;
END $$;
CREATE FUNCTION pg_temp.state(p_collection text, p_code text) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(state, ',' ORDER BY permit_id) FROM birthgate.birth_admission_permit WHERE collection_name = p_collection AND entity_code = p_code
$$;

-- enforce ---------------------------------------------------------------------------------------
SELECT birthgate.issue_permit('e481', 'E-' || g) FROM generate_series(1, 8) g;
INSERT INTO s481.e VALUES (1, 'E-1', 'one'), (2, 'E-2', 'two');
-- (1) multi-row DO NOTHING: row 1 conflicts (same id, other permitted code E-3), row 4 is new
INSERT INTO s481.e VALUES (1, 'E-3', 'conflict'), (4, 'E-4', 'new') ON CONFLICT (id) DO NOTHING;
SELECT is(pg_temp.state('e481', 'E-3'), 'ISSUED', 'enforce DO NOTHING: the conflicting row consumed nothing');
SELECT is(pg_temp.state('e481', 'E-4'), 'CONSUMED', 'enforce DO NOTHING: the inserted row was born');
-- (2) DO UPDATE, same code, mixed with a new row
INSERT INTO s481.e VALUES (1, 'E-1', 'one again'), (5, 'E-5', 'five') ON CONFLICT (id) DO UPDATE SET code = EXCLUDED.code, name = EXCLUDED.name;
SELECT is((SELECT name FROM s481.e WHERE id = 1), 'one again', 'enforce DO UPDATE with the same code updates the object');
SELECT is((SELECT count(*)::int FROM birthgate.birth_gate_violation WHERE collection_name = 'e481'), 0, 'enforce: no violation recorded for a plain upsert');
-- (3) DO UPDATE to a code without a permit: refused, nothing changed
SELECT throws_ok($$INSERT INTO s481.e VALUES (2, 'E-99', 'recode') ON CONFLICT (id) DO UPDATE SET code = EXCLUDED.code$$, 'BG120', NULL,
                 'enforce DO UPDATE re-coding to a code without a permit: BG120');
SELECT is((SELECT code FROM s481.e WHERE id = 2), 'E-2', 'the refused upsert changed nothing');
-- (4) DO UPDATE to a permitted code: a re-code birth
INSERT INTO s481.e VALUES (2, 'E-6', 'recode') ON CONFLICT (id) DO UPDATE SET code = EXCLUDED.code;
SELECT is(pg_temp.state('e481', 'E-6'), 'CONSUMED', 'enforce DO UPDATE re-coding to a permitted code consumes its permit');
SELECT ok(EXISTS (SELECT 1 FROM birthgate.registry_changelog WHERE collection_name = 'e481' AND entity_code = 'E-6' AND detail ->> 'operation' = 'UPDATE'),
          'the re-code birth is logged as an UPDATE');
SELECT birthgate.retire('e481', 'E-2', 're-coded to E-6');
-- (5) writable CTE inserting twice into the family table
WITH a AS (INSERT INTO s481.e VALUES (7, 'E-7', 'cte') RETURNING id)
INSERT INTO s481.e SELECT 8, 'E-8', 'main' FROM a;
SELECT is(pg_temp.state('e481', 'E-7') || '/' || pg_temp.state('e481', 'E-8'), 'CONSUMED/CONSUMED', 'a writable CTE: both inserts born');
-- (6) UPDATE swapping two codes in one statement: each target code is already born
SELECT throws_ok($$UPDATE s481.e SET code = CASE code WHEN 'E-7' THEN 'E-8' ELSE 'E-7' END WHERE id IN (7, 8)$$, 'BG125', NULL,
                 'swapping two born codes in one UPDATE is refused (BG125)');
-- (7) savepoint rolled back after a birth
SELECT birthgate.issue_permit('e481', 'E-9');
SAVEPOINT sp;
INSERT INTO s481.e VALUES (9, 'E-9', 'rolled back');
ROLLBACK TO SAVEPOINT sp;
SELECT is(pg_temp.state('e481', 'E-9'), 'ISSUED', 'a birth rolled back to a savepoint gives its permit back');
SELECT is((SELECT count(*)::int FROM birthgate.birth_registry WHERE collection_name = 'e481' AND entity_code = 'E-9'), 0, 'and leaves no registry row');
-- (8) prepared statement, executed twice
PREPARE ins481(int, text) AS INSERT INTO s481.e VALUES ($1, $2, 'prepared');
EXECUTE ins481(9, 'E-9');
SELECT throws_ok($$EXECUTE ins481(10, 'E-9')$$, 'BG125', NULL, 'the same prepared insert with a born code is refused (BG125)');
-- (9) 10,000 rows, ten without a permit: the whole statement is refused, nothing is consumed
SELECT count(birthgate.issue_permit('e481', 'E-' || g)) FROM generate_series(1000, 10999) g WHERE g % 1000 <> 7;
ANALYZE birthgate.birth_admission_permit;  -- as autovacuum would after a bulk issue
SELECT pg_temp.broken('e481', 's481.e') AS before_bulk \gset
SELECT throws_ok($$INSERT INTO s481.e SELECT g, 'E-' || g, 'bulk' FROM generate_series(1000, 10999) g$$, 'BG120', NULL,
                 'enforce: a 10,000-row INSERT ... SELECT with ten codes lacking a permit is refused (BG120)');
SELECT is((SELECT count(*)::int FROM birthgate.birth_admission_permit WHERE collection_name = 'e481' AND state = 'ISSUED' AND length(entity_code) >= 6), 9990,
          'none of the 9,990 permits was consumed');
INSERT INTO s481.e SELECT g, 'E-' || g, 'bulk' FROM generate_series(1000, 10999) g WHERE g % 1000 <> 7;
SELECT is((SELECT count(*)::int FROM birthgate.birth_registry WHERE collection_name = 'e481'), 9998, 'enforce: the permitted 9,990 rows are born in one statement (with the eight earlier births)');
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
SELECT pass('enforce: layer 2 accepts every step');
SELECT is(pg_temp.broken('e481', 's481.e'), '', 'enforce: one registry row and one BORN changelog row per object, no extra');

-- report ----------------------------------------------------------------------------------------
SELECT count(birthgate.issue_permit('r481', 'R-' || g)) FROM generate_series(1, 2000) g WHERE g % 1000 <> 3;
ANALYZE birthgate.birth_admission_permit;
ANALYZE birthgate.birth_registry;
INSERT INTO s481.r SELECT g, 'R-' || g, 'bulk' FROM generate_series(1, 2000) g;
SELECT is((SELECT count(*)::int FROM birthgate.birth_registry WHERE collection_name = 'r481'), 2000, 'report: every row of a 2,000-row insert is born');
SELECT is((SELECT count(*)::int FROM birthgate.birth_registry WHERE collection_name = 'r481' AND permit_id IS NOT NULL), 1998, 'report: 1,998 with their permit');
SELECT is((SELECT count(*)::int FROM birthgate.birth_gate_violation WHERE collection_name = 'r481' AND kind = 'NO_PERMIT'), 2, 'report: two NO_PERMIT violations');
INSERT INTO s481.r VALUES (1, 'R-20001', 'conflict'), (20002, 'R-20002', 'new') ON CONFLICT (id) DO NOTHING;
SELECT is((SELECT count(*)::int FROM birthgate.birth_registry WHERE collection_name = 'r481' AND entity_code IN ('R-20001', 'R-20002')), 1,
          'report DO NOTHING: only the inserted row is registered');
INSERT INTO s481.r VALUES (2, 'R-2', 'same code') ON CONFLICT (id) DO UPDATE SET code = EXCLUDED.code, name = EXCLUDED.name;
SELECT is((SELECT count(*)::int FROM birthgate.birth_gate_violation WHERE collection_name = 'r481' AND entity_code = 'R-2'), 0,
          'report DO UPDATE with the same code records no violation');
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
SELECT is(pg_temp.broken('r481', 's481.r'), '', 'report: one registry row and one BORN changelog row per object, no extra');

-- off -------------------------------------------------------------------------------------------
SELECT birthgate.issue_permit('o481', 'O-1');
INSERT INTO s481.o SELECT g, 'O-' || g, 'bulk' FROM generate_series(1, 10000) g;
INSERT INTO s481.o VALUES (1, 'O-1', 'again') ON CONFLICT (id) DO UPDATE SET code = 'O-20000';
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
SELECT is((SELECT count(*)::int FROM birthgate.birth_registry WHERE collection_name = 'o481'), 0, 'off: nothing registered');
SELECT is((SELECT count(*)::int FROM birthgate.birth_gate_violation WHERE collection_name = 'o481'), 0, 'off: nothing recorded');
SELECT is(pg_temp.state('o481', 'O-1'), 'ISSUED', 'off: no permit consumed');

SELECT * FROM finish();
ROLLBACK;
