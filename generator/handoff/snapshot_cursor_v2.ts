/**
 * The snapshot cursor of the governance handoff (issue 9), replacing the 0.1.0 xid8-horizon cursor.
 *
 * PgQ's model: the position is the previous snapshot (position_snapshot). A window is the set of
 * changelog rows whose writing transaction is visible in a new snapshot (window_snapshot) and was
 * not visible in the previous one. Only transactions that wrote changelog rows matter, so a
 * transaction that stays open (in this database or any other of the cluster) never holds back the
 * rows of transactions that committed after it: it stays in the snapshots' xip lists until it
 * commits and is then picked up by the next window.
 *
 * The scan is bounded the way PgQ bounds it: rows invisible in the previous snapshot are those whose
 * txid is in its xip list or at/after its xmax, so the read is an index lookup per xip entry plus an
 * index range [prev.xmax, new.xmax) — an old open transaction does not force a rescan from its xid.
 *
 * Batches are bounded by p_batch_size: a window (even one big transaction) may be split. While a
 * window is being split the cursor keeps window_snapshot and the last row taken from it
 * (window_after_txid, window_after_change_id) in (txid, change_id) order; a committed transaction's
 * rows never change, so the window is a fixed set and the split is exact.
 *
 * The caller's own transaction: handoff_snapshot() is pg_current_snapshot() with the caller's xid
 * (when it has one) counted as still running. Its rows are therefore never taken before it commits,
 * and because the stored position lists it as running, they are taken by the first window after it
 * commits (the DOT-400/401/402 case of issue 9).
 */
import type { Ctx } from '../lib/ctx.js';
import { comment, columnComments } from '../lib/migration.js';
import { PINNED_SEARCH_PATH, lit, sqlText } from '../lib/sql.js';
import { BORN_EVENT, CONSUMER, MAX_BATCH, raiseAt } from './common.js';

/** The columns the snapshot position adds to handoff_cursor (000005 Up; dropped again by its Down). */
export const CURSOR_V2_COLUMNS = ['position_snapshot', 'window_snapshot', 'window_after_txid', 'window_after_change_id', 'window_rows', 'window_done'] as const;

export function cursorColumnsV2(c: Ctx): string {
  const t = c.q('handoff_cursor');
  return sqlText`
    ALTER TABLE ${t}
        ADD COLUMN IF NOT EXISTS position_snapshot pg_catalog.pg_snapshot NOT NULL DEFAULT '1:1:'::pg_catalog.pg_snapshot,
        ADD COLUMN IF NOT EXISTS window_snapshot pg_catalog.pg_snapshot,
        ADD COLUMN IF NOT EXISTS window_after_txid pg_catalog.xid8,
        ADD COLUMN IF NOT EXISTS window_after_change_id bigint,
        ADD COLUMN IF NOT EXISTS window_rows bigint,
        ADD COLUMN IF NOT EXISTS window_done bigint;
    ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS handoff_cursor_window_check;
    ALTER TABLE ${t} ADD CONSTRAINT handoff_cursor_window_check CHECK (
        (window_snapshot IS NULL AND window_after_txid IS NULL AND window_after_change_id IS NULL AND window_rows IS NULL AND window_done IS NULL)
        OR (window_snapshot IS NOT NULL AND window_after_txid IS NOT NULL AND window_after_change_id IS NOT NULL
            AND window_rows IS NOT NULL AND window_done IS NOT NULL AND window_done >= 0 AND window_done <= window_rows));
    ${comment('TABLE', t, 'The handoff consumer position and heartbeat. The position is a snapshot (position_snapshot, PgQ style): every changelog row of a transaction visible in it has been handed off, no row of a transaction invisible in it has. While a window is split across batches, window_snapshot / window_after_* say how far into it the consumer got.')}
    ${columnComments(c, 'handoff_cursor', {
      position_txid: 'txid of the last changelog row consumed (informational; the position is position_snapshot).',
      position_change_id: 'change_id of the last changelog row consumed (informational; the position is position_snapshot).',
      position_snapshot: 'The position: every changelog row of a transaction visible in this snapshot has been handed off; rows of transactions invisible in it (xip list, or at/after xmax) have not.',
      window_snapshot: 'While a window is split across batches: the snapshot that closes it (rows visible here and not in position_snapshot). NULL between windows.',
      window_after_txid: 'While a window is split: txid of the last row taken from it, in (txid, change_id) order.',
      window_after_change_id: 'While a window is split: change_id of the last row taken from it.',
      window_rows: 'While a window is split: how many rows it holds (counted once when it was opened; the exact lag is window_rows - window_done + rows after window_snapshot).',
      window_done: 'While a window is split: rows taken from it so far.',
    })}`;
}

