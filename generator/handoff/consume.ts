/**
 * The handoff consumer: handoff_horizon(), handoff_consume() (one set-based batch) and the
 * handoff_drain() procedure (COMMIT per batch).
 *
 * Ordering and the out-of-order commit hazard: change_id is drawn before commit, so a cursor on
 * `change_id > last` skips a row whose transaction commits after a later id was consumed. The
 * consumer instead orders by (txid, change_id) and only reads rows whose writing transaction is
 * older than the horizon: the oldest transaction still running (other than the consumer's own)
 * at the snapshot taken before the read, i.e. pg_snapshot_xmin(pg_current_snapshot()) not counting
 * the caller itself. Every transaction below the horizon has finished, so no row can appear behind
 * the cursor later; rows at or above it wait (v_handoff_status shows them as held back).
 *
 * PostgreSQL 14 has no min()/max() aggregates for xid8 (added in 15): the smallest/largest xid8 is
 * taken with ORDER BY ... LIMIT 1 (xid8 has a btree opclass since 13), which gives the same result
 * on every major. This changed the text of the released migration 000003 in 0.2.0; the amendment is
 * recorded in migrations.sha256.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { PINNED_SEARCH_PATH, lit, sqlText } from '../lib/sql.js';
import { BORN_EVENT, CONSUMER, MAX_BATCH, raiseAt } from './common.js';

/** The horizon: the oldest xid still running in another transaction, or xmax when none is. */
export function horizonFunction(c: Ctx): string {
  const fn = c.q('handoff_horizon');
  return sqlText`
    CREATE FUNCTION ${fn}()
    RETURNS xid8
    LANGUAGE sql
    STABLE
    ${PINNED_SEARCH_PATH}
    AS $fn$
        SELECT coalesce((SELECT x.xid FROM pg_catalog.pg_snapshot_xip(s.snap) AS x (xid) ORDER BY x.xid LIMIT 1),
                        pg_catalog.pg_snapshot_xmax(s.snap))
        FROM (SELECT pg_catalog.pg_current_snapshot() AS snap) AS s;
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}()`,
      'The handoff horizon of the current snapshot: the oldest xid still running in another transaction (pg_snapshot_xmin without the caller), or xmax when none is. Changelog rows with txid below it can no longer change; rows at or above it are held back.',
    )}`;
}

/** Who holds the horizon back: the oldest other open transaction that has an xid. */
export function holdingFunction(c: Ctx): string {
  const fn = c.q('handoff_holding_xact');
  return sqlText`
    CREATE FUNCTION ${fn}()
    RETURNS TABLE (holding_txid xid8, holding_pid integer, holding_xact_start timestamptz, holding_application_name text, holding_state text)
    LANGUAGE sql
    STABLE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    AS $fn$
        WITH h AS (
            SELECT x.xid FROM pg_catalog.pg_snapshot_xip(pg_catalog.pg_current_snapshot()) AS x (xid) ORDER BY x.xid LIMIT 1
        )
        SELECT h.xid,
               a.pid,
               coalesce(a.xact_start, p.prepared),
               coalesce(a.application_name, 'prepared transaction ' || p.gid),
               coalesce(a.state, CASE WHEN p.gid IS NOT NULL THEN 'prepared' END)
        FROM h
        LEFT JOIN pg_catalog.pg_stat_activity AS a ON a.backend_xid = pg_catalog.xid(h.xid)
        LEFT JOIN pg_catalog.pg_prepared_xacts AS p ON p.transaction = pg_catalog.xid(h.xid)
        WHERE h.xid IS NOT NULL
        LIMIT 1;
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}()`,
      'The open transaction that holds the handoff horizon back (oldest running xid of another session, or a prepared transaction): xid, pid, start, application. Backend details need the schema owner to see pg_stat_activity of other roles (superuser or pg_read_all_stats); otherwise only the xid is known.',
    )}`;
}

/** The payload of handoff.object_born: the changelog row itself (timestamps in UTC, see SET TimeZone). */
function payload(b: string): string {
  return sqlText`
    jsonb_build_object(
        'change_id', ${b}.change_id,
        'txid', ${b}.txid::text,
        'op', ${b}.op,
        'collection_name', ${b}.collection_name,
        'entity_code', ${b}.entity_code,
        'object_key', ${b}.object_key,
        'registry_id', ${b}.registry_id,
        'born_at', ${b}.born_at,
        'changed_at', ${b}.changed_at,
        'actor', ${b}.actor,
        'detail', ${b}.detail)`;
}

