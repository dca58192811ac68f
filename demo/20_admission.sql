-- demo 20 admission: the pilot family dot_tools under enforce mode.
-- A birth without a permit is refused; with a permit it is admitted, and the birth leaves a
-- CONSUMED permit, a BORN registry row and a BORN changelog row, all in the inserting transaction.
-- Re-runnable: the pilot table is created only if missing, registering again is a no-op, and each
-- run uses a fresh code (the lowest DOT-1001..DOT-1999 that has neither a birth nor a permit).
\set SHOW_CONTEXT never

\echo '=== the pilot table belongs to the organisation; the DBA registers it as a governed family'
CREATE SCHEMA IF NOT EXISTS pilot;
CREATE TABLE IF NOT EXISTS pilot.dot_tools (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text, name text);
SELECT birthgate.register_family('dot_tools', 'pilot.dot_tools', 'code', '^DOT-[0-9]+$', 'enforce');
SELECT collection_name, table_name, code_column, code_pattern, mode FROM birthgate.birth_family WHERE collection_name = 'dot_tools';
SELECT tgname AS trigger, pg_get_triggerdef(oid) AS definition
  FROM pg_trigger WHERE tgrelid = 'pilot.dot_tools'::regclass AND NOT tgisinternal ORDER BY tgname;

\echo '=== this run uses a fresh code'
SELECT 'DOT-' || min(g) AS code
  FROM generate_series(1001, 1999) AS g
 WHERE NOT EXISTS (SELECT 1 FROM birthgate.birth_registry r WHERE r.collection_name = 'dot_tools' AND r.entity_code = 'DOT-' || g)
   AND NOT EXISTS (SELECT 1 FROM birthgate.birth_admission_permit p WHERE p.collection_name = 'dot_tools' AND p.entity_code = 'DOT-' || g) \gset
SELECT :'code' AS code;

\echo '=== a birth without a permit is refused (enforce mode): SQLSTATE BG120, DETAIL and HINT'
\set ON_ERROR_STOP 0
INSERT INTO pilot.dot_tools (code, name) VALUES (:'code', 'torque wrench');
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE
\set ON_ERROR_STOP 1
SELECT count(*) AS rows_with_this_code FROM pilot.dot_tools WHERE code = :'code';

\echo '=== the issuer issues a permit for the code'
SELECT birthgate.issue_permit('dot_tools', :'code', interval '1 hour') AS permit_id \gset
SELECT permit_id, entity_code, state, issued_by, issued_at, expires_at
  FROM birthgate.birth_admission_permit WHERE permit_id = :permit_id;

\echo '=== the same birth is now admitted'
INSERT INTO pilot.dot_tools (code, name) VALUES (:'code', 'torque wrench') RETURNING id, code, name;

\echo '=== what the birth wrote: the permit is CONSUMED ...'
SELECT permit_id, entity_code, state, consumed_at, consumed_by
  FROM birthgate.birth_admission_permit WHERE permit_id = :permit_id;
\echo '=== ... the registry has a BORN row naming the permit ...'
SELECT registry_id, object_key, status, permit_id, born_at, born_by, born_txid
  FROM birthgate.birth_registry WHERE collection_name = 'dot_tools' AND entity_code = :'code';
\echo '=== ... and the changelog a BORN row from the same transaction'
SELECT change_id, txid, op, object_key, registry_id, born_at, actor, detail
  FROM birthgate.registry_changelog WHERE collection_name = 'dot_tools' AND entity_code = :'code';

\echo '=== the permit is spent: a second row with the same code is refused (BG125)'
\set ON_ERROR_STOP 0
INSERT INTO pilot.dot_tools (code, name) VALUES (:'code', 'a copy');
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE
\set ON_ERROR_STOP 1