/** Convert the 0.1.0 position (txid, change_id) into the snapshot position, losing and repeating nothing. */
export function convertCursorUp(c: Ctx): string {
  const t = c.q('handoff_cursor');
  const l = c.q('registry_changelog');
  return sqlText`
    -- 0.1.0 had handed off exactly the rows (txid, change_id) <= (position_txid, position_change_id):
    -- the rows of every transaction below position_txid, and those of position_txid up to its
    -- change_id. That is the snapshot 'X:X:' (X = position_txid) plus an open window whose last
    -- row taken is (position_txid, position_change_id), closed by a snapshot taken now (this
    -- migration's own transaction counted as running): nothing handed off twice, nothing skipped.
    UPDATE ${t} AS hc
    SET position_snapshot = pg_catalog.format('%s:%s:', v.x, v.x)::pg_catalog.pg_snapshot,
        window_snapshot = v.hi,
        window_after_txid = hc.position_txid,
        window_after_change_id = hc.position_change_id,
        window_rows = (SELECT count(*) FROM ${l} AS l
                       WHERE l.txid >= v.x
                         AND (l.txid, l.change_id) > (hc.position_txid, hc.position_change_id)
                         AND pg_catalog.pg_visible_in_snapshot(l.txid, v.hi)),
        window_done = 0,
        updated_at = now()
    FROM (SELECT hc2.consumer_name, GREATEST(hc2.position_txid, '1'::pg_catalog.xid8) AS x, ${c.q('handoff_snapshot')}() AS hi
          FROM ${t} AS hc2) AS v
    WHERE v.consumer_name = hc.consumer_name;`;
}

/** Back to (txid, change_id): everything below the position snapshot's xmin was handed off; later rows may be replayed (harmless). */
export function convertCursorDown(c: Ctx): string {
  const t = c.q('handoff_cursor');
  return sqlText`
    -- Down to the 0.1.0 position: the rows of every transaction below position_snapshot's xmin have
    -- been handed off; rows at or above it may have been too and are then replayed once by the
    -- 0.1.0 consumer (harmless: upserts by object key, events deduplicated). Nothing is skipped.
    UPDATE ${t} AS hc
    SET position_txid = (pg_catalog.pg_snapshot_xmin(hc.position_snapshot)::text::numeric - 1)::text::pg_catalog.xid8,
        position_change_id = 9223372036854775807,
        updated_at = now();
    ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS handoff_cursor_window_check;
    ALTER TABLE ${t}
        DROP COLUMN IF EXISTS window_done,
        DROP COLUMN IF EXISTS window_rows,
        DROP COLUMN IF EXISTS window_after_change_id,
        DROP COLUMN IF EXISTS window_after_txid,
        DROP COLUMN IF EXISTS window_snapshot,
        DROP COLUMN IF EXISTS position_snapshot;
    ${comment('TABLE', t, 'The handoff consumer position ((txid, change_id), exclusive) and heartbeat.')}
    ${columnComments(c, 'handoff_cursor', {
      position_txid: 'txid of the last changelog row consumed.',
      position_change_id: 'change_id of the last changelog row consumed.',
    })}`;
}

/** The consumer's snapshot: pg_current_snapshot() with the caller's own xid (if any) counted as running. */
export function snapshotFunctionV2(c: Ctx): string {
  const fn = c.q('handoff_snapshot');
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}()
    RETURNS pg_catalog.pg_snapshot
    LANGUAGE sql
    VOLATILE
    ${PINNED_SEARCH_PATH}
    AS $fn$
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
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}()`,
      "The handoff's view of the cluster: pg_current_snapshot() with the caller's own transaction (when it has an xid) counted as still running, so a consumer called inside a transaction that wrote changelog rows never takes those rows before they commit.",
    )}`;
}

