CREATE SCHEMA birthgate;

COMMENT ON SCHEMA birthgate IS 'birthgate 0.1.0: pre-birth admission control and the governance handoff.';

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
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 1000000 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG200',
            MESSAGE = 'invalid argument to a handoff function',
            DETAIL = format('activate_candidates(p_limit => %s): must be between 1 and 1000000', coalesce(p_limit::text, 'NULL')),
            HINT = 'p_batch_size must be between 1 and 100000, p_max_batches NULL or at least 1, p_limit between 1 and 1000000; see DETAIL for the value refused.';
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
BEGIN
    -- one capture at a time; readers of the views are not blocked
    LOCK TABLE "birthgate"."drift_baseline" IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM "birthgate"."drift_baseline";
    INSERT INTO "birthgate"."drift_baseline" (object_kind, identity, scope, definition_hash, definition)
    SELECT 'function', f.identity, 'package', f.definition_hash, f.definition
      FROM "birthgate"."drift_current_functions"() f
    UNION ALL
    SELECT 'trigger', t.identity, t.scope, t.definition_hash, t.definition
      FROM "birthgate"."drift_current_triggers"() t;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END;
$$;

COMMENT ON FUNCTION birthgate.drift_capture_baseline() IS 'Records the current hashes of every package function and trigger as the drift baseline (replacing the previous one) and returns how many objects it recorded. Every migration that changes an owned function ends with it; a DBA calls it only to accept a reviewed change.';

CREATE FUNCTION birthgate.drift_current_functions() RETURNS TABLE(identity text, function_oid oid, kind text, definition text, definition_hash text, public_execute boolean)
    LANGUAGE sql STABLE SECURITY DEFINER
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
    LANGUAGE sql STABLE SECURITY DEFINER
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

CREATE FUNCTION birthgate.drift_family_objects(p_collection text DEFAULT NULL::text) RETURNS TABLE(collection_name text, finding text, entity_code text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    v_family record;
BEGIN
    IF p_collection IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM "birthgate"."birth_family" f WHERE f.collection_name = p_collection) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG302',
            MESSAGE = 'unknown family',
            DETAIL = format('collection_name %L is not in birth_family', p_collection),
            HINT = 'Pass a collection_name that is registered in birth_family, or NULL for every family.';
    END IF;
    -- one set-based statement per family; families whose table or code column is gone are
    -- reported by v_drift_trigger_state instead of failing the scan
    FOR v_family IN
        SELECT f.collection_name AS collection, n.nspname AS table_schema, cl.relname AS table_name, f.code_column
          FROM "birthgate"."birth_family" f
          JOIN pg_catalog.pg_class cl ON cl.oid = f.table_name::pg_catalog.oid
          JOIN pg_catalog.pg_namespace n ON n.oid = cl.relnamespace
         WHERE (p_collection IS NULL OR f.collection_name = p_collection)
           AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = cl.oid AND a.attname = f.code_column AND a.attnum > 0 AND NOT a.attisdropped)
         ORDER BY f.collection_name
    LOOP
        RETURN QUERY EXECUTE pg_catalog.format(
            $q$
            SELECT %1$L::text,
                   CASE WHEN r.status IS NULL THEN 'unborn' ELSE 'retired_present' END,
                   t.%4$I::text
              FROM %2$I.%3$I t
              LEFT JOIN "birthgate"."birth_registry" r ON r.collection_name = %1$L AND r.entity_code = t.%4$I::text
             WHERE r.status IS DISTINCT FROM 'BORN'
            UNION ALL
            SELECT %1$L::text, 'phantom', r.entity_code
              FROM "birthgate"."birth_registry" r
             WHERE r.collection_name = %1$L
               AND r.status = 'BORN'
               AND NOT EXISTS (SELECT 1 FROM %2$I.%3$I t WHERE t.%4$I::text = r.entity_code)
            $q$,
            v_family.collection, v_family.table_schema, v_family.table_name, v_family.code_column);
    END LOOP;
END;
$_$;

COMMENT ON FUNCTION birthgate.drift_family_objects(p_collection text) IS 'Scans the family tables (one family, or all with NULL): unborn = a row whose code has no registry row (what a superuser under session_replication_role = replica, a disabled gate or mode off leaves behind; NULL codes included); retired_present = a row whose code is RETIRED; phantom = a BORN registry row whose object is gone. Read-only.';

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
    v_count integer;
BEGIN
    UPDATE "birthgate"."birth_admission_permit"
       SET state = 'EXPIRED', expired_at = now()
     WHERE state = 'ISSUED' AND expires_at <= now();
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END;
$$;

COMMENT ON FUNCTION birthgate.expire_permits() IS 'Marks every ISSUED permit past expires_at as EXPIRED and returns how many (run it from a scheduler; the gate already refuses lapsed permits without it).';

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
    IF p_batch_size IS NULL OR p_batch_size < 1 OR p_batch_size > 100000 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG200',
            MESSAGE = 'invalid argument to a handoff function',
            DETAIL = format('handoff_consume(p_batch_size => %s): must be between 1 and 100000', coalesce(p_batch_size::text, 'NULL')),
            HINT = 'p_batch_size must be between 1 and 100000, p_max_batches NULL or at least 1, p_limit between 1 and 1000000; see DETAIL for the value refused.';
    END IF;

    -- 1. One consumer at a time. A second caller does not wait: it returns zeros with lag NULL
    --    ("another consumer holds the cursor"), so overlapping cron runs never pile up.
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

COMMENT ON FUNCTION birthgate.handoff_consume(p_batch_size integer) IS 'One handoff batch in the caller''s transaction, all or nothing. Snapshot cursor (PgQ style): takes up to p_batch_size registry_changelog rows, in (txid, change_id) order, of transactions visible in the window snapshot (handoff_snapshot(): the caller''s own transaction counts as running) and invisible in the stored position snapshot; a window larger than one batch is split and resumed exactly. Upserts governance_candidate_state (dirty, marked_at = changed_at; only when the change is newer), writes handoff.object_born for every BORN row to event_outbox (type active) or event_pending (inactive), never twice and never into both lanes, then advances the position and heartbeat_at. An open transaction (in this database or another) never holds back rows of transactions that committed after it. Returns consumed rows, events emitted / captured, and lag: committed changelog rows not yet handed off (exact). A concurrent call returns zeros with lag NULL (another consumer holds the cursor).';

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
            HINT = 'p_batch_size must be between 1 and 100000, p_max_batches NULL or at least 1, p_limit between 1 and 1000000; see DETAIL for the value refused.';
    END IF;
    IF p_max_batches IS NOT NULL AND p_max_batches OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG200',
            MESSAGE = 'invalid argument to a handoff function',
            DETAIL = pg_catalog.format('handoff_drain(p_max_batches => %s): must be NULL (no limit) or at least 1', p_max_batches),
            HINT = 'p_batch_size must be between 1 and 100000, p_max_batches NULL or at least 1, p_limit between 1 and 1000000; see DETAIL for the value refused.';
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
        JOIN pg_catalog.pg_prepared_xacts AS p
          ON l.virtualtransaction OPERATOR(pg_catalog.=) ('-1/' OPERATOR(pg_catalog.||) p.transaction::text)
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
    v_family "birthgate"."birth_family"%ROWTYPE;
    v_permit_id bigint;
    v_live record;
    v_born record;
