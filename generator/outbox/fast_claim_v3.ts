/**
 * Outbox delivery, second round (000013):
 *
 *  1. Speed of the worker loop. outbox_ack skips its id-accounting query when every id was
 *     acknowledged. No function forces a plan-cache mode: a plan cached while a table was small
 *     (or, for outbox_claim, a generic plan that estimates LIMIT p_limit as 10 % of the backlog)
 *     can turn into a full scan per call once the table is large, so plans stay PostgreSQL's
 *     choice (custom plans, re-planned after ANALYZE).
 *
 *  2. Exactly-once across a replay of the handoff. A rewound cursor (handoff_rewind, an operator
 *     replay) re-reads changelog rows whose events were already acknowledged (and left
 *     event_outbox) or dead-lettered; the handoff then emitted them again. Now:
 *      - each receipt also keeps the source changelog rows of the events it acknowledged
 *        (source_change_ids; one BORN changelog row is one event key (event_type, object_key,
 *        born_at)), range-indexed like the outbox ids;
 *      - a BEFORE INSERT trigger on event_outbox and event_pending (_100_replay_guard) drops an
 *        event whose key is in event_dead_letter or whose source row is in a retained receipt,
 *        and counts it (replay_deduplicated). Re-drives (redrive_count > 0) pass;
 *      - a receipt purged after the retention cannot deduplicate: outbox_purge records the highest
 *        source row it purged (outbox_config.purged_through_change_id); an event emitted at or
 *        below it with nothing to match is let through (at-least-once: never lose one) and counted
 *        (replay_unverified), reported by v_outbox_findings as replay_past_retention.
 */
import { receiptHas } from './functions.js';
import type { Ctx } from '../lib/ctx.js';
import { columnComments, comment, commentTrigger } from '../lib/migration.js';
import { PINNED_SEARCH_PATH, lit, orReplace, qi, replaceOnce, sqlText } from '../lib/sql.js';
import { findingsView } from './views.js';
import { BORN_EVENT } from '../handoff/common.js';
import { MAX_IDS, MAX_PURGE, MAX_WORKER, raiseAt } from './common.js';

/** Counters of outbox_counter: 000008's and the two replay counters. */
const COUNTERS_V2 = ['dead_lettered', 'redriven', 'expired_claims', 'stale_acks', 'purged'];
const COUNTERS_V3 = [...COUNTERS_V2, 'replay_deduplicated', 'replay_unverified'];
const inList = (xs: string[]) => `(${xs.map(lit).join(', ')})`;

/** CREATE FUNCTION ... -> CREATE OR REPLACE FUNCTION ... (for replacing a 000008 definition, Up or Down). */
export { orReplace };