/** The horizon: every transaction below it has been handed off (xmin of the position snapshot). */
export function horizonFunctionV2(c: Ctx): string {
  const fn = c.q('handoff_horizon');
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}()
    RETURNS xid8
    LANGUAGE sql
    STABLE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    AS $fn$
        SELECT pg_catalog.pg_snapshot_xmin(hc.position_snapshot)
        FROM ${c.q('handoff_cursor')} AS hc
        WHERE hc.consumer_name OPERATOR(pg_catalog.=) ${lit(CONSUMER)};
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}()`,
      'The handoff horizon: xmin of the cursor position snapshot. Every changelog row of a transaction below it has been handed off; above it, the position snapshot says which transactions are done. A transaction that stays open never holds back rows of transactions that committed after it.',
    )}`;
}

/** Who holds rows back: the transaction holding the cursor, else the oldest open writer of registry_changelog. */
export function holdingFunctionV2(c: Ctx): string {
  const fn = c.q('handoff_holding_xact');
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}()
    RETURNS TABLE (holding_txid xid8, holding_pid integer, holding_xact_start timestamptz, holding_application_name text, holding_state text)
    LANGUAGE sql
    VOLATILE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    AS $fn$
        -- pg_stat_activity is cached per transaction: look at the backends as they are now
        SELECT pg_catalog.pg_stat_clear_snapshot();
        WITH running AS (
            SELECT x.xid FROM pg_catalog.pg_snapshot_xip(pg_catalog.pg_current_snapshot()) AS x (xid)
        ),
        holders AS (
            -- a transaction that holds the cursor row (a consumer inside a long transaction): every waiting row waits for it
            SELECT 1 AS rank, a.backend_xid AS xid, a.pid, a.xact_start, a.application_name,
                   'holds the handoff cursor (' OPERATOR(pg_catalog.||) coalesce(a.state, 'unknown') OPERATOR(pg_catalog.||) ')' AS state
            FROM ${c.q('handoff_cursor')} AS hc
            JOIN pg_catalog.pg_stat_activity AS a ON a.backend_xid OPERATOR(pg_catalog.=) hc.xmax
            WHERE hc.consumer_name OPERATOR(pg_catalog.=) ${lit(CONSUMER)}
              AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
            UNION ALL
            -- open transactions that wrote changelog rows: their births are handed off once they commit
            SELECT 2, a.backend_xid, a.pid, a.xact_start, a.application_name, a.state
            FROM pg_catalog.pg_locks AS l
            JOIN pg_catalog.pg_stat_activity AS a ON a.pid OPERATOR(pg_catalog.=) l.pid
            WHERE l.locktype OPERATOR(pg_catalog.=) 'relation'
              AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
              AND l.relation OPERATOR(pg_catalog.=) ${lit(c.q('registry_changelog'))}::pg_catalog.regclass
              AND l.mode OPERATOR(pg_catalog.=) 'RowExclusiveLock'
              AND l.granted
              AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
            UNION ALL
            SELECT 2, p.transaction, NULL::integer, p.prepared, 'prepared transaction ' OPERATOR(pg_catalog.||) p.gid, 'prepared'
            FROM pg_catalog.pg_locks AS l
            JOIN pg_catalog.pg_prepared_xacts AS p
              ON l.virtualtransaction OPERATOR(pg_catalog.=) ('-1/' OPERATOR(pg_catalog.||) p.transaction::text)
            WHERE l.locktype OPERATOR(pg_catalog.=) 'relation'
              AND l.relation OPERATOR(pg_catalog.=) ${lit(c.q('registry_changelog'))}::pg_catalog.regclass
              AND l.pid IS NULL
        )
        SELECT r.xid, h.pid, h.xact_start, h.application_name, h.state
        FROM holders AS h
        LEFT JOIN running AS r ON pg_catalog.xid(r.xid) OPERATOR(pg_catalog.=) h.xid
        ORDER BY h.rank, h.xact_start NULLS LAST, h.pid
        LIMIT 1;
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}()`,
      'Who holds handoff rows back: the transaction holding the cursor row (a consumer inside a long transaction; every waiting row waits for it), else the oldest open transaction that has written registry_changelog rows (its births are handed off once it commits): xid, pid, start, application, state. Open transactions elsewhere in the cluster hold nothing back. VOLATILE: it clears the per-transaction pg_stat_activity snapshot, so a long monitoring transaction sees the backends as they are now. Backend details need the schema owner to see pg_stat_activity of other roles (superuser or pg_read_all_stats).',
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

const COLS = 'l.change_id, l.txid, l.op, l.collection_name, l.entity_code, l.object_key, l.registry_id, l.born_at, l.changed_at, l.actor, l.detail';

/**
 * One batch: up to p_batch_size rows of the window (v_lo_xip, v_lo_xmax, v_hi) after
 * (v_after_txid, v_after_change_id), in (txid, change_id) order; candidates and events as in
 * 0.1.0 (fast path with plain INSERTs, general idempotent path on any conflict).
 */
function batchStatement(c: Ctx, lane: 'event_pending' | 'event_outbox', mode: 'fast' | 'general'): string {
  const other = lane === 'event_pending' ? 'event_outbox' : 'event_pending';
  const l = c.q('registry_changelog');
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
        SELECT u.* FROM (
            (SELECT ${COLS}
             FROM ${l} AS l
             WHERE l.txid = ANY (v_lo_xip)
               AND (l.txid, l.change_id) > (v_after_txid, v_after_change_id)
               AND pg_visible_in_snapshot(l.txid, v_hi)
             ORDER BY l.txid, l.change_id
             LIMIT v_limit)
            UNION ALL
            (SELECT ${COLS}
             FROM ${l} AS l
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
        SELECT count(*)::integer AS n FROM batch AS b
    ),
    last_row AS (
        SELECT b.txid, b.change_id FROM batch AS b ORDER BY b.txid DESC, b.change_id DESC LIMIT 1
    )
    SELECT stats.n, (SELECT count(*) FROM events)::integer, last_row.txid, last_row.change_id
    INTO v_consumed, v_events, v_last_txid, v_last_change_id
    FROM stats LEFT JOIN last_row ON true;`;
}