BEGIN
    SELECT * INTO v_family FROM "birthgate"."birth_family" WHERE collection_name = p_collection;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG100',
            MESSAGE = 'unknown family',
            DETAIL = format('collection %L', p_collection),
            HINT = 'Register the table first with register_family(collection, table, code_column, code_pattern, mode), or pass the name of a registered collection (SELECT collection_name FROM birth_family).';
    END IF;
    IF p_entity_code IS NULL OR p_entity_code = '' OR p_entity_code !~ v_family.code_pattern THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG114',
            MESSAGE = 'the code does not satisfy the family code rule',
            DETAIL = format('collection %s, code %L, pattern %L', p_collection, p_entity_code, v_family.code_pattern),
            HINT = 'Issue permits only for non-empty codes that match the family code_pattern (SELECT code_pattern FROM birth_family WHERE collection_name = ...).';
    END IF;
    IF p_ttl IS NULL OR p_ttl <= interval '0' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG113',
            MESSAGE = 'invalid permit lifetime',
            DETAIL = format('ttl %L for collection %s, code %L', p_ttl, p_collection, p_entity_code),
            HINT = 'Give a positive interval, e.g. issue_permit(collection, code, interval ''24 hours'').';
    END IF;
    SELECT registry_id, status, born_at INTO v_born
      FROM "birthgate"."birth_registry" WHERE collection_name = p_collection AND entity_code = p_entity_code;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG115',
            MESSAGE = 'the code is already in the birth registry',
            DETAIL = format('collection %s, code %L: registry_id %s, %s since %s', p_collection, p_entity_code, v_born.registry_id, v_born.status, v_born.born_at),
            HINT = 'A code is born once; an object that already exists needs no permit. Pick a new code.';
    END IF;

    -- a permit whose lifetime ran out becomes EXPIRED now, so it does not block a new one
    UPDATE "birthgate"."birth_admission_permit" SET state = 'EXPIRED', expired_at = now()
     WHERE collection_name = p_collection AND entity_code = p_entity_code AND state = 'ISSUED' AND expires_at <= now();

    INSERT INTO "birthgate"."birth_admission_permit" (collection_name, entity_code, issued_by, expires_at)
    VALUES (p_collection, p_entity_code, COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name, now() + p_ttl)
    ON CONFLICT (collection_name, entity_code) WHERE state = 'ISSUED' DO NOTHING
    RETURNING permit_id INTO v_permit_id;
    IF v_permit_id IS NULL THEN
        SELECT permit_id, issued_by, expires_at INTO v_live
          FROM "birthgate"."birth_admission_permit" WHERE collection_name = p_collection AND entity_code = p_entity_code AND state = 'ISSUED';
        RAISE EXCEPTION USING
            ERRCODE = 'BG110',
            MESSAGE = 'a live permit already exists for this code',
            DETAIL = format('collection %s, code %L: permit %s issued by %I, expires %s', p_collection, p_entity_code, v_live.permit_id, v_live.issued_by, v_live.expires_at),
            HINT = 'Use the live permit (see DETAIL), or revoke it with revoke_permit(permit_id, reason) before issuing another.';
    END IF;
    RETURN v_permit_id;
END;
$$;

COMMENT ON FUNCTION birthgate.issue_permit(p_collection text, p_entity_code text, p_ttl interval) IS 'Issues the admission permit for one (collection, code) and returns its permit_id. Refuses an unknown family, a NULL/empty code or one that fails the family pattern, a non-positive lifetime, a code already in the registry and a second live permit (a lapsed ISSUED permit is marked EXPIRED first).';

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

CREATE FUNCTION birthgate.register_family(p_collection text, p_table regclass, p_code_column name, p_code_pattern text, p_mode text DEFAULT 'report'::text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    v_actor name := COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name;
    v_rel record;
    v_att record;
    v_old "birthgate"."birth_family"%ROWTYPE;
    v_other text;
    v_ok integer;
    v_trigger name;
BEGIN
    IF p_collection IS NULL OR p_collection !~ '^[a-z][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG101',
            MESSAGE = 'invalid collection name',
            DETAIL = format('collection %L', p_collection),
            HINT = 'A collection name is a plain lower-case identifier: ^[a-z][a-z0-9_]{0,62}$ (e.g. dot_tools).';
    END IF;
    IF p_mode IS NULL OR p_mode NOT IN ('off', 'report', 'enforce') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG105',
            MESSAGE = 'invalid family mode',
            DETAIL = format('mode %L for collection %s', p_mode, p_collection),
            HINT = 'Use one of off, report, enforce.';
    END IF;

    SELECT c.oid, c.relkind, c.relpersistence, c.relowner, n.nspname, c.relname INTO v_rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = p_table;
    IF NOT FOUND OR v_rel.relkind <> 'r' OR v_rel.relpersistence = 't'
       OR v_rel.nspname IN ('birthgate', 'pg_catalog', 'information_schema') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG102',
            MESSAGE = 'the table cannot be governed',
            DETAIL = format('table %s (oid %s) for collection %s: %s', p_table, p_table::oid, p_collection, CASE WHEN v_rel.oid IS NULL THEN 'does not exist' WHEN v_rel.relkind <> 'r' THEN format('relkind %L is not an ordinary table', v_rel.relkind) WHEN v_rel.relpersistence = 't' THEN 'is temporary' ELSE format('lives in schema %I', v_rel.nspname) END),
            HINT = 'Register an existing ordinary table (not a view, partitioned table, foreign or temporary table, nor a table of the package schema).';
    END IF;
    IF NOT pg_has_role(v_actor, v_rel.relowner, 'USAGE') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG107',
            MESSAGE = 'only the owner of a table can register it as a family',
            DETAIL = format('table %s is owned by %I; caller %I', p_table, pg_get_userbyid(v_rel.relowner), v_actor),
            HINT = 'Call register_family as the table owner (or a member of the owning role), or ask the owner to do it.';
    END IF;

    SELECT a.attnum, a.attgenerated, format_type(a.atttypid, a.atttypmod) AS type_name, (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END) IN ('text'::regtype, 'varchar'::regtype, 'name'::regtype) AS safe_type
      INTO v_att
      FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
     WHERE a.attrelid = p_table AND a.attname = p_code_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND OR v_att.attgenerated <> '' OR NOT v_att.safe_type THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG103',
            MESSAGE = 'invalid code column',
            DETAIL = format('column %I of %s (collection %s): %s', p_code_column, p_table, p_collection, CASE WHEN v_att.attnum IS NULL THEN 'does not exist' WHEN v_att.attgenerated <> '' THEN 'is a generated column (BEFORE triggers cannot see its value)' ELSE format('type %s is not text, varchar, name or a domain directly over one of them', v_att.type_name) END),
            HINT = 'Name an existing, non-generated column of the table whose type is text-like (text, varchar, char, name or a domain over them).';
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
            DETAIL = format('pattern %L for collection %s: %s', p_code_pattern, p_collection, SQLERRM),
            HINT = 'Give a non-empty POSIX regular expression that PostgreSQL accepts (anchor it, e.g. ^[A-Z]+-[0-9]+$).';
    END;
    IF left(p_code_pattern, 1) <> '^' OR right(p_code_pattern, 1) <> '$' THEN
        RAISE NOTICE 'code pattern % of collection % is not anchored (^...$): it matches any code that merely contains a match', p_code_pattern, p_collection;
    END IF;

    SELECT collection_name INTO v_other FROM "birthgate"."birth_family" WHERE table_name = p_table AND collection_name <> p_collection;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG106',
            MESSAGE = 'the table is already registered under another collection',
            DETAIL = format('table %s is registered as collection %s; refused for collection %s', p_table, v_other, p_collection),
            HINT = 'A table belongs to one family: re-register it under its existing collection name, or pick another table.';
    END IF;

    SELECT * INTO v_old FROM "birthgate"."birth_family" WHERE collection_name = p_collection FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO "birthgate"."birth_family" (collection_name, table_name, code_column, code_pattern, mode, registered_by, mode_changed_by)
        VALUES (p_collection, p_table, p_code_column, p_code_pattern, p_mode, v_actor, v_actor);
    ELSIF (v_old.table_name, v_old.code_column, v_old.code_pattern, v_old.mode)
          IS DISTINCT FROM (p_table, p_code_column, p_code_pattern, p_mode) THEN
        IF v_old.table_name <> p_table AND EXISTS (SELECT 1 FROM pg_class WHERE oid = v_old.table_name) THEN
            FOR v_trigger IN
                SELECT tgname FROM pg_trigger WHERE tgrelid = v_old.table_name AND tgname IN ('_100_birth_gate', '_900_birth_finalize')
            LOOP
                EXECUTE format('DROP TRIGGER %I ON %s', v_trigger, v_old.table_name);
            END LOOP;
        END IF;
        UPDATE "birthgate"."birth_family"
           SET table_name = p_table,
               code_column = p_code_column,
               code_pattern = p_code_pattern,
               mode = p_mode,
               mode_changed_at = CASE WHEN mode = p_mode THEN mode_changed_at ELSE now() END,
               mode_changed_by = CASE WHEN mode = p_mode THEN mode_changed_by ELSE v_actor END
         WHERE collection_name = p_collection;
    END IF;

    -- (re)attach both gate triggers unless they are already there exactly as required
    SELECT count(*) INTO v_ok
      FROM pg_trigger t
     WHERE t.tgrelid = p_table
       AND NOT t.tgisinternal
       AND t.tgenabled = 'O'
       AND t.tgqual IS NULL
       AND t.tgattr::text = v_att.attnum::text  -- int2vector: one column, space-separated text
       AND t.tgnargs = 1
       AND t.tgargs = convert_to(p_collection, 'UTF8') || '\x00'::bytea
       AND ((t.tgname = '_100_birth_gate' AND t.tgfoid = 'birthgate.tg_birth_gate()'::regprocedure
             AND t.tgtype = 23 AND t.tgconstraint = 0)
         OR (t.tgname = '_900_birth_finalize' AND t.tgfoid = 'birthgate.tg_birth_finalize()'::regprocedure
             AND t.tgtype = 21 AND t.tgconstraint <> 0 AND t.tgdeferrable AND t.tginitdeferred));
    IF v_ok <> 2 THEN
        FOR v_trigger IN
            SELECT tgname FROM pg_trigger WHERE tgrelid = p_table AND tgname IN ('_100_birth_gate', '_900_birth_finalize')
        LOOP
            EXECUTE format('DROP TRIGGER %I ON %I.%I', v_trigger, v_rel.nspname, v_rel.relname);
        END LOOP;
        EXECUTE format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE OF %I ON %I.%I FOR EACH ROW EXECUTE FUNCTION %I.%I(%L)',
                       '_100_birth_gate', p_code_column, v_rel.nspname, v_rel.relname, 'birthgate', 'tg_birth_gate', p_collection);
        EXECUTE format('CREATE CONSTRAINT TRIGGER %I AFTER INSERT OR UPDATE OF %I ON %I.%I DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION %I.%I(%L)',
                       '_900_birth_finalize', p_code_column, v_rel.nspname, v_rel.relname, 'birthgate', 'tg_birth_finalize', p_collection);
        EXECUTE format('COMMENT ON TRIGGER %I ON %I.%I IS %L', '_100_birth_gate', v_rel.nspname, v_rel.relname,
                       'birthgate layer 1: consumes the live admission permit for the row''s code and records the birth (registry + changelog); refuses (enforce) or records (report) anything else. Attached by register_family; do not disable.' || format(' Collection %s.', p_collection));
        EXECUTE format('COMMENT ON TRIGGER %I ON %I.%I IS %L', '_900_birth_finalize', v_rel.nspname, v_rel.relname,
                       'birthgate layer 2 (deferred to commit): every new or re-coded row must be BORN from a consumed permit; blocking for enforce families, recorded for report families. Attached by register_family; do not disable.' || format(' Collection %s.', p_collection));
    END IF;