export function receiptColumnsV3(c: Ctx): string {
  const t = c.q('outbox_receipt');
  return sqlText`
    ALTER TABLE ${t}
        ADD COLUMN IF NOT EXISTS source_change_ids bigint[],
        ADD COLUMN IF NOT EXISTS min_source_change_id bigint,
        ADD COLUMN IF NOT EXISTS max_source_change_id bigint;
    ALTER TABLE ${t} ADD CONSTRAINT outbox_receipt_source_check CHECK (
        (source_change_ids IS NULL AND min_source_change_id IS NULL AND max_source_change_id IS NULL)
        OR (cardinality(source_change_ids) = events AND array_position(source_change_ids, NULL) IS NULL
            AND min_source_change_id <= max_source_change_id));
    -- "was the event of this changelog row delivered?" (the replay guard): the receipts whose
    -- source range covers it, then the array
    CREATE INDEX ${qi('outbox_receipt_source_range_idx')} ON ${t} USING gist (int8range(min_source_change_id, max_source_change_id, '[]')) WHERE min_source_change_id IS NOT NULL;
    -- the replay guard's fast path: the highest source row any receipt or dead letter settled
    -- (one index probe each; an event above both cannot be a replay)
    CREATE INDEX ${qi('outbox_receipt_max_source_idx')} ON ${t} (max_source_change_id);
    CREATE INDEX ${qi('event_dead_letter_source_change_id_idx')} ON ${c.q('event_dead_letter')} (source_change_id);
    ${columnComments(c, 'outbox_receipt', {
      source_change_ids: 'The registry_changelog rows (source_change_id) of the acknowledged events, in the order of outbox_ids; the replay guard (_100_replay_guard) drops a re-emission of any of them. NULL in receipts written before migration 000013.',
      min_source_change_id: 'Lowest of source_change_ids (the GiST range index covers min..max).',
      max_source_change_id: 'Highest of source_change_ids.',
    })}
    ALTER TABLE ${c.q('outbox_config')} ADD COLUMN IF NOT EXISTS purged_through_change_id bigint;
    ${columnComments(c, 'outbox_config', {
      purged_through_change_id: 'Kept by outbox_purge() (not a setting): the highest source changelog row whose receipt was purged. An event emitted at or below it that no receipt or dead letter matches may be a replay the purged receipts could have caught; it is delivered (at-least-once) and counted as replay_unverified.',
    })}
    ALTER TABLE ${c.q('outbox_counter')} DROP CONSTRAINT outbox_counter_counter_check;
    ALTER TABLE ${c.q('outbox_counter')} ADD CONSTRAINT outbox_counter_counter_check CHECK (counter IN ${inList(COUNTERS_V3)});
    ${comment('TABLE', c.q('outbox_counter'), 'Insert-only log of outbox events that leave no row behind (dead_lettered, redriven, expired_claims, stale_acks, purged, replay_deduplicated: a replayed emission dropped because the event was delivered or dead-lettered, replay_unverified: a replayed emission past the retained receipts, delivered again); v_outbox_status sums it. Insert-only so that concurrent workers never wait on a counter row; outbox_purge() folds it into one row per counter.')}`;
}

export function dropReceiptColumnsV3(c: Ctx): string {
  const t = c.q('outbox_receipt');
  return sqlText`
    DELETE FROM ${c.q('outbox_counter')} WHERE counter NOT IN ${inList(COUNTERS_V2)};
    ALTER TABLE ${c.q('outbox_counter')} DROP CONSTRAINT outbox_counter_counter_check;
    ALTER TABLE ${c.q('outbox_counter')} ADD CONSTRAINT outbox_counter_counter_check CHECK (counter IN ${inList(COUNTERS_V2)});
    ${comment('TABLE', c.q('outbox_counter'), 'Insert-only log of outbox events that leave no row behind (dead_lettered, redriven, expired_claims, stale_acks, purged); v_outbox_status sums it. Insert-only so that concurrent workers never wait on a counter row; outbox_purge() folds it into one row per counter.')}
    ALTER TABLE ${c.q('outbox_config')} DROP COLUMN purged_through_change_id;
    DROP INDEX ${c.q('event_dead_letter_source_change_id_idx')};
    DROP INDEX ${c.q('outbox_receipt_max_source_idx')};
    DROP INDEX ${c.q('outbox_receipt_source_range_idx')};
    ALTER TABLE ${t} DROP CONSTRAINT outbox_receipt_source_check;
    ALTER TABLE ${t}
        DROP COLUMN max_source_change_id,
        DROP COLUMN min_source_change_id,
        DROP COLUMN source_change_ids;`;
}