export function consumeFunctionV2(c: Ctx): string {
  const fn = c.q('handoff_consume');
  const l = c.q('registry_changelog');
  const pad = (text: string, n: number) => text.replaceAll('\n', `\n${' '.repeat(n)}`);
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}(p_batch_size integer DEFAULT 5000)
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
        IF p_batch_size IS NULL OR p_batch_size < 1 OR p_batch_size > ${MAX_BATCH} THEN
            ${raiseAt(12, 'HANDOFF_INVALID_ARGUMENT', `format('handoff_consume(p_batch_size => %s): must be between 1 and ${MAX_BATCH}', coalesce(p_batch_size::text, 'NULL'))`)}
        END IF;

        -- 1. One consumer at a time. A second caller does not wait: it returns zeros with lag NULL
        --    ("another consumer holds the cursor"), so overlapping cron runs never pile up.
        SELECT hc.position_snapshot, hc.window_snapshot, hc.window_after_txid, hc.window_after_change_id, hc.window_rows, hc.window_done
        INTO v_lo, v_hi, v_after_txid, v_after_change_id, v_window_rows, v_window_done
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

        v_own := pg_current_xact_id_if_assigned();

        -- 2. The lane. FOR SHARE makes set_event_type_active() and release_pending() wait for this
        --    batch, so an event never lands in one lane while the other is being switched or drained.
        SELECT et.active INTO v_active
        FROM ${c.q('event_type_registry')} AS et
        WHERE et.event_type = v_event_type
        FOR SHARE;
        IF NOT FOUND THEN
            ${raiseAt(12, 'EVENT_TYPE_UNKNOWN', `format('handoff_consume needs event type %L in event_type_registry', v_event_type)`)}
        END IF;

        LOOP
            -- 3. The window: the stored one while it is being split, else a new snapshot taken now
            --    (after the cursor row is locked, so it is never older than the stored position),
            --    with this transaction counted as running: its own rows wait until it has committed.
            v_stored_window := v_hi IS NOT NULL;
            IF NOT v_stored_window THEN
                v_hi := ${c.q('handoff_snapshot')}();
                v_after_txid := '0'::xid8;
                v_after_change_id := 0;
            END IF;
            IF pg_snapshot_xmax(v_hi) < pg_snapshot_xmax(v_lo) THEN
                ${raiseAt(16, 'HANDOFF_POSITION_AHEAD', `format('position_snapshot %s is ahead of the window snapshot %s (consumer %L)', v_lo, v_hi, v_consumer)`)}
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
                    ${pad(batchStatement(c, 'event_outbox', 'fast'), 20)}
                ELSE
                    ${pad(batchStatement(c, 'event_pending', 'fast'), 20)}
                END IF;
            EXCEPTION WHEN unique_violation THEN
                IF v_active THEN
                    ${pad(batchStatement(c, 'event_outbox', 'general'), 20)}
                ELSE
                    ${pad(batchStatement(c, 'event_pending', 'general'), 20)}
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
                    SELECT (SELECT count(*) FROM ${l} AS l WHERE l.txid = ANY (v_lo_xip) AND pg_visible_in_snapshot(l.txid, v_hi))
                         + (SELECT count(*) FROM ${l} AS l WHERE l.txid >= v_lo_xmax AND l.txid < v_hi_xmax AND pg_visible_in_snapshot(l.txid, v_hi))
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
             + (SELECT count(*) FROM ${l} AS l WHERE l.txid = ANY (v_ref_xip) AND l.txid IS DISTINCT FROM v_own)
             + (SELECT count(*) FROM ${l} AS l WHERE l.txid >= v_ref_xmax AND l.txid IS DISTINCT FROM v_own)
        INTO v_lag;

        -- 7. Position, window, last row taken, heartbeat (advanced even by an empty batch), counters.
        UPDATE ${c.q('handoff_cursor')} AS hc
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
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}(integer)`,
      `One handoff batch in the caller's transaction, all or nothing. Snapshot cursor (PgQ style): takes up to p_batch_size registry_changelog rows, in (txid, change_id) order, of transactions visible in the window snapshot (handoff_snapshot(): the caller's own transaction counts as running) and invisible in the stored position snapshot; a window larger than one batch is split and resumed exactly. Upserts governance_candidate_state (dirty, marked_at = changed_at; only when the change is newer), writes ${BORN_EVENT} for every BORN row to event_outbox (type active) or event_pending (inactive), never twice and never into both lanes, then advances the position and heartbeat_at. An open transaction (in this database or another) never holds back rows of transactions that committed after it. Returns consumed rows, events emitted / captured, and lag: committed changelog rows not yet handed off (exact). A concurrent call returns zeros with lag NULL (another consumer holds the cursor).`,
    )}`;
}