END;
$_$;

COMMENT ON FUNCTION birthgate.register_family(p_collection text, p_table regclass, p_code_column name, p_code_pattern text, p_mode text) IS 'Registers (or updates) a governed family: validates the table (an existing ordinary table the caller owns), the code column (text-like, not generated), the code pattern (a valid regex) and the mode (off | report | enforce), records it in birth_family and attaches the gate triggers _100_birth_gate and _900_birth_finalize. Idempotent: the same arguments change nothing (missing or altered triggers are re-attached); changed arguments update the family and re-attach the triggers. A table belongs to one collection.';

CREATE FUNCTION birthgate.release_pending(p_event_type text) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_active boolean;
    v_released integer;
BEGIN
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
    IF p_reason IS NULL OR btrim(p_reason) = '' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG117',
            MESSAGE = 'a reason is required',
            DETAIL = format('retire(%L, %L, %L)', p_collection, p_entity_code, p_reason),
            HINT = 'Give a non-empty reason; it is kept for the audit trail.';
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG142',
            MESSAGE = 'retire needs READ COMMITTED isolation',
            DETAIL = format('transaction_isolation is %s', current_setting('transaction_isolation')),
            HINT = 'Call retire() in a READ COMMITTED transaction, so its phantom check sees every row committed before its table lock.';
    END IF;
    SELECT * INTO v_family FROM "birthgate"."birth_family" WHERE collection_name = p_collection;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG100',
            MESSAGE = 'unknown family',
            DETAIL = format('collection %L', p_collection),
            HINT = 'Register the table first with register_family(collection, table, code_column, code_pattern, mode), or pass the name of a registered collection (SELECT collection_name FROM birth_family).';
    END IF;
    SELECT * INTO v_reg FROM "birthgate"."birth_registry" WHERE collection_name = p_collection AND entity_code = p_entity_code FOR UPDATE;
    IF NOT FOUND OR v_reg.status <> 'BORN' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG140',
            MESSAGE = 'only a BORN object can be retired',
            DETAIL = format('%s:%s is %s', p_collection, p_entity_code, COALESCE(v_reg.status, 'not in the registry')),
            HINT = 'Check the registry row (SELECT status FROM birth_registry WHERE ...): unknown codes cannot be retired and RETIRED is final.';
    END IF;
    -- hold off writers of the family table, so the phantom check below sees every committed row
    IF EXISTS (SELECT 1 FROM pg_class WHERE oid = v_family.table_name) THEN
        EXECUTE format('LOCK TABLE %s IN SHARE MODE', v_family.table_name);
    END IF;
    SELECT * INTO v_check FROM "birthgate"."retire_gate_check"(p_collection, p_entity_code);
    IF NOT v_check.allowed THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG141',
            MESSAGE = 'retire refused by retire_gate_check',
            DETAIL = format('%s:%s: %s', p_collection, p_entity_code, v_check.reason),
            HINT = 'retire() only retires phantoms: remove the object from its table first (or fix its code), then retry; see retire_gate_check(collection, code).';
    END IF;
    WITH retired AS (
        UPDATE "birthgate"."birth_registry"
           SET status = 'RETIRED', retired_at = now(), retired_by = v_actor, retire_reason = p_reason
         WHERE registry_id = v_reg.registry_id
        RETURNING registry_id, collection_name, entity_code, born_at
    )
    INSERT INTO "birthgate"."registry_changelog" (op, collection_name, entity_code, registry_id, born_at, actor, detail)
    SELECT 'RETIRED', r.collection_name, r.entity_code, r.registry_id, r.born_at, v_actor,
           jsonb_build_object('reason', p_reason, 'check', v_check.reason)
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
    v_rel record;
    v_live boolean;
