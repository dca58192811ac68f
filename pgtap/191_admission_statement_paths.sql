-- 191 admission statement paths: COPY into a family table, a 10,000-row INSERT ... SELECT, UPDATE of
-- the code, DELETE then re-INSERT of a code, savepoint rollback after a birth, a birth inside a
-- function, layer 2 in both directions (a birth whose object is deleted before commit), and
-- exactly one BORN changelog row per real object.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
SELECT plan(18);

CREATE SCHEMA t191;
CREATE TABLE t191.items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text, name text);
SELECT birthgate.register_family('items191', 't191.items', 'code', '^I-[0-9]+$', 'enforce');
SELECT is((SELECT count(birthgate.issue_permit('items191', 'I-' || g))::int FROM generate_series(1, 10000) g), 10000, '10,000 permits issued');

-- INSERT ... SELECT of 10,000 rows
SELECT lives_ok($$INSERT INTO t191.items (code, name) SELECT 'I-' || g, 'item' FROM generate_series(1, 10000) g$$,
                'one INSERT ... SELECT of 10,000 permitted rows');
SELECT results_eq($$SELECT (SELECT count(*)::int FROM birthgate.birth_registry WHERE collection_name = 'items191'),
                           (SELECT count(*)::int FROM birthgate.registry_changelog WHERE collection_name = 'items191' AND op = 'BORN'),
                           (SELECT count(*)::int FROM birthgate.birth_admission_permit WHERE collection_name = 'items191' AND state = 'CONSUMED')$$,
                  $$VALUES (10000, 10000, 10000)$$, '10,000 births: one registry row, one BORN changelog row and one consumed permit each');
SELECT lives_ok($$SET CONSTRAINTS ALL IMMEDIATE$$, 'layer 2 passes over the 10,000 rows');
SET CONSTRAINTS ALL DEFERRED;

-- COPY
SELECT birthgate.issue_permit('items191', 'I-20001');
SELECT birthgate.issue_permit('items191', 'I-20002');
COPY t191.items (code, name) FROM PROGRAM 'printf "I-20001\tcopied\nI-20002\tcopied\n"';
SELECT is((SELECT count(*)::int FROM birthgate.registry_changelog WHERE entity_code IN ('I-20001', 'I-20002')), 2, 'COPY into a family table births each row once');
SELECT throws_ok($$COPY t191.items (code, name) FROM PROGRAM 'printf "I-20003\tno permit\n"'$$, 'BG120', NULL, 'COPY of a code without a permit is refused (BG120)');

-- UPDATE of the code
SELECT birthgate.issue_permit('items191', 'I-30000');
SELECT lives_ok($$UPDATE t191.items SET code = 'I-30000' WHERE code = 'I-20002'$$, 'UPDATE of the code to a permitted code');
SELECT is((SELECT count(*)::int FROM birthgate.registry_changelog WHERE entity_code = 'I-30000'), 1, '... births the new code once');
SELECT throws_ok($$UPDATE t191.items SET code = 'I-30001' WHERE code = 'I-20001'$$, 'BG120', NULL, 'UPDATE to a code without a permit: BG120');
SELECT lives_ok($$UPDATE t191.items SET name = 'renamed' WHERE code = 'I-20001'$$, 'UPDATE of another column: nothing to check');

-- DELETE then re-INSERT of a code (born in an earlier statement): the code is born once
DELETE FROM t191.items WHERE code = 'I-5';
SELECT throws_ok($$INSERT INTO t191.items (code, name) VALUES ('I-5', 'again')$$, 'BG125', NULL, 're-INSERT of a deleted code: already born (BG125)');
SELECT throws_ok($$SET CONSTRAINTS ALL IMMEDIATE$$, 'BG157', NULL,
                 'layer 2, other direction: a code born in this transaction whose object was deleted refuses the commit (BG157)');

-- savepoint rollback after a birth
SELECT birthgate.issue_permit('items191', 'I-40000');
SAVEPOINT s1;
INSERT INTO t191.items (code, name) VALUES ('I-40000', 'rolled back');
ROLLBACK TO SAVEPOINT s1;
SELECT results_eq($$SELECT (SELECT count(*)::int FROM birthgate.birth_registry WHERE entity_code = 'I-40000'),
                           (SELECT state FROM birthgate.birth_admission_permit WHERE entity_code = 'I-40000')$$,
                  $$VALUES (0, 'ISSUED'::text)$$, 'savepoint rollback after a birth: no registry row, the permit is live again');
SELECT lives_ok($$INSERT INTO t191.items (code, name) VALUES ('I-40000', 'second try')$$, '... and can be used');
SELECT is((SELECT count(*)::int FROM birthgate.registry_changelog WHERE entity_code = 'I-40000'), 1, '... exactly one BORN row');

-- a birth inside a function
CREATE FUNCTION t191.make(p_code text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v bigint; BEGIN INSERT INTO t191.items (code, name) VALUES (p_code, 'by function') RETURNING id INTO v; RETURN v; END $$;
SELECT birthgate.issue_permit('items191', 'I-50000');
SELECT isnt(t191.make('I-50000'), NULL, 'a birth inside a function');
SELECT is((SELECT count(*)::int FROM birthgate.registry_changelog WHERE entity_code = 'I-50000'), 1, '... one BORN row');
SELECT is((SELECT count(*)::int FROM birthgate.registry_changelog c WHERE c.collection_name = 'items191' AND c.op = 'BORN'
             AND NOT EXISTS (SELECT 1 FROM birthgate.birth_registry r WHERE r.registry_id = c.registry_id)), 0,
          'every BORN changelog row names a registry row');

SELECT * FROM finish();
ROLLBACK;