/** handoff_drain: security invoker (it COMMITs), so it pins its own search_path and qualifies every operator. */
export function drainProcedureV2(c: Ctx): string {
  const pr = c.q('handoff_drain');
  const op = (o: string) => `OPERATOR(pg_catalog.${o})`;
  const badBatch = `format('handoff_drain(p_batch_size => %s): must be between 1 and ${MAX_BATCH}', coalesce(p_batch_size::text, 'NULL'))`;
  const badMax = `format('handoff_drain(p_max_batches => %s): must be NULL (no limit) or at least 1', p_max_batches)`;
  return sqlText`
    CREATE OR REPLACE PROCEDURE ${pr}(p_batch_size integer DEFAULT 5000, p_max_batches integer DEFAULT NULL)
    LANGUAGE plpgsql
    AS $pr$
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
        IF p_batch_size IS NULL OR p_batch_size ${op('<')} 1 OR p_batch_size ${op('>')} ${MAX_BATCH} THEN
            ${raiseAt(12, 'HANDOFF_INVALID_ARGUMENT', badBatch.replace('format(', 'pg_catalog.format(').replace('coalesce(p_batch_size::text', 'coalesce(p_batch_size::pg_catalog.text'))}
        END IF;
        IF p_max_batches IS NOT NULL AND p_max_batches ${op('<')} 1 THEN
            ${raiseAt(12, 'HANDOFF_INVALID_ARGUMENT', badMax.replace('format(', 'pg_catalog.format('))}
        END IF;
        LOOP
            EXIT WHEN p_max_batches IS NOT NULL AND v_batches ${op('>=')} p_max_batches;
            v_batch_started := pg_catalog.clock_timestamp();
            SELECT r.consumed, r.emitted, r.captured, r.lag
            INTO v_consumed, v_e, v_c, v_lag
            FROM ${c.q('handoff_consume')}(p_batch_size) AS r;
            COMMIT;
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
            IF v_lag IS NULL THEN
                RAISE NOTICE 'handoff_drain: another consumer holds the cursor; stopping after % batches, % rows', v_batches, v_total;
                EXIT;
            END IF;
            v_batches := v_batches ${op('+')} 1;
            v_total := v_total ${op('+')} v_consumed;
            v_emitted := v_emitted ${op('+')} v_e;
            v_captured := v_captured ${op('+')} v_c;
            RAISE NOTICE 'handoff_drain: batch % consumed % rows (% emitted, % captured) in % ms; total % rows; lag %; elapsed %',
                v_batches, v_consumed, v_e, v_c,
                pg_catalog.round(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() ${op('-')} v_batch_started)::pg_catalog.numeric ${op('*')} 1000, 1),
                v_total, v_lag, pg_catalog.date_trunc('millisecond', pg_catalog.clock_timestamp() ${op('-')} v_started);
            -- A short batch means the consumer caught up with a snapshot taken in that batch.
            EXIT WHEN v_consumed ${op('<')} p_batch_size;
        END LOOP;
        RAISE NOTICE 'handoff_drain: done: % batches, % rows, % emitted, % captured, elapsed %',
            v_batches, v_total, v_emitted, v_captured, pg_catalog.date_trunc('millisecond', pg_catalog.clock_timestamp() ${op('-')} v_started);
    END;
    $pr$;
    ${comment(
      'PROCEDURE',
      `${pr}(integer, integer)`,
      'Drains the handoff backlog for cron jobs: calls handoff_consume(p_batch_size) and COMMITs after every batch, until a batch comes back short (the consumer caught up with a snapshot taken in that batch) or p_max_batches batches ran; RAISE NOTICE per batch (batch n, rows, total, lag, elapsed). CALL it outside an explicit transaction block (it commits). Security invoker without a SET clause because a procedure that commits cannot have either: it pins search_path itself with set_config(..., true) at the start and after every COMMIT, and every name and operator in it is schema-qualified.',
    )}`;
}