BEGIN
    SELECT * INTO v_family FROM "birthgate"."birth_family" WHERE collection_name = p_collection;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, format('unknown family %L', p_collection);
        RETURN;
    END IF;
    SELECT registry_id, status, retired_at INTO v_reg
      FROM "birthgate"."birth_registry" WHERE collection_name = p_collection AND entity_code = p_entity_code;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, format('not born: no registry row for %s:%s', p_collection, p_entity_code);
        RETURN;
    END IF;
    IF v_reg.status <> 'BORN' THEN
        RETURN QUERY SELECT false, format('%s:%s is already %s (since %s)', p_collection, p_entity_code, v_reg.status, v_reg.retired_at);
        RETURN;
    END IF;
    SELECT n.nspname, c.relname, format_type(CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END, NULL) AS type_name, a.attnum IS NOT NULL AS has_column,
           COALESCE((CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END) IN ('text'::regtype, 'varchar'::regtype, 'name'::regtype), false) AS safe_type
      INTO v_rel
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = v_family.code_column AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_type t ON t.oid = a.atttypid
     WHERE c.oid = v_family.table_name;
    IF NOT FOUND THEN
        RETURN QUERY SELECT true, format('phantom: the family table (oid %s) no longer exists', v_family.table_name::oid);
        RETURN;
    END IF;
    IF NOT v_rel.has_column OR NOT v_rel.safe_type THEN
        RETURN QUERY SELECT false, format('cannot check: column %I of %I.%I is missing or not text, varchar or name; re-register the family', v_family.code_column, v_rel.nspname, v_rel.relname);
        RETURN;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I WHERE %I = CAST($1 AS %s))', v_rel.nspname, v_rel.relname, v_family.code_column, v_rel.type_name)
       INTO v_live USING p_entity_code;
    IF v_live THEN
        RETURN QUERY SELECT false, format('live: %I.%I still has a row with %I = %L', v_rel.nspname, v_rel.relname, v_family.code_column, p_entity_code);
    ELSE
        RETURN QUERY SELECT true, format('phantom: no row of %I.%I has %I = %L', v_rel.nspname, v_rel.relname, v_family.code_column, p_entity_code);
    END IF;
END;
$_$;

COMMENT ON FUNCTION birthgate.retire_gate_check(p_collection text, p_entity_code text) IS 'The retire safety check, callable on its own: allowed only for a BORN object that no longer exists in its family table (a phantom), or whose family table is gone. Refuses unknown families, unknown codes, RETIRED objects and live objects, with the reason. Runs with row_security = off, so a row-level policy can never hide a live row (it raises instead).';

CREATE FUNCTION birthgate.revoke_permit(p_permit_id bigint, p_reason text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_permit "birthgate"."birth_admission_permit"%ROWTYPE;
BEGIN
    IF p_reason IS NULL OR btrim(p_reason) = '' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG117',
            MESSAGE = 'a reason is required',
            DETAIL = format('revoke_permit(%s, %L)', p_permit_id, p_reason),
            HINT = 'Give a non-empty reason; it is kept for the audit trail.';
    END IF;
    SELECT * INTO v_permit FROM "birthgate"."birth_admission_permit" WHERE permit_id = p_permit_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG111',
            MESSAGE = 'no such permit',
            DETAIL = format('permit_id %s', p_permit_id),
            HINT = 'Pass the permit_id of an existing permit (SELECT permit_id, state FROM birth_admission_permit WHERE ...).';
    END IF;
    IF v_permit.state <> 'ISSUED' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG112',
            MESSAGE = 'the permit is not live (ISSUED); CONSUMED, EXPIRED and REVOKED are final',
            DETAIL = format('permit %s (%s:%s) is %s; ISSUED -> REVOKED refused', p_permit_id, v_permit.collection_name, v_permit.entity_code, v_permit.state),
            HINT = 'Only an ISSUED permit can be consumed, revoked or expired; issue a new permit if the code still needs one.';
    END IF;
    UPDATE "birthgate"."birth_admission_permit"
       SET state = 'REVOKED', revoked_at = now(), revoked_by = COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name, revoke_reason = p_reason
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
    IF p_active IS NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG200',
            MESSAGE = 'invalid argument to a handoff function',
            DETAIL = format('set_event_type_active(%L, NULL): p_active must be true or false', p_event_type),
            HINT = 'p_batch_size must be between 1 and 100000, p_max_batches NULL or at least 1, p_limit between 1 and 1000000; see DETAIL for the value refused.';
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

CREATE FUNCTION birthgate.set_family_mode(p_collection text, p_mode text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF p_mode IS NULL OR p_mode NOT IN ('off', 'report', 'enforce') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG105',
            MESSAGE = 'invalid family mode',
            DETAIL = format('mode %L for collection %s', p_mode, p_collection),
            HINT = 'Use one of off, report, enforce.';
    END IF;
    UPDATE "birthgate"."birth_family"
       SET mode = p_mode, mode_changed_at = now(), mode_changed_by = COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name
     WHERE collection_name = p_collection AND mode <> p_mode;
    IF NOT FOUND AND NOT EXISTS (SELECT 1 FROM "birthgate"."birth_family" WHERE collection_name = p_collection) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG100',
            MESSAGE = 'unknown family',
            DETAIL = format('collection %L', p_collection),
            HINT = 'Register the table first with register_family(collection, table, code_column, code_pattern, mode), or pass the name of a registered collection (SELECT collection_name FROM birth_family).';
    END IF;
END;
$$;

COMMENT ON FUNCTION birthgate.set_family_mode(p_collection text, p_mode text) IS 'Switches one family between off, report and enforce; records who and when (birth_family.mode_changed_at/by). Setting the current mode again changes nothing.';

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
    v_reg record;
    v_code text;
    v_old_code text;
    v_type text;
    v_present boolean;
    v_seen text[];
BEGIN
    SELECT f.collection_name, f.table_name, f.code_column, f.code_pattern, f.mode,
           a.attnum IS NOT NULL AS has_column, COALESCE((CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END) IN ('text'::regtype, 'varchar'::regtype, 'name'::regtype), false) AS safe_type
      INTO v_family
      FROM "birthgate"."birth_family" f
      LEFT JOIN pg_attribute a ON a.attrelid = f.table_name AND a.attname = f.code_column AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_type t ON t.oid = a.atttypid
     WHERE f.collection_name = v_collection;
    IF NOT FOUND OR v_family.table_name::oid <> TG_RELID THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG128',
            MESSAGE = 'the birth gate trigger does not match its family registration',
            DETAIL = format('trigger %I on %I.%I names collection %L, which is %s', TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection, CASE WHEN v_family.collection_name IS NULL THEN 'not registered' ELSE format('registered for table %s', v_family.table_name) END),
            HINT = 'Re-attach the triggers with register_family(...) for this collection (see DETAIL), or remove the stray trigger.';
    END IF;
    IF v_family.mode = 'off' THEN
        RETURN NULL;
    END IF;
    IF NOT v_family.has_column OR NOT v_family.safe_type THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG128',
            MESSAGE = 'the birth gate trigger does not match its family registration',
            DETAIL = format('column %I of %I.%I (family %s) is %s: re-register the family with a text, varchar or name code column', v_family.code_column, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection, CASE WHEN NOT v_family.has_column THEN 'missing' ELSE 'not of a type the gate reads (text, varchar, name, or a domain over one)' END),
            HINT = 'Re-attach the triggers with register_family(...) for this collection (see DETAIL), or remove the stray trigger.';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        EXECUTE format('SELECT ($1).%1$I::text, ($2).%1$I::text', v_family.code_column) INTO v_code, v_old_code USING NEW, OLD;
    ELSE
        EXECUTE format('SELECT ($1).%I::text', v_family.code_column) INTO v_code USING NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND v_code IS NOT DISTINCT FROM v_old_code THEN
        RETURN NULL;  -- the code did not change
    END IF;

    -- finalized <=> a BORN registry row for this code, born in this transaction, from a CONSUMED permit for it
    SELECT r.registry_id, r.status, r.permit_id, r.born_txid, p.state AS permit_state,
           (r.status = 'BORN' AND r.born_txid = pg_current_xact_id() AND p.state = 'CONSUMED'
            AND p.collection_name = r.collection_name AND p.entity_code = r.entity_code) AS finalized
      INTO v_reg
      FROM "birthgate"."birth_registry" r
      LEFT JOIN "birthgate"."birth_admission_permit" p ON p.permit_id = r.permit_id
     WHERE r.collection_name = v_collection AND r.entity_code = v_code;
    IF v_reg.finalized THEN
        RETURN NULL;
    END IF;

    -- not finalized. A version whose code is no longer in the table (row deleted or re-coded
    -- before commit) leaves nothing unborn behind: skip it. NULL/empty codes cannot be told
    -- apart, so they always count (fail closed).
    IF v_code IS NOT NULL AND v_code <> '' THEN
        SELECT format_type(CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END, NULL) INTO v_type
          FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = TG_RELID AND a.attname = v_family.code_column AND a.attnum > 0 AND NOT a.attisdropped;
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I WHERE %I = CAST($1 AS %s))',
                       TG_TABLE_SCHEMA, TG_TABLE_NAME, v_family.code_column, v_type)
           INTO v_present USING v_code;
        IF NOT v_present THEN
            RETURN NULL;
        END IF;
    END IF;

    -- did layer 1 see this code in this transaction (bypass, report finding)?
    IF v_code IS NULL THEN
        SELECT array_agg(DISTINCT kind) INTO v_seen FROM "birthgate"."birth_gate_violation"
         WHERE collection_name = v_collection AND entity_code IS NULL AND txid = pg_current_xact_id() AND layer = 1;
    ELSE
        SELECT array_agg(DISTINCT kind) INTO v_seen FROM "birthgate"."birth_gate_violation"
         WHERE collection_name = v_collection AND entity_code = v_code AND txid = pg_current_xact_id() AND layer = 1;
    END IF;

    IF v_family.mode = 'enforce' THEN
        IF 'BYPASS' = ANY (v_seen) THEN
            RETURN NULL;  -- an authorised, recorded bypass
        END IF;
        RAISE EXCEPTION USING
            ERRCODE = 'BG130',
            MESSAGE = 'commit refused: an object of an enforce family is not finalized (no BORN registry row from a consumed permit)',
            DETAIL = format('collection %s, code %L (%s on %I.%I): %s', v_collection, v_code, TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN v_code IS NULL OR v_code = '' THEN 'the code is NULL or empty' WHEN v_reg.registry_id IS NULL THEN 'no birth_registry row' WHEN v_reg.status <> 'BORN' THEN format('registry row %s is %s', v_reg.registry_id, v_reg.status) WHEN v_reg.born_txid <> pg_current_xact_id() THEN format('registry row %s was born by another transaction (%s): this row duplicates an existing object', v_reg.registry_id, v_reg.born_txid) WHEN v_reg.permit_id IS NULL THEN format('registry row %s consumed no permit', v_reg.registry_id) ELSE format('registry row %s names permit %s, which is %s or not for this code', v_reg.registry_id, v_reg.permit_id, v_reg.permit_state) END),
            HINT = 'Before commit, birth the code through a permit (or restore the code/registry row that was changed); check that the BEFORE gate trigger is enabled.';
    END IF;

    IF v_seen IS NULL THEN
        INSERT INTO "birthgate"."birth_gate_violation" (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
        VALUES ('UNFINALIZED', v_collection, v_code, format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME), TG_OP, v_family.mode, 2, COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name,
                jsonb_strip_nulls(jsonb_build_object(
                    'registry_id', v_reg.registry_id, 'status', v_reg.status, 'permit_id', v_reg.permit_id,
                    'permit_state', v_reg.permit_state, 'born_txid', v_reg.born_txid::text,
                    'old_code', v_old_code)));
    END IF;
    RETURN NULL;
