CREATE SCHEMA birthgate;

COMMENT ON SCHEMA birthgate IS 'birthgate 0.4.3: pre-birth admission control and the governance handoff.';

CREATE SCHEMA birthgate_migrations;

CREATE FUNCTION birthgate.activate_candidates(p_limit integer DEFAULT 1000) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_ospa bigint;
    v_heartbeat timestamptz;
    v_stale_after interval;
    v_age interval;
    v_activated integer;
BEGIN
    PERFORM "birthgate"."assert_writable"('activate_candidates', 'handoff');
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 1000000 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG200',
            MESSAGE = 'invalid argument to a handoff function',
            DETAIL = format('activate_candidates(p_limit => %s): must be between 1 and 1000000', coalesce(p_limit::text, 'NULL')),
            HINT = 'Pass p_limit between 1 and 1000000 (candidates per call): SELECT birthgate.activate_candidates(1000);';
    END IF;
    SELECT count(*) INTO v_ospa FROM "birthgate"."governance_build_authorization";
    SELECT hc.heartbeat_at, hc.stale_after INTO v_heartbeat, v_stale_after
    FROM "birthgate"."handoff_cursor" AS hc
    WHERE hc.consumer_name = 'governance_handoff';
    v_age := now() - v_heartbeat;
    IF v_ospa < 1 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG210',
            MESSAGE = 'governed activation refused: the OSPA ledger (governance_build_authorization) is empty',
            DETAIL = format('OSPA rows (governance_build_authorization): %s, needs >= 1; heartbeat_at: %s, age %s, stale_after %s', v_ospa, coalesce(v_heartbeat::text, 'never'), coalesce(v_age::text, 'n/a'), coalesce(v_stale_after::text, 'n/a (no cursor row)')),
            HINT = 'Activation needs at least one human-recorded row in governance_build_authorization; capture continues meanwhile and births are never blocked.';
    END IF;
    IF v_heartbeat IS NULL OR v_stale_after IS NULL OR v_age > v_stale_after THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG211',
            MESSAGE = 'governed activation refused: the handoff heartbeat is missing or stale',
            DETAIL = format('OSPA rows (governance_build_authorization): %s, needs >= 1; heartbeat_at: %s, age %s, stale_after %s', v_ospa, coalesce(v_heartbeat::text, 'never'), coalesce(v_age::text, 'n/a'), coalesce(v_stale_after::text, 'n/a (no cursor row)')),
            HINT = 'Run the consumer (birthgate consume, or CALL handoff_drain()) and check its schedule; activation fails closed until the heartbeat is younger than handoff_cursor.stale_after.';
    END IF;
    WITH pick AS (
        SELECT g.object_key
        FROM "birthgate"."governance_candidate_state" AS g
        WHERE g.activation_state = 'CAPTURED'
          AND g.registry_status = 'BORN'
          AND EXISTS (
              SELECT 1 FROM "birthgate"."birth_registry" AS r
              WHERE r.object_key = g.object_key AND r.status = 'BORN')
        ORDER BY g.marked_at, g.object_key
        LIMIT p_limit
        FOR UPDATE OF g SKIP LOCKED
    )
    UPDATE "birthgate"."governance_candidate_state" AS g
    SET activation_state = 'ACTIVATED', activated_at = now(), activated_by = session_user
    FROM pick
    WHERE g.object_key = pick.object_key;
    GET DIAGNOSTICS v_activated = ROW_COUNT;
    RETURN v_activated;
END;
$$;

COMMENT ON FUNCTION birthgate.activate_candidates(p_limit integer) IS 'Governed activation, fail-closed: refuses with BG210 while governance_build_authorization (OSPA) is empty and with BG211 while the handoff heartbeat is missing or older than handoff_cursor.stale_after (DETAIL: OSPA row count, heartbeat age vs threshold). Otherwise activates up to p_limit CAPTURED candidates of BORN objects, oldest mark first (activated_by = session_user). Capture and birth never depend on it.';

CREATE FUNCTION birthgate.assert_writable(p_caller text, p_lane text) RETURNS void
    LANGUAGE plpgsql STABLE
    AS $$
DECLARE
    v_why text;
BEGIN
    IF pg_catalog.pg_is_in_recovery() THEN
        v_why := 'the server is a hot standby in recovery (pg_is_in_recovery() = true): every transaction there is read-only';
    ELSIF pg_catalog.current_setting('transaction_read_only') OPERATOR(pg_catalog.=) 'on' THEN
        v_why := pg_catalog.format('the transaction is read-only (transaction_read_only = on; default_transaction_read_only = %s)',
            pg_catalog.current_setting('default_transaction_read_only'));
    ELSE
        RETURN;
    END IF;
    IF p_lane OPERATOR(pg_catalog.=) 'outbox' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG511',
            MESSAGE = 'outbox delivery writes, but this transaction cannot write',
            DETAIL = pg_catalog.format('%s: %s', p_caller, v_why),
            HINT = 'Nothing was claimed, acknowledged or changed. Connect the delivery worker to the primary, not a hot standby, in read-write transactions: SET TRANSACTION READ WRITE; or SET default_transaction_read_only = off; (ALTER ROLE ... SET default_transaction_read_only = off; for the worker''s login), then call it again.';
    ELSIF p_lane OPERATOR(pg_catalog.=) 'admission' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG165',
            MESSAGE = 'the admission function writes, but this transaction cannot write',
            DETAIL = pg_catalog.format('%s: %s', p_caller, v_why),
            HINT = 'Nothing was changed. Run it on the primary (not a hot standby) in a read-write transaction: SET TRANSACTION READ WRITE; as the first statement of the transaction, or SET default_transaction_read_only = off; for the session (ALTER ROLE ... SET default_transaction_read_only = off; for the issuing role), then call it again.';
    ELSE
        RAISE EXCEPTION USING
            ERRCODE = 'BG222',
            MESSAGE = 'the handoff writes, but this transaction cannot write',
            DETAIL = pg_catalog.format('%s: %s', p_caller, v_why),
            HINT = 'Nothing was changed and nothing is lost: the next run on a writable server hands every row off. Point the cron job (DATABASE_URL of birthgate consume, or pg_cron) at the primary, not a hot standby, in a read-write transaction: SET TRANSACTION READ WRITE; or SET default_transaction_read_only = off; then SELECT * FROM birthgate.handoff_consume();';
    END IF;
END;
$$;

COMMENT ON FUNCTION birthgate.assert_writable(p_caller text, p_lane text) IS 'Called first thing by every package function that writes: raises BG222 (handoff, sweeps), BG511 (outbox) or BG165 (admission), with the caller and the reason (read-only transaction, hot standby) in DETAIL, when the transaction cannot write; otherwise does nothing. Checks the transaction_read_only setting, so a transaction set read-only after it had written is refused too. Not granted to anyone: the callers are SECURITY DEFINER.';

CREATE FUNCTION birthgate.birth_family_attach_gates(p_collection text) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET standard_conforming_strings TO 'on'
    AS $$
DECLARE
    v_family record;
    v_ident text;
    v_ok integer;
    v_trigger name;
    v_def record;
BEGIN
    SELECT f.collection_name, f.table_name, f.code_column INTO v_family
      FROM "birthgate"."birth_family" f WHERE f.collection_name = p_collection;
    SELECT pg_catalog.format('%I.%I', n.nspname, k.relname) INTO v_ident
      FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
     WHERE k.oid = v_family.table_name;
    SELECT pg_catalog.count(*) INTO v_ok
      FROM "birthgate"."birth_gate_trigger_definitions"(p_collection, v_ident, v_family.code_column) d
      JOIN pg_catalog.pg_trigger t ON t.tgrelid = v_family.table_name AND t.tgname = d.trigger_name AND NOT t.tgisinternal
     WHERE t.tgenabled = 'O' AND pg_catalog.pg_get_triggerdef(t.oid) = d.definition;
    IF v_ok = (SELECT pg_catalog.count(*) FROM "birthgate"."birth_gate_trigger_definitions"(p_collection, v_ident, v_family.code_column)) AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = v_family.table_name
                                   AND t.tgname = ANY (ARRAY['_100_birth_gate', '_110_birth_register', '_120_birth_recode', '_130_birth_truncate', '_900_birth_finalize', '_910_birth_finalize_recode', '_905_birth_finalize_delete']::name[])
                                   AND t.tgname NOT IN (SELECT d.trigger_name FROM "birthgate"."birth_gate_trigger_definitions"(p_collection, v_ident, v_family.code_column) d)) THEN
        -- (a gate attached before its row was recorded: record it as it is; never refresh a record
        -- here, or re-registering would launder an alteration)
        INSERT INTO "birthgate"."gate_trigger_attach" (trigger_oid, table_oid, trigger_name, collection_name, attached_xmin)
        SELECT t.oid, t.tgrelid, t.tgname, p_collection, t.xmin FROM pg_catalog.pg_trigger t
         WHERE t.tgrelid = v_family.table_name AND NOT t.tgisinternal AND t.tgname = ANY (ARRAY['_100_birth_gate', '_110_birth_register', '_120_birth_recode', '_130_birth_truncate', '_900_birth_finalize', '_910_birth_finalize_recode', '_905_birth_finalize_delete']::name[])
        ON CONFLICT (trigger_oid) DO NOTHING;
        RETURN false;
    END IF;
    PERFORM "birthgate"."birth_lock_table"(v_family.table_name, pg_catalog.format('attaching the gates of collection %s', p_collection));
    FOR v_trigger IN
        SELECT t.tgname FROM pg_catalog.pg_trigger t
         WHERE t.tgrelid = v_family.table_name AND NOT t.tgisinternal
           AND t.tgname = ANY (ARRAY['_100_birth_gate', '_110_birth_register', '_120_birth_recode', '_130_birth_truncate', '_900_birth_finalize', '_910_birth_finalize_recode', '_905_birth_finalize_delete']::name[])
    LOOP
        EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', v_trigger, v_ident);
    END LOOP;
    FOR v_def IN SELECT * FROM "birthgate"."birth_gate_trigger_definitions"(p_collection, v_ident, v_family.code_column) LOOP
        EXECUTE v_def.definition;
        EXECUTE pg_catalog.format('COMMENT ON TRIGGER %I ON %s IS %L', v_def.trigger_name, v_ident,
            pg_catalog.format('birthgate gate of collection %s (%s); attached by birthgate.register_family, do not disable: v_drift_trigger_state reports it.',
                p_collection, CASE v_def.trigger_name
                    WHEN '_100_birth_gate' THEN 'layer 1, validates each proposed row'
                    WHEN '_110_birth_register' THEN 'layer 1, consumes permits and records the births of the rows an INSERT really inserted, set-based'
                    WHEN '_120_birth_recode' THEN 'layer 1, records the birth of a changed code (any UPDATE whose final row has another code)'
                    WHEN '_130_birth_truncate' THEN 'layer 2, watches TRUNCATE: objects born in this transaction may not vanish'
                    WHEN '_905_birth_finalize_delete' THEN 'layer 2 at commit for a DELETE: an object born in this transaction may not vanish'
                        WHEN '_910_birth_finalize_recode' THEN 'layer 2 at commit for a re-code (any UPDATE whose final row has another code): finalized <-> BORN, both directions'
                    ELSE 'layer 2 at commit: finalized <-> BORN, both directions' END));
    END LOOP;
    DELETE FROM "birthgate"."gate_trigger_attach" a WHERE a.table_oid = v_family.table_name
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.oid = a.trigger_oid);
    INSERT INTO "birthgate"."gate_trigger_attach" (trigger_oid, table_oid, trigger_name, collection_name, attached_xmin)
        SELECT t.oid, t.tgrelid, t.tgname, p_collection, t.xmin FROM pg_catalog.pg_trigger t
         WHERE t.tgrelid = v_family.table_name AND NOT t.tgisinternal AND t.tgname = ANY (ARRAY['_100_birth_gate', '_110_birth_register', '_120_birth_recode', '_130_birth_truncate', '_900_birth_finalize', '_910_birth_finalize_recode', '_905_birth_finalize_delete']::name[])
        ON CONFLICT (trigger_oid) DO UPDATE SET attached_xmin = excluded.attached_xmin, trigger_name = excluded.trigger_name, collection_name = excluded.collection_name, recorded_at = excluded.recorded_at;
    RETURN true;
END;
$$;

COMMENT ON FUNCTION birthgate.birth_family_attach_gates(p_collection text) IS 'Internal: attaches the gate triggers (birth_gate_trigger_definitions) to the family table unless all are present, enabled and exactly as defined; detaches older gate triggers first (table lock under a bounded lock_timeout). Runs with standard_conforming_strings = on, which the definitions (a quoted code pattern in the WHEN clause of _100_birth_gate) are written for. Returns whether it changed anything.';

CREATE FUNCTION birthgate.birth_gate_trigger_definitions(p_collection text, p_table_ident text, p_code_column name) RETURNS TABLE(trigger_name name, definition text)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
    WITH fam AS (
        SELECT f.code_max_length,
               -- the literal exactly as pg_get_triggerdef prints it (standard_conforming_strings = on)
               '''' OPERATOR(pg_catalog.||) pg_catalog.replace(f.code_pattern, '''', '''''') OPERATOR(pg_catalog.||) '''' AS pattern_literal,
               '''' OPERATOR(pg_catalog.||) pg_catalog.replace(' ' OPERATOR(pg_catalog.||) f.collection_name, '''', '''''') OPERATOR(pg_catalog.||) '''' AS collection_literal,
               '''' OPERATOR(pg_catalog.||) pg_catalog.replace('birthgate.gate_verify_' OPERATOR(pg_catalog.||) f.collection_name, '''', '''''') OPERATOR(pg_catalog.||) '''::text' AS verify_literal,
               t.is_text,
               CASE WHEN t.is_text THEN pg_catalog.format('new.%I', p_code_column)
                    ELSE pg_catalog.format('(new.%I)::text', p_code_column) END AS x,
               CASE WHEN t.is_text THEN pg_catalog.format('old.%I', p_code_column)
                    ELSE pg_catalog.format('(old.%I)::text', p_code_column) END AS ox
          FROM "birthgate"."birth_family" f
         CROSS JOIN LATERAL (
               SELECT COALESCE((SELECT a.atttypid FROM pg_catalog.pg_attribute a
                                 WHERE a.attrelid = (SELECT k.oid FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) k.relnamespace
                                                     WHERE n.nspname OPERATOR(pg_catalog.=) (pg_catalog.parse_ident(p_table_ident))[1]
                                                       AND k.relname OPERATOR(pg_catalog.=) (pg_catalog.parse_ident(p_table_ident))[2]) AND a.attname = p_code_column
                                   AND a.attnum > 0 AND NOT a.attisdropped) = 'pg_catalog.text'::pg_catalog.regtype, false) AS is_text) t
         WHERE f.collection_name = p_collection
    )
    SELECT x.trigger_name::name, x.definition
      FROM (VALUES
        (1, '_100_birth_gate', pg_catalog.format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE OF %I ON %s FOR EACH ROW %sEXECUTE FUNCTION %s(%L, %L)',
                '_100_birth_gate', p_code_column, p_table_ident,
                COALESCE((SELECT pg_catalog.format('WHEN (((current_setting(%5$s::text, true) IS DISTINCT FROM ((statement_timestamp())::text || %6$s::text)) OR (%1$s IS NULL) OR (%1$s = ''''::text) OR (length(%1$s) > %2$s) OR ((%1$s COLLATE "default") !~ %3$s::text) OR (COALESCE(current_setting(%4$s::text, true), ''''::text) <> ''''::text))) ', fam.x, fam.code_max_length, fam.pattern_literal, '''birthgate.bypass_gate''', '''birthgate.gate_statement''', fam.collection_literal) FROM fam), ''), pg_catalog.format('%I.%I', 'birthgate', 'tg_birth_gate'), p_collection, p_code_column)),
        (2, '_110_birth_register', pg_catalog.format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS %I FOR EACH STATEMENT EXECUTE FUNCTION %s(%L, %L)',
                '_110_birth_register', p_table_ident, 'birthgate_new', pg_catalog.format('%I.%I', 'birthgate', 'tg_birth_register'), p_collection, p_code_column)),
        (3, '_120_birth_recode', pg_catalog.format('CREATE TRIGGER %I AFTER UPDATE ON %s FOR EACH ROW %sEXECUTE FUNCTION %s(%L, %L)',
                '_120_birth_recode', p_table_ident,
                COALESCE((SELECT pg_catalog.format('WHEN (((%1$s COLLATE "default") IS DISTINCT FROM (%2$s COLLATE "default"))) ', fam.ox, fam.x) FROM fam), ''), pg_catalog.format('%I.%I', 'birthgate', 'tg_birth_register'), p_collection, p_code_column)),
        (4, '_130_birth_truncate', pg_catalog.format('CREATE TRIGGER %I BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %s(%L, %L)',
                '_130_birth_truncate', p_table_ident, pg_catalog.format('%I.%I', 'birthgate', 'tg_birth_finalize'), p_collection, p_code_column)),
        (5, '_900_birth_finalize', pg_catalog.format('CREATE CONSTRAINT TRIGGER %I AFTER INSERT ON %s DEFERRABLE INITIALLY DEFERRED FOR EACH ROW %sEXECUTE FUNCTION %s(%L, %L)',
                '_900_birth_finalize', p_table_ident,
                COALESCE((SELECT pg_catalog.format('WHEN ((current_setting(%1$s::text, true) IS DISTINCT FROM ((statement_timestamp())::text || %2$s::text))) ', '''birthgate.gate_armed''', fam.collection_literal) FROM fam), ''), pg_catalog.format('%I.%I', 'birthgate', 'tg_birth_finalize'), p_collection, p_code_column)),
        (6, '_910_birth_finalize_recode', pg_catalog.format('CREATE CONSTRAINT TRIGGER %I AFTER UPDATE ON %s DEFERRABLE INITIALLY DEFERRED FOR EACH ROW %sEXECUTE FUNCTION %s(%L, %L)',
                '_910_birth_finalize_recode', p_table_ident,
                COALESCE((SELECT pg_catalog.format('WHEN (((%1$s COLLATE "default") IS DISTINCT FROM (%2$s COLLATE "default"))) ', fam.ox, fam.x) FROM fam), ''), pg_catalog.format('%I.%I', 'birthgate', 'tg_birth_finalize'), p_collection, p_code_column))
      ,
            (7, '_905_birth_finalize_delete', pg_catalog.format('CREATE CONSTRAINT TRIGGER %I AFTER DELETE ON %s DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION %s(%L, %L)',
                    '_905_birth_finalize_delete', p_table_ident, pg_catalog.format('%I.%I', 'birthgate', 'tg_birth_finalize'), p_collection, p_code_column))
          ) AS x(ord, trigger_name, definition)
     ORDER BY x.ord
$_$;

COMMENT ON FUNCTION birthgate.birth_gate_trigger_definitions(p_collection text, p_table_ident text, p_code_column name) IS 'The gate triggers a family table needs (since 000006), as CREATE TRIGGER statements: register_family executes them and compares them with pg_get_triggerdef(); v_drift_trigger_state reports any difference. p_table_ident is the schema-qualified, quoted table name. _100_birth_gate carries the family code rules (length limit, pattern; read from birth_family) in a WHEN clause, so that a valid row calls no function after the first row of a statement.';

CREATE FUNCTION birthgate.birth_gate_triggers_present() RETURNS TABLE(table_oid oid, trigger_name name, trigger_oid oid, enabled_mode "char", definition text)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT t.tgrelid, t.tgname, t.oid, t.tgenabled, pg_catalog.pg_get_triggerdef(t.oid)
      FROM pg_catalog.pg_trigger t
     WHERE NOT t.tgisinternal
       AND t.tgname = ANY (ARRAY['_100_birth_gate', '_110_birth_register', '_120_birth_recode', '_130_birth_truncate', '_900_birth_finalize', '_910_birth_finalize_recode', '_905_birth_finalize_delete']::name[])
$$;

COMMENT ON FUNCTION birthgate.birth_gate_triggers_present() IS 'Every trigger named like a gate trigger on any table, with its definition printed under a pinned search_path (so the text does not depend on the caller). Read-only; used by v_drift_trigger_state.';

CREATE FUNCTION birthgate.birth_lock_table(p_table regclass, p_purpose text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_prev text := pg_catalog.current_setting('lock_timeout');
BEGIN
    IF v_prev = '0' OR v_prev::interval > interval '5 seconds' THEN
        PERFORM pg_catalog.set_config('lock_timeout', '5s', true);
    END IF;
    BEGIN
        EXECUTE pg_catalog.format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', p_table);
    EXCEPTION WHEN lock_not_available THEN
        PERFORM pg_catalog.set_config('lock_timeout', v_prev, true);
        RAISE EXCEPTION USING
            ERRCODE = 'BG156',
            MESSAGE = 'the family table could not be locked in time to attach or detach the gate triggers',
            DETAIL = format('%s: table %s stays locked by pid(s) %s longer than lock_timeout %s', p_purpose, p_table, COALESCE((SELECT pg_catalog.string_agg(DISTINCT l.pid::text, ', ') FROM pg_catalog.pg_locks l WHERE l.relation = p_table AND l.granted AND l.pid <> pg_catalog.pg_backend_pid()), 'unknown'), pg_catalog.current_setting('lock_timeout')),
            HINT = 'Another session holds a lock on the table (see DETAIL); find it with SELECT pid, state, query FROM pg_catalog.pg_stat_activity WHERE pid = ANY (pg_catalog.pg_blocking_pids(<your pid>)) and retry when it is done.';
    END;
    PERFORM pg_catalog.set_config('lock_timeout', v_prev, true);
END;
$$;

COMMENT ON FUNCTION birthgate.birth_lock_table(p_table regclass, p_purpose text) IS 'Internal: LOCK TABLE ... IN SHARE ROW EXCLUSIVE MODE (what CREATE/DROP TRIGGER takes) under lock_timeout = the caller''s if shorter, else 5s; raises BG156 naming the lock holders instead of waiting without bound.';

CREATE FUNCTION birthgate.drift_assert_clean(p_min_severity text DEFAULT 'critical'::text) RETURNS integer
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_rank integer := pg_catalog.array_position(ARRAY['info', 'warning', 'critical']::text[], p_min_severity);
    v_count integer;
    v_summary text;
BEGIN
    IF v_rank IS NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG301',
            MESSAGE = 'unknown drift severity',
            DETAIL = format('p_min_severity = %L; expected one of %s', p_min_severity, array_to_string(ARRAY['info', 'warning', 'critical']::text[], ', ')),
            HINT = 'Use one of info, warning, critical.';
    END IF;
    SELECT count(*)::integer,
           string_agg(pg_catalog.format('%s %s %s', r.severity, r.kind, r.object_name), '; ' ORDER BY r.severity_rank DESC, r.kind, r.object_name)
      INTO v_count, v_summary
      FROM "birthgate"."v_drift_report" r
     WHERE r.severity_rank >= v_rank;
    IF v_count > 0 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG300',
            MESSAGE = 'the drift monitor has findings at or above the requested severity',
            DETAIL = format('%s finding(s) at or above %s: %s', v_count, p_min_severity, v_summary),
            HINT = 'Read the v_drift_report view (or run `birthgate status`), repair each finding as its remedy column says, then retry.';
    END IF;
    RETURN 0;
END;
$$;

COMMENT ON FUNCTION birthgate.drift_assert_clean(p_min_severity text) IS 'Raises BG300 (DETAIL lists the findings) when v_drift_report has a finding at or above p_min_severity (info | warning | critical); returns 0 otherwise. For migrations, cron jobs and CI; writes nothing.';

CREATE FUNCTION birthgate.drift_capture_baseline() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_count integer;
    v_previous jsonb;
BEGIN
    -- one capture at a time; readers of the views are not blocked
    LOCK TABLE "birthgate"."drift_baseline" IN SHARE ROW EXCLUSIVE MODE;
    -- the roles recorded before: kept for a function PUBLIC may execute now (a restore without
    -- the package roles), so the remedy still names the grants the package made
    SELECT pg_catalog.jsonb_object_agg(x.identity, pg_catalog.to_jsonb(x.execute_grantees))
      INTO v_previous
      FROM "birthgate"."drift_baseline" x
     WHERE x.object_kind = 'function' AND x.execute_grantees IS NOT NULL;
    DELETE FROM "birthgate"."drift_baseline";
    INSERT INTO "birthgate"."drift_baseline" (object_kind, identity, scope, definition_hash, definition, execute_grantees)
    SELECT 'function', f.identity, 'package', f.definition_hash, f.definition,
           CASE WHEN f.public_execute AND v_previous -> f.identity IS NOT NULL
                THEN ARRAY(SELECT pg_catalog.jsonb_array_elements_text(v_previous -> f.identity))
                ELSE ARRAY(SELECT DISTINCT r.rolname::text
                             FROM pg_catalog.pg_proc p
                            CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
                             JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
                            WHERE p.oid = f.function_oid AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
                              AND r.rolname = ANY (ARRAY['birthgate_admin', 'birthgate_issuer', 'birthgate_reader', 'birthgate_consumer', 'birthgate_delivery']::pg_catalog.name[])
                            ORDER BY 1) END
      FROM "birthgate"."drift_current_functions"() f
    UNION ALL
    SELECT 'trigger', t.identity, t.scope, t.definition_hash, t.definition, NULL
      FROM "birthgate"."drift_current_triggers"() t;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END;
$$;

COMMENT ON FUNCTION birthgate.drift_capture_baseline() IS 'Records the current hashes of every package function and trigger as the drift baseline (replacing the previous one), with the roles that may execute each function, and returns how many objects it recorded. Every migration that changes an owned function ends with it; a DBA calls it only to accept a reviewed change.';

CREATE FUNCTION birthgate.drift_current_functions() RETURNS TABLE(identity text, function_oid oid, kind text, definition text, definition_hash text, public_execute boolean)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT p.oid::pg_catalog.regprocedure::text,
           p.oid,
           CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
           d.definition,
           "birthgate"."drift_definition_hash"(d.definition),
           p.prorettype <> 'pg_catalog.trigger'::pg_catalog.regtype
               AND pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE')
      FROM pg_catalog.pg_proc p
      JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
     CROSS JOIN LATERAL (SELECT pg_catalog.pg_get_functiondef(p.oid) AS definition) d
     WHERE n.nspname = 'birthgate'
       AND p.prokind IN ('f', 'p')
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                        WHERE e.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND e.objid = p.oid AND e.deptype = 'e')
$$;

COMMENT ON FUNCTION birthgate.drift_current_functions() IS 'Every function and procedure now in the package schema (extension members excepted) with its definition, hash, and whether PUBLIC may execute it. Read-only.';

CREATE FUNCTION birthgate.drift_current_triggers() RETURNS TABLE(scope text, identity text, table_oid oid, trigger_name name, trigger_oid oid, enabled_mode "char", definition text, definition_hash text)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT CASE WHEN f.collection_name IS NOT NULL AND t.tgname IN ('_100_birth_gate', '_900_birth_finalize')
                THEN 'family' ELSE 'package' END,
           pg_catalog.format('%I.%I.%I', n.nspname, c.relname, t.tgname),
           c.oid,
           t.tgname,
           t.oid,
           t.tgenabled,
           d.definition,
           "birthgate"."drift_definition_hash"(d.definition)
      FROM pg_catalog.pg_trigger t
      JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN "birthgate"."birth_family" f ON f.table_name::pg_catalog.oid = c.oid
     CROSS JOIN LATERAL (SELECT pg_catalog.pg_get_triggerdef(t.oid) AS definition) d
     WHERE NOT t.tgisinternal
       AND (n.nspname = 'birthgate'
            OR (f.collection_name IS NOT NULL AND t.tgname IN ('_100_birth_gate', '_900_birth_finalize')))
$$;

COMMENT ON FUNCTION birthgate.drift_current_triggers() IS 'Every trigger the package owns now: user triggers on package tables (scope package) and the gate triggers on family tables (scope family), with tgenabled, definition and hash. Read-only.';

CREATE FUNCTION birthgate.drift_definition_hash(p_definition text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to("birthgate"."drift_normalize_definition"(p_definition), 'UTF8')), 'hex')
$$;

COMMENT ON FUNCTION birthgate.drift_definition_hash(p_definition text) IS 'sha256 (hex) of the normalised definition: the hash stored in drift_baseline and shown by the drift views.';

CREATE FUNCTION birthgate.drift_family_objects(p_collection text DEFAULT NULL::text) RETURNS TABLE(collection_name text, finding text, entity_code text, code_hidden boolean, note text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET row_security TO 'off'
    AS $_$
DECLARE
    v_family record;
    v_src record;
    v_actor name := COALESCE(NULLIF(pg_catalog.current_setting('role'), 'none'), session_user)::name;
    v_visible boolean;
BEGIN
    IF p_collection IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM "birthgate"."birth_family" f WHERE f.collection_name OPERATOR(pg_catalog.=) p_collection) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG302',
            MESSAGE = 'unknown family',
            DETAIL = pg_catalog.format('collection_name %L is not in birth_family', pg_catalog.left(p_collection, 100)),
            HINT = 'Pass a collection_name that is registered in birth_family, or NULL for every family.';
    END IF;
    FOR v_family IN
        SELECT f.collection_name AS collection, f.table_name::pg_catalog.oid AS table_oid, f.code_column
          FROM "birthgate"."birth_family" f
         WHERE (p_collection IS NULL OR f.collection_name OPERATOR(pg_catalog.=) p_collection)
           -- a family whose table or code column is gone is reported by v_drift_trigger_state
           AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid OPERATOR(pg_catalog.=) f.table_name::pg_catalog.oid AND a.attname OPERATOR(pg_catalog.=) f.code_column
                          AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped)
         ORDER BY f.collection_name
    LOOP
        SELECT * INTO v_src FROM "birthgate"."family_read_source"(v_family.table_oid, v_family.code_column) s;
        IF v_src.state OPERATOR(pg_catalog.=) 'missing' THEN
            CONTINUE;  -- dropped since the loop started: family_table_missing
        ELSIF v_src.state OPERATOR(pg_catalog.<>) 'ok' THEN
            collection_name := v_family.collection;
            finding := 'unsafe_table';
            entity_code := NULL;
            code_hidden := false;
            note := v_src.reason;
            RETURN NEXT;
            CONTINUE;
        END IF;
        -- the codes of the family table itself only for a caller that may read that column
        v_visible := pg_catalog.has_column_privilege(v_actor, v_family.table_oid, v_family.code_column, 'SELECT');
        RETURN QUERY EXECUTE pg_catalog.format(
            $q$
            SELECT %1$L::pg_catalog.text,
                   CASE WHEN r.status IS NULL THEN 'unborn' ELSE 'retired_present' END::pg_catalog.text,
                   CASE WHEN %3$L::boolean THEN t.code END,
                   t.code IS NOT NULL AND NOT %3$L::boolean,
                   NULL::pg_catalog.text
              FROM (%2$s) t
              LEFT JOIN "birthgate"."birth_registry" r
                     ON r.collection_name OPERATOR(pg_catalog.=) %1$L AND r.entity_code OPERATOR(pg_catalog.=) t.code
             WHERE r.status IS DISTINCT FROM 'BORN'
            UNION ALL
            SELECT %1$L::pg_catalog.text, 'phantom'::pg_catalog.text, r.entity_code, false, NULL::pg_catalog.text
              FROM "birthgate"."birth_registry" r
             WHERE r.collection_name OPERATOR(pg_catalog.=) %1$L
               AND r.status OPERATOR(pg_catalog.=) 'BORN'
               AND NOT EXISTS (SELECT 1 FROM (%2$s) t WHERE t.code OPERATOR(pg_catalog.=) r.entity_code)
            $q$,
            v_family.collection, v_src.source, v_visible);
    END LOOP;
END;
$_$;

COMMENT ON FUNCTION birthgate.drift_family_objects(p_collection text) IS 'Scans the family tables (one family, or all with NULL): unborn = a row whose code has no registry row (NULL codes included); retired_present = a row whose code is RETIRED; phantom = a BORN registry row whose object is gone; unsafe_table = the table cannot be read without running code of its owner (note says why; nothing was read). Codes read from a family table are shown only to a caller with SELECT on its code column (otherwise entity_code is NULL and code_hidden true); phantom codes come from birth_registry. Reads through family_read_source, never owner code. Read-only.';

CREATE FUNCTION birthgate.drift_normalize_definition(p_definition text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT pg_catalog.btrim(
               pg_catalog.regexp_replace(
                   pg_catalog.regexp_replace(p_definition, '\s+', ' ', 'g'),
                   ' ?([^[:alnum:]_ ]) ?', '\1', 'g'))
$$;

COMMENT ON FUNCTION birthgate.drift_normalize_definition(p_definition text) IS 'Normalises a definition for hashing: whitespace runs collapse and whitespace next to punctuation goes, so re-indenting or re-spacing is not drift (a whitespace-only edit inside a string literal is not seen either).';

CREATE FUNCTION birthgate.expire_permits() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_now timestamptz := pg_catalog.clock_timestamp();
    v_count integer;
BEGIN
    PERFORM "birthgate"."assert_writable"('expire_permits', 'admission');
    UPDATE "birthgate"."birth_admission_permit"
       SET state = 'EXPIRED', expired_at = v_now
     WHERE state = 'ISSUED' AND expires_at <= v_now;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END;
$$;

COMMENT ON FUNCTION birthgate.expire_permits() IS 'Marks every ISSUED permit past expires_at as EXPIRED and returns how many (run it from a scheduler; the gate already refuses lapsed permits without it).';

CREATE FUNCTION birthgate.family_read_source(p_table oid, p_code_column name) RETURNS TABLE(state text, reason text, relation text, source text)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_rel record;
    v_leaf record;
    v_parts text[];
    v_locks text[];
    v_reason text;
    v_bypass boolean;
    v_lock text;
BEGIN
    SELECT r.rolsuper OR r.rolbypassrls INTO v_bypass FROM pg_catalog.pg_roles r WHERE r.rolname = current_user;
    FOR v_pass IN 1..2 LOOP
        v_parts := '{}';
        v_locks := '{}';
        v_reason := NULL;
        SELECT cl.oid, cl.relkind, cl.relispartition, n.nspname, cl.relname INTO v_rel
          FROM pg_catalog.pg_class cl JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) cl.relnamespace
         WHERE cl.oid OPERATOR(pg_catalog.=) p_table;
        IF NOT FOUND THEN
            state := 'missing';
            reason := pg_catalog.format('the table (oid %s) no longer exists', p_table);
            RETURN NEXT;
            RETURN;
        END IF;
        relation := pg_catalog.format('%I.%I', v_rel.nspname, v_rel.relname);
        IF v_rel.relkind NOT IN ('r', 'p') THEN
            v_reason := pg_catalog.format('%s is %s, not an ordinary or partitioned table', relation,
                CASE v_rel.relkind WHEN 'v' THEN 'a view (e.g. a table turned into one by an ON SELECT rule)'
                                   WHEN 'm' THEN 'a materialized view' WHEN 'f' THEN 'a foreign table'
                                   ELSE pg_catalog.format('of relkind %s', v_rel.relkind) END);
        ELSIF v_rel.relispartition THEN
            v_reason := pg_catalog.format('%s is a partition of %s: rows inserted through the parent do not reach its statement-level birth writer', relation,
                                          (SELECT pg_catalog.string_agg(i.inhparent::pg_catalog.regclass::pg_catalog.text, ', ') FROM pg_catalog.pg_inherits i WHERE i.inhrelid OPERATOR(pg_catalog.=) p_table));
        ELSIF NOT pg_catalog.has_schema_privilege(v_rel.nspname, 'USAGE') THEN
            v_reason := pg_catalog.format('the package owner %I may not read %s: no USAGE on schema %I', current_user, relation, v_rel.nspname);
        ELSE
            FOR v_leaf IN
                SELECT l.relid, cl.relkind, cl.relrowsecurity, n.nspname, cl.relname,
                       a.attnum, a.attgenerated, a.atttypid, a.attcollation,
                       (WITH RECURSIVE d (oid, typtype, typbasetype) AS (
                            SELECT t.oid, t.typtype, t.typbasetype FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) a.atttypid
                            UNION ALL
                            SELECT t.oid, t.typtype, t.typbasetype FROM d JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) d.typbasetype
                             WHERE d.typtype OPERATOR(pg_catalog.=) 'd')
                        SELECT d.oid FROM d WHERE d.typtype OPERATOR(pg_catalog.<>) 'd') AS base_type
                  FROM (SELECT p_table AS relid WHERE v_rel.relkind OPERATOR(pg_catalog.=) 'r'
                        UNION ALL
                        SELECT t.relid::pg_catalog.oid FROM pg_catalog.pg_partition_tree(p_table) t
                         WHERE v_rel.relkind OPERATOR(pg_catalog.=) 'p' AND t.isleaf) l
                  JOIN pg_catalog.pg_class cl ON cl.oid OPERATOR(pg_catalog.=) l.relid
                  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) cl.relnamespace
                  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) cl.oid AND a.attname OPERATOR(pg_catalog.=) p_code_column
                                                     AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
                 ORDER BY n.nspname, cl.relname
            LOOP
                v_reason := CASE
                    WHEN v_leaf.relkind OPERATOR(pg_catalog.<>) 'r' THEN pg_catalog.format('partition %I.%I is %s, not an ordinary table', v_leaf.nspname, v_leaf.relname,
                                                         CASE v_leaf.relkind WHEN 'f' THEN 'a foreign table' ELSE pg_catalog.format('of relkind %s', v_leaf.relkind) END)
                    WHEN v_leaf.attnum IS NULL THEN pg_catalog.format('code column %I of %I.%I does not exist', p_code_column, v_leaf.nspname, v_leaf.relname)
                    WHEN v_leaf.attgenerated OPERATOR(pg_catalog.<>) '' THEN pg_catalog.format('code column %I of %I.%I is a generated column', p_code_column, v_leaf.nspname, v_leaf.relname)
                    WHEN v_leaf.base_type IS NULL OR v_leaf.base_type NOT IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.name'::pg_catalog.regtype)
                        THEN pg_catalog.format('code column %I of %I.%I has type %s, which is not text, varchar or name (nor a domain over one)',
                                               p_code_column, v_leaf.nspname, v_leaf.relname, pg_catalog.format_type(v_leaf.atttypid, NULL))
                    WHEN v_leaf.relrowsecurity AND NOT v_bypass THEN pg_catalog.format('%I.%I has row-level security enabled and the package owner %I does not bypass it (its policies would run as the package owner)',
                                                                     v_leaf.nspname, v_leaf.relname, current_user)
                    WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_collation k WHERE k.oid OPERATOR(pg_catalog.=) v_leaf.attcollation AND NOT k.collisdeterministic)
                        THEN pg_catalog.format('code column %I of %I.%I has a nondeterministic collation: codes the registry keeps apart compare equal in the table', p_code_column, v_leaf.nspname, v_leaf.relname)
                    WHEN NOT pg_catalog.has_schema_privilege(v_leaf.nspname, 'USAGE') THEN pg_catalog.format('the package owner %I may not read %I.%I: no USAGE on schema %I', current_user, v_leaf.nspname, v_leaf.relname, v_leaf.nspname)
                    WHEN NOT pg_catalog.has_table_privilege(v_leaf.relid, 'SELECT') THEN pg_catalog.format('the package owner %I may not read %I.%I', current_user, v_leaf.nspname, v_leaf.relname)
                    ELSE "birthgate"."family_relation_unsafe"(v_leaf.relid)
                    END;
                EXIT WHEN v_reason IS NOT NULL;
                v_parts := v_parts OPERATOR(pg_catalog.||) pg_catalog.format(
                    'SELECT CAST(CAST(x.%I AS pg_catalog.%s) AS pg_catalog.text) COLLATE pg_catalog."default" AS code FROM ONLY %I.%I x',
                    p_code_column, CASE v_leaf.base_type WHEN 'pg_catalog.text'::pg_catalog.regtype THEN 'text'
                                                         WHEN 'pg_catalog.varchar'::pg_catalog.regtype THEN 'varchar' ELSE 'name' END,
                    v_leaf.nspname, v_leaf.relname);
                v_locks := v_locks OPERATOR(pg_catalog.||) pg_catalog.format('%I.%I', v_leaf.nspname, v_leaf.relname);
            END LOOP;
        END IF;
        IF v_reason IS NOT NULL THEN
            state := 'unsafe';
            reason := v_reason;
            RETURN NEXT;
            RETURN;
        END IF;
        EXIT WHEN v_pass OPERATOR(pg_catalog.=) 2;
        -- lock what will be read (no code runs: a lock is not a read), then check again: until the
        -- end of the transaction nobody can change its kind, columns, types or policies
        IF v_rel.relkind OPERATOR(pg_catalog.=) 'p' THEN
            EXECUTE pg_catalog.format('LOCK TABLE ONLY %s IN ACCESS SHARE MODE', relation);
        END IF;
        FOREACH v_lock IN ARRAY v_locks LOOP
            EXECUTE pg_catalog.format('LOCK TABLE ONLY %s IN ACCESS SHARE MODE', v_lock);
        END LOOP;
    END LOOP;
    state := 'ok';
    reason := NULL;
    source := CASE WHEN pg_catalog.cardinality(v_parts) OPERATOR(pg_catalog.=) 0 THEN 'SELECT NULL::pg_catalog.text AS code WHERE false'
                   ELSE pg_catalog.array_to_string(v_parts, ' UNION ALL ') END;
    RETURN NEXT;
END;
$$;

COMMENT ON FUNCTION birthgate.family_read_source(p_table oid, p_code_column name) IS 'Internal (no role may execute it; the package functions call it as the package owner): decides at every call whether a family table can be read without running code of its owner. state ok: source is a SELECT of the code (as text, default collation) FROM ONLY every checked relation, all of them locked ACCESS SHARE and re-checked after the lock; unsafe: reason says why (view / rule, foreign table or partition, materialized view, missing or generated code column, a type that is not text/varchar/name or a domain over one, row-level security the owner is subject to, no USAGE on the schema or no SELECT for the owner); missing: the table is gone.';

CREATE FUNCTION birthgate.family_relation_unsafe(p_rel oid) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
RETURN (
WITH rel AS (
    SELECT cl.oid, cl.relkind, pg_catalog.format('%I.%I', n.nspname, cl.relname) AS ident
      FROM pg_catalog.pg_class cl JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) cl.relnamespace
     WHERE cl.oid OPERATOR(pg_catalog.=) p_rel
),
expr_owner (classid, objid, what) AS (
    SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid, i.indexrelid,
           pg_catalog.format('index %s', i.indexrelid::pg_catalog.regclass)
      FROM pg_catalog.pg_index i
     WHERE i.indrelid OPERATOR(pg_catalog.=) p_rel AND (i.indexprs IS NOT NULL OR i.indpred IS NOT NULL)
    UNION ALL
    SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass::pg_catalog.oid, k.oid, pg_catalog.format('CHECK constraint %I', k.conname)
      FROM pg_catalog.pg_constraint k
     WHERE k.conrelid OPERATOR(pg_catalog.=) p_rel AND k.contype OPERATOR(pg_catalog.=) 'c'
    UNION ALL
    SELECT 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass::pg_catalog.oid, x.oid, pg_catalog.format('statistics object %I', x.stxname)
      FROM pg_catalog.pg_statistic_ext x
     WHERE x.stxrelid OPERATOR(pg_catalog.=) p_rel
    UNION ALL
    SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid, a.relid, pg_catalog.format('the partition key of %s', a.relid::pg_catalog.regclass)
      FROM pg_catalog.pg_partition_ancestors(p_rel) a
     WHERE a.relid OPERATOR(pg_catalog.<>) p_rel
),
foreign_code AS (
    SELECT e.what, pg_catalog.pg_describe_object(d.refclassid, d.refobjid, 0) AS obj
      FROM expr_owner e
      JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) e.classid AND d.objid OPERATOR(pg_catalog.=) e.objid
                                 AND (e.what NOT LIKE 'the partition key of %' OR d.objsubid OPERATOR(pg_catalog.=) 0)
      LEFT JOIN pg_catalog.pg_proc pr ON d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass AND pr.oid OPERATOR(pg_catalog.=) d.refobjid
      LEFT JOIN pg_catalog.pg_operator op ON d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_operator'::pg_catalog.regclass AND op.oid OPERATOR(pg_catalog.=) d.refobjid
      LEFT JOIN pg_catalog.pg_type ty ON d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass AND ty.oid OPERATOR(pg_catalog.=) d.refobjid
     WHERE COALESCE(pr.pronamespace, op.oprnamespace, ty.typnamespace) OPERATOR(pg_catalog.<>) 'pg_catalog'::pg_catalog.regnamespace
)
SELECT COALESCE(
    (SELECT pg_catalog.format('%s has inheritance child %s: its rows belong to the family table but never pass a gate', r.ident, i.inhrelid::pg_catalog.regclass)
       FROM rel r JOIN pg_catalog.pg_inherits i ON i.inhparent OPERATOR(pg_catalog.=) r.oid
      WHERE r.relkind OPERATOR(pg_catalog.=) 'r'
      ORDER BY i.inhrelid LIMIT 1),
    (SELECT pg_catalog.format('%s of %s uses %s, code the planner would run as the package owner', f.what, r.ident, f.obj)
       FROM foreign_code f CROSS JOIN rel r
      ORDER BY f.what, f.obj LIMIT 1)));
END;
$$;

COMMENT ON FUNCTION birthgate.family_relation_unsafe(p_rel oid) IS 'Internal: why planning a query over this relation as the package owner could run code of its owner (index expressions or predicates, CHECK constraints, statistics expressions or ancestor partition keys using a function, operator or type outside pg_catalog), or why its rows escape the gates (inheritance children); NULL when neither. Catalogs only; evaluates nothing. PL/pgSQL, so that its plan is cached per session: layer 2 calls it for every row at commit.';

CREATE FUNCTION birthgate.gate_attach_record(p_collection text DEFAULT NULL::text) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_count integer;
BEGIN
    IF p_collection IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM "birthgate"."birth_family" f WHERE f.collection_name OPERATOR(pg_catalog.=) p_collection) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG302',
            MESSAGE = 'unknown family',
            DETAIL = pg_catalog.format('collection %L is not registered', pg_catalog.left(p_collection, 100)),
            HINT = 'Pass a collection_name that is registered in birth_family, or NULL for every family.' || ' ' || pg_catalog.format('SELECT collection_name FROM %I.birth_family; then SELECT %I.gate_attach_record(NULL);', 'birthgate', 'birthgate');
    END IF;
    -- one recorder at a time, and no attach in between
    LOCK TABLE "birthgate"."gate_trigger_attach" IN SHARE ROW EXCLUSIVE MODE;
    -- records of triggers that are gone (a restore, DROP TRIGGER) or whose OID is another trigger
    -- now, of every family: after a restore a stale record of another family may hold the OID of
    -- a gate of this one, and would keep it from being recorded (a stale record protects nothing:
    -- the gate it named is gone)
    DELETE FROM "birthgate"."gate_trigger_attach" r
     WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                        WHERE t.oid = r.trigger_oid AND t.tgrelid = r.table_oid AND t.tgname = r.trigger_name);
    -- the gates that are present, enabled and as expected, without a record of their own
    INSERT INTO "birthgate"."gate_trigger_attach" (trigger_oid, table_oid, trigger_name, collection_name, attached_xmin)
    SELECT t.oid, t.tgrelid, t.tgname, s.collection_name, t.xmin
      FROM "birthgate"."v_drift_trigger_state" s
      JOIN pg_catalog.pg_trigger t ON t.tgrelid = pg_catalog.to_regclass(s.table_name) AND t.tgname = s.trigger_name
     WHERE s.scope = 'family' AND s.state = 'unrecorded'
       AND (p_collection IS NULL OR s.collection_name OPERATOR(pg_catalog.=) p_collection)
    ON CONFLICT (trigger_oid) DO NOTHING;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END;
$$;

COMMENT ON FUNCTION birthgate.gate_attach_record(p_collection text) IS 'After a restore from a dump (or a pg_upgrade, or a gate dropped and created again): records in gate_trigger_attach the gate triggers of one family (NULL: every family) that are present, enabled and as expected but have no record of their own (state unrecorded), and deletes records of triggers that no longer exist. Never refreshes a valid record (an altered gate stays a finding). Returns how many gates it recorded. BG302 for an unknown family.';

CREATE FUNCTION birthgate.handoff_consume(p_batch_size integer DEFAULT 5000) RETURNS TABLE(consumed integer, emitted integer, captured integer, lag bigint)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET "TimeZone" TO 'UTC'
    AS $$
DECLARE
    v_consumer constant text := 'governance_handoff';
    v_event_type constant text := 'handoff.object_born';
    v_lo pg_snapshot;
    v_hi pg_snapshot;
    v_stored_window boolean;
    v_lo_xip xid8[];
    v_lo_xmax xid8;
    v_hi_xmax xid8;
    v_ref pg_snapshot;
    v_ref_xip xid8[];
    v_ref_xmax xid8;
    v_limit integer;
    v_total integer := 0;
    v_total_events integer := 0;
    v_pos_txid xid8;
    v_pos_change_id bigint;
    v_after_txid xid8;
    v_after_change_id bigint;
    v_window_rows bigint;
    v_window_done bigint;
    v_own xid8;
    v_active boolean;
    v_consumed integer;
    v_events integer;
    v_last_txid xid8;
    v_last_change_id bigint;
    v_lag bigint;
BEGIN
    PERFORM "birthgate"."assert_writable"('handoff_consume', 'handoff');
    IF p_batch_size IS NULL OR p_batch_size < 1 OR p_batch_size > 100000 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG200',
            MESSAGE = 'invalid argument to a handoff function',
            DETAIL = format('handoff_consume(p_batch_size => %s): must be between 1 and 100000', coalesce(p_batch_size::text, 'NULL')),
            HINT = 'Pass p_batch_size between 1 and 100000 (rows per batch, each batch one transaction): SELECT * FROM birthgate.handoff_consume(5000);';
    END IF;

    -- 1. One consumer at a time. A second caller does not wait: it returns zeros with lag NULL
    --    ("another consumer holds the cursor"), so overlapping cron runs never pile up.
    --    Under REPEATABLE READ / SERIALIZABLE a cursor row another consumer updated after this
    --    transaction's snapshot cannot be locked (40001): that consumer did this batch's work, so
    --    this call ends like one that found the cursor locked (zeros, lag NULL), changing nothing.
    IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
        BEGIN
            PERFORM 1
            FROM "birthgate"."handoff_cursor" AS hc
            WHERE hc.consumer_name = v_consumer
            FOR UPDATE SKIP LOCKED;
            -- locked by another consumer now: end as the locked path below would, at once (locking
            -- again after that consumer committed would raise 40001 under this isolation level)
            IF NOT FOUND AND EXISTS (SELECT 1 FROM "birthgate"."handoff_cursor" AS hc WHERE hc.consumer_name = v_consumer) THEN
                RETURN QUERY SELECT 0, 0, 0, NULL::bigint;
                RETURN;
            END IF;
        EXCEPTION WHEN serialization_failure THEN
            RETURN QUERY SELECT 0, 0, 0, NULL::bigint;
            RETURN;
        END;
    END IF;
    SELECT hc.position_snapshot, hc.window_snapshot, hc.window_after_txid, hc.window_after_change_id, hc.window_rows, hc.window_done
    INTO v_lo, v_hi, v_after_txid, v_after_change_id, v_window_rows, v_window_done
    FROM "birthgate"."handoff_cursor" AS hc
    WHERE hc.consumer_name = v_consumer
    FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        IF EXISTS (SELECT 1 FROM "birthgate"."handoff_cursor" AS hc WHERE hc.consumer_name = v_consumer) THEN
            RETURN QUERY SELECT 0, 0, 0, NULL::bigint;
            RETURN;
        END IF;
        RAISE EXCEPTION USING
            ERRCODE = 'BG201',
            MESSAGE = 'the handoff cursor row is missing',
            DETAIL = format('no row with consumer_name = %L in %s', v_consumer, 'birthgate.handoff_cursor'),
            HINT = 'Re-create it: INSERT INTO handoff_cursor (consumer_name) VALUES (''governance_handoff''); replaying from zero is harmless (upserts by object key, events deduplicated).';
    END IF;

    v_own := pg_current_xact_id_if_assigned();

    -- 2. The lane. FOR SHARE makes set_event_type_active() and release_pending() wait for this
    --    batch, so an event never lands in one lane while the other is being switched or drained.
    SELECT et.active INTO v_active
    FROM "birthgate"."event_type_registry" AS et
    WHERE et.event_type = v_event_type
    FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG202',
            MESSAGE = 'event type is not registered',
            DETAIL = format('handoff_consume needs event type %L in event_type_registry', v_event_type),
            HINT = 'Register the type in event_type_registry first (register-before-emit); check the spelling in DETAIL.';
    END IF;

    LOOP
        -- 3. The window: the stored one while it is being split, else a new snapshot taken now
        --    (after the cursor row is locked, so it is never older than the stored position),
        --    with this transaction counted as running: its own rows wait until it has committed.
        v_stored_window := v_hi IS NOT NULL;
        IF NOT v_stored_window THEN
            v_hi := "birthgate"."handoff_snapshot"();
            v_after_txid := '0'::xid8;
            v_after_change_id := 0;
        END IF;
        IF pg_snapshot_xmax(v_hi) < pg_snapshot_xmax(v_lo) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG220',
                MESSAGE = 'the handoff cursor position is ahead of the current snapshot',
                DETAIL = format('position_snapshot %s is ahead of the window snapshot %s (consumer %L)', v_lo, v_hi, v_consumer),
                HINT = 'The stored position_snapshot was not written by the consumer (a restore or a hand edit). Rewind it to a known-good earlier snapshot: UPDATE birthgate.handoff_cursor SET position_snapshot = ''1:1:'', window_snapshot = NULL, window_after_txid = NULL, window_after_change_id = NULL, window_rows = NULL, window_done = NULL; replaying is harmless.';
        END IF;
        v_lo_xip := ARRAY(SELECT x.xid FROM pg_snapshot_xip(v_lo) AS x (xid));
        v_lo_xmax := pg_snapshot_xmax(v_lo);
        v_hi_xmax := pg_snapshot_xmax(v_hi);
        v_limit := p_batch_size - v_total;

        -- 4. The batch: one statement over all its rows. Fast path first (plain INSERTs, the
        --    unique indexes arbitrate); any conflict (a replay, an object changed twice within
        --    reach) undoes it and the general, idempotent path runs instead.
        BEGIN
            IF v_active THEN
                WITH batch AS MATERIALIZED (
                    SELECT u.* FROM (
                        (SELECT l.change_id, l.txid, l.op, l.collection_name, l.entity_code, l.object_key, l.registry_id, l.born_at, l.changed_at, l.actor, l.detail
                         FROM "birthgate"."registry_changelog" AS l
                         WHERE l.txid = ANY (v_lo_xip)
                           AND (l.txid, l.change_id) > (v_after_txid, v_after_change_id)
                           AND pg_visible_in_snapshot(l.txid, v_hi)
                         ORDER BY l.txid, l.change_id
                         LIMIT v_limit)
                        UNION ALL
                        (SELECT l.change_id, l.txid, l.op, l.collection_name, l.entity_code, l.object_key, l.registry_id, l.born_at, l.changed_at, l.actor, l.detail
                         FROM "birthgate"."registry_changelog" AS l
                         WHERE l.txid >= v_lo_xmax
                           AND l.txid < v_hi_xmax
                           AND (l.txid, l.change_id) > (v_after_txid, v_after_change_id)
                           AND pg_visible_in_snapshot(l.txid, v_hi)
                         ORDER BY l.txid, l.change_id
                         LIMIT v_limit)
                    ) AS u
                    ORDER BY u.txid, u.change_id
                    LIMIT v_limit
                ),
                candidates AS (
                    INSERT INTO "birthgate"."governance_candidate_state"
                        (object_key, collection_name, entity_code, registry_status, born_at, dirty, marked_at, source_change_id, source_txid)
                    SELECT b.object_key, b.collection_name, b.entity_code, b.op, b.born_at, true, b.changed_at, b.change_id, b.txid
                    FROM batch AS b
                ),
                events AS (
                    INSERT INTO "birthgate"."event_outbox" (event_type, object_key, born_at, payload, source_change_id)
                    SELECT v_event_type, b.object_key, b.born_at,
                           jsonb_build_object(
                               'change_id', b.change_id,
                               'txid', b.txid::text,
                               'op', b.op,
                               'collection_name', b.collection_name,
                               'entity_code', b.entity_code,
                               'object_key', b.object_key,
                               'registry_id', b.registry_id,
                               'born_at', b.born_at,
                               'changed_at', b.changed_at,
                               'actor', b.actor,
                               'detail', b.detail),
                           b.change_id
                    FROM batch AS b
                    WHERE b.op = 'BORN'
                      AND NOT EXISTS (
                          SELECT 1 FROM "birthgate"."event_pending" AS o
                          WHERE o.event_type = v_event_type AND o.object_key = b.object_key AND o.born_at = b.born_at)
                    RETURNING 1
                ),
                stats AS (
                    SELECT count(*)::integer AS n FROM batch AS b
                ),
                last_row AS (
                    SELECT b.txid, b.change_id FROM batch AS b ORDER BY b.txid DESC, b.change_id DESC LIMIT 1
                )
                SELECT stats.n, (SELECT count(*) FROM events)::integer, last_row.txid, last_row.change_id
                INTO v_consumed, v_events, v_last_txid, v_last_change_id
                FROM stats LEFT JOIN last_row ON true;
            ELSE
                WITH batch AS MATERIALIZED (
                    SELECT u.* FROM (
                        (SELECT l.change_id, l.txid, l.op, l.collection_name, l.entity_code, l.object_key, l.registry_id, l.born_at, l.changed_at, l.actor, l.detail
                         FROM "birthgate"."registry_changelog" AS l
                         WHERE l.txid = ANY (v_lo_xip)
                           AND (l.txid, l.change_id) > (v_after_txid, v_after_change_id)
                           AND pg_visible_in_snapshot(l.txid, v_hi)
                         ORDER BY l.txid, l.change_id
                         LIMIT v_limit)
                        UNION ALL
                        (SELECT l.change_id, l.txid, l.op, l.collection_name, l.entity_code, l.object_key, l.registry_id, l.born_at, l.changed_at, l.actor, l.detail
                         FROM "birthgate"."registry_changelog" AS l
                         WHERE l.txid >= v_lo_xmax
                           AND l.txid < v_hi_xmax
                           AND (l.txid, l.change_id) > (v_after_txid, v_after_change_id)
                           AND pg_visible_in_snapshot(l.txid, v_hi)
                         ORDER BY l.txid, l.change_id
                         LIMIT v_limit)
                    ) AS u
                    ORDER BY u.txid, u.change_id
                    LIMIT v_limit
                ),
                candidates AS (
                    INSERT INTO "birthgate"."governance_candidate_state"
                        (object_key, collection_name, entity_code, registry_status, born_at, dirty, marked_at, source_change_id, source_txid)
                    SELECT b.object_key, b.collection_name, b.entity_code, b.op, b.born_at, true, b.changed_at, b.change_id, b.txid
                    FROM batch AS b
                ),
                events AS (
                    INSERT INTO "birthgate"."event_pending" (event_type, object_key, born_at, payload, source_change_id)
                    SELECT v_event_type, b.object_key, b.born_at,
                           jsonb_build_object(
                               'change_id', b.change_id,
                               'txid', b.txid::text,
                               'op', b.op,
                               'collection_name', b.collection_name,
                               'entity_code', b.entity_code,
                               'object_key', b.object_key,
                               'registry_id', b.registry_id,
                               'born_at', b.born_at,
                               'changed_at', b.changed_at,
                               'actor', b.actor,
                               'detail', b.detail),
                           b.change_id
                    FROM batch AS b
                    WHERE b.op = 'BORN'
                      AND NOT EXISTS (
                          SELECT 1 FROM "birthgate"."event_outbox" AS o
                          WHERE o.event_type = v_event_type AND o.object_key = b.object_key AND o.born_at = b.born_at)
                    RETURNING 1
                ),
                stats AS (
                    SELECT count(*)::integer AS n FROM batch AS b
                ),
                last_row AS (
                    SELECT b.txid, b.change_id FROM batch AS b ORDER BY b.txid DESC, b.change_id DESC LIMIT 1
                )
                SELECT stats.n, (SELECT count(*) FROM events)::integer, last_row.txid, last_row.change_id
                INTO v_consumed, v_events, v_last_txid, v_last_change_id
                FROM stats LEFT JOIN last_row ON true;
            END IF;
        EXCEPTION WHEN unique_violation THEN
            IF v_active THEN
                WITH batch AS MATERIALIZED (
                    SELECT u.* FROM (
                        (SELECT l.change_id, l.txid, l.op, l.collection_name, l.entity_code, l.object_key, l.registry_id, l.born_at, l.changed_at, l.actor, l.detail
                         FROM "birthgate"."registry_changelog" AS l
                         WHERE l.txid = ANY (v_lo_xip)
                           AND (l.txid, l.change_id) > (v_after_txid, v_after_change_id)
                           AND pg_visible_in_snapshot(l.txid, v_hi)
                         ORDER BY l.txid, l.change_id
                         LIMIT v_limit)
                        UNION ALL
                        (SELECT l.change_id, l.txid, l.op, l.collection_name, l.entity_code, l.object_key, l.registry_id, l.born_at, l.changed_at, l.actor, l.detail
                         FROM "birthgate"."registry_changelog" AS l
                         WHERE l.txid >= v_lo_xmax
                           AND l.txid < v_hi_xmax
                           AND (l.txid, l.change_id) > (v_after_txid, v_after_change_id)
                           AND pg_visible_in_snapshot(l.txid, v_hi)
                         ORDER BY l.txid, l.change_id
                         LIMIT v_limit)
                    ) AS u
                    ORDER BY u.txid, u.change_id
                    LIMIT v_limit
                ),
                latest AS (
                    SELECT DISTINCT ON (b.object_key) b.*
                    FROM batch AS b
                    ORDER BY b.object_key, b.change_id DESC
                ),
                candidates AS (
                    INSERT INTO "birthgate"."governance_candidate_state" AS g
                        (object_key, collection_name, entity_code, registry_status, born_at, dirty, marked_at, source_change_id, source_txid)
                    SELECT t.object_key, t.collection_name, t.entity_code, t.op, t.born_at, true, t.changed_at, t.change_id, t.txid
                    FROM latest AS t
                    ON CONFLICT (object_key) DO UPDATE
                    SET registry_status = EXCLUDED.registry_status,
                        born_at = EXCLUDED.born_at,
                        dirty = true,
                        marked_at = EXCLUDED.marked_at,
                        source_change_id = EXCLUDED.source_change_id,
                        source_txid = EXCLUDED.source_txid
                    WHERE g.source_change_id < EXCLUDED.source_change_id
                ),
                events AS (
                    INSERT INTO "birthgate"."event_outbox" (event_type, object_key, born_at, payload, source_change_id)
                    SELECT v_event_type, b.object_key, b.born_at,
                           jsonb_build_object(
                               'change_id', b.change_id,
                               'txid', b.txid::text,
                               'op', b.op,
                               'collection_name', b.collection_name,
                               'entity_code', b.entity_code,
                               'object_key', b.object_key,
                               'registry_id', b.registry_id,
                               'born_at', b.born_at,
                               'changed_at', b.changed_at,
                               'actor', b.actor,
                               'detail', b.detail),
                           b.change_id
                    FROM batch AS b
                    WHERE b.op = 'BORN'
                      AND NOT EXISTS (
                          SELECT 1 FROM "birthgate"."event_pending" AS o
                          WHERE o.event_type = v_event_type AND o.object_key = b.object_key AND o.born_at = b.born_at)
                        ON CONFLICT (event_type, object_key, born_at) DO NOTHING
                    RETURNING 1
                ),
                stats AS (
                    SELECT count(*)::integer AS n FROM batch AS b
                ),
                last_row AS (
                    SELECT b.txid, b.change_id FROM batch AS b ORDER BY b.txid DESC, b.change_id DESC LIMIT 1
                )
                SELECT stats.n, (SELECT count(*) FROM events)::integer, last_row.txid, last_row.change_id
                INTO v_consumed, v_events, v_last_txid, v_last_change_id
                FROM stats LEFT JOIN last_row ON true;
            ELSE
                WITH batch AS MATERIALIZED (
                    SELECT u.* FROM (
                        (SELECT l.change_id, l.txid, l.op, l.collection_name, l.entity_code, l.object_key, l.registry_id, l.born_at, l.changed_at, l.actor, l.detail
                         FROM "birthgate"."registry_changelog" AS l
                         WHERE l.txid = ANY (v_lo_xip)
                           AND (l.txid, l.change_id) > (v_after_txid, v_after_change_id)
                           AND pg_visible_in_snapshot(l.txid, v_hi)
                         ORDER BY l.txid, l.change_id
                         LIMIT v_limit)
                        UNION ALL
                        (SELECT l.change_id, l.txid, l.op, l.collection_name, l.entity_code, l.object_key, l.registry_id, l.born_at, l.changed_at, l.actor, l.detail
                         FROM "birthgate"."registry_changelog" AS l
                         WHERE l.txid >= v_lo_xmax
                           AND l.txid < v_hi_xmax
                           AND (l.txid, l.change_id) > (v_after_txid, v_after_change_id)
                           AND pg_visible_in_snapshot(l.txid, v_hi)
                         ORDER BY l.txid, l.change_id
                         LIMIT v_limit)
                    ) AS u
                    ORDER BY u.txid, u.change_id
                    LIMIT v_limit
                ),
                latest AS (
                    SELECT DISTINCT ON (b.object_key) b.*
                    FROM batch AS b
                    ORDER BY b.object_key, b.change_id DESC
                ),
                candidates AS (
                    INSERT INTO "birthgate"."governance_candidate_state" AS g
                        (object_key, collection_name, entity_code, registry_status, born_at, dirty, marked_at, source_change_id, source_txid)
                    SELECT t.object_key, t.collection_name, t.entity_code, t.op, t.born_at, true, t.changed_at, t.change_id, t.txid
                    FROM latest AS t
                    ON CONFLICT (object_key) DO UPDATE
                    SET registry_status = EXCLUDED.registry_status,
                        born_at = EXCLUDED.born_at,
                        dirty = true,
                        marked_at = EXCLUDED.marked_at,
                        source_change_id = EXCLUDED.source_change_id,
                        source_txid = EXCLUDED.source_txid
                    WHERE g.source_change_id < EXCLUDED.source_change_id
                ),
                events AS (
                    INSERT INTO "birthgate"."event_pending" (event_type, object_key, born_at, payload, source_change_id)
                    SELECT v_event_type, b.object_key, b.born_at,
                           jsonb_build_object(
                               'change_id', b.change_id,
                               'txid', b.txid::text,
                               'op', b.op,
                               'collection_name', b.collection_name,
                               'entity_code', b.entity_code,
                               'object_key', b.object_key,
                               'registry_id', b.registry_id,
                               'born_at', b.born_at,
                               'changed_at', b.changed_at,
                               'actor', b.actor,
                               'detail', b.detail),
                           b.change_id
                    FROM batch AS b
                    WHERE b.op = 'BORN'
                      AND NOT EXISTS (
                          SELECT 1 FROM "birthgate"."event_outbox" AS o
                          WHERE o.event_type = v_event_type AND o.object_key = b.object_key AND o.born_at = b.born_at)
                        ON CONFLICT (event_type, object_key, born_at) DO NOTHING
                    RETURNING 1
                ),
                stats AS (
                    SELECT count(*)::integer AS n FROM batch AS b
                ),
                last_row AS (
                    SELECT b.txid, b.change_id FROM batch AS b ORDER BY b.txid DESC, b.change_id DESC LIMIT 1
                )
                SELECT stats.n, (SELECT count(*) FROM events)::integer, last_row.txid, last_row.change_id
                INTO v_consumed, v_events, v_last_txid, v_last_change_id
                FROM stats LEFT JOIN last_row ON true;
            END IF;
        END;
        v_total := v_total + v_consumed;
        v_total_events := v_total_events + v_events;
        IF v_last_txid IS NOT NULL THEN
            v_pos_txid := v_last_txid;
            v_pos_change_id := v_last_change_id;
        END IF;

        -- 5. A short batch closes the window: its snapshot becomes the position. When that was
        --    a stored window, the rest of the batch comes from a new window (one more round).
        --    A full batch keeps the window open at its last row; a window split for the first
        --    time is counted once, so the lag stays exact without counting the backlog per batch.
        IF v_consumed < v_limit THEN
            v_lo := v_hi;
            v_hi := NULL;
            v_after_txid := NULL;
            v_after_change_id := NULL;
            v_window_rows := NULL;
            v_window_done := NULL;
            EXIT WHEN NOT v_stored_window;
        ELSE
            IF NOT v_stored_window THEN
                SELECT (SELECT count(*) FROM "birthgate"."registry_changelog" AS l WHERE l.txid = ANY (v_lo_xip) AND pg_visible_in_snapshot(l.txid, v_hi))
                     + (SELECT count(*) FROM "birthgate"."registry_changelog" AS l WHERE l.txid >= v_lo_xmax AND l.txid < v_hi_xmax AND pg_visible_in_snapshot(l.txid, v_hi))
                INTO v_window_rows;
                v_window_done := 0;
            END IF;
            v_window_done := least(v_window_done + v_consumed, v_window_rows);
            v_after_txid := v_last_txid;
            v_after_change_id := v_last_change_id;
            EXIT;
        END IF;
    END LOOP;

    -- 6. lag, exact: the rest of an open window plus every committed row after the snapshot
    --    that bounds it (index lookups per xip entry and an index range from its xmax).
    v_ref := coalesce(v_hi, v_lo);
    v_ref_xip := ARRAY(SELECT x.xid FROM pg_snapshot_xip(v_ref) AS x (xid));
    v_ref_xmax := pg_snapshot_xmax(v_ref);
    SELECT coalesce(v_window_rows - v_window_done, 0)
         + (SELECT count(*) FROM "birthgate"."registry_changelog" AS l WHERE l.txid = ANY (v_ref_xip) AND l.txid IS DISTINCT FROM v_own)
         + (SELECT count(*) FROM "birthgate"."registry_changelog" AS l WHERE l.txid >= v_ref_xmax AND l.txid IS DISTINCT FROM v_own)
    INTO v_lag;

    -- 7. Position, window, last row taken, heartbeat (advanced even by an empty batch), counters.
    UPDATE "birthgate"."handoff_cursor" AS hc
    SET position_snapshot = v_lo,
        window_snapshot = v_hi,
        window_after_txid = v_after_txid,
        window_after_change_id = v_after_change_id,
        window_rows = v_window_rows,
        window_done = v_window_done,
        position_txid = coalesce(v_pos_txid, hc.position_txid),
        position_change_id = coalesce(v_pos_change_id, hc.position_change_id),
        heartbeat_at = now(),
        rows_consumed = hc.rows_consumed + v_total,
        batches_run = hc.batches_run + 1,
        last_batch_rows = v_total,
        updated_at = now()
    WHERE hc.consumer_name = v_consumer;

    consumed := v_total;
    emitted := CASE WHEN v_active THEN v_total_events ELSE 0 END;
    captured := CASE WHEN v_active THEN 0 ELSE v_total_events END;
    lag := v_lag;
    RETURN NEXT;
END;
$$;

COMMENT ON FUNCTION birthgate.handoff_consume(p_batch_size integer) IS 'One handoff batch in the caller''s transaction, all or nothing. Snapshot cursor (PgQ style): takes up to p_batch_size registry_changelog rows, in (txid, change_id) order, of transactions visible in the window snapshot (handoff_snapshot(): the caller''s own transaction counts as running) and invisible in the stored position snapshot; a window larger than one batch is split and resumed exactly. Upserts governance_candidate_state (dirty, marked_at = changed_at; only when the change is newer), writes handoff.object_born for every BORN row to event_outbox (type active) or event_pending (inactive), never twice and never into both lanes, then advances the position and heartbeat_at. An open transaction (in this database or another) never holds back rows of transactions that committed after it. Returns consumed rows, events emitted / captured, and lag: committed changelog rows not yet handed off (exact). A concurrent call returns zeros with lag NULL (another consumer holds the cursor); so does a call under REPEATABLE READ or SERIALIZABLE when another consumer advanced the cursor after its snapshot (instead of 40001). Refused with BG222 when the transaction cannot write (read-only, hot standby).';

CREATE PROCEDURE birthgate.handoff_drain(IN p_batch_size integer DEFAULT 5000, IN p_max_batches integer DEFAULT NULL::integer)
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_started timestamptz;
    v_batch_started timestamptz;
    v_batches integer := 0;
    v_total bigint := 0;
    v_emitted bigint := 0;
    v_captured bigint := 0;
    v_consumed integer;
    v_e integer;
    v_c integer;
    v_lag bigint;
BEGIN
    -- A procedure that COMMITs cannot carry a SET clause: pin search_path for this transaction
    -- here (it is re-pinned after every COMMIT below) and qualify every name and operator.
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    v_started := pg_catalog.clock_timestamp();
    IF p_batch_size IS NULL OR p_batch_size OPERATOR(pg_catalog.<) 1 OR p_batch_size OPERATOR(pg_catalog.>) 100000 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG200',
            MESSAGE = 'invalid argument to a handoff function',
            DETAIL = pg_catalog.format('handoff_drain(p_batch_size => %s): must be between 1 and 100000', coalesce(p_batch_size::pg_catalog.text, 'NULL')),
            HINT = 'Pass p_batch_size between 1 and 100000 (rows per committed batch): CALL birthgate.handoff_drain(5000);';
    END IF;
    IF p_max_batches IS NOT NULL AND p_max_batches OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG200',
            MESSAGE = 'invalid argument to a handoff function',
            DETAIL = pg_catalog.format('handoff_drain(p_max_batches => %s): must be NULL (no limit) or at least 1', p_max_batches),
            HINT = 'Pass p_max_batches NULL or at least 1 (NULL: until the backlog is drained): CALL birthgate.handoff_drain(5000, 100);';
    END IF;
    LOOP
        EXIT WHEN p_max_batches IS NOT NULL AND v_batches OPERATOR(pg_catalog.>=) p_max_batches;
        v_batch_started := pg_catalog.clock_timestamp();
        SELECT r.consumed, r.emitted, r.captured, r.lag
        INTO v_consumed, v_e, v_c, v_lag
        FROM "birthgate"."handoff_consume"(p_batch_size) AS r;
        COMMIT;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        IF v_lag IS NULL THEN
            RAISE NOTICE 'handoff_drain: another consumer holds the cursor; stopping after % batches, % rows', v_batches, v_total;
            EXIT;
        END IF;
        v_batches := v_batches OPERATOR(pg_catalog.+) 1;
        v_total := v_total OPERATOR(pg_catalog.+) v_consumed;
        v_emitted := v_emitted OPERATOR(pg_catalog.+) v_e;
        v_captured := v_captured OPERATOR(pg_catalog.+) v_c;
        RAISE NOTICE 'handoff_drain: batch % consumed % rows (% emitted, % captured) in % ms; total % rows; lag %; elapsed %',
            v_batches, v_consumed, v_e, v_c,
            pg_catalog.round(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) v_batch_started)::pg_catalog.numeric OPERATOR(pg_catalog.*) 1000, 1),
            v_total, v_lag, pg_catalog.date_trunc('millisecond', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) v_started);
        -- A short batch means the consumer caught up with a snapshot taken in that batch.
        EXIT WHEN v_consumed OPERATOR(pg_catalog.<) p_batch_size;
    END LOOP;
    RAISE NOTICE 'handoff_drain: done: % batches, % rows, % emitted, % captured, elapsed %',
        v_batches, v_total, v_emitted, v_captured, pg_catalog.date_trunc('millisecond', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) v_started);
END;
$$;

COMMENT ON PROCEDURE birthgate.handoff_drain(IN p_batch_size integer, IN p_max_batches integer) IS 'Drains the handoff backlog for cron jobs: calls handoff_consume(p_batch_size) and COMMITs after every batch, until a batch comes back short (the consumer caught up with a snapshot taken in that batch) or p_max_batches batches ran; RAISE NOTICE per batch (batch n, rows, total, lag, elapsed). CALL it outside an explicit transaction block (it commits). Security invoker without a SET clause because a procedure that commits cannot have either: it pins search_path itself with set_config(..., true) at the start and after every COMMIT, and every name and operator in it is schema-qualified.';

CREATE FUNCTION birthgate.handoff_holding_xact() RETURNS TABLE(holding_txid xid8, holding_pid integer, holding_xact_start timestamp with time zone, holding_application_name text, holding_state text)
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    -- pg_stat_activity is cached per transaction: look at the backends as they are now
    SELECT pg_catalog.pg_stat_clear_snapshot();
    WITH running AS (
        SELECT x.xid FROM pg_catalog.pg_snapshot_xip(pg_catalog.pg_current_snapshot()) AS x (xid)
    ),
    holders AS (
        -- a transaction that holds the cursor row (a consumer inside a long transaction): every waiting row waits for it
        SELECT 1 AS rank, a.backend_xid AS xid, a.pid, a.xact_start, a.application_name,
               'holds the handoff cursor (' OPERATOR(pg_catalog.||) coalesce(a.state, 'unknown') OPERATOR(pg_catalog.||) ')' AS state
        FROM "birthgate"."handoff_cursor" AS hc
        JOIN pg_catalog.pg_stat_activity AS a ON a.backend_xid OPERATOR(pg_catalog.=) hc.xmax
        WHERE hc.consumer_name OPERATOR(pg_catalog.=) 'governance_handoff'
          AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
        UNION ALL
        -- open transactions that wrote changelog rows: their births are handed off once they commit
        SELECT 2, a.backend_xid, a.pid, a.xact_start, a.application_name, a.state
        FROM pg_catalog.pg_locks AS l
        JOIN pg_catalog.pg_stat_activity AS a ON a.pid OPERATOR(pg_catalog.=) l.pid
        WHERE l.locktype OPERATOR(pg_catalog.=) 'relation'
          AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
          AND l.relation OPERATOR(pg_catalog.=) '"birthgate"."registry_changelog"'::pg_catalog.regclass
          AND l.mode OPERATOR(pg_catalog.=) 'RowExclusiveLock'
          AND l.granted
          AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
        UNION ALL
        SELECT 2, p.transaction, NULL::integer, p.prepared, 'prepared transaction ' OPERATOR(pg_catalog.||) p.gid, 'prepared'
        FROM pg_catalog.pg_locks AS l
        -- a prepared transaction keeps its locks under the virtual transaction of the session that
        -- prepared it, without a backend (pid NULL); its transactionid lock names its xid
        JOIN pg_catalog.pg_locks AS t
          ON t.locktype OPERATOR(pg_catalog.=) 'transactionid' AND t.pid IS NULL
         AND t.virtualtransaction OPERATOR(pg_catalog.=) l.virtualtransaction
        JOIN pg_catalog.pg_prepared_xacts AS p
          ON p.transaction OPERATOR(pg_catalog.=) t.transactionid
         AND p.database OPERATOR(pg_catalog.=) pg_catalog.current_database()
        WHERE l.locktype OPERATOR(pg_catalog.=) 'relation'
          AND l.relation OPERATOR(pg_catalog.=) '"birthgate"."registry_changelog"'::pg_catalog.regclass
          AND l.pid IS NULL
    )
    SELECT r.xid, h.pid, h.xact_start, h.application_name, h.state
    FROM holders AS h
    LEFT JOIN running AS r ON pg_catalog.xid(r.xid) OPERATOR(pg_catalog.=) h.xid
    ORDER BY h.rank, h.xact_start NULLS LAST, h.pid
    LIMIT 1;
$$;

COMMENT ON FUNCTION birthgate.handoff_holding_xact() IS 'Who holds handoff rows back: the transaction holding the cursor row (a consumer inside a long transaction; every waiting row waits for it), else the oldest open transaction that has written registry_changelog rows (its births are handed off once it commits): xid, pid, start, application, state. Open transactions elsewhere in the cluster hold nothing back. VOLATILE: it clears the per-transaction pg_stat_activity snapshot, so a long monitoring transaction sees the backends as they are now. Backend details need the schema owner to see pg_stat_activity of other roles (superuser or pg_read_all_stats).';

CREATE FUNCTION birthgate.handoff_horizon() RETURNS xid8
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT pg_catalog.pg_snapshot_xmin(hc.position_snapshot)
    FROM "birthgate"."handoff_cursor" AS hc
    WHERE hc.consumer_name OPERATOR(pg_catalog.=) 'governance_handoff';
$$;

COMMENT ON FUNCTION birthgate.handoff_horizon() IS 'The handoff horizon: xmin of the cursor position snapshot. Every changelog row of a transaction below it has been handed off; above it, the position snapshot says which transactions are done. A transaction that stays open never holds back rows of transactions that committed after it.';

CREATE FUNCTION birthgate.handoff_rewind(p_txid xid8, p_change_id bigint DEFAULT 0) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_consumer constant text := 'governance_handoff';
    v_lo pg_snapshot;
    v_ref pg_snapshot;
    v_after_txid xid8;
    v_after_change_id bigint;
    v_x xid8;
    v_new_lo pg_snapshot;
    v_rows bigint;
BEGIN
    IF p_txid IS NULL OR p_change_id IS NULL OR p_change_id < 0 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG200',
            MESSAGE = 'invalid argument to a handoff function',
            DETAIL = format('handoff_rewind(p_txid => %s, p_change_id => %s): both must be given, p_change_id >= 0', coalesce(p_txid::text, 'NULL'), coalesce(p_change_id::text, 'NULL')),
            HINT = 'p_batch_size must be between 1 and 100000, p_max_batches NULL or at least 1, p_limit between 1 and 1000000; see DETAIL for the value refused.';
    END IF;
    -- waits for a running batch: a rewind never interleaves with one
    SELECT hc.position_snapshot, coalesce(hc.window_snapshot, hc.position_snapshot), hc.window_after_txid, hc.window_after_change_id
    INTO v_lo, v_ref, v_after_txid, v_after_change_id
    FROM "birthgate"."handoff_cursor" AS hc
    WHERE hc.consumer_name = v_consumer
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG201',
            MESSAGE = 'the handoff cursor row is missing',
            DETAIL = format('no row with consumer_name = %L in %s', v_consumer, 'birthgate.handoff_cursor'),
            HINT = 'Re-create it: INSERT INTO handoff_cursor (consumer_name) VALUES (''governance_handoff''); replaying from zero is harmless (upserts by object key, events deduplicated).';
    END IF;
    -- Rows handed off: those of transactions visible in the position snapshot and, while a
    -- window is split, the window's rows up to the last one taken. A point past the last row
    -- taken of an open window would skip the rows between: refused.
    IF v_after_txid IS NOT NULL AND (p_txid, p_change_id) > (v_after_txid, v_after_change_id) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG221',
            MESSAGE = 'handoff_rewind refused: the point is past the last row taken of the open window',
            DETAIL = format('handoff_rewind(%s, %s) is past the last row taken (%s, %s) of the open window %s', p_txid, p_change_id, v_after_txid, v_after_change_id, v_ref),
            HINT = 'Rewind to a point at or before the last row taken: SELECT birthgate.handoff_rewind(position_txid, position_change_id) FROM birthgate.handoff_cursor, or an earlier (txid, change_id); SELECT birthgate.handoff_rewind(''0'') replays everything.';
    END IF;
    -- The replay starts from a position that sees less than the current one: transactions
    -- below X (X = p_txid, at most the position's xmax) count as handed off, except those the
    -- position lists as running. Its window closes at the snapshot that bounds what was
    -- handed off (the open window's, else the position) and starts after (p_txid,
    -- p_change_id): the rows handed off after that point (plus the rest of an open window)
    -- are taken again; what was not handed off stays pending. A rewind never skips a row.
    v_x := LEAST(GREATEST(p_txid, '1'::xid8), pg_snapshot_xmax(v_lo));
    SELECT pg_catalog.format('%s:%s:%s', LEAST(pg_snapshot_xmin(v_lo), v_x), v_x,
                             coalesce(string_agg(x.xid::text, ',' ORDER BY x.xid), ''))::pg_snapshot
    INTO v_new_lo
    FROM pg_snapshot_xip(v_lo) AS x (xid)
    WHERE x.xid < v_x;
    SELECT count(*) INTO v_rows
    FROM "birthgate"."registry_changelog" AS l
    WHERE (l.txid = ANY (ARRAY(SELECT x.xid FROM pg_snapshot_xip(v_new_lo) AS x (xid))) OR l.txid >= v_x)
      AND (l.txid, l.change_id) > (p_txid, p_change_id)
      AND pg_visible_in_snapshot(l.txid, v_ref);
    UPDATE "birthgate"."handoff_cursor" AS hc
    SET position_snapshot = v_new_lo,
        window_snapshot = v_ref,
        window_after_txid = p_txid,
        window_after_change_id = p_change_id,
        window_rows = v_rows,
        window_done = 0,
        position_txid = p_txid,
        position_change_id = p_change_id,
        updated_at = now()
    WHERE hc.consumer_name = v_consumer;
    RETURN v_rows;
END;
$$;

COMMENT ON FUNCTION birthgate.handoff_rewind(p_txid xid8, p_change_id bigint) IS 'Rewinds the handoff cursor so that the next batches replay every changelog row handed off after (p_txid, p_change_id) in (txid, change_id) order, then continue from the current position (replays are harmless: upserts by object key, events deduplicated; rows not yet handed off stay pending, so a rewind never skips one). Returns how many rows will be replayed. Refuses (BG221) a point past the last row taken of a split window. Waits for a running batch.';

CREATE FUNCTION birthgate.handoff_snapshot() RETURNS pg_snapshot
    LANGUAGE sql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT CASE
             WHEN o.own IS NULL OR NOT pg_catalog.pg_visible_in_snapshot(o.own, o.snap) THEN o.snap
             ELSE (SELECT pg_catalog.format('%s:%s:%s',
                              LEAST(pg_catalog.pg_snapshot_xmin(o.snap), o.own),
                              pg_catalog.pg_snapshot_xmax(o.snap),
                              pg_catalog.string_agg(x.xid::text, ',' ORDER BY x.xid))::pg_catalog.pg_snapshot
                   FROM (SELECT s.xid FROM pg_catalog.pg_snapshot_xip(o.snap) AS s (xid)
                         UNION ALL SELECT o.own) AS x)
           END
    FROM (SELECT pg_catalog.pg_current_snapshot() AS snap, pg_catalog.pg_current_xact_id_if_assigned() AS own) AS o;
$$;

COMMENT ON FUNCTION birthgate.handoff_snapshot() IS 'The handoff''s view of the cluster: pg_current_snapshot() with the caller''s own transaction (when it has an xid) counted as still running, so a consumer called inside a transaction that wrote changelog rows never takes those rows before they commit.';

CREATE FUNCTION birthgate.issue_permit(p_collection text, p_entity_code text, p_ttl interval DEFAULT '24:00:00'::interval) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_collection text := p_collection;
    v_family "birthgate"."birth_family"%ROWTYPE;
    v_permit_id bigint;
    v_live record;
    v_born record;
    v_now timestamptz;
    v_expires timestamptz;
BEGIN
    PERFORM "birthgate"."assert_writable"('issue_permit', 'admission');
    SELECT * INTO v_family FROM "birthgate"."birth_family" WHERE collection_name = p_collection;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG100',
            MESSAGE = 'unknown family',
            DETAIL = format('collection %L', pg_catalog.left(p_collection, 100)),
            HINT = format('Register it first: SELECT birthgate.register_family(%L, ''<schema.table>'', ''<code column>'', ''<pattern>'', ''report''); registered collections: SELECT collection_name FROM birthgate.birth_family;', pg_catalog.left(p_collection, 63));
    END IF;
    IF pg_catalog.length(p_entity_code) > v_family.code_max_length THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG152',
            MESSAGE = 'the code is longer than the family allows',
            DETAIL = format('collection %s: code of %s characters (limit %s): %L', p_collection, pg_catalog.length(p_entity_code), v_family.code_max_length, (CASE WHEN pg_catalog.length(p_entity_code) > 100 THEN pg_catalog.left(p_entity_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(p_entity_code)) ELSE p_entity_code END)),
            HINT = format('Use a code of at most %s characters, or raise the limit: SELECT birthgate.set_family_code_limit(%L, %s);', v_family.code_max_length, p_collection, LEAST(pg_catalog.length(p_entity_code), 600));
    END IF;
    IF p_entity_code IS NULL OR p_entity_code = '' OR p_entity_code !~ v_family.code_pattern THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG114',
            MESSAGE = 'the code does not satisfy the family code rule',
            DETAIL = format('collection %s, code %L, pattern %L', p_collection, (CASE WHEN pg_catalog.length(p_entity_code) > 100 THEN pg_catalog.left(p_entity_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(p_entity_code)) ELSE p_entity_code END), v_family.code_pattern),
            HINT = format('Issue permits only for non-empty codes matching %L (SELECT code_pattern FROM birthgate.birth_family WHERE collection_name = %L).', v_family.code_pattern, p_collection);
    END IF;
    IF p_ttl IS NULL OR p_ttl <= interval '0' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG113',
            MESSAGE = 'invalid permit lifetime',
            DETAIL = format('ttl %L for collection %s, code %L', p_ttl, p_collection, (CASE WHEN pg_catalog.length(p_entity_code) > 100 THEN pg_catalog.left(p_entity_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(p_entity_code)) ELSE p_entity_code END)),
            HINT = format('Give a positive lifetime: SELECT birthgate.issue_permit(%L, %L, interval ''24 hours'');', p_collection, (CASE WHEN pg_catalog.length(p_entity_code) > 100 THEN pg_catalog.left(p_entity_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(p_entity_code)) ELSE p_entity_code END));
    END IF;
    v_now := pg_catalog.clock_timestamp();
    BEGIN
        v_expires := v_now + p_ttl;
        IF NOT pg_catalog.isfinite(v_expires) THEN
            RAISE datetime_field_overflow;
        END IF;
    EXCEPTION WHEN datetime_field_overflow THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG155',
            MESSAGE = 'the permit lifetime runs past the end of the timestamp range',
            DETAIL = format('ttl %s from %s for collection %s, code %L', p_ttl, v_now, p_collection, (CASE WHEN pg_catalog.length(p_entity_code) > 100 THEN pg_catalog.left(p_entity_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(p_entity_code)) ELSE p_entity_code END)),
            HINT = format('Give a lifetime that ends within the timestamp range: SELECT birthgate.issue_permit(%L, %L, interval ''30 days'');', p_collection, (CASE WHEN pg_catalog.length(p_entity_code) > 100 THEN pg_catalog.left(p_entity_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(p_entity_code)) ELSE p_entity_code END));
    END;
    SELECT registry_id, status, born_at INTO v_born
      FROM "birthgate"."birth_registry" WHERE collection_name = p_collection AND entity_code = p_entity_code;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG115',
            MESSAGE = 'the code is already in the birth registry',
            DETAIL = format('collection %s, code %L: registry_id %s, %s since %s', p_collection, (CASE WHEN pg_catalog.length(p_entity_code) > 100 THEN pg_catalog.left(p_entity_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(p_entity_code)) ELSE p_entity_code END), v_born.registry_id, v_born.status, v_born.born_at),
            HINT = 'A code is born once; an object that already exists needs no permit. Pick a new code.';
    END IF;

    -- a permit whose lifetime ran out becomes EXPIRED now, so it does not block a new one
    UPDATE "birthgate"."birth_admission_permit" SET state = 'EXPIRED', expired_at = v_now
     WHERE collection_name = p_collection AND entity_code = p_entity_code AND state = 'ISSUED' AND expires_at <= v_now;

    INSERT INTO "birthgate"."birth_admission_permit" (collection_name, entity_code, issued_by, issued_at, expires_at)
    VALUES (p_collection, p_entity_code, COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name, v_now, v_expires)
    ON CONFLICT (collection_name, entity_code) WHERE state = 'ISSUED' DO NOTHING
    RETURNING permit_id INTO v_permit_id;
    IF v_permit_id IS NULL THEN
        SELECT permit_id, issued_by, expires_at INTO v_live
          FROM "birthgate"."birth_admission_permit" WHERE collection_name = p_collection AND entity_code = p_entity_code AND state = 'ISSUED';
        RAISE EXCEPTION USING
            ERRCODE = 'BG110',
            MESSAGE = 'a live permit already exists for this code',
            DETAIL = format('collection %s, code %L: permit %s issued by %I, expires %s', p_collection, (CASE WHEN pg_catalog.length(p_entity_code) > 100 THEN pg_catalog.left(p_entity_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(p_entity_code)) ELSE p_entity_code END), v_live.permit_id, v_live.issued_by, v_live.expires_at),
            HINT = format('Use the live permit %s, or revoke it first: SELECT birthgate.revoke_permit(%s, ''<reason>'');', v_live.permit_id, v_live.permit_id);
    END IF;
    RETURN v_permit_id;
END;
$$;

COMMENT ON FUNCTION birthgate.issue_permit(p_collection text, p_entity_code text, p_ttl interval) IS 'Issues the admission permit for one (collection, code) and returns its permit_id; issued_at is the clock time of the call and expires_at = issued_at + ttl. Refuses an unknown family (BG100), a code longer than the family limit (BG152), a NULL/empty code or one that fails the family pattern (BG114), a non-positive lifetime (BG113) or one past the timestamp range (BG155), a code already in the registry (BG115) and a second live permit (BG110; a lapsed ISSUED permit is marked EXPIRED first).';

CREATE FUNCTION birthgate.metrics_exposition() RETURNS text
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
WITH samples AS (
    SELECT m.metric_order, m.metric, m.metric_type, m.help,
           m.metric || CASE WHEN m.labels = '{}'::jsonb THEN ''
                            ELSE '{' || (SELECT pg_catalog.string_agg(
                                             pg_catalog.format('%s="%s"', l.key,
                                                 pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(l.value, E'\\', E'\\\\'), '"', E'\\"'), E'\n', E'\\n')),
                                             ',' ORDER BY l.key)
                                          FROM pg_catalog.jsonb_each_text(m.labels) AS l) || '}' END
           || ' ' ||
           CASE WHEN m.value = 'Infinity'::float8 THEN '+Inf'
                WHEN m.value = '-Infinity'::float8 THEN '-Inf'
                WHEN m.value = 'NaN'::float8 THEN 'NaN'
                ELSE m.value::text END AS line
      FROM "birthgate"."v_metrics" AS m
), families AS (
    SELECT s.metric_order,
           pg_catalog.format(E'# HELP %s %s\n# TYPE %s %s\n', s.metric,
               pg_catalog.replace(pg_catalog.replace(pg_catalog.min(s.help), E'\\', E'\\\\'), E'\n', E'\\n'),
               s.metric, pg_catalog.min(s.metric_type))
           || pg_catalog.string_agg(s.line || E'\n', '' ORDER BY s.line) AS block
      FROM samples AS s
     GROUP BY s.metric_order, s.metric
)
SELECT coalesce(pg_catalog.string_agg(families.block, '' ORDER BY families.metric_order), '')
  FROM families
$$;

COMMENT ON FUNCTION birthgate.metrics_exposition() IS 'v_metrics in the Prometheus text exposition format (version 0.0.4): # HELP and # TYPE per metric, one line per sample. What `birthgate metrics` prints; for a node_exporter textfile collector, write it to <dir>/birthgate.prom atomically.';

CREATE FUNCTION birthgate.move_family(p_collection text, p_table regclass, p_reason text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_actor name := COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name;
    v_family "birthgate"."birth_family"%ROWTYPE;
    v_from record;
    v_to record;
    v_rel record;
    v_att record;
    v_trigger name;
    v_unsafe text;
    p_code_column name;
BEGIN
    PERFORM "birthgate"."assert_writable"('move_family', 'admission');
    IF p_reason IS NULL OR pg_catalog.btrim(p_reason) = '' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG117',
            MESSAGE = 'a reason is required',
            DETAIL = format('move_family(%L, %s, %L)', pg_catalog.left(p_collection, 100), coalesce((p_table)::text, 'NULL'), p_reason),
            HINT = 'Give a non-empty reason; it is kept for the audit trail.';
    END IF;
    SELECT * INTO v_family FROM "birthgate"."birth_family" WHERE collection_name = p_collection FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG100',
            MESSAGE = 'unknown family',
            DETAIL = format('collection %L', pg_catalog.left(p_collection, 100)),
            HINT = format('Register it first: SELECT birthgate.register_family(%L, ''<schema.table>'', ''<code column>'', ''<pattern>'', ''report''); registered collections: SELECT collection_name FROM birthgate.birth_family;', pg_catalog.left(p_collection, 63));
    END IF;
    IF p_table IS NOT NULL AND EXISTS (SELECT 1 FROM "birthgate"."birth_family" f WHERE f.table_name = p_table AND f.collection_name <> p_collection) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG106',
            MESSAGE = 'the table is already registered under another collection',
            DETAIL = format('table %s is registered as collection %s; refused for collection %s', p_table, (SELECT f.collection_name FROM "birthgate"."birth_family" f WHERE f.table_name = p_table), p_collection),
            HINT = 'A table belongs to one family: re-register it under its existing collection name, or pick another table.';
    END IF;
    IF p_table IS NULL OR v_family.table_name::oid = p_table::oid THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG102',
            MESSAGE = 'the table cannot be governed',
            DETAIL = format('move_family(%L, %s): %s', p_collection, coalesce((p_table)::text, 'NULL'), CASE WHEN p_table IS NULL THEN 'the new table is NULL' ELSE 'the collection is already on that table' END),
            HINT = 'Register an existing ordinary table (not a view, partitioned table, foreign or temporary table, nor a table of the package schema).';
    END IF;
    SELECT k.oid, k.relowner, pg_catalog.format('%I.%I', n.nspname, k.relname) AS ident INTO v_from
      FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace WHERE k.oid = v_family.table_name;
    SELECT k.oid, k.relowner INTO v_to FROM pg_catalog.pg_class k WHERE k.oid = p_table;
    p_code_column := v_family.code_column;
    SELECT k.oid, k.relkind, k.relpersistence, k.relowner, k.relispartition, n.nspname, k.relname,
           EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = k.oid OR i.inhparent = k.oid) AS inherits
      INTO v_rel
      FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
     WHERE k.oid = p_table;
    IF NOT FOUND OR v_rel.relkind <> 'r' OR v_rel.relpersistence = 't' OR v_rel.relispartition OR v_rel.inherits
       OR v_rel.nspname IN ('birthgate', 'pg_catalog', 'information_schema') THEN
        RAISE EXCEPTION USING
                    ERRCODE = 'BG102',
                    MESSAGE = 'the table cannot be governed',
                    DETAIL = format('table %s (oid %s) for collection %s: %s', p_table, p_table::oid, p_collection, CASE WHEN v_rel.oid IS NULL THEN 'does not exist' WHEN v_rel.relispartition THEN 'is a partition (statement triggers with transition tables do not fire for rows routed through its parent)' WHEN v_rel.relkind = 'p' THEN 'is a partitioned table (transition tables cannot be used on its partitions)' WHEN v_rel.relkind <> 'r' THEN format('relkind %L is not an ordinary table', v_rel.relkind) WHEN v_rel.relpersistence = 't' THEN 'is temporary' WHEN v_rel.inherits THEN 'is part of an inheritance tree (statement triggers of a child do not fire for writes through its parent)' ELSE format('lives in schema %I', v_rel.nspname) END),
                    HINT = 'Register an existing ordinary table (not a view, partitioned table, foreign or temporary table, nor a table of the package schema).';
    END IF;
    -- layer 2 plans queries over the table as the package owner: nothing there may run code of its owner
    v_unsafe := "birthgate"."family_relation_unsafe"(p_table);
    IF v_unsafe IS NOT NULL THEN
        RAISE EXCEPTION USING
                    ERRCODE = 'BG160',
                    MESSAGE = 'the table cannot be governed: planning a query over it would run code of its owner, or it has inheritance children',
                    DETAIL = format('table %s for collection %s: %s', p_table, p_collection, pg_catalog.left(v_unsafe, 300)),
                    HINT = format('Remove what DETAIL names (DROP INDEX, DROP STATISTICS, ALTER TABLE ... DROP CONSTRAINT, or ALTER TABLE <child> NO INHERIT %s), or use only pg_catalog functions there; then retry: SELECT birthgate.register_family(%L, %L, %L, ''<pattern>'', ''<mode>'');', p_table, p_collection, p_table::text, p_code_column);
    END IF;
    IF p_code_column IS NULL THEN
        RAISE EXCEPTION USING
                    ERRCODE = 'BG103',
                    MESSAGE = 'invalid code column',
                    DETAIL = format('code column is NULL for table %s (collection %s)', p_table, p_collection),
                    HINT = 'Name an existing, non-generated column of the table whose type is text-like (text, varchar, char, name or a domain over them).';
    END IF;
    SELECT a.attnum, a.attgenerated, a.attcollation, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_name, COALESCE((WITH RECURSIVE d (oid, typtype, typbasetype, depth) AS (
                    SELECT t.oid, t.typtype, t.typbasetype, 0 FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) a.atttypid
                    UNION ALL
                    SELECT t.oid, t.typtype, t.typbasetype, d.depth OPERATOR(pg_catalog.+) 1
                      FROM d JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) d.typbasetype
                     WHERE d.typtype OPERATOR(pg_catalog.=) 'd' AND d.depth OPERATOR(pg_catalog.<) 100)
                SELECT d.oid::pg_catalog.regtype FROM d WHERE d.typtype OPERATOR(pg_catalog.<>) 'd' ORDER BY d.depth LIMIT 1) IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.name'::pg_catalog.regtype), false) AS safe_type
      INTO v_att
      FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
     WHERE a.attrelid = p_table AND a.attname = p_code_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND OR v_att.attgenerated <> '' OR NOT v_att.safe_type THEN
        RAISE EXCEPTION USING
                    ERRCODE = 'BG103',
                    MESSAGE = 'invalid code column',
                    DETAIL = format('column %I of %s (collection %s): %s', p_code_column, p_table, p_collection, CASE WHEN v_att.attnum IS NULL THEN 'does not exist' WHEN v_att.attgenerated <> '' THEN 'is a generated column (BEFORE triggers cannot see its value)' ELSE format('type %s is not text, varchar or name, nor a domain over one of them', v_att.type_name) END),
                    HINT = 'Name an existing, non-generated column of the table whose type is text-like (text, varchar, char, name or a domain over them).';
    END IF;
    -- a nondeterministic collation makes different codes equal in the table, not in the registry (since 000020)
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_collation k WHERE k.oid = v_att.attcollation AND NOT k.collisdeterministic) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG103',
            MESSAGE = 'invalid code column',
            DETAIL = format('column %I of %s (collection %s) has the nondeterministic collation %s: codes the registry keeps apart (e.g. A-1 and a-1) would be equal in the table', p_code_column, p_table, p_collection, (SELECT pg_catalog.format('%I.%I', n.nspname, k.collname) FROM pg_catalog.pg_collation k JOIN pg_catalog.pg_namespace n ON n.oid = k.collnamespace WHERE k.oid = v_att.attcollation)),
            HINT = format('Use a deterministic collation for the code column: ALTER TABLE %s ALTER COLUMN %I TYPE text COLLATE "default"; (keep a case-insensitive lookup in an index on lower(%I) if the application needs one)', p_table, p_code_column, p_code_column);
    END IF;
    IF v_to.oid IS NULL
       OR NOT (pg_catalog.pg_has_role(v_actor, v_to.relowner, 'USAGE') OR pg_catalog.has_table_privilege(v_actor, p_table, 'TRIGGER'))
       OR (v_from.oid IS NOT NULL
           AND NOT (pg_catalog.pg_has_role(v_actor, v_from.relowner, 'USAGE') OR pg_catalog.has_table_privilege(v_actor, v_from.oid, 'TRIGGER'))) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG154',
            MESSAGE = 'a family move needs the owner (or TRIGGER privilege) of both tables',
            DETAIL = format('role %I moving collection %s from %s (owner %s) to %s (owner %s)', v_actor, p_collection, COALESCE(v_from.ident, v_family.table_name::text), COALESCE(pg_catalog.pg_get_userbyid(v_from.relowner)::text, '-'), p_table, COALESCE(pg_catalog.pg_get_userbyid(v_to.relowner)::text, '-')),
            HINT = 'Call move_family as a role that owns, or has TRIGGER on, both the current and the new table (GRANT TRIGGER ON TABLE ... TO ...).';
    END IF;
    IF v_from.oid IS NOT NULL THEN
        PERFORM "birthgate"."birth_lock_table"(v_from.oid::regclass, pg_catalog.format('moving collection %s off %s', p_collection, v_from.ident));
        FOR v_trigger IN
            SELECT t.tgname FROM pg_catalog.pg_trigger t
             WHERE t.tgrelid = v_from.oid AND NOT t.tgisinternal AND t.tgname = ANY (ARRAY['_100_birth_gate', '_110_birth_register', '_120_birth_recode', '_130_birth_truncate', '_900_birth_finalize', '_910_birth_finalize_recode', '_905_birth_finalize_delete']::name[])
        LOOP
            EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', v_trigger, v_from.ident);
        END LOOP;
    END IF;
    INSERT INTO "birthgate"."birth_family_move" (collection_name, from_table, from_table_name, to_table, reason, moved_by)
    VALUES (p_collection, v_family.table_name::oid, COALESCE(v_from.ident, v_family.table_name::text), p_table::oid, p_reason, v_actor);
    UPDATE "birthgate"."birth_family" SET table_name = p_table WHERE collection_name = p_collection;
    PERFORM "birthgate"."birth_family_attach_gates"(p_collection);
END;
$$;

COMMENT ON FUNCTION birthgate.move_family(p_collection text, p_table regclass, p_reason text) IS 'Moves a collection to another table on purpose: needs the owner (or TRIGGER privilege) of both tables (BG154) and a reason; takes the gate triggers off the old table, records the move in birth_family_move and registers the new table with the same column, pattern, mode and limit. v_drift_trigger_state keeps reporting the old table as a governed table without gates while it exists.';

CREATE FUNCTION birthgate.outbox_ack(p_outbox_ids bigint[], p_worker text DEFAULT NULL::text) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_acked integer;
    v_distinct integer;
    v_unknown bigint[];
    v_stale integer;
BEGIN
    PERFORM "birthgate"."assert_writable"('outbox_ack', 'outbox');
    IF p_outbox_ids IS NULL OR array_position(p_outbox_ids, NULL) IS NOT NULL OR cardinality(p_outbox_ids) > 10000 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG503',
            MESSAGE = 'invalid outbox id list',
            DETAIL = format('outbox_ack(p_outbox_ids => %s): %s', CASE WHEN p_outbox_ids IS NULL THEN 'NULL' ELSE format('%s ids', cardinality(p_outbox_ids)) END, CASE WHEN p_outbox_ids IS NULL THEN 'must not be NULL' WHEN cardinality(p_outbox_ids) > 10000 THEN 'at most 10000 ids per call' ELSE 'contains NULL' END),
            HINT = 'Pass a non-NULL array without NULL elements and at most 10000 ids, e.g. SELECT birthgate.outbox_ack(ARRAY[101, 102]::bigint[]);';
    END IF;
    IF p_worker IS NOT NULL AND (btrim(p_worker) = '' OR length(p_worker) > 128) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG500',
            MESSAGE = 'invalid worker name',
            DETAIL = format('outbox_ack(p_worker => %s): must be 1 to 128 characters, not blank (got %s characters)', coalesce(quote_literal(left(p_worker, 100)), 'NULL'), coalesce(length(p_worker)::text, 'NULL')),
            HINT = 'Pass a stable, unique name per worker process, 1 to 128 characters, e.g. SELECT * FROM birthgate.outbox_claim(''mailer@host-1:4711'', 100);';
    END IF;
    IF cardinality(p_outbox_ids) = 0 THEN
        RETURN 0;
    END IF;

    -- Exactly once: only a claimed event still in event_outbox is acknowledged; it leaves
    -- the table in this statement, so a second acknowledgement (or a concurrent one, which
    -- waits for the row and re-checks) finds nothing and counts 0. With p_worker, only the
    -- worker holding the claim can acknowledge it: a worker whose claim expired and was
    -- taken over is refused (0). One receipt row records the delivered ids and their source
    -- changelog rows (the replay guard keeps a replay from emitting them again).
    WITH gone AS (
        DELETE FROM "birthgate"."event_outbox" AS o
        WHERE o.outbox_id = ANY (p_outbox_ids)
          AND o.delivered_at IS NULL
          AND o.claimed_by IS NOT NULL
          AND (p_worker IS NULL OR o.claimed_by = p_worker)
        RETURNING o.outbox_id, o.source_change_id
    )
    INSERT INTO "birthgate"."outbox_receipt" AS r (delivered_at, acked_by, outbox_ids, events, min_outbox_id, max_outbox_id,
                                               source_change_ids, min_source_change_id, max_source_change_id)
    SELECT v_now, p_worker, array_agg(g.outbox_id ORDER BY g.outbox_id), count(*), min(g.outbox_id), max(g.outbox_id),
           array_agg(g.source_change_id ORDER BY g.outbox_id), min(g.source_change_id), max(g.source_change_id)
    FROM gone AS g
    HAVING count(*) > 0
    RETURNING r.events INTO v_acked;
    v_acked := coalesce(v_acked, 0);

    -- every id acknowledged now: nothing to account for (the common case, no more queries)
    IF v_acked = cardinality(p_outbox_ids) THEN
        RETURN v_acked;
    END IF;
    SELECT count(DISTINCT u.id)::integer INTO v_distinct FROM unnest(p_outbox_ids) AS u (id);
    IF v_acked < v_distinct THEN
        SELECT array_agg(u.id ORDER BY u.id) INTO v_unknown
        FROM (SELECT DISTINCT x.id FROM unnest(p_outbox_ids) AS x (id)) AS u
        WHERE NOT EXISTS (SELECT 1 FROM "birthgate"."event_outbox" AS o WHERE o.outbox_id = u.id)
          AND NOT EXISTS (SELECT 1 FROM "birthgate"."event_dead_letter" AS d WHERE d.outbox_id = u.id)
          AND NOT EXISTS (SELECT 1 FROM "birthgate"."outbox_receipt" AS r WHERE int8range(r.min_outbox_id, r.max_outbox_id, '[]') @> u.id AND u.id = ANY (r.outbox_ids));
        IF v_unknown IS NOT NULL THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG504',
                MESSAGE = 'no such event in the outbox or the dead letter table',
                DETAIL = format('outbox_ack: %s of %s ids are neither in %s, %s nor %s: %s', cardinality(v_unknown), v_distinct, 'birthgate.event_outbox', 'birthgate.event_dead_letter', 'birthgate.outbox_receipt', array_to_string(v_unknown[1:10], ', ') || CASE WHEN cardinality(v_unknown) > 10 THEN ', ...' ELSE '' END),
                HINT = 'Acknowledge only outbox_id values this worker received from birthgate.outbox_claim(); nothing was acknowledged by this call: drop the unknown ids (an event acknowledged longer ago than the outbox retention has been purged and needs nothing more) and acknowledge the rest again.';
        END IF;
        IF p_worker IS NOT NULL THEN
            SELECT count(*)::integer INTO v_stale
            FROM "birthgate"."event_outbox" AS o
            WHERE o.outbox_id = ANY (p_outbox_ids)
              AND o.delivered_at IS NULL
              AND o.claimed_by IS DISTINCT FROM p_worker;
            IF v_stale > 0 THEN
                INSERT INTO "birthgate"."outbox_counter" (counter, amount, at) VALUES ('stale_acks', v_stale, v_now);
            END IF;
        END IF;
    END IF;
    RETURN v_acked;
END;
$$;

COMMENT ON FUNCTION birthgate.outbox_ack(p_outbox_ids bigint[], p_worker text) IS 'Acknowledges claimed events as delivered and returns how many were acknowledged by this call: they leave event_outbox and one outbox_receipt row records their ids and source changelog rows (a replay of the handoff does not emit them again while the receipt is retained); an id already acknowledged counts 0, so every event is acknowledged exactly once. Only claimed events are acknowledged: an unclaimed one (never claimed, backing off after a failure) or a dead-lettered one counts 0. With p_worker (recommended: the name given to outbox_claim) the acknowledgement is fenced: an event whose claim expired and was taken over by another worker is refused (counts 0, stays with its new holder, counted as stale_acks in v_outbox_status); the late worker''s delivery then is a duplicate the receiver must tolerate (at-least-once). Without p_worker any current claim is acknowledged. Ids that exist nowhere (never, or their receipt purged after the retention): BG504 and nothing is acknowledged. At most 10000 ids.';

CREATE FUNCTION birthgate.outbox_claim(p_worker text, p_limit integer DEFAULT 100, p_visibility interval DEFAULT '00:00:30'::interval) RETURNS TABLE(outbox_id bigint, event_type text, object_key text, payload jsonb, attempt integer)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
#variable_conflict use_column
DECLARE
    v_now timestamptz := clock_timestamp();
    v_max integer;
BEGIN
    PERFORM "birthgate"."assert_writable"('outbox_claim', 'outbox');
    IF p_worker IS NULL OR btrim(p_worker) = '' OR length(p_worker) > 128 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG500',
            MESSAGE = 'invalid worker name',
            DETAIL = format('outbox_claim(p_worker => %s): must be 1 to 128 characters, not blank (got %s characters)', coalesce(quote_literal(left(p_worker, 100)), 'NULL'), coalesce(length(p_worker)::text, 'NULL')),
            HINT = 'Pass a stable, unique name per worker process, 1 to 128 characters, e.g. SELECT * FROM birthgate.outbox_claim(''mailer@host-1:4711'', 100);';
    END IF;
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG501',
            MESSAGE = 'invalid batch limit',
            DETAIL = format('outbox_claim(p_limit => %s): must be between 1 and 10000', coalesce(p_limit::text, 'NULL')),
            HINT = 'Claim between 1 and 10000 events per call: SELECT * FROM birthgate.outbox_claim(''worker-1'', 100);';
    END IF;
    IF p_visibility IS NULL OR p_visibility <= '0'::interval OR p_visibility > '1 day'::interval THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG502',
            MESSAGE = 'invalid visibility timeout',
            DETAIL = format('outbox_claim(p_visibility => %s): must be above 0 and at most 1 day', coalesce(p_visibility::text, 'NULL')),
            HINT = 'Pass a visibility timeout above 0 and at most 1 day, longer than one delivery takes, e.g. SELECT * FROM birthgate.outbox_claim(''worker-1'', 100, interval ''30 seconds'');';
    END IF;
    SELECT cfg.max_attempts INTO v_max FROM "birthgate"."outbox_config" AS cfg WHERE cfg.singleton;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG510',
            MESSAGE = 'the outbox delivery settings row is missing',
            DETAIL = format('no row in %s', 'birthgate.outbox_config'),
            HINT = 'Re-create it with the defaults: INSERT INTO birthgate.outbox_config DEFAULT VALUES;';
    END IF;

    -- One statement: lock up to p_limit claimable events (SKIP LOCKED: concurrent claimers
    -- take disjoint sets and never wait), dead-letter those whose expired claim was their
    -- last attempt, claim the rest, count what leaves no row behind. The claim changes no
    -- indexed column (a HOT update); events claimed by others keep their place in the index
    -- and are passed over by their unexpired claim_expires_at.
    RETURN QUERY
    WITH cand AS MATERIALIZED (
        SELECT o.outbox_id AS id, o.visible_at AS was_visible_at,
               o.claimed_by IS NOT NULL AS expired,
               o.claimed_by IS NOT NULL AND o.attempts >= v_max AS exhausted
        FROM "birthgate"."event_outbox" AS o
        WHERE o.delivered_at IS NULL
          AND o.visible_at <= v_now
          AND (o.claim_expires_at IS NULL OR o.claim_expires_at <= v_now)
        ORDER BY o.visible_at, o.outbox_id
        LIMIT p_limit
        FOR UPDATE OF o SKIP LOCKED
    ),
    dead AS (
        DELETE FROM "birthgate"."event_outbox" AS o
        USING cand
        WHERE o.outbox_id = cand.id AND cand.exhausted
        RETURNING o.outbox_id, o.event_type, o.object_key, o.born_at, o.payload, o.source_change_id, o.emitted_at,
                  o.released_from_pending, o.attempts, o.errors || jsonb_build_array(jsonb_build_object('attempt', o.attempts, 'at', o.claim_expires_at, 'worker', o.claimed_by, 'error', format('visibility timeout expired: claimed at %s by %s, neither acknowledged nor failed by %s', o.claimed_at, o.claimed_by, o.claim_expires_at))) AS errors,
                  format('visibility timeout expired: claimed at %s by %s, neither acknowledged nor failed by %s', o.claimed_at, o.claimed_by, o.claim_expires_at) AS last_error, o.redrive_count, o.claimed_by
    ),
    dead_lettered AS (
        INSERT INTO "birthgate"."event_dead_letter" (outbox_id, event_type, object_key, born_at, payload, source_change_id, emitted_at, released_from_pending, attempts, errors, last_error, redrive_count, dead_lettered_at, dead_lettered_by)
        SELECT d.outbox_id, d.event_type, d.object_key, d.born_at, d.payload, d.source_change_id, d.emitted_at, d.released_from_pending,
               d.attempts, d.errors, d.last_error, d.redrive_count, v_now, d.claimed_by
        FROM dead AS d
        ON CONFLICT DO NOTHING
        RETURNING 1
    ),
    claimed AS (
        UPDATE "birthgate"."event_outbox" AS o
        SET attempts = o.attempts + 1,
            claimed_by = p_worker,
            claimed_at = v_now,
            claim_expires_at = v_now + p_visibility,
            errors = CASE WHEN cand.expired THEN o.errors || jsonb_build_array(jsonb_build_object('attempt', o.attempts, 'at', o.claim_expires_at, 'worker', o.claimed_by, 'error', format('visibility timeout expired: claimed at %s by %s, neither acknowledged nor failed by %s', o.claimed_at, o.claimed_by, o.claim_expires_at))) ELSE o.errors END,
            last_error = CASE WHEN cand.expired THEN format('visibility timeout expired: claimed at %s by %s, neither acknowledged nor failed by %s', o.claimed_at, o.claimed_by, o.claim_expires_at) ELSE o.last_error END
        FROM cand
        WHERE o.outbox_id = cand.id AND NOT cand.exhausted
        RETURNING o.outbox_id, o.event_type, o.object_key, o.payload, o.attempts, cand.expired, cand.was_visible_at
    ),
    counted AS (
        INSERT INTO "birthgate"."outbox_counter" (counter, amount, at)
        SELECT k.counter, k.amount, v_now
        FROM (VALUES ('dead_lettered', (SELECT count(*) FROM dead_lettered)),
                     ('expired_claims', (SELECT count(*) FROM claimed AS x WHERE x.expired) + (SELECT count(*) FROM dead))) AS k (counter, amount)
        WHERE k.amount > 0
    )
    SELECT x.outbox_id, x.event_type, x.object_key, x.payload, x.attempts
    FROM claimed AS x
    ORDER BY x.was_visible_at, x.outbox_id;
END;
$$;

COMMENT ON FUNCTION birthgate.outbox_claim(p_worker text, p_limit integer, p_visibility interval) IS 'Claims up to p_limit (1..10000) claimable events for worker p_worker with FOR UPDATE SKIP LOCKED (concurrent workers get disjoint sets and never wait) and hides them for p_visibility (above 0, at most 1 day); returns them in the order taken: by visible_at, then outbox_id (new events in emission order; an event whose backoff ended joins behind the events already claimable; an event whose claim expired is claimable again in its old place). attempt counts this claim. A claim neither acknowledged nor failed within p_visibility becomes claimable again; the next claim records the expiry in errors, or moves the event to event_dead_letter when that was its last attempt (so a poison event that crashes its workers ends in the dead letter table). May return fewer than p_limit rows while other workers hold events. No order across workers or per object key: workers must be idempotent.';

CREATE FUNCTION birthgate.outbox_configure(p_max_attempts integer DEFAULT NULL::integer, p_backoff_base interval DEFAULT NULL::interval, p_backoff_max interval DEFAULT NULL::interval, p_retention interval DEFAULT NULL::interval, p_alert_after interval DEFAULT NULL::interval) RETURNS TABLE(max_attempts integer, backoff_base interval, backoff_max interval, retention interval, alert_after interval)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
#variable_conflict use_column
DECLARE
    v_old record;
    v_max_attempts integer;
    v_base interval;
    v_max interval;
    v_retention interval;
    v_alert interval;
BEGIN
    PERFORM "birthgate"."assert_writable"('outbox_configure', 'outbox');
    SELECT cfg.max_attempts, cfg.backoff_base, cfg.backoff_max, cfg.retention, cfg.alert_after INTO v_old
    FROM "birthgate"."outbox_config" AS cfg WHERE cfg.singleton FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG510',
            MESSAGE = 'the outbox delivery settings row is missing',
            DETAIL = format('no row in %s', 'birthgate.outbox_config'),
            HINT = 'Re-create it with the defaults: INSERT INTO birthgate.outbox_config DEFAULT VALUES;';
    END IF;
    v_max_attempts := coalesce(p_max_attempts, v_old.max_attempts);
    v_base := coalesce(p_backoff_base, v_old.backoff_base);
    v_max := coalesce(p_backoff_max, v_old.backoff_max);
    v_retention := coalesce(p_retention, v_old.retention);
    v_alert := coalesce(p_alert_after, v_old.alert_after);
    IF v_max_attempts NOT BETWEEN 1 AND 1000
       OR v_base <= '0'::interval OR v_max < v_base OR v_max > '1 day'::interval
       OR v_retention < '1 minute'::interval OR v_alert <= '0'::interval THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG509',
            MESSAGE = 'invalid outbox delivery setting',
            DETAIL = format('outbox_configure: max_attempts %s, backoff_base %s, backoff_max %s, retention %s, alert_after %s', v_max_attempts, v_base, v_max, v_retention, v_alert),
            HINT = 'Settings: max_attempts 1..1000, backoff_base above 0 and at most backoff_max, backoff_max at most 1 day, retention at least 1 minute, alert_after above 0; e.g. SELECT * FROM birthgate.outbox_configure(p_max_attempts => 12);';
    END IF;
    UPDATE "birthgate"."outbox_config" AS cfg
    SET max_attempts = v_max_attempts, backoff_base = v_base, backoff_max = v_max, retention = v_retention,
        alert_after = v_alert, updated_at = now(), updated_by = session_user
    WHERE cfg.singleton;
    RETURN QUERY SELECT v_max_attempts, v_base, v_max, v_retention, v_alert;
END;
$$;

COMMENT ON FUNCTION birthgate.outbox_configure(p_max_attempts integer, p_backoff_base interval, p_backoff_max interval, p_retention interval, p_alert_after interval) IS 'Changes the outbox delivery settings (NULL keeps a value) and returns them: max_attempts 1..1000, backoff_base above 0, backoff_max between backoff_base and 1 day, retention at least 1 minute, alert_after above 0; anything else BG509 and nothing changes. Applies to the next claim, failure and purge.';

CREATE FUNCTION birthgate.outbox_fail(p_outbox_id bigint, p_error text, p_worker text DEFAULT NULL::text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_cfg record;
    v_row record;
    v_receipt record;
    v_error text;
    v_entry jsonb;
    v_seconds double precision;
BEGIN
    PERFORM "birthgate"."assert_writable"('outbox_fail', 'outbox');
    IF p_outbox_id IS NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG503',
            MESSAGE = 'invalid outbox id list',
            DETAIL = 'outbox_fail(p_outbox_id => NULL): must not be NULL',
            HINT = 'Pass the outbox_id of an event this worker claimed: SELECT birthgate.outbox_fail(101, ''HTTP 503 from the webhook'', ''worker-1'');';
    END IF;
    IF p_error IS NULL OR btrim(p_error) = '' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG505',
            MESSAGE = 'invalid error text',
            DETAIL = format('outbox_fail(%s, p_error => %s): say what went wrong', p_outbox_id, coalesce(quote_literal(left(p_error, 100)), 'NULL')),
            HINT = 'Pass what went wrong as a non-empty text, e.g. SELECT birthgate.outbox_fail(101, ''HTTP 503 from the webhook'');';
    END IF;
    IF p_worker IS NOT NULL AND (btrim(p_worker) = '' OR length(p_worker) > 128) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG500',
            MESSAGE = 'invalid worker name',
            DETAIL = format('outbox_fail(p_worker => %s): must be 1 to 128 characters, not blank (got %s characters)', coalesce(quote_literal(left(p_worker, 100)), 'NULL'), coalesce(length(p_worker)::text, 'NULL')),
            HINT = 'Pass a stable, unique name per worker process, 1 to 128 characters, e.g. SELECT * FROM birthgate.outbox_claim(''mailer@host-1:4711'', 100);';
    END IF;
    SELECT cfg.max_attempts, cfg.backoff_base, cfg.backoff_max INTO v_cfg FROM "birthgate"."outbox_config" AS cfg WHERE cfg.singleton;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG510',
            MESSAGE = 'the outbox delivery settings row is missing',
            DETAIL = format('no row in %s', 'birthgate.outbox_config'),
            HINT = 'Re-create it with the defaults: INSERT INTO birthgate.outbox_config DEFAULT VALUES;';
    END IF;

    SELECT o.outbox_id, o.attempts, o.claimed_by, o.claimed_at, o.delivered_at, o.errors
    INTO v_row
    FROM "birthgate"."event_outbox" AS o
    WHERE o.outbox_id = p_outbox_id
    FOR UPDATE;
    IF NOT FOUND THEN
        IF EXISTS (SELECT 1 FROM "birthgate"."event_dead_letter" AS d WHERE d.outbox_id = p_outbox_id) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG508',
                MESSAGE = 'the event is in the dead letter table',
                DETAIL = format('outbox_fail(%s): the event is in %s', p_outbox_id, 'birthgate.event_dead_letter'),
                HINT = 'Inspect it (SELECT * FROM birthgate.event_dead_letter WHERE outbox_id = ...) and, once the cause is fixed, re-drive it: SELECT birthgate.outbox_redrive(ARRAY[...]::bigint[]);';
        END IF;
        SELECT r.receipt_id, r.delivered_at, r.acked_by INTO v_receipt FROM "birthgate"."outbox_receipt" AS r WHERE int8range(r.min_outbox_id, r.max_outbox_id, '[]') @> p_outbox_id AND p_outbox_id = ANY (r.outbox_ids) LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG507',
                MESSAGE = 'the event has already been acknowledged',
                DETAIL = format('outbox_fail(%s): acknowledged at %s by %s (receipt %s)', p_outbox_id, v_receipt.delivered_at, coalesce(left(v_receipt.acked_by, 100), 'a worker without a name'), v_receipt.receipt_id),
                HINT = 'Nothing to do: the event was delivered (SELECT receipt_id, delivered_at, acked_by FROM birthgate.outbox_receipt WHERE ... = ANY (outbox_ids)).';
        END IF;
        RAISE EXCEPTION USING
            ERRCODE = 'BG504',
            MESSAGE = 'no such event in the outbox or the dead letter table',
            DETAIL = format('outbox_fail(%s): no such event in %s, %s or %s', p_outbox_id, 'birthgate.event_outbox', 'birthgate.event_dead_letter', 'birthgate.outbox_receipt'),
            HINT = 'Fail only outbox_id values this worker received from birthgate.outbox_claim(); an event acknowledged longer ago than the outbox retention has been purged: drop it, nothing more to deliver.';
    END IF;
    IF v_row.delivered_at IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG507',
            MESSAGE = 'the event has already been acknowledged',
            DETAIL = format('outbox_fail(%s): marked delivered at %s', p_outbox_id, v_row.delivered_at),
            HINT = 'Nothing to do: the event was delivered (SELECT receipt_id, delivered_at, acked_by FROM birthgate.outbox_receipt WHERE ... = ANY (outbox_ids)).';
    END IF;
    IF v_row.claimed_by IS NULL OR (p_worker IS NOT NULL AND v_row.claimed_by <> p_worker) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG506',
            MESSAGE = 'the event is not claimed by this worker',
            DETAIL = format('outbox_fail(%s, p_worker => %s): %s', p_outbox_id, coalesce(quote_literal(left(p_worker, 100)), 'NULL'), CASE WHEN v_row.claimed_by IS NULL THEN 'the event is not claimed' ELSE format('claimed by %L since %s', left(v_row.claimed_by, 100), v_row.claimed_at) END),
            HINT = 'Fail only events you hold: claim with birthgate.outbox_claim() and pass the same worker name; after the visibility timeout another worker may have taken the event over, then drop it.';
    END IF;

    v_error := CASE WHEN length(p_error) > 4000
                    THEN left(p_error, 4000) || format(' [truncated: %s characters in all]', length(p_error))
                    ELSE p_error END;
    v_entry := jsonb_build_object('attempt', v_row.attempts, 'at', v_now, 'worker', v_row.claimed_by, 'error', v_error);

    IF v_row.attempts >= v_cfg.max_attempts THEN
        WITH dead AS (
            DELETE FROM "birthgate"."event_outbox" AS o
            WHERE o.outbox_id = p_outbox_id
            RETURNING o.*
        )
        INSERT INTO "birthgate"."event_dead_letter" (outbox_id, event_type, object_key, born_at, payload, source_change_id, emitted_at, released_from_pending, attempts, errors, last_error, redrive_count, dead_lettered_at, dead_lettered_by)
        SELECT d.outbox_id, d.event_type, d.object_key, d.born_at, d.payload, d.source_change_id, d.emitted_at, d.released_from_pending,
               d.attempts, d.errors || jsonb_build_array(v_entry), v_error, d.redrive_count, v_now, d.claimed_by
        FROM dead AS d;
        INSERT INTO "birthgate"."outbox_counter" (counter, amount, at) VALUES ('dead_lettered', 1, v_now);
        RETURN 'dead';
    END IF;

    -- bounded exponential backoff with jitter: base * 2^(attempts - 1), at most backoff_max,
    -- then a random point in [half, full] so that failing workers do not retry in lockstep
    v_seconds := least(extract(epoch FROM v_cfg.backoff_max),
                       extract(epoch FROM v_cfg.backoff_base) * power(2::double precision, least(greatest(v_row.attempts - 1, 0), 62)));
    v_seconds := v_seconds * (0.5 + random() * 0.5);
    UPDATE "birthgate"."event_outbox" AS o
    SET claimed_by = NULL,
        claimed_at = NULL,
        claim_expires_at = NULL,
        visible_at = v_now + make_interval(secs => v_seconds),
        errors = o.errors || jsonb_build_array(v_entry),
        last_error = v_error
    WHERE o.outbox_id = p_outbox_id;
    RETURN 'retry';
END;
$$;

COMMENT ON FUNCTION birthgate.outbox_fail(p_outbox_id bigint, p_error text, p_worker text) IS 'Records a failed delivery of a claimed event: appends {attempt, at, worker, error} to errors (error text kept up to 4000 characters, a longer one is cut and says so), releases the claim and returns ''retry'' (claimable again after a bounded exponential backoff with jitter: backoff_base * 2^(attempts-1), at most backoff_max, jittered into [half, full]) or, when this was attempt max_attempts, ''dead'' (moved to event_dead_letter with every error). With p_worker only the claim holder may fail it. Errors: BG504 unknown id, BG505 empty error text, BG506 not claimed (by this worker), BG507 already acknowledged, BG508 already dead-lettered; nothing changes on error.';

CREATE FUNCTION birthgate.outbox_purge(p_limit integer DEFAULT 10000) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_retention interval;
    v_purged integer;
    v_oldest timestamptz;
    v_newest timestamptz;
    v_through bigint;
BEGIN
    PERFORM "birthgate"."assert_writable"('outbox_purge', 'outbox');
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 1000000 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG501',
            MESSAGE = 'invalid batch limit',
            DETAIL = format('outbox_purge(p_limit => %s): must be between 1 and 1000000', coalesce(p_limit::text, 'NULL')),
            HINT = 'Purge between 1 and 1000000 delivered receipts per call: SELECT birthgate.outbox_purge(10000);';
    END IF;
    SELECT cfg.retention INTO v_retention FROM "birthgate"."outbox_config" AS cfg WHERE cfg.singleton;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG510',
            MESSAGE = 'the outbox delivery settings row is missing',
            DETAIL = format('no row in %s', 'birthgate.outbox_config'),
            HINT = 'Re-create it with the defaults: INSERT INTO birthgate.outbox_config DEFAULT VALUES;';
    END IF;

    -- oldest receipts first through the primary key (receipts are written in time order, so
    -- the ones past the retention sit at the front); whole receipts, until at least p_limit
    -- events are purged: a call returns less than p_limit only when nothing more is due
    WITH due AS (
        SELECT r.receipt_id, sum(r.events) OVER (ORDER BY r.receipt_id) - r.events AS before
        FROM (SELECT x.receipt_id, x.events FROM "birthgate"."outbox_receipt" AS x
              WHERE x.delivered_at < v_now - v_retention
              ORDER BY x.receipt_id
              LIMIT p_limit
              FOR UPDATE SKIP LOCKED) AS r
    ),
    gone AS (
        DELETE FROM "birthgate"."outbox_receipt" AS r
        USING due
        WHERE r.receipt_id = due.receipt_id AND due.before < p_limit
        RETURNING r.events, r.delivered_at, r.max_source_change_id
    )
    SELECT coalesce(sum(g.events), 0)::integer, min(g.delivered_at), max(g.delivered_at), max(g.max_source_change_id)
    INTO v_purged, v_oldest, v_newest, v_through FROM gone AS g;

    IF v_purged > 0 THEN
        INSERT INTO "birthgate"."outbox_counter" (counter, amount, at) VALUES ('purged', v_purged, v_now);
        -- from here on a replay of these changelog rows cannot be recognised (the receipts are gone)
        IF v_through IS NOT NULL THEN
            UPDATE "birthgate"."outbox_config" AS cfg
            SET purged_through_change_id = greatest(cfg.purged_through_change_id, v_through)
            WHERE cfg.singleton AND cfg.purged_through_change_id IS DISTINCT FROM greatest(cfg.purged_through_change_id, v_through);
        END IF;
        RAISE NOTICE 'outbox_purge: % acknowledged events purged (delivered % .. %, retention %)', v_purged, v_oldest, v_newest, v_retention;
    END IF;

    -- keep the counter log small: fold it into one row per counter (rows of transactions
    -- still open are not visible here and stay for the next fold)
    IF (SELECT count(*) FROM (SELECT 1 FROM "birthgate"."outbox_counter" LIMIT 1001) AS n) > 1000 THEN
        WITH folded AS (
            DELETE FROM "birthgate"."outbox_counter" RETURNING counter, amount, at
        )
        INSERT INTO "birthgate"."outbox_counter" (counter, amount, at)
        SELECT f.counter, sum(f.amount), max(f.at) FROM folded AS f GROUP BY f.counter;
    END IF;
    RETURN v_purged;
END;
$$;

COMMENT ON FUNCTION birthgate.outbox_purge(p_limit integer) IS 'Deletes the receipts (outbox_receipt) of acknowledged events delivered longer ago than outbox_config.retention, oldest first, whole receipts until at least p_limit (1..1000000) events are covered, and returns how many events they held (less than p_limit only when nothing more is due); never silently: every purge is counted (v_outbox_status.purged_total, last_purge_at, the purged finding of v_outbox_findings) and raises a NOTICE. Records the highest source changelog row purged (outbox_config.purged_through_change_id): a handoff replay reaching below it can no longer be deduplicated and is reported (replay_past_retention). Call it from cron until it returns less than p_limit. Undelivered and dead-lettered events are never purged; after the purge a repeated acknowledgement of a purged id raises BG504.';

CREATE FUNCTION birthgate.outbox_redrive(p_outbox_ids bigint[] DEFAULT NULL::bigint[]) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_unknown bigint[];
    v_moved integer;
BEGIN
    PERFORM "birthgate"."assert_writable"('outbox_redrive', 'outbox');
    IF p_outbox_ids IS NOT NULL AND (array_position(p_outbox_ids, NULL) IS NOT NULL OR cardinality(p_outbox_ids) > 10000) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG503',
            MESSAGE = 'invalid outbox id list',
            DETAIL = format('outbox_redrive(p_outbox_ids => %s): %s', CASE WHEN p_outbox_ids IS NULL THEN 'NULL' ELSE format('%s ids', cardinality(p_outbox_ids)) END, CASE WHEN p_outbox_ids IS NULL THEN 'must not be NULL' WHEN cardinality(p_outbox_ids) > 10000 THEN 'at most 10000 ids per call' ELSE 'contains NULL' END),
            HINT = 'Pass a non-NULL array without NULL elements and at most 10000 ids, e.g. SELECT birthgate.outbox_ack(ARRAY[101, 102]::bigint[]);';
    END IF;
    IF p_outbox_ids IS NOT NULL THEN
        SELECT array_agg(u.id ORDER BY u.id) INTO v_unknown
        FROM (SELECT DISTINCT x.id FROM unnest(p_outbox_ids) AS x (id)) AS u
        WHERE NOT EXISTS (SELECT 1 FROM "birthgate"."event_dead_letter" AS d WHERE d.outbox_id = u.id)
          AND NOT EXISTS (SELECT 1 FROM "birthgate"."event_outbox" AS o WHERE o.outbox_id = u.id);
        IF v_unknown IS NOT NULL THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG504',
                MESSAGE = 'no such event in the outbox or the dead letter table',
                DETAIL = format('outbox_redrive: %s ids are neither in %s nor in %s: %s', cardinality(v_unknown), 'birthgate.event_dead_letter', 'birthgate.event_outbox', array_to_string(v_unknown[1:10], ', ') || CASE WHEN cardinality(v_unknown) > 10 THEN ', ...' ELSE '' END),
                HINT = 'Use the outbox_id values returned by birthgate.outbox_claim(); an event delivered longer ago than the retention may have been purged (SELECT * FROM birthgate.v_outbox_status).';
        END IF;
    END IF;

    WITH moved AS (
        DELETE FROM "birthgate"."event_dead_letter" AS d
        WHERE p_outbox_ids IS NULL OR d.outbox_id = ANY (p_outbox_ids)
        RETURNING d.*
    ),
    back AS (
        INSERT INTO "birthgate"."event_outbox" (outbox_id, event_type, object_key, born_at, payload, source_change_id, emitted_at, released_from_pending, attempts, errors, last_error, redrive_count, visible_at)
        OVERRIDING SYSTEM VALUE
        SELECT m.outbox_id, m.event_type, m.object_key, m.born_at, m.payload, m.source_change_id, m.emitted_at, m.released_from_pending,
               0, m.errors, m.last_error, m.redrive_count + 1, v_now
        FROM moved AS m
        ORDER BY m.outbox_id
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
    SELECT count(*)::integer INTO v_moved FROM back;
    IF v_moved > 0 THEN
        INSERT INTO "birthgate"."outbox_counter" (counter, amount, at) VALUES ('redriven', v_moved, v_now);
    END IF;
    RETURN v_moved;
END;
$$;

COMMENT ON FUNCTION birthgate.outbox_redrive(p_outbox_ids bigint[]) IS 'Moves dead-lettered events (all of them when p_outbox_ids is NULL) back to event_outbox under their own outbox_id, claimable at once, with attempts reset to 0 and redrive_count + 1; their errors stay. Returns how many moved; an id already back in the outbox counts 0 (repeating a re-drive is harmless); an id in neither table: BG504 and nothing moves. At most 10000 ids.';

CREATE FUNCTION birthgate.register_family(p_collection text, p_table regclass, p_code_column name, p_code_pattern text, p_mode text DEFAULT 'report'::text) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    SELECT "birthgate"."register_family"(p_collection, p_table, p_code_column, p_code_pattern, p_mode, NULL::integer)
$$;

COMMENT ON FUNCTION birthgate.register_family(p_collection text, p_table regclass, p_code_column name, p_code_pattern text, p_mode text) IS 'Registers (or updates) a governed family; the same as register_family(..., p_code_max_length => NULL): a new family gets the default code length limit (256), an existing one keeps its limit. Refuses to re-register a collection onto another table (BG153, see move_family).';

CREATE FUNCTION birthgate.register_family(p_collection text, p_table regclass, p_code_column name, p_code_pattern text, p_mode text, p_code_max_length integer) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    v_actor name := COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name;
    v_rel record;
    v_att record;
    v_old "birthgate"."birth_family"%ROWTYPE;
    v_other text;
    v_unsafe text;
BEGIN
    IF p_collection IS NULL OR p_collection !~ '^[a-z][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG101',
            MESSAGE = 'invalid collection name',
            DETAIL = format('collection %L', pg_catalog.left(p_collection, 100)),
            HINT = 'A collection name is a plain lower-case identifier: ^[a-z][a-z0-9_]{0,62}$ (e.g. dot_tools).';
    END IF;
    IF p_mode IS NULL OR p_mode NOT IN ('off', 'report', 'enforce') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG105',
            MESSAGE = 'invalid family mode',
            DETAIL = format('mode %L for collection %s', pg_catalog.left(p_mode, 100), p_collection),
            HINT = 'Use one of off, report, enforce.';
    END IF;
    IF p_code_max_length IS NOT NULL AND (p_code_max_length < 1 OR p_code_max_length > 600) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG159',
            MESSAGE = 'invalid code length limit',
            DETAIL = format('code length limit %s for collection %s', p_code_max_length, p_collection),
            HINT = 'Give a limit between 1 and 600 characters (the registry index holds at most about 2,700 bytes).';
    END IF;
    IF p_table IS NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG102',
            MESSAGE = 'the table cannot be governed',
            DETAIL = format('table is NULL for collection %s', p_collection),
            HINT = 'Register an existing ordinary table (not a view, partitioned table, foreign or temporary table, nor a table of the package schema).';
    END IF;

    SELECT k.oid, k.relkind, k.relpersistence, k.relowner, k.relispartition, n.nspname, k.relname,
           EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = k.oid OR i.inhparent = k.oid) AS inherits
      INTO v_rel
      FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
     WHERE k.oid = p_table;
    IF NOT FOUND OR v_rel.relkind <> 'r' OR v_rel.relpersistence = 't' OR v_rel.relispartition OR v_rel.inherits
       OR v_rel.nspname IN ('birthgate', 'pg_catalog', 'information_schema') THEN
        RAISE EXCEPTION USING
                    ERRCODE = 'BG102',
                    MESSAGE = 'the table cannot be governed',
                    DETAIL = format('table %s (oid %s) for collection %s: %s', p_table, p_table::oid, p_collection, CASE WHEN v_rel.oid IS NULL THEN 'does not exist' WHEN v_rel.relispartition THEN 'is a partition (statement triggers with transition tables do not fire for rows routed through its parent)' WHEN v_rel.relkind = 'p' THEN 'is a partitioned table (transition tables cannot be used on its partitions)' WHEN v_rel.relkind <> 'r' THEN format('relkind %L is not an ordinary table', v_rel.relkind) WHEN v_rel.relpersistence = 't' THEN 'is temporary' WHEN v_rel.inherits THEN 'is part of an inheritance tree (statement triggers of a child do not fire for writes through its parent)' ELSE format('lives in schema %I', v_rel.nspname) END),
                    HINT = 'Register an existing ordinary table (not a view, partitioned table, foreign or temporary table, nor a table of the package schema).';
    END IF;
    -- layer 2 plans queries over the table as the package owner: nothing there may run code of its owner
    v_unsafe := "birthgate"."family_relation_unsafe"(p_table);
    IF v_unsafe IS NOT NULL THEN
        RAISE EXCEPTION USING
                    ERRCODE = 'BG160',
                    MESSAGE = 'the table cannot be governed: planning a query over it would run code of its owner, or it has inheritance children',
                    DETAIL = format('table %s for collection %s: %s', p_table, p_collection, pg_catalog.left(v_unsafe, 300)),
                    HINT = format('Remove what DETAIL names (DROP INDEX, DROP STATISTICS, ALTER TABLE ... DROP CONSTRAINT, or ALTER TABLE <child> NO INHERIT %s), or use only pg_catalog functions there; then retry: SELECT birthgate.register_family(%L, %L, %L, ''<pattern>'', ''<mode>'');', p_table, p_collection, p_table::text, p_code_column);
    END IF;
    IF NOT pg_catalog.pg_has_role(v_actor, v_rel.relowner, 'USAGE') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG107',
            MESSAGE = 'only the owner of a table can register it as a family',
            DETAIL = format('table %s is owned by %I; caller %I', p_table, pg_catalog.pg_get_userbyid(v_rel.relowner), v_actor),
            HINT = 'Call register_family as the table owner (or a member of the owning role), or ask the owner to do it.';
    END IF;

    IF p_code_column IS NULL THEN
        RAISE EXCEPTION USING
                    ERRCODE = 'BG103',
                    MESSAGE = 'invalid code column',
                    DETAIL = format('code column is NULL for table %s (collection %s)', p_table, p_collection),
                    HINT = 'Name an existing, non-generated column of the table whose type is text-like (text, varchar, char, name or a domain over them).';
    END IF;
    SELECT a.attnum, a.attgenerated, a.attcollation, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_name, COALESCE((WITH RECURSIVE d (oid, typtype, typbasetype, depth) AS (
                    SELECT t.oid, t.typtype, t.typbasetype, 0 FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) a.atttypid
                    UNION ALL
                    SELECT t.oid, t.typtype, t.typbasetype, d.depth OPERATOR(pg_catalog.+) 1
                      FROM d JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) d.typbasetype
                     WHERE d.typtype OPERATOR(pg_catalog.=) 'd' AND d.depth OPERATOR(pg_catalog.<) 100)
                SELECT d.oid::pg_catalog.regtype FROM d WHERE d.typtype OPERATOR(pg_catalog.<>) 'd' ORDER BY d.depth LIMIT 1) IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.name'::pg_catalog.regtype), false) AS safe_type
      INTO v_att
      FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
     WHERE a.attrelid = p_table AND a.attname = p_code_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND OR v_att.attgenerated <> '' OR NOT v_att.safe_type THEN
        RAISE EXCEPTION USING
                    ERRCODE = 'BG103',
                    MESSAGE = 'invalid code column',
                    DETAIL = format('column %I of %s (collection %s): %s', p_code_column, p_table, p_collection, CASE WHEN v_att.attnum IS NULL THEN 'does not exist' WHEN v_att.attgenerated <> '' THEN 'is a generated column (BEFORE triggers cannot see its value)' ELSE format('type %s is not text, varchar or name, nor a domain over one of them', v_att.type_name) END),
                    HINT = 'Name an existing, non-generated column of the table whose type is text-like (text, varchar, char, name or a domain over them).';
    END IF;
    -- a nondeterministic collation makes different codes equal in the table, not in the registry (since 000020)
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_collation k WHERE k.oid = v_att.attcollation AND NOT k.collisdeterministic) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG103',
            MESSAGE = 'invalid code column',
            DETAIL = format('column %I of %s (collection %s) has the nondeterministic collation %s: codes the registry keeps apart (e.g. A-1 and a-1) would be equal in the table', p_code_column, p_table, p_collection, (SELECT pg_catalog.format('%I.%I', n.nspname, k.collname) FROM pg_catalog.pg_collation k JOIN pg_catalog.pg_namespace n ON n.oid = k.collnamespace WHERE k.oid = v_att.attcollation)),
            HINT = format('Use a deterministic collation for the code column: ALTER TABLE %s ALTER COLUMN %I TYPE text COLLATE "default"; (keep a case-insensitive lookup in an index on lower(%I) if the application needs one)', p_table, p_code_column, p_code_column);
    END IF;
    IF p_code_pattern IS NULL OR p_code_pattern = '' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG104',
            MESSAGE = 'invalid code pattern',
            DETAIL = format('pattern %L for collection %s is empty', p_code_pattern, p_collection),
            HINT = 'Give a non-empty POSIX regular expression that PostgreSQL accepts (anchor it, e.g. ^[A-Z]+-[0-9]+$).';
    END IF;
    BEGIN
        PERFORM '' ~ p_code_pattern;
    EXCEPTION WHEN invalid_regular_expression THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG104',
            MESSAGE = 'invalid code pattern',
            DETAIL = format('pattern %L for collection %s: %s', pg_catalog.left(p_code_pattern, 200), p_collection, SQLERRM),
            HINT = 'Give a non-empty POSIX regular expression that PostgreSQL accepts (anchor it, e.g. ^[A-Z]+-[0-9]+$).';
    END;
    IF pg_catalog.left(p_code_pattern, 1) <> '^' OR pg_catalog.right(p_code_pattern, 1) <> '$' THEN
        RAISE NOTICE 'code pattern % of collection % is not anchored (^...$): it matches any code that merely contains a match', p_code_pattern, p_collection;
    END IF;

    -- a concurrent registration of this collection or onto this table may commit while this one runs:
    -- its row makes the INSERT below wait and then fail with a unique violation; look again (since 000024)
    FOR v_try IN 1..3 LOOP
        SELECT f.collection_name INTO v_other FROM "birthgate"."birth_family" f WHERE f.table_name = p_table AND f.collection_name <> p_collection;
        IF FOUND THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG106',
                MESSAGE = 'the table is already registered under another collection',
                DETAIL = format('table %s is registered as collection %s; refused for collection %s', p_table, v_other, p_collection),
                HINT = 'A table belongs to one family: re-register it under its existing collection name, or pick another table.';
        END IF;

        SELECT * INTO v_old FROM "birthgate"."birth_family" WHERE collection_name = p_collection FOR UPDATE;
        IF FOUND AND v_old.table_name::oid <> p_table::oid AND EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = v_old.table_name) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG153',
                MESSAGE = 'the collection is registered on another table; re-registering it elsewhere would un-govern that table',
                DETAIL = format('collection %s is registered on table %s; register_family(%L, %s, ...) would take the gates off it', p_collection, v_old.table_name, p_collection, p_table),
                HINT = format('To move the collection on purpose (needs owner or TRIGGER on both tables): SELECT birthgate.move_family(%L, %L, ''<reason>''); then register_family again to change column, pattern or mode.', p_collection, p_table::text);
        END IF;
        BEGIN
            IF NOT FOUND THEN
                INSERT INTO "birthgate"."birth_family" (collection_name, table_name, code_column, code_pattern, mode, registered_by, mode_changed_by, code_max_length)
                VALUES (p_collection, p_table, p_code_column, p_code_pattern, p_mode, v_actor, v_actor, COALESCE(p_code_max_length, 256));
            ELSIF (v_old.table_name, v_old.code_column, v_old.code_pattern, v_old.mode, v_old.code_max_length)
                  IS DISTINCT FROM (p_table, p_code_column, p_code_pattern, p_mode, COALESCE(p_code_max_length, v_old.code_max_length)) THEN
                -- (the old table is gone: the family simply follows the new one)
                UPDATE "birthgate"."birth_family"
                   SET table_name = p_table,
                       code_column = p_code_column,
                       code_pattern = p_code_pattern,
                       code_max_length = COALESCE(p_code_max_length, code_max_length),
                       mode = p_mode,
                       mode_changed_at = CASE WHEN mode = p_mode THEN mode_changed_at ELSE pg_catalog.now() END,
                       mode_changed_by = CASE WHEN mode = p_mode THEN mode_changed_by ELSE v_actor END
                 WHERE collection_name = p_collection;
            END IF;
            EXIT;
        EXCEPTION WHEN unique_violation THEN
            IF v_try = 3 THEN
                RAISE;
            END IF;
        END;
    END LOOP;
    PERFORM "birthgate"."birth_family_attach_gates"(p_collection);
END;
$_$;

COMMENT ON FUNCTION birthgate.register_family(p_collection text, p_table regclass, p_code_column name, p_code_pattern text, p_mode text, p_code_max_length integer) IS 'Registers (or updates) a governed family with a code length limit (1-600 characters; NULL keeps the current one, 256 for a new family): validates the table (an existing ordinary table the caller owns; not a partition, partitioned or inheritance table), the code column (text, varchar, name or a domain over one at any depth; not generated, not NULL), the pattern and the mode, records it in birth_family and attaches the gate triggers of birth_gate_trigger_definitions (table lock under a bounded lock_timeout, BG156). Idempotent. A collection registered on another existing table is refused (BG153): use move_family.';

CREATE FUNCTION birthgate.release_pending(p_event_type text) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_active boolean;
    v_released integer;
BEGIN
    PERFORM "birthgate"."assert_writable"('release_pending', 'handoff');
    SELECT et.active INTO v_active
    FROM "birthgate"."event_type_registry" AS et
    WHERE et.event_type = p_event_type
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG202',
            MESSAGE = 'event type is not registered',
            DETAIL = format('event type %L is not in event_type_registry', p_event_type),
            HINT = 'Register the type in event_type_registry first (register-before-emit); check the spelling in DETAIL.';
    END IF;
    IF NOT v_active THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG203',
            MESSAGE = 'event type is not active: its captured events stay in event_pending',
            DETAIL = format('event type %L is inactive; %s captured events wait in event_pending', p_event_type, (SELECT count(*) FROM "birthgate"."event_pending" AS p WHERE p.event_type = p_event_type)),
            HINT = 'Activate the type first (set_event_type_active(type, true)), then call release_pending(type) again.';
    END IF;
    WITH moved AS (
        DELETE FROM "birthgate"."event_pending" AS p
        WHERE p.event_type = p_event_type
        RETURNING p.pending_id, p.event_type, p.object_key, p.born_at, p.payload, p.source_change_id
    ),
    released AS (
        INSERT INTO "birthgate"."event_outbox" (event_type, object_key, born_at, payload, source_change_id, released_from_pending)
        SELECT m.event_type, m.object_key, m.born_at, m.payload, m.source_change_id, true
        FROM moved AS m
        ORDER BY m.pending_id
        ON CONFLICT (event_type, object_key, born_at) DO NOTHING
        RETURNING 1
    )
    SELECT count(*)::integer INTO v_released FROM released;
    RETURN v_released;
END;
$$;

COMMENT ON FUNCTION birthgate.release_pending(p_event_type text) IS 'Moves every captured event of an active type from event_pending to event_outbox (released_from_pending = true) in one statement, in capture order, exactly once: the pending row is deleted in the same statement, an event already in the outbox is not written twice. Returns how many were released; 0 on a repeat call. Unknown type: BG202; inactive type: BG203. Serialised with handoff_consume() on the event_type_registry row.';

CREATE FUNCTION birthgate.retire(p_collection text, p_entity_code text, p_reason text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_actor name := COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name;
    v_family "birthgate"."birth_family"%ROWTYPE;
    v_reg "birthgate"."birth_registry"%ROWTYPE;
    v_check record;
BEGIN
    PERFORM "birthgate"."assert_writable"('retire', 'admission');
    IF p_reason IS NULL OR pg_catalog.btrim(p_reason) = '' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG117',
            MESSAGE = 'a reason is required',
            DETAIL = format('retire(%L, %L, %L)', pg_catalog.left(p_collection, 100), (CASE WHEN pg_catalog.length(p_entity_code) > 100 THEN pg_catalog.left(p_entity_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(p_entity_code)) ELSE p_entity_code END), p_reason),
            HINT = format('Give a reason: SELECT birthgate.retire(%L, %L, ''<reason>'');', pg_catalog.left(p_collection, 63), (CASE WHEN pg_catalog.length(p_entity_code) > 100 THEN pg_catalog.left(p_entity_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(p_entity_code)) ELSE p_entity_code END));
    END IF;
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG142',
            MESSAGE = 'retire needs READ COMMITTED isolation',
            DETAIL = format('transaction_isolation is %s', pg_catalog.current_setting('transaction_isolation')),
            HINT = 'Call birthgate.retire() in a READ COMMITTED transaction, so its phantom check sees every row committed before its table lock.';
    END IF;
    SELECT * INTO v_family FROM "birthgate"."birth_family" WHERE collection_name = p_collection;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG100',
            MESSAGE = 'unknown family',
            DETAIL = format('collection %L', pg_catalog.left(p_collection, 100)),
            HINT = format('Register it first: SELECT birthgate.register_family(%L, ''<schema.table>'', ''<code column>'', ''<pattern>'', ''report''); registered collections: SELECT collection_name FROM birthgate.birth_family;', pg_catalog.left(p_collection, 63));
    END IF;
    IF pg_catalog.length(p_entity_code) > v_family.code_max_length THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG152',
            MESSAGE = 'the code is longer than the family allows',
            DETAIL = format('collection %s: code of %s characters (limit %s): %L', p_collection, pg_catalog.length(p_entity_code), v_family.code_max_length, (CASE WHEN pg_catalog.length(p_entity_code) > 100 THEN pg_catalog.left(p_entity_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(p_entity_code)) ELSE p_entity_code END)),
            HINT = format('No code longer than %s characters can be born in %s; list the born codes: SELECT entity_code FROM birthgate.birth_registry WHERE collection_name = %L;', v_family.code_max_length, p_collection, p_collection);
    END IF;
    SELECT * INTO v_reg FROM "birthgate"."birth_registry" WHERE collection_name = p_collection AND entity_code = p_entity_code FOR UPDATE;
    IF NOT FOUND OR v_reg.status <> 'BORN' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG140',
            MESSAGE = 'only a BORN object can be retired',
            DETAIL = format('%s:%L is %s', p_collection, (CASE WHEN pg_catalog.length(p_entity_code) > 100 THEN pg_catalog.left(p_entity_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(p_entity_code)) ELSE p_entity_code END), COALESCE(v_reg.status, 'not in the registry')),
            HINT = 'Check the registry row (SELECT status FROM birthgate.birth_registry WHERE ...): unknown codes cannot be retired and RETIRED is final.';
    END IF;
    -- hold off writers of the family table, so the phantom check below sees every committed row
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = v_family.table_name) THEN
        EXECUTE pg_catalog.format('LOCK TABLE %s IN SHARE MODE', v_family.table_name);
    END IF;
    SELECT * INTO v_check FROM "birthgate"."retire_gate_check"(p_collection, p_entity_code);
    IF NOT v_check.allowed THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG141',
            MESSAGE = 'retire refused by retire_gate_check',
            DETAIL = format('%s:%L: %s', p_collection, (CASE WHEN pg_catalog.length(p_entity_code) > 100 THEN pg_catalog.left(p_entity_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(p_entity_code)) ELSE p_entity_code END), pg_catalog.left(v_check.reason, 300)),
            HINT = format('retire() only retires phantoms: remove the object from its table first, then retry; see SELECT * FROM birthgate.retire_gate_check(%L, %L);', p_collection, (CASE WHEN pg_catalog.length(p_entity_code) > 100 THEN pg_catalog.left(p_entity_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(p_entity_code)) ELSE p_entity_code END));
    END IF;
    WITH retired AS (
        UPDATE "birthgate"."birth_registry"
           SET status = 'RETIRED', retired_at = pg_catalog.now(), retired_by = v_actor, retire_reason = p_reason
         WHERE registry_id = v_reg.registry_id
        RETURNING registry_id, collection_name, entity_code, born_at
    )
    INSERT INTO "birthgate"."registry_changelog" (op, collection_name, entity_code, registry_id, born_at, actor, detail)
    SELECT 'RETIRED', r.collection_name, r.entity_code, r.registry_id, r.born_at, v_actor,
           pg_catalog.jsonb_build_object('reason', p_reason, 'check', v_check.reason)
      FROM retired r;
END;
$$;

COMMENT ON FUNCTION birthgate.retire(p_collection text, p_entity_code text, p_reason text) IS 'BORN -> RETIRED for one object, only when retire_gate_check allows it (a phantom): locks the registry row and the family table (SHARE, so no writer can slip in during the check), then updates the registry and writes a RETIRED changelog row carrying the object''s born_at. Needs READ COMMITTED; refuses everything else with BG140/BG141/BG142 and a HINT.';

CREATE FUNCTION birthgate.retire_gate_check(p_collection text, p_entity_code text) RETURNS TABLE(allowed boolean, reason text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET row_security TO 'off'
    AS $_$
DECLARE
    v_family "birthgate"."birth_family"%ROWTYPE;
    v_reg record;
    v_src record;
    v_live boolean;
BEGIN
    SELECT * INTO v_family FROM "birthgate"."birth_family" f WHERE f.collection_name OPERATOR(pg_catalog.=) p_collection;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, pg_catalog.format('unknown family %L', pg_catalog.left(p_collection, 100));
        RETURN;
    END IF;
    IF pg_catalog.length(p_entity_code) OPERATOR(pg_catalog.>) v_family.code_max_length THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG320',
            MESSAGE = 'the entity code is longer than the family allows',
            DETAIL = pg_catalog.format('collection %s, code of %s characters (limit %s) starting %L', pg_catalog.left(p_collection, 100), pg_catalog.length(p_entity_code), v_family.code_max_length, pg_catalog.left(p_entity_code, 100)),
            HINT = 'Pass the code exactly as it was born (at most the family''s code_max_length characters, 256 unless set); list the born codes with SELECT entity_code FROM birth_registry WHERE collection_name = ...;' || ' ' || pg_catalog.format('SELECT entity_code FROM %I.birth_registry WHERE collection_name = %L;', 'birthgate', pg_catalog.left(p_collection, 100));
    END IF;
    SELECT r.registry_id, r.status, r.retired_at INTO v_reg
      FROM "birthgate"."birth_registry" r
     WHERE r.collection_name OPERATOR(pg_catalog.=) p_collection AND r.entity_code OPERATOR(pg_catalog.=) p_entity_code;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, pg_catalog.format('not born: no registry row for %s:%s', p_collection, pg_catalog.left(p_entity_code, 100));
        RETURN;
    END IF;
    IF v_reg.status OPERATOR(pg_catalog.<>) 'BORN' THEN
        RETURN QUERY SELECT false, pg_catalog.format('%s:%s is already %s (since %s)', p_collection, pg_catalog.left(p_entity_code, 100), v_reg.status, v_reg.retired_at);
        RETURN;
    END IF;
    SELECT * INTO v_src FROM "birthgate"."family_read_source"(v_family.table_name::pg_catalog.oid, v_family.code_column) s;
    IF v_src.state OPERATOR(pg_catalog.=) 'missing' THEN
        RETURN QUERY SELECT true, pg_catalog.format('phantom: the family table (oid %s) no longer exists', v_family.table_name::pg_catalog.oid);
        RETURN;
    ELSIF v_src.state OPERATOR(pg_catalog.<>) 'ok' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG321',
            MESSAGE = 'the family table cannot be read safely with the package rights',
            DETAIL = pg_catalog.format('collection %s, code %L: %s', p_collection, pg_catalog.left(p_entity_code, 100), v_src.reason),
            HINT = 'Nothing was read. Undo what DETAIL names: an ordinary (or partitioned) table whose code column is text, varchar or name (no generated column, no foreign partition, no row-level security the package owner is subject to, no index, CHECK, statistics or partition-key expression using functions outside pg_catalog, no inheritance child), then re-register the family.' || ' ' || pg_catalog.format('Then: SELECT %I.register_family(%L, %L, %L, %L, %L);', 'birthgate', v_family.collection_name, v_src.relation, v_family.code_column, v_family.code_pattern, v_family.mode);
    END IF;
    EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM (%s) t WHERE t.code OPERATOR(pg_catalog.=) $1)', v_src.source)
       INTO v_live USING p_entity_code;
    IF v_live THEN
        RETURN QUERY SELECT false, pg_catalog.format('live: %s still has a row with %I = %L', v_src.relation, v_family.code_column, pg_catalog.left(p_entity_code, 100));
    ELSE
        RETURN QUERY SELECT true, pg_catalog.format('phantom: no row of %s has %I = %L', v_src.relation, v_family.code_column, pg_catalog.left(p_entity_code, 100));
    END IF;
END;
$_$;

COMMENT ON FUNCTION birthgate.retire_gate_check(p_collection text, p_entity_code text) IS 'The retire safety check, callable on its own: allowed only for a BORN object that no longer exists in its family table (a phantom), or whose family table is gone. Refuses unknown families, unknown codes, RETIRED objects and live objects, with the reason. Raises BG320 for a code longer than the family''s code_max_length (default 256) and BG321 when the family table cannot be read without running code of its owner (a view or rule, a foreign table or partition, a code column that is not text/varchar/name, row-level security): it reads only through family_read_source. Runs with row_security = off, so a row-level policy can never hide a live row.';

CREATE FUNCTION birthgate.revoke_permit(p_permit_id bigint, p_reason text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_permit "birthgate"."birth_admission_permit"%ROWTYPE;
BEGIN
    PERFORM "birthgate"."assert_writable"('revoke_permit', 'admission');
    IF p_reason IS NULL OR pg_catalog.btrim(p_reason) = '' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG117',
            MESSAGE = 'a reason is required',
            DETAIL = format('revoke_permit(%s, %L)', coalesce((p_permit_id)::text, 'NULL'), p_reason),
            HINT = format('Give a reason: SELECT birthgate.revoke_permit(%s, ''<reason>'');', coalesce(p_permit_id::text, '<permit_id>'));
    END IF;
    SELECT * INTO v_permit FROM "birthgate"."birth_admission_permit" WHERE permit_id = p_permit_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG111',
            MESSAGE = 'no such permit',
            DETAIL = format('permit_id %s', coalesce((p_permit_id)::text, 'NULL')),
            HINT = 'Pass the permit_id of an existing permit (SELECT permit_id, state FROM birthgate.birth_admission_permit WHERE ...).';
    END IF;
    IF v_permit.state <> 'ISSUED' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG112',
            MESSAGE = 'the permit is not live (ISSUED); CONSUMED, EXPIRED and REVOKED are final',
            DETAIL = format('permit %s (%s:%s) is %s; ISSUED -> REVOKED refused', p_permit_id, v_permit.collection_name, (CASE WHEN pg_catalog.length(v_permit.entity_code) > 100 THEN pg_catalog.left(v_permit.entity_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_permit.entity_code)) ELSE v_permit.entity_code END), v_permit.state),
            HINT = 'Only an ISSUED permit can be consumed, revoked or expired; issue a new permit if the code still needs one.';
    END IF;
    -- clock time after the row lock, never before the permit was issued (it may have been issued
    -- after this transaction began)
    UPDATE "birthgate"."birth_admission_permit"
       SET state = 'REVOKED', revoked_at = GREATEST(pg_catalog.clock_timestamp(), issued_at), revoked_by = COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name, revoke_reason = p_reason
     WHERE permit_id = p_permit_id;
END;
$$;

COMMENT ON FUNCTION birthgate.revoke_permit(p_permit_id bigint, p_reason text) IS 'ISSUED -> REVOKED with a required reason, recording who and when. Any other state is an error (BG112); an unknown permit is BG111.';

CREATE FUNCTION birthgate.set_event_type_active(p_event_type text, p_active boolean) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_was boolean;
BEGIN
    PERFORM "birthgate"."assert_writable"('set_event_type_active', 'handoff');
    IF p_active IS NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG200',
            MESSAGE = 'invalid argument to a handoff function',
            DETAIL = format('set_event_type_active(%L, NULL): p_active must be true or false', p_event_type),
            HINT = 'Pass p_active true (emit to event_outbox) or false (capture in event_pending): SELECT birthgate.set_event_type_active(''handoff.object_born'', true);';
    END IF;
    SELECT et.active INTO v_was
    FROM "birthgate"."event_type_registry" AS et
    WHERE et.event_type = p_event_type
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG202',
            MESSAGE = 'event type is not registered',
            DETAIL = format('event type %L is not in event_type_registry', p_event_type),
            HINT = 'Register the type in event_type_registry first (register-before-emit); check the spelling in DETAIL.';
    END IF;
    IF v_was IS DISTINCT FROM p_active THEN
        UPDATE "birthgate"."event_type_registry" AS et
        SET active = p_active, active_changed_at = now(), active_changed_by = session_user
        WHERE et.event_type = p_event_type;
    END IF;
    RETURN v_was;
END;
$$;

COMMENT ON FUNCTION birthgate.set_event_type_active(p_event_type text, p_active boolean) IS 'Switches an event type active (emit to event_outbox) or inactive (capture to event_pending); records who and when; returns the previous state. Waits for a running handoff batch. Activating does not move captured events: call release_pending(type) for that.';

CREATE FUNCTION birthgate.set_family_code_limit(p_collection text, p_max_length integer) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM "birthgate"."assert_writable"('set_family_code_limit', 'admission');
    IF p_max_length IS NULL OR p_max_length < 1 OR p_max_length > 600 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG159',
            MESSAGE = 'invalid code length limit',
            DETAIL = format('code length limit %s for collection %s', coalesce((p_max_length)::text, 'NULL'), pg_catalog.left(p_collection, 100)),
            HINT = 'Give a limit between 1 and 600 characters (the registry index holds at most about 2,700 bytes).';
    END IF;
    UPDATE "birthgate"."birth_family" SET code_max_length = p_max_length WHERE collection_name = p_collection;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG100',
            MESSAGE = 'unknown family',
            DETAIL = format('collection %L', pg_catalog.left(p_collection, 100)),
            HINT = format('Register it first: SELECT birthgate.register_family(%L, ''<schema.table>'', ''<code column>'', ''<pattern>'', ''report''); registered collections: SELECT collection_name FROM birthgate.birth_family;', pg_catalog.left(p_collection, 63));
    END IF;
    -- the limit is part of the WHEN clause of _100_birth_gate: re-attach it (when the table exists)
    IF EXISTS (SELECT 1 FROM "birthgate"."birth_family" f JOIN pg_catalog.pg_class k ON k.oid = f.table_name
                WHERE f.collection_name = p_collection) THEN
        PERFORM "birthgate"."birth_family_attach_gates"(p_collection);
    END IF;
END;
$$;

COMMENT ON FUNCTION birthgate.set_family_code_limit(p_collection text, p_max_length integer) IS 'Sets the longest code (in characters, 1-600) the family admits: issue_permit, the gates and retire refuse longer codes with BG152. Re-attaches the gate triggers (the limit is part of the WHEN clause of _100_birth_gate; table lock under a bounded lock_timeout, BG156).';

CREATE FUNCTION birthgate.set_family_mode(p_collection text, p_mode text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM "birthgate"."assert_writable"('set_family_mode', 'admission');
    IF p_mode IS NULL OR p_mode NOT IN ('off', 'report', 'enforce') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG105',
            MESSAGE = 'invalid family mode',
            DETAIL = format('mode %L for collection %s', pg_catalog.left(p_mode, 100), pg_catalog.left(p_collection, 100)),
            HINT = format('Use one of off, report, enforce: SELECT birthgate.set_family_mode(%L, ''enforce'');', pg_catalog.left(p_collection, 63));
    END IF;
    UPDATE "birthgate"."birth_family"
       SET mode = p_mode, mode_changed_at = pg_catalog.now(), mode_changed_by = COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name
     WHERE collection_name = p_collection AND mode <> p_mode;
    IF NOT FOUND AND NOT EXISTS (SELECT 1 FROM "birthgate"."birth_family" WHERE collection_name = p_collection) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG100',
            MESSAGE = 'unknown family',
            DETAIL = format('collection %L', pg_catalog.left(p_collection, 100)),
            HINT = format('Register it first: SELECT birthgate.register_family(%L, ''<schema.table>'', ''<code column>'', ''<pattern>'', ''report''); registered collections: SELECT collection_name FROM birthgate.birth_family;', pg_catalog.left(p_collection, 63));
    END IF;
END;
$$;

COMMENT ON FUNCTION birthgate.set_family_mode(p_collection text, p_mode text) IS 'Switches one family between off, report and enforce; records who and when (birth_family.mode_changed_at/by). Setting the current mode again changes nothing.';

CREATE FUNCTION birthgate.sweep_adopt(p_collection text, p_dry_run boolean DEFAULT false, p_batch_size integer DEFAULT NULL::integer, p_max_batches_per_minute integer DEFAULT NULL::integer, p_load_guard boolean DEFAULT true) RETURNS TABLE(status text, sweep_name text, run_id bigint, scanned integer, applied integer, findings integer, rows_done bigint, rows_total_estimated bigint, batches_done bigint, batches_total_estimated bigint, paused_reason text, paused_until timestamp with time zone)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET row_security TO 'off'
    AS $_$
    DECLARE
        v_t0 timestamptz := pg_catalog.clock_timestamp();
        v_actor name := COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name;
        v_kind text;
        v_name text;
        v_collection text;
        v_family record;
        v_src record;
        v_relkind "char";
        v_cur "birthgate"."sweep_cursor";
        v_guard record;
        v_estimate bigint;
        v_scanned integer;
        v_applied integer;
        v_findings integer;
        v_last text;
        v_nulls bigint;
        v_done boolean;
        v_ms numeric;
        v_batch integer;
        v_target numeric;
        v_carry boolean;
        v_indexed boolean;
        v_nocode_index integer := 0;
        v_denied text;
        v_fix text;
    BEGIN
        PERFORM "birthgate"."assert_writable"('sweep_adopt', 'handoff');
        IF p_batch_size IS NOT NULL AND (p_batch_size < 1 OR p_batch_size > 100000) THEN
            RAISE EXCEPTION USING
                    ERRCODE = 'BG600',
                    MESSAGE = 'invalid argument to a sweep function',
                    DETAIL = pg_catalog.format('sweep_adopt(p_batch_size => %s): must be NULL (adaptive) or between 1 and 100000', p_batch_size),
                    HINT = 'p_batch_size must be between 1 and 100000, p_max_batches_per_minute NULL or 1..60000, p_max_batches NULL or at least 1, flags not NULL, thresholds not negative; see DETAIL for the value refused. Example: SELECT * FROM birthgate.sweep_adopt(''my_family'', true, 5000);';
        END IF;
        IF p_max_batches_per_minute IS NOT NULL AND (p_max_batches_per_minute < 1 OR p_max_batches_per_minute > 60000) THEN
            RAISE EXCEPTION USING
                    ERRCODE = 'BG600',
                    MESSAGE = 'invalid argument to a sweep function',
                    DETAIL = pg_catalog.format('sweep_adopt(p_max_batches_per_minute => %s): must be NULL (no limit) or between 1 and 60000', p_max_batches_per_minute),
                    HINT = 'p_batch_size must be between 1 and 100000, p_max_batches_per_minute NULL or 1..60000, p_max_batches NULL or at least 1, flags not NULL, thresholds not negative; see DETAIL for the value refused. Example: SELECT * FROM birthgate.sweep_adopt(''my_family'', true, 5000);';
        END IF;
        IF p_load_guard IS NULL THEN
            RAISE EXCEPTION USING
                    ERRCODE = 'BG600',
                    MESSAGE = 'invalid argument to a sweep function',
                    DETAIL = 'sweep_adopt(p_load_guard => NULL): must be true or false',
                    HINT = 'p_batch_size must be between 1 and 100000, p_max_batches_per_minute NULL or 1..60000, p_max_batches NULL or at least 1, flags not NULL, thresholds not negative; see DETAIL for the value refused. Example: SELECT * FROM birthgate.sweep_adopt(''my_family'', true, 5000);';
        END IF;
        IF p_batch_size IS NULL THEN
            BEGIN
                v_target := EXTRACT(epoch FROM coalesce(NULLIF(pg_catalog.current_setting('birthgate.sweep_batch_target', true), ''), '80 milliseconds')::interval) * 1000;
            EXCEPTION WHEN invalid_text_representation OR invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
                RAISE EXCEPTION USING
                            ERRCODE = 'BG605',
                            MESSAGE = 'a sweep setting cannot be read',
                            DETAIL = pg_catalog.format('%s = %L: %s', 'birthgate.sweep_batch_target', pg_catalog.left(pg_catalog.current_setting('birthgate.sweep_batch_target', true), 100), SQLERRM),
                            HINT = 'Fix or reset the setting named in DETAIL, e.g. ALTER DATABASE current SET birthgate.sweep_max_lock_wait = ''1s''; or RESET it.';
            END;
            IF v_target IS NULL OR v_target < 1 OR v_target > 60000 THEN
                RAISE EXCEPTION USING
                            ERRCODE = 'BG605',
                            MESSAGE = 'a sweep setting cannot be read',
                            DETAIL = pg_catalog.format('%s = %L: must be between 1 millisecond and 1 minute', 'birthgate.sweep_batch_target', pg_catalog.left(pg_catalog.current_setting('birthgate.sweep_batch_target', true), 100)),
                            HINT = 'Fix or reset the setting named in DETAIL, e.g. ALTER DATABASE current SET birthgate.sweep_max_lock_wait = ''1s''; or RESET it.';
            END IF;
        END IF;
        IF p_dry_run IS NULL THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG600',
                MESSAGE = 'invalid argument to a sweep function',
                DETAIL = 'sweep_adopt(p_dry_run => NULL): must be true or false',
                HINT = 'p_batch_size must be between 1 and 100000, p_max_batches_per_minute NULL or 1..60000, p_max_batches NULL or at least 1, flags not NULL, thresholds not negative; see DETAIL for the value refused. Example: SELECT * FROM birthgate.sweep_adopt(''my_family'', true, 5000);';
        END IF;

        SELECT f.collection_name, f.code_column, f.code_pattern, f.mode, f.code_max_length, f.table_name::pg_catalog.oid AS relid,
               f.table_name::pg_catalog.text AS table_text
          INTO v_family
          FROM "birthgate"."birth_family" AS f
         WHERE f.collection_name OPERATOR(pg_catalog.=) p_collection;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG601',
                MESSAGE = 'unknown family',
                DETAIL = pg_catalog.format('collection %L is not in birthgate.birth_family', pg_catalog.left(p_collection, 100)),
                HINT = 'Adopt a registered family: SELECT collection_name FROM birthgate.birth_family; register it first with SELECT birthgate.register_family(...).';
        END IF;

        -- the family table is read only through the shared gate, at every call: it checks, locks
        -- and checks again, and returns the one SELECT of the code that runs no code of its owner.
        -- Locking needs USAGE on the schema (and SELECT on a partitioned parent), which the gate does
        -- not check first: a refusal there is BG608, not a raw 42501.
        BEGIN
            SELECT s.state, s.reason, s.relation, s.source INTO v_src
              FROM "birthgate"."family_read_source"(v_family.relid, v_family.code_column) AS s;
        EXCEPTION WHEN insufficient_privilege THEN
            v_denied := SQLERRM;
        END;
        IF v_denied IS NOT NULL THEN
            SELECT pg_catalog.string_agg(g.stmt, ' ' ORDER BY g.ord, g.stmt) INTO v_fix
              FROM (SELECT DISTINCT 1 AS ord, pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I;', n.nspname, current_user) AS stmt
                      FROM (SELECT v_family.relid AS relid UNION SELECT t.relid FROM pg_catalog.pg_partition_tree(v_family.relid) AS t) AS r
                      JOIN pg_catalog.pg_class AS k ON k.oid OPERATOR(pg_catalog.=) r.relid
                      JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) k.relnamespace
                     WHERE NOT pg_catalog.has_schema_privilege(n.oid, 'USAGE')
                    UNION
                    SELECT 2, pg_catalog.format('GRANT SELECT ON %I.%I TO %I;', n.nspname, k.relname, current_user)
                      FROM (SELECT v_family.relid AS relid UNION SELECT t.relid FROM pg_catalog.pg_partition_tree(v_family.relid) AS t) AS r
                      JOIN pg_catalog.pg_class AS k ON k.oid OPERATOR(pg_catalog.=) r.relid
                      JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) k.relnamespace
                     WHERE NOT pg_catalog.has_table_privilege(k.oid, 'SELECT')) AS g;
            RAISE EXCEPTION USING
                ERRCODE = 'BG608',
                MESSAGE = 'the package owner may not read the family table',
                DETAIL = pg_catalog.format('family %s, table %s, package owner %I: %s', v_family.collection_name, v_family.table_text, current_user, v_denied),
                HINT = 'Nothing was read or written. Adoption reads the family table with the package owner''s rights: it needs USAGE on the table''s schema and SELECT on the table (and on every partition). As the table owner or a superuser, run:' || ' ' || coalesce(v_fix, pg_catalog.format('GRANT SELECT ON %s TO %I;', v_family.table_text, current_user));
        END IF;
        IF v_src.state OPERATOR(pg_catalog.=) 'unsafe' AND v_src.reason LIKE '%may not read%' THEN
            SELECT pg_catalog.string_agg(g.stmt, ' ' ORDER BY g.ord, g.stmt) INTO v_fix
              FROM (SELECT DISTINCT 1 AS ord, pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I;', n.nspname, current_user) AS stmt
                      FROM (SELECT v_family.relid AS relid UNION SELECT t.relid FROM pg_catalog.pg_partition_tree(v_family.relid) AS t) AS r
                      JOIN pg_catalog.pg_class AS k ON k.oid OPERATOR(pg_catalog.=) r.relid
                      JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) k.relnamespace
                     WHERE NOT pg_catalog.has_schema_privilege(n.oid, 'USAGE')
                    UNION
                    SELECT 2, pg_catalog.format('GRANT SELECT ON %I.%I TO %I;', n.nspname, k.relname, current_user)
                      FROM (SELECT v_family.relid AS relid UNION SELECT t.relid FROM pg_catalog.pg_partition_tree(v_family.relid) AS t) AS r
                      JOIN pg_catalog.pg_class AS k ON k.oid OPERATOR(pg_catalog.=) r.relid
                      JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) k.relnamespace
                     WHERE NOT pg_catalog.has_table_privilege(k.oid, 'SELECT')) AS g;
            RAISE EXCEPTION USING
                ERRCODE = 'BG608',
                MESSAGE = 'the package owner may not read the family table',
                DETAIL = pg_catalog.format('family %s, table %s, package owner %I: %s', v_family.collection_name, v_family.table_text, current_user, v_src.reason),
                HINT = 'Nothing was read or written. Adoption reads the family table with the package owner''s rights: it needs USAGE on the table''s schema and SELECT on the table (and on every partition). As the table owner or a superuser, run:' || ' ' || coalesce(v_fix, pg_catalog.format('GRANT SELECT ON %s TO %I;', v_family.table_text, current_user));
        ELSIF v_src.state OPERATOR(pg_catalog.=) 'unsafe' AND v_src.reason LIKE '%has row-level security enabled%' THEN
            SELECT pg_catalog.format('As a superuser: ALTER ROLE %I BYPASSRLS; or, for the adoption only: %s then afterwards: %s', current_user,
                                     pg_catalog.string_agg(pg_catalog.format('ALTER TABLE %I.%I DISABLE ROW LEVEL SECURITY;', n.nspname, k.relname), ' ' ORDER BY n.nspname, k.relname),
                                     pg_catalog.string_agg(pg_catalog.format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY;', n.nspname, k.relname), ' ' ORDER BY n.nspname, k.relname))
              INTO v_fix
              FROM (SELECT v_family.relid AS relid UNION SELECT t.relid FROM pg_catalog.pg_partition_tree(v_family.relid) AS t) AS r
              JOIN pg_catalog.pg_class AS k ON k.oid OPERATOR(pg_catalog.=) r.relid
              JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) k.relnamespace
             WHERE k.relrowsecurity;
            RAISE EXCEPTION USING
                ERRCODE = 'BG609',
                MESSAGE = 'row-level security of the family table applies to the package owner',
                DETAIL = pg_catalog.format('family %s: %s', v_family.collection_name, v_src.reason),
                HINT = 'Nothing was read or written. Adoption must see every row and must not run the table''s policies as the package owner. Either let the package owner bypass row-level security, or switch it off on the table for the adoption only (and back on afterwards):' || ' ' || coalesce(v_fix, pg_catalog.format('As a superuser: ALTER ROLE %I BYPASSRLS;', current_user));
        ELSIF v_src.state OPERATOR(pg_catalog.=) 'missing' THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG602',
                MESSAGE = 'the family table is missing or not an ordinary table',
                DETAIL = pg_catalog.format('family %s: %s', v_family.collection_name, v_src.reason),
                HINT = 'Nothing was read. Adoption reads only ordinary tables, or partitioned tables whose every partition is one (no view, ON SELECT rule, foreign table or materialized view): point the family at one, or check SELECT * FROM birthgate.v_drift_report;' || ' ' || pg_catalog.format('The table is gone; point the family at the table that holds its objects now: SELECT %I.move_family(%L, %L, %L);', 'birthgate', v_family.collection_name, '<schema.table>', 'the table was replaced');
        ELSIF v_src.state OPERATOR(pg_catalog.<>) 'ok' THEN
            SELECT k.relkind INTO v_relkind FROM pg_catalog.pg_class AS k WHERE k.oid OPERATOR(pg_catalog.=) v_family.relid;
            IF v_relkind NOT IN ('r', 'p')
               OR EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree(v_family.relid) AS l
                            JOIN pg_catalog.pg_class AS k ON k.oid OPERATOR(pg_catalog.=) l.relid
                           WHERE l.isleaf AND k.relkind OPERATOR(pg_catalog.<>) 'r') THEN
                RAISE EXCEPTION USING
                    ERRCODE = 'BG602',
                    MESSAGE = 'the family table is missing or not an ordinary table',
                    DETAIL = pg_catalog.format('family %s: %s', v_family.collection_name, v_src.reason),
                    HINT = 'Nothing was read. Adoption reads only ordinary tables, or partitioned tables whose every partition is one (no view, ON SELECT rule, foreign table or materialized view): point the family at one, or check SELECT * FROM birthgate.v_drift_report;' || ' ' || pg_catalog.format('Then: SELECT %I.register_family(%L, %L, %L, %L, %L);', 'birthgate', v_family.collection_name, coalesce(v_src.relation, v_family.table_text), v_family.code_column, v_family.code_pattern, v_family.mode);
            ELSIF v_src.reason LIKE 'code column %' THEN
                RAISE EXCEPTION USING
                    ERRCODE = 'BG603',
                    MESSAGE = 'the family code column is missing or not of a type adoption reads',
                    DETAIL = pg_catalog.format('family %s: %s', v_family.collection_name, v_src.reason),
                    HINT = 'Nothing was read. The code column must exist, not be generated, and be text, varchar or name (or a domain over one); fix the table, then re-register the family.' || ' ' || pg_catalog.format('Then: SELECT %I.register_family(%L, %L, %L, %L, %L);', 'birthgate', v_family.collection_name, v_src.relation, v_family.code_column, v_family.code_pattern, v_family.mode);
            ELSE
                RAISE EXCEPTION USING
                    ERRCODE = 'BG607',
                    MESSAGE = 'the family table cannot be read safely with the package rights',
                    DETAIL = pg_catalog.format('family %s: %s', v_family.collection_name, v_src.reason),
                    HINT = 'Nothing was read. Adoption reads a family table as the package owner: undo what DETAIL names (row-level security the package owner is subject to, no SELECT for it, an index, CHECK, statistics or partition-key expression using functions outside pg_catalog, an inheritance child), then re-register the family.' || ' ' || pg_catalog.format('Then: SELECT %I.register_family(%L, %L, %L, %L, %L);', 'birthgate', v_family.collection_name, v_src.relation, v_family.code_column, v_family.code_pattern, v_family.mode);
            END IF;
        END IF;

        v_kind := CASE WHEN p_dry_run THEN 'adopt_dry_run' ELSE 'adopt' END;
        v_collection := v_family.collection_name;
        v_name := v_kind || ':' || v_collection;
        -- rows estimate: the table's, or the sum over the leaves of a partitioned one
        SELECT CASE WHEN pg_catalog.bool_or(k.reltuples < 0) THEN NULL ELSE pg_catalog.sum(k.reltuples)::bigint END INTO v_estimate
          FROM pg_catalog.pg_class AS k
         WHERE k.oid OPERATOR(pg_catalog.=) v_family.relid AND k.relkind OPERATOR(pg_catalog.=) 'r'
            OR k.oid IN (SELECT l.relid FROM pg_catalog.pg_partition_tree(v_family.relid) AS l WHERE l.isleaf);

        IF NOT EXISTS (SELECT 1 FROM "birthgate"."sweep_cursor" AS sc WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name) THEN
            INSERT INTO "birthgate"."sweep_cursor" (sweep_name, kind, collection_name)
            VALUES (v_name, v_kind, v_collection)
            ON CONFLICT ON CONSTRAINT sweep_cursor_pkey DO NOTHING;
        END IF;
        SELECT sc.* INTO v_cur FROM "birthgate"."sweep_cursor" AS sc WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            -- another worker holds this cursor: do nothing, like a second consumer
            RETURN QUERY SELECT 'skipped'::text, v_name, NULL::bigint, 0, 0, 0, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::text, NULL::timestamptz;
            RETURN;
        END IF;

        -- a finished (or never started) cursor starts a new run; the findings of the previous run go
        IF v_cur.run_id = 0 OR v_cur.finished_at IS NOT NULL THEN
            -- an error recorded after the previous run finished is this run's first batch failing: keep
            -- it, and after a statement timeout start at most at half the usual size
            v_carry := v_cur.last_error_at > coalesce(v_cur.finished_at, '-infinity'::timestamptz);
            v_batch := coalesce(p_batch_size,
                                CASE WHEN v_carry AND v_cur.last_error LIKE '57014%statement timeout%'
                                     THEN LEAST(GREATEST(v_cur.batch_size, 100), 500) END,
                                1000);
            DELETE FROM "birthgate"."sweep_finding" AS f WHERE f.sweep_name OPERATOR(pg_catalog.=) v_name;
            UPDATE "birthgate"."sweep_cursor" AS sc
               SET run_id = pg_catalog.nextval('birthgate.sweep_run_id_seq'::pg_catalog.regclass),
                   run_started_at = v_t0, run_started_by = v_actor, finished_at = NULL,
                   position_code = NULL, position_id = NULL, batch_size = v_batch,
                   batches_done = 0, rows_done = 0, rows_applied = 0, rows_skipped = 0, findings = 0,
                   batches_total_estimated = CASE WHEN v_estimate IS NULL THEN NULL ELSE (v_estimate + v_batch - 1) / v_batch END,
                   rows_total_estimated = v_estimate,
                   error_count = CASE WHEN v_carry THEN 1 ELSE 0 END,
                   last_error = CASE WHEN v_carry THEN v_cur.last_error END,
                   last_error_at = CASE WHEN v_carry THEN v_cur.last_error_at END, dead_lettered = 0,
                   last_batch_at = NULL, last_batch_ms = NULL, max_batch_ms = NULL,
                   paused_reason = NULL, paused_until = NULL, pauses_rate_limit = 0, pauses_load = 0,
                   heartbeat_at = v_t0, updated_at = v_t0
             WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name
            RETURNING sc.* INTO v_cur;
        END IF;
        -- a fixed size, or the adaptive size the previous batch (or a timeout) left in the cursor
        v_batch := coalesce(p_batch_size, LEAST(GREATEST(v_cur.batch_size, 100), 20000), 1000);

        -- rate limit: at most p_max_batches_per_minute batch starts per minute
        IF p_max_batches_per_minute IS NOT NULL AND v_cur.last_batch_at IS NOT NULL
           AND v_cur.last_batch_at + pg_catalog.make_interval(secs => 60.0 / p_max_batches_per_minute) > v_t0 THEN
            UPDATE "birthgate"."sweep_cursor" AS sc
               SET paused_reason = pg_catalog.format('rate limit: %s batches per minute', p_max_batches_per_minute),
                   paused_until = v_cur.last_batch_at + pg_catalog.make_interval(secs => 60.0 / p_max_batches_per_minute),
                   pauses_rate_limit = sc.pauses_rate_limit + 1,
                   heartbeat_at = v_t0, updated_at = v_t0
             WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name
            RETURNING sc.* INTO v_cur;
            RETURN QUERY SELECT 'paused'::text, v_name, v_cur.run_id, 0, 0, 0, v_cur.rows_done, v_cur.rows_total_estimated,
                             v_cur.batches_done, v_cur.batches_total_estimated, v_cur.paused_reason, v_cur.paused_until;
            RETURN;
        END IF;

        -- load guard: pause, do not fail
        IF p_load_guard THEN
            SELECT g.pause, g.reason INTO v_guard FROM "birthgate"."sweep_load_guard"() AS g;
            IF v_guard.pause THEN
                UPDATE "birthgate"."sweep_cursor" AS sc
                   SET paused_reason = 'load guard: ' || v_guard.reason,
                       paused_until = v_t0 + '5 seconds'::interval,
                       pauses_load = sc.pauses_load + 1,
                       heartbeat_at = v_t0, updated_at = v_t0
                 WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name
                RETURNING sc.* INTO v_cur;
                RETURN QUERY SELECT 'paused'::text, v_name, v_cur.run_id, 0, 0, 0, v_cur.rows_done, v_cur.rows_total_estimated,
                             v_cur.batches_done, v_cur.batches_total_estimated, v_cur.paused_reason, v_cur.paused_until;
            RETURN;
            END IF;
        END IF;

        -- without a btree index on the code column (default collation, text operators) in every
        -- relation read, each batch sorts the whole table whatever its size: an adaptive run then
        -- takes the largest batches, and the first batch of the run says so in a finding
        SELECT coalesce(pg_catalog.bool_and(EXISTS (
                   SELECT 1
                     FROM pg_catalog.pg_index AS i
                     JOIN pg_catalog.pg_opclass AS opc ON opc.oid OPERATOR(pg_catalog.=) i.indclass[0]
                     JOIN pg_catalog.pg_am AS am ON am.oid OPERATOR(pg_catalog.=) opc.opcmethod
                    WHERE i.indrelid OPERATOR(pg_catalog.=) k.oid AND i.indisvalid AND i.indpred IS NULL
                      AND i.indkey[0] OPERATOR(pg_catalog.=) a.attnum
                      AND i.indcollation[0] OPERATOR(pg_catalog.=) 100::pg_catalog.oid
                      AND am.amname OPERATOR(pg_catalog.=) 'btree'
                      AND opc.opcintype OPERATOR(pg_catalog.=) 'pg_catalog.text'::pg_catalog.regtype)), false)
          INTO v_indexed
          FROM pg_catalog.pg_class AS k
          JOIN pg_catalog.pg_attribute AS a ON a.attrelid OPERATOR(pg_catalog.=) k.oid AND a.attname OPERATOR(pg_catalog.=) v_family.code_column
         WHERE k.relkind OPERATOR(pg_catalog.=) 'r'
           AND (k.oid OPERATOR(pg_catalog.=) v_family.relid
                OR k.oid IN (SELECT l.relid FROM pg_catalog.pg_partition_tree(v_family.relid) AS l WHERE l.isleaf));
        IF NOT v_indexed AND p_batch_size IS NULL THEN
            v_batch := 20000;
            v_target := NULL;
        END IF;
        IF NOT v_indexed AND v_cur.batches_done OPERATOR(pg_catalog.=) 0 THEN
            INSERT INTO "birthgate"."sweep_finding" (sweep_name, run_id, kind, collection_name, occurrences, detail)
            VALUES (v_name, v_cur.run_id, 'no_code_index', v_collection, 1,
                    pg_catalog.jsonb_build_object('table', v_family.table_text, 'column', v_family.code_column,
                        'note', 'no btree index on the code column (default collation): every batch sorts the whole table',
                        'remedy', pg_catalog.format('CREATE INDEX CONCURRENTLY ON %s (%I);', v_family.table_text, v_family.code_column)));
            v_nocode_index := 1;
        END IF;

        -- the batch: one statement over its codes, reading the family table only through v_src.source.
        -- A privilege revoked since the gate checked it (GRANT/REVOKE take no lock) is BG608 too.
        BEGIN
            IF p_dry_run THEN
                EXECUTE pg_catalog.format('WITH src AS MATERIALIZED (
    SELECT x.code, x.n, pg_catalog.row_number() OVER (ORDER BY x.code) AS ord
      FROM (SELECT t.code, pg_catalog.count(*) AS n
              FROM (%1$s) AS t
             WHERE t.code %2$s
             GROUP BY t.code
             ORDER BY t.code
             LIMIT $2) AS x
),
reg AS (
    SELECT s.code, s.n, s.ord, r.status AS registered_status,
           CASE WHEN s.code OPERATOR(pg_catalog.=) '''' THEN ''empty_code''
                WHEN pg_catalog.length(s.code) OPERATOR(pg_catalog.>) $10 THEN ''oversize_code''
                WHEN s.n OPERATOR(pg_catalog.>) 1 THEN ''duplicate_code''
                WHEN NOT (s.code OPERATOR(pg_catalog.~) $4) THEN ''pattern_mismatch'' END AS finding
      FROM src AS s
      -- one probe of the registry''s unique index per code (LIMIT 1 keeps it a parameterized
      -- index scan; a join could become a hash of the whole registry)
      LEFT JOIN LATERAL (
          SELECT b.status
            FROM "birthgate"."birth_registry" AS b
           WHERE b.entity_code OPERATOR(pg_catalog.=) s.code AND b.collection_name OPERATOR(pg_catalog.=) $3
           LIMIT 1) AS r ON true
),
adopted AS (
    SELECT 1 FROM reg AS g WHERE g.finding IS NULL AND g.registered_status IS NULL
),
found AS (
    INSERT INTO "birthgate"."sweep_finding" (sweep_name, run_id, kind, collection_name, entity_code, code_length, code_md5, occurrences, detail)
    SELECT $7, $6, CASE WHEN g.registered_status OPERATOR(pg_catalog.=) ''RETIRED'' THEN ''retired_present'' ELSE g.finding END, $3,
           pg_catalog.left(g.code, 256), pg_catalog.length(g.code), pg_catalog.md5(g.code), g.n,
           pg_catalog.jsonb_build_object(''table'', $8, ''code_pattern'', $4)
      FROM reg AS g
     WHERE (g.finding IS NOT NULL AND g.registered_status IS NULL) OR g.registered_status OPERATOR(pg_catalog.=) ''RETIRED''
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT pg_catalog.count(*) FROM src)::integer,
       (SELECT pg_catalog.count(*) FROM adopted)::integer,
       (SELECT pg_catalog.count(*) FROM found)::integer,
       (SELECT src.code FROM src ORDER BY src.ord DESC LIMIT 1)', v_src.source,
                                          CASE WHEN v_cur.position_code IS NULL THEN 'IS NOT NULL' ELSE 'OPERATOR(pg_catalog.>) $1' END)
                   INTO v_scanned, v_applied, v_findings, v_last
                  USING v_cur.position_code, v_batch, v_collection, v_family.code_pattern, v_actor, v_cur.run_id, v_name,
                        v_family.table_text, v_family.mode, v_family.code_max_length;
            ELSE
                EXECUTE pg_catalog.format('WITH src AS MATERIALIZED (
    SELECT x.code, x.n, pg_catalog.row_number() OVER (ORDER BY x.code) AS ord
      FROM (SELECT t.code, pg_catalog.count(*) AS n
              FROM (%1$s) AS t
             WHERE t.code %2$s
             GROUP BY t.code
             ORDER BY t.code
             LIMIT $2) AS x
),
reg AS (
    SELECT s.code, s.n, s.ord, r.status AS registered_status,
           CASE WHEN s.code OPERATOR(pg_catalog.=) '''' THEN ''empty_code''
                WHEN pg_catalog.length(s.code) OPERATOR(pg_catalog.>) $10 THEN ''oversize_code''
                WHEN s.n OPERATOR(pg_catalog.>) 1 THEN ''duplicate_code''
                WHEN NOT (s.code OPERATOR(pg_catalog.~) $4) THEN ''pattern_mismatch'' END AS finding
      FROM src AS s
      -- one probe of the registry''s unique index per code (LIMIT 1 keeps it a parameterized
      -- index scan; a join could become a hash of the whole registry)
      LEFT JOIN LATERAL (
          SELECT b.status
            FROM "birthgate"."birth_registry" AS b
           WHERE b.entity_code OPERATOR(pg_catalog.=) s.code AND b.collection_name OPERATOR(pg_catalog.=) $3
           LIMIT 1) AS r ON true
),
ins AS (
    INSERT INTO "birthgate"."birth_registry" (collection_name, entity_code, permit_id, born_by)
    SELECT $3, g.code, NULL, $5
      FROM reg AS g
     WHERE g.finding IS NULL AND g.registered_status IS NULL
     ORDER BY g.ord
    ON CONFLICT (entity_code, collection_name) DO NOTHING
    RETURNING registry_id, entity_code, born_at
),
adopted AS (
    INSERT INTO "birthgate"."registry_changelog" (op, collection_name, entity_code, registry_id, born_at, actor, detail)
    SELECT ''BORN'', $3, i.entity_code, i.registry_id, i.born_at, $5,
           pg_catalog.jsonb_build_object(''adopted'', true, ''adopted_by'', $5, ''run_id'', $6, ''sweep'', $7,
                                         ''table'', $8, ''mode'', $9, ''permit_id'', NULL)
      FROM ins AS i
     ORDER BY i.registry_id
    RETURNING 1
),
found AS (
    INSERT INTO "birthgate"."sweep_finding" (sweep_name, run_id, kind, collection_name, entity_code, code_length, code_md5, occurrences, detail)
    SELECT $7, $6, CASE WHEN g.registered_status OPERATOR(pg_catalog.=) ''RETIRED'' THEN ''retired_present'' ELSE g.finding END, $3,
           pg_catalog.left(g.code, 256), pg_catalog.length(g.code), pg_catalog.md5(g.code), g.n,
           pg_catalog.jsonb_build_object(''table'', $8, ''code_pattern'', $4)
      FROM reg AS g
     WHERE (g.finding IS NOT NULL AND g.registered_status IS NULL) OR g.registered_status OPERATOR(pg_catalog.=) ''RETIRED''
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT pg_catalog.count(*) FROM src)::integer,
       (SELECT pg_catalog.count(*) FROM adopted)::integer,
       (SELECT pg_catalog.count(*) FROM found)::integer,
       (SELECT src.code FROM src ORDER BY src.ord DESC LIMIT 1)', v_src.source,
                                          CASE WHEN v_cur.position_code IS NULL THEN 'IS NOT NULL' ELSE 'OPERATOR(pg_catalog.>) $1' END)
                   INTO v_scanned, v_applied, v_findings, v_last
                  USING v_cur.position_code, v_batch, v_collection, v_family.code_pattern, v_actor, v_cur.run_id, v_name,
                        v_family.table_text, v_family.mode, v_family.code_max_length;
            END IF;
            v_done := v_scanned < v_batch;
            v_findings := v_findings + v_nocode_index;

            -- the end of the keyset: NULL codes (unreachable by it) become one finding row
            IF v_done THEN
                EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM (%s) AS t WHERE t.code IS NULL', v_src.source)
                   INTO v_nulls;
                IF v_nulls > 0 THEN
                    INSERT INTO "birthgate"."sweep_finding" (sweep_name, run_id, kind, collection_name, occurrences, detail)
                    VALUES (v_name, v_cur.run_id, 'null_code', v_collection, v_nulls,
                            pg_catalog.jsonb_build_object('table', v_family.table_text, 'column', v_family.code_column));
                    v_findings := v_findings + 1;
                END IF;
            END IF;
        EXCEPTION WHEN insufficient_privilege THEN
            v_denied := SQLERRM;
        END;
        IF v_denied IS NOT NULL THEN
            SELECT pg_catalog.string_agg(g.stmt, ' ' ORDER BY g.ord, g.stmt) INTO v_fix
              FROM (SELECT DISTINCT 1 AS ord, pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I;', n.nspname, current_user) AS stmt
                      FROM (SELECT v_family.relid AS relid UNION SELECT t.relid FROM pg_catalog.pg_partition_tree(v_family.relid) AS t) AS r
                      JOIN pg_catalog.pg_class AS k ON k.oid OPERATOR(pg_catalog.=) r.relid
                      JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) k.relnamespace
                     WHERE NOT pg_catalog.has_schema_privilege(n.oid, 'USAGE')
                    UNION
                    SELECT 2, pg_catalog.format('GRANT SELECT ON %I.%I TO %I;', n.nspname, k.relname, current_user)
                      FROM (SELECT v_family.relid AS relid UNION SELECT t.relid FROM pg_catalog.pg_partition_tree(v_family.relid) AS t) AS r
                      JOIN pg_catalog.pg_class AS k ON k.oid OPERATOR(pg_catalog.=) r.relid
                      JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) k.relnamespace
                     WHERE NOT pg_catalog.has_table_privilege(k.oid, 'SELECT')) AS g;
            RAISE EXCEPTION USING
                ERRCODE = 'BG608',
                MESSAGE = 'the package owner may not read the family table',
                DETAIL = pg_catalog.format('family %s, table %s, package owner %I: %s', v_family.collection_name, v_family.table_text, current_user, v_denied),
                HINT = 'Nothing was read or written. Adoption reads the family table with the package owner''s rights: it needs USAGE on the table''s schema and SELECT on the table (and on every partition). As the table owner or a superuser, run:' || ' ' || coalesce(v_fix, pg_catalog.format('GRANT SELECT ON %s TO %I;', v_family.table_text, current_user));
        END IF;

        v_ms := pg_catalog.round((EXTRACT(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) v_t0) * 1000)::numeric, 1);
        UPDATE "birthgate"."sweep_cursor" AS sc
           SET position_code = coalesce(v_last, sc.position_code),
               batch_size = CASE WHEN v_target IS NULL THEN v_batch ELSE LEAST(GREATEST(pg_catalog.round(v_batch * pg_catalog.sqrt(v_target / GREATEST(v_ms, 1)))::integer, v_batch / 2, 100), v_batch * 2, 20000) END,
               batches_total_estimated = GREATEST(sc.batches_done + 1,
                   sc.batches_done + 1 + CASE WHEN sc.rows_total_estimated IS NULL OR v_done THEN 0
                                              ELSE (GREATEST(sc.rows_total_estimated - sc.rows_done - v_scanned, 0)
                                                    + (CASE WHEN v_target IS NULL THEN v_batch ELSE LEAST(GREATEST(pg_catalog.round(v_batch * pg_catalog.sqrt(v_target / GREATEST(v_ms, 1)))::integer, v_batch / 2, 100), v_batch * 2, 20000) END) - 1)
                                                   / (CASE WHEN v_target IS NULL THEN v_batch ELSE LEAST(GREATEST(pg_catalog.round(v_batch * pg_catalog.sqrt(v_target / GREATEST(v_ms, 1)))::integer, v_batch / 2, 100), v_batch * 2, 20000) END) END),
               batches_done = sc.batches_done + 1,
               rows_done = sc.rows_done + v_scanned,
               rows_applied = sc.rows_applied + v_applied,
               findings = sc.findings + v_findings,
               rows_total_estimated = GREATEST(sc.rows_total_estimated, sc.rows_done + v_scanned),
               finished_at = CASE WHEN v_done THEN pg_catalog.clock_timestamp() END,
               last_batch_at = v_t0, last_batch_ms = v_ms, max_batch_ms = GREATEST(sc.max_batch_ms, v_ms),
               paused_reason = NULL, paused_until = NULL,
               heartbeat_at = pg_catalog.clock_timestamp(), updated_at = pg_catalog.clock_timestamp()
         WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name
        RETURNING sc.* INTO v_cur;
        IF v_done THEN
            INSERT INTO "birthgate"."sweep_finding" AS f (sweep_name, run_id, kind, collection_name, occurrences, detail)
            SELECT v_name, v_cur.run_id, x.kind, v_collection, x.n, x.detail
              FROM (VALUES ('rate_limited', v_cur.pauses_rate_limit,
                            pg_catalog.jsonb_build_object('pauses', v_cur.pauses_rate_limit, 'note', 'the run waited for its rate limit; nothing was left undone')),
                           ('load_paused', v_cur.pauses_load,
                            pg_catalog.jsonb_build_object('pauses', v_cur.pauses_load, 'note', 'the run paused for the load guard; nothing was left undone')),
                           ('slow_batch', CASE WHEN v_cur.max_batch_ms > 5000 THEN 1 ELSE 0 END,
                            pg_catalog.jsonb_build_object('max_batch_ms', v_cur.max_batch_ms, 'budget_ms', 5000, 'note', 'lower p_batch_size'))) AS x (kind, n, detail)
             WHERE x.n > 0;
        END IF;

        RETURN QUERY SELECT CASE WHEN v_done THEN 'finished' ELSE 'batch' END, v_name, v_cur.run_id, v_scanned, v_applied, v_findings,
                            v_cur.rows_done, v_cur.rows_total_estimated, v_cur.batches_done, v_cur.batches_total_estimated,
                            NULL::text, NULL::timestamptz;
    END;
    $_$;

COMMENT ON FUNCTION birthgate.sweep_adopt(p_collection text, p_dry_run boolean, p_batch_size integer, p_max_batches_per_minute integer, p_load_guard boolean) IS 'One batch of the adoption sweep of a family table, in the caller''s transaction (commit after each; sweep_adopt_run and the CLI do). Keyset over the code column (an index on it keeps each batch short): every code with no registry row is adopted (birth_registry BORN, no permit; a BORN changelog row whose detail says adopted, adopted_by, run_id; the handoff then hands it on) or written to sweep_finding: empty_code, oversize_code (longer than the family''s code_max_length), duplicate_code, pattern_mismatch, retired_present, and at the end null_code (one row, with the count). p_dry_run: findings and would-adopt counts only. Returns status batch | finished | paused (rate limit p_max_batches_per_minute or sweep_load_guard(); see paused_reason/paused_until) | skipped (another worker holds the cursor), and the progress. A call on a finished cursor starts a new run (a re-run adopts only what is new). Reads the family table only through family_read_source, at every call (an ordinary or partitioned table, a code column of text/varchar/name or a domain over one, no row-level security; locked and re-checked): BG602 / BG603 / BG607 instead of running any code of the table owner (row_security off, pg_catalog operators); BG608 (with the GRANT statements in the HINT) when the package owner may not read the table, its schema or a partition, BG609 when row-level security applies to the package owner: never a raw permission error. p_batch_size NULL (the default): each batch is sized to take about birthgate.sweep_batch_target (default 80 ms), the size kept in sweep_cursor.batch_size; without a btree index on the code column every batch sorts the whole table, so an adaptive run takes 20000-row batches and its first batch writes a no_code_index finding with the CREATE INDEX statement.';

CREATE PROCEDURE birthgate.sweep_adopt_run(IN p_collection text, IN p_dry_run boolean DEFAULT false, IN p_batch_size integer DEFAULT NULL::integer, IN p_max_batches integer DEFAULT NULL::integer, IN p_max_batches_per_minute integer DEFAULT NULL::integer, IN p_max_pause interval DEFAULT '00:10:00'::interval, IN p_lock_timeout text DEFAULT '5s'::text)
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_name text := CASE WHEN p_dry_run THEN 'adopt_dry_run:' ELSE 'adopt:' END || p_collection;
    v_started timestamptz := pg_catalog.clock_timestamp();
    v_r record;
    v_batches integer := 0;
    v_rows bigint := 0;
    v_applied bigint := 0;
    v_paused interval := '0'::interval;
    v_failures integer := 0;
    v_state text;
    v_msg text;
    v_detail text;
    v_hint text;
    v_wait double precision;
BEGIN
    IF p_max_batches IS NOT NULL AND p_max_batches < 1 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG600',
            MESSAGE = 'invalid argument to a sweep function',
            DETAIL = pg_catalog.format('sweep_adopt_run(p_max_batches => %s): must be NULL (no limit) or at least 1', p_max_batches),
            HINT = 'p_batch_size must be between 1 and 100000, p_max_batches_per_minute NULL or 1..60000, p_max_batches NULL or at least 1, flags not NULL, thresholds not negative; see DETAIL for the value refused. Example: SELECT * FROM birthgate.sweep_adopt(''my_family'', true, 5000);';
    END IF;
    IF p_max_pause IS NULL OR p_max_pause < '0'::interval THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG600',
            MESSAGE = 'invalid argument to a sweep function',
            DETAIL = pg_catalog.format('sweep_adopt_run(p_max_pause => %s): must not be NULL or negative', p_max_pause),
            HINT = 'p_batch_size must be between 1 and 100000, p_max_batches_per_minute NULL or 1..60000, p_max_batches NULL or at least 1, flags not NULL, thresholds not negative; see DETAIL for the value refused. Example: SELECT * FROM birthgate.sweep_adopt(''my_family'', true, 5000);';
    END IF;
    LOOP
        IF p_max_batches IS NOT NULL AND v_batches >= p_max_batches THEN
            PERFORM "birthgate"."sweep_note"(v_name, 'deferred', pg_catalog.format('stopped after p_max_batches = %s batches', p_max_batches));
            COMMIT;
            RAISE NOTICE '%: stopped after % batches (p_max_batches); the rest is deferred to the next call', v_name, v_batches;
            EXIT;
        END IF;
        -- lock_timeout per batch (a CALL is one statement for statement_timeout; see the comment)
        PERFORM pg_catalog.set_config('lock_timeout', p_lock_timeout, true);
        v_state := NULL;
        BEGIN
            SELECT * INTO v_r FROM "birthgate"."sweep_adopt"(p_collection, p_dry_run, p_batch_size, p_max_batches_per_minute, true);
        EXCEPTION
            WHEN query_canceled THEN
                -- the job's statement_timeout (or a cancel) hit this batch: its work is rolled back;
                -- record it (sweep_note halves the adaptive size after a timeout), commit that, stop
                GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
                IF EXISTS (SELECT 1 FROM "birthgate"."sweep_cursor" AS sc WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name) THEN
                    PERFORM "birthgate"."sweep_note"(v_name, 'error', '57014: ' || v_msg);
                    COMMIT;
                END IF;
                RAISE EXCEPTION USING ERRCODE = 'query_canceled', MESSAGE = v_msg,
                    DETAIL = pg_catalog.format('%s: the batch in flight was rolled back after %s committed batches of this call; recorded in sweep_cursor.last_error (the next adaptive batch is half as large)', v_name, v_batches),
                    HINT = 'The next call resumes from the cursor. A CALL is one statement for statement_timeout: give the job statement_timeout = 0, or bound the call with p_max_batches.';
            WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        END;
        IF v_state IS NOT NULL THEN
            IF v_state LIKE 'BG%' THEN
                -- a deliberate error (bad input, unsafe family): retrying cannot help
                RAISE EXCEPTION USING ERRCODE = v_state, MESSAGE = v_msg, DETAIL = v_detail, HINT = v_hint;
            END IF;
            v_failures := v_failures + 1;
            PERFORM "birthgate"."sweep_note"(v_name, 'error', v_state || ': ' || v_msg);
            COMMIT;
            IF v_failures >= 5 THEN
                RAISE EXCEPTION USING
                    ERRCODE = 'BG606',
                    MESSAGE = 'a sweep batch kept failing; the sweep stopped',
                    DETAIL = pg_catalog.format('%s: %s failures in a row, the last %s: %s', v_name, v_failures, v_state, pg_catalog.left(v_msg, 500)),
                    HINT = 'Read the error in DETAIL and SELECT last_error, error_count FROM birthgate.v_sweep_status; fix the cause, then run the sweep again: it resumes from its cursor.';
            END IF;
            RAISE NOTICE '%: batch failed (% %), retry % in % s', v_name, v_state, v_msg, v_failures, 2 ^ v_failures;
            PERFORM pg_catalog.pg_sleep(2 ^ v_failures);
            CONTINUE;
        END IF;
        COMMIT;
        v_failures := 0;
        IF v_r.status = 'skipped' THEN
            RAISE NOTICE '%: another worker holds the cursor; nothing done', v_name;
            EXIT;
        ELSIF v_r.status = 'paused' THEN
            IF v_paused >= p_max_pause THEN
                PERFORM "birthgate"."sweep_note"(v_name, 'deferred', pg_catalog.format('paused for %s in total (p_max_pause %s); last: %s', v_paused, p_max_pause, v_r.paused_reason));
                COMMIT;
                RAISE NOTICE '%: paused for % (p_max_pause); the rest is deferred to the next call', v_name, v_paused;
                EXIT;
            END IF;
            -- sleep in committed steps of at most 1 s: no snapshot or lock held while waiting
            v_wait := LEAST(GREATEST(EXTRACT(epoch FROM v_r.paused_until - pg_catalog.clock_timestamp()), 0.01), 1.0);
            PERFORM pg_catalog.pg_sleep(v_wait);
            v_paused := v_paused + pg_catalog.make_interval(secs => v_wait);
            COMMIT;
            CONTINUE;
        END IF;
        v_batches := v_batches + 1;
        v_rows := v_rows + v_r.scanned;
        v_applied := v_applied + v_r.applied;
        RAISE NOTICE '%: batch % (% of ~% batches), % rows, % applied, % findings; run total % rows; elapsed %',
            v_name, v_r.batches_done, v_r.batches_done, v_r.batches_total_estimated, v_r.scanned, v_r.applied, v_r.findings,
            v_r.rows_done, pg_catalog.date_trunc('millisecond', pg_catalog.clock_timestamp() - v_started);
        EXIT WHEN v_r.status = 'finished';
    END LOOP;
    RAISE NOTICE '%: done: % batches, % rows, % applied this call, paused %, elapsed %', v_name, v_batches, v_rows, v_applied,
        pg_catalog.date_trunc('millisecond', v_paused), pg_catalog.date_trunc('millisecond', pg_catalog.clock_timestamp() - v_started);
END;
$$;

COMMENT ON PROCEDURE birthgate.sweep_adopt_run(IN p_collection text, IN p_dry_run boolean, IN p_batch_size integer, IN p_max_batches integer, IN p_max_batches_per_minute integer, IN p_max_pause interval, IN p_lock_timeout text) IS 'For pg_cron and psql: runs sweep_adopt batch after batch, COMMIT after each (no long transaction), until the run finishes (p_batch_size NULL, the default: each batch sized to take about the sweep_batch_target setting), another worker holds the cursor, or a bound stops it (p_max_batches, p_max_pause of accumulated rate-limit/load-guard pauses): then a deferred finding says how much is left, and the next call resumes from the cursor. lock_timeout = p_lock_timeout per batch; a statement timeout (or cancel) during a batch is recorded with sweep_note and committed before the CALL ends with it (the next adaptive batch is half as large); a failed batch is retried after 2, 4, 8, 16 s and the fifth failure in a row raises BG606 (each failure in last_error); deliberate BG errors are raised at once. A CALL counts as one statement for statement_timeout: give the job statement_timeout = 0 or bound it with p_max_batches. CALL it outside a transaction block. Security invoker without a SET clause because a procedure that commits cannot have either; every name in it is schema-qualified.';

CREATE FUNCTION birthgate.sweep_backfill(p_batch_size integer DEFAULT NULL::integer, p_max_batches_per_minute integer DEFAULT NULL::integer, p_load_guard boolean DEFAULT true) RETURNS TABLE(status text, sweep_name text, run_id bigint, scanned integer, applied integer, findings integer, rows_done bigint, rows_total_estimated bigint, batches_done bigint, batches_total_estimated bigint, paused_reason text, paused_until timestamp with time zone)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET "TimeZone" TO 'UTC'
    AS $$
DECLARE
    v_t0 timestamptz := pg_catalog.clock_timestamp();
    v_actor name := COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name;
    v_kind text := 'backfill';
    v_name text := 'backfill';
    v_collection text := NULL;
    v_cur "birthgate"."sweep_cursor";
    v_guard record;
    v_estimate bigint;
    v_scanned integer;
    v_applied integer;
    v_skipped integer;
    v_retired integer;
    v_last text;
    v_done boolean;
    v_ms numeric;
    v_batch integer;
    v_target numeric;
    v_carry boolean;
BEGIN
    PERFORM "birthgate"."assert_writable"('sweep_backfill', 'handoff');
    IF p_batch_size IS NOT NULL AND (p_batch_size < 1 OR p_batch_size > 100000) THEN
        RAISE EXCEPTION USING
                ERRCODE = 'BG600',
                MESSAGE = 'invalid argument to a sweep function',
                DETAIL = pg_catalog.format('sweep_backfill(p_batch_size => %s): must be NULL (adaptive) or between 1 and 100000', p_batch_size),
                HINT = 'p_batch_size must be between 1 and 100000, p_max_batches_per_minute NULL or 1..60000, p_max_batches NULL or at least 1, flags not NULL, thresholds not negative; see DETAIL for the value refused. Example: SELECT * FROM birthgate.sweep_adopt(''my_family'', true, 5000);';
    END IF;
    IF p_max_batches_per_minute IS NOT NULL AND (p_max_batches_per_minute < 1 OR p_max_batches_per_minute > 60000) THEN
        RAISE EXCEPTION USING
                ERRCODE = 'BG600',
                MESSAGE = 'invalid argument to a sweep function',
                DETAIL = pg_catalog.format('sweep_backfill(p_max_batches_per_minute => %s): must be NULL (no limit) or between 1 and 60000', p_max_batches_per_minute),
                HINT = 'p_batch_size must be between 1 and 100000, p_max_batches_per_minute NULL or 1..60000, p_max_batches NULL or at least 1, flags not NULL, thresholds not negative; see DETAIL for the value refused. Example: SELECT * FROM birthgate.sweep_adopt(''my_family'', true, 5000);';
    END IF;
    IF p_load_guard IS NULL THEN
        RAISE EXCEPTION USING
                ERRCODE = 'BG600',
                MESSAGE = 'invalid argument to a sweep function',
                DETAIL = 'sweep_backfill(p_load_guard => NULL): must be true or false',
                HINT = 'p_batch_size must be between 1 and 100000, p_max_batches_per_minute NULL or 1..60000, p_max_batches NULL or at least 1, flags not NULL, thresholds not negative; see DETAIL for the value refused. Example: SELECT * FROM birthgate.sweep_adopt(''my_family'', true, 5000);';
    END IF;
    IF p_batch_size IS NULL THEN
        BEGIN
            v_target := EXTRACT(epoch FROM coalesce(NULLIF(pg_catalog.current_setting('birthgate.sweep_batch_target', true), ''), '80 milliseconds')::interval) * 1000;
        EXCEPTION WHEN invalid_text_representation OR invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
            RAISE EXCEPTION USING
                        ERRCODE = 'BG605',
                        MESSAGE = 'a sweep setting cannot be read',
                        DETAIL = pg_catalog.format('%s = %L: %s', 'birthgate.sweep_batch_target', pg_catalog.left(pg_catalog.current_setting('birthgate.sweep_batch_target', true), 100), SQLERRM),
                        HINT = 'Fix or reset the setting named in DETAIL, e.g. ALTER DATABASE current SET birthgate.sweep_max_lock_wait = ''1s''; or RESET it.';
        END;
        IF v_target IS NULL OR v_target < 1 OR v_target > 60000 THEN
            RAISE EXCEPTION USING
                        ERRCODE = 'BG605',
                        MESSAGE = 'a sweep setting cannot be read',
                        DETAIL = pg_catalog.format('%s = %L: must be between 1 millisecond and 1 minute', 'birthgate.sweep_batch_target', pg_catalog.left(pg_catalog.current_setting('birthgate.sweep_batch_target', true), 100)),
                        HINT = 'Fix or reset the setting named in DETAIL, e.g. ALTER DATABASE current SET birthgate.sweep_max_lock_wait = ''1s''; or RESET it.';
        END IF;
    END IF;
    SELECT CASE WHEN k.reltuples < 0 THEN NULL ELSE k.reltuples::bigint END INTO v_estimate
      FROM pg_catalog.pg_class AS k WHERE k.oid OPERATOR(pg_catalog.=) 'birthgate.birth_registry'::pg_catalog.regclass;

    IF NOT EXISTS (SELECT 1 FROM "birthgate"."sweep_cursor" AS sc WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name) THEN
        INSERT INTO "birthgate"."sweep_cursor" (sweep_name, kind, collection_name)
        VALUES (v_name, v_kind, v_collection)
        ON CONFLICT ON CONSTRAINT sweep_cursor_pkey DO NOTHING;
    END IF;
    SELECT sc.* INTO v_cur FROM "birthgate"."sweep_cursor" AS sc WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        -- another worker holds this cursor: do nothing, like a second consumer
        RETURN QUERY SELECT 'skipped'::text, v_name, NULL::bigint, 0, 0, 0, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::text, NULL::timestamptz;
        RETURN;
    END IF;

    -- a finished (or never started) cursor starts a new run; the findings of the previous run go
    IF v_cur.run_id = 0 OR v_cur.finished_at IS NOT NULL THEN
        -- an error recorded after the previous run finished is this run's first batch failing: keep
        -- it, and after a statement timeout start at most at half the usual size
        v_carry := v_cur.last_error_at > coalesce(v_cur.finished_at, '-infinity'::timestamptz);
        v_batch := coalesce(p_batch_size,
                            CASE WHEN v_carry AND v_cur.last_error LIKE '57014%statement timeout%'
                                 THEN LEAST(GREATEST(v_cur.batch_size, 100), 500) END,
                            1000);
        DELETE FROM "birthgate"."sweep_finding" AS f WHERE f.sweep_name OPERATOR(pg_catalog.=) v_name;
        UPDATE "birthgate"."sweep_cursor" AS sc
           SET run_id = pg_catalog.nextval('birthgate.sweep_run_id_seq'::pg_catalog.regclass),
               run_started_at = v_t0, run_started_by = v_actor, finished_at = NULL,
               position_code = NULL, position_id = NULL, batch_size = v_batch,
               batches_done = 0, rows_done = 0, rows_applied = 0, rows_skipped = 0, findings = 0,
               batches_total_estimated = CASE WHEN v_estimate IS NULL THEN NULL ELSE (v_estimate + v_batch - 1) / v_batch END,
               rows_total_estimated = v_estimate,
               error_count = CASE WHEN v_carry THEN 1 ELSE 0 END,
               last_error = CASE WHEN v_carry THEN v_cur.last_error END,
               last_error_at = CASE WHEN v_carry THEN v_cur.last_error_at END, dead_lettered = 0,
               last_batch_at = NULL, last_batch_ms = NULL, max_batch_ms = NULL,
               paused_reason = NULL, paused_until = NULL, pauses_rate_limit = 0, pauses_load = 0,
               heartbeat_at = v_t0, updated_at = v_t0
         WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name
        RETURNING sc.* INTO v_cur;
    END IF;
    -- a fixed size, or the adaptive size the previous batch (or a timeout) left in the cursor
    v_batch := coalesce(p_batch_size, LEAST(GREATEST(v_cur.batch_size, 100), 20000), 1000);

    -- rate limit: at most p_max_batches_per_minute batch starts per minute
    IF p_max_batches_per_minute IS NOT NULL AND v_cur.last_batch_at IS NOT NULL
       AND v_cur.last_batch_at + pg_catalog.make_interval(secs => 60.0 / p_max_batches_per_minute) > v_t0 THEN
        UPDATE "birthgate"."sweep_cursor" AS sc
           SET paused_reason = pg_catalog.format('rate limit: %s batches per minute', p_max_batches_per_minute),
               paused_until = v_cur.last_batch_at + pg_catalog.make_interval(secs => 60.0 / p_max_batches_per_minute),
               pauses_rate_limit = sc.pauses_rate_limit + 1,
               heartbeat_at = v_t0, updated_at = v_t0
         WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name
        RETURNING sc.* INTO v_cur;
        RETURN QUERY SELECT 'paused'::text, v_name, v_cur.run_id, 0, 0, 0, v_cur.rows_done, v_cur.rows_total_estimated,
                         v_cur.batches_done, v_cur.batches_total_estimated, v_cur.paused_reason, v_cur.paused_until;
        RETURN;
    END IF;

    -- load guard: pause, do not fail
    IF p_load_guard THEN
        SELECT g.pause, g.reason INTO v_guard FROM "birthgate"."sweep_load_guard"() AS g;
        IF v_guard.pause THEN
            UPDATE "birthgate"."sweep_cursor" AS sc
               SET paused_reason = 'load guard: ' || v_guard.reason,
                   paused_until = v_t0 + '5 seconds'::interval,
                   pauses_load = sc.pauses_load + 1,
                   heartbeat_at = v_t0, updated_at = v_t0
             WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name
            RETURNING sc.* INTO v_cur;
            RETURN QUERY SELECT 'paused'::text, v_name, v_cur.run_id, 0, 0, 0, v_cur.rows_done, v_cur.rows_total_estimated,
                         v_cur.batches_done, v_cur.batches_total_estimated, v_cur.paused_reason, v_cur.paused_until;
        RETURN;
        END IF;
    END IF;

    -- one set-based write of the objects the consumer has not handed off; a key it inserts
    -- meanwhile makes the plain INSERT fail, and the batch is written again with ON CONFLICT
    BEGIN
        WITH batch AS MATERIALIZED (
            SELECT r.object_key, r.collection_name, r.entity_code, r.status, r.born_at, r.born_txid
              FROM "birthgate"."birth_registry" AS r
             WHERE r.object_key OPERATOR(pg_catalog.>) coalesce(v_cur.position_code, '')
             ORDER BY r.object_key
             LIMIT v_batch
        ),
        bounds AS MATERIALIZED (
            SELECT pg_catalog.min(b.object_key) AS lo, pg_catalog.max(b.object_key) AS hi FROM batch AS b
        ),
        latest AS (
            -- the latest changelog row of every object of the batch: one range of the object_key index
            SELECT DISTINCT ON (l.object_key) l.object_key, l.change_id, l.txid, l.changed_at
              FROM "birthgate"."registry_changelog" AS l
             WHERE l.object_key OPERATOR(pg_catalog.>=) (SELECT bounds.lo FROM bounds)
               AND l.object_key OPERATOR(pg_catalog.<=) (SELECT bounds.hi FROM bounds)
             ORDER BY l.object_key, l.change_id DESC
        ),
        present AS (
            -- what the consumer (or an earlier run) already seeded: one range of the primary key
            SELECT g.object_key
              FROM "birthgate"."governance_candidate_state" AS g
             WHERE g.object_key OPERATOR(pg_catalog.>=) (SELECT bounds.lo FROM bounds)
               AND g.object_key OPERATOR(pg_catalog.<=) (SELECT bounds.hi FROM bounds)
        ),
        seeded AS (
            INSERT INTO "birthgate"."governance_candidate_state"
                (object_key, collection_name, entity_code, registry_status, born_at, dirty, marked_at, source_change_id, source_txid)
            SELECT b.object_key, b.collection_name, b.entity_code, 'BORN', b.born_at, true,
                   coalesce(lc.changed_at, b.born_at), coalesce(lc.change_id, 0), coalesce(lc.txid, b.born_txid)
              FROM batch AS b
              LEFT JOIN latest AS lc ON lc.object_key OPERATOR(pg_catalog.=) b.object_key
              LEFT JOIN present AS p ON p.object_key OPERATOR(pg_catalog.=) b.object_key
             WHERE b.status OPERATOR(pg_catalog.=) 'BORN' AND p.object_key IS NULL
             ORDER BY b.object_key
            RETURNING 1
        )
        SELECT (SELECT pg_catalog.count(*) FROM batch)::integer,
               (SELECT pg_catalog.count(*) FROM seeded)::integer,
               (SELECT pg_catalog.count(*) FROM batch AS b WHERE b.status OPERATOR(pg_catalog.=) 'RETIRED')::integer,
               (SELECT bounds.hi FROM bounds)
          INTO v_scanned, v_applied, v_retired, v_last;
    EXCEPTION WHEN unique_violation THEN
        WITH batch AS MATERIALIZED (
            SELECT r.object_key, r.collection_name, r.entity_code, r.status, r.born_at, r.born_txid
              FROM "birthgate"."birth_registry" AS r
             WHERE r.object_key OPERATOR(pg_catalog.>) coalesce(v_cur.position_code, '')
             ORDER BY r.object_key
             LIMIT v_batch
        ),
        bounds AS MATERIALIZED (
            SELECT pg_catalog.min(b.object_key) AS lo, pg_catalog.max(b.object_key) AS hi FROM batch AS b
        ),
        latest AS (
            -- the latest changelog row of every object of the batch: one range of the object_key index
            SELECT DISTINCT ON (l.object_key) l.object_key, l.change_id, l.txid, l.changed_at
              FROM "birthgate"."registry_changelog" AS l
             WHERE l.object_key OPERATOR(pg_catalog.>=) (SELECT bounds.lo FROM bounds)
               AND l.object_key OPERATOR(pg_catalog.<=) (SELECT bounds.hi FROM bounds)
             ORDER BY l.object_key, l.change_id DESC
        ),
        present AS (
            -- what the consumer (or an earlier run) already seeded: one range of the primary key
            SELECT g.object_key
              FROM "birthgate"."governance_candidate_state" AS g
             WHERE g.object_key OPERATOR(pg_catalog.>=) (SELECT bounds.lo FROM bounds)
               AND g.object_key OPERATOR(pg_catalog.<=) (SELECT bounds.hi FROM bounds)
        ),
        seeded AS (
            INSERT INTO "birthgate"."governance_candidate_state"
                (object_key, collection_name, entity_code, registry_status, born_at, dirty, marked_at, source_change_id, source_txid)
            SELECT b.object_key, b.collection_name, b.entity_code, 'BORN', b.born_at, true,
                   coalesce(lc.changed_at, b.born_at), coalesce(lc.change_id, 0), coalesce(lc.txid, b.born_txid)
              FROM batch AS b
              LEFT JOIN latest AS lc ON lc.object_key OPERATOR(pg_catalog.=) b.object_key
              LEFT JOIN present AS p ON p.object_key OPERATOR(pg_catalog.=) b.object_key
             WHERE b.status OPERATOR(pg_catalog.=) 'BORN' AND p.object_key IS NULL
             ORDER BY b.object_key
            ON CONFLICT (object_key) DO NOTHING
            RETURNING 1
        )
        SELECT (SELECT pg_catalog.count(*) FROM batch)::integer,
               (SELECT pg_catalog.count(*) FROM seeded)::integer,
               (SELECT pg_catalog.count(*) FROM batch AS b WHERE b.status OPERATOR(pg_catalog.=) 'RETIRED')::integer,
               (SELECT bounds.hi FROM bounds)
          INTO v_scanned, v_applied, v_retired, v_last;
    END;
    v_skipped := v_scanned - v_applied;
    v_done := v_scanned < v_batch;

    v_ms := pg_catalog.round((EXTRACT(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) v_t0) * 1000)::numeric, 1);
    UPDATE "birthgate"."sweep_cursor" AS sc
       SET position_code = coalesce(v_last, sc.position_code),
           position_id = NULL,
           batch_size = CASE WHEN v_target IS NULL THEN v_batch ELSE LEAST(GREATEST(pg_catalog.round(v_batch * pg_catalog.sqrt(v_target / GREATEST(v_ms, 1)))::integer, v_batch / 2, 100), v_batch * 2, 20000) END,
           batches_total_estimated = GREATEST(sc.batches_done + 1,
               sc.batches_done + 1 + CASE WHEN sc.rows_total_estimated IS NULL OR v_done THEN 0
                                          ELSE (GREATEST(sc.rows_total_estimated - sc.rows_done - v_scanned, 0)
                                                + (CASE WHEN v_target IS NULL THEN v_batch ELSE LEAST(GREATEST(pg_catalog.round(v_batch * pg_catalog.sqrt(v_target / GREATEST(v_ms, 1)))::integer, v_batch / 2, 100), v_batch * 2, 20000) END) - 1)
                                               / (CASE WHEN v_target IS NULL THEN v_batch ELSE LEAST(GREATEST(pg_catalog.round(v_batch * pg_catalog.sqrt(v_target / GREATEST(v_ms, 1)))::integer, v_batch / 2, 100), v_batch * 2, 20000) END) END),
           batches_done = sc.batches_done + 1,
           rows_done = sc.rows_done + v_scanned,
           rows_applied = sc.rows_applied + v_applied,
           rows_skipped = sc.rows_skipped + v_skipped,
           findings = sc.findings + CASE WHEN v_retired > 0 THEN 1 ELSE 0 END,
           rows_total_estimated = GREATEST(sc.rows_total_estimated, sc.rows_done + v_scanned),
           finished_at = CASE WHEN v_done THEN pg_catalog.clock_timestamp() END,
           last_batch_at = v_t0, last_batch_ms = v_ms, max_batch_ms = GREATEST(sc.max_batch_ms, v_ms),
           paused_reason = NULL, paused_until = NULL,
           heartbeat_at = pg_catalog.clock_timestamp(), updated_at = pg_catalog.clock_timestamp()
     WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name
    RETURNING sc.* INTO v_cur;
    IF v_retired > 0 THEN
        INSERT INTO "birthgate"."sweep_finding" AS f (sweep_name, run_id, kind, occurrences, detail)
        VALUES (v_name, v_cur.run_id, 'retired_skipped', v_retired,
                pg_catalog.jsonb_build_object('note', 'RETIRED objects are not seeded as candidates', 'up_to_object_key', pg_catalog.left(v_last, 100)));
    END IF;
    IF v_done THEN
        INSERT INTO "birthgate"."sweep_finding" AS f (sweep_name, run_id, kind, collection_name, occurrences, detail)
        SELECT v_name, v_cur.run_id, x.kind, v_collection, x.n, x.detail
          FROM (VALUES ('rate_limited', v_cur.pauses_rate_limit,
                        pg_catalog.jsonb_build_object('pauses', v_cur.pauses_rate_limit, 'note', 'the run waited for its rate limit; nothing was left undone')),
                       ('load_paused', v_cur.pauses_load,
                        pg_catalog.jsonb_build_object('pauses', v_cur.pauses_load, 'note', 'the run paused for the load guard; nothing was left undone')),
                       ('slow_batch', CASE WHEN v_cur.max_batch_ms > 5000 THEN 1 ELSE 0 END,
                        pg_catalog.jsonb_build_object('max_batch_ms', v_cur.max_batch_ms, 'budget_ms', 5000, 'note', 'lower p_batch_size'))) AS x (kind, n, detail)
         WHERE x.n > 0;
    END IF;

    RETURN QUERY SELECT CASE WHEN v_done THEN 'finished' ELSE 'batch' END, v_name, v_cur.run_id, v_scanned, v_applied,
                        CASE WHEN v_retired > 0 THEN 1 ELSE 0 END,
                        v_cur.rows_done, v_cur.rows_total_estimated, v_cur.batches_done, v_cur.batches_total_estimated,
                        NULL::text, NULL::timestamptz;
END;
$$;

COMMENT ON FUNCTION birthgate.sweep_backfill(p_batch_size integer, p_max_batches_per_minute integer, p_load_guard boolean) IS 'One batch of the candidate-seed backfill, in the caller''s transaction (commit after each; sweep_backfill_run and the CLI do): keyset over birth_registry.object_key (position_code); every BORN object without a governance_candidate_state row gets one, dirty, stamped with its latest registry_changelog row (change_id, txid, changed_at), so the consumer''s newer-wins rule treats the two as one: an object already handed off is never marked twice or regressed, and one handed off later is not re-marked. Each batch reads one range of object keys from the registry, the changelog and the candidate table (index range scans, no per-object probe) and writes one INSERT (again with ON CONFLICT DO NOTHING if the consumer inserted one of its keys meanwhile). RETIRED objects are skipped (a retired_skipped finding counts them). p_batch_size NULL (the default): each batch is sized to take about birthgate.sweep_batch_target (default 80 ms). Same statuses, rate limit, load guard and one-worker rule as sweep_adopt.';

CREATE PROCEDURE birthgate.sweep_backfill_run(IN p_batch_size integer DEFAULT NULL::integer, IN p_max_batches integer DEFAULT NULL::integer, IN p_max_batches_per_minute integer DEFAULT NULL::integer, IN p_max_pause interval DEFAULT '00:10:00'::interval, IN p_lock_timeout text DEFAULT '5s'::text)
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_name text := 'backfill';
    v_started timestamptz := pg_catalog.clock_timestamp();
    v_r record;
    v_batches integer := 0;
    v_rows bigint := 0;
    v_applied bigint := 0;
    v_paused interval := '0'::interval;
    v_failures integer := 0;
    v_state text;
    v_msg text;
    v_detail text;
    v_hint text;
    v_wait double precision;
BEGIN
    IF p_max_batches IS NOT NULL AND p_max_batches < 1 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG600',
            MESSAGE = 'invalid argument to a sweep function',
            DETAIL = pg_catalog.format('sweep_backfill_run(p_max_batches => %s): must be NULL (no limit) or at least 1', p_max_batches),
            HINT = 'p_batch_size must be between 1 and 100000, p_max_batches_per_minute NULL or 1..60000, p_max_batches NULL or at least 1, flags not NULL, thresholds not negative; see DETAIL for the value refused. Example: SELECT * FROM birthgate.sweep_adopt(''my_family'', true, 5000);';
    END IF;
    IF p_max_pause IS NULL OR p_max_pause < '0'::interval THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG600',
            MESSAGE = 'invalid argument to a sweep function',
            DETAIL = pg_catalog.format('sweep_backfill_run(p_max_pause => %s): must not be NULL or negative', p_max_pause),
            HINT = 'p_batch_size must be between 1 and 100000, p_max_batches_per_minute NULL or 1..60000, p_max_batches NULL or at least 1, flags not NULL, thresholds not negative; see DETAIL for the value refused. Example: SELECT * FROM birthgate.sweep_adopt(''my_family'', true, 5000);';
    END IF;
    LOOP
        IF p_max_batches IS NOT NULL AND v_batches >= p_max_batches THEN
            PERFORM "birthgate"."sweep_note"(v_name, 'deferred', pg_catalog.format('stopped after p_max_batches = %s batches', p_max_batches));
            COMMIT;
            RAISE NOTICE '%: stopped after % batches (p_max_batches); the rest is deferred to the next call', v_name, v_batches;
            EXIT;
        END IF;
        -- lock_timeout per batch (a CALL is one statement for statement_timeout; see the comment)
        PERFORM pg_catalog.set_config('lock_timeout', p_lock_timeout, true);
        v_state := NULL;
        BEGIN
            SELECT * INTO v_r FROM "birthgate"."sweep_backfill"(p_batch_size, p_max_batches_per_minute, true);
        EXCEPTION
            WHEN query_canceled THEN
                -- the job's statement_timeout (or a cancel) hit this batch: its work is rolled back;
                -- record it (sweep_note halves the adaptive size after a timeout), commit that, stop
                GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
                IF EXISTS (SELECT 1 FROM "birthgate"."sweep_cursor" AS sc WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name) THEN
                    PERFORM "birthgate"."sweep_note"(v_name, 'error', '57014: ' || v_msg);
                    COMMIT;
                END IF;
                RAISE EXCEPTION USING ERRCODE = 'query_canceled', MESSAGE = v_msg,
                    DETAIL = pg_catalog.format('%s: the batch in flight was rolled back after %s committed batches of this call; recorded in sweep_cursor.last_error (the next adaptive batch is half as large)', v_name, v_batches),
                    HINT = 'The next call resumes from the cursor. A CALL is one statement for statement_timeout: give the job statement_timeout = 0, or bound the call with p_max_batches.';
            WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        END;
        IF v_state IS NOT NULL THEN
            IF v_state LIKE 'BG%' THEN
                -- a deliberate error (bad input, unsafe family): retrying cannot help
                RAISE EXCEPTION USING ERRCODE = v_state, MESSAGE = v_msg, DETAIL = v_detail, HINT = v_hint;
            END IF;
            v_failures := v_failures + 1;
            PERFORM "birthgate"."sweep_note"(v_name, 'error', v_state || ': ' || v_msg);
            COMMIT;
            IF v_failures >= 5 THEN
                RAISE EXCEPTION USING
                    ERRCODE = 'BG606',
                    MESSAGE = 'a sweep batch kept failing; the sweep stopped',
                    DETAIL = pg_catalog.format('%s: %s failures in a row, the last %s: %s', v_name, v_failures, v_state, pg_catalog.left(v_msg, 500)),
                    HINT = 'Read the error in DETAIL and SELECT last_error, error_count FROM birthgate.v_sweep_status; fix the cause, then run the sweep again: it resumes from its cursor.';
            END IF;
            RAISE NOTICE '%: batch failed (% %), retry % in % s', v_name, v_state, v_msg, v_failures, 2 ^ v_failures;
            PERFORM pg_catalog.pg_sleep(2 ^ v_failures);
            CONTINUE;
        END IF;
        COMMIT;
        v_failures := 0;
        IF v_r.status = 'skipped' THEN
            RAISE NOTICE '%: another worker holds the cursor; nothing done', v_name;
            EXIT;
        ELSIF v_r.status = 'paused' THEN
            IF v_paused >= p_max_pause THEN
                PERFORM "birthgate"."sweep_note"(v_name, 'deferred', pg_catalog.format('paused for %s in total (p_max_pause %s); last: %s', v_paused, p_max_pause, v_r.paused_reason));
                COMMIT;
                RAISE NOTICE '%: paused for % (p_max_pause); the rest is deferred to the next call', v_name, v_paused;
                EXIT;
            END IF;
            -- sleep in committed steps of at most 1 s: no snapshot or lock held while waiting
            v_wait := LEAST(GREATEST(EXTRACT(epoch FROM v_r.paused_until - pg_catalog.clock_timestamp()), 0.01), 1.0);
            PERFORM pg_catalog.pg_sleep(v_wait);
            v_paused := v_paused + pg_catalog.make_interval(secs => v_wait);
            COMMIT;
            CONTINUE;
        END IF;
        v_batches := v_batches + 1;
        v_rows := v_rows + v_r.scanned;
        v_applied := v_applied + v_r.applied;
        RAISE NOTICE '%: batch % (% of ~% batches), % rows, % applied, % findings; run total % rows; elapsed %',
            v_name, v_r.batches_done, v_r.batches_done, v_r.batches_total_estimated, v_r.scanned, v_r.applied, v_r.findings,
            v_r.rows_done, pg_catalog.date_trunc('millisecond', pg_catalog.clock_timestamp() - v_started);
        EXIT WHEN v_r.status = 'finished';
    END LOOP;
    RAISE NOTICE '%: done: % batches, % rows, % applied this call, paused %, elapsed %', v_name, v_batches, v_rows, v_applied,
        pg_catalog.date_trunc('millisecond', v_paused), pg_catalog.date_trunc('millisecond', pg_catalog.clock_timestamp() - v_started);
END;
$$;

COMMENT ON PROCEDURE birthgate.sweep_backfill_run(IN p_batch_size integer, IN p_max_batches integer, IN p_max_batches_per_minute integer, IN p_max_pause interval, IN p_lock_timeout text) IS 'For pg_cron and psql: runs sweep_backfill batch after batch, COMMIT after each (no long transaction), until the run finishes (p_batch_size NULL, the default: each batch sized to take about the sweep_batch_target setting), another worker holds the cursor, or a bound stops it (p_max_batches, p_max_pause of accumulated rate-limit/load-guard pauses): then a deferred finding says how much is left, and the next call resumes from the cursor. lock_timeout = p_lock_timeout per batch; a statement timeout (or cancel) during a batch is recorded with sweep_note and committed before the CALL ends with it (the next adaptive batch is half as large); a failed batch is retried after 2, 4, 8, 16 s and the fifth failure in a row raises BG606 (each failure in last_error); deliberate BG errors are raised at once. A CALL counts as one statement for statement_timeout: give the job statement_timeout = 0 or bound it with p_max_batches. CALL it outside a transaction block. Security invoker without a SET clause because a procedure that commits cannot have either; every name in it is schema-qualified.';

CREATE FUNCTION birthgate.sweep_load_guard(p_max_lock_waiters integer DEFAULT NULL::integer, p_max_lock_wait interval DEFAULT NULL::interval, p_max_replication_lag interval DEFAULT NULL::interval) RETURNS TABLE(pause boolean, reason text, lock_waiters integer, longest_lock_wait interval, replication_lag interval, max_lock_waiters integer, max_lock_wait interval, max_replication_lag interval)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_setting text;
    v_waiters integer;
    v_longest interval;
    v_lag interval;
    v_reasons text[] := '{}';
BEGIN
    BEGIN
        v_setting := 'birthgate.sweep_max_lock_waiters';
        max_lock_waiters := coalesce(p_max_lock_waiters, NULLIF(pg_catalog.current_setting('birthgate.sweep_max_lock_waiters', true), '')::integer, 0);
        v_setting := 'birthgate.sweep_max_lock_wait';
        max_lock_wait := coalesce(p_max_lock_wait, NULLIF(pg_catalog.current_setting('birthgate.sweep_max_lock_wait', true), '')::interval, '1 second'::interval);
        v_setting := 'birthgate.sweep_max_replication_lag';
        max_replication_lag := coalesce(p_max_replication_lag, NULLIF(pg_catalog.current_setting('birthgate.sweep_max_replication_lag', true), '')::interval, '30 seconds'::interval);
    EXCEPTION WHEN invalid_text_representation OR invalid_datetime_format OR datetime_field_overflow OR numeric_value_out_of_range THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG605',
            MESSAGE = 'a load-guard setting cannot be read',
            DETAIL = pg_catalog.format('%s = %L: %s', v_setting, pg_catalog.left(pg_catalog.current_setting(v_setting, true), 100), SQLERRM),
            HINT = 'Fix or reset the setting named in DETAIL, e.g. ALTER DATABASE current SET birthgate.sweep_max_lock_wait = ''1s''; or RESET it.';
    END;
    IF max_lock_waiters < 0 OR max_lock_wait < '0'::interval OR max_replication_lag < '0'::interval THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG600',
            MESSAGE = 'invalid argument to a sweep function',
            DETAIL = pg_catalog.format('sweep_load_guard: max_lock_waiters %s, max_lock_wait %s, max_replication_lag %s: none may be negative', max_lock_waiters, max_lock_wait, max_replication_lag),
            HINT = 'p_batch_size must be between 1 and 100000, p_max_batches_per_minute NULL or 1..60000, p_max_batches NULL or at least 1, flags not NULL, thresholds not negative; see DETAIL for the value refused. Example: SELECT * FROM birthgate.sweep_adopt(''my_family'', true, 5000);';
    END IF;

    -- sessions of this database that wait for a lock while holding or wanting one on a governed table
    WITH governed AS (
        SELECT g.oid
          FROM pg_catalog.unnest(ARRAY[pg_catalog.to_regclass('birthgate.birth_family'),
                                pg_catalog.to_regclass('birthgate.birth_registry'),
                                pg_catalog.to_regclass('birthgate.registry_changelog'),
                                pg_catalog.to_regclass('birthgate.birth_admission_permit'),
                                pg_catalog.to_regclass('birthgate.governance_candidate_state'),
                                pg_catalog.to_regclass('birthgate.event_pending'),
                                pg_catalog.to_regclass('birthgate.event_outbox'),
                                pg_catalog.to_regclass('birthgate.handoff_cursor')]::pg_catalog.oid[]) AS g (oid)
         WHERE g.oid IS NOT NULL
        UNION
        SELECT f.table_name::pg_catalog.oid FROM "birthgate"."birth_family" AS f
    ),
    waiting AS (
        SELECT w.pid, pg_catalog.max(pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) coalesce(w.waitstart, pg_catalog.clock_timestamp())) AS waited
          FROM pg_catalog.pg_locks AS w
         WHERE NOT w.granted
           AND w.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
           AND EXISTS (SELECT 1
                         FROM pg_catalog.pg_locks AS h
                         JOIN governed ON governed.oid OPERATOR(pg_catalog.=) h.relation
                        WHERE h.pid OPERATOR(pg_catalog.=) w.pid
                          AND h.locktype OPERATOR(pg_catalog.=) 'relation'
                          AND h.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()))
         GROUP BY w.pid
    )
    SELECT pg_catalog.count(*) FILTER (WHERE waiting.waited OPERATOR(pg_catalog.>) max_lock_wait)::integer, pg_catalog.max(waiting.waited)
      INTO v_waiters, v_longest
      FROM waiting;

    SELECT pg_catalog.max(GREATEST(r.write_lag, r.flush_lag, r.replay_lag))
      INTO v_lag
      FROM pg_catalog.pg_stat_replication AS r;

    IF v_waiters > max_lock_waiters THEN
        v_reasons := v_reasons || pg_catalog.format('lock waits: %s session(s) waiting longer than %s on governed tables (longest %s; threshold %s session(s))',
                                                    v_waiters, max_lock_wait, pg_catalog.date_trunc('millisecond', v_longest), max_lock_waiters);
    END IF;
    IF v_lag > max_replication_lag THEN
        v_reasons := v_reasons || pg_catalog.format('replication lag %s exceeds %s', pg_catalog.date_trunc('millisecond', v_lag), max_replication_lag);
    END IF;
    pause := pg_catalog.cardinality(v_reasons) > 0;
    reason := CASE WHEN pause THEN pg_catalog.array_to_string(v_reasons, '; ') END;
    lock_waiters := v_waiters;
    longest_lock_wait := v_longest;
    replication_lag := v_lag;
    RETURN NEXT;
END;
$$;

COMMENT ON FUNCTION birthgate.sweep_load_guard(p_max_lock_waiters integer, p_max_lock_wait interval, p_max_replication_lag interval) IS 'The server-load guard of the sweeps and the consumer CLI: pause = true (with reason) when more than max_lock_waiters sessions of this database have waited longer than max_lock_wait for a lock while holding or wanting a lock on a governed table (package tables and family tables), or when a standby''s replication lag (pg_stat_replication, greatest of write/flush/replay lag) exceeds max_replication_lag. NULL arguments fall back to the settings birthgate.sweep_max_lock_waiters (default 0), birthgate.sweep_max_lock_wait (default 1 second), birthgate.sweep_max_replication_lag (default 30 seconds). Reads only catalogs and statistics views.';

CREATE FUNCTION birthgate.sweep_note(p_sweep_name text, p_event text, p_detail text, p_until timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_cur "birthgate"."sweep_cursor";
BEGIN
    IF p_event IS NULL OR p_event NOT IN ('error', 'deferred', 'pause') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG600',
            MESSAGE = 'invalid argument to a sweep function',
            DETAIL = pg_catalog.format('sweep_note(p_event => %L): must be error, deferred or pause', pg_catalog.left(p_event, 100)),
            HINT = 'p_batch_size must be between 1 and 100000, p_max_batches_per_minute NULL or 1..60000, p_max_batches NULL or at least 1, flags not NULL, thresholds not negative; see DETAIL for the value refused. Example: SELECT * FROM birthgate.sweep_adopt(''my_family'', true, 5000);';
    END IF;
    IF p_sweep_name OPERATOR(pg_catalog.=) 'consume' THEN
        INSERT INTO "birthgate"."sweep_cursor" (sweep_name, kind) VALUES ('consume', 'consume') ON CONFLICT ON CONSTRAINT sweep_cursor_pkey DO NOTHING;
    END IF;
    SELECT sc.* INTO v_cur FROM "birthgate"."sweep_cursor" AS sc WHERE sc.sweep_name OPERATOR(pg_catalog.=) p_sweep_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG604',
            MESSAGE = 'unknown sweep cursor',
            DETAIL = pg_catalog.format('no sweep cursor named %L', pg_catalog.left(p_sweep_name, 100)),
            HINT = 'Name an existing cursor: SELECT sweep_name FROM birthgate.v_sweep_status;';
    END IF;
    IF p_event = 'error' THEN
        -- a statement timeout: the next adaptive batch is half as large (a fixed size is the caller's)
        UPDATE "birthgate"."sweep_cursor" AS sc
           SET error_count = sc.error_count + 1, last_error = pg_catalog.left(p_detail, 2000), last_error_at = pg_catalog.clock_timestamp(),
               batch_size = CASE WHEN p_detail LIKE '57014%statement timeout%' AND sc.batch_size IS NOT NULL THEN GREATEST(sc.batch_size / 2, 1) ELSE sc.batch_size END,
               heartbeat_at = pg_catalog.clock_timestamp(), updated_at = pg_catalog.clock_timestamp()
         WHERE sc.sweep_name OPERATOR(pg_catalog.=) p_sweep_name;
    ELSIF p_event = 'pause' THEN
        UPDATE "birthgate"."sweep_cursor" AS sc
           SET paused_reason = pg_catalog.left(p_detail, 2000), paused_until = p_until,
               pauses_load = sc.pauses_load + CASE WHEN p_detail LIKE 'load guard%' THEN 1 ELSE 0 END,
               pauses_rate_limit = sc.pauses_rate_limit + CASE WHEN p_detail LIKE 'rate limit%' THEN 1 ELSE 0 END,
               heartbeat_at = pg_catalog.clock_timestamp(), updated_at = pg_catalog.clock_timestamp()
         WHERE sc.sweep_name OPERATOR(pg_catalog.=) p_sweep_name;
    ELSIF v_cur.finished_at IS NULL AND v_cur.run_id > 0 THEN
        -- a bound (max batches, max pause, an interrupted run) left this run unfinished: say how much
        INSERT INTO "birthgate"."sweep_finding" (sweep_name, run_id, kind, collection_name, occurrences, detail)
        VALUES (p_sweep_name, v_cur.run_id, 'deferred', v_cur.collection_name,
                GREATEST(coalesce(v_cur.rows_total_estimated, v_cur.rows_done) - v_cur.rows_done, 0),
                pg_catalog.jsonb_build_object('reason', pg_catalog.left(p_detail, 2000), 'rows_done', v_cur.rows_done,
                                              'rows_total_estimated', v_cur.rows_total_estimated,
                                              'batches_done', v_cur.batches_done, 'batches_total_estimated', v_cur.batches_total_estimated,
                                              'resume', 'run the sweep again: it resumes from its cursor'));
        UPDATE "birthgate"."sweep_cursor" AS sc SET findings = sc.findings + 1, updated_at = pg_catalog.clock_timestamp()
         WHERE sc.sweep_name OPERATOR(pg_catalog.=) p_sweep_name;
    END IF;
END;
$$;

COMMENT ON FUNCTION birthgate.sweep_note(p_sweep_name text, p_event text, p_detail text, p_until timestamp with time zone) IS 'Records what a sweep driver saw outside a batch: ''error'' (error_count + 1, last_error; a detail starting 57014 that names a statement timeout also halves the cursor''s batch_size, which the next adaptive batch starts from), ''deferred'' (a bound stopped an unfinished run: a deferred finding with the rows left, estimated), ''pause'' (paused_reason / paused_until; the consumer CLI records its rate-limit and load-guard pauses under sweep_name ''consume''). Used by the procedures and the CLI.';

CREATE FUNCTION birthgate.tg_admission_reverify() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET row_security TO 'off'
    SET enable_seqscan TO 'off'
    SET enable_nestloop TO 'on'
    AS $_$
DECLARE
    v_collection text := NEW.collection_name;
    v_family record;
    v_safe boolean;
    v_type text;
    v_unsafe text;
    v_n integer;
    v_cur refcursor;
    v_bad record;
    v_present boolean;
    v_probe text;
    v_seen text[];
    v_first text;
BEGIN
    -- done for this transaction (a later armed statement queues another one)
    DELETE FROM "birthgate"."admission_verify" WHERE txid = NEW.txid AND collection_name = v_collection;
    SELECT f.collection_name, f.table_name, f.code_column, f.mode, n.nspname, k.relname,
           a.attnum IS NOT NULL AS has_column, a.atttypid, a.attcollation, pg_catalog.age(k.xmin) AS class_age, pg_catalog.age(a.xmin) AS column_age
      INTO v_family
      FROM "birthgate"."birth_family" f
      LEFT JOIN pg_catalog.pg_class k ON k.oid = f.table_name
      LEFT JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
      LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = f.table_name AND a.attname = f.code_column AND a.attnum > 0 AND NOT a.attisdropped
     WHERE f.collection_name = v_collection;
    IF NOT FOUND OR v_family.mode = 'off' OR NEW.txid <> pg_catalog.pg_current_xact_id() THEN
        RETURN NULL;  -- the family is deregistered, moved off, or the row is not this transaction's
    END IF;
    SELECT pg_catalog.count(*) INTO v_n FROM (SELECT 1 FROM "birthgate"."registry_changelog" l WHERE l.txid = pg_catalog.pg_current_xact_id() AND l.op = 'BORN' AND l.collection_name = v_collection AND l.detail ? 'mode' LIMIT 1001) x;
    IF v_n = 0 THEN
        RETURN NULL;
    END IF;

    -- the family table is gone (dropped in this transaction after its births: its gate triggers went
    -- with it, this trigger is on a package table): every birth still BORN here is a birth without
    -- an object
    IF v_family.relname IS NULL THEN
        SELECT l.entity_code, COALESCE(l.detail ->> 'table', pg_catalog.format('table with oid %s', v_family.table_name::pg_catalog.oid)) AS table_name, pg_catalog.count(*) OVER () AS n
          INTO v_bad
          FROM "birthgate"."registry_changelog" l
          JOIN "birthgate"."birth_registry" r ON r.collection_name = l.collection_name AND r.entity_code = l.entity_code
         WHERE l.txid = pg_catalog.pg_current_xact_id() AND l.op = 'BORN' AND l.collection_name = v_collection AND l.detail ? 'mode' AND r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id()
         ORDER BY l.change_id
         LIMIT 1;
        IF NOT FOUND THEN
            RETURN NULL;  -- every birth of this transaction was retired before the drop
        END IF;
        IF v_family.mode = 'enforce' THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG157',
                MESSAGE = 'commit refused: an object born in this transaction no longer exists at commit',
                DETAIL = format('collection %s: the family table (%s) was dropped in this transaction after %s birth(s) in it, e.g. code %L', v_collection, v_bad.table_name, v_bad.n, (CASE WHEN pg_catalog.length(v_bad.entity_code) > 100 THEN pg_catalog.left(v_bad.entity_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_bad.entity_code)) ELSE v_bad.entity_code END)),
                HINT = format('Keep the table until the births are committed, or retire them before the drop (SELECT birthgate.retire(%L, %L, ''<reason>'');). To stop governing the table first: SELECT birthgate.set_family_mode(%L, ''off'');', v_collection, (CASE WHEN pg_catalog.length(v_bad.entity_code) > 100 THEN pg_catalog.left(v_bad.entity_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_bad.entity_code)) ELSE v_bad.entity_code END), v_collection);
        END IF;
        INSERT INTO "birthgate"."birth_gate_violation" (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
        SELECT 'UNFINALIZED', v_collection, l.entity_code, COALESCE(l.detail ->> 'table', pg_catalog.format('table with oid %s', v_family.table_name::pg_catalog.oid)), 'INSERT', v_family.mode, 2, COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name,
               pg_catalog.jsonb_build_object('finding', 'BORN_WITHOUT_OBJECT', 'registry_id', r.registry_id,
                                             'removed_by', 'DROP TABLE', 'reverified', true)
          FROM "birthgate"."registry_changelog" l
          JOIN "birthgate"."birth_registry" r ON r.collection_name = l.collection_name AND r.entity_code = l.entity_code
         WHERE l.txid = pg_catalog.pg_current_xact_id() AND l.op = 'BORN' AND l.collection_name = v_collection AND l.detail ? 'mode' AND r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id()
           AND NOT EXISTS (SELECT 1 FROM "birthgate"."birth_gate_violation" v
                            WHERE v.collection_name = v_collection AND v.entity_code = l.entity_code
                              AND v.txid = pg_catalog.pg_current_xact_id() AND v.detail ->> 'finding' = 'BORN_WITHOUT_OBJECT');
        RETURN NULL;
    END IF;

    -- the presence probe below plans a query over the family table as the package owner: it must
    -- run no code of the table's owner (see tg_birth_finalize), and read the code column as its
    -- base type. Checked first in every case, so that such a table is refused (enforce) or
    -- recorded (report) whether or not the probe is needed.
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = v_family.table_name AND (i.indexprs IS NOT NULL OR i.indpred IS NOT NULL))
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid = v_family.table_name AND k.contype = 'c')
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_statistic_ext x WHERE x.stxrelid = v_family.table_name)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhparent = v_family.table_name)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhrelid = v_family.table_name) THEN
        v_unsafe := "birthgate"."family_relation_unsafe"(v_family.table_name);
    END IF;
    -- row-level security the package owner is subject to (since 000022): reading the table with
    -- row_security = off would fail (42501); it cannot be checked without the owner's policies
    IF v_unsafe IS NULL THEN
        v_unsafe := (SELECT pg_catalog.format('row-level security is enabled on %I.%I and the package owner %I does not bypass it: ALTER ROLE %I BYPASSRLS; or ALTER TABLE %I.%I DISABLE ROW LEVEL SECURITY;',
                                              n.nspname, k.relname, current_user, current_user, n.nspname, k.relname)
                       FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
                      WHERE k.oid = v_family.table_name AND k.relrowsecurity
                        AND NOT (SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
                        AND (k.relforcerowsecurity OR NOT pg_catalog.pg_has_role(current_user, k.relowner, 'USAGE')));
    END IF;
    IF v_family.atttypid IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.name'::pg_catalog.regtype) THEN
        v_type := pg_catalog.format_type(v_family.atttypid, NULL);
    ELSIF v_family.has_column THEN
        v_type := pg_catalog.format_type((WITH RECURSIVE d (oid, typtype, typbasetype, depth) AS (
            SELECT t.oid, t.typtype, t.typbasetype, 0 FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) v_family.atttypid
            UNION ALL
            SELECT t.oid, t.typtype, t.typbasetype, d.depth OPERATOR(pg_catalog.+) 1
              FROM d JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) d.typbasetype
             WHERE d.typtype OPERATOR(pg_catalog.=) 'd' AND d.depth OPERATOR(pg_catalog.<) 100)
        SELECT d.oid::pg_catalog.regtype FROM d WHERE d.typtype OPERATOR(pg_catalog.<>) 'd' ORDER BY d.depth LIMIT 1), NULL);
    END IF;
    v_safe := v_type IN ('text', 'character varying', 'name');
    IF v_safe AND EXISTS (SELECT 1 FROM pg_catalog.pg_collation k WHERE k.oid = v_family.attcollation AND NOT k.collisdeterministic) THEN
        v_unsafe := COALESCE(v_unsafe, pg_catalog.format('column %I has a nondeterministic collation: codes the registry keeps apart compare equal in the table', v_family.code_column));
    END IF;
    IF v_unsafe IS NOT NULL OR NOT COALESCE(v_safe, false) THEN
        v_unsafe := COALESCE(v_unsafe, pg_catalog.format('column %I is %s', v_family.code_column, COALESCE(v_type, 'missing')));
        SELECT l.entity_code INTO v_first FROM "birthgate"."registry_changelog" l WHERE l.txid = pg_catalog.pg_current_xact_id() AND l.op = 'BORN' AND l.collection_name = v_collection AND l.detail ? 'mode' ORDER BY l.change_id LIMIT 1;
        IF v_family.mode = 'enforce' THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG161',
                MESSAGE = 'commit refused: the family table cannot be checked at commit without running code of its owner, or it has inheritance children',
                DETAIL = format('collection %s, code %L (INSERT on %I.%I): %s', v_collection, (CASE WHEN pg_catalog.length(v_first) > 100 THEN pg_catalog.left(v_first, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_first)) ELSE v_first END), v_family.nspname, v_family.relname, pg_catalog.left(v_unsafe, 300)),
                HINT = format('Remove what DETAIL names (DROP INDEX, DROP STATISTICS, ALTER TABLE ... DROP CONSTRAINT, or ALTER TABLE <child> NO INHERIT %I.%I), then retry the transaction; see SELECT * FROM birthgate.v_drift_report WHERE collection_name = %L;', v_family.nspname, v_family.relname, v_collection);
        END IF;
        IF NOT EXISTS (SELECT 1 FROM "birthgate"."birth_gate_violation"
                        WHERE collection_name = v_collection AND entity_code IS NOT DISTINCT FROM v_first
                          AND txid = pg_catalog.pg_current_xact_id() AND detail ->> 'finding' = 'FAMILY_TABLE_UNSAFE') THEN
            INSERT INTO "birthgate"."birth_gate_violation" (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
            VALUES ('UNFINALIZED', v_collection, v_first, pg_catalog.format('%I.%I', v_family.nspname, v_family.relname),
                    'INSERT', v_family.mode, 2, COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name,
                    pg_catalog.jsonb_build_object('finding', 'FAMILY_TABLE_UNSAFE', 'reason', pg_catalog.left(v_unsafe, 300), 'reverified', true));
        END IF;
        RETURN NULL;
    END IF;
    -- the common case, without reading the family table: nothing was deleted from it or updated
    -- in this transaction (the statistics counters count every attempt, also in rolled-back
    -- subtransactions, while track_counts is on; a TRUNCATE is judged by _130_birth_truncate), so
    -- every object born here is still there with its code, and every birth is still BORN here
    -- from a CONSUMED permit for its code
    IF v_n <= 16 AND pg_catalog.current_setting('track_counts') = 'on' AND v_family.class_age > 0 AND v_family.column_age > 0
       AND pg_catalog.pg_stat_get_xact_tuples_deleted(v_family.table_name) = 0
       AND pg_catalog.pg_stat_get_xact_tuples_updated(v_family.table_name) = 0
       AND NOT EXISTS (SELECT 1 FROM "birthgate"."registry_changelog" l
                      LEFT JOIN "birthgate"."birth_registry" r ON r.collection_name = l.collection_name AND r.entity_code = l.entity_code
                      LEFT JOIN "birthgate"."birth_admission_permit" p ON p.permit_id = r.permit_id
                        WHERE l.txid = pg_catalog.pg_current_xact_id() AND l.op = 'BORN' AND l.collection_name = v_collection AND l.detail ? 'mode'
                          AND NOT COALESCE(r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id() AND p.state = 'CONSUMED'
                                           AND p.collection_name = r.collection_name AND p.entity_code = r.entity_code, false)) THEN
        RETURN NULL;
    END IF;

    v_probe := pg_catalog.format('SELECT EXISTS (SELECT 1 FROM ONLY %I.%I t WHERE t.%I OPERATOR(pg_catalog.=) CAST($1 AS %s))',
                                 v_family.nspname, v_family.relname, v_family.code_column, v_type);

    IF v_n <= 16 THEN
        -- a few births: point lookups with cached plans (index probes: enable_seqscan is off while
        -- they are planned), one presence probe per code below
        OPEN v_cur FOR
            SELECT l.entity_code, l.change_id, r.registry_id, r.status, r.permit_id, r.born_txid, p.state AS permit_state,
                           COALESCE(r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id(), false) AS born_here,
                           COALESCE(r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id() AND p.state = 'CONSUMED'
                                    AND p.collection_name = r.collection_name AND p.entity_code = r.entity_code, false) AS finalized, NULL::boolean AS present
              FROM "birthgate"."registry_changelog" l
                      LEFT JOIN "birthgate"."birth_registry" r ON r.collection_name = l.collection_name AND r.entity_code = l.entity_code
                      LEFT JOIN "birthgate"."birth_admission_permit" p ON p.permit_id = r.permit_id
             WHERE l.txid = pg_catalog.pg_current_xact_id() AND l.op = 'BORN' AND l.collection_name = v_collection AND l.detail ? 'mode'
             ORDER BY l.change_id;
    ELSE
        -- many: one set-based query, planned now; hash joins above 1000 births (linear
        -- whatever the statistics say, see tg_birth_register)
        IF v_n > 1000 THEN
            PERFORM pg_catalog.set_config('enable_nestloop', 'off', true);
        END IF;
        OPEN v_cur FOR EXECUTE pg_catalog.format($q$
            SELECT s.*
              FROM (SELECT l.entity_code, l.change_id, r.registry_id, r.status, r.permit_id, r.born_txid, p.state AS permit_state,
                           COALESCE(r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id(), false) AS born_here,
                           COALESCE(r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id() AND p.state = 'CONSUMED'
                                    AND p.collection_name = r.collection_name AND p.entity_code = r.entity_code, false) AS finalized,
                           EXISTS (SELECT 1 FROM ONLY %I.%I t WHERE t.%I OPERATOR(pg_catalog.=) CAST(l.entity_code AS %s)) AS present
                      FROM "birthgate"."registry_changelog" l
                      LEFT JOIN "birthgate"."birth_registry" r ON r.collection_name = l.collection_name AND r.entity_code = l.entity_code
                      LEFT JOIN "birthgate"."birth_admission_permit" p ON p.permit_id = r.permit_id
                     WHERE l.txid = pg_catalog.pg_current_xact_id() AND l.op = 'BORN' AND l.collection_name = $1 AND l.detail ? 'mode'
                    OFFSET 0) s  -- (each EXISTS evaluated once per code)
             WHERE (s.present AND NOT s.finalized) OR (NOT s.present AND s.born_here)
             ORDER BY s.change_id
            $q$, v_family.nspname, v_family.relname, v_family.code_column, v_type)
          USING v_collection;
    END IF;
    LOOP
        FETCH v_cur INTO v_bad;
        EXIT WHEN NOT FOUND;
        v_present := v_bad.present;
        IF v_present IS NULL THEN
            EXECUTE v_probe INTO v_present USING v_bad.entity_code;
        END IF;
        CONTINUE WHEN NOT ((v_present AND NOT v_bad.finalized) OR (NOT v_present AND v_bad.born_here));
        SELECT pg_catalog.array_agg(DISTINCT kind) INTO v_seen FROM "birthgate"."birth_gate_violation"
         WHERE collection_name = v_collection AND entity_code = v_bad.entity_code AND txid = pg_catalog.pg_current_xact_id()
           AND (layer = 1 OR (NOT v_present AND detail ->> 'finding' = 'BORN_WITHOUT_OBJECT'));
        IF v_family.mode = 'enforce' AND NOT ('BYPASS' = ANY (COALESCE(v_seen, '{}'))) THEN
            IF v_present THEN
                RAISE EXCEPTION USING
                    ERRCODE = 'BG130',
                    MESSAGE = 'commit refused: an object of an enforce family is not finalized (no BORN registry row from a consumed permit)',
                    DETAIL = format('collection %s, code %L (on %I.%I, re-verified at commit): %s', v_collection, (CASE WHEN pg_catalog.length(v_bad.entity_code) > 100 THEN pg_catalog.left(v_bad.entity_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_bad.entity_code)) ELSE v_bad.entity_code END), v_family.nspname, v_family.relname, CASE WHEN v_bad.registry_id IS NULL THEN 'no birth_registry row' WHEN v_bad.status <> 'BORN' THEN format('registry row %s is %s', v_bad.registry_id, v_bad.status) WHEN v_bad.born_txid <> pg_catalog.pg_current_xact_id() THEN format('registry row %s was born by another transaction (%s)', v_bad.registry_id, v_bad.born_txid) WHEN v_bad.permit_id IS NULL THEN format('registry row %s consumed no permit', v_bad.registry_id) ELSE format('registry row %s names permit %s, which is %s or not for this code', v_bad.registry_id, v_bad.permit_id, v_bad.permit_state) END),
                    HINT = format('Before commit, birth the code through a permit (SELECT birthgate.issue_permit(%L, ''<code>''), then write the row), or restore the row/registry entry that changed; check that the gate triggers of %I.%I are enabled (SELECT * FROM birthgate.v_drift_trigger_state WHERE collection_name = %L).', v_collection, v_family.nspname, v_family.relname, v_collection);
            END IF;
            RAISE EXCEPTION USING
                ERRCODE = 'BG157',
                MESSAGE = 'commit refused: an object born in this transaction no longer exists at commit',
                DETAIL = format('collection %s, code %L: registry row %s was born in this transaction, but no row of %I.%I has that code at commit (found by the re-verification of this transaction''s births)', v_collection, (CASE WHEN pg_catalog.length(v_bad.entity_code) > 100 THEN pg_catalog.left(v_bad.entity_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_bad.entity_code)) ELSE v_bad.entity_code END), v_bad.registry_id, v_family.nspname, v_family.relname),
                HINT = format('Keep the object, or retire the code before commit: SELECT birthgate.retire(%L, %L, ''<reason>'');', v_collection, (CASE WHEN pg_catalog.length(v_bad.entity_code) > 100 THEN pg_catalog.left(v_bad.entity_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_bad.entity_code)) ELSE v_bad.entity_code END));
        END IF;
        IF v_family.mode = 'report' AND v_seen IS NULL THEN
            INSERT INTO "birthgate"."birth_gate_violation" (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
            VALUES ('UNFINALIZED', v_collection, v_bad.entity_code, pg_catalog.format('%I.%I', v_family.nspname, v_family.relname), 'INSERT', v_family.mode, 2, COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name,
                    CASE WHEN v_present
                         THEN pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                                  'registry_id', v_bad.registry_id, 'status', v_bad.status, 'permit_id', v_bad.permit_id,
                                  'permit_state', v_bad.permit_state, 'born_txid', v_bad.born_txid::text, 'reverified', true))
                         ELSE pg_catalog.jsonb_build_object('finding', 'BORN_WITHOUT_OBJECT', 'registry_id', v_bad.registry_id,
                                                            'removed_by', 'unknown', 'reverified', true) END);
        END IF;
    END LOOP;
    CLOSE v_cur;
    RETURN NULL;
END;
$_$;

COMMENT ON FUNCTION birthgate.tg_admission_reverify() IS 'Layer 2 re-verification (deferred constraint trigger _900_admission_reverify on admission_verify, queued by tg_birth_register once per transaction and collection). At commit (or SET CONSTRAINTS ... IMMEDIATE) every birth the statement writer made in this transaction must still be BORN from a CONSUMED permit for its code while its object is in the family table, and its object must still be there while it is BORN here. enforce: BG130 / BG157 (unless layer 1 recorded an authorised BYPASS); report: one UNFINALIZED row per code (detail.reverified); off: nothing. A family table that would run its owner''s code when planned: BG161 (enforce) or a FAMILY_TABLE_UNSAFE row (report). Up to 16 births: cached point lookups and one presence probe each; more: one set-based query planned per execution (hash joins above 1000). A family table dropped in the transaction of its births (since 000018): enforce refuses the commit (BG157), report records one BORN_WITHOUT_OBJECT row per birth (detail.removed_by = DROP TABLE).';

CREATE FUNCTION birthgate.tg_birth_admission_permit_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG116',
            MESSAGE = 'permits are changed only by their lifecycle transitions',
            DETAIL = format('DELETE of permit %s (%s:%s, %s) refused', OLD.permit_id, OLD.collection_name, OLD.entity_code, OLD.state),
            HINT = 'Use issue_permit, revoke_permit and expire_permits; a permit is never deleted and its identity (collection, code, issue) never changes.';
    END IF;
    IF OLD.state <> 'ISSUED' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG112',
            MESSAGE = 'the permit is not live (ISSUED); CONSUMED, EXPIRED and REVOKED are final',
            DETAIL = format('permit %s (%s:%s) is %s; %s -> %s refused', OLD.permit_id, OLD.collection_name, OLD.entity_code, OLD.state, OLD.state, NEW.state),
            HINT = 'Only an ISSUED permit can be consumed, revoked or expired; issue a new permit if the code still needs one.';
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'BG116',
        MESSAGE = 'permits are changed only by their lifecycle transitions',
        DETAIL = format('permit %s: permit_id, collection_name, entity_code, issued_at, issued_by and expires_at never change (attempted %s)', OLD.permit_id, to_jsonb(NEW)),
        HINT = 'Use issue_permit, revoke_permit and expire_permits; a permit is never deleted and its identity (collection, code, issue) never changes.';
END;
$$;

COMMENT ON FUNCTION birthgate.tg_birth_admission_permit_guard() IS 'Trigger function: refuses DELETE of a permit, any change of a CONSUMED/EXPIRED/REVOKED permit, and any change of a permit''s identity or terms; fires only for such changes (see the trigger WHEN clause).';

CREATE FUNCTION birthgate.tg_birth_finalize() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET row_security TO 'off'
    AS $_$
DECLARE
    v_collection text := TG_ARGV[0];
    v_family record;
    v_safe boolean;
    v_reg record;
    v_gone record;
    v_code text;
    v_old_code text;
    v_type text;
    v_present boolean;
    v_seen text[];
    v_unsafe text;
    v_actor name;
    v_switch text;
    v_bypassed boolean := false;
    v_born record;
BEGIN
    SELECT f.collection_name, f.table_name, f.code_column, f.code_pattern, f.mode, f.code_max_length,
           a.attnum IS NOT NULL AS has_column, a.atttypid
      INTO v_family
      FROM "birthgate"."birth_family" f
      LEFT JOIN pg_attribute a ON a.attrelid = f.table_name AND a.attname = f.code_column AND a.attnum > 0 AND NOT a.attisdropped
     WHERE f.collection_name = v_collection;
    IF NOT FOUND OR v_family.table_name::oid <> TG_RELID
       OR (TG_NARGS > 1 AND TG_ARGV[1] IS DISTINCT FROM v_family.code_column::text) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG128',
            MESSAGE = 'the birth gate trigger does not match its family registration',
            DETAIL = format('trigger %I on %I.%I names collection %L (column %L), which is %s', TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection, TG_ARGV[1], CASE WHEN v_family.collection_name IS NULL THEN 'not registered' WHEN v_family.table_name::oid <> TG_RELID THEN format('registered for table %s', v_family.table_name) ELSE format('registered with code column %I', v_family.code_column) END),
            HINT = format('Re-attach the gate triggers: SELECT birthgate.register_family(%L, %L, %L, %L, %L);', v_family.collection_name, v_family.table_name::text, v_family.code_column, v_family.code_pattern, v_family.mode);
    END IF;
    IF v_family.mode = 'off' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
            v_switch := pg_catalog.lower(COALESCE(pg_catalog.current_setting('birthgate.bypass_gate', true), ''));
        IF v_switch = 'on' THEN
            v_actor := COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name;
            IF NOT pg_catalog.pg_has_role(v_actor, 'birthgate_admin', 'USAGE') THEN
                RAISE EXCEPTION USING
                    ERRCODE = 'BG126',
                    MESSAGE = 'the birth gate kill switch is reserved to birthgate administrators',
                    DETAIL = format('%s = on, set by role %I (session user %I), who is not a member of %I; collection %s, code %L', 'birthgate.bypass_gate', v_actor, session_user, 'birthgate_admin', v_collection, (CASE WHEN pg_catalog.length(NULL::text) > 100 THEN pg_catalog.left(NULL::text, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(NULL::text)) ELSE NULL::text END)),
                    HINT = 'RESET birthgate.bypass_gate; (only a member of birthgate_admin may bypass the gate, with SET LOCAL birthgate.bypass_gate = on)';
            END IF;
            v_bypassed := true;
        ELSIF v_switch NOT IN ('', 'off') THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG127',
                MESSAGE = 'invalid value for the birth gate kill switch',
                DETAIL = format('%s = %L', 'birthgate.bypass_gate', pg_catalog.left(pg_catalog.current_setting('birthgate.bypass_gate', true), 100)),
                HINT = 'RESET birthgate.bypass_gate;';
        END IF;
            SELECT pg_catalog.count(*) AS n, (pg_catalog.array_agg(r.entity_code ORDER BY r.registry_id))[1] AS first_code,
                   (pg_catalog.array_agg(r.registry_id ORDER BY r.registry_id))[1] AS first_id
              INTO v_born
              FROM "birthgate"."birth_registry" r
             WHERE r.collection_name = v_collection AND r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id();
            IF v_born.n > 0 AND v_family.mode = 'enforce' AND NOT v_bypassed THEN
                RAISE EXCEPTION USING
                    ERRCODE = 'BG162',
                    MESSAGE = 'TRUNCATE refused: the table holds objects born in this transaction',
                    DETAIL = format('collection %s, table %I.%I: %s object(s) born in this transaction would be removed without a trace, e.g. code %L (registry row %s)', v_collection, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_born.n, (CASE WHEN pg_catalog.length(v_born.first_code) > 100 THEN pg_catalog.left(v_born.first_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_born.first_code)) ELSE v_born.first_code END), v_born.first_id),
                    HINT = format('Delete the unwanted rows instead (DELETE FROM %I.%I WHERE ...; layer 2 then checks each one), or commit the births first and TRUNCATE in a later transaction; to drop a birth before commit: SELECT birthgate.retire(%L, %L, ''<reason>'');', TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection, (CASE WHEN pg_catalog.length(v_born.first_code) > 100 THEN pg_catalog.left(v_born.first_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_born.first_code)) ELSE v_born.first_code END));
            END IF;
            IF v_born.n > 0 THEN
                INSERT INTO "birthgate"."birth_gate_violation" (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
                SELECT 'UNFINALIZED', v_collection, r.entity_code, pg_catalog.format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME),
                       COALESCE((SELECT l.detail ->> 'operation' FROM "birthgate"."registry_changelog" l
                                  WHERE l.registry_id = r.registry_id AND l.op = 'BORN' AND l.txid = r.born_txid LIMIT 1), 'INSERT'), v_family.mode, 2, COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name,
                       pg_catalog.jsonb_build_object('finding', 'BORN_WITHOUT_OBJECT', 'registry_id', r.registry_id, 'removed_by', 'TRUNCATE', 'bypass', v_bypassed)
                  FROM "birthgate"."birth_registry" r
                 WHERE r.collection_name = v_collection AND r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id()
                 ORDER BY r.registry_id;
            END IF;
        RETURN NULL;
    END IF;
    v_safe := v_family.atttypid IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.name'::pg_catalog.regtype);
    IF v_family.has_column AND NOT v_safe THEN
        v_safe := (WITH RECURSIVE d (oid, typtype, typbasetype, depth) AS (
                SELECT t.oid, t.typtype, t.typbasetype, 0 FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) v_family.atttypid
                UNION ALL
                SELECT t.oid, t.typtype, t.typbasetype, d.depth OPERATOR(pg_catalog.+) 1
                  FROM d JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) d.typbasetype
                 WHERE d.typtype OPERATOR(pg_catalog.=) 'd' AND d.depth OPERATOR(pg_catalog.<) 100)
            SELECT d.oid::pg_catalog.regtype FROM d WHERE d.typtype OPERATOR(pg_catalog.<>) 'd' ORDER BY d.depth LIMIT 1) IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.name'::pg_catalog.regtype);
    END IF;
    IF NOT v_family.has_column OR NOT COALESCE(v_safe, false) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG128',
            MESSAGE = 'the birth gate trigger does not match its family registration',
            DETAIL = format('column %I of %I.%I (family %s) is %s', v_family.code_column, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection, CASE WHEN NOT v_family.has_column THEN 'missing' ELSE 'not of a type the gate reads (text, varchar, name, or a domain over one)' END),
            HINT = 'Re-attach the triggers with birthgate.register_family(...) for this collection (see DETAIL), or remove the stray trigger.';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        EXECUTE pg_catalog.format('SELECT ($1).%1$I::text, ($2).%1$I::text', v_family.code_column) INTO v_code, v_old_code USING NEW, OLD;
    ELSIF TG_OP = 'INSERT' THEN
        EXECUTE pg_catalog.format('SELECT ($1).%I::text', v_family.code_column) INTO v_code USING NEW;
    ELSE
        EXECUTE pg_catalog.format('SELECT ($1).%I::text', v_family.code_column) INTO v_old_code USING OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND v_code IS NOT DISTINCT FROM v_old_code THEN
        RETURN NULL;  -- the code did not change
    END IF;

    -- the checks below plan queries over the family table as the package owner: first make sure
    -- that planning runs no code of its owner (index expressions and predicates, CHECK
    -- constraints, statistics expressions) and that no inheritance child escapes the gates.
    -- Checked at every call: a trigger of the owner may change the table between two events.
    -- (one cheap catalog probe first: only a table with such expressions, or in an inheritance
    -- tree, needs the full analysis)
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = TG_RELID AND (i.indexprs IS NOT NULL OR i.indpred IS NOT NULL))
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid = TG_RELID AND k.contype = 'c')
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_statistic_ext x WHERE x.stxrelid = TG_RELID)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhparent = TG_RELID)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhrelid = TG_RELID) THEN
        v_unsafe := "birthgate"."family_relation_unsafe"(TG_RELID);
    END IF;
    -- row-level security the package owner is subject to (since 000022): reading the table with
    -- row_security = off would fail (42501); it cannot be checked without the owner's policies
    IF v_unsafe IS NULL THEN
        v_unsafe := (SELECT pg_catalog.format('row-level security is enabled on %I.%I and the package owner %I does not bypass it: ALTER ROLE %I BYPASSRLS; or ALTER TABLE %I.%I DISABLE ROW LEVEL SECURITY;',
                                              n.nspname, k.relname, current_user, current_user, n.nspname, k.relname)
                       FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
                      WHERE k.oid = TG_RELID AND k.relrowsecurity
                        AND NOT (SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
                        AND (k.relforcerowsecurity OR NOT pg_catalog.pg_has_role(current_user, k.relowner, 'USAGE')));
    END IF;
    IF v_unsafe IS NOT NULL THEN
        IF v_family.mode = 'enforce' THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG161',
                MESSAGE = 'commit refused: the family table cannot be checked at commit without running code of its owner, or it has inheritance children',
                DETAIL = format('collection %s, code %L (%s on %I.%I): %s', v_collection, (CASE WHEN pg_catalog.length(COALESCE(v_code, v_old_code)) > 100 THEN pg_catalog.left(COALESCE(v_code, v_old_code), 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(COALESCE(v_code, v_old_code))) ELSE COALESCE(v_code, v_old_code) END), TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME, pg_catalog.left(v_unsafe, 300)),
                HINT = format('Remove what DETAIL names (DROP INDEX, DROP STATISTICS, ALTER TABLE ... DROP CONSTRAINT, or ALTER TABLE <child> NO INHERIT %I.%I), then retry the transaction; see SELECT * FROM birthgate.v_drift_report WHERE collection_name = %L;', TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection);
        END IF;
        -- report: recorded once per code and transaction; the table is not read
        v_code := COALESCE(v_code, v_old_code);
        IF NOT EXISTS (SELECT 1 FROM "birthgate"."birth_gate_violation"
                        WHERE collection_name = v_collection AND entity_code IS NOT DISTINCT FROM v_code
                          AND txid = pg_catalog.pg_current_xact_id() AND detail ->> 'finding' = 'FAMILY_TABLE_UNSAFE') THEN
            INSERT INTO "birthgate"."birth_gate_violation" (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
            VALUES ('UNFINALIZED', v_collection, v_code, pg_catalog.format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME),
                    CASE TG_OP WHEN 'UPDATE' THEN 'UPDATE' ELSE 'INSERT' END, v_family.mode, 2, COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name,
                    pg_catalog.jsonb_build_object('finding', 'FAMILY_TABLE_UNSAFE', 'reason', pg_catalog.left(v_unsafe, 300), 'trigger_operation', TG_OP));
        END IF;
        RETURN NULL;
    END IF;

    -- (a) the other direction: a code that left a row (DELETE, re-code) and was born in this
    --     transaction must still exist in the table at commit
    IF TG_OP IN ('DELETE', 'UPDATE') AND v_old_code IS NOT NULL AND v_old_code <> '' THEN
        SELECT r.registry_id, r.born_txid,
               (SELECT l.detail ->> 'operation' FROM "birthgate"."registry_changelog" l
                 WHERE l.registry_id = r.registry_id AND l.op = 'BORN' AND l.txid = r.born_txid LIMIT 1) AS birth_operation
          INTO v_gone
          FROM "birthgate"."birth_registry" r
         WHERE r.collection_name = v_collection AND r.entity_code = v_old_code
           AND r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id();
        IF FOUND THEN
            v_type := pg_catalog.format_type((WITH RECURSIVE d (oid, typtype, typbasetype, depth) AS (
            SELECT t.oid, t.typtype, t.typbasetype, 0 FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) v_family.atttypid
            UNION ALL
            SELECT t.oid, t.typtype, t.typbasetype, d.depth OPERATOR(pg_catalog.+) 1
              FROM d JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) d.typbasetype
             WHERE d.typtype OPERATOR(pg_catalog.=) 'd' AND d.depth OPERATOR(pg_catalog.<) 100)
        SELECT d.oid::pg_catalog.regtype FROM d WHERE d.typtype OPERATOR(pg_catalog.<>) 'd' ORDER BY d.depth LIMIT 1), NULL);
            EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM ONLY %I.%I WHERE %I OPERATOR(pg_catalog.=) CAST($1 AS %s))',
                                      TG_TABLE_SCHEMA, TG_TABLE_NAME, v_family.code_column, v_type)
               INTO v_present USING v_old_code;
            IF NOT v_present THEN
                SELECT pg_catalog.array_agg(DISTINCT kind) INTO v_seen FROM "birthgate"."birth_gate_violation"
                 WHERE collection_name = v_collection AND entity_code = v_old_code AND txid = pg_catalog.pg_current_xact_id()
                   AND (layer = 1 OR detail ->> 'finding' = 'BORN_WITHOUT_OBJECT');
                IF v_family.mode = 'enforce' AND NOT ('BYPASS' = ANY (COALESCE(v_seen, '{}'))) THEN
                    RAISE EXCEPTION USING
                        ERRCODE = 'BG157',
                        MESSAGE = 'commit refused: an object born in this transaction no longer exists at commit',
                        DETAIL = format('collection %s, code %L: registry row %s was born in this transaction, but no row of %I.%I has that code at commit (%s)', v_collection, (CASE WHEN pg_catalog.length(v_old_code) > 100 THEN pg_catalog.left(v_old_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_old_code)) ELSE v_old_code END), v_gone.registry_id, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE TG_OP WHEN 'DELETE' THEN 'the row was deleted' ELSE 'the row was re-coded' END),
                        HINT = format('Keep the object, or retire the code before commit: SELECT birthgate.retire(%L, %L, ''<reason>'');', v_collection, (CASE WHEN pg_catalog.length(v_old_code) > 100 THEN pg_catalog.left(v_old_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_old_code)) ELSE v_old_code END));
                END IF;
                IF v_family.mode = 'report' AND v_seen IS NULL THEN
                    INSERT INTO "birthgate"."birth_gate_violation" (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
                    VALUES ('UNFINALIZED', v_collection, v_old_code, pg_catalog.format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME),
                            COALESCE(v_gone.birth_operation, 'INSERT'), v_family.mode, 2, COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name,
                            pg_catalog.jsonb_build_object('finding', 'BORN_WITHOUT_OBJECT', 'registry_id', v_gone.registry_id,
                                                          'removed_by', TG_OP));
                END IF;
            END IF;
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN NULL;
    END IF;

    -- (b) finalized <=> a BORN registry row for this code, born in this transaction, from a CONSUMED permit for it
    SELECT r.registry_id, r.status, r.permit_id, r.born_txid, p.state AS permit_state,
           (r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id() AND p.state = 'CONSUMED'
            AND p.collection_name = r.collection_name AND p.entity_code = r.entity_code) AS finalized
      INTO v_reg
      FROM "birthgate"."birth_registry" r
      LEFT JOIN "birthgate"."birth_admission_permit" p ON p.permit_id = r.permit_id
     WHERE r.collection_name = v_collection AND r.entity_code = v_code;
    IF v_reg.finalized THEN
        RETURN NULL;
    END IF;

    -- not finalized, but fired at the end of the inserting statement itself (SET CONSTRAINTS
    -- ... IMMEDIATE): the statement-level writer fires right after this event and refuses the
    -- statement if any row is unborn, provided it is enabled
    IF TG_OP = 'INSERT' AND pg_catalog.current_setting('birthgate.gate_statement', true) = pg_catalog.statement_timestamp()::text OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) v_collection
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class k WHERE k.oid = TG_RELID AND k.relispartition)
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                     WHERE t.tgrelid = TG_RELID AND t.tgname = '_110_birth_register' AND t.tgtype = 4 AND t.tgnewtable IS NOT NULL
                       AND t.tgfoid = 'birthgate.tg_birth_register()'::pg_catalog.regprocedure
                       AND CASE t.tgenabled WHEN 'O' THEN pg_catalog.current_setting('session_replication_role') <> 'replica'
                                            WHEN 'R' THEN pg_catalog.current_setting('session_replication_role') = 'replica'
                                            WHEN 'A' THEN true ELSE false END) THEN
        RETURN NULL;
    END IF;

    -- not finalized. A version whose code is no longer in the table (deleted or re-coded before
    -- commit) is judged by (a) instead; NULL/empty codes always count (fail closed).
    IF v_code IS NOT NULL AND v_code <> '' THEN
        v_type := pg_catalog.format_type((WITH RECURSIVE d (oid, typtype, typbasetype, depth) AS (
            SELECT t.oid, t.typtype, t.typbasetype, 0 FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) v_family.atttypid
            UNION ALL
            SELECT t.oid, t.typtype, t.typbasetype, d.depth OPERATOR(pg_catalog.+) 1
              FROM d JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) d.typbasetype
             WHERE d.typtype OPERATOR(pg_catalog.=) 'd' AND d.depth OPERATOR(pg_catalog.<) 100)
        SELECT d.oid::pg_catalog.regtype FROM d WHERE d.typtype OPERATOR(pg_catalog.<>) 'd' ORDER BY d.depth LIMIT 1), NULL);
        EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM ONLY %I.%I WHERE %I OPERATOR(pg_catalog.=) CAST($1 AS %s))',
                                  TG_TABLE_SCHEMA, TG_TABLE_NAME, v_family.code_column, v_type)
           INTO v_present USING v_code;
        IF NOT v_present THEN
            RETURN NULL;
        END IF;
    END IF;

    -- did layer 1 see this code in this transaction (bypass, report finding)?
    IF v_code IS NULL THEN
        SELECT pg_catalog.array_agg(DISTINCT kind) INTO v_seen FROM "birthgate"."birth_gate_violation"
         WHERE collection_name = v_collection AND entity_code IS NULL AND txid = pg_catalog.pg_current_xact_id() AND layer = 1;
    ELSE
        SELECT pg_catalog.array_agg(DISTINCT kind) INTO v_seen FROM "birthgate"."birth_gate_violation"
         WHERE collection_name = v_collection AND entity_code = v_code AND txid = pg_catalog.pg_current_xact_id() AND layer = 1;
    END IF;

    IF v_family.mode = 'enforce' THEN
        IF 'BYPASS' = ANY (v_seen) THEN
            RETURN NULL;  -- an authorised, recorded bypass
        END IF;
        RAISE EXCEPTION USING
            ERRCODE = 'BG130',
            MESSAGE = 'commit refused: an object of an enforce family is not finalized (no BORN registry row from a consumed permit)',
            DETAIL = format('collection %s, code %L (%s on %I.%I): %s', v_collection, (CASE WHEN pg_catalog.length(v_code) > 100 THEN pg_catalog.left(v_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_code)) ELSE v_code END), TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN v_code IS NULL OR v_code = '' THEN 'the code is NULL or empty' WHEN v_reg.registry_id IS NULL THEN 'no birth_registry row' WHEN v_reg.status <> 'BORN' THEN format('registry row %s is %s', v_reg.registry_id, v_reg.status) WHEN v_reg.born_txid <> pg_catalog.pg_current_xact_id() THEN format('registry row %s was born by another transaction (%s): this row duplicates an existing object', v_reg.registry_id, v_reg.born_txid) WHEN v_reg.permit_id IS NULL THEN format('registry row %s consumed no permit', v_reg.registry_id) ELSE format('registry row %s names permit %s, which is %s or not for this code', v_reg.registry_id, v_reg.permit_id, v_reg.permit_state) END),
            HINT = format('Before commit, birth the code through a permit (SELECT birthgate.issue_permit(%L, ''<code>''), then write the row), or restore the row/registry entry that changed; check that the gate triggers of %I.%I are enabled (SELECT * FROM birthgate.v_drift_trigger_state WHERE collection_name = %L).', v_collection, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection);
    END IF;

    IF v_seen IS NULL THEN
        INSERT INTO "birthgate"."birth_gate_violation" (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
        VALUES ('UNFINALIZED', v_collection, v_code, pg_catalog.format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME), TG_OP, v_family.mode, 2, COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name,
                pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                    'registry_id', v_reg.registry_id, 'status', v_reg.status, 'permit_id', v_reg.permit_id,
                    'permit_state', v_reg.permit_state, 'born_txid', v_reg.born_txid::text,
                    'old_code', v_old_code)));
    END IF;
    RETURN NULL;
END;
$_$;

COMMENT ON FUNCTION birthgate.tg_birth_finalize() IS 'Layer 2 finalize gate (deferred constraint trigger _900_birth_finalize: AFTER INSERT OR DELETE, WHEN the statement writer is not certain to check the statement; _910_birth_finalize_recode: AFTER UPDATE changing the code column; arguments: collection, code column). At commit (or SET CONSTRAINTS ... IMMEDIATE), both directions: every row version that brought a code in this transaction must be finalized (a BORN registry row for it, born in this transaction, from a CONSUMED permit for it), and every object born in this transaction must still exist (a deleted or re-coded row leaves a birth without an object). enforce: BG130 / BG157 (unless layer 1 recorded an authorised BYPASS); report: one UNFINALIZED row (detail.finding BORN_WITHOUT_OBJECT for the second case) unless layer 1 already recorded the code; off: nothing. The births of statements it skipped are re-verified by tg_admission_reverify (since 000015).';

CREATE FUNCTION birthgate.tg_birth_gate() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    v_collection text := TG_ARGV[0];
    v_family record;
    v_safe boolean;
    v_code text;
    v_old_code text;
    v_actor name;
    v_switch text;
    v_bypassed boolean := false;
    v_marker text;
BEGIN
    SELECT f.collection_name, f.table_name, f.code_column, f.code_pattern, f.mode, f.code_max_length,
           a.attnum IS NOT NULL AS has_column, a.atttypid, a.attcollation
      INTO v_family
      FROM "birthgate"."birth_family" f
      LEFT JOIN pg_attribute a ON a.attrelid = f.table_name AND a.attname = f.code_column AND a.attnum > 0 AND NOT a.attisdropped
     WHERE f.collection_name = v_collection;
    IF NOT FOUND OR v_family.table_name::oid <> TG_RELID
       OR (TG_NARGS > 1 AND TG_ARGV[1] IS DISTINCT FROM v_family.code_column::text) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG128',
            MESSAGE = 'the birth gate trigger does not match its family registration',
            DETAIL = format('trigger %I on %I.%I names collection %L (column %L), which is %s', TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection, TG_ARGV[1], CASE WHEN v_family.collection_name IS NULL THEN 'not registered' WHEN v_family.table_name::oid <> TG_RELID THEN format('registered for table %s', v_family.table_name) ELSE format('registered with code column %I', v_family.code_column) END),
            HINT = format('Re-attach the gate triggers: SELECT birthgate.register_family(%L, %L, %L, %L, %L);', v_family.collection_name, v_family.table_name::text, v_family.code_column, v_family.code_pattern, v_family.mode);
    END IF;
    -- the statement marker: the WHEN clause of _100_birth_gate calls this function for the first
    -- row of each statement (and otherwise only for a row it might refuse). It tells layer 2,
    -- should it fire at the end of this very statement (SET CONSTRAINTS ... IMMEDIATE), that the
    -- statement-level writer has yet to run. For an INSERT in enforce mode whose writer is
    -- attached and enabled now, it also arms the second marker, which keeps the WHEN clause of
    -- _900_birth_finalize from queuing a commit-time event per row: the writer checks every row
    -- of the statement at its end. Both are only trusted together with the writer trigger, so
    -- setting them by hand skips nothing the writer does not check.
    v_marker := pg_catalog.statement_timestamp()::text OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) v_collection;
    -- a family table that has become a partition (since 000020): rows routed through its parent
    -- never reach its statement-level writer, so the statement is never armed; enforce refuses,
    -- report leaves every row to layer 2 (neither marker is this statement's, so the WHEN clause
    -- calls this function for every row and _900_birth_finalize queues every row)
    IF pg_catalog.current_setting('birthgate.gate_statement', true) IS DISTINCT FROM v_marker
       AND v_family.mode <> 'off'
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_class k WHERE k.oid = TG_RELID AND k.relispartition) THEN
        IF v_family.mode = 'enforce' THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG163',
                MESSAGE = 'write refused: the family table has become a partition, and rows routed through its parent would bypass the birth writer',
                DETAIL = format('collection %s: %I.%I is now a partition of %s (%s)', v_collection, TG_TABLE_SCHEMA, TG_TABLE_NAME, (SELECT pg_catalog.string_agg(i.inhparent::pg_catalog.regclass::text, ', ') FROM pg_catalog.pg_inherits i WHERE i.inhrelid = TG_RELID), TG_OP),
                HINT = format('Detach it: ALTER TABLE %s DETACH PARTITION %I.%I; or stop governing it first: SELECT birthgate.set_family_mode(%L, ''report'');', (SELECT i.inhparent::pg_catalog.regclass::text FROM pg_catalog.pg_inherits i WHERE i.inhrelid = TG_RELID LIMIT 1), TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection);
        END IF;
        PERFORM pg_catalog.set_config('birthgate.gate_statement', '', true);
        PERFORM pg_catalog.set_config('birthgate.gate_armed', '', true);
    ELSIF pg_catalog.current_setting('birthgate.gate_statement', true) IS DISTINCT FROM v_marker THEN
        -- a code column whose collation makes different codes equal (since 000020; register_family
        -- refuses it, a family registered before is refused here in enforce)
        IF v_family.mode = 'enforce'
           AND EXISTS (SELECT 1 FROM pg_catalog.pg_collation k WHERE k.oid = v_family.attcollation AND NOT k.collisdeterministic) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG164',
                MESSAGE = 'write refused: the code column has a nondeterministic collation, under which different codes compare equal',
                DETAIL = format('collection %s: column %I of %I.%I has the nondeterministic collation %s (%s)', v_collection, v_family.code_column, TG_TABLE_SCHEMA, TG_TABLE_NAME, (SELECT pg_catalog.format('%I.%I', n.nspname, k.collname) FROM pg_catalog.pg_collation k JOIN pg_catalog.pg_namespace n ON n.oid = k.collnamespace WHERE k.oid = v_family.attcollation), TG_OP),
                HINT = format('Give %I a deterministic collation (drop the gate triggers, ALTER TABLE %I.%I ALTER COLUMN %I TYPE text COLLATE "default"; then SELECT birthgate.register_family(...) again), or stop governing the table: SELECT birthgate.set_family_mode(%L, ''report'');', v_family.code_column, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_family.code_column, v_collection);
        END IF;
        PERFORM pg_catalog.set_config('birthgate.gate_statement', v_marker, true);
        PERFORM pg_catalog.set_config('birthgate.gate_armed',
            CASE WHEN TG_OP = 'INSERT' AND v_family.mode = 'enforce' AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                     WHERE t.tgrelid = TG_RELID AND t.tgname = '_110_birth_register' AND t.tgtype = 4 AND t.tgnewtable IS NOT NULL
                       AND t.tgfoid = 'birthgate.tg_birth_register()'::pg_catalog.regprocedure
                       AND CASE t.tgenabled WHEN 'O' THEN pg_catalog.current_setting('session_replication_role') <> 'replica'
                                            WHEN 'R' THEN pg_catalog.current_setting('session_replication_role') = 'replica'
                                            WHEN 'A' THEN true ELSE false END) THEN v_marker ELSE '' END, true);
    END IF;
    IF v_family.mode = 'off' THEN
        RETURN NEW;
    END IF;
    v_safe := v_family.atttypid IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.name'::pg_catalog.regtype);
    IF v_family.has_column AND NOT v_safe THEN
        v_safe := (WITH RECURSIVE d (oid, typtype, typbasetype, depth) AS (
                SELECT t.oid, t.typtype, t.typbasetype, 0 FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) v_family.atttypid
                UNION ALL
                SELECT t.oid, t.typtype, t.typbasetype, d.depth OPERATOR(pg_catalog.+) 1
                  FROM d JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) d.typbasetype
                 WHERE d.typtype OPERATOR(pg_catalog.=) 'd' AND d.depth OPERATOR(pg_catalog.<) 100)
            SELECT d.oid::pg_catalog.regtype FROM d WHERE d.typtype OPERATOR(pg_catalog.<>) 'd' ORDER BY d.depth LIMIT 1) IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.name'::pg_catalog.regtype);
    END IF;
    IF NOT v_family.has_column OR NOT COALESCE(v_safe, false) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG128',
            MESSAGE = 'the birth gate trigger does not match its family registration',
            DETAIL = format('column %I of %I.%I (family %s) is %s', v_family.code_column, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection, CASE WHEN NOT v_family.has_column THEN 'missing' ELSE 'not of a type the gate reads (text, varchar, name, or a domain over one)' END),
            HINT = 'Re-attach the triggers with birthgate.register_family(...) for this collection (see DETAIL), or remove the stray trigger.';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        EXECUTE pg_catalog.format('SELECT ($1).%1$I::text, ($2).%1$I::text', v_family.code_column) INTO v_code, v_old_code USING NEW, OLD;
    ELSIF TG_OP = 'INSERT' THEN
        EXECUTE pg_catalog.format('SELECT ($1).%I::text', v_family.code_column) INTO v_code USING NEW;
    ELSE
        EXECUTE pg_catalog.format('SELECT ($1).%I::text', v_family.code_column) INTO v_old_code USING OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND v_code IS NOT DISTINCT FROM v_old_code THEN
        RETURN NEW;  -- the code did not change
    END IF;
    v_switch := pg_catalog.lower(COALESCE(pg_catalog.current_setting('birthgate.bypass_gate', true), ''));
    IF v_switch = 'on' THEN
        v_actor := COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name;
        IF NOT pg_catalog.pg_has_role(v_actor, 'birthgate_admin', 'USAGE') THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG126',
                MESSAGE = 'the birth gate kill switch is reserved to birthgate administrators',
                DETAIL = format('%s = on, set by role %I (session user %I), who is not a member of %I; collection %s, code %L', 'birthgate.bypass_gate', v_actor, session_user, 'birthgate_admin', v_collection, (CASE WHEN pg_catalog.length(v_code) > 100 THEN pg_catalog.left(v_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_code)) ELSE v_code END)),
                HINT = 'RESET birthgate.bypass_gate; (only a member of birthgate_admin may bypass the gate, with SET LOCAL birthgate.bypass_gate = on)';
        END IF;
        v_bypassed := true;
    ELSIF v_switch NOT IN ('', 'off') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG127',
            MESSAGE = 'invalid value for the birth gate kill switch',
            DETAIL = format('%s = %L', 'birthgate.bypass_gate', pg_catalog.left(pg_catalog.current_setting('birthgate.bypass_gate', true), 100)),
            HINT = 'RESET birthgate.bypass_gate;';
    END IF;
    IF pg_catalog.length(v_code) > v_family.code_max_length THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG152',
            MESSAGE = 'the code is longer than the family allows',
            DETAIL = format('collection %s, table %I.%I: code of %s characters (limit %s): %L', v_collection, TG_TABLE_SCHEMA, TG_TABLE_NAME, pg_catalog.length(v_code), v_family.code_max_length, (CASE WHEN pg_catalog.length(v_code) > 100 THEN pg_catalog.left(v_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_code)) ELSE v_code END)),
            HINT = format('Use a code of at most %s characters, or raise the limit: SELECT birthgate.set_family_code_limit(%L, %s);', v_family.code_max_length, v_collection, LEAST(pg_catalog.length(v_code), 600));
    END IF;
    IF v_family.mode = 'enforce' AND NOT v_bypassed THEN
        IF v_code IS NULL OR v_code = '' THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG124',
                MESSAGE = 'birth refused: the code is NULL or empty',
                DETAIL = format('collection %s, column %I of %I.%I is %s', v_collection, v_family.code_column, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN v_code IS NULL THEN 'NULL' ELSE 'empty' END),
                HINT = format('Set %I to a permitted code: SELECT birthgate.issue_permit(%L, ''<code>'');', v_family.code_column, v_collection);
        ELSIF v_code !~ v_family.code_pattern THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG123',
                MESSAGE = 'birth refused: the code does not match the family code pattern',
                DETAIL = format('collection %s, code %L does not match %L (table %I.%I)', v_collection, (CASE WHEN pg_catalog.length(v_code) > 100 THEN pg_catalog.left(v_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_code)) ELSE v_code END), v_family.code_pattern, TG_TABLE_SCHEMA, TG_TABLE_NAME),
                HINT = format('Use a code that matches %L (SELECT code_pattern FROM birthgate.birth_family WHERE collection_name = %L), or correct the pattern with SELECT birthgate.register_family(%L, %L, %L, ''<pattern>'', %L);', v_family.code_pattern, v_collection, v_collection, v_family.table_name::text, v_family.code_column, v_family.mode);
        END IF;
    END IF;
    RETURN NEW;
END;
$_$;

COMMENT ON FUNCTION birthgate.tg_birth_gate() IS 'Layer 1 birth gate, validation half (trigger _100_birth_gate, BEFORE INSERT OR UPDATE OF the code column, FOR EACH ROW; arguments: collection, code column). Checks the proposed row like a CHECK constraint and writes nothing: the kill switch (birthgate.bypass_gate = on only for members of birthgate_admin, else BG126), the family code length limit (BG152, report and enforce), NULL/empty code (BG124) and the pattern (BG123) in enforce. Permits, the registry and the changelog are handled by tg_birth_register for the rows actually written.';

CREATE FUNCTION birthgate.tg_birth_gate_violation_append_only() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'BG150',
        MESSAGE = 'birth_gate_violation is append-only',
        DETAIL = format('%s on %I.%I refused (violation_id %s)', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN TG_LEVEL = 'ROW' THEN OLD.violation_id::text ELSE 'all' END),
        HINT = 'Violations are audit evidence: never UPDATE, DELETE or TRUNCATE them.';
END;
$$;

COMMENT ON FUNCTION birthgate.tg_birth_gate_violation_append_only() IS 'Trigger function: refuses UPDATE, DELETE and TRUNCATE on birth_gate_violation (append-only audit evidence).';

CREATE FUNCTION birthgate.tg_birth_register() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET plan_cache_mode TO 'auto'
    SET enable_seqscan TO 'off'
    SET enable_nestloop TO 'on'
    AS $_$
DECLARE
    v_collection text := TG_ARGV[0];
    v_family record;
    v_safe boolean;
    v_code text;
    v_old_code text;
    v_codes text[];
    v_longest integer;
    v_actor name;
    v_switch text;
    v_bypassed boolean := false;
    v_ts timestamptz;
    v_table text := pg_catalog.format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME);
    v_res record;
    v_bad_code text;
    v_last record;
    v_permit_id bigint;
    v_registry_id bigint;
    v_born_at timestamptz;
    v_consumed boolean;
BEGIN
    SELECT f.collection_name, f.table_name, f.code_column, f.code_pattern, f.mode, f.code_max_length,
           a.attnum IS NOT NULL AS has_column, a.atttypid
      INTO v_family
      FROM "birthgate"."birth_family" f
      LEFT JOIN pg_attribute a ON a.attrelid = f.table_name AND a.attname = f.code_column AND a.attnum > 0 AND NOT a.attisdropped
     WHERE f.collection_name = v_collection;
    IF NOT FOUND OR v_family.table_name::oid <> TG_RELID
       OR (TG_NARGS > 1 AND TG_ARGV[1] IS DISTINCT FROM v_family.code_column::text) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG128',
            MESSAGE = 'the birth gate trigger does not match its family registration',
            DETAIL = format('trigger %I on %I.%I names collection %L (column %L), which is %s', TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection, TG_ARGV[1], CASE WHEN v_family.collection_name IS NULL THEN 'not registered' WHEN v_family.table_name::oid <> TG_RELID THEN format('registered for table %s', v_family.table_name) ELSE format('registered with code column %I', v_family.code_column) END),
            HINT = format('Re-attach the gate triggers: SELECT birthgate.register_family(%L, %L, %L, %L, %L);', v_family.collection_name, v_family.table_name::text, v_family.code_column, v_family.code_pattern, v_family.mode);
    END IF;
    IF TG_LEVEL = 'STATEMENT' AND (pg_catalog.current_setting('birthgate.gate_statement', true) <> ''
                                   OR pg_catalog.current_setting('birthgate.gate_armed', true) <> '') THEN
        -- the writer runs now: layer 2 no longer waits for it, and a later statement of the same
        -- top-level call arms again (see tg_birth_gate)
        PERFORM pg_catalog.set_config('birthgate.gate_statement', '', true);
        PERFORM pg_catalog.set_config('birthgate.gate_armed', '', true);
    END IF;
    IF v_family.mode = 'off' THEN
        RETURN NULL;
    END IF;
    v_safe := v_family.atttypid IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.name'::pg_catalog.regtype);
    IF v_family.has_column AND NOT v_safe THEN
        v_safe := (WITH RECURSIVE d (oid, typtype, typbasetype, depth) AS (
                SELECT t.oid, t.typtype, t.typbasetype, 0 FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) v_family.atttypid
                UNION ALL
                SELECT t.oid, t.typtype, t.typbasetype, d.depth OPERATOR(pg_catalog.+) 1
                  FROM d JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) d.typbasetype
                 WHERE d.typtype OPERATOR(pg_catalog.=) 'd' AND d.depth OPERATOR(pg_catalog.<) 100)
            SELECT d.oid::pg_catalog.regtype FROM d WHERE d.typtype OPERATOR(pg_catalog.<>) 'd' ORDER BY d.depth LIMIT 1) IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.name'::pg_catalog.regtype);
    END IF;
    IF NOT v_family.has_column OR NOT COALESCE(v_safe, false) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG128',
            MESSAGE = 'the birth gate trigger does not match its family registration',
            DETAIL = format('column %I of %I.%I (family %s) is %s', v_family.code_column, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection, CASE WHEN NOT v_family.has_column THEN 'missing' ELSE 'not of a type the gate reads (text, varchar, name, or a domain over one)' END),
            HINT = 'Re-attach the triggers with birthgate.register_family(...) for this collection (see DETAIL), or remove the stray trigger.';
    END IF;
    IF TG_LEVEL = 'STATEMENT' THEN
        -- the rows really inserted (an ON CONFLICT row that was not inserted is not here)
        -- (with the longest code, so that the length check below needs no pass of its own)
        EXECUTE pg_catalog.format('SELECT pg_catalog.array_agg(t.c), pg_catalog.max(pg_catalog.length(t.c)) FROM (SELECT (n.%I)::text AS c FROM birthgate_new n) t', v_family.code_column)
           INTO v_codes, v_longest;
        IF v_codes IS NULL THEN
            RETURN NULL;
        END IF;
    ELSE
        -- a re-code: only a changed code counts
        IF TG_OP = 'UPDATE' THEN
            EXECUTE pg_catalog.format('SELECT ($1).%1$I::text, ($2).%1$I::text', v_family.code_column) INTO v_code, v_old_code USING NEW, OLD;
        ELSIF TG_OP = 'INSERT' THEN
            EXECUTE pg_catalog.format('SELECT ($1).%I::text', v_family.code_column) INTO v_code USING NEW;
        ELSE
            EXECUTE pg_catalog.format('SELECT ($1).%I::text', v_family.code_column) INTO v_old_code USING OLD;
        END IF;
        IF v_code IS NOT DISTINCT FROM v_old_code THEN
            RETURN NULL;
        END IF;
        v_codes := ARRAY[v_code];
        v_longest := pg_catalog.length(v_code);
    END IF;
    v_switch := pg_catalog.lower(COALESCE(pg_catalog.current_setting('birthgate.bypass_gate', true), ''));
    IF v_switch = 'on' THEN
        v_actor := COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name;
        IF NOT pg_catalog.pg_has_role(v_actor, 'birthgate_admin', 'USAGE') THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG126',
                MESSAGE = 'the birth gate kill switch is reserved to birthgate administrators',
                DETAIL = format('%s = on, set by role %I (session user %I), who is not a member of %I; collection %s, code %L', 'birthgate.bypass_gate', v_actor, session_user, 'birthgate_admin', v_collection, (CASE WHEN pg_catalog.length(v_codes[1]) > 100 THEN pg_catalog.left(v_codes[1], 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_codes[1])) ELSE v_codes[1] END)),
                HINT = 'RESET birthgate.bypass_gate; (only a member of birthgate_admin may bypass the gate, with SET LOCAL birthgate.bypass_gate = on)';
        END IF;
        v_bypassed := true;
    ELSIF v_switch NOT IN ('', 'off') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG127',
            MESSAGE = 'invalid value for the birth gate kill switch',
            DETAIL = format('%s = %L', 'birthgate.bypass_gate', pg_catalog.left(pg_catalog.current_setting('birthgate.bypass_gate', true), 100)),
            HINT = 'RESET birthgate.bypass_gate;';
    END IF;
    v_actor := COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name;
    IF v_longest > v_family.code_max_length THEN
        SELECT x.code INTO v_bad_code FROM pg_catalog.unnest(v_codes) AS x(code)
         WHERE pg_catalog.length(x.code) > v_family.code_max_length LIMIT 1;
        RAISE EXCEPTION USING
            ERRCODE = 'BG152',
            MESSAGE = 'the code is longer than the family allows',
            DETAIL = format('collection %s, table %I.%I: code of %s characters (limit %s): %L', v_collection, TG_TABLE_SCHEMA, TG_TABLE_NAME, pg_catalog.length(v_bad_code), v_family.code_max_length, (CASE WHEN pg_catalog.length(v_bad_code) > 100 THEN pg_catalog.left(v_bad_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_bad_code)) ELSE v_bad_code END)),
            HINT = format('Use a code of at most %s characters, or raise the limit: SELECT birthgate.set_family_code_limit(%L, %s);', v_family.code_max_length, v_collection, LEAST(pg_catalog.length(v_bad_code), 600));
    END IF;
    v_ts := pg_catalog.clock_timestamp();
    -- a statement of many codes joins them with hash joins: linear whatever the statistics say.
    -- Permits issued, or rows born, in this transaction or since the last ANALYZE can make the
    -- planner take the registry and the permits for nearly empty, and a nested loop over them
    -- is then quadratic (20,000 codes against 40,000 fresh permits: minutes instead of a
    -- second). A few codes keep index probes. The setting is scoped to this function (its SET
    -- clause restores it on exit).
    IF pg_catalog.cardinality(v_codes) > 1000 THEN
        PERFORM pg_catalog.set_config('enable_nestloop', 'off', true);
    END IF;

    -- one code, nothing to report: four point statements with cached plans (the common case of an
    -- application writing one row). Anything else, and any check that fails here, takes the
    -- set-based statement below, which names the problem.
    IF NOT v_bypassed AND pg_catalog.cardinality(v_codes) = 1 AND v_family.mode IN ('enforce', 'report') THEN
        v_code := v_codes[1];
        IF v_code <> '' AND v_code ~ v_family.code_pattern THEN
            -- the live permit, if the code is not born (the same check the set-based statement makes)
            SELECT p.permit_id INTO v_permit_id FROM "birthgate"."birth_admission_permit" p
             WHERE p.collection_name = v_collection AND p.entity_code = v_code AND p.state = 'ISSUED' AND p.expires_at > v_ts
               AND NOT EXISTS (SELECT 1 FROM "birthgate"."birth_registry" r WHERE r.collection_name = v_collection AND r.entity_code = v_code);
            IF FOUND THEN
                -- consume the version seen (a concurrent consumer makes this wait, then find nothing)
                UPDATE "birthgate"."birth_admission_permit" p
                   SET state = 'CONSUMED', consumed_at = GREATEST(v_ts, p.issued_at), consumed_by = v_actor
                 WHERE p.permit_id = v_permit_id AND p.state = 'ISSUED' AND p.expires_at > v_ts;
                v_consumed := FOUND;
                IF v_consumed THEN
                    INSERT INTO "birthgate"."birth_registry" (collection_name, entity_code, permit_id, born_by)
                    VALUES (v_collection, v_code, v_permit_id, v_actor)
                    ON CONFLICT (entity_code, collection_name) DO NOTHING
                    RETURNING registry_id, born_at INTO v_registry_id, v_born_at;
                END IF;
                IF v_registry_id IS NULL THEN
                    -- lost to a concurrent transaction (the permit or the code): refuse, as the set-based
                    -- statement does (a consume made here rolls back with the statement)
                    v_bad_code := v_code;
                    RAISE EXCEPTION USING
                        ERRCODE = 'BG158',
                        MESSAGE = 'birth refused: a concurrent transaction consumed the permit or bore the code first',
                        DETAIL = format('collection %s, table %I.%I: %s of 1 code(s) consumed a permit, 0 were born; e.g. code %L was taken by a concurrent transaction', v_collection, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN v_consumed THEN 1 ELSE 0 END, (CASE WHEN pg_catalog.length(v_bad_code) > 100 THEN pg_catalog.left(v_bad_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_bad_code)) ELSE v_bad_code END)),
                        HINT = 'The code is (being) born by another transaction; check birthgate.birth_registry, and use a new code with its own permit if this object is a different one.';
                END IF;
                INSERT INTO "birthgate"."registry_changelog" (op, collection_name, entity_code, registry_id, born_at, actor, detail)
                VALUES ('BORN', v_collection, v_code, v_registry_id, v_born_at, v_actor,
                        pg_catalog.jsonb_build_object('permit_id', v_permit_id, 'table', v_table, 'operation', TG_OP,
                                                      'mode', v_family.mode, 'bypass', false));
                IF TG_LEVEL = 'STATEMENT' THEN
                    INSERT INTO "birthgate"."admission_verify" (txid, collection_name) VALUES (pg_catalog.pg_current_xact_id(), v_collection) ON CONFLICT DO NOTHING;
                END IF;
                RETURN NULL;
            END IF;
        END IF;
    END IF;
    -- the set-based statement: planned at every execution, whatever the sizes were when a plan was
    -- last cached, and free to scan whole tables for hash joins (both restored on exit by the SET
    -- clauses, which keep the point statements above on index probes even if their plans were
    -- cached while the tables were small)
    PERFORM pg_catalog.set_config('plan_cache_mode', 'force_custom_plan', true);
    PERFORM pg_catalog.set_config('enable_seqscan', 'on', true);

    IF v_family.mode = 'report' OR v_bypassed THEN
        WITH src AS (
            SELECT x.code, x.ord FROM pg_catalog.unnest(v_codes) WITH ORDINALITY AS x(code, ord)
        ), codes AS (
            SELECT s.code, pg_catalog.count(*) AS n FROM src s WHERE s.code IS NOT NULL AND s.code <> '' GROUP BY s.code
        ), chk AS MATERIALIZED (
            SELECT k.code, k.n, r.registry_id AS prior_id, r.status AS prior_status, p.permit_id AS live_id, p.ctid AS live_ctid,
                   k.code ~ v_family.code_pattern AS matches
              FROM codes k
              LEFT JOIN "birthgate"."birth_registry" r ON r.collection_name = v_collection AND r.entity_code = k.code
              LEFT JOIN "birthgate"."birth_admission_permit" p ON p.collection_name = v_collection AND p.entity_code = k.code
                                    AND p.state = 'ISSUED' AND p.expires_at > v_ts
        ), consumed AS (
            UPDATE "birthgate"."birth_admission_permit" p
               SET state = 'CONSUMED', consumed_at = GREATEST(v_ts, p.issued_at), consumed_by = v_actor
              FROM chk
             WHERE p.ctid = chk.live_ctid AND p.permit_id = chk.live_id AND chk.prior_id IS NULL
               AND p.state = 'ISSUED' AND p.expires_at > v_ts
            RETURNING p.permit_id, p.entity_code
        ), born AS (
            INSERT INTO "birthgate"."birth_registry" (collection_name, entity_code, permit_id, born_by)
            SELECT v_collection, chk.code, x.permit_id, v_actor
              FROM chk LEFT JOIN consumed x ON x.entity_code = chk.code
             WHERE chk.prior_id IS NULL
            ON CONFLICT (entity_code, collection_name) DO NOTHING
            RETURNING registry_id, entity_code, born_at, permit_id
        ), logged AS (
            INSERT INTO "birthgate"."registry_changelog" (op, collection_name, entity_code, registry_id, born_at, actor, detail)
            SELECT 'BORN', v_collection, b.entity_code, b.registry_id, b.born_at, v_actor,
                   pg_catalog.jsonb_build_object('permit_id', b.permit_id, 'table', v_table, 'operation', TG_OP,
                                                 'mode', v_family.mode, 'bypass', v_bypassed)
              FROM born b
            RETURNING 1
        ), facts AS (
            SELECT s.code, s.ord,
                   pg_catalog.row_number() OVER (PARTITION BY s.code ORDER BY s.ord) AS k,
                   chk.prior_id, chk.prior_status, chk.matches, x.permit_id AS consumed_id, b.registry_id AS born_id
              FROM src s
              LEFT JOIN chk ON chk.code = s.code
              LEFT JOIN consumed x ON x.entity_code = s.code
              LEFT JOIN born b ON b.entity_code = s.code
        ), judged AS (
            SELECT f.*, lp.permit_id AS last_id, lp.state AS last_state, lp.expires_at AS last_expires, lp.revoke_reason AS last_reason,
                   (CASE WHEN f.code IS NULL OR f.code = '' THEN ARRAY['NULL_CODE']
                         ELSE CASE WHEN f.matches THEN '{}'::text[] ELSE ARRAY['PATTERN_MISMATCH'] END
                              || CASE WHEN f.prior_id IS NOT NULL OR f.k > 1 OR f.born_id IS NULL THEN ARRAY['ALREADY_BORN']
                                      WHEN f.consumed_id IS NOT NULL THEN '{}'::text[]
                                      WHEN lp.state IN ('ISSUED', 'EXPIRED') THEN ARRAY['PERMIT_EXPIRED']
                                      WHEN lp.state = 'REVOKED' THEN ARRAY['PERMIT_REVOKED']
                                      ELSE ARRAY['NO_PERMIT'] END
                    END)::text[] AS findings
              FROM facts f
              LEFT JOIN LATERAL (
                    SELECT p.permit_id, p.state, p.expires_at, p.revoke_reason
                      FROM "birthgate"."birth_admission_permit" p
                     WHERE f.consumed_id IS NULL AND f.born_id IS NOT NULL AND f.k = 1
                       AND p.collection_name = v_collection AND p.entity_code = f.code
                     ORDER BY p.permit_id DESC
                     LIMIT 1) lp ON true
        ), seen AS (
            SELECT j.*, pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                       'operation', TG_OP,
                       'code_pattern', v_family.code_pattern,
                       'permit_id', j.consumed_id,
                       'registry_id', CASE WHEN j.k = 1 THEN j.born_id END,
                       'registered', j.k = 1 AND j.born_id IS NOT NULL,
                       'prior_registry_id', j.prior_id,
                       'prior_status', j.prior_status,
                       'latest_permit', CASE WHEN j.last_id IS NOT NULL THEN pg_catalog.jsonb_build_object(
                           'permit_id', j.last_id, 'state', j.last_state, 'expires_at', j.last_expires, 'revoke_reason', j.last_reason) END,
                       'old_code', v_old_code,
                       'duplicate_in_statement', CASE WHEN j.k > 1 THEN true END)) AS detail
              FROM judged j
        ), recorded AS (
            INSERT INTO "birthgate"."birth_gate_violation" (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
            SELECT v.kind, v_collection, v.code, v_table, TG_OP, v_family.mode, 1, v_actor, v.detail
              FROM (SELECT 'BYPASS' AS kind, s.code, s.ord, 0::bigint AS fno,
                           s.detail || pg_catalog.jsonb_build_object('findings', pg_catalog.to_jsonb(s.findings)) AS detail
                      FROM seen s
                     WHERE v_bypassed
                    UNION ALL
                    SELECT CASE y.finding WHEN 'ALREADY_BORN' THEN 'NO_PERMIT' ELSE y.finding END, s.code, s.ord, y.fno,
                           s.detail || pg_catalog.jsonb_build_object('finding', y.finding)
                      FROM seen s
                     CROSS JOIN LATERAL pg_catalog.unnest(s.findings) WITH ORDINALITY AS y(finding, fno)
                     WHERE NOT v_bypassed) AS v
             ORDER BY v.ord, v.fno
            RETURNING 1
        )
        SELECT (SELECT pg_catalog.count(*) FROM born) AS born,
               (SELECT pg_catalog.count(*) FROM recorded) AS recorded
          INTO v_res;
        IF TG_LEVEL = 'STATEMENT' THEN
            INSERT INTO "birthgate"."admission_verify" (txid, collection_name) VALUES (pg_catalog.pg_current_xact_id(), v_collection) ON CONFLICT DO NOTHING;
        END IF;
        RETURN NULL;
    END IF;

    WITH codes AS (
        SELECT x.code, pg_catalog.count(*) AS n FROM pg_catalog.unnest(v_codes) AS x(code) GROUP BY x.code
    ), chk AS MATERIALIZED (
        SELECT k.code, k.n, r.registry_id AS prior_id, r.status AS prior_status, p.permit_id AS live_id, p.ctid AS live_ctid
          FROM codes k
          LEFT JOIN "birthgate"."birth_registry" r ON r.collection_name = v_collection AND r.entity_code = k.code
          LEFT JOIN "birthgate"."birth_admission_permit" p ON p.collection_name = v_collection AND p.entity_code = k.code
                                AND p.state = 'ISSUED' AND p.expires_at > v_ts
    ), bad AS (
        SELECT chk.*,
               CASE WHEN chk.code IS NULL OR chk.code = '' THEN 1
                    WHEN pg_catalog.length(chk.code) > v_family.code_max_length THEN 2
                    WHEN chk.code !~ v_family.code_pattern THEN 3
                    WHEN chk.n > 1 OR chk.prior_id IS NOT NULL THEN 4
                    ELSE 5 END AS reason
          FROM chk
         WHERE chk.code IS NULL OR chk.code = '' OR pg_catalog.length(chk.code) > v_family.code_max_length
            OR chk.code !~ v_family.code_pattern OR chk.n > 1 OR chk.prior_id IS NOT NULL OR chk.live_id IS NULL
         ORDER BY 6, 1
         LIMIT 1
    ), consumed AS (
        UPDATE "birthgate"."birth_admission_permit" p
           SET state = 'CONSUMED', consumed_at = GREATEST(v_ts, p.issued_at), consumed_by = v_actor
          FROM chk
         WHERE p.ctid = chk.live_ctid AND p.permit_id = chk.live_id  -- the version seen (a concurrent change is re-checked)
           AND p.state = 'ISSUED' AND p.expires_at > v_ts
           AND NOT EXISTS (SELECT 1 FROM bad)
        RETURNING p.permit_id, p.entity_code
    ), born AS (
        INSERT INTO "birthgate"."birth_registry" (collection_name, entity_code, permit_id, born_by)
        SELECT v_collection, x.entity_code, x.permit_id, v_actor FROM consumed x
        ON CONFLICT (entity_code, collection_name) DO NOTHING
        RETURNING registry_id, entity_code, born_at, permit_id
    ), logged AS (
        INSERT INTO "birthgate"."registry_changelog" (op, collection_name, entity_code, registry_id, born_at, actor, detail)
        SELECT 'BORN', v_collection, b.entity_code, b.registry_id, b.born_at, v_actor,
               pg_catalog.jsonb_build_object('permit_id', b.permit_id, 'table', v_table, 'operation', TG_OP,
                                             'mode', 'enforce', 'bypass', false)
          FROM born b
        RETURNING 1
    )
    SELECT (SELECT pg_catalog.count(*) FROM chk) AS codes,
           (SELECT pg_catalog.count(*) FROM consumed) AS consumed,
           (SELECT pg_catalog.count(*) FROM born) AS born,
           bad.code AS bad_code, bad.n AS bad_n, bad.prior_id AS bad_prior_id, bad.prior_status AS bad_prior_status,
           bad.reason AS bad_reason, bad.code IS NOT NULL OR bad.reason IS NOT NULL AS bad_found
      INTO v_res
      FROM (SELECT 1) AS one
      LEFT JOIN bad ON true;
    IF v_res.bad_found THEN
        v_bad_code := v_res.bad_code;
        IF v_res.bad_reason = 1 THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG124',
                MESSAGE = 'birth refused: the code is NULL or empty',
                DETAIL = format('collection %s, column %I of %I.%I is %s', v_collection, v_family.code_column, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN v_bad_code IS NULL THEN 'NULL' ELSE 'empty' END),
                HINT = 'Every governed row needs a code: set the code column to a permitted code.';
        ELSIF v_res.bad_reason = 2 THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG152',
                MESSAGE = 'the code is longer than the family allows',
                DETAIL = format('collection %s, table %I.%I: code of %s characters (limit %s): %L', v_collection, TG_TABLE_SCHEMA, TG_TABLE_NAME, pg_catalog.length(v_bad_code), v_family.code_max_length, (CASE WHEN pg_catalog.length(v_bad_code) > 100 THEN pg_catalog.left(v_bad_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_bad_code)) ELSE v_bad_code END)),
                HINT = format('Use a code of at most %s characters, or raise the limit: SELECT birthgate.set_family_code_limit(%L, %s);', v_family.code_max_length, v_collection, LEAST(pg_catalog.length(v_bad_code), 600));
        ELSIF v_res.bad_reason = 3 THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG123',
                MESSAGE = 'birth refused: the code does not match the family code pattern',
                DETAIL = format('collection %s, code %L does not match %L (table %I.%I)', v_collection, (CASE WHEN pg_catalog.length(v_bad_code) > 100 THEN pg_catalog.left(v_bad_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_bad_code)) ELSE v_bad_code END), v_family.code_pattern, TG_TABLE_SCHEMA, TG_TABLE_NAME),
                HINT = 'Use a code that matches the family code_pattern (see DETAIL), or have an admin correct the pattern with register_family.';
        ELSIF v_res.bad_reason = 4 THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG125',
                MESSAGE = 'birth refused: the code is already in the birth registry',
                DETAIL = CASE WHEN v_res.bad_prior_id IS NOT NULL THEN format('collection %s, code %L is already in the registry (registry_id %s, %s); table %I.%I, %s', v_collection, (CASE WHEN pg_catalog.length(v_bad_code) > 100 THEN pg_catalog.left(v_bad_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_bad_code)) ELSE v_bad_code END), v_res.bad_prior_id, v_res.bad_prior_status, TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP) ELSE format('collection %s, code %L appears %s times in one %s on %I.%I', v_collection, (CASE WHEN pg_catalog.length(v_bad_code) > 100 THEN pg_catalog.left(v_bad_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_bad_code)) ELSE v_bad_code END), v_res.bad_n, TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME) END,
                HINT = format('A code is born once. Upsert the existing object (INSERT ... ON CONFLICT ... DO UPDATE), or use a new code with its own permit: SELECT birthgate.issue_permit(%L, ''<new code>'');', v_collection);
        END IF;
        SELECT p.permit_id, p.state, p.expires_at, p.revoke_reason, p.consumed_at INTO v_last
          FROM "birthgate"."birth_admission_permit" p WHERE p.collection_name = v_collection AND p.entity_code = v_bad_code
         ORDER BY p.permit_id DESC LIMIT 1;
        IF v_last.state IN ('ISSUED', 'EXPIRED') THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG121',
                MESSAGE = 'birth refused: the admission permit for this code has expired',
                DETAIL = format('collection %s, code %L: permit %s expired at %s (judged at %s); table %I.%I', v_collection, (CASE WHEN pg_catalog.length(v_bad_code) > 100 THEN pg_catalog.left(v_bad_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_bad_code)) ELSE v_bad_code END), v_last.permit_id, v_last.expires_at, v_ts, TG_TABLE_SCHEMA, TG_TABLE_NAME),
                HINT = format('Issue a new permit and retry within its lifetime: SELECT birthgate.issue_permit(%L, %L, interval ''24 hours'');', v_collection, (CASE WHEN pg_catalog.length(v_bad_code) > 100 THEN pg_catalog.left(v_bad_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_bad_code)) ELSE v_bad_code END));
        ELSIF v_last.state = 'REVOKED' THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG122',
                MESSAGE = 'birth refused: the admission permit for this code was revoked',
                DETAIL = format('collection %s, code %L: permit %s was revoked (%s); table %I.%I', v_collection, (CASE WHEN pg_catalog.length(v_bad_code) > 100 THEN pg_catalog.left(v_bad_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_bad_code)) ELSE v_bad_code END), v_last.permit_id, pg_catalog.left(v_last.revoke_reason, 200), TG_TABLE_SCHEMA, TG_TABLE_NAME),
                HINT = format('Find out why (SELECT revoke_reason FROM birthgate.birth_admission_permit WHERE permit_id = %s); only if the birth is still wanted: SELECT birthgate.issue_permit(%L, %L);', v_last.permit_id, v_collection, (CASE WHEN pg_catalog.length(v_bad_code) > 100 THEN pg_catalog.left(v_bad_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_bad_code)) ELSE v_bad_code END));
        ELSE
            RAISE EXCEPTION USING
                ERRCODE = 'BG120',
                MESSAGE = 'birth refused: no live admission permit for this code',
                DETAIL = format('collection %s, code %L, table %I.%I: %s', v_collection, (CASE WHEN pg_catalog.length(v_bad_code) > 100 THEN pg_catalog.left(v_bad_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_bad_code)) ELSE v_bad_code END), TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN v_last.permit_id IS NULL THEN 'no permit was ever issued for this code' ELSE format('the latest permit for it (%s) is %s', v_last.permit_id, v_last.state) END),
                HINT = format('Issue a permit first: SELECT birthgate.issue_permit(%L, %L); then write the row within its lifetime.', v_collection, (CASE WHEN pg_catalog.length(v_bad_code) > 100 THEN pg_catalog.left(v_bad_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_bad_code)) ELSE v_bad_code END));
        END IF;
    END IF;
    IF v_res.consumed < v_res.codes OR v_res.born < v_res.consumed THEN
        -- lost a race between the check and the writes: refuse the statement (its writes roll back)
        v_bad_code := (SELECT x.code FROM pg_catalog.unnest(v_codes) AS x(code) WHERE NOT EXISTS (SELECT 1 FROM "birthgate"."birth_registry" r WHERE r.collection_name = v_collection AND r.entity_code = x.code AND r.born_txid = pg_catalog.pg_current_xact_id()) LIMIT 1);
        RAISE EXCEPTION USING
            ERRCODE = 'BG158',
            MESSAGE = 'birth refused: a concurrent transaction consumed the permit or bore the code first',
            DETAIL = format('collection %s, table %I.%I: %s of %s code(s) consumed a permit, %s were born; e.g. code %L was taken by a concurrent transaction', v_collection, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_res.consumed, v_res.codes, v_res.born, (CASE WHEN pg_catalog.length(v_bad_code) > 100 THEN pg_catalog.left(v_bad_code, 100) || pg_catalog.format('...(%s characters)', pg_catalog.length(v_bad_code)) ELSE v_bad_code END)),
            HINT = 'The code is (being) born by another transaction; check birthgate.birth_registry, and use a new code with its own permit if this object is a different one.';
    END IF;
    IF TG_LEVEL = 'STATEMENT' THEN
        INSERT INTO "birthgate"."admission_verify" (txid, collection_name) VALUES (pg_catalog.pg_current_xact_id(), v_collection) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END;
$_$;

COMMENT ON FUNCTION birthgate.tg_birth_register() IS 'Layer 1 birth gate, writing half (trigger _110_birth_register: AFTER INSERT FOR EACH STATEMENT with the NEW TABLE transition table; trigger _120_birth_recode: AFTER UPDATE OF the code column FOR EACH ROW; arguments: collection, code column). Sees only rows PostgreSQL really wrote, so ON CONFLICT rows that were not inserted never consume a permit. One code that passes every check is born with four point statements (cached plans); otherwise one set-based statement (planned per execution) checks every code (already born, duplicated in the statement, no live permit), consumes the permits, writes birth_registry and the BORN registry_changelog rows. enforce: any failing code refuses the whole statement (BG120-BG125, BG152, BG158 when a concurrent transaction won the permit or the code) and nothing is written; report (or an authorised bypass): every row is admitted, births are registered and what was seen goes to birth_gate_violation. After every INSERT statement that reached it, it queues the commit-time re-verification of the transaction''s births (admission_verify, since 000015).';

CREATE FUNCTION birthgate.tg_outbox_replay_guard() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_through bigint;
    v_settled bigint;
    v_dup boolean;
BEGIN
    -- fast path (every emission pays it, so it is three index probes): an event whose source
    -- changelog row is above every row a receipt acknowledged, a dead letter holds or the purge
    -- removed is not a replay of any of them. Only a rewound handoff, or a long transaction's
    -- rows handed off after later ones were settled, take the exact checks below.
    SELECT pg_catalog.max(r.max_source_change_id) INTO v_settled FROM "birthgate"."outbox_receipt" AS r;
    SELECT GREATEST(v_settled, (SELECT pg_catalog.max(d.source_change_id) FROM "birthgate"."event_dead_letter" AS d),
                    (SELECT cfg.purged_through_change_id FROM "birthgate"."outbox_config" AS cfg WHERE cfg.singleton))
      INTO v_settled;
    IF v_settled IS NULL OR NEW.source_change_id OPERATOR(pg_catalog.>) v_settled THEN
        RETURN NEW;
    END IF;
    -- dead-lettered: the same key (event_type, object_key, born_at) waits in event_dead_letter
    -- (outbox_redrive() brings it back; it inserts with redrive_count > 0 and is not checked)
    v_dup := EXISTS (SELECT 1 FROM "birthgate"."event_dead_letter" AS d
                     WHERE d.event_type OPERATOR(pg_catalog.=) NEW.event_type
                       AND d.object_key OPERATOR(pg_catalog.=) NEW.object_key
                       AND d.born_at OPERATOR(pg_catalog.=) NEW.born_at);
    -- acknowledged: a retained receipt lists the event's changelog row, and the event is that
    -- row's (the handoff's event type, same object_key and born_at: the key is the row's)
    IF NOT v_dup
       AND EXISTS (SELECT 1 FROM "birthgate"."outbox_receipt" AS r
                   WHERE r.min_source_change_id IS NOT NULL
                     AND pg_catalog.int8range(r.min_source_change_id, r.max_source_change_id, '[]') OPERATOR(pg_catalog.@>) NEW.source_change_id
                     AND NEW.source_change_id OPERATOR(pg_catalog.=) ANY (r.source_change_ids)) THEN
        v_dup := (NEW.event_type OPERATOR(pg_catalog.=) 'handoff.object_born' AND EXISTS (SELECT 1 FROM "birthgate"."registry_changelog" AS l WHERE l.change_id OPERATOR(pg_catalog.=) NEW.source_change_id AND l.op OPERATOR(pg_catalog.=) 'BORN' AND l.object_key OPERATOR(pg_catalog.=) NEW.object_key AND l.born_at OPERATOR(pg_catalog.=) NEW.born_at));
    END IF;
    IF v_dup THEN
        INSERT INTO "birthgate"."outbox_counter" (counter, amount, at) VALUES ('replay_deduplicated', 1, pg_catalog.clock_timestamp());
        RETURN NULL;
    END IF;
    -- at or below what the purge removed: a replay of a delivered event cannot be told from a
    -- new one any more; deliver it (at-least-once) and say so
    SELECT cfg.purged_through_change_id INTO v_through FROM "birthgate"."outbox_config" AS cfg WHERE cfg.singleton;
    IF NEW.source_change_id OPERATOR(pg_catalog.<=) v_through AND (NEW.event_type OPERATOR(pg_catalog.=) 'handoff.object_born' AND EXISTS (SELECT 1 FROM "birthgate"."registry_changelog" AS l WHERE l.change_id OPERATOR(pg_catalog.=) NEW.source_change_id AND l.op OPERATOR(pg_catalog.=) 'BORN' AND l.object_key OPERATOR(pg_catalog.=) NEW.object_key AND l.born_at OPERATOR(pg_catalog.=) NEW.born_at))
       -- counted once per event really emitted again: not a move out of event_pending (counted when
       -- it was captured), not an emission the lane already holds (its insert does nothing)
       AND NOT (TG_TABLE_NAME OPERATOR(pg_catalog.=) 'event_outbox' AND COALESCE((pg_catalog.to_jsonb(NEW) OPERATOR(pg_catalog.->>) 'released_from_pending')::boolean, false))
       AND NOT EXISTS (SELECT 1 FROM "birthgate"."event_outbox" AS e WHERE e.event_type OPERATOR(pg_catalog.=) NEW.event_type AND e.object_key OPERATOR(pg_catalog.=) NEW.object_key AND e.born_at OPERATOR(pg_catalog.=) NEW.born_at)
       AND NOT EXISTS (SELECT 1 FROM "birthgate"."event_pending" AS e WHERE e.event_type OPERATOR(pg_catalog.=) NEW.event_type AND e.object_key OPERATOR(pg_catalog.=) NEW.object_key AND e.born_at OPERATOR(pg_catalog.=) NEW.born_at) THEN
        INSERT INTO "birthgate"."outbox_counter" (counter, amount, at) VALUES ('replay_unverified', 1, pg_catalog.clock_timestamp());
    END IF;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION birthgate.tg_outbox_replay_guard() IS 'Replay guard of the event lanes (BEFORE INSERT on event_outbox and event_pending): drops an event that was already dead-lettered (same event_type, object_key, born_at in event_dead_letter) or acknowledged (its source changelog row is in a retained outbox_receipt) and counts it (replay_deduplicated), so a rewound handoff does not deliver it twice. An event at or below outbox_config.purged_through_change_id that nothing matches is let through and counted (replay_unverified): its receipt may have been purged after the retention.';

CREATE FUNCTION birthgate.tg_registry_changelog_append_only() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'BG001',
        MESSAGE = 'registry_changelog is append-only',
        DETAIL = format('%s on %I.%I refused (change_id %s)', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN TG_LEVEL = 'ROW' THEN OLD.change_id::text ELSE 'all' END),
        HINT = 'Record a correction as a new changelog row (e.g. retire()); never UPDATE, DELETE or TRUNCATE the changelog.';
END;
$$;

COMMENT ON FUNCTION birthgate.tg_registry_changelog_append_only() IS 'Trigger function: refuses UPDATE, DELETE and TRUNCATE on registry_changelog (append-only tail).';

CREATE TABLE birthgate.admission_verify (
    txid xid8 NOT NULL,
    collection_name text NOT NULL
)
WITH (autovacuum_vacuum_threshold='1000', autovacuum_vacuum_scale_factor='0');

COMMENT ON TABLE birthgate.admission_verify IS 'Queue of commit-time re-verifications (since 000015): tg_birth_register inserts one row per transaction and collection after every INSERT statement it checked (ON CONFLICT DO NOTHING); the deferred constraint trigger _900_admission_reverify re-verifies that transaction''s births at commit and deletes the row. Empty between transactions. Written only by package functions: no role has a privilege on it, so no session can skip the re-verification.';

CREATE TABLE birthgate.birth_admission_permit (
    permit_id bigint NOT NULL,
    collection_name text NOT NULL,
    entity_code text NOT NULL,
    state text DEFAULT 'ISSUED'::text NOT NULL,
    issued_at timestamp with time zone DEFAULT now() NOT NULL,
    issued_by name NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    consumed_at timestamp with time zone,
    consumed_by name,
    revoked_at timestamp with time zone,
    revoked_by name,
    revoke_reason text,
    expired_at timestamp with time zone,
    CONSTRAINT birth_admission_permit_consumed_consistent CHECK (((num_nulls(consumed_at, consumed_by) =
CASE
    WHEN (state = 'CONSUMED'::text) THEN 0
    ELSE 2
END) AND ((consumed_at IS NULL) OR ((consumed_at >= issued_at) AND (consumed_at < expires_at))))),
    CONSTRAINT birth_admission_permit_entity_code_check CHECK ((entity_code <> ''::text)),
    CONSTRAINT birth_admission_permit_expired_consistent CHECK (((num_nulls(expired_at) =
CASE
    WHEN (state = 'EXPIRED'::text) THEN 0
    ELSE 1
END) AND ((expired_at IS NULL) OR (expired_at >= expires_at)))),
    CONSTRAINT birth_admission_permit_lifetime CHECK ((expires_at > issued_at)),
    CONSTRAINT birth_admission_permit_revoked_consistent CHECK (((num_nulls(revoked_at, revoked_by, revoke_reason) =
CASE
    WHEN (state = 'REVOKED'::text) THEN 0
    ELSE 3
END) AND ((revoked_at IS NULL) OR (revoked_at >= issued_at)) AND ((revoke_reason IS NULL) OR (btrim(revoke_reason) <> ''::text)))),
    CONSTRAINT birth_admission_permit_state_check CHECK ((state = ANY (ARRAY['ISSUED'::text, 'CONSUMED'::text, 'EXPIRED'::text, 'REVOKED'::text])))
);

COMMENT ON TABLE birthgate.birth_admission_permit IS 'Admission permits: one per planned birth of (collection, code). ISSUED -> CONSUMED (by the birth gate) | EXPIRED (expire_permits, time) | REVOKED (revoke_permit). At most one ISSUED permit per (collection, code); empty at install.';

COMMENT ON COLUMN birthgate.birth_admission_permit.permit_id IS 'Permit number; birth_registry.permit_id names the permit a birth consumed.';

COMMENT ON COLUMN birthgate.birth_admission_permit.collection_name IS 'The family the permit admits a birth into.';

COMMENT ON COLUMN birthgate.birth_admission_permit.entity_code IS 'The code the permit admits; it matched the family code_pattern when issued.';

COMMENT ON COLUMN birthgate.birth_admission_permit.state IS 'ISSUED (live), CONSUMED, EXPIRED or REVOKED; only ISSUED -> final transitions exist.';

COMMENT ON COLUMN birthgate.birth_admission_permit.issued_at IS 'When issue_permit created the permit.';

COMMENT ON COLUMN birthgate.birth_admission_permit.issued_by IS 'Role that issued it (SET ROLE role, else the session user).';

COMMENT ON COLUMN birthgate.birth_admission_permit.expires_at IS 'End of the permit lifetime: a birth needs expires_at > now().';

COMMENT ON COLUMN birthgate.birth_admission_permit.consumed_at IS 'When the birth gate consumed it (the birth transaction start time).';

COMMENT ON COLUMN birthgate.birth_admission_permit.consumed_by IS 'Role whose insert or update consumed it.';

COMMENT ON COLUMN birthgate.birth_admission_permit.revoked_at IS 'When revoke_permit revoked it.';

COMMENT ON COLUMN birthgate.birth_admission_permit.revoked_by IS 'Role that revoked it.';

COMMENT ON COLUMN birthgate.birth_admission_permit.revoke_reason IS 'Why it was revoked (required).';

COMMENT ON COLUMN birthgate.birth_admission_permit.expired_at IS 'When it was marked EXPIRED (expire_permits, or issue_permit replacing a lapsed permit).';

ALTER TABLE birthgate.birth_admission_permit ALTER COLUMN permit_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME birthgate.birth_admission_permit_permit_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE birthgate.birth_family (
    collection_name text NOT NULL,
    table_name regclass NOT NULL,
    code_column name NOT NULL,
    code_pattern text NOT NULL,
    mode text DEFAULT 'report'::text NOT NULL,
    registered_at timestamp with time zone DEFAULT now() NOT NULL,
    registered_by name DEFAULT CURRENT_USER NOT NULL,
    mode_changed_at timestamp with time zone DEFAULT now() NOT NULL,
    mode_changed_by name DEFAULT CURRENT_USER NOT NULL,
    code_max_length integer DEFAULT 256 NOT NULL,
    CONSTRAINT birth_family_code_max_length_check CHECK (((code_max_length >= 1) AND (code_max_length <= 600))),
    CONSTRAINT birth_family_code_pattern_check CHECK ((code_pattern <> ''::text)),
    CONSTRAINT birth_family_collection_name_check CHECK ((collection_name ~ '^[a-z][a-z0-9_]{0,62}$'::text)),
    CONSTRAINT birth_family_mode_check CHECK ((mode = ANY (ARRAY['off'::text, 'report'::text, 'enforce'::text])))
);

COMMENT ON TABLE birthgate.birth_family IS 'One row per governed collection: its table, code column, per-family code pattern and gate mode (off | report | enforce).';

COMMENT ON COLUMN birthgate.birth_family.collection_name IS 'Stable collection name; the first half of every object key.';

COMMENT ON COLUMN birthgate.birth_family.table_name IS 'The governed table; the gate triggers are attached to it.';

COMMENT ON COLUMN birthgate.birth_family.code_column IS 'Column of table_name that holds the entity code.';

COMMENT ON COLUMN birthgate.birth_family.code_pattern IS 'POSIX regular expression every entity code of this family must match (per family, not global).';

COMMENT ON COLUMN birthgate.birth_family.mode IS 'off: no gate; report: admit and record a violation; enforce: reject.';

COMMENT ON COLUMN birthgate.birth_family.code_max_length IS 'Longest code (characters) the family admits; issue_permit, the gates and retire refuse longer codes (BG152). Default 256, at most 600 (the registry index must hold it).';

CREATE TABLE birthgate.birth_family_move (
    move_id bigint NOT NULL,
    collection_name text NOT NULL,
    from_table oid NOT NULL,
    from_table_name text NOT NULL,
    to_table oid NOT NULL,
    reason text NOT NULL,
    moved_by name NOT NULL,
    login_user name DEFAULT SESSION_USER NOT NULL,
    moved_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    CONSTRAINT birth_family_move_reason_check CHECK ((btrim(reason) <> ''::text))
);

COMMENT ON TABLE birthgate.birth_family_move IS 'Every explicit move of a collection to another table (move_family): who, when, why, from and to. The drift monitor keeps reporting a former table that still exists as governed but without gates.';

COMMENT ON COLUMN birthgate.birth_family_move.from_table IS 'oid of the table the collection left (it may since be dropped).';

COMMENT ON COLUMN birthgate.birth_family_move.from_table_name IS 'schema.table of the table the collection left, as it was named then.';

COMMENT ON COLUMN birthgate.birth_family_move.to_table IS 'oid of the table the collection moved to.';

COMMENT ON COLUMN birthgate.birth_family_move.moved_by IS 'Role that moved it (SET ROLE role, else the session user).';

ALTER TABLE birthgate.birth_family_move ALTER COLUMN move_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME birthgate.birth_family_move_move_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE birthgate.birth_gate_violation (
    violation_id bigint NOT NULL,
    kind text NOT NULL,
    collection_name text NOT NULL,
    entity_code text,
    table_name text NOT NULL,
    operation text NOT NULL,
    mode text NOT NULL,
    layer smallint NOT NULL,
    actor name NOT NULL,
    login_user name DEFAULT SESSION_USER NOT NULL,
    txid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    detail jsonb DEFAULT '{}'::jsonb NOT NULL,
    recorded_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    CONSTRAINT birth_gate_violation_kind_check CHECK ((kind = ANY (ARRAY['NO_PERMIT'::text, 'PERMIT_EXPIRED'::text, 'PERMIT_REVOKED'::text, 'PATTERN_MISMATCH'::text, 'NULL_CODE'::text, 'BYPASS'::text, 'UNFINALIZED'::text]))),
    CONSTRAINT birth_gate_violation_layer_check CHECK ((layer = ANY (ARRAY[1, 2]))),
    CONSTRAINT birth_gate_violation_layer_kind CHECK (((layer = 2) = (kind = 'UNFINALIZED'::text))),
    CONSTRAINT birth_gate_violation_mode_check CHECK ((mode = ANY (ARRAY['off'::text, 'report'::text, 'enforce'::text]))),
    CONSTRAINT birth_gate_violation_operation_check CHECK ((operation = ANY (ARRAY['INSERT'::text, 'UPDATE'::text])))
);

COMMENT ON TABLE birthgate.birth_gate_violation IS 'Append-only evidence of what the gates saw and let through: report-mode findings (layer 1: NO_PERMIT, PERMIT_EXPIRED, PERMIT_REVOKED, PATTERN_MISMATCH, NULL_CODE), bypassed births (BYPASS) and objects the deferred gate found not finalized (UNFINALIZED, layer 2). In enforce mode a refusal is an error and leaves no row (the transaction rolls back).';

COMMENT ON COLUMN birthgate.birth_gate_violation.kind IS 'What was seen; NO_PERMIT with detail.finding = ALREADY_BORN means the code was already in the registry.';

COMMENT ON COLUMN birthgate.birth_gate_violation.entity_code IS 'The code of the row as the gate saw it (NULL or empty for NULL_CODE).';

COMMENT ON COLUMN birthgate.birth_gate_violation.table_name IS 'The governed table (schema.table) the row was written to.';

COMMENT ON COLUMN birthgate.birth_gate_violation.operation IS 'INSERT, or UPDATE of the code column.';

COMMENT ON COLUMN birthgate.birth_gate_violation.mode IS 'The family mode when the gate ran.';

COMMENT ON COLUMN birthgate.birth_gate_violation.layer IS '1: the BEFORE gate (_100_birth_gate); 2: the deferred finalize gate (_900_birth_finalize).';

COMMENT ON COLUMN birthgate.birth_gate_violation.actor IS 'The role that wrote the row (SET ROLE role, else the session user).';

COMMENT ON COLUMN birthgate.birth_gate_violation.login_user IS 'The session user (the login behind actor).';

COMMENT ON COLUMN birthgate.birth_gate_violation.txid IS 'xid8 of the writing transaction.';

COMMENT ON COLUMN birthgate.birth_gate_violation.detail IS 'What the gate knew: finding, permit, registry row, bypass, the latest permit for the code.';

COMMENT ON COLUMN birthgate.birth_gate_violation.recorded_at IS 'When the row was recorded (clock_timestamp()).';

ALTER TABLE birthgate.birth_gate_violation ALTER COLUMN violation_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME birthgate.birth_gate_violation_violation_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE birthgate.birth_registry (
    registry_id bigint NOT NULL,
    collection_name text NOT NULL,
    entity_code text NOT NULL,
    object_key text GENERATED ALWAYS AS (((collection_name || ':'::text) || entity_code)) STORED NOT NULL,
    status text DEFAULT 'BORN'::text NOT NULL,
    permit_id bigint,
    born_at timestamp with time zone DEFAULT now() NOT NULL,
    born_by name DEFAULT CURRENT_USER NOT NULL,
    born_txid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    retired_at timestamp with time zone,
    retired_by name,
    retire_reason text,
    CONSTRAINT birth_registry_entity_code_check CHECK ((entity_code <> ''::text)),
    CONSTRAINT birth_registry_retired_consistent CHECK (((status = 'RETIRED'::text) = ((retired_at IS NOT NULL) AND (retired_by IS NOT NULL) AND (retire_reason IS NOT NULL)))),
    CONSTRAINT birth_registry_status_check CHECK ((status = ANY (ARRAY['BORN'::text, 'RETIRED'::text])))
);

COMMENT ON TABLE birthgate.birth_registry IS 'One row per object ever born; UNIQUE (entity_code, collection_name). Status BORN -> RETIRED.';

COMMENT ON COLUMN birthgate.birth_registry.object_key IS 'collection_name || '':'' || entity_code; the key the handoff and governance use.';

COMMENT ON COLUMN birthgate.birth_registry.status IS 'BORN, or RETIRED after retire() passed retire_gate_check().';

COMMENT ON COLUMN birthgate.birth_registry.permit_id IS 'The admission permit consumed by this birth (NULL only for report-mode or bypassed births).';

COMMENT ON COLUMN birthgate.birth_registry.born_txid IS 'xid8 of the transaction that recorded the birth.';

ALTER TABLE birthgate.birth_registry ALTER COLUMN registry_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME birthgate.birth_registry_registry_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE birthgate.drift_baseline (
    object_kind text NOT NULL,
    identity text NOT NULL,
    scope text DEFAULT 'package'::text NOT NULL,
    definition_hash text NOT NULL,
    definition text NOT NULL,
    captured_at timestamp with time zone DEFAULT now() NOT NULL,
    captured_by name DEFAULT SESSION_USER NOT NULL,
    execute_grantees text[],
    CONSTRAINT drift_baseline_definition_hash_check CHECK ((definition_hash ~ '^[0-9a-f]{64}$'::text)),
    CONSTRAINT drift_baseline_identity_check CHECK ((identity <> ''::text)),
    CONSTRAINT drift_baseline_object_kind_check CHECK ((object_kind = ANY (ARRAY['function'::text, 'trigger'::text]))),
    CONSTRAINT drift_baseline_scope_check CHECK ((scope = ANY (ARRAY['package'::text, 'family'::text])))
);

COMMENT ON TABLE birthgate.drift_baseline IS 'The recorded hash of every function and trigger the package owns, written by drift_capture_baseline() at the end of every migration that changes one; the drift views compare the live catalog with it.';

COMMENT ON COLUMN birthgate.drift_baseline.object_kind IS 'function (every function/procedure of the package schema) or trigger (package-table triggers and the gate triggers of every family).';

COMMENT ON COLUMN birthgate.drift_baseline.identity IS 'schema.name(argument types) for a function (regprocedure); schema.table.trigger for a trigger.';

COMMENT ON COLUMN birthgate.drift_baseline.scope IS 'package: judged against this baseline; family: a gate trigger, recorded for the audit but judged against the definition derived from birth_family.';

COMMENT ON COLUMN birthgate.drift_baseline.definition_hash IS 'sha256 (hex) of the normalised definition (drift_normalize_definition).';

COMMENT ON COLUMN birthgate.drift_baseline.definition IS 'The definition as captured (pg_get_functiondef / pg_get_triggerdef), to diff against the live one.';

COMMENT ON COLUMN birthgate.drift_baseline.captured_by IS 'session_user of the capture (the migrating role, or the DBA who accepted a change).';

COMMENT ON COLUMN birthgate.drift_baseline.execute_grantees IS 'For a function: the package roles (by name) that may EXECUTE it, sorted (since 000026); a grant to any other role is never recorded (it is a function_execute_grant finding). When PUBLIC may execute the function at capture time (a restore into a cluster without the package roles), the roles recorded before are kept. The remedy of a function_public_execute finding grants to them. NULL for a trigger.';

CREATE TABLE birthgate.event_dead_letter (
    outbox_id bigint NOT NULL,
    event_type text NOT NULL,
    object_key text NOT NULL,
    born_at timestamp with time zone NOT NULL,
    payload jsonb NOT NULL,
    source_change_id bigint NOT NULL,
    emitted_at timestamp with time zone NOT NULL,
    released_from_pending boolean NOT NULL,
    attempts integer NOT NULL,
    errors jsonb NOT NULL,
    last_error text,
    redrive_count integer NOT NULL,
    dead_lettered_at timestamp with time zone DEFAULT now() NOT NULL,
    dead_lettered_by text NOT NULL,
    CONSTRAINT event_dead_letter_attempts_check CHECK ((attempts >= 0)),
    CONSTRAINT event_dead_letter_errors_check CHECK ((jsonb_typeof(errors) = 'array'::text)),
    CONSTRAINT event_dead_letter_redrive_count_check CHECK ((redrive_count >= 0))
);

COMMENT ON TABLE birthgate.event_dead_letter IS 'Events that exhausted their delivery attempts, moved out of event_outbox with every error and when; outbox_redrive() moves them back.';

COMMENT ON COLUMN birthgate.event_dead_letter.outbox_id IS 'The event id in event_outbox; kept through dead-lettering and re-drive.';

COMMENT ON COLUMN birthgate.event_dead_letter.attempts IS 'Claims the event had when it was dead-lettered.';

COMMENT ON COLUMN birthgate.event_dead_letter.errors IS 'Every error, oldest first: [{attempt, at, worker, error}] (a claim that expired unacknowledged counts as an error).';

COMMENT ON COLUMN birthgate.event_dead_letter.last_error IS 'The error that exhausted the attempts.';

COMMENT ON COLUMN birthgate.event_dead_letter.dead_lettered_at IS 'When the event was moved here.';

COMMENT ON COLUMN birthgate.event_dead_letter.dead_lettered_by IS 'The worker whose failure (or expired claim) used up the last attempt.';

CREATE TABLE birthgate.event_outbox (
    outbox_id bigint NOT NULL,
    event_type text NOT NULL,
    object_key text NOT NULL,
    born_at timestamp with time zone NOT NULL,
    payload jsonb NOT NULL,
    source_change_id bigint NOT NULL,
    emitted_at timestamp with time zone DEFAULT now() NOT NULL,
    released_from_pending boolean DEFAULT false NOT NULL,
    delivered_at timestamp with time zone,
    attempts integer DEFAULT 0 NOT NULL,
    last_error text,
    visible_at timestamp with time zone DEFAULT now() NOT NULL,
    claimed_by text,
    claimed_at timestamp with time zone,
    claim_expires_at timestamp with time zone,
    errors jsonb DEFAULT '[]'::jsonb NOT NULL,
    redrive_count integer DEFAULT 0 NOT NULL,
    CONSTRAINT event_outbox_attempts_check CHECK ((attempts >= 0)),
    CONSTRAINT event_outbox_claim_consistent CHECK ((((claimed_by IS NULL) = (claimed_at IS NULL)) AND ((claimed_at IS NULL) = (claim_expires_at IS NULL)))),
    CONSTRAINT event_outbox_errors_is_array CHECK ((jsonb_typeof(errors) = 'array'::text)),
    CONSTRAINT event_outbox_redrive_count_check CHECK ((redrive_count >= 0))
)
WITH (fillfactor='45', autovacuum_vacuum_scale_factor='0.02', autovacuum_analyze_scale_factor='0.02');

COMMENT ON TABLE birthgate.event_outbox IS 'Delivery lane for events of active types; UNIQUE (event_type, object_key, born_at).';

COMMENT ON COLUMN birthgate.event_outbox.released_from_pending IS 'true when the event was captured while its type was inactive and later released.';

COMMENT ON COLUMN birthgate.event_outbox.delivered_at IS 'Unused since outbox delivery (0.2): an acknowledged event leaves event_outbox, its receipt is in outbox_receipt.';

COMMENT ON COLUMN birthgate.event_outbox.attempts IS 'Claims so far (outbox_claim() counts one per claim; reset to 0 by outbox_redrive()).';

COMMENT ON COLUMN birthgate.event_outbox.last_error IS 'The latest error: from outbox_fail(), or the expiry of a claim nobody acknowledged.';

COMMENT ON COLUMN birthgate.event_outbox.visible_at IS 'When the event is (again) claimable when not claimed: emission time, or the end of a backoff after a failure.';

COMMENT ON COLUMN birthgate.event_outbox.claimed_by IS 'Worker holding the current claim (NULL when unclaimed).';

COMMENT ON COLUMN birthgate.event_outbox.claimed_at IS 'When the current claim was taken.';

COMMENT ON COLUMN birthgate.event_outbox.claim_expires_at IS 'When the current claim expires (claim time + visibility timeout): from then on the event is claimable again.';

COMMENT ON COLUMN birthgate.event_outbox.errors IS 'Every error so far, oldest first: [{attempt, at, worker, error}], kept across re-drives.';

COMMENT ON COLUMN birthgate.event_outbox.redrive_count IS 'How often the event came back from event_dead_letter.';

ALTER TABLE birthgate.event_outbox ALTER COLUMN outbox_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME birthgate.event_outbox_outbox_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE birthgate.event_pending (
    pending_id bigint NOT NULL,
    event_type text NOT NULL,
    object_key text NOT NULL,
    born_at timestamp with time zone NOT NULL,
    payload jsonb NOT NULL,
    source_change_id bigint NOT NULL,
    captured_at timestamp with time zone DEFAULT now() NOT NULL
);

COMMENT ON TABLE birthgate.event_pending IS 'Captured events of inactive types; UNIQUE (event_type, object_key, born_at). release_pending() moves them to event_outbox.';

ALTER TABLE birthgate.event_pending ALTER COLUMN pending_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME birthgate.event_pending_pending_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE birthgate.event_type_registry (
    event_type text NOT NULL,
    active boolean DEFAULT false NOT NULL,
    description text NOT NULL,
    registered_at timestamp with time zone DEFAULT now() NOT NULL,
    active_changed_at timestamp with time zone,
    active_changed_by name,
    CONSTRAINT event_type_registry_event_type_check CHECK ((event_type ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'::text))
);

COMMENT ON TABLE birthgate.event_type_registry IS 'Event types and their active flag; inactive types are captured to event_pending, active ones emitted to event_outbox.';

CREATE TABLE birthgate.gate_trigger_attach (
    trigger_oid oid NOT NULL,
    table_oid oid NOT NULL,
    trigger_name name NOT NULL,
    collection_name text NOT NULL,
    attached_xmin xid NOT NULL,
    recorded_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL
);

COMMENT ON TABLE birthgate.gate_trigger_attach IS 'The pg_trigger row version (xmin) of every gate trigger as the package attached it (since 000016; birth_family_attach_gates records it, the migration recorded the gates it found). A gate whose pg_trigger row has another xmin now was altered afterwards (ALTER TABLE ... DISABLE/ENABLE TRIGGER, even for a moment): v_drift_trigger_state reports it as altered. Written only by package functions.';

CREATE TABLE birthgate.governance_build_authorization (
    authorization_id bigint NOT NULL,
    scope text DEFAULT 'global'::text NOT NULL,
    reference text NOT NULL,
    authorized_by name DEFAULT CURRENT_USER NOT NULL,
    authorized_at timestamp with time zone DEFAULT now() NOT NULL,
    note text,
    CONSTRAINT governance_build_authorization_reference_check CHECK ((reference <> ''::text)),
    CONSTRAINT governance_build_authorization_scope_check CHECK ((scope <> ''::text))
);

COMMENT ON TABLE birthgate.governance_build_authorization IS 'The OSPA ledger: governed activation stays closed until it has at least one row.';

ALTER TABLE birthgate.governance_build_authorization ALTER COLUMN authorization_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME birthgate.governance_build_authorization_authorization_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE birthgate.governance_candidate_state (
    object_key text NOT NULL,
    collection_name text NOT NULL,
    entity_code text NOT NULL,
    registry_status text NOT NULL,
    born_at timestamp with time zone NOT NULL,
    dirty boolean DEFAULT true NOT NULL,
    marked_at timestamp with time zone NOT NULL,
    source_change_id bigint NOT NULL,
    source_txid xid8 NOT NULL,
    activation_state text DEFAULT 'CAPTURED'::text NOT NULL,
    activated_at timestamp with time zone,
    activated_by name,
    CONSTRAINT governance_candidate_state_activation_consistent CHECK (((activation_state = 'ACTIVATED'::text) = ((activated_at IS NOT NULL) AND (activated_by IS NOT NULL)))),
    CONSTRAINT governance_candidate_state_activation_state_check CHECK ((activation_state = ANY (ARRAY['CAPTURED'::text, 'ACTIVATED'::text]))),
    CONSTRAINT governance_candidate_state_registry_status_check CHECK ((registry_status = ANY (ARRAY['BORN'::text, 'RETIRED'::text])))
);

COMMENT ON TABLE birthgate.governance_candidate_state IS 'One row per object key: the governance intake state (dirty mark, last change applied, activation).';

COMMENT ON COLUMN birthgate.governance_candidate_state.dirty IS 'true when a change has been handed off and governance has not yet looked at it.';

COMMENT ON COLUMN birthgate.governance_candidate_state.marked_at IS 'changed_at of the changelog row that marked the candidate (replays leave it unchanged).';

COMMENT ON COLUMN birthgate.governance_candidate_state.source_change_id IS 'The last registry_changelog row applied; older replays never overwrite a newer one.';

COMMENT ON COLUMN birthgate.governance_candidate_state.activation_state IS 'CAPTURED until activate_candidates() activates it (needs OSPA >= 1 and a fresh heartbeat).';

CREATE TABLE birthgate.handoff_cursor (
    consumer_name text NOT NULL,
    position_txid xid8 DEFAULT '0'::xid8 NOT NULL,
    position_change_id bigint DEFAULT 0 NOT NULL,
    heartbeat_at timestamp with time zone,
    stale_after interval DEFAULT '00:15:00'::interval NOT NULL,
    rows_consumed bigint DEFAULT 0 NOT NULL,
    batches_run bigint DEFAULT 0 NOT NULL,
    last_batch_rows integer DEFAULT 0 NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    position_snapshot pg_snapshot DEFAULT '1:1:'::pg_snapshot NOT NULL,
    window_snapshot pg_snapshot,
    window_after_txid xid8,
    window_after_change_id bigint,
    window_rows bigint,
    window_done bigint,
    CONSTRAINT handoff_cursor_consumer_name_check CHECK ((consumer_name ~ '^[a-z][a-z0-9_]*$'::text)),
    CONSTRAINT handoff_cursor_position_change_id_check CHECK ((position_change_id >= 0)),
    CONSTRAINT handoff_cursor_stale_after_check CHECK ((stale_after > '00:00:00'::interval)),
    CONSTRAINT handoff_cursor_window_check CHECK ((((window_snapshot IS NULL) AND (window_after_txid IS NULL) AND (window_after_change_id IS NULL) AND (window_rows IS NULL) AND (window_done IS NULL)) OR ((window_snapshot IS NOT NULL) AND (window_after_txid IS NOT NULL) AND (window_after_change_id IS NOT NULL) AND (window_rows IS NOT NULL) AND (window_done IS NOT NULL) AND (window_done >= 0) AND (window_done <= window_rows))))
);

COMMENT ON TABLE birthgate.handoff_cursor IS 'The handoff consumer position and heartbeat. The position is a snapshot (position_snapshot, PgQ style): every changelog row of a transaction visible in it has been handed off, no row of a transaction invisible in it has. While a window is split across batches, window_snapshot / window_after_* say how far into it the consumer got.';

COMMENT ON COLUMN birthgate.handoff_cursor.position_txid IS 'txid of the last changelog row consumed (informational; the position is position_snapshot).';

COMMENT ON COLUMN birthgate.handoff_cursor.position_change_id IS 'change_id of the last changelog row consumed (informational; the position is position_snapshot).';

COMMENT ON COLUMN birthgate.handoff_cursor.heartbeat_at IS 'Advanced by every consumer run; older than stale_after means the handoff is stale.';

COMMENT ON COLUMN birthgate.handoff_cursor.stale_after IS 'Heartbeat age past which the handoff counts as stale (activation fails closed).';

COMMENT ON COLUMN birthgate.handoff_cursor.position_snapshot IS 'The position: every changelog row of a transaction visible in this snapshot has been handed off; rows of transactions invisible in it (xip list, or at/after xmax) have not.';

COMMENT ON COLUMN birthgate.handoff_cursor.window_snapshot IS 'While a window is split across batches: the snapshot that closes it (rows visible here and not in position_snapshot). NULL between windows.';

COMMENT ON COLUMN birthgate.handoff_cursor.window_after_txid IS 'While a window is split: txid of the last row taken from it, in (txid, change_id) order.';

COMMENT ON COLUMN birthgate.handoff_cursor.window_after_change_id IS 'While a window is split: change_id of the last row taken from it.';

COMMENT ON COLUMN birthgate.handoff_cursor.window_rows IS 'While a window is split: how many rows it holds (counted once when it was opened; the exact lag is window_rows - window_done + rows after window_snapshot).';

COMMENT ON COLUMN birthgate.handoff_cursor.window_done IS 'While a window is split: rows taken from it so far.';

CREATE TABLE birthgate.outbox_config (
    singleton boolean DEFAULT true NOT NULL,
    max_attempts integer DEFAULT 10 NOT NULL,
    backoff_base interval DEFAULT '00:00:05'::interval NOT NULL,
    backoff_max interval DEFAULT '01:00:00'::interval NOT NULL,
    retention interval DEFAULT '7 days'::interval NOT NULL,
    alert_after interval DEFAULT '00:15:00'::interval NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_by name DEFAULT CURRENT_USER NOT NULL,
    purged_through_change_id bigint,
    CONSTRAINT outbox_config_alert_after_check CHECK ((alert_after > '00:00:00'::interval)),
    CONSTRAINT outbox_config_backoff_base_check CHECK ((backoff_base > '00:00:00'::interval)),
    CONSTRAINT outbox_config_check CHECK (((backoff_max >= backoff_base) AND (backoff_max <= '1 day'::interval))),
    CONSTRAINT outbox_config_max_attempts_check CHECK (((max_attempts >= 1) AND (max_attempts <= 1000))),
    CONSTRAINT outbox_config_retention_check CHECK ((retention >= '00:01:00'::interval)),
    CONSTRAINT outbox_config_singleton_check CHECK (singleton)
);

COMMENT ON TABLE birthgate.outbox_config IS 'Outbox delivery settings (one row); change them with outbox_configure().';

COMMENT ON COLUMN birthgate.outbox_config.max_attempts IS 'Claims an event gets; the failure (or expired claim) of the last one moves it to event_dead_letter.';

COMMENT ON COLUMN birthgate.outbox_config.backoff_base IS 'Backoff after the first failure; doubles per attempt up to backoff_max, then jittered into [half, full].';

COMMENT ON COLUMN birthgate.outbox_config.backoff_max IS 'Longest backoff between attempts.';

COMMENT ON COLUMN birthgate.outbox_config.retention IS 'How long the receipts of acknowledged events (outbox_receipt) are kept before outbox_purge() deletes them (and counts them).';

COMMENT ON COLUMN birthgate.outbox_config.alert_after IS 'Age of the oldest undelivered event past which v_outbox_findings reports it.';

COMMENT ON COLUMN birthgate.outbox_config.purged_through_change_id IS 'Kept by outbox_purge() (not a setting): the highest source changelog row whose receipt was purged. An event emitted at or below it that no receipt or dead letter matches may be a replay the purged receipts could have caught; it is delivered (at-least-once) and counted as replay_unverified.';

CREATE TABLE birthgate.outbox_counter (
    counter text NOT NULL,
    amount bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT outbox_counter_amount_check CHECK ((amount > 0)),
    CONSTRAINT outbox_counter_counter_check CHECK ((counter = ANY (ARRAY['dead_lettered'::text, 'redriven'::text, 'expired_claims'::text, 'stale_acks'::text, 'purged'::text, 'replay_deduplicated'::text, 'replay_unverified'::text])))
);

COMMENT ON TABLE birthgate.outbox_counter IS 'Insert-only log of outbox events that leave no row behind (dead_lettered, redriven, expired_claims, stale_acks, purged, replay_deduplicated: a replayed emission dropped because the event was delivered or dead-lettered, replay_unverified: a replayed emission past the retained receipts, delivered again); v_outbox_status sums it. Insert-only so that concurrent workers never wait on a counter row; outbox_purge() folds it into one row per counter.';

CREATE TABLE birthgate.outbox_receipt (
    receipt_id bigint NOT NULL,
    delivered_at timestamp with time zone NOT NULL,
    acked_by text,
    outbox_ids bigint[] NOT NULL,
    events integer NOT NULL,
    min_outbox_id bigint NOT NULL,
    max_outbox_id bigint NOT NULL,
    source_change_ids bigint[],
    min_source_change_id bigint,
    max_source_change_id bigint,
    CONSTRAINT outbox_receipt_events_check CHECK (((events = cardinality(outbox_ids)) AND (min_outbox_id <= max_outbox_id))),
    CONSTRAINT outbox_receipt_outbox_ids_check CHECK (((cardinality(outbox_ids) > 0) AND (array_position(outbox_ids, NULL::bigint) IS NULL))),
    CONSTRAINT outbox_receipt_source_check CHECK ((((source_change_ids IS NULL) AND (min_source_change_id IS NULL) AND (max_source_change_id IS NULL)) OR ((cardinality(source_change_ids) = events) AND (array_position(source_change_ids, NULL::bigint) IS NULL) AND (min_source_change_id <= max_source_change_id))))
);

COMMENT ON TABLE birthgate.outbox_receipt IS 'One row per outbox_ack() call that acknowledged events: the delivered ids (removed from event_outbox), when and by which worker. Kept for outbox_config.retention, then outbox_purge() deletes them (counted), after which a repeated acknowledgement of those ids raises BG504.';

COMMENT ON COLUMN birthgate.outbox_receipt.delivered_at IS 'When the acknowledgement was made.';

COMMENT ON COLUMN birthgate.outbox_receipt.acked_by IS 'The worker name passed to outbox_ack() (NULL when acknowledged without one).';

COMMENT ON COLUMN birthgate.outbox_receipt.outbox_ids IS 'The acknowledged event ids, ascending.';

COMMENT ON COLUMN birthgate.outbox_receipt.events IS 'How many events (cardinality of outbox_ids).';

COMMENT ON COLUMN birthgate.outbox_receipt.min_outbox_id IS 'Lowest id in outbox_ids (the GiST range index covers min..max).';

COMMENT ON COLUMN birthgate.outbox_receipt.max_outbox_id IS 'Highest id in outbox_ids.';

COMMENT ON COLUMN birthgate.outbox_receipt.source_change_ids IS 'The registry_changelog rows (source_change_id) of the acknowledged events, in the order of outbox_ids; the replay guard (_100_replay_guard) drops a re-emission of any of them. NULL in receipts written before migration 000013.';

COMMENT ON COLUMN birthgate.outbox_receipt.min_source_change_id IS 'Lowest of source_change_ids (the GiST range index covers min..max).';

COMMENT ON COLUMN birthgate.outbox_receipt.max_source_change_id IS 'Highest of source_change_ids.';

ALTER TABLE birthgate.outbox_receipt ALTER COLUMN receipt_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME birthgate.outbox_receipt_receipt_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE birthgate.registry_changelog (
    change_id bigint NOT NULL,
    txid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    op text NOT NULL,
    collection_name text NOT NULL,
    entity_code text NOT NULL,
    object_key text GENERATED ALWAYS AS (((collection_name || ':'::text) || entity_code)) STORED NOT NULL,
    registry_id bigint NOT NULL,
    born_at timestamp with time zone NOT NULL,
    changed_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    actor name DEFAULT CURRENT_USER NOT NULL,
    detail jsonb DEFAULT '{}'::jsonb NOT NULL,
    CONSTRAINT registry_changelog_op_check CHECK ((op = ANY (ARRAY['BORN'::text, 'RETIRED'::text])))
);

COMMENT ON TABLE birthgate.registry_changelog IS 'Append-only tail of BORN/RETIRED changes; the handoff consumer reads it in (txid, change_id) order.';

COMMENT ON COLUMN birthgate.registry_changelog.change_id IS 'Monotonic id; NOT a safe cursor on its own: ids are taken before commit and transactions commit out of order.';

COMMENT ON COLUMN birthgate.registry_changelog.txid IS 'xid8 of the writing transaction (pg_current_xact_id()); the consumer only reads rows whose txid is below the snapshot xmin.';

COMMENT ON COLUMN birthgate.registry_changelog.born_at IS 'born_at of the object; with event_type and object_key it identifies the handoff event.';

COMMENT ON COLUMN birthgate.registry_changelog.changed_at IS 'When the change was written (clock_timestamp()).';

ALTER TABLE birthgate.registry_changelog ALTER COLUMN change_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME birthgate.registry_changelog_change_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE birthgate.sweep_cursor (
    sweep_name text NOT NULL,
    kind text NOT NULL,
    collection_name text,
    run_id bigint DEFAULT 0 NOT NULL,
    run_started_at timestamp with time zone,
    run_started_by name,
    finished_at timestamp with time zone,
    position_code text,
    position_id bigint,
    batch_size integer,
    batches_done bigint DEFAULT 0 NOT NULL,
    batches_total_estimated bigint,
    rows_done bigint DEFAULT 0 NOT NULL,
    rows_total_estimated bigint,
    rows_applied bigint DEFAULT 0 NOT NULL,
    rows_skipped bigint DEFAULT 0 NOT NULL,
    findings bigint DEFAULT 0 NOT NULL,
    error_count bigint DEFAULT 0 NOT NULL,
    last_error text,
    last_error_at timestamp with time zone,
    dead_lettered bigint DEFAULT 0 NOT NULL,
    heartbeat_at timestamp with time zone,
    stale_after interval DEFAULT '00:15:00'::interval NOT NULL,
    last_batch_at timestamp with time zone,
    last_batch_ms numeric,
    max_batch_ms numeric,
    paused_reason text,
    paused_until timestamp with time zone,
    pauses_rate_limit bigint DEFAULT 0 NOT NULL,
    pauses_load bigint DEFAULT 0 NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT sweep_cursor_collection_consistent CHECK (((kind = ANY (ARRAY['adopt'::text, 'adopt_dry_run'::text])) = (collection_name IS NOT NULL))),
    CONSTRAINT sweep_cursor_kind_check CHECK ((kind = ANY (ARRAY['adopt'::text, 'adopt_dry_run'::text, 'backfill'::text, 'consume'::text]))),
    CONSTRAINT sweep_cursor_stale_after_check CHECK ((stale_after > '00:00:00'::interval)),
    CONSTRAINT sweep_cursor_sweep_name_check CHECK ((sweep_name ~ '^(adopt|adopt_dry_run|backfill|consume)(:[a-z][a-z0-9_]{0,62})?$'::text))
);

COMMENT ON TABLE birthgate.sweep_cursor IS 'One row per sweep worker cursor (adopt:<collection>, adopt_dry_run:<collection>, backfill; consume records the consumer CLI pauses): run, keyset position, batches done / estimated total, rows done / applied / skipped, errors, dead-lettered keys, heartbeat, rate-limit and load-guard pauses. One worker per cursor (FOR UPDATE SKIP LOCKED).';

COMMENT ON COLUMN birthgate.sweep_cursor.run_id IS 'Current run (from sweep_run_id_seq); 0 = never run. A call on a finished cursor starts a new run.';

COMMENT ON COLUMN birthgate.sweep_cursor.position_code IS 'Adoption keyset: the last code (as text, in the column collation) swept in this run.';

COMMENT ON COLUMN birthgate.sweep_cursor.position_id IS 'Backfill keyset: the last birth_registry.registry_id swept in this run.';

COMMENT ON COLUMN birthgate.sweep_cursor.batches_total_estimated IS 'Estimated batches for the whole run (pg_class.reltuples / batch size at run start).';

COMMENT ON COLUMN birthgate.sweep_cursor.rows_applied IS 'Objects adopted (registry + changelog rows written; for a dry run: objects that would be) or candidates seeded.';

COMMENT ON COLUMN birthgate.sweep_cursor.rows_skipped IS 'Backfill: registry rows left alone (already handed off, or RETIRED).';

COMMENT ON COLUMN birthgate.sweep_cursor.findings IS 'Finding rows written in this run (sweep_finding).';

COMMENT ON COLUMN birthgate.sweep_cursor.dead_lettered IS 'Keys skipped after repeated failures. The sweeps never skip a key: a batch that keeps failing stops the run (BG606 from the procedures, exit 1 from the CLI) with the error in last_error, so this stays 0; kept for the shape shared with the other worker cursors.';

COMMENT ON COLUMN birthgate.sweep_cursor.paused_reason IS 'Why the last call did not run a batch (rate_limit or load guard); NULL once a batch ran.';

COMMENT ON COLUMN birthgate.sweep_cursor.paused_until IS 'When the worker may try again.';

CREATE TABLE birthgate.sweep_finding (
    finding_id bigint NOT NULL,
    sweep_name text NOT NULL,
    run_id bigint NOT NULL,
    kind text NOT NULL,
    collection_name text,
    entity_code text,
    code_length integer,
    code_md5 text,
    occurrences bigint DEFAULT 1 NOT NULL,
    detail jsonb DEFAULT '{}'::jsonb NOT NULL,
    found_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT sweep_finding_kind_check CHECK ((kind = ANY (ARRAY['null_code'::text, 'empty_code'::text, 'pattern_mismatch'::text, 'duplicate_code'::text, 'oversize_code'::text, 'retired_present'::text, 'retired_skipped'::text, 'dead_lettered'::text, 'deferred'::text, 'rate_limited'::text, 'load_paused'::text, 'slow_batch'::text, 'no_code_index'::text]))),
    CONSTRAINT sweep_finding_occurrences_check CHECK ((occurrences >= 0))
);

COMMENT ON TABLE birthgate.sweep_finding IS 'What the sweeps could not do or deferred ("no silent caps"): one row per code that cannot be adopted (NULL/empty code as one row with occurrences, pattern mismatch, duplicate, oversize, retired), per dead-lettered key, and one summary row per bound that left work undone (deferred, rate_limited, load_paused, slow_batch). Kept for the latest run of each sweep.';

COMMENT ON COLUMN birthgate.sweep_finding.entity_code IS 'The code (at most its first 256 characters; code_length and code_md5 identify longer ones); NULL for summary rows and NULL codes.';

COMMENT ON COLUMN birthgate.sweep_finding.occurrences IS 'Rows of the family table with this code (duplicates), or the amount a summary row counts.';

ALTER TABLE birthgate.sweep_finding ALTER COLUMN finding_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME birthgate.sweep_finding_finding_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE SEQUENCE birthgate.sweep_run_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

CREATE VIEW birthgate.v_drift_function_hash AS
 SELECT COALESCE(b.identity, f.identity) AS identity,
        CASE
            WHEN (f.identity IS NULL) THEN 'missing'::text
            WHEN (b.identity IS NULL) THEN 'unexpected'::text
            WHEN (b.definition_hash <> f.definition_hash) THEN 'drifted'::text
            ELSE 'ok'::text
        END AS state,
    (b.definition_hash IS DISTINCT FROM f.definition_hash) AS drifted,
    b.definition_hash AS baseline_hash,
    f.definition_hash AS current_hash,
    COALESCE(f.public_execute, false) AS public_execute,
    b.captured_at,
    b.captured_by,
    b.definition AS baseline_definition,
    f.definition AS current_definition
   FROM (( SELECT drift_baseline.object_kind,
            drift_baseline.identity,
            drift_baseline.scope,
            drift_baseline.definition_hash,
            drift_baseline.definition,
            drift_baseline.captured_at,
            drift_baseline.captured_by
           FROM birthgate.drift_baseline
          WHERE (drift_baseline.object_kind = 'function'::text)) b
     FULL JOIN birthgate.drift_current_functions() f(identity, function_oid, kind, definition, definition_hash, public_execute) ON ((f.identity = b.identity)));

COMMENT ON VIEW birthgate.v_drift_function_hash IS 'Each function/procedure of the package: baseline hash vs current hash. state: ok | drifted | missing (in the baseline, gone now) | unexpected (now in the schema, not in the baseline).';

CREATE VIEW birthgate.v_drift_trigger_state AS
 WITH fam AS (
         SELECT f.collection_name,
            (f.table_name)::oid AS table_oid,
            f.code_column,
            f.mode,
            (c.oid IS NOT NULL) AS table_exists,
                CASE
                    WHEN (c.oid IS NOT NULL) THEN format('%I.%I'::text, n.nspname, c.relname)
                    ELSE NULL::text
                END AS table_ident,
            (EXISTS ( SELECT 1
                   FROM pg_attribute a
                  WHERE ((a.attrelid = c.oid) AND (a.attname = f.code_column) AND (a.attnum > 0) AND (NOT a.attisdropped)))) AS column_exists
           FROM ((birthgate.birth_family f
             LEFT JOIN pg_class c ON ((c.oid = (f.table_name)::oid)))
             LEFT JOIN pg_namespace n ON ((n.oid = c.relnamespace)))
        UNION ALL
         SELECT DISTINCT ON (m.from_table) m.collection_name,
            m.from_table,
            f.code_column,
            f.mode,
            true,
            format('%I.%I'::text, n.nspname, c.relname) AS format,
            true
           FROM (((birthgate.birth_family_move m
             JOIN birthgate.birth_family f ON ((f.collection_name = m.collection_name)))
             JOIN pg_class c ON ((c.oid = m.from_table)))
             JOIN pg_namespace n ON ((n.oid = c.relnamespace)))
          WHERE (NOT (EXISTS ( SELECT 1
                   FROM birthgate.birth_family g
                  WHERE ((g.table_name)::oid = m.from_table))))
        ), required AS (
         SELECT fam.collection_name,
            fam.table_oid,
            fam.code_column,
            fam.mode,
            fam.table_exists,
            fam.table_ident,
            fam.column_exists,
            d.trigger_name,
            d.definition AS expected_definition
           FROM (fam
             CROSS JOIN LATERAL birthgate.birth_gate_trigger_definitions(fam.collection_name, fam.table_ident, fam.code_column) d(trigger_name, definition))
        ), cur AS (
         SELECT drift_current_triggers.scope,
            drift_current_triggers.identity,
            drift_current_triggers.table_oid,
            drift_current_triggers.trigger_name,
            drift_current_triggers.trigger_oid,
            drift_current_triggers.enabled_mode,
            drift_current_triggers.definition,
            drift_current_triggers.definition_hash
           FROM birthgate.drift_current_triggers() drift_current_triggers(scope, identity, table_oid, trigger_name, trigger_oid, enabled_mode, definition, definition_hash)
        ), gates AS (
         SELECT birth_gate_triggers_present.table_oid,
            birth_gate_triggers_present.trigger_name,
            birth_gate_triggers_present.trigger_oid,
            birth_gate_triggers_present.enabled_mode,
            birth_gate_triggers_present.definition
           FROM birthgate.birth_gate_triggers_present() birth_gate_triggers_present(table_oid, trigger_name, trigger_oid, enabled_mode, definition)
        ), family_rows AS (
         SELECT 'family'::text AS scope,
            q.collection_name,
            COALESCE(q.table_ident, (q.table_oid)::text) AS table_name,
            q.trigger_name,
            q.mode AS family_mode,
            q.table_exists,
            q.column_exists,
            (g.trigger_oid IS NOT NULL) AS present,
            g.enabled_mode,
                CASE
                    WHEN (q.table_ident IS NOT NULL) THEN q.expected_definition
                    ELSE NULL::text
                END AS expected_definition,
                CASE
                    WHEN (q.table_ident IS NOT NULL) THEN birthgate.drift_definition_hash(q.expected_definition)
                    ELSE NULL::text
                END AS expected_hash,
            g.definition AS current_definition,
            birthgate.drift_definition_hash(g.definition) AS current_hash,
            b.definition_hash AS baseline_hash,
            COALESCE(((g.trigger_oid IS NOT NULL) AND (( SELECT tr.xmin
                   FROM pg_trigger tr
                  WHERE (tr.oid = g.trigger_oid)) IS DISTINCT FROM ga.attached_xmin) AND (ga.trigger_oid IS NOT NULL)), false) AS altered,
            ((g.trigger_oid IS NOT NULL) AND (q.table_ident IS NOT NULL) AND (ga.trigger_oid IS NULL)) AS unrecorded
           FROM ((((required q
             LEFT JOIN gates g ON (((g.table_oid = q.table_oid) AND (g.trigger_name = q.trigger_name))))
             LEFT JOIN cur t ON ((t.trigger_oid = g.trigger_oid)))
             LEFT JOIN birthgate.gate_trigger_attach ga ON (((ga.trigger_oid = g.trigger_oid) AND (ga.table_oid = g.table_oid) AND (ga.trigger_name = g.trigger_name))))
             LEFT JOIN birthgate.drift_baseline b ON (((b.object_kind = 'trigger'::text) AND (b.identity = t.identity))))
        ), package_rows AS (
         SELECT 'package'::text AS text,
            NULL::text AS text,
            COALESCE(
                CASE
                    WHEN (cl.oid IS NOT NULL) THEN format('%I.%I'::text, n.nspname, cl.relname)
                    ELSE NULL::text
                END, regexp_replace(b.identity, '\.[^.]*$'::text, ''::text)) AS "coalesce",
            COALESCE(t.trigger_name, (regexp_replace(b.identity, '^.*\.'::text, ''::text))::name) AS "coalesce",
            NULL::text AS text,
            true AS "?column?",
            true AS "?column?",
            (t.trigger_oid IS NOT NULL) AS "?column?",
            t.enabled_mode,
            b.definition,
            b.definition_hash,
            t.definition,
            t.definition_hash,
            b.definition_hash,
            false AS "?column?",
            false AS "?column?"
           FROM (((( SELECT cur.scope,
                    cur.identity,
                    cur.table_oid,
                    cur.trigger_name,
                    cur.trigger_oid,
                    cur.enabled_mode,
                    cur.definition,
                    cur.definition_hash
                   FROM cur
                  WHERE (cur.scope = 'package'::text)) t
             FULL JOIN ( SELECT drift_baseline.identity,
                    drift_baseline.definition_hash,
                    drift_baseline.definition
                   FROM birthgate.drift_baseline
                  WHERE ((drift_baseline.object_kind = 'trigger'::text) AND (drift_baseline.scope = 'package'::text))) b ON ((b.identity = t.identity)))
             LEFT JOIN pg_class cl ON ((cl.oid = t.table_oid)))
             LEFT JOIN pg_namespace n ON ((n.oid = cl.relnamespace)))
        )
 SELECT x.scope,
    x.collection_name,
    (x.table_name COLLATE "default") AS table_name,
    x.trigger_name,
    x.family_mode,
    x.table_exists,
    x.column_exists,
    x.present,
    (x.present AND (x.enabled_mode = ANY (ARRAY['O'::"char", 'A'::"char"]))) AS enabled,
        CASE x.enabled_mode
            WHEN 'O'::"char" THEN 'origin'::text
            WHEN 'A'::"char" THEN 'always'::text
            WHEN 'R'::"char" THEN 'replica'::text
            WHEN 'D'::"char" THEN 'disabled'::text
            ELSE NULL::text
        END AS enabled_mode,
    (x.present AND (x.expected_hash IS NOT NULL) AND (x.current_hash IS DISTINCT FROM x.expected_hash)) AS drifted,
        CASE
            WHEN (NOT x.table_exists) THEN 'table_missing'::text
            WHEN (NOT x.column_exists) THEN 'column_missing'::text
            WHEN (x.expected_hash IS NULL) THEN 'unexpected'::text
            WHEN (NOT x.present) THEN 'missing'::text
            WHEN (x.enabled_mode = 'D'::"char") THEN 'disabled'::text
            WHEN (x.enabled_mode = 'R'::"char") THEN 'replica_only'::text
            WHEN (x.current_hash <> x.expected_hash) THEN 'drifted'::text
            WHEN x.altered THEN 'altered'::text
            WHEN x.unrecorded THEN 'unrecorded'::text
            ELSE 'ok'::text
        END AS state,
    (x.expected_hash COLLATE "default") AS expected_hash,
    x.current_hash,
    x.baseline_hash,
    (x.expected_definition COLLATE "default") AS expected_definition,
    x.current_definition
   FROM ( SELECT family_rows.scope,
            family_rows.collection_name,
            family_rows.table_name,
            family_rows.trigger_name,
            family_rows.family_mode,
            family_rows.table_exists,
            family_rows.column_exists,
            family_rows.present,
            family_rows.enabled_mode,
            family_rows.expected_definition,
            family_rows.expected_hash,
            family_rows.current_definition,
            family_rows.current_hash,
            family_rows.baseline_hash,
            family_rows.altered,
            family_rows.unrecorded
           FROM family_rows
        UNION ALL
         SELECT package_rows.text,
            package_rows.text_1 AS text,
            package_rows."coalesce",
            package_rows.coalesce_1 AS "coalesce",
            package_rows.text_2 AS text,
            package_rows."?column?",
            package_rows."?column?_1" AS "?column?",
            package_rows."?column?_2" AS "?column?",
            package_rows.enabled_mode,
            package_rows.definition,
            package_rows.definition_hash,
            package_rows.definition_1 AS definition,
            package_rows.definition_hash_1 AS definition_hash,
            package_rows.definition_hash_2 AS definition_hash,
            package_rows."?column?_3" AS "?column?",
            package_rows."?column?_4" AS "?column?"
           FROM package_rows package_rows(text, text_1, "coalesce", coalesce_1, text_2, "?column?", "?column?_1", "?column?_2", enabled_mode, definition, definition_hash, definition_1, definition_hash_1, definition_hash_2, "?column?_3", "?column?_4")) x;

COMMENT ON VIEW birthgate.v_drift_trigger_state IS 'Each trigger the package needs: per family its gate triggers (expected definitions from birth_gate_trigger_definitions: seven since 000015), the same on every table a collection was moved off (birth_family_move) while that table exists and no family governs it (state missing: it lost its gates), and the triggers on package tables (expected = baseline). present, enabled (tgenabled O or A; D = disabled, R = replica only), hashes, drifted, state; state altered (since 000016): enabled and as expected, but its pg_trigger row changed after the package attached it (gate_trigger_attach), e.g. disabled and enabled again; state unrecorded (since 000026): enabled and as expected, but gate_trigger_attach has no record of this very trigger (OID, table, name): the database was restored from a dump or upgraded, or the trigger was dropped and created again; record it with gate_attach_record().';

CREATE VIEW birthgate.v_drift_report AS
 WITH baseline AS (
         SELECT count(*) AS objects,
            max(drift_baseline.captured_at) AS captured_at
           FROM birthgate.drift_baseline
        ), findings AS (
         SELECT 'critical'::text AS severity,
            'baseline_missing'::text AS kind,
            'baseline'::text AS object_type,
            'birthgate.drift_baseline'::text AS object_name,
            'the drift baseline is empty: function and package-trigger drift cannot be judged'::text AS message,
            'Review the live definitions, then record them: SELECT birthgate.drift_capture_baseline();'::text AS remedy,
            '{}'::jsonb AS detail
           FROM baseline
          WHERE (baseline.objects = 0)
        UNION ALL
         SELECT
                CASE
                    WHEN (v.state = 'unexpected'::text) THEN 'warning'::text
                    ELSE 'critical'::text
                END AS "case",
            ('function_'::text || v.state),
            'function'::text,
            v.identity,
                CASE v.state
                    WHEN 'missing'::text THEN format('function %s is in the baseline but no longer exists'::text, v.identity)
                    WHEN 'drifted'::text THEN format('function %s differs from its baseline (captured %s by %s)'::text, v.identity, v.captured_at, v.captured_by)
                    ELSE format('function %s is in the package schema but not in the baseline'::text, v.identity)
                END AS format,
                CASE v.state
                    WHEN 'unexpected'::text THEN 'Find out who created it; drop it if it is not part of a reviewed migration, or record it: SELECT birthgate.drift_capture_baseline();'::text
                    ELSE format('Compare baseline_definition and current_definition in birthgate.v_drift_function_hash. Only if the change was reviewed and is intended, accept it: SELECT birthgate.drift_capture_baseline(); Otherwise re-apply the recorded definition as the package owner, in psql%s: SELECT baseline_definition FROM birthgate.v_drift_function_hash WHERE identity = %L \gexec'::text,
                    CASE
                        WHEN (v.state = 'missing'::text) THEN format(' (it comes back without its grants: then run REVOKE ALL ON FUNCTION %s FROM PUBLIC; and GRANT EXECUTE to the roles the README role table lists)'::text, v.identity)
                        ELSE ''::text
                    END, v.identity)
                END AS format,
            jsonb_build_object('baseline_hash', v.baseline_hash, 'current_hash', v.current_hash, 'captured_at', v.captured_at) AS jsonb_build_object
           FROM birthgate.v_drift_function_hash v,
            baseline
          WHERE (v.drifted AND ((v.state <> 'unexpected'::text) OR (baseline.objects > 0)))
        UNION ALL
         SELECT
                CASE
                    WHEN p.prosecdef THEN 'critical'::text
                    ELSE 'warning'::text
                END AS "case",
            'function_public_execute'::text,
            'function'::text,
            f.identity,
                CASE
                    WHEN p.prosecdef THEN format('PUBLIC may execute %s, a SECURITY DEFINER function: any role that may use schema %s runs it with the rights of its owner %s (the package grants nothing to PUBLIC; a restore into a cluster without the package roles leaves this)%s'::text, f.identity, 'birthgate', (p.proowner)::regrole, g.missing_note)
                    ELSE format('PUBLIC may execute %s (the package grants nothing to PUBLIC)%s'::text, f.identity, g.missing_note)
                END AS format,
            format('REVOKE ALL ON ROUTINE %s FROM PUBLIC;%s'::text, f.identity,
                CASE
                    WHEN (g.grants <> ''::text) THEN g.grants
                    ELSE ' then GRANT EXECUTE to the package role that needs it (see the role table in the README)'::text
                END) AS format,
            jsonb_build_object('security_definer', p.prosecdef, 'execute_grantees', to_jsonb(b.execute_grantees), 'missing_roles', to_jsonb(g.missing)) AS jsonb_build_object
           FROM (((birthgate.drift_current_functions() f(identity, function_oid, kind, definition, definition_hash, public_execute)
             JOIN pg_proc p ON ((p.oid = f.function_oid)))
             LEFT JOIN birthgate.drift_baseline b ON (((b.object_kind = 'function'::text) AND (b.identity = f.identity))))
             CROSS JOIN LATERAL ( SELECT COALESCE(string_agg(format(' GRANT EXECUTE ON ROUTINE %s TO %I;'::text, f.identity, r.role), ''::text ORDER BY r.role), ''::text) AS grants,
                    array_agg(r.role ORDER BY r.role) FILTER (WHERE (NOT (EXISTS ( SELECT 1
                           FROM pg_roles x
                          WHERE (x.rolname = r.role))))) AS missing,
                    COALESCE(('; roles missing in this cluster, create them first: '::text || string_agg(r.role, ', '::text ORDER BY r.role) FILTER (WHERE (NOT (EXISTS ( SELECT 1
                           FROM pg_roles x
                          WHERE (x.rolname = r.role)))))), ''::text) AS missing_note
                   FROM unnest(b.execute_grantees) r(role)) g)
          WHERE f.public_execute
        UNION ALL
         SELECT
                CASE
                    WHEN p.prosecdef THEN 'critical'::text
                    ELSE 'warning'::text
                END AS "case",
            'function_execute_grant'::text,
            'function'::text,
            f.identity,
            format('%s may execute %s%s%s, which the package does not grant (it grants EXECUTE only to its roles %s, each only the functions of its role table, without grant option)'::text, (a.grantee)::regrole, f.identity,
                CASE
                    WHEN p.prosecdef THEN (', a SECURITY DEFINER function running with the rights of its owner '::text || ((p.proowner)::regrole)::text)
                    ELSE ''::text
                END,
                CASE
                    WHEN a.is_grantable THEN ' WITH GRANT OPTION (it may grant it to anyone)'::text
                    ELSE ''::text
                END, 'birthgate_admin, birthgate_issuer, birthgate_reader, birthgate_consumer, birthgate_delivery') AS format,
                CASE
                    WHEN (EXISTS ( SELECT 1
                       FROM pg_roles r
                      WHERE ((r.oid = a.grantee) AND (r.rolname = ANY (ARRAY['birthgate_admin'::name, 'birthgate_issuer'::name, 'birthgate_reader'::name, 'birthgate_consumer'::name, 'birthgate_delivery'::name]))))) THEN format('REVOKE GRANT OPTION FOR EXECUTE ON ROUTINE %s FROM %s CASCADE;'::text, f.identity, (a.grantee)::regrole)
                    ELSE format('REVOKE EXECUTE ON ROUTINE %s FROM %s CASCADE; then grant the role the package role it needs instead (GRANT %I TO %s;)'::text, f.identity, (a.grantee)::regrole, 'birthgate_admin', (a.grantee)::regrole)
                END AS format,
            jsonb_build_object('security_definer', p.prosecdef, 'grantee', ((a.grantee)::regrole)::text, 'grant_option', a.is_grantable, 'grantor', ((a.grantor)::regrole)::text) AS jsonb_build_object
           FROM (((birthgate.drift_current_functions() f(identity, function_oid, kind, definition, definition_hash, public_execute)
             JOIN pg_proc p ON ((p.oid = f.function_oid)))
             CROSS JOIN LATERAL aclexplode(p.proacl) a(grantor, grantee, privilege_type, is_grantable))
             LEFT JOIN birthgate.drift_baseline gb ON (((gb.object_kind = 'function'::text) AND (gb.identity = f.identity))))
          WHERE ((a.privilege_type = 'EXECUTE'::text) AND (a.grantee <> p.proowner) AND (a.grantee <> (0)::oid) AND (a.is_grantable OR (NOT (EXISTS ( SELECT 1
                   FROM pg_roles r
                  WHERE ((r.oid = a.grantee) AND (r.rolname = ANY (ARRAY['birthgate_admin'::name, 'birthgate_issuer'::name, 'birthgate_reader'::name, 'birthgate_consumer'::name, 'birthgate_delivery'::name])))))) OR ((gb.execute_grantees IS NOT NULL) AND (NOT (( SELECT (r.rolname)::text AS rolname
                   FROM pg_roles r
                  WHERE (r.oid = a.grantee)) = ANY (gb.execute_grantees))))))
        UNION ALL
         SELECT 'critical'::text,
            'family_table_missing'::text,
            'table'::text,
            min(t.table_name) AS min,
            format('family %s: its table (oid %s) no longer exists; the family is ungoverned'::text, t.collection_name, min(t.table_name)) AS format,
            'Recreate the table and re-register the family (register_family is idempotent), or remove the family row if the collection is gone'::text,
            jsonb_build_object('collection_name', t.collection_name) AS jsonb_build_object
           FROM birthgate.v_drift_trigger_state t
          WHERE ((t.scope = 'family'::text) AND (t.state = 'table_missing'::text))
          GROUP BY t.collection_name
        UNION ALL
         SELECT 'critical'::text,
            'family_column_missing'::text,
            'table'::text,
            min(t.table_name) AS min,
            format('family %s: code column of %s no longer exists; the gate cannot see codes'::text, t.collection_name, min(t.table_name)) AS format,
            'Restore the code column, or re-register the family with the new code column'::text,
            jsonb_build_object('collection_name', t.collection_name) AS jsonb_build_object
           FROM birthgate.v_drift_trigger_state t
          WHERE ((t.scope = 'family'::text) AND (t.state = 'column_missing'::text))
          GROUP BY t.collection_name
        UNION ALL
         SELECT
                CASE
                    WHEN (t.state = 'unexpected'::text) THEN 'warning'::text
                    ELSE 'critical'::text
                END AS "case",
            ('trigger_'::text || t.state),
            'trigger'::text,
            format('%s ON %s'::text, t.trigger_name, t.table_name) AS format,
                CASE t.state
                    WHEN 'missing'::text THEN format('trigger %s on %s is missing%s'::text, t.trigger_name, t.table_name,
                    CASE
                        WHEN (t.scope = 'family'::text) THEN format(' (family %s, mode %s): births there are not gated'::text, t.collection_name, t.family_mode)
                        ELSE ''::text
                    END)
                    WHEN 'disabled'::text THEN format('trigger %s on %s is disabled (tgenabled = D)%s'::text, t.trigger_name, t.table_name,
                    CASE
                        WHEN (t.scope = 'family'::text) THEN format(' (family %s, mode %s): births there are not gated'::text, t.collection_name, t.family_mode)
                        ELSE ''::text
                    END)
                    WHEN 'replica_only'::text THEN format('trigger %s on %s fires only under session_replication_role = replica (tgenabled = R): it does not fire in normal sessions'::text, t.trigger_name, t.table_name)
                    WHEN 'drifted'::text THEN format('trigger %s on %s differs from its expected definition'::text, t.trigger_name, t.table_name)
                    WHEN 'unrecorded'::text THEN format('trigger %s on %s (family %s, mode %s) is not the trigger the package attached: gate_trigger_attach has no record of it (the database was restored from a dump or upgraded, or the trigger was dropped and created again), so an alteration of it (DISABLE/ENABLE) cannot be seen'::text, t.trigger_name, t.table_name, t.collection_name, t.family_mode)
                    WHEN 'altered'::text THEN format('trigger %s on %s was altered after the package attached it (its pg_trigger row changed, e.g. ALTER TABLE ... DISABLE TRIGGER and ENABLE again, possibly for one statement)%s: births in that window may not have been gated; see phantom_objects and unborn_objects'::text, t.trigger_name, t.table_name,
                    CASE
                        WHEN (t.scope = 'family'::text) THEN format(' (family %s, mode %s)'::text, t.collection_name, t.family_mode)
                        ELSE ''::text
                    END)
                    ELSE format('trigger %s on package table %s is not in the baseline'::text, t.trigger_name, t.table_name)
                END AS format,
                CASE
                    WHEN (t.state = ANY (ARRAY['disabled'::text, 'replica_only'::text])) THEN format('ALTER TABLE %s ENABLE TRIGGER %I;'::text, t.table_name, t.trigger_name)
                    WHEN (t.state = 'unrecorded'::text) THEN format('Check that nobody re-created it on purpose (compare current_definition in birthgate.v_drift_trigger_state), then record the gates of the family as they are: SELECT birthgate.gate_attach_record(%L);'::text, t.collection_name)
                    WHEN (t.scope = 'family'::text) THEN format('Re-attach the gate triggers (register_family is idempotent): DROP TRIGGER IF EXISTS %I ON %s; SELECT birthgate.register_family(%L, %L, %L, %L, %L); expected: %s'::text, t.trigger_name, t.table_name, t.collection_name, t.table_name, bf.code_column, bf.code_pattern, bf.mode, t.expected_definition)
                    WHEN (t.state = 'unexpected'::text) THEN 'Find out who created it; drop it unless it belongs to a reviewed migration, then: SELECT birthgate.drift_capture_baseline();'::text
                    ELSE format('Recreate it as recorded in the baseline, as the package owner: DROP TRIGGER IF EXISTS %I ON %s; %s;'::text, t.trigger_name, t.table_name, t.expected_definition)
                END AS format,
            jsonb_build_object('scope', t.scope, 'collection_name', t.collection_name, 'enabled_mode', t.enabled_mode, 'expected_hash', t.expected_hash, 'current_hash', t.current_hash) AS jsonb_build_object
           FROM (birthgate.v_drift_trigger_state t
             LEFT JOIN birthgate.birth_family bf ON ((bf.collection_name = t.collection_name)))
          WHERE (t.state = ANY (ARRAY['missing'::text, 'disabled'::text, 'replica_only'::text, 'drifted'::text, 'unexpected'::text, 'altered'::text, 'unrecorded'::text]))
        UNION ALL
         SELECT 'info'::text,
            'trigger_always'::text,
            'trigger'::text,
            format('%s ON %s'::text, t.trigger_name, t.table_name) AS format,
            format('trigger %s on %s is ENABLE ALWAYS: it fires even under session_replication_role = replica (stricter than installed)'::text, t.trigger_name, t.table_name) AS format,
            format('Nothing to do if intended; the installed state is: ALTER TABLE %s ENABLE TRIGGER %I;'::text, t.table_name, t.trigger_name) AS format,
            jsonb_build_object('scope', t.scope, 'collection_name', t.collection_name) AS jsonb_build_object
           FROM birthgate.v_drift_trigger_state t
          WHERE (t.present AND (t.enabled_mode = 'always'::text))
        UNION ALL
         SELECT 'critical'::text,
            'heartbeat_stale'::text,
            'handoff'::text,
            h.consumer_name,
                CASE
                    WHEN (h.heartbeat_at IS NULL) THEN format('handoff %s has never run while %s changelog rows wait: governed activation fails closed until it runs (births are not affected)'::text, h.consumer_name, w.waiting)
                    ELSE format('handoff %s heartbeat is %s old (stale after %s; %s changelog rows waiting): governed activation fails closed until the consumer runs again (births are not affected)'::text, h.consumer_name, date_trunc('second'::text, (now() - h.heartbeat_at)), h.stale_after, w.waiting)
                END AS format,
            'Run the consumer (CALL birthgate.handoff_drain(); or birthgate consume) and check the scheduler that should run it'::text,
            jsonb_build_object('heartbeat_at', h.heartbeat_at, 'stale_after', h.stale_after, 'waiting', w.waiting, 'position_txid', (h.position_txid)::text, 'position_change_id', h.position_change_id) AS jsonb_build_object
           FROM (birthgate.handoff_cursor h
             CROSS JOIN LATERAL ( SELECT count(*) AS waiting
                   FROM birthgate.registry_changelog l
                  WHERE (ROW(l.txid, l.change_id) > ROW(h.position_txid, h.position_change_id))) w)
          WHERE (((h.heartbeat_at IS NULL) AND (EXISTS ( SELECT 1
                   FROM birthgate.registry_changelog))) OR (h.heartbeat_at < (now() - h.stale_after)))
        UNION ALL
         SELECT 'critical'::text,
            'family_table_unsafe'::text,
            'table'::text,
            tb.ident,
            format('family %s: %s cannot be read without running code of its owner (%s); its unborn objects and phantoms are not checked'::text, u.collection_name, tb.ident, u.note) AS format,
            format('Find out who changed %s (owner %I) and undo what the description names (an ordinary table, code column %I of text, varchar or name, no index, CHECK, statistics or partition-key expression using functions outside pg_catalog, no inheritance child), then re-register: SELECT birthgate.register_family(%L, %L, %L, %L, %L);'::text, tb.ident, tb.owner, f.code_column, f.collection_name, tb.ident, f.code_column, f.code_pattern, f.mode) AS format,
            jsonb_build_object('collection_name', u.collection_name, 'reason', u.note, 'mode', f.mode) AS jsonb_build_object
           FROM ((birthgate.drift_family_objects(NULL::text) u(collection_name, finding, entity_code, code_hidden, note)
             JOIN birthgate.birth_family f ON ((f.collection_name = u.collection_name)))
             CROSS JOIN LATERAL ( SELECT format('%I.%I'::text, n.nspname, cl.relname) AS ident,
                    pg_get_userbyid(cl.relowner) AS owner
                   FROM (pg_class cl
                     JOIN pg_namespace n ON ((n.oid = cl.relnamespace)))
                  WHERE (cl.oid = (f.table_name)::oid)) tb)
          WHERE (u.finding = 'unsafe_table'::text)
        UNION ALL
         SELECT
                CASE
                    WHEN (o.finding = 'unborn'::text) THEN
                    CASE f.mode
                        WHEN 'enforce'::text THEN 'critical'::text
                        WHEN 'report'::text THEN 'warning'::text
                        ELSE 'info'::text
                    END
                    WHEN (o.finding = 'phantom'::text) THEN 'warning'::text
                    ELSE 'info'::text
                END AS "case",
                CASE o.finding
                    WHEN 'unborn'::text THEN 'unborn_objects'::text
                    WHEN 'phantom'::text THEN 'phantom_objects'::text
                    ELSE 'retired_objects_present'::text
                END AS "case",
            'family'::text,
            o.collection_name,
                CASE o.finding
                    WHEN 'unborn'::text THEN format('family %s (mode %s): %s row(s) in %s have no registry row (bypassed gate: session_replication_role = replica, disabled trigger or mode off)%s'::text, o.collection_name, f.mode, o.n, tb.ident,
                    CASE
                        WHEN (o.null_codes > 0) THEN format(', %s with a NULL code'::text, o.null_codes)
                        ELSE ''::text
                    END)
                    WHEN 'phantom'::text THEN format('family %s: %s BORN registry row(s) have no object in %s (deleted without retire)'::text, o.collection_name, o.n, tb.ident)
                    ELSE format('family %s: %s row(s) in %s carry a RETIRED code'::text, o.collection_name, o.n, tb.ident)
                END AS format,
                CASE o.finding
                    WHEN 'unborn'::text THEN format('List them: SELECT * FROM birthgate.drift_family_objects(%L) WHERE finding = ''unborn''; birth each through a permit (issue_permit, then rewrite its code) or remove it'::text, o.collection_name)
                    WHEN 'phantom'::text THEN format('List them: SELECT * FROM birthgate.drift_family_objects(%L) WHERE finding = ''phantom''; restore the object or retire the code with birthgate.retire()'::text, o.collection_name)
                    ELSE format('List them: SELECT * FROM birthgate.drift_family_objects(%L) WHERE finding = ''retired_present'''::text, o.collection_name)
                END AS format,
            jsonb_build_object('count', o.n, 'null_codes', o.null_codes, 'sample', to_jsonb(o.sample), 'mode', f.mode, 'codes_hidden', o.hidden_codes) AS jsonb_build_object
           FROM ((( SELECT s.collection_name,
                    s.finding,
                    count(*) AS n,
                    count(*) FILTER (WHERE ((s.entity_code IS NULL) AND (NOT s.code_hidden))) AS null_codes,
                    count(*) FILTER (WHERE s.code_hidden) AS hidden_codes,
                    (array_agg(s.entity_code ORDER BY s.entity_code) FILTER (WHERE (s.entity_code IS NOT NULL)))[1:5] AS sample
                   FROM birthgate.drift_family_objects(NULL::text) s(collection_name, finding, entity_code, code_hidden, note)
                  WHERE (s.finding <> 'unsafe_table'::text)
                  GROUP BY s.collection_name, s.finding) o
             JOIN birthgate.birth_family f ON ((f.collection_name = o.collection_name)))
             CROSS JOIN LATERAL ( SELECT format('%I.%I'::text, n.nspname, cl.relname) AS ident
                   FROM (pg_class cl
                     JOIN pg_namespace n ON ((n.oid = cl.relnamespace)))
                  WHERE (cl.oid = (f.table_name)::oid)) tb)
        )
 SELECT findings.severity,
    array_position(ARRAY['info'::text, 'warning'::text, 'critical'::text], findings.severity) AS severity_rank,
    findings.kind,
    findings.object_type,
    (findings.object_name COLLATE "default") AS object_name,
    (findings.message COLLATE "default") AS message,
    (findings.remedy COLLATE "default") AS remedy,
    findings.detail
   FROM findings
  ORDER BY (array_position(ARRAY['info'::text, 'warning'::text, 'critical'::text], findings.severity)) DESC, findings.kind, (findings.object_name COLLATE "default");

COMMENT ON VIEW birthgate.v_drift_report IS 'One row per drift finding, worst first: drifted/missing/unexpected functions, missing/disabled/replica-only/drifted gate triggers, missing family tables or code columns, family tables that cannot be read without running code of their owner (family_table_unsafe), a stale handoff heartbeat (governed activation then fails closed), unborn objects and phantoms per family (sample codes only for a caller with SELECT on the code column). severity: info | warning | critical; remedy says what to do. Detect-only: reading it changes nothing and never runs code of a table owner.';

CREATE VIEW birthgate.v_handoff_lag AS
 SELECT r.registry_id,
    r.collection_name,
    r.entity_code,
    r.object_key,
    r.born_at,
    r.born_txid,
    (clock_timestamp() - r.born_at) AS waiting_for
   FROM birthgate.birth_registry r
  WHERE ((r.status = 'BORN'::text) AND (NOT (EXISTS ( SELECT 1
           FROM birthgate.governance_candidate_state g
          WHERE (g.object_key = r.object_key)))));

COMMENT ON VIEW birthgate.v_handoff_lag IS 'Reconciliation: BORN registry objects that have no governance_candidate_state row yet. SELECT count(*) must trend to 0; a row that stays means the consumer is behind, stale, or the birth wrote no changelog row.';

CREATE VIEW birthgate.v_handoff_status AS
 SELECT hc.consumer_name,
    hc.position_txid,
    hc.position_change_id,
    hc.heartbeat_at,
    (clock_timestamp() - hc.heartbeat_at) AS heartbeat_age,
    hc.stale_after,
    ((hc.heartbeat_at IS NULL) OR ((clock_timestamp() - hc.heartbeat_at) > hc.stale_after)) AS stale,
    pg_snapshot_xmin(hc.position_snapshot) AS horizon_txid,
    w.rows_waiting,
        CASE
            WHEN held.by_cursor THEN w.rows_waiting
            ELSE (0)::bigint
        END AS rows_held_back,
        CASE
            WHEN held.by_cursor THEN o.txid
            ELSE NULL::xid8
        END AS oldest_held_back_txid,
        CASE
            WHEN held.by_cursor THEN w.oldest_waiting_at
            ELSE NULL::timestamp with time zone
        END AS oldest_held_back_at,
        CASE
            WHEN held.by_cursor THEN (clock_timestamp() - w.oldest_waiting_at)
            ELSE NULL::interval
        END AS oldest_held_back_age,
    x.holding_txid,
    x.holding_pid,
    x.holding_xact_start,
    (clock_timestamp() - x.holding_xact_start) AS holding_xact_age,
    x.holding_application_name,
    x.holding_state,
    hc.rows_consumed,
    hc.batches_run,
    hc.last_batch_rows,
    hc.updated_at,
    hc.position_snapshot,
    hc.window_snapshot,
    w.oldest_waiting_at,
    COALESCE(date_part('epoch'::text, (clock_timestamp() - w.oldest_waiting_at)), (0)::double precision) AS lag_seconds
   FROM ((((birthgate.handoff_cursor hc
     CROSS JOIN LATERAL ( SELECT count(*) AS rows_waiting,
            min(l.changed_at) AS oldest_waiting_at
           FROM birthgate.registry_changelog l
          WHERE (((l.txid = ANY (ARRAY( SELECT x_1.xid
                   FROM pg_snapshot_xip(hc.position_snapshot) x_1(xid)))) OR (l.txid >= pg_snapshot_xmax(hc.position_snapshot))) AND (NOT ((hc.window_snapshot IS NOT NULL) AND pg_visible_in_snapshot(l.txid, hc.window_snapshot) AND (ROW(l.txid, l.change_id) <= ROW(hc.window_after_txid, hc.window_after_change_id)))) AND (l.txid IS DISTINCT FROM pg_current_xact_id_if_assigned()))) w)
     LEFT JOIN LATERAL ( SELECT l.txid
           FROM birthgate.registry_changelog l
          WHERE (((l.txid = ANY (ARRAY( SELECT x_1.xid
                   FROM pg_snapshot_xip(hc.position_snapshot) x_1(xid)))) OR (l.txid >= pg_snapshot_xmax(hc.position_snapshot))) AND (NOT ((hc.window_snapshot IS NOT NULL) AND pg_visible_in_snapshot(l.txid, hc.window_snapshot) AND (ROW(l.txid, l.change_id) <= ROW(hc.window_after_txid, hc.window_after_change_id)))) AND (l.txid IS DISTINCT FROM pg_current_xact_id_if_assigned()))
          ORDER BY l.txid, l.change_id
         LIMIT 1) o ON (true))
     LEFT JOIN LATERAL birthgate.handoff_holding_xact() x(holding_txid, holding_pid, holding_xact_start, holding_application_name, holding_state) ON (true))
     CROSS JOIN LATERAL ( SELECT COALESCE((x.holding_state ~~ 'holds the handoff cursor%'::text), false) AS by_cursor) held);

COMMENT ON VIEW birthgate.v_handoff_status IS 'Handoff health, one row per cursor: last row taken (position_txid, position_change_id), heartbeat_at and its age, stale (no heartbeat or older than stale_after), horizon_txid (xmin of the position snapshot: everything below it is handed off), rows_waiting (committed changelog rows not yet handed off: exact), oldest_waiting_at and lag_seconds (age of the oldest of them; 0 when none), rows_held_back (waiting rows that no consumer can take because another transaction holds the cursor) since when, and who holds rows back (holding_*): the transaction holding the cursor, else the oldest open transaction that has written changelog rows (its births follow once it commits). position_snapshot / window_snapshot: the snapshot position and the window being split. Ages are wall-clock (clock_timestamp()).';

CREATE VIEW birthgate.v_outbox_status AS
 SELECT q.depth,
    q.ready,
    q.in_flight,
    q.backing_off,
    q.expired_claims,
    q.oldest_undelivered_at,
    (clock_timestamp() - q.oldest_undelivered_at) AS oldest_undelivered_age,
    q.max_attempts_seen,
    dl.dead_lettered,
    dl.oldest_dead_lettered_at,
    d.delivered_retained,
    d.oldest_delivered_at,
    d.purge_due,
    k.dead_lettered_total,
    k.redriven_total,
    k.expired_claims_total,
    k.stale_acks_total,
    k.purged_total,
    k.last_purge_at,
    cfg.max_attempts,
    cfg.backoff_base,
    cfg.backoff_max,
    cfg.retention,
    cfg.alert_after,
    pg_table_size('birthgate.event_outbox'::regclass) AS table_bytes,
    pg_indexes_size('birthgate.event_outbox'::regclass) AS index_bytes,
    pg_stat_get_live_tuples(('birthgate.event_outbox'::regclass)::oid) AS live_tuples,
    pg_stat_get_dead_tuples(('birthgate.event_outbox'::regclass)::oid) AS dead_tuples,
    GREATEST(pg_stat_get_last_vacuum_time(('birthgate.event_outbox'::regclass)::oid), pg_stat_get_last_autovacuum_time(('birthgate.event_outbox'::regclass)::oid)) AS last_vacuum_at
   FROM ((((birthgate.outbox_config cfg
     CROSS JOIN LATERAL ( SELECT count(*) AS depth,
            count(*) FILTER (WHERE ((o.claimed_by IS NULL) AND (o.visible_at <= clock_timestamp()))) AS ready,
            count(*) FILTER (WHERE ((o.claimed_by IS NOT NULL) AND (o.claim_expires_at > clock_timestamp()))) AS in_flight,
            count(*) FILTER (WHERE ((o.claimed_by IS NULL) AND (o.visible_at > clock_timestamp()))) AS backing_off,
            count(*) FILTER (WHERE ((o.claimed_by IS NOT NULL) AND (o.claim_expires_at <= clock_timestamp()))) AS expired_claims,
            min(o.emitted_at) AS oldest_undelivered_at,
            COALESCE(max(o.attempts), 0) AS max_attempts_seen
           FROM birthgate.event_outbox o
          WHERE (o.delivered_at IS NULL)) q)
     CROSS JOIN LATERAL ( SELECT COALESCE(sum(r.events), (0)::bigint) AS delivered_retained,
            min(r.delivered_at) AS oldest_delivered_at,
            COALESCE(sum(r.events) FILTER (WHERE (r.delivered_at < (clock_timestamp() - cfg.retention))), (0)::bigint) AS purge_due
           FROM birthgate.outbox_receipt r) d)
     CROSS JOIN LATERAL ( SELECT count(*) AS dead_lettered,
            min(x.dead_lettered_at) AS oldest_dead_lettered_at
           FROM birthgate.event_dead_letter x) dl)
     CROSS JOIN LATERAL ( SELECT (COALESCE(sum(k_1.amount) FILTER (WHERE (k_1.counter = 'dead_lettered'::text)), (0)::numeric))::bigint AS dead_lettered_total,
            (COALESCE(sum(k_1.amount) FILTER (WHERE (k_1.counter = 'redriven'::text)), (0)::numeric))::bigint AS redriven_total,
            (COALESCE(sum(k_1.amount) FILTER (WHERE (k_1.counter = 'expired_claims'::text)), (0)::numeric))::bigint AS expired_claims_total,
            (COALESCE(sum(k_1.amount) FILTER (WHERE (k_1.counter = 'stale_acks'::text)), (0)::numeric))::bigint AS stale_acks_total,
            (COALESCE(sum(k_1.amount) FILTER (WHERE (k_1.counter = 'purged'::text)), (0)::numeric))::bigint AS purged_total,
            max(k_1.at) FILTER (WHERE (k_1.counter = 'purged'::text)) AS last_purge_at
           FROM birthgate.outbox_counter k_1) k)
  WHERE cfg.singleton;

COMMENT ON VIEW birthgate.v_outbox_status IS 'Outbox delivery health, one row: depth (undelivered events) = ready + in_flight (claimed, visibility running) + backing_off (failed, waiting for the backoff) + expired_claims (claim timed out, claimable again); the oldest undelivered event and its age; dead_lettered (now in event_dead_letter); acknowledged events whose receipts (outbox_receipt) are still retained, since when, and how many are past the retention (purge_due); counters since install: dead_lettered_total, redriven_total, expired_claims_total, stale_acks_total (fenced acknowledgements refused), purged_total and last_purge_at; the settings; the size of event_outbox (table_bytes, index_bytes; it holds undelivered events only), live/dead tuples and the last vacuum (bloat). Ages are wall-clock.';

CREATE VIEW birthgate.v_sweep_status AS
 SELECT sc.sweep_name,
    sc.kind,
    sc.collection_name,
    sc.run_id,
        CASE
            WHEN (sc.kind = 'consume'::text) THEN
            CASE
                WHEN (sc.paused_until > clock_timestamp()) THEN 'paused'::text
                ELSE 'running'::text
            END
            WHEN (sc.run_id = 0) THEN 'idle'::text
            WHEN (sc.finished_at IS NOT NULL) THEN 'finished'::text
            WHEN (sc.paused_until > clock_timestamp()) THEN 'paused'::text
            WHEN ((sc.heartbeat_at IS NULL) OR ((clock_timestamp() - sc.heartbeat_at) > sc.stale_after)) THEN 'stale'::text
            ELSE 'running'::text
        END AS state,
    sc.paused_reason,
    sc.paused_until,
    sc.batches_done,
    sc.batches_total_estimated,
    sc.rows_done,
    sc.rows_total_estimated,
    round(((100.0 * (sc.rows_done)::numeric) / (NULLIF(GREATEST(sc.rows_total_estimated, sc.rows_done), 0))::numeric), 1) AS percent_done,
    sc.rows_applied,
    sc.rows_skipped,
    sc.findings,
    r.rows_per_second,
        CASE
            WHEN ((sc.finished_at IS NULL) AND (r.rows_per_second > (0)::numeric)) THEN make_interval(secs => (((GREATEST((sc.rows_total_estimated - sc.rows_done), (0)::bigint))::numeric / r.rows_per_second))::double precision)
            ELSE NULL::interval
        END AS eta,
    sc.error_count,
    sc.last_error,
    sc.last_error_at,
    sc.dead_lettered,
    sc.heartbeat_at,
    (clock_timestamp() - sc.heartbeat_at) AS heartbeat_age,
    sc.last_batch_ms,
    sc.max_batch_ms,
    sc.pauses_rate_limit,
    sc.pauses_load,
    "left"(sc.position_code, 100) AS position_code,
    sc.position_id,
    sc.batch_size,
    sc.run_started_at,
    sc.run_started_by,
    sc.finished_at
   FROM (birthgate.sweep_cursor sc
     CROSS JOIN LATERAL ( SELECT round(((sc.rows_done)::numeric / NULLIF(EXTRACT(epoch FROM (COALESCE(sc.finished_at, sc.heartbeat_at) - sc.run_started_at)), (0)::numeric)), 1) AS rows_per_second) r);

COMMENT ON VIEW birthgate.v_sweep_status IS 'One row per sweep cursor: state (idle | running | paused | stale | finished), why and until when it is paused (rate limit or load guard), batches done / estimated total, rows done / estimated total, percent, rows applied (adopted or seeded) and skipped, findings, rate (rows/s over the run) and ETA, errors and the last one, heartbeat and its age, last and slowest batch in ms, pause counts, keyset position (code shown up to 100 characters). The ''consume'' row carries the consumer CLI''s pauses.';

CREATE VIEW birthgate.v_metrics AS
 SELECT 1 AS metric_order,
    'birthgate_handoff_lag_rows'::text AS metric,
    'gauge'::text AS metric_type,
    'Committed changelog rows not yet handed off (exact): the consumer backlog.'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('consumer', s.consumer_name) AS labels,
            (s.rows_waiting)::double precision AS value
           FROM birthgate.v_handoff_status s) m
UNION ALL
 SELECT 2 AS metric_order,
    'birthgate_handoff_lag_seconds'::text AS metric,
    'gauge'::text AS metric_type,
    'Age of the oldest committed changelog row not yet handed off (0 when there is none).'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('consumer', s.consumer_name) AS labels,
            s.lag_seconds AS value
           FROM birthgate.v_handoff_status s) m
UNION ALL
 SELECT 3 AS metric_order,
    'birthgate_handoff_rows_waiting'::text AS metric,
    'gauge'::text AS metric_type,
    'Committed changelog rows not yet handed off (the same number as lag_rows, kept for dashboards).'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('consumer', s.consumer_name) AS labels,
            (s.rows_waiting)::double precision AS value
           FROM birthgate.v_handoff_status s) m
UNION ALL
 SELECT 4 AS metric_order,
    'birthgate_handoff_rows_held_back'::text AS metric,
    'gauge'::text AS metric_type,
    'Changelog rows past the cursor held back by an older open transaction (at or above the horizon).'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('consumer', s.consumer_name) AS labels,
            (s.rows_held_back)::double precision AS value
           FROM birthgate.v_handoff_status s) m
UNION ALL
 SELECT 5 AS metric_order,
    'birthgate_handoff_held_back_seconds'::text AS metric,
    'gauge'::text AS metric_type,
    'How long the oldest held-back changelog row has been held back (0 when none is).'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('consumer', s.consumer_name) AS labels,
            COALESCE((EXTRACT(epoch FROM s.oldest_held_back_age))::double precision, (0)::double precision) AS value
           FROM birthgate.v_handoff_status s) m
UNION ALL
 SELECT 6 AS metric_order,
    'birthgate_handoff_holding_xact_age_seconds'::text AS metric,
    'gauge'::text AS metric_type,
    'Age of the open transaction holding the handoff horizon back (0 when none does); see v_handoff_status for its pid.'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('consumer', s.consumer_name) AS labels,
            COALESCE((EXTRACT(epoch FROM s.holding_xact_age))::double precision, (0)::double precision) AS value
           FROM birthgate.v_handoff_status s) m
UNION ALL
 SELECT 7 AS metric_order,
    'birthgate_handoff_heartbeat_age_seconds'::text AS metric,
    'gauge'::text AS metric_type,
    'Seconds since the consumer last ran (+Inf when it never ran).'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('consumer', s.consumer_name) AS labels,
            COALESCE((EXTRACT(epoch FROM s.heartbeat_age))::double precision, 'Infinity'::double precision) AS value
           FROM birthgate.v_handoff_status s) m
UNION ALL
 SELECT 8 AS metric_order,
    'birthgate_handoff_stale_after_seconds'::text AS metric,
    'gauge'::text AS metric_type,
    'The heartbeat age after which the handoff counts as stale (governed activation then fails closed).'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('consumer', s.consumer_name) AS labels,
            (EXTRACT(epoch FROM s.stale_after))::double precision AS value
           FROM birthgate.v_handoff_status s) m
UNION ALL
 SELECT 9 AS metric_order,
    'birthgate_handoff_stale'::text AS metric,
    'gauge'::text AS metric_type,
    '1 when the heartbeat is missing or older than stale_after, else 0.'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('consumer', s.consumer_name) AS labels,
            (
                CASE
                    WHEN s.stale THEN 1
                    ELSE 0
                END)::double precision AS value
           FROM birthgate.v_handoff_status s) m
UNION ALL
 SELECT 10 AS metric_order,
    'birthgate_handoff_batches_total'::text AS metric,
    'counter'::text AS metric_type,
    'Consumer batches run (handoff_consume calls that held the cursor).'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('consumer', s.consumer_name) AS labels,
            (s.batches_run)::double precision AS value
           FROM birthgate.v_handoff_status s) m
UNION ALL
 SELECT 11 AS metric_order,
    'birthgate_handoff_consumed_rows_total'::text AS metric,
    'counter'::text AS metric_type,
    'Changelog rows the consumer has handed off.'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('consumer', s.consumer_name) AS labels,
            (s.rows_consumed)::double precision AS value
           FROM birthgate.v_handoff_status s) m
UNION ALL
 SELECT 12 AS metric_order,
    'birthgate_event_pending_depth'::text AS metric,
    'gauge'::text AS metric_type,
    'Captured events waiting in event_pending (inactive event types), per event type.'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('event_type', v.x) AS labels,
            (COALESCE(n.n, (0)::bigint))::double precision AS value
           FROM (unnest(ARRAY['handoff.object_born'::text]) v(x)
             LEFT JOIN ( SELECT event_pending.event_type AS x,
                    count(*) AS n
                   FROM birthgate.event_pending
                  WHERE true
                  GROUP BY event_pending.event_type) n ON ((n.x = v.x)))) m
UNION ALL
 SELECT 13 AS metric_order,
    'birthgate_event_outbox_depth'::text AS metric,
    'gauge'::text AS metric_type,
    'Undelivered events in event_outbox, per event type.'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('event_type', v.x) AS labels,
            (COALESCE(n.n, (0)::bigint))::double precision AS value
           FROM (unnest(ARRAY['handoff.object_born'::text]) v(x)
             LEFT JOIN ( SELECT event_outbox.event_type AS x,
                    count(*) AS n
                   FROM birthgate.event_outbox
                  WHERE (event_outbox.delivered_at IS NULL)
                  GROUP BY event_outbox.event_type) n ON ((n.x = v.x)))) m
UNION ALL
 SELECT 14 AS metric_order,
    'birthgate_event_dead_letter_depth'::text AS metric,
    'gauge'::text AS metric_type,
    'Events in event_dead_letter (delivery attempts exhausted), per event type.'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('event_type', v.x) AS labels,
            (COALESCE(n.n, (0)::bigint))::double precision AS value
           FROM (unnest(ARRAY['handoff.object_born'::text]) v(x)
             LEFT JOIN ( SELECT event_dead_letter.event_type AS x,
                    count(*) AS n
                   FROM birthgate.event_dead_letter
                  WHERE true
                  GROUP BY event_dead_letter.event_type) n ON ((n.x = v.x)))) m
UNION ALL
 SELECT 15 AS metric_order,
    'birthgate_permits'::text AS metric,
    'gauge'::text AS metric_type,
    'Admission permits per state (ISSUED, CONSUMED, EXPIRED, REVOKED).'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('state', v.x) AS labels,
            (COALESCE(n.n, (0)::bigint))::double precision AS value
           FROM (unnest(ARRAY['ISSUED'::text, 'CONSUMED'::text, 'EXPIRED'::text, 'REVOKED'::text]) v(x)
             LEFT JOIN ( SELECT birth_admission_permit.state AS x,
                    count(*) AS n
                   FROM birthgate.birth_admission_permit
                  WHERE true
                  GROUP BY birth_admission_permit.state) n ON ((n.x = v.x)))) m
UNION ALL
 SELECT 16 AS metric_order,
    'birthgate_permits_issued_past_expiry'::text AS metric,
    'gauge'::text AS metric_type,
    'ISSUED permits past expires_at (expire_permits() has not run since they expired).'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT '{}'::jsonb AS labels,
            (count(*))::double precision AS value
           FROM birthgate.birth_admission_permit
          WHERE ((birth_admission_permit.state = 'ISSUED'::text) AND (birth_admission_permit.expires_at < now()))) m
UNION ALL
 SELECT 17 AS metric_order,
    'birthgate_gate_violations'::text AS metric,
    'gauge'::text AS metric_type,
    'Rows in birth_gate_violation per kind (what the gates saw and let through or refused to finalize).'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('kind', v.x) AS labels,
            (COALESCE(n.n, (0)::bigint))::double precision AS value
           FROM (unnest(ARRAY['NO_PERMIT'::text, 'PERMIT_EXPIRED'::text, 'PERMIT_REVOKED'::text, 'PATTERN_MISMATCH'::text, 'NULL_CODE'::text, 'BYPASS'::text, 'UNFINALIZED'::text]) v(x)
             LEFT JOIN ( SELECT birth_gate_violation.kind AS x,
                    count(*) AS n
                   FROM birthgate.birth_gate_violation
                  WHERE true
                  GROUP BY birth_gate_violation.kind) n ON ((n.x = v.x)))) m
UNION ALL
 SELECT 18 AS metric_order,
    'birthgate_families'::text AS metric,
    'gauge'::text AS metric_type,
    'Registered families per gate mode (off, report, enforce).'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('mode', v.x) AS labels,
            (COALESCE(n.n, (0)::bigint))::double precision AS value
           FROM (unnest(ARRAY['off'::text, 'report'::text, 'enforce'::text]) v(x)
             LEFT JOIN ( SELECT birth_family.mode AS x,
                    count(*) AS n
                   FROM birthgate.birth_family
                  WHERE true
                  GROUP BY birth_family.mode) n ON ((n.x = v.x)))) m
UNION ALL
 SELECT 19 AS metric_order,
    'birthgate_drift_findings'::text AS metric,
    'gauge'::text AS metric_type,
    'Drift findings in v_drift_report per severity (info, warning, critical).'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('severity', v.x) AS labels,
            (COALESCE(n.n, (0)::bigint))::double precision AS value
           FROM (unnest(ARRAY['info'::text, 'warning'::text, 'critical'::text]) v(x)
             LEFT JOIN ( SELECT v_drift_report.severity AS x,
                    count(*) AS n
                   FROM birthgate.v_drift_report
                  WHERE true
                  GROUP BY v_drift_report.severity) n ON ((n.x = v.x)))) m
UNION ALL
 SELECT 20 AS metric_order,
    'birthgate_outbox_in_flight'::text AS metric,
    'gauge'::text AS metric_type,
    'Outbox events claimed by a delivery worker and not yet acknowledged or failed.'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT '{}'::jsonb AS labels,
            (o.in_flight)::double precision AS value
           FROM birthgate.v_outbox_status o) m
UNION ALL
 SELECT 21 AS metric_order,
    'birthgate_outbox_oldest_undelivered_seconds'::text AS metric,
    'gauge'::text AS metric_type,
    'Age of the oldest undelivered outbox event (0 when there is none).'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT '{}'::jsonb AS labels,
            COALESCE((EXTRACT(epoch FROM o.oldest_undelivered_age))::double precision, (0)::double precision) AS value
           FROM birthgate.v_outbox_status o) m
UNION ALL
 SELECT 22 AS metric_order,
    'birthgate_outbox_dead_lettered_total'::text AS metric,
    'counter'::text AS metric_type,
    'Outbox events ever moved to event_dead_letter after exhausting their attempts.'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT '{}'::jsonb AS labels,
            (o.dead_lettered_total)::double precision AS value
           FROM birthgate.v_outbox_status o) m
UNION ALL
 SELECT 23 AS metric_order,
    'birthgate_sweep_rows_done'::text AS metric,
    'gauge'::text AS metric_type,
    'Rows a sweep (adoption, backfill) has gone through in its current run.'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('sweep', w.sweep_name, 'kind', w.kind) AS labels,
            (w.rows_done)::double precision AS value
           FROM birthgate.v_sweep_status w) m
UNION ALL
 SELECT 24 AS metric_order,
    'birthgate_sweep_percent_done'::text AS metric,
    'gauge'::text AS metric_type,
    'Estimated progress of a sweep run, 0..100 (estimated from table statistics).'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('sweep', w.sweep_name, 'kind', w.kind) AS labels,
            (COALESCE(w.percent_done, (0)::numeric))::double precision AS value
           FROM birthgate.v_sweep_status w) m
UNION ALL
 SELECT 25 AS metric_order,
    'birthgate_sweep_paused'::text AS metric,
    'gauge'::text AS metric_type,
    '1 while a sweep is paused by its rate limit or the load guard, else 0.'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('sweep', w.sweep_name, 'kind', w.kind) AS labels,
            (((w.state = 'paused'::text))::integer)::double precision AS value
           FROM birthgate.v_sweep_status w) m
UNION ALL
 SELECT 26 AS metric_order,
    'birthgate_sweep_errors_total'::text AS metric,
    'counter'::text AS metric_type,
    'Failed batches of a sweep (each retried; see v_sweep_status.last_error).'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('sweep', w.sweep_name, 'kind', w.kind) AS labels,
            (w.error_count)::double precision AS value
           FROM birthgate.v_sweep_status w) m
UNION ALL
 SELECT 27 AS metric_order,
    'birthgate_sweep_heartbeat_age_seconds'::text AS metric,
    'gauge'::text AS metric_type,
    'Seconds since a sweep last finished a batch (+Inf: never).'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('sweep', w.sweep_name, 'kind', w.kind) AS labels,
            COALESCE((EXTRACT(epoch FROM w.heartbeat_age))::double precision, 'Infinity'::double precision) AS value
           FROM birthgate.v_sweep_status w) m;

COMMENT ON VIEW birthgate.v_metrics IS 'Operator metrics, one row per sample: metric (Prometheus name), metric_type (gauge | counter), help, labels (jsonb object), value. metrics_exposition() renders it in the Prometheus text format; `birthgate metrics` prints that. Reading it changes nothing; it costs about what v_handoff_status and v_drift_report cost.';

CREATE VIEW birthgate.v_outbox_replay AS
 SELECT k.replay_deduplicated_total,
    k.replay_unverified_total,
    k.last_replay_unverified_at,
    cfg.purged_through_change_id,
    d.oldest_receipt_at,
    d.receipts_without_source,
    cfg.retention
   FROM ((birthgate.outbox_config cfg
     CROSS JOIN LATERAL ( SELECT (COALESCE(sum(k_1.amount) FILTER (WHERE (k_1.counter = 'replay_deduplicated'::text)), (0)::numeric))::bigint AS replay_deduplicated_total,
            (COALESCE(sum(k_1.amount) FILTER (WHERE (k_1.counter = 'replay_unverified'::text)), (0)::numeric))::bigint AS replay_unverified_total,
            max(k_1.at) FILTER (WHERE (k_1.counter = 'replay_unverified'::text)) AS last_replay_unverified_at
           FROM birthgate.outbox_counter k_1) k)
     CROSS JOIN LATERAL ( SELECT min(r.delivered_at) AS oldest_receipt_at,
            count(*) FILTER (WHERE (r.source_change_ids IS NULL)) AS receipts_without_source
           FROM birthgate.outbox_receipt r) d)
  WHERE cfg.singleton;

COMMENT ON VIEW birthgate.v_outbox_replay IS 'Replays of the handoff as the outbox saw them, one row: replay_deduplicated_total (re-emissions of acknowledged or dead-lettered events that the replay guard dropped), replay_unverified_total and last_replay_unverified_at (re-emissions at or below purged_through_change_id, whose receipts may have been purged after the retention: delivered again), the oldest retained receipt (a replay reaching further back cannot be deduplicated), receipts written before migration 000013 (no source rows: they cannot deduplicate), and the retention.';

CREATE VIEW birthgate.v_outbox_findings AS
 WITH st AS (
         SELECT v_outbox_status.depth,
            v_outbox_status.ready,
            v_outbox_status.in_flight,
            v_outbox_status.backing_off,
            v_outbox_status.expired_claims,
            v_outbox_status.oldest_undelivered_at,
            v_outbox_status.oldest_undelivered_age,
            v_outbox_status.max_attempts_seen,
            v_outbox_status.dead_lettered,
            v_outbox_status.oldest_dead_lettered_at,
            v_outbox_status.delivered_retained,
            v_outbox_status.oldest_delivered_at,
            v_outbox_status.purge_due,
            v_outbox_status.dead_lettered_total,
            v_outbox_status.redriven_total,
            v_outbox_status.expired_claims_total,
            v_outbox_status.stale_acks_total,
            v_outbox_status.purged_total,
            v_outbox_status.last_purge_at,
            v_outbox_status.max_attempts,
            v_outbox_status.backoff_base,
            v_outbox_status.backoff_max,
            v_outbox_status.retention,
            v_outbox_status.alert_after,
            v_outbox_status.table_bytes,
            v_outbox_status.index_bytes,
            v_outbox_status.live_tuples,
            v_outbox_status.dead_tuples,
            v_outbox_status.last_vacuum_at
           FROM birthgate.v_outbox_status
        ), findings AS (
         SELECT 'warning'::text AS severity,
            'dead_letters'::text AS kind,
            format('%s event(s) dead-lettered after %s attempts (oldest since %s); %s dead-lettered since install'::text, st.dead_lettered, st.max_attempts, st.oldest_dead_lettered_at, st.dead_lettered_total) AS message,
            'SELECT outbox_id, event_type, object_key, attempts, last_error, dead_lettered_at FROM birthgate.event_dead_letter ORDER BY dead_lettered_at; fix the cause, then re-drive: SELECT birthgate.outbox_redrive();'::text AS remedy,
            jsonb_build_object('dead_lettered', st.dead_lettered, 'dead_lettered_total', st.dead_lettered_total, 'oldest_dead_lettered_at', st.oldest_dead_lettered_at) AS detail
           FROM st
          WHERE (st.dead_lettered > 0)
        UNION ALL
         SELECT 'warning'::text,
            'undelivered_old'::text,
            format('the oldest undelivered event is %s old (alert after %s); %s undelivered: %s ready, %s in flight, %s backing off, %s expired claims'::text, date_trunc('second'::text, st.oldest_undelivered_age), st.alert_after, st.depth, st.ready, st.in_flight, st.backing_off, st.expired_claims) AS format,
            'Check that delivery workers run and succeed (SELECT * FROM birthgate.v_outbox_status; errors: SELECT outbox_id, attempts, last_error FROM birthgate.event_outbox WHERE delivered_at IS NULL AND attempts > 0 ORDER BY visible_at LIMIT 20;)'::text,
            jsonb_build_object('oldest_undelivered_at', st.oldest_undelivered_at, 'depth', st.depth, 'ready', st.ready, 'in_flight', st.in_flight, 'backing_off', st.backing_off) AS jsonb_build_object
           FROM st
          WHERE (st.oldest_undelivered_age > st.alert_after)
        UNION ALL
         SELECT 'info'::text,
            'expired_claims'::text,
            format('%s claim(s) expired unacknowledged and wait to be claimed again (%s since install): workers crashed, or the visibility timeout is shorter than a delivery'::text, st.expired_claims, st.expired_claims_total) AS format,
            'Find the workers: SELECT claimed_by, count(*) FROM birthgate.event_outbox WHERE claimed_by IS NOT NULL AND claim_expires_at <= clock_timestamp() GROUP BY 1; raise p_visibility of outbox_claim() if deliveries take longer'::text,
            jsonb_build_object('expired_claims', st.expired_claims, 'expired_claims_total', st.expired_claims_total) AS jsonb_build_object
           FROM st
          WHERE (st.expired_claims > 0)
        UNION ALL
         SELECT 'warning'::text,
            'purge_overdue'::text,
            format('%s acknowledged event(s) are past the retention of %s (oldest delivered %s): the purge does not run; the receipts grow'::text, st.purge_due, st.retention, st.oldest_delivered_at) AS format,
            'Schedule the purge, e.g. every 5 minutes: SELECT birthgate.outbox_purge(10000); (or birthgate outbox purge)'::text,
            jsonb_build_object('purge_due', st.purge_due, 'oldest_delivered_at', st.oldest_delivered_at, 'last_purge_at', st.last_purge_at) AS jsonb_build_object
           FROM st
          WHERE ((st.purge_due > 0) AND (st.oldest_delivered_at < ((clock_timestamp() - st.retention) - '01:00:00'::interval)))
        UNION ALL
         SELECT 'info'::text,
            'purged'::text,
            format('%s acknowledged event(s) purged after the retention of %s since install, the last at %s'::text, st.purged_total, st.retention, st.last_purge_at) AS format,
            'Nothing to do; lengthen the retention with SELECT * FROM birthgate.outbox_configure(p_retention => interval ''30 days''); to keep them longer'::text,
            jsonb_build_object('purged_total', st.purged_total, 'last_purge_at', st.last_purge_at) AS jsonb_build_object
           FROM st
          WHERE (st.purged_total > 0)
        UNION ALL
         SELECT 'warning'::text,
            'replay_past_retention'::text,
            format('%s replayed event(s) were emitted again below the purged receipts (changelog rows up to %s, the last at %s): their receipts were purged after the retention of %s, so they may have been delivered twice'::text, rp.replay_unverified_total, rp.purged_through_change_id, rp.last_replay_unverified_at, rp.retention) AS format,
            'Receivers must deduplicate these by (event_type, object_key, born_at). Rewind the handoff no further back than the retention, or keep receipts longer: SELECT * FROM birthgate.outbox_configure(p_retention => interval ''30 days'');'::text,
            jsonb_build_object('replay_unverified_total', rp.replay_unverified_total, 'purged_through_change_id', rp.purged_through_change_id, 'last_replay_unverified_at', rp.last_replay_unverified_at) AS jsonb_build_object
           FROM birthgate.v_outbox_replay rp
          WHERE (rp.replay_unverified_total > 0)
        UNION ALL
         SELECT 'info'::text,
            'replay_deduplicated'::text,
            format('%s replayed event(s) were not emitted again: already acknowledged or dead-lettered'::text, rp.replay_deduplicated_total) AS format,
            'Nothing to do: a rewound or replayed handoff re-read changelog rows whose events were delivered (SELECT * FROM birthgate.v_handoff_status)'::text,
            jsonb_build_object('replay_deduplicated_total', rp.replay_deduplicated_total) AS jsonb_build_object
           FROM birthgate.v_outbox_replay rp
          WHERE (rp.replay_deduplicated_total > 0)
        )
 SELECT f.severity,
    array_position(ARRAY['info'::text, 'warning'::text, 'critical'::text], f.severity) AS severity_rank,
    f.kind,
    'outbox'::text AS object_type,
    'birthgate.event_outbox'::text AS object_name,
    f.message,
    f.remedy,
    f.detail
   FROM findings f
  ORDER BY (array_position(ARRAY['info'::text, 'warning'::text, 'critical'::text], f.severity)) DESC, f.kind;

COMMENT ON VIEW birthgate.v_outbox_findings IS 'One row per outbox delivery finding, worst first, shaped like v_drift_report: dead_letters (warning), undelivered_old (oldest undelivered older than alert_after, warning), purge_overdue (acknowledged events past the retention an hour after it: the purge is not scheduled, warning), replay_past_retention (a handoff replay emitted events again below the purged receipts: possibly delivered twice, warning), expired_claims (info), purged (how many acknowledged events the retention removed, info), replay_deduplicated (replayed emissions dropped, info). remedy says what to do. Reading it changes nothing.';

CREATE VIEW birthgate.v_sweep_findings AS
 SELECT f.sweep_name,
    f.run_id,
    f.collection_name,
    f.kind,
    count(*) AS finding_rows,
    sum(f.occurrences) AS occurrences,
    (array_agg("left"(f.entity_code, 100) ORDER BY f.finding_id) FILTER (WHERE (f.entity_code IS NOT NULL)))[1:5] AS sample_codes,
    min(f.found_at) AS first_found_at,
    max(f.found_at) AS last_found_at,
        CASE f.kind
            WHEN 'null_code'::text THEN 'rows with a NULL code cannot be adopted: give each a code that matches the family pattern (each new code is then born through the gate), or delete the row'::text
            WHEN 'empty_code'::text THEN 'rows with an empty code cannot be adopted: give each a valid code, or delete the row'::text
            WHEN 'pattern_mismatch'::text THEN 'codes that fail the family pattern: fix the codes (or the pattern), then run the adoption again'::text
            WHEN 'duplicate_code'::text THEN 'a code held by several rows is not adopted: make the code unique in the table, then run the adoption again'::text
            WHEN 'oversize_code'::text THEN 'codes longer than 256 characters are not adopted: shorten them, then run the adoption again'::text
            WHEN 'retired_present'::text THEN 'the code is RETIRED in the registry but its row is still in the table: delete the row, or leave it (v_drift_report lists it)'::text
            WHEN 'retired_skipped'::text THEN 'RETIRED objects are not seeded as governance candidates; nothing to do'::text
            WHEN 'deferred'::text THEN 'a bound stopped the run before the end: run the sweep again, it resumes from its cursor'::text
            WHEN 'rate_limited'::text THEN 'the run waited for its rate limit (nothing left undone); raise max batches per minute to go faster'::text
            WHEN 'load_paused'::text THEN 'the run paused for the load guard (nothing left undone); see sweep_load_guard()'::text
            WHEN 'slow_batch'::text THEN 'a batch took longer than the 5 s budget: lower the batch size'::text
            WHEN 'no_code_index'::text THEN 'no btree index on the code column: every adoption batch sorts the whole table; create one (detail->>''remedy'' has the statement), then run the adoption again'::text
            ELSE 'see sweep_finding'::text
        END AS remedy
   FROM birthgate.sweep_finding f
  GROUP BY f.sweep_name, f.run_id, f.collection_name, f.kind;

COMMENT ON VIEW birthgate.v_sweep_findings IS 'The summary findings of the sweeps ("no silent caps"): per sweep, run and kind, how many finding rows and how many table rows or units they count, up to five sample codes (100 characters each), when, and what to do. List every code with SELECT * FROM sweep_finding WHERE sweep_name = ... AND kind = ....';

CREATE TABLE birthgate_migrations.pgmigrations (
    id integer NOT NULL,
    name character varying(255) NOT NULL,
    run_on timestamp without time zone NOT NULL
);

CREATE SEQUENCE birthgate_migrations.pgmigrations_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE birthgate_migrations.pgmigrations_id_seq OWNED BY birthgate_migrations.pgmigrations.id;

ALTER TABLE ONLY birthgate_migrations.pgmigrations ALTER COLUMN id SET DEFAULT nextval('birthgate_migrations.pgmigrations_id_seq'::regclass);

ALTER TABLE ONLY birthgate.admission_verify
    ADD CONSTRAINT admission_verify_pkey PRIMARY KEY (txid, collection_name);

ALTER TABLE ONLY birthgate.birth_admission_permit
    ADD CONSTRAINT birth_admission_permit_pkey PRIMARY KEY (permit_id);

ALTER TABLE ONLY birthgate.birth_family_move
    ADD CONSTRAINT birth_family_move_pkey PRIMARY KEY (move_id);

ALTER TABLE ONLY birthgate.birth_family
    ADD CONSTRAINT birth_family_pkey PRIMARY KEY (collection_name);

ALTER TABLE ONLY birthgate.birth_family
    ADD CONSTRAINT birth_family_table_name_key UNIQUE (table_name);

ALTER TABLE ONLY birthgate.birth_gate_violation
    ADD CONSTRAINT birth_gate_violation_pkey PRIMARY KEY (violation_id);

ALTER TABLE ONLY birthgate.birth_registry
    ADD CONSTRAINT birth_registry_entity_code_collection_name_key UNIQUE (entity_code, collection_name);

ALTER TABLE ONLY birthgate.birth_registry
    ADD CONSTRAINT birth_registry_pkey PRIMARY KEY (registry_id);

ALTER TABLE ONLY birthgate.drift_baseline
    ADD CONSTRAINT drift_baseline_pkey PRIMARY KEY (object_kind, identity);

ALTER TABLE ONLY birthgate.event_dead_letter
    ADD CONSTRAINT event_dead_letter_event_type_object_key_born_at_key UNIQUE (event_type, object_key, born_at);

ALTER TABLE ONLY birthgate.event_dead_letter
    ADD CONSTRAINT event_dead_letter_pkey PRIMARY KEY (outbox_id);

ALTER TABLE ONLY birthgate.event_outbox
    ADD CONSTRAINT event_outbox_event_type_object_key_born_at_key UNIQUE (event_type, object_key, born_at);

ALTER TABLE ONLY birthgate.event_outbox
    ADD CONSTRAINT event_outbox_pkey PRIMARY KEY (outbox_id);

ALTER TABLE ONLY birthgate.event_pending
    ADD CONSTRAINT event_pending_event_type_object_key_born_at_key UNIQUE (event_type, object_key, born_at);

ALTER TABLE ONLY birthgate.event_pending
    ADD CONSTRAINT event_pending_pkey PRIMARY KEY (pending_id);

ALTER TABLE ONLY birthgate.event_type_registry
    ADD CONSTRAINT event_type_registry_pkey PRIMARY KEY (event_type);

ALTER TABLE ONLY birthgate.gate_trigger_attach
    ADD CONSTRAINT gate_trigger_attach_pkey PRIMARY KEY (trigger_oid);

ALTER TABLE ONLY birthgate.governance_build_authorization
    ADD CONSTRAINT governance_build_authorization_pkey PRIMARY KEY (authorization_id);

ALTER TABLE ONLY birthgate.governance_candidate_state
    ADD CONSTRAINT governance_candidate_state_pkey PRIMARY KEY (object_key);

ALTER TABLE ONLY birthgate.handoff_cursor
    ADD CONSTRAINT handoff_cursor_pkey PRIMARY KEY (consumer_name);

ALTER TABLE ONLY birthgate.outbox_config
    ADD CONSTRAINT outbox_config_pkey PRIMARY KEY (singleton);

ALTER TABLE ONLY birthgate.outbox_receipt
    ADD CONSTRAINT outbox_receipt_pkey PRIMARY KEY (receipt_id);

ALTER TABLE ONLY birthgate.registry_changelog
    ADD CONSTRAINT registry_changelog_pkey PRIMARY KEY (change_id);

ALTER TABLE ONLY birthgate.sweep_cursor
    ADD CONSTRAINT sweep_cursor_pkey PRIMARY KEY (sweep_name);

ALTER TABLE ONLY birthgate.sweep_finding
    ADD CONSTRAINT sweep_finding_pkey PRIMARY KEY (finding_id);

ALTER TABLE ONLY birthgate_migrations.pgmigrations
    ADD CONSTRAINT pgmigrations_pkey PRIMARY KEY (id);

CREATE INDEX birth_admission_permit_code_idx ON birthgate.birth_admission_permit USING btree (collection_name, entity_code, permit_id);

CREATE INDEX birth_admission_permit_expiry_idx ON birthgate.birth_admission_permit USING btree (expires_at) WHERE (state = 'ISSUED'::text);

CREATE UNIQUE INDEX birth_admission_permit_live_key ON birthgate.birth_admission_permit USING btree (collection_name, entity_code) WHERE (state = 'ISSUED'::text);

CREATE INDEX birth_family_move_from_table_idx ON birthgate.birth_family_move USING btree (from_table);

CREATE INDEX birth_gate_violation_code_txid_idx ON birthgate.birth_gate_violation USING btree (collection_name, entity_code, txid);

CREATE INDEX birth_gate_violation_recorded_at_idx ON birthgate.birth_gate_violation USING btree (recorded_at);

CREATE UNIQUE INDEX birth_registry_object_key_idx ON birthgate.birth_registry USING btree (object_key);

CREATE INDEX event_dead_letter_dead_lettered_at_idx ON birthgate.event_dead_letter USING btree (dead_lettered_at);

CREATE INDEX event_dead_letter_source_change_id_idx ON birthgate.event_dead_letter USING btree (source_change_id);

CREATE INDEX event_outbox_undelivered_idx ON birthgate.event_outbox USING btree (visible_at, outbox_id) WHERE (delivered_at IS NULL);

COMMENT ON INDEX birthgate.event_outbox_undelivered_idx IS 'Claim index: undelivered events in (visible_at, outbox_id) order, the order outbox_claim() takes them in; no column a claim changes is indexed, so a claim is a HOT update.';

CREATE INDEX gate_trigger_attach_table_idx ON birthgate.gate_trigger_attach USING btree (table_oid);

CREATE INDEX governance_candidate_state_dirty_idx ON birthgate.governance_candidate_state USING btree (object_key) WHERE (dirty = true);

CREATE INDEX outbox_receipt_id_range_idx ON birthgate.outbox_receipt USING gist (int8range(min_outbox_id, max_outbox_id, '[]'::text));

CREATE INDEX outbox_receipt_max_source_idx ON birthgate.outbox_receipt USING btree (max_source_change_id);

CREATE INDEX outbox_receipt_source_range_idx ON birthgate.outbox_receipt USING gist (int8range(min_source_change_id, max_source_change_id, '[]'::text)) WHERE (min_source_change_id IS NOT NULL);

CREATE INDEX registry_changelog_object_key_idx ON birthgate.registry_changelog USING btree (object_key);

CREATE INDEX registry_changelog_txid_change_id_idx ON birthgate.registry_changelog USING btree (txid, change_id);

CREATE UNIQUE INDEX sweep_finding_code_key ON birthgate.sweep_finding USING btree (sweep_name, run_id, kind, code_md5) WHERE (code_md5 IS NOT NULL);

CREATE INDEX sweep_finding_sweep_kind_idx ON birthgate.sweep_finding USING btree (sweep_name, kind, finding_id);

CREATE TRIGGER _100_append_only BEFORE DELETE OR UPDATE ON birthgate.birth_gate_violation FOR EACH ROW EXECUTE FUNCTION birthgate.tg_birth_gate_violation_append_only();

COMMENT ON TRIGGER _100_append_only ON birthgate.birth_gate_violation IS 'Keeps birth_gate_violation append-only: no row is ever updated or deleted.';

CREATE TRIGGER _100_append_only BEFORE DELETE OR UPDATE ON birthgate.registry_changelog FOR EACH ROW EXECUTE FUNCTION birthgate.tg_registry_changelog_append_only();

COMMENT ON TRIGGER _100_append_only ON birthgate.registry_changelog IS 'Keeps registry_changelog append-only: no row is ever updated or deleted.';

CREATE TRIGGER _100_permit_transition_guard BEFORE UPDATE ON birthgate.birth_admission_permit FOR EACH ROW WHEN (((old.state <> 'ISSUED'::text) OR (old.permit_id IS DISTINCT FROM new.permit_id) OR (old.collection_name IS DISTINCT FROM new.collection_name) OR (old.entity_code IS DISTINCT FROM new.entity_code) OR (old.issued_at IS DISTINCT FROM new.issued_at) OR (old.issued_by IS DISTINCT FROM new.issued_by) OR (old.expires_at IS DISTINCT FROM new.expires_at))) EXECUTE FUNCTION birthgate.tg_birth_admission_permit_guard();

COMMENT ON TRIGGER _100_permit_transition_guard ON birthgate.birth_admission_permit IS 'Only ISSUED -> CONSUMED | EXPIRED | REVOKED: final states never change, nor the permit''s identity and terms.';

CREATE TRIGGER _100_replay_guard BEFORE INSERT ON birthgate.event_outbox FOR EACH ROW WHEN ((new.redrive_count = 0)) EXECUTE FUNCTION birthgate.tg_outbox_replay_guard();

COMMENT ON TRIGGER _100_replay_guard ON birthgate.event_outbox IS 'Drops a replayed emission of an event already acknowledged or dead-lettered (tg_outbox_replay_guard); re-drives (redrive_count > 0) pass.';

CREATE TRIGGER _100_replay_guard BEFORE INSERT ON birthgate.event_pending FOR EACH ROW EXECUTE FUNCTION birthgate.tg_outbox_replay_guard();

COMMENT ON TRIGGER _100_replay_guard ON birthgate.event_pending IS 'Drops a replayed capture of an event already acknowledged or dead-lettered (tg_outbox_replay_guard).';

CREATE TRIGGER _101_append_only_truncate BEFORE TRUNCATE ON birthgate.birth_gate_violation FOR EACH STATEMENT EXECUTE FUNCTION birthgate.tg_birth_gate_violation_append_only();

COMMENT ON TRIGGER _101_append_only_truncate ON birthgate.birth_gate_violation IS 'Keeps birth_gate_violation append-only: TRUNCATE is refused.';

CREATE TRIGGER _101_append_only_truncate BEFORE TRUNCATE ON birthgate.registry_changelog FOR EACH STATEMENT EXECUTE FUNCTION birthgate.tg_registry_changelog_append_only();

COMMENT ON TRIGGER _101_append_only_truncate ON birthgate.registry_changelog IS 'Keeps registry_changelog append-only: TRUNCATE is refused.';

CREATE TRIGGER _101_permit_no_delete BEFORE DELETE ON birthgate.birth_admission_permit FOR EACH ROW EXECUTE FUNCTION birthgate.tg_birth_admission_permit_guard();

COMMENT ON TRIGGER _101_permit_no_delete ON birthgate.birth_admission_permit IS 'Permits are audit evidence: a permit is never deleted.';

CREATE CONSTRAINT TRIGGER _900_admission_reverify AFTER INSERT ON birthgate.admission_verify DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION birthgate.tg_admission_reverify();

COMMENT ON TRIGGER _900_admission_reverify ON birthgate.admission_verify IS 'Runs tg_admission_reverify at commit for the transaction and collection of the queued row.';

ALTER TABLE ONLY birthgate.birth_admission_permit
    ADD CONSTRAINT birth_admission_permit_collection_name_fkey FOREIGN KEY (collection_name) REFERENCES birthgate.birth_family(collection_name) ON DELETE RESTRICT;

ALTER TABLE ONLY birthgate.birth_family_move
    ADD CONSTRAINT birth_family_move_collection_name_fkey FOREIGN KEY (collection_name) REFERENCES birthgate.birth_family(collection_name) ON DELETE RESTRICT;

ALTER TABLE ONLY birthgate.birth_gate_violation
    ADD CONSTRAINT birth_gate_violation_collection_name_fkey FOREIGN KEY (collection_name) REFERENCES birthgate.birth_family(collection_name) ON DELETE RESTRICT;

ALTER TABLE ONLY birthgate.birth_registry
    ADD CONSTRAINT birth_registry_collection_name_fkey FOREIGN KEY (collection_name) REFERENCES birthgate.birth_family(collection_name) ON DELETE RESTRICT;

ALTER TABLE ONLY birthgate.birth_registry
    ADD CONSTRAINT birth_registry_permit_id_fkey FOREIGN KEY (permit_id) REFERENCES birthgate.birth_admission_permit(permit_id) ON DELETE RESTRICT;

ALTER TABLE ONLY birthgate.event_dead_letter
    ADD CONSTRAINT event_dead_letter_event_type_fkey FOREIGN KEY (event_type) REFERENCES birthgate.event_type_registry(event_type) ON DELETE RESTRICT;

ALTER TABLE ONLY birthgate.event_outbox
    ADD CONSTRAINT event_outbox_event_type_fkey FOREIGN KEY (event_type) REFERENCES birthgate.event_type_registry(event_type) ON DELETE RESTRICT;

ALTER TABLE ONLY birthgate.event_pending
    ADD CONSTRAINT event_pending_event_type_fkey FOREIGN KEY (event_type) REFERENCES birthgate.event_type_registry(event_type) ON DELETE RESTRICT;

ALTER TABLE ONLY birthgate.sweep_cursor
    ADD CONSTRAINT sweep_cursor_collection_name_fkey FOREIGN KEY (collection_name) REFERENCES birthgate.birth_family(collection_name) ON DELETE CASCADE;

ALTER TABLE ONLY birthgate.sweep_finding
    ADD CONSTRAINT sweep_finding_sweep_name_fkey FOREIGN KEY (sweep_name) REFERENCES birthgate.sweep_cursor(sweep_name) ON DELETE CASCADE;