/** v_handoff_status: the 0.1.0 columns (same names and types, snapshot semantics) plus the position, the window and the exact lag in seconds. */
export function statusViewV2(c: Ctx): string {
  const v = c.q('v_handoff_status');
  const l = c.q('registry_changelog');
  const pending = sqlText`
    FROM ${l} AS l
    WHERE (l.txid = ANY (ARRAY(SELECT x.xid FROM pg_catalog.pg_snapshot_xip(hc.position_snapshot) AS x (xid)))
           OR l.txid >= pg_catalog.pg_snapshot_xmax(hc.position_snapshot))
      AND NOT (hc.window_snapshot IS NOT NULL
               AND pg_catalog.pg_visible_in_snapshot(l.txid, hc.window_snapshot)
               AND (l.txid, l.change_id) <= (hc.window_after_txid, hc.window_after_change_id))
      AND l.txid IS DISTINCT FROM pg_catalog.pg_current_xact_id_if_assigned()`;
  return sqlText`
    CREATE OR REPLACE VIEW ${v} AS
    SELECT hc.consumer_name,
           hc.position_txid,
           hc.position_change_id,
           hc.heartbeat_at,
           clock_timestamp() - hc.heartbeat_at AS heartbeat_age,
           hc.stale_after,
           (hc.heartbeat_at IS NULL OR clock_timestamp() - hc.heartbeat_at > hc.stale_after) AS stale,
           pg_catalog.pg_snapshot_xmin(hc.position_snapshot) AS horizon_txid,
           w.rows_waiting,
           CASE WHEN held.by_cursor THEN w.rows_waiting ELSE 0::bigint END AS rows_held_back,
           CASE WHEN held.by_cursor THEN o.txid END AS oldest_held_back_txid,
           CASE WHEN held.by_cursor THEN w.oldest_waiting_at END AS oldest_held_back_at,
           CASE WHEN held.by_cursor THEN clock_timestamp() - w.oldest_waiting_at END AS oldest_held_back_age,
           x.holding_txid,
           x.holding_pid,
           x.holding_xact_start,
           clock_timestamp() - x.holding_xact_start AS holding_xact_age,
           x.holding_application_name,
           x.holding_state,
           hc.rows_consumed,
           hc.batches_run,
           hc.last_batch_rows,
           hc.updated_at,
           hc.position_snapshot,
           hc.window_snapshot,
           w.oldest_waiting_at,
           coalesce(pg_catalog.date_part('epoch', clock_timestamp() - w.oldest_waiting_at), 0::double precision) AS lag_seconds
    FROM ${c.q('handoff_cursor')} AS hc
    CROSS JOIN LATERAL (
        SELECT count(*) AS rows_waiting, min(l.changed_at) AS oldest_waiting_at
        ${pending.replaceAll('\n', '\n        ')}
    ) AS w
    LEFT JOIN LATERAL (
        SELECT l.txid
        ${pending.replaceAll('\n', '\n        ')}
        ORDER BY l.txid, l.change_id
        LIMIT 1
    ) AS o ON true
    LEFT JOIN LATERAL ${c.q('handoff_holding_xact')}() AS x ON true
    CROSS JOIN LATERAL (SELECT coalesce(x.holding_state LIKE 'holds the handoff cursor%', false) AS by_cursor) AS held;
    ${comment(
      'VIEW',
      v,
      'Handoff health, one row per cursor: last row taken (position_txid, position_change_id), heartbeat_at and its age, stale (no heartbeat or older than stale_after), horizon_txid (xmin of the position snapshot: everything below it is handed off), rows_waiting (committed changelog rows not yet handed off: exact), oldest_waiting_at and lag_seconds (age of the oldest of them; 0 when none), rows_held_back (waiting rows that no consumer can take because another transaction holds the cursor) since when, and who holds rows back (holding_*): the transaction holding the cursor, else the oldest open transaction that has written changelog rows (its births follow once it commits). position_snapshot / window_snapshot: the snapshot position and the window being split. Ages are wall-clock (clock_timestamp()).',
    )}`;
}