END;
$_$;

COMMENT ON FUNCTION birthgate.tg_birth_finalize() IS 'Layer 2 finalize gate (deferred constraint trigger _900_birth_finalize, argument: collection name). At commit (or SET CONSTRAINTS ... IMMEDIATE) every row version that brought a code in this transaction must be finalized: a BORN registry row for that code, born in this transaction, from a CONSUMED permit for that code. Catches a code changed after layer 1, a registry row removed in the same transaction, layer 1 disabled; a version whose code is gone from the table by then (deleted or re-coded before commit) is not counted. enforce: raises BG130 (unless layer 1 recorded a BYPASS of that code in this transaction); report: records UNFINALIZED unless layer 1 already recorded the code; off: nothing.';

CREATE FUNCTION birthgate.tg_birth_gate() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    v_collection text := TG_ARGV[0];
    v_family record;
    v_code text;
    v_old_code text;
    v_actor name;
    v_switch text;
    v_bypassed boolean := false;
    v_findings text[] := '{}';
    v_admit boolean;
    v_permit_id bigint;
    v_registry_id bigint;
    v_born_at timestamptz;
    v_prior_id bigint;
    v_prior_status text;
    v_last_id bigint;
    v_last_state text;
    v_last_expires timestamptz;
    v_last_reason text;
    v_detail jsonb;