/**
 * The one batch statement: read up to p_batch_size changelog rows past the cursor and below the
 * horizon, write one candidate row per object key and one event per BORN row into `lane` unless
 * the other lane already holds it, and return the counts and the last (txid, change_id).
 *
 * `fast`: plain INSERTs, for the normal case where nothing of the batch has been handed off
 * before; the unique indexes are the arbiter: any conflict (a replay, an object changed twice)
 * raises unique_violation and the caller retries the batch with `general`.
 * `general`: one candidate per key (the newest change), upserted only when newer than the stored
 * one, events ON CONFLICT DO NOTHING: idempotent under any replay.
 */
function batchStatement(c: Ctx, lane: 'event_pending' | 'event_outbox', mode: 'fast' | 'general'): string {
  const other = lane === 'event_pending' ? 'event_outbox' : 'event_pending';
  const candidates =
    mode === 'fast'
      ? sqlText`
          candidates AS (
              INSERT INTO ${c.q('governance_candidate_state')}
                  (object_key, collection_name, entity_code, registry_status, born_at, dirty, marked_at, source_change_id, source_txid)
              SELECT b.object_key, b.collection_name, b.entity_code, b.op, b.born_at, true, b.changed_at, b.change_id, b.txid
              FROM batch AS b
          ),`
      : sqlText`
          latest AS (
              SELECT DISTINCT ON (b.object_key) b.*
              FROM batch AS b
              ORDER BY b.object_key, b.change_id DESC
          ),
          candidates AS (
              INSERT INTO ${c.q('governance_candidate_state')} AS g
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
          ),`;
  const onConflict = mode === 'fast' ? '' : '\n    ON CONFLICT (event_type, object_key, born_at) DO NOTHING';
  return sqlText`
    WITH batch AS MATERIALIZED (
        SELECT l.change_id, l.txid, l.op, l.collection_name, l.entity_code, l.object_key,
               l.registry_id, l.born_at, l.changed_at, l.actor, l.detail
        FROM ${c.q('registry_changelog')} AS l
        WHERE (l.txid, l.change_id) > (v_pos_txid, v_pos_change_id)
          AND l.txid < v_horizon
        ORDER BY l.txid, l.change_id
        LIMIT p_batch_size
    ),
    ${candidates.replaceAll('\n', '\n    ')}
    events AS (
        INSERT INTO ${c.q(lane)} (event_type, object_key, born_at, payload, source_change_id)
        SELECT v_event_type, b.object_key, b.born_at,
               ${payload('b').replaceAll('\n', '\n               ')},
               b.change_id
        FROM batch AS b
        WHERE b.op = 'BORN'
          AND NOT EXISTS (
              SELECT 1 FROM ${c.q(other)} AS o
              WHERE o.event_type = v_event_type AND o.object_key = b.object_key AND o.born_at = b.born_at)${onConflict.replaceAll('\n', '\n        ')}
        RETURNING 1
    ),
    stats AS (
        SELECT count(*)::integer AS n,
               (SELECT b.txid FROM batch AS b ORDER BY b.txid DESC LIMIT 1) AS last_txid
        FROM batch AS b
    )
    SELECT stats.n,
           (SELECT count(*) FROM events)::integer,
           stats.last_txid,
           (SELECT max(b.change_id) FROM batch AS b WHERE b.txid = stats.last_txid)
    INTO v_consumed, v_events, v_last_txid, v_last_change_id
    FROM stats;`;
}