/** handoff_rewind: replay every changelog row after (p_txid, p_change_id) in (txid, change_id) order; never forwards. */
export function rewindFunctionV2(c: Ctx): string {
  const fn = c.q('handoff_rewind');
  const l = c.q('registry_changelog');
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}(p_txid xid8, p_change_id bigint DEFAULT 0)
    RETURNS bigint
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    AS $fn$
    DECLARE
        v_consumer constant text := ${lit(CONSUMER)};
        v_lo pg_snapshot;
        v_ref pg_snapshot;
        v_after_txid xid8;
        v_after_change_id bigint;
        v_x xid8;
        v_new_lo pg_snapshot;
        v_rows bigint;
    BEGIN
        IF p_txid IS NULL OR p_change_id IS NULL OR p_change_id < 0 THEN
            ${raiseAt(12, 'HANDOFF_INVALID_ARGUMENT', `format('handoff_rewind(p_txid => %s, p_change_id => %s): both must be given, p_change_id >= 0', coalesce(p_txid::text, 'NULL'), coalesce(p_change_id::text, 'NULL'))`)}
        END IF;
        -- waits for a running batch: a rewind never interleaves with one
        SELECT hc.position_snapshot, coalesce(hc.window_snapshot, hc.position_snapshot), hc.window_after_txid, hc.window_after_change_id
        INTO v_lo, v_ref, v_after_txid, v_after_change_id
        FROM ${c.q('handoff_cursor')} AS hc
        WHERE hc.consumer_name = v_consumer
        FOR UPDATE;
        IF NOT FOUND THEN
            ${raiseAt(12, 'HANDOFF_CURSOR_MISSING', `format('no row with consumer_name = %L in %s', v_consumer, '${c.schema}.handoff_cursor')`)}
        END IF;
        -- Rows handed off: those of transactions visible in the position snapshot and, while a
        -- window is split, the window's rows up to the last one taken. A point past the last row
        -- taken of an open window would skip the rows between: refused.
        IF v_after_txid IS NOT NULL AND (p_txid, p_change_id) > (v_after_txid, v_after_change_id) THEN
            ${raiseAt(12, 'HANDOFF_REWIND_FORWARD', `format('handoff_rewind(%s, %s) is past the last row taken (%s, %s) of the open window %s', p_txid, p_change_id, v_after_txid, v_after_change_id, v_ref)`)}
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
        FROM ${l} AS l
        WHERE (l.txid = ANY (ARRAY(SELECT x.xid FROM pg_snapshot_xip(v_new_lo) AS x (xid))) OR l.txid >= v_x)
          AND (l.txid, l.change_id) > (p_txid, p_change_id)
          AND pg_visible_in_snapshot(l.txid, v_ref);
        UPDATE ${c.q('handoff_cursor')} AS hc
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
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}(xid8, bigint)`,
      'Rewinds the handoff cursor so that the next batches replay every changelog row handed off after (p_txid, p_change_id) in (txid, change_id) order, then continue from the current position (replays are harmless: upserts by object key, events deduplicated; rows not yet handed off stay pending, so a rewind never skips one). Returns how many rows will be replayed. Refuses (BG221) a point past the last row taken of a split window. Waits for a running batch.',
    )}`;
}