BEGIN
    SELECT f.collection_name, f.table_name, f.code_column, f.code_pattern, f.mode,
           a.attnum IS NOT NULL AS has_column, COALESCE((CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END) IN ('text'::regtype, 'varchar'::regtype, 'name'::regtype), false) AS safe_type
      INTO v_family
      FROM "birthgate"."birth_family" f
      LEFT JOIN pg_attribute a ON a.attrelid = f.table_name AND a.attname = f.code_column AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_type t ON t.oid = a.atttypid
     WHERE f.collection_name = v_collection;
    IF NOT FOUND OR v_family.table_name::oid <> TG_RELID THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG128',
            MESSAGE = 'the birth gate trigger does not match its family registration',
            DETAIL = format('trigger %I on %I.%I names collection %L, which is %s', TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection, CASE WHEN v_family.collection_name IS NULL THEN 'not registered' ELSE format('registered for table %s', v_family.table_name) END),
            HINT = 'Re-attach the triggers with register_family(...) for this collection (see DETAIL), or remove the stray trigger.';
    END IF;
    IF v_family.mode = 'off' THEN
        RETURN NEW;
    END IF;

    IF NOT v_family.has_column OR NOT v_family.safe_type THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG128',
            MESSAGE = 'the birth gate trigger does not match its family registration',
            DETAIL = format('column %I of %I.%I (family %s) is %s: re-register the family with a text, varchar or name code column', v_family.code_column, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection, CASE WHEN NOT v_family.has_column THEN 'missing' ELSE 'not of a type the gate reads (text, varchar, name, or a domain over one)' END),
            HINT = 'Re-attach the triggers with register_family(...) for this collection (see DETAIL), or remove the stray trigger.';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        EXECUTE format('SELECT ($1).%1$I::text, ($2).%1$I::text', v_family.code_column) INTO v_code, v_old_code USING NEW, OLD;
    ELSE
        EXECUTE format('SELECT ($1).%I::text', v_family.code_column) INTO v_code USING NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND v_code IS NOT DISTINCT FROM v_old_code THEN
        RETURN NEW;  -- the code did not change: nothing is born
    END IF;
    v_actor := COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name;

    -- kill switch: honoured for members of the admin role only, and always recorded
    v_switch := lower(COALESCE(current_setting('birthgate.bypass_gate', true), ''));
    IF v_switch = 'on' THEN
        IF NOT pg_has_role(v_actor, 'birthgate_admin', 'USAGE') THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG126',
                MESSAGE = 'the birth gate kill switch is reserved to birthgate administrators',
                DETAIL = format('%s = on, set by role %I (session user %I), who is not a member of %I; collection %s, code %L', 'birthgate.bypass_gate', v_actor, session_user, 'birthgate_admin', v_collection, v_code),
                HINT = 'RESET the bypass setting. In an emergency, a member of the admin role sets it with SET LOCAL inside the transaction that needs it; every bypassed birth is recorded.';
        END IF;
        v_bypassed := true;
    ELSIF v_switch NOT IN ('', 'off') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'BG127',
            MESSAGE = 'invalid value for the birth gate kill switch',
            DETAIL = format('%s = %L', 'birthgate.bypass_gate', current_setting('birthgate.bypass_gate', true)),
            HINT = 'The bypass setting is on or off (empty means off).';
    END IF;

    -- the family code rule
    IF v_code IS NULL OR v_code = '' THEN
        v_findings := ARRAY['NULL_CODE'];
    ELSIF v_code !~ v_family.code_pattern THEN
        v_findings := ARRAY['PATTERN_MISMATCH'];
    END IF;
    IF v_family.mode = 'enforce' AND NOT v_bypassed THEN
        IF 'NULL_CODE' = ANY (v_findings) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG124',
                MESSAGE = 'birth refused: the code is NULL or empty',
                DETAIL = format('collection %s, column %I of %I.%I is %s', v_collection, v_family.code_column, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN v_code IS NULL THEN 'NULL' ELSE 'empty' END),
                HINT = 'Every governed row needs a code: set the code column to a permitted code.';
        ELSIF 'PATTERN_MISMATCH' = ANY (v_findings) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG123',
                MESSAGE = 'birth refused: the code does not match the family code pattern',
                DETAIL = format('collection %s, code %L does not match %L (table %I.%I)', v_collection, v_code, v_family.code_pattern, TG_TABLE_SCHEMA, TG_TABLE_NAME),
                HINT = 'Use a code that matches the family code_pattern (see DETAIL), or have an admin correct the pattern with register_family.';
        END IF;
    END IF;

    -- hot path: consume the live permit, birth the code, log it (3 statements; measured faster
    -- than one data-modifying CTE doing the same)
    v_admit := v_bypassed OR v_family.mode = 'report';
    IF v_code IS NOT NULL AND v_code <> '' THEN
        UPDATE "birthgate"."birth_admission_permit"
           SET state = 'CONSUMED', consumed_at = now(), consumed_by = v_actor
         WHERE collection_name = v_collection
           AND entity_code = v_code
           AND state = 'ISSUED'
           AND expires_at > now()
        RETURNING permit_id INTO v_permit_id;
        IF v_permit_id IS NOT NULL OR v_admit THEN
            INSERT INTO "birthgate"."birth_registry" (collection_name, entity_code, permit_id, born_by)
            VALUES (v_collection, v_code, v_permit_id, v_actor)
            ON CONFLICT (entity_code, collection_name) DO NOTHING
            RETURNING registry_id, born_at INTO v_registry_id, v_born_at;
            IF v_registry_id IS NOT NULL THEN
                INSERT INTO "birthgate"."registry_changelog" (op, collection_name, entity_code, registry_id, born_at, actor, detail)
                VALUES ('BORN', v_collection, v_code, v_registry_id, v_born_at, v_actor,
                        jsonb_build_object('permit_id', v_permit_id, 'table', format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME),
                                           'operation', TG_OP, 'mode', v_family.mode, 'bypass', v_bypassed));
            END IF;
        END IF;
        IF v_registry_id IS NOT NULL AND v_permit_id IS NOT NULL AND NOT v_bypassed AND cardinality(v_findings) = 0 THEN
            RETURN NEW;
        END IF;

        -- slow path: why was no permit consumed, or nothing born?
        IF v_registry_id IS NULL THEN
            SELECT registry_id, status INTO v_prior_id, v_prior_status
              FROM "birthgate"."birth_registry" WHERE collection_name = v_collection AND entity_code = v_code;
        END IF;
        IF v_prior_id IS NOT NULL THEN
            v_findings := v_findings || 'ALREADY_BORN'::text;
        ELSIF v_permit_id IS NULL THEN
            SELECT permit_id, state, expires_at, revoke_reason INTO v_last_id, v_last_state, v_last_expires, v_last_reason
              FROM "birthgate"."birth_admission_permit" WHERE collection_name = v_collection AND entity_code = v_code
             ORDER BY permit_id DESC LIMIT 1;
            v_findings := v_findings || CASE
                WHEN v_last_state IN ('ISSUED', 'EXPIRED') THEN 'PERMIT_EXPIRED'
                WHEN v_last_state = 'REVOKED' THEN 'PERMIT_REVOKED'
                ELSE 'NO_PERMIT' END;
        END IF;
    END IF;

    v_detail := jsonb_strip_nulls(jsonb_build_object(
        'operation', TG_OP,
        'code_pattern', v_family.code_pattern,
        'permit_id', v_permit_id,
        'registry_id', v_registry_id,
        'registered', v_registry_id IS NOT NULL,
        'prior_registry_id', v_prior_id,
        'prior_status', v_prior_status,
        'latest_permit', CASE WHEN v_last_id IS NOT NULL THEN jsonb_build_object(
            'permit_id', v_last_id, 'state', v_last_state, 'expires_at', v_last_expires,
            'revoke_reason', v_last_reason) END,
        'old_code', v_old_code));

    IF v_family.mode = 'enforce' AND NOT v_bypassed THEN
        IF 'ALREADY_BORN' = ANY (v_findings) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG125',
                MESSAGE = 'birth refused: the code is already in the birth registry',
                DETAIL = format('collection %s, code %L is already in the registry (registry_id %s, %s); table %I.%I', v_collection, v_code, v_prior_id, v_prior_status, TG_TABLE_SCHEMA, TG_TABLE_NAME),
                HINT = 'A code is born once: the object already exists (or existed). Use a new code with its own permit.';
        ELSIF 'PERMIT_EXPIRED' = ANY (v_findings) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG121',
                MESSAGE = 'birth refused: the admission permit for this code has expired',
                DETAIL = format('collection %s, code %L: permit %s expired at %s (now %s); table %I.%I', v_collection, v_code, v_last_id, v_last_expires, now(), TG_TABLE_SCHEMA, TG_TABLE_NAME),
                HINT = 'Issue a new permit with issue_permit(collection, code, ttl) and retry within its lifetime.';
        ELSIF 'PERMIT_REVOKED' = ANY (v_findings) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'BG122',
                MESSAGE = 'birth refused: the admission permit for this code was revoked',
                DETAIL = format('collection %s, code %L: permit %s was revoked (%s); table %I.%I', v_collection, v_code, v_last_id, v_last_reason, TG_TABLE_SCHEMA, TG_TABLE_NAME),
                HINT = 'Find out why it was revoked (revoke_reason in birth_admission_permit); issue a new permit only if the birth is still wanted.';
        ELSE
            RAISE EXCEPTION USING
                ERRCODE = 'BG120',
                MESSAGE = 'birth refused: no live admission permit for this code',
                DETAIL = format('collection %s, code %L, table %I.%I: %s', v_collection, v_code, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN v_last_id IS NULL THEN 'no permit was ever issued for this code' ELSE format('the latest permit for it (%s) is %s', v_last_id, v_last_state) END),
                HINT = 'Issue a permit first: SELECT issue_permit(collection, code); then insert the row within the permit''s lifetime.';
        END IF;
    END IF;

    -- report mode or bypass: the row is admitted, and what the gate saw is recorded
    INSERT INTO "birthgate"."birth_gate_violation" (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
    SELECT f.kind, v_collection, v_code, format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME), TG_OP, v_family.mode, 1, v_actor, f.detail
      FROM (SELECT 'BYPASS' AS kind, v_detail || jsonb_build_object('findings', to_jsonb(v_findings)) AS detail
             WHERE v_bypassed
            UNION ALL
            SELECT CASE x.finding WHEN 'ALREADY_BORN' THEN 'NO_PERMIT' ELSE x.finding END,
                   v_detail || jsonb_build_object('finding', x.finding)
              FROM unnest(v_findings) AS x(finding)
             WHERE NOT v_bypassed) AS f;
    RETURN NEW;
END;
$_$;

COMMENT ON FUNCTION birthgate.tg_birth_gate() IS 'Layer 1 birth gate (trigger _100_birth_gate, argument: collection name). Consumes the live permit for the row''s code and writes the BORN registry and changelog rows in the same transaction. enforce: no/lapsed/revoked permit, pattern mismatch, NULL/empty code or an already born code raise BG120-BG125 and nothing is written; report: admitted and recorded in birth_gate_violation; off: nothing. birthgate.bypass_gate = on bypasses it for members of birthgate_admin only (recorded as BYPASS, and the code is registered); set by anyone else it raises BG126.';

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
    CONSTRAINT event_outbox_attempts_check CHECK ((attempts >= 0))
);

