-- Test helpers installed into the pgTAP database before pg_prove runs (not a test file).
-- bgtest.connstr(): a libpq connection string back to this very database, for dblink sessions.
-- Override with: ALTER DATABASE ... SET bgtest.connstr = '...' (e.g. on a server that needs a password).
CREATE SCHEMA IF NOT EXISTS bgtest;
CREATE OR REPLACE FUNCTION bgtest.connstr() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        nullif(current_setting('bgtest.connstr', true), ''),
        format('dbname=%s user=%s host=%s port=%s application_name=bgtest_dblink',
               current_database(), current_user,
               coalesce(nullif(split_part(current_setting('unix_socket_directories'), ',', 1), ''), 'localhost'),
               current_setting('port')));
$$;
COMMENT ON FUNCTION bgtest.connstr() IS 'Connection string for dblink sessions opened by the pgTAP suites.';

-- bgtest.outcome(statements, keep): runs the statements, then the deferred checks (SET CONSTRAINTS
-- ALL IMMEDIATE), in a subtransaction that is rolled back unless p_keep; returns 'committed',
-- 'statements failed: <SQLSTATE>' or 'commit failed: <SQLSTATE>'. Runs as the caller (SET ROLE
-- before calling it tests a role's rights).
GRANT USAGE ON SCHEMA bgtest TO PUBLIC;
CREATE OR REPLACE FUNCTION bgtest.outcome(p_stmts text[], p_keep boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_stage text := 'statements';
    v_stmt text;
BEGIN
    BEGIN
        FOREACH v_stmt IN ARRAY p_stmts LOOP
            EXECUTE v_stmt;
        END LOOP;
        v_stage := 'commit';
        SET CONSTRAINTS ALL IMMEDIATE;
        SET CONSTRAINTS ALL DEFERRED;
        IF NOT p_keep THEN
            RAISE EXCEPTION 'undo' USING ERRCODE = 'TT001';
        END IF;
        RETURN 'committed';
    EXCEPTION
        WHEN SQLSTATE 'TT001' THEN RETURN 'committed';
        WHEN OTHERS THEN RETURN v_stage || ' failed: ' || SQLSTATE;
    END;
END
$$;
COMMENT ON FUNCTION bgtest.outcome(text[], boolean) IS 'Statements, then the deferred checks, rolled back unless p_keep: committed / statements failed: SQLSTATE / commit failed: SQLSTATE.';

-- bgtest.package_counts(): the rows of every package table an admission refusal must leave as they
-- were, as one comparable text (before/after snapshots). SECURITY DEFINER: callable by the test's
-- restricted roles (SET ROLE) that may not read the package tables.
CREATE OR REPLACE FUNCTION bgtest.package_counts() RETURNS text
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT format('registry=%s issued=%s consumed=%s changelog=%s violations=%s verify=%s',
        (SELECT count(*) FROM birthgate.birth_registry),
        (SELECT count(*) FROM birthgate.birth_admission_permit WHERE state = 'ISSUED'),
        (SELECT count(*) FROM birthgate.birth_admission_permit WHERE state = 'CONSUMED'),
        (SELECT count(*) FROM birthgate.registry_changelog),
        (SELECT count(*) FROM birthgate.birth_gate_violation),
        (SELECT count(*) FROM birthgate.admission_verify));
$$;
COMMENT ON FUNCTION bgtest.package_counts() IS 'Row counts of the package tables an admission refusal must not change (registry, issued and consumed permits, changelog, violations, verification queue).';

-- bgtest.package_state(): package_counts() and every other package table a writer of the handoff,
-- the outbox or the sweeps touches (row counts; the cursor, the event types, the families and the
-- outbox settings by content), as one comparable text: what a refused call must leave as it was.
CREATE OR REPLACE FUNCTION bgtest.package_state() RETURNS text
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT bgtest.package_counts() || format(' pending=%s outbox=%s candidates=%s dead=%s receipts=%s sweeps=%s findings=%s cursor=%s types=%s families=%s config=%s',
        (SELECT count(*) FROM birthgate.event_pending), (SELECT count(*) FROM birthgate.event_outbox),
        (SELECT count(*) FROM birthgate.governance_candidate_state), (SELECT count(*) FROM birthgate.event_dead_letter),
        (SELECT count(*) FROM birthgate.outbox_receipt), (SELECT count(*) FROM birthgate.sweep_cursor),
        (SELECT count(*) FROM birthgate.sweep_finding),
        (SELECT md5(string_agg(hc::text, ',' ORDER BY consumer_name)) FROM birthgate.handoff_cursor AS hc),
        (SELECT md5(string_agg(et::text, ',' ORDER BY event_type)) FROM birthgate.event_type_registry AS et),
        (SELECT md5(string_agg(f::text, ',' ORDER BY collection_name)) FROM birthgate.birth_family AS f),
        (SELECT md5(string_agg(oc::text, ',')) FROM birthgate.outbox_config AS oc));
$$;
COMMENT ON FUNCTION bgtest.package_state() IS 'package_counts() plus the handoff, outbox and sweep tables (counts; cursor, event types, families and outbox settings by content): what a refused call must not change.';