export function ackFunctionV3(c: Ctx): string {
  const fn = c.q('outbox_ack');
  const pad = (s: string, n: number) => s.replaceAll('\n', `\n${' '.repeat(n)}`);
  const checkIds = sqlText`
    IF p_outbox_ids IS NULL OR array_position(p_outbox_ids, NULL) IS NOT NULL OR cardinality(p_outbox_ids) > ${MAX_IDS} THEN
        ${raiseAt(8, 'OUTBOX_INVALID_IDS', `format('outbox_ack(p_outbox_ids => %s): %s', CASE WHEN p_outbox_ids IS NULL THEN 'NULL' ELSE format('%s ids', cardinality(p_outbox_ids)) END, CASE WHEN p_outbox_ids IS NULL THEN 'must not be NULL' WHEN cardinality(p_outbox_ids) > ${MAX_IDS} THEN 'at most ${MAX_IDS} ids per call' ELSE 'contains NULL' END)`)}
    END IF;`;
  const checkWorker = sqlText`
    IF p_worker IS NOT NULL AND (btrim(p_worker) = '' OR length(p_worker) > ${MAX_WORKER}) THEN
        ${raiseAt(8, 'OUTBOX_INVALID_WORKER', `format('outbox_ack(p_worker => %s): must be 1 to ${MAX_WORKER} characters, not blank (got %s characters)', coalesce(quote_literal(left(p_worker, 100)), 'NULL'), coalesce(length(p_worker)::text, 'NULL'))`)}
    END IF;`;
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}(p_outbox_ids bigint[], p_worker text DEFAULT NULL)
    RETURNS integer
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    AS $fn$
    DECLARE
        v_now timestamptz := clock_timestamp();
        v_acked integer;
        v_distinct integer;
        v_unknown bigint[];
        v_stale integer;
    BEGIN
        ${pad(checkIds, 8)}
        ${pad(checkWorker, 8)}
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
            DELETE FROM ${c.q('event_outbox')} AS o
            WHERE o.outbox_id = ANY (p_outbox_ids)
              AND o.delivered_at IS NULL
              AND o.claimed_by IS NOT NULL
              AND (p_worker IS NULL OR o.claimed_by = p_worker)
            RETURNING o.outbox_id, o.source_change_id
        )
        INSERT INTO ${c.q('outbox_receipt')} AS r (delivered_at, acked_by, outbox_ids, events, min_outbox_id, max_outbox_id,
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
            WHERE NOT EXISTS (SELECT 1 FROM ${c.q('event_outbox')} AS o WHERE o.outbox_id = u.id)
              AND NOT EXISTS (SELECT 1 FROM ${c.q('event_dead_letter')} AS d WHERE d.outbox_id = u.id)
              AND NOT EXISTS (SELECT 1 FROM ${receiptHas(c, 'r', 'u.id')});
            IF v_unknown IS NOT NULL THEN
                ${raiseAt(16, 'OUTBOX_UNKNOWN_ID', `format('outbox_ack: %s of %s ids are neither in %s, %s nor %s: %s', cardinality(v_unknown), v_distinct, '${c.schema}.event_outbox', '${c.schema}.event_dead_letter', '${c.schema}.outbox_receipt', array_to_string(v_unknown[1:10], ', ') || CASE WHEN cardinality(v_unknown) > 10 THEN ', ...' ELSE '' END)`)}
            END IF;
            IF p_worker IS NOT NULL THEN
                SELECT count(*)::integer INTO v_stale
                FROM ${c.q('event_outbox')} AS o
                WHERE o.outbox_id = ANY (p_outbox_ids)
                  AND o.delivered_at IS NULL
                  AND o.claimed_by IS DISTINCT FROM p_worker;
                IF v_stale > 0 THEN
                    INSERT INTO ${c.q('outbox_counter')} (counter, amount, at) VALUES ('stale_acks', v_stale, v_now);
                END IF;
            END IF;
        END IF;
        RETURN v_acked;
    END;
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}(bigint[], text)`,
      `Acknowledges claimed events as delivered and returns how many were acknowledged by this call: they leave event_outbox and one outbox_receipt row records their ids and source changelog rows (a replay of the handoff does not emit them again while the receipt is retained); an id already acknowledged counts 0, so every event is acknowledged exactly once. Only claimed events are acknowledged: an unclaimed one (never claimed, backing off after a failure) or a dead-lettered one counts 0. With p_worker (recommended: the name given to outbox_claim) the acknowledgement is fenced: an event whose claim expired and was taken over by another worker is refused (counts 0, stays with its new holder, counted as stale_acks in v_outbox_status); the late worker's delivery then is a duplicate the receiver must tolerate (at-least-once). Without p_worker any current claim is acknowledged. Ids that exist nowhere (never, or their receipt purged after the retention): BG504 and nothing is acknowledged. At most ${MAX_IDS} ids.`,
    )}`;
}

/** outbox_purge, 000013: as 000008, and it records the highest source changelog row it purged. */
export function purgeFunctionV3(c: Ctx): string {
  const fn = c.q('outbox_purge');
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}(p_limit integer DEFAULT 10000)
    RETURNS integer
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    AS $fn$
    DECLARE
        v_now timestamptz := clock_timestamp();
        v_retention interval;
        v_purged integer;
        v_oldest timestamptz;
        v_newest timestamptz;
        v_through bigint;
    BEGIN
        IF p_limit IS NULL OR p_limit < 1 OR p_limit > ${MAX_PURGE} THEN
            ${raiseAt(12, 'OUTBOX_INVALID_LIMIT', `format('outbox_purge(p_limit => %s): must be between 1 and ${MAX_PURGE}', coalesce(p_limit::text, 'NULL'))`)}
        END IF;
        SELECT cfg.retention INTO v_retention FROM ${c.q('outbox_config')} AS cfg WHERE cfg.singleton;
        IF NOT FOUND THEN
            ${raiseAt(12, 'OUTBOX_CONFIG_MISSING', `format('no row in %s', '${c.schema}.outbox_config')`)}
        END IF;

        -- oldest receipts first through the primary key (receipts are written in time order, so
        -- the ones past the retention sit at the front); whole receipts, until at least p_limit
        -- events are purged: a call returns less than p_limit only when nothing more is due
        WITH due AS (
            SELECT r.receipt_id, sum(r.events) OVER (ORDER BY r.receipt_id) - r.events AS before
            FROM (SELECT x.receipt_id, x.events FROM ${c.q('outbox_receipt')} AS x
                  WHERE x.delivered_at < v_now - v_retention
                  ORDER BY x.receipt_id
                  LIMIT p_limit
                  FOR UPDATE SKIP LOCKED) AS r
        ),
        gone AS (
            DELETE FROM ${c.q('outbox_receipt')} AS r
            USING due
            WHERE r.receipt_id = due.receipt_id AND due.before < p_limit
            RETURNING r.events, r.delivered_at, r.max_source_change_id
        )
        SELECT coalesce(sum(g.events), 0)::integer, min(g.delivered_at), max(g.delivered_at), max(g.max_source_change_id)
        INTO v_purged, v_oldest, v_newest, v_through FROM gone AS g;

        IF v_purged > 0 THEN
            INSERT INTO ${c.q('outbox_counter')} (counter, amount, at) VALUES ('purged', v_purged, v_now);
            -- from here on a replay of these changelog rows cannot be recognised (the receipts are gone)
            IF v_through IS NOT NULL THEN
                UPDATE ${c.q('outbox_config')} AS cfg
                SET purged_through_change_id = greatest(cfg.purged_through_change_id, v_through)
                WHERE cfg.singleton AND cfg.purged_through_change_id IS DISTINCT FROM greatest(cfg.purged_through_change_id, v_through);
            END IF;
            RAISE NOTICE 'outbox_purge: % acknowledged events purged (delivered % .. %, retention %)', v_purged, v_oldest, v_newest, v_retention;
        END IF;

        -- keep the counter log small: fold it into one row per counter (rows of transactions
        -- still open are not visible here and stay for the next fold)
        IF (SELECT count(*) FROM (SELECT 1 FROM ${c.q('outbox_counter')} LIMIT 1001) AS n) > 1000 THEN
            WITH folded AS (
                DELETE FROM ${c.q('outbox_counter')} RETURNING counter, amount, at
            )
            INSERT INTO ${c.q('outbox_counter')} (counter, amount, at)
            SELECT f.counter, sum(f.amount), max(f.at) FROM folded AS f GROUP BY f.counter;
        END IF;
        RETURN v_purged;
    END;
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}(integer)`,
      `Deletes the receipts (outbox_receipt) of acknowledged events delivered longer ago than outbox_config.retention, oldest first, whole receipts until at least p_limit (1..${MAX_PURGE}) events are covered, and returns how many events they held (less than p_limit only when nothing more is due); never silently: every purge is counted (v_outbox_status.purged_total, last_purge_at, the purged finding of v_outbox_findings) and raises a NOTICE. Records the highest source changelog row purged (outbox_config.purged_through_change_id): a handoff replay reaching below it can no longer be deduplicated and is reported (replay_past_retention). Call it from cron until it returns less than p_limit. Undelivered and dead-lettered events are never purged; after the purge a repeated acknowledgement of a purged id raises BG504.`,
    )}`;
}

/** The replay guard: trigger function and its triggers on both event lanes. */
export const REPLAY_GUARD = '_100_replay_guard';

/** NEW is the handoff's event of its source changelog row (the row's key), as a plpgsql boolean expression. */
const isChangelogEvent = (c: Ctx) =>
  `(NEW.event_type OPERATOR(pg_catalog.=) ${lit(BORN_EVENT)} AND EXISTS (SELECT 1 FROM ${c.q('registry_changelog')} AS l WHERE l.change_id OPERATOR(pg_catalog.=) NEW.source_change_id AND l.op OPERATOR(pg_catalog.=) 'BORN' AND l.object_key OPERATOR(pg_catalog.=) NEW.object_key AND l.born_at OPERATOR(pg_catalog.=) NEW.born_at))`;

export function replayGuardFunction(c: Ctx): string {
  const fn = c.q('tg_outbox_replay_guard');
  return sqlText`
    CREATE FUNCTION ${fn}()
    RETURNS trigger
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    AS $fn$
    DECLARE
        v_through bigint;
        v_settled bigint;
        v_dup boolean;
    BEGIN
        -- fast path (every emission pays it, so it is three index probes): an event whose source
        -- changelog row is above every row a receipt acknowledged, a dead letter holds or the purge
        -- removed is not a replay of any of them. Only a rewound handoff, or a long transaction's
        -- rows handed off after later ones were settled, take the exact checks below.
        SELECT pg_catalog.max(r.max_source_change_id) INTO v_settled FROM ${c.q('outbox_receipt')} AS r;
        SELECT GREATEST(v_settled, (SELECT pg_catalog.max(d.source_change_id) FROM ${c.q('event_dead_letter')} AS d),
                        (SELECT cfg.purged_through_change_id FROM ${c.q('outbox_config')} AS cfg WHERE cfg.singleton))
          INTO v_settled;
        IF v_settled IS NULL OR NEW.source_change_id OPERATOR(pg_catalog.>) v_settled THEN
            RETURN NEW;
        END IF;
        -- dead-lettered: the same key (event_type, object_key, born_at) waits in event_dead_letter
        -- (outbox_redrive() brings it back; it inserts with redrive_count > 0 and is not checked)
        v_dup := EXISTS (SELECT 1 FROM ${c.q('event_dead_letter')} AS d
                         WHERE d.event_type OPERATOR(pg_catalog.=) NEW.event_type
                           AND d.object_key OPERATOR(pg_catalog.=) NEW.object_key
                           AND d.born_at OPERATOR(pg_catalog.=) NEW.born_at);
        -- acknowledged: a retained receipt lists the event's changelog row, and the event is that
        -- row's (the handoff's event type, same object_key and born_at: the key is the row's)
        IF NOT v_dup
           AND EXISTS (SELECT 1 FROM ${c.q('outbox_receipt')} AS r
                       WHERE r.min_source_change_id IS NOT NULL
                         AND pg_catalog.int8range(r.min_source_change_id, r.max_source_change_id, '[]') OPERATOR(pg_catalog.@>) NEW.source_change_id
                         AND NEW.source_change_id OPERATOR(pg_catalog.=) ANY (r.source_change_ids)) THEN
            v_dup := ${isChangelogEvent(c)};
        END IF;
        IF v_dup THEN
            INSERT INTO ${c.q('outbox_counter')} (counter, amount, at) VALUES ('replay_deduplicated', 1, pg_catalog.clock_timestamp());
            RETURN NULL;
        END IF;
        -- at or below what the purge removed: a replay of a delivered event cannot be told from a
        -- new one any more; deliver it (at-least-once) and say so
        SELECT cfg.purged_through_change_id INTO v_through FROM ${c.q('outbox_config')} AS cfg WHERE cfg.singleton;
        IF NEW.source_change_id OPERATOR(pg_catalog.<=) v_through AND ${isChangelogEvent(c)} THEN
            INSERT INTO ${c.q('outbox_counter')} (counter, amount, at) VALUES ('replay_unverified', 1, pg_catalog.clock_timestamp());
        END IF;
        RETURN NEW;
    END;
    $fn$;
    REVOKE ALL ON FUNCTION ${fn}() FROM PUBLIC;
    CREATE TRIGGER ${qi(REPLAY_GUARD)} BEFORE INSERT ON ${c.q('event_outbox')}
        FOR EACH ROW WHEN (NEW.redrive_count = 0) EXECUTE FUNCTION ${fn}();
    CREATE TRIGGER ${qi(REPLAY_GUARD)} BEFORE INSERT ON ${c.q('event_pending')}
        FOR EACH ROW EXECUTE FUNCTION ${fn}();
    ${comment('FUNCTION', `${fn}()`, 'Replay guard of the event lanes (BEFORE INSERT on event_outbox and event_pending): drops an event that was already dead-lettered (same event_type, object_key, born_at in event_dead_letter) or acknowledged (its source changelog row is in a retained outbox_receipt) and counts it (replay_deduplicated), so a rewound handoff does not deliver it twice. An event at or below outbox_config.purged_through_change_id that nothing matches is let through and counted (replay_unverified): its receipt may have been purged after the retention.')}
    ${commentTrigger(REPLAY_GUARD, c.q('event_outbox'), 'Drops a replayed emission of an event already acknowledged or dead-lettered (tg_outbox_replay_guard); re-drives (redrive_count > 0) pass.')}
    ${commentTrigger(REPLAY_GUARD, c.q('event_pending'), 'Drops a replayed capture of an event already acknowledged or dead-lettered (tg_outbox_replay_guard).')}`;
}

export function dropReplayGuard(c: Ctx): string {
  return sqlText`
    DROP TRIGGER ${qi(REPLAY_GUARD)} ON ${c.q('event_pending')};
    DROP TRIGGER ${qi(REPLAY_GUARD)} ON ${c.q('event_outbox')};
    DROP FUNCTION ${c.q('tg_outbox_replay_guard')}();`;
}

/**
 * v_outbox_replay: what the replay guard did, one row (v_outbox_status keeps its 000008 columns:
 * v_metrics depends on it).
 */
export function replayViewV3(c: Ctx): string {
  const v = c.q('v_outbox_replay');
  const { admin, reader } = c.roles;
  return sqlText`
    CREATE VIEW ${v} AS
    SELECT k.replay_deduplicated_total,
           k.replay_unverified_total,
           k.last_replay_unverified_at,
           cfg.purged_through_change_id,
           d.oldest_receipt_at,
           d.receipts_without_source,
           cfg.retention
    FROM ${c.q('outbox_config')} AS cfg
    CROSS JOIN LATERAL (
        SELECT coalesce(sum(k.amount) FILTER (WHERE k.counter = 'replay_deduplicated'), 0)::bigint AS replay_deduplicated_total,
               coalesce(sum(k.amount) FILTER (WHERE k.counter = 'replay_unverified'), 0)::bigint AS replay_unverified_total,
               max(k.at) FILTER (WHERE k.counter = 'replay_unverified') AS last_replay_unverified_at
        FROM ${c.q('outbox_counter')} AS k
    ) AS k
    CROSS JOIN LATERAL (
        SELECT min(r.delivered_at) AS oldest_receipt_at,
               count(*) FILTER (WHERE r.source_change_ids IS NULL) AS receipts_without_source
        FROM ${c.q('outbox_receipt')} AS r
    ) AS d
    WHERE cfg.singleton;
    ${comment('VIEW', v, 'Replays of the handoff as the outbox saw them, one row: replay_deduplicated_total (re-emissions of acknowledged or dead-lettered events that the replay guard dropped), replay_unverified_total and last_replay_unverified_at (re-emissions at or below purged_through_change_id, whose receipts may have been purged after the retention: delivered again), the oldest retained receipt (a replay reaching further back cannot be deduplicated), receipts written before migration 000013 (no source rows: they cannot deduplicate), and the retention.')}
    REVOKE ALL ON TABLE ${v} FROM PUBLIC;
    GRANT SELECT ON TABLE ${v} TO ${qi(admin)}, ${qi(reader)};`;
}

/** v_outbox_findings, 000013: plus replay_past_retention (warning) and replay_deduplicated (info). */
export function findingsViewV3(c: Ctx): string {
  const s = c.schema;
  let v = replaceOnce(findingsView(c), 'CREATE VIEW ', 'CREATE OR REPLACE VIEW ');
  v = replaceOnce(
    v,
    'FROM st WHERE st.purged_total > 0\n',
    `FROM st WHERE st.purged_total > 0
    UNION ALL
    SELECT 'warning', 'replay_past_retention',
           pg_catalog.format('%s replayed event(s) were emitted again below the purged receipts (changelog rows up to %s, the last at %s): their receipts were purged after the retention of %s, so they may have been delivered twice', rp.replay_unverified_total, rp.purged_through_change_id, rp.last_replay_unverified_at, rp.retention),
           ${lit(`Receivers must deduplicate these by (event_type, object_key, born_at). Rewind the handoff no further back than the retention, or keep receipts longer: SELECT * FROM ${s}.outbox_configure(p_retention => interval '30 days');`)},
           jsonb_build_object('replay_unverified_total', rp.replay_unverified_total, 'purged_through_change_id', rp.purged_through_change_id, 'last_replay_unverified_at', rp.last_replay_unverified_at)
      FROM ${c.q('v_outbox_replay')} AS rp WHERE rp.replay_unverified_total > 0
    UNION ALL
    SELECT 'info', 'replay_deduplicated',
           pg_catalog.format('%s replayed event(s) were not emitted again: already acknowledged or dead-lettered', rp.replay_deduplicated_total),
           ${lit(`Nothing to do: a rewound or replayed handoff re-read changelog rows whose events were delivered (SELECT * FROM ${s}.v_handoff_status)`)},
           jsonb_build_object('replay_deduplicated_total', rp.replay_deduplicated_total)
      FROM ${c.q('v_outbox_replay')} AS rp WHERE rp.replay_deduplicated_total > 0
`,
  );
  return `${v}\n${comment(
    'VIEW',
    c.q('v_outbox_findings'),
    'One row per outbox delivery finding, worst first, shaped like v_drift_report: dead_letters (warning), undelivered_old (oldest undelivered older than alert_after, warning), purge_overdue (acknowledged events past the retention an hour after it: the purge is not scheduled, warning), replay_past_retention (a handoff replay emitted events again below the purged receipts: possibly delivered twice, warning), expired_claims (info), purged (how many acknowledged events the retention removed, info), replay_deduplicated (replayed emissions dropped, info). remedy says what to do. Reading it changes nothing.',
  )}`;
}

/** Down: the 000008 findings view (same columns), then the replay view goes. */
export function restoreViewsV2(c: Ctx): string {
  return [replaceOnce(findingsView(c), 'CREATE VIEW ', 'CREATE OR REPLACE VIEW '), `DROP VIEW ${c.q('v_outbox_replay')};`].join('\n');
}