COMMENT ON TABLE birthgate.event_outbox IS 'Delivery lane for events of active types; UNIQUE (event_type, object_key, born_at).';

COMMENT ON COLUMN birthgate.event_outbox.released_from_pending IS 'true when the event was captured while its type was inactive and later released.';

COMMENT ON COLUMN birthgate.event_outbox.delivered_at IS 'Set by the delivery worker once the event has been handed on.';

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
        ), required AS (
         SELECT fam.collection_name,
            fam.table_oid,
            fam.code_column,
            fam.mode,
            fam.table_exists,
            fam.table_ident,
            fam.column_exists,
            r.trigger_name,
                CASE r.trigger_name
                    WHEN '_100_birth_gate'::name THEN format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE OF %I ON %s FOR EACH ROW EXECUTE FUNCTION %I.%I(%L)'::text, '_100_birth_gate', fam.code_column, fam.table_ident, 'birthgate', 'tg_birth_gate', fam.collection_name)
                    ELSE format('CREATE CONSTRAINT TRIGGER %I AFTER INSERT OR UPDATE OF %I ON %s DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION %I.%I(%L)'::text, '_900_birth_finalize', fam.code_column, fam.table_ident, 'birthgate', 'tg_birth_finalize', fam.collection_name)
                END AS expected_definition
           FROM (fam
             CROSS JOIN ( VALUES ('_100_birth_gate'::name), ('_900_birth_finalize'::name)) r(trigger_name))
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
        ), family_rows AS (
         SELECT 'family'::text AS scope,
            q.collection_name,
            COALESCE(q.table_ident, (q.table_oid)::text) AS table_name,
            q.trigger_name,
            q.mode AS family_mode,
            q.table_exists,
            q.column_exists,
            (t.trigger_oid IS NOT NULL) AS present,
            t.enabled_mode,
            q.expected_definition,
            birthgate.drift_definition_hash(q.expected_definition) AS expected_hash,
            t.definition AS current_definition,
            t.definition_hash AS current_hash,
            b.definition_hash AS baseline_hash
           FROM ((required q
             LEFT JOIN cur t ON (((t.table_oid = q.table_oid) AND (t.trigger_name = q.trigger_name))))
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
            b.definition_hash
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
             FULL JOIN ( SELECT drift_baseline.object_kind,
                    drift_baseline.identity,
                    drift_baseline.scope,
                    drift_baseline.definition_hash,
                    drift_baseline.definition,
                    drift_baseline.captured_at,
                    drift_baseline.captured_by
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
            family_rows.baseline_hash
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
            package_rows.definition_hash_2 AS definition_hash
           FROM package_rows package_rows(text, text_1, "coalesce", coalesce_1, text_2, "?column?", "?column?_1", "?column?_2", enabled_mode, definition, definition_hash, definition_1, definition_hash_1, definition_hash_2)) x;

COMMENT ON VIEW birthgate.v_drift_trigger_state IS 'Each trigger the package needs: per family its gate triggers (expected definition derived from birth_family), and the triggers on package tables (expected = baseline). present, enabled (fires in a normal session: tgenabled O or A; D = disabled, R = fires only under session_replication_role = replica), hashes, drifted, state.';

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
                    ELSE 'Restore it by re-running the CREATE OR REPLACE from the migration that defines it (compare baseline_definition and current_definition in v_drift_function_hash); only if the change is reviewed and intended: SELECT birthgate.drift_capture_baseline();'::text
                END AS "case",
            jsonb_build_object('baseline_hash', v.baseline_hash, 'current_hash', v.current_hash, 'captured_at', v.captured_at) AS jsonb_build_object
           FROM birthgate.v_drift_function_hash v,
            baseline
          WHERE (v.drifted AND ((v.state <> 'unexpected'::text) OR (baseline.objects > 0)))
        UNION ALL
         SELECT 'warning'::text,
            'function_public_execute'::text,
            'function'::text,
            v.identity,
            format('PUBLIC may execute %s (the package grants nothing to PUBLIC)'::text, v.identity) AS format,
            format('REVOKE ALL ON FUNCTION %s FROM PUBLIC; then grant EXECUTE to the package role that needs it'::text, v.identity) AS format,
            '{}'::jsonb AS jsonb
           FROM birthgate.v_drift_function_hash v
          WHERE v.public_execute
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
                    ELSE format('trigger %s on package table %s is not in the baseline'::text, t.trigger_name, t.table_name)
                END AS format,
                CASE
                    WHEN (t.state = ANY (ARRAY['disabled'::text, 'replica_only'::text])) THEN format('ALTER TABLE %s ENABLE TRIGGER %I;'::text, t.table_name, t.trigger_name)
                    WHEN (t.scope = 'family'::text) THEN format('Re-attach the gate triggers (register_family is idempotent): DROP TRIGGER IF EXISTS %I ON %s; SELECT birthgate.register_family(%L, %L, %L, %L, %L); expected: %s'::text, t.trigger_name, t.table_name, t.collection_name, t.table_name, bf.code_column, bf.code_pattern, bf.mode, t.expected_definition)
                    WHEN (t.state = 'unexpected'::text) THEN 'Find out who created it; drop it unless it belongs to a reviewed migration, then: SELECT birthgate.drift_capture_baseline();'::text
                    ELSE format('Recreate it from the migration that defines it. Expected: %s'::text, t.expected_definition)
                END AS format,
            jsonb_build_object('scope', t.scope, 'collection_name', t.collection_name, 'enabled_mode', t.enabled_mode, 'expected_hash', t.expected_hash, 'current_hash', t.current_hash) AS jsonb_build_object
           FROM (birthgate.v_drift_trigger_state t
             LEFT JOIN birthgate.birth_family bf ON ((bf.collection_name = t.collection_name)))
          WHERE (t.state = ANY (ARRAY['missing'::text, 'disabled'::text, 'replica_only'::text, 'drifted'::text, 'unexpected'::text]))
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
            jsonb_build_object('count', o.n, 'null_codes', o.null_codes, 'sample', to_jsonb(o.sample), 'mode', f.mode) AS jsonb_build_object
           FROM ((( SELECT s.collection_name,
                    s.finding,
                    count(*) AS n,
                    count(*) FILTER (WHERE (s.entity_code IS NULL)) AS null_codes,
                    (array_agg(s.entity_code ORDER BY s.entity_code) FILTER (WHERE (s.entity_code IS NOT NULL)))[1:5] AS sample
                   FROM birthgate.drift_family_objects(NULL::text) s(collection_name, finding, entity_code)
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

COMMENT ON VIEW birthgate.v_drift_report IS 'One row per drift finding, worst first: drifted/missing/unexpected functions, missing/disabled/replica-only/drifted gate triggers, missing family tables or code columns, a stale handoff heartbeat (governed activation then fails closed), unborn objects and phantoms per family. severity: info | warning | critical; remedy says what to do. Detect-only: reading it changes nothing.';

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

CREATE VIEW birthgate.v_metrics AS
 SELECT 1 AS metric_order,
    'birthgate_handoff_lag_rows'::text AS metric,
    'gauge'::text AS metric_type,
    'Changelog rows past the handoff cursor (waiting plus held back): the consumer backlog.'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('consumer', s.consumer_name) AS labels,
            ((s.rows_waiting + s.rows_held_back))::double precision AS value
           FROM birthgate.v_handoff_status s) m
UNION ALL
 SELECT 2 AS metric_order,
    'birthgate_handoff_lag_seconds'::text AS metric,
    'gauge'::text AS metric_type,
    'Age of the oldest changelog row past the handoff cursor (0 when there is none).'::text AS help,
    m.labels,
    m.value
   FROM ( SELECT jsonb_build_object('consumer', s.consumer_name) AS labels,
            COALESCE(( SELECT (EXTRACT(epoch FROM (clock_timestamp() - min(l.changed_at))))::double precision AS "extract"
                   FROM birthgate.registry_changelog l
                  WHERE (ROW(l.txid, l.change_id) > ROW(s.position_txid, s.position_change_id))), (0)::double precision) AS value
           FROM birthgate.v_handoff_status s) m
UNION ALL
 SELECT 3 AS metric_order,
    'birthgate_handoff_rows_waiting'::text AS metric,
    'gauge'::text AS metric_type,
    'Changelog rows past the cursor that the consumer can take now (below the snapshot horizon).'::text AS help,
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
 SELECT 15 AS metric_order,
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
 SELECT 16 AS metric_order,
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
 SELECT 17 AS metric_order,
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
 SELECT 18 AS metric_order,
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
                  GROUP BY v_drift_report.severity) n ON ((n.x = v.x)))) m;

COMMENT ON VIEW birthgate.v_metrics IS 'Operator metrics, one row per sample: metric (Prometheus name), metric_type (gauge | counter), help, labels (jsonb object), value. metrics_exposition() renders it in the Prometheus text format; `birthgate metrics` prints that. Reading it changes nothing; it costs about what v_handoff_status and v_drift_report cost.';

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

ALTER TABLE ONLY birthgate.birth_admission_permit
    ADD CONSTRAINT birth_admission_permit_pkey PRIMARY KEY (permit_id);

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

ALTER TABLE ONLY birthgate.governance_build_authorization
    ADD CONSTRAINT governance_build_authorization_pkey PRIMARY KEY (authorization_id);

ALTER TABLE ONLY birthgate.governance_candidate_state
    ADD CONSTRAINT governance_candidate_state_pkey PRIMARY KEY (object_key);

ALTER TABLE ONLY birthgate.handoff_cursor
    ADD CONSTRAINT handoff_cursor_pkey PRIMARY KEY (consumer_name);

ALTER TABLE ONLY birthgate.registry_changelog
    ADD CONSTRAINT registry_changelog_pkey PRIMARY KEY (change_id);

ALTER TABLE ONLY birthgate_migrations.pgmigrations
    ADD CONSTRAINT pgmigrations_pkey PRIMARY KEY (id);

CREATE INDEX birth_admission_permit_code_idx ON birthgate.birth_admission_permit USING btree (collection_name, entity_code, permit_id);

CREATE INDEX birth_admission_permit_expiry_idx ON birthgate.birth_admission_permit USING btree (expires_at) WHERE (state = 'ISSUED'::text);

CREATE UNIQUE INDEX birth_admission_permit_live_key ON birthgate.birth_admission_permit USING btree (collection_name, entity_code) WHERE (state = 'ISSUED'::text);

CREATE INDEX birth_gate_violation_code_txid_idx ON birthgate.birth_gate_violation USING btree (collection_name, entity_code, txid);

CREATE INDEX birth_gate_violation_recorded_at_idx ON birthgate.birth_gate_violation USING btree (recorded_at);

CREATE UNIQUE INDEX birth_registry_object_key_idx ON birthgate.birth_registry USING btree (object_key);

CREATE INDEX event_outbox_undelivered_idx ON birthgate.event_outbox USING btree (outbox_id) WHERE (delivered_at IS NULL);

CREATE INDEX governance_candidate_state_dirty_idx ON birthgate.governance_candidate_state USING btree (object_key) WHERE (dirty = true);

CREATE INDEX registry_changelog_object_key_idx ON birthgate.registry_changelog USING btree (object_key);

CREATE INDEX registry_changelog_txid_change_id_idx ON birthgate.registry_changelog USING btree (txid, change_id);

CREATE TRIGGER _100_append_only BEFORE DELETE OR UPDATE ON birthgate.birth_gate_violation FOR EACH ROW EXECUTE FUNCTION birthgate.tg_birth_gate_violation_append_only();

COMMENT ON TRIGGER _100_append_only ON birthgate.birth_gate_violation IS 'Keeps birth_gate_violation append-only: no row is ever updated or deleted.';

CREATE TRIGGER _100_append_only BEFORE DELETE OR UPDATE ON birthgate.registry_changelog FOR EACH ROW EXECUTE FUNCTION birthgate.tg_registry_changelog_append_only();

COMMENT ON TRIGGER _100_append_only ON birthgate.registry_changelog IS 'Keeps registry_changelog append-only: no row is ever updated or deleted.';

CREATE TRIGGER _100_permit_transition_guard BEFORE UPDATE ON birthgate.birth_admission_permit FOR EACH ROW WHEN (((old.state <> 'ISSUED'::text) OR ((((((old.permit_id IS DISTINCT FROM new.permit_id) OR (old.collection_name IS DISTINCT FROM new.collection_name)) OR (old.entity_code IS DISTINCT FROM new.entity_code)) OR (old.issued_at IS DISTINCT FROM new.issued_at)) OR (old.issued_by IS DISTINCT FROM new.issued_by)) OR (old.expires_at IS DISTINCT FROM new.expires_at)))) EXECUTE FUNCTION birthgate.tg_birth_admission_permit_guard();

COMMENT ON TRIGGER _100_permit_transition_guard ON birthgate.birth_admission_permit IS 'Only ISSUED -> CONSUMED | EXPIRED | REVOKED: final states never change, nor the permit''s identity and terms.';

CREATE TRIGGER _101_append_only_truncate BEFORE TRUNCATE ON birthgate.birth_gate_violation FOR EACH STATEMENT EXECUTE FUNCTION birthgate.tg_birth_gate_violation_append_only();

COMMENT ON TRIGGER _101_append_only_truncate ON birthgate.birth_gate_violation IS 'Keeps birth_gate_violation append-only: TRUNCATE is refused.';

CREATE TRIGGER _101_append_only_truncate BEFORE TRUNCATE ON birthgate.registry_changelog FOR EACH STATEMENT EXECUTE FUNCTION birthgate.tg_registry_changelog_append_only();

COMMENT ON TRIGGER _101_append_only_truncate ON birthgate.registry_changelog IS 'Keeps registry_changelog append-only: TRUNCATE is refused.';

CREATE TRIGGER _101_permit_no_delete BEFORE DELETE ON birthgate.birth_admission_permit FOR EACH ROW EXECUTE FUNCTION birthgate.tg_birth_admission_permit_guard();

COMMENT ON TRIGGER _101_permit_no_delete ON birthgate.birth_admission_permit IS 'Permits are audit evidence: a permit is never deleted.';

ALTER TABLE ONLY birthgate.birth_admission_permit
    ADD CONSTRAINT birth_admission_permit_collection_name_fkey FOREIGN KEY (collection_name) REFERENCES birthgate.birth_family(collection_name) ON DELETE RESTRICT;

ALTER TABLE ONLY birthgate.birth_gate_violation
    ADD CONSTRAINT birth_gate_violation_collection_name_fkey FOREIGN KEY (collection_name) REFERENCES birthgate.birth_family(collection_name) ON DELETE RESTRICT;

ALTER TABLE ONLY birthgate.birth_registry
    ADD CONSTRAINT birth_registry_collection_name_fkey FOREIGN KEY (collection_name) REFERENCES birthgate.birth_family(collection_name) ON DELETE RESTRICT;

ALTER TABLE ONLY birthgate.birth_registry
    ADD CONSTRAINT birth_registry_permit_id_fkey FOREIGN KEY (permit_id) REFERENCES birthgate.birth_admission_permit(permit_id) ON DELETE RESTRICT;

ALTER TABLE ONLY birthgate.event_outbox
    ADD CONSTRAINT event_outbox_event_type_fkey FOREIGN KEY (event_type) REFERENCES birthgate.event_type_registry(event_type) ON DELETE RESTRICT;

ALTER TABLE ONLY birthgate.event_pending
    ADD CONSTRAINT event_pending_event_type_fkey FOREIGN KEY (event_type) REFERENCES birthgate.event_type_registry(event_type) ON DELETE RESTRICT;