export function consumeFunction(c: Ctx): string {
  const fn = c.q('handoff_consume');
  const pad = (text: string, n: number) => text.replaceAll('\n', `\n${' '.repeat(n)}`);
  return sqlText`
    CREATE FUNCTION ${fn}(p_batch_size integer DEFAULT 5000)
    RETURNS TABLE (consumed integer, emitted integer, captured integer, lag bigint)
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    SET "TimeZone" = 'UTC'
    AS $fn$
    DECLARE
        v_consumer constant text := ${lit(CONSUMER)};
        v_event_type constant text := ${lit(BORN_EVENT)};
        v_pos_txid xid8;
        v_pos_change_id bigint;
        v_horizon xid8;
        v_active boolean;
        v_consumed integer;
        v_events integer;
        v_last_txid xid8;
        v_last_change_id bigint;
        v_lag bigint;
    BEGIN
        IF p_batch_size IS NULL OR p_batch_size < 1 OR p_batch_size > ${MAX_BATCH} THEN
            ${raiseAt(12, 'HANDOFF_INVALID_ARGUMENT', `format('handoff_consume(p_batch_size => %s): must be between 1 and ${MAX_BATCH}', coalesce(p_batch_size::text, 'NULL'))`)}
        END IF;

        -- 1. One consumer at a time. A second caller does not wait: it returns zeros with lag NULL
        --    ("another consumer holds the cursor"), so overlapping cron runs never pile up.
        SELECT hc.position_txid, hc.position_change_id
        INTO v_pos_txid, v_pos_change_id
        FROM ${c.q('handoff_cursor')} AS hc
        WHERE hc.consumer_name = v_consumer
        FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            IF EXISTS (SELECT 1 FROM ${c.q('handoff_cursor')} AS hc WHERE hc.consumer_name = v_consumer) THEN
                RETURN QUERY SELECT 0, 0, 0, NULL::bigint;
                RETURN;
            END IF;
            ${raiseAt(12, 'HANDOFF_CURSOR_MISSING', `format('no row with consumer_name = %L in %s', v_consumer, '${c.schema}.handoff_cursor')`)}
        END IF;

        -- 2. The horizon, taken before the read: every transaction below it has finished.
        v_horizon := ${c.q('handoff_horizon')}();

        -- 3. The lane. FOR SHARE makes set_event_type_active() and release_pending() wait for this
        --    batch, so an event never lands in one lane while the other is being switched or drained.
        SELECT et.active INTO v_active
        FROM ${c.q('event_type_registry')} AS et
        WHERE et.event_type = v_event_type
        FOR SHARE;
        IF NOT FOUND THEN
            ${raiseAt(12, 'EVENT_TYPE_UNKNOWN', `format('handoff_consume needs event type %L in event_type_registry', v_event_type)`)}
        END IF;

        -- 4. The batch: one statement over all its rows. Fast path first (plain INSERTs, the unique
        --    indexes arbitrate); any conflict (a replay, an object changed twice within reach) undoes
        --    it and the general, idempotent path runs instead.
        BEGIN
            IF v_active THEN
                ${pad(batchStatement(c, 'event_outbox', 'fast'), 16)}
            ELSE
                ${pad(batchStatement(c, 'event_pending', 'fast'), 16)}
            END IF;
        EXCEPTION WHEN unique_violation THEN
            IF v_active THEN
                ${pad(batchStatement(c, 'event_outbox', 'general'), 16)}
            ELSE
                ${pad(batchStatement(c, 'event_pending', 'general'), 16)}
            END IF;
        END;

        -- 5. Advance the cursor to the last row of the batch; the heartbeat advances even when it is empty.
        UPDATE ${c.q('handoff_cursor')} AS hc
        SET position_txid = coalesce(v_last_txid, hc.position_txid),
            position_change_id = coalesce(v_last_change_id, hc.position_change_id),
            heartbeat_at = now(),
            rows_consumed = hc.rows_consumed + v_consumed,
            batches_run = hc.batches_run + 1,
            last_batch_rows = v_consumed,
            updated_at = now()
        WHERE hc.consumer_name = v_consumer
        RETURNING hc.position_txid, hc.position_change_id INTO v_pos_txid, v_pos_change_id;

        -- 6. lag: changelog rows past the new position (held back or not), exact up to one more batch;
        --    beyond that an estimate from change_id distance. Bounded work: never a count of the backlog
        --    (the ORDER BY keeps it an index range scan that stops after p_batch_size + 1 entries).
        SELECT count(*) INTO v_lag
        FROM (
            SELECT 1 FROM ${c.q('registry_changelog')} AS l
            WHERE (l.txid, l.change_id) > (v_pos_txid, v_pos_change_id)
            ORDER BY l.txid, l.change_id
            LIMIT p_batch_size + 1
        ) AS ahead;
        IF v_lag > p_batch_size THEN
            v_lag := greatest(v_lag, (SELECT max(l.change_id) FROM ${c.q('registry_changelog')} AS l) - v_pos_change_id);
        END IF;

        consumed := v_consumed;
        emitted := CASE WHEN v_active THEN v_events ELSE 0 END;
        captured := CASE WHEN v_active THEN 0 ELSE v_events END;
        lag := v_lag;
        RETURN NEXT;
    END;
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}(integer)`,
      `One handoff batch in the caller's transaction, all or nothing: reads up to p_batch_size registry_changelog rows past the cursor in (txid, change_id) order, only from transactions below the horizon (handoff_horizon(), taken before the read), upserts governance_candidate_state (dirty, marked_at = changed_at; only when the change is newer), writes ${BORN_EVENT} for every BORN row to event_outbox (type active) or event_pending (inactive), never twice and never into both lanes, then advances the cursor and heartbeat_at. Returns consumed rows, events emitted / captured, and lag: changelog rows past the new position (including rows held back by open transactions), exact up to p_batch_size, an estimate from change_id distance beyond. A concurrent call returns zeros with lag NULL (another consumer holds the cursor).`,
    )}`;
}

export function drainProcedure(c: Ctx): string {
  const pr = c.q('handoff_drain');
  return sqlText`
    CREATE PROCEDURE ${pr}(p_batch_size integer DEFAULT 5000, p_max_batches integer DEFAULT NULL)
    LANGUAGE plpgsql
    AS $pr$
    DECLARE
        v_started timestamptz := clock_timestamp();
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
        IF p_batch_size IS NULL OR p_batch_size < 1 OR p_batch_size > ${MAX_BATCH} THEN
            ${raiseAt(12, 'HANDOFF_INVALID_ARGUMENT', `format('handoff_drain(p_batch_size => %s): must be between 1 and ${MAX_BATCH}', coalesce(p_batch_size::text, 'NULL'))`)}
        END IF;
        IF p_max_batches IS NOT NULL AND p_max_batches < 1 THEN
            ${raiseAt(12, 'HANDOFF_INVALID_ARGUMENT', `format('handoff_drain(p_max_batches => %s): must be NULL (no limit) or at least 1', p_max_batches)`)}
        END IF;
        LOOP
            EXIT WHEN p_max_batches IS NOT NULL AND v_batches >= p_max_batches;
            v_batch_started := clock_timestamp();
            SELECT r.consumed, r.emitted, r.captured, r.lag
            INTO v_consumed, v_e, v_c, v_lag
            FROM ${c.q('handoff_consume')}(p_batch_size) AS r;
            COMMIT;
            IF v_lag IS NULL THEN
                RAISE NOTICE 'handoff_drain: another consumer holds the cursor; stopping after % batches, % rows', v_batches, v_total;
                EXIT;
            END IF;
            v_batches := v_batches + 1;
            v_total := v_total + v_consumed;
            v_emitted := v_emitted + v_e;
            v_captured := v_captured + v_c;
            RAISE NOTICE 'handoff_drain: batch % consumed % rows (% emitted, % captured) in % ms; total % rows; lag %; elapsed %',
                v_batches, v_consumed, v_e, v_c,
                round(extract(epoch FROM clock_timestamp() - v_batch_started) * 1000, 1),
                v_total, v_lag, date_trunc('millisecond', clock_timestamp() - v_started);
            EXIT WHEN v_consumed < p_batch_size;
        END LOOP;
        RAISE NOTICE 'handoff_drain: done: % batches, % rows, % emitted, % captured, elapsed %',
            v_batches, v_total, v_emitted, v_captured, date_trunc('millisecond', clock_timestamp() - v_started);
    END;
    $pr$;
    ${comment(
      'PROCEDURE',
      `${pr}(integer, integer)`,
      'Drains the handoff backlog for cron jobs: calls handoff_consume(p_batch_size) and COMMITs after every batch, until a batch comes back short (nothing left below the horizon) or p_max_batches batches ran; RAISE NOTICE per batch (batch n, rows, total, lag, elapsed). CALL it outside an explicit transaction block (it commits). Security invoker without a SET clause because a procedure that commits cannot have either; every name in it is schema-qualified.',
    )}`;
}
