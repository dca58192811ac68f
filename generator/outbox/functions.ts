/**
 * The pull API of outbox delivery: outbox_claim, outbox_ack, outbox_fail (workers), and
 * outbox_redrive, outbox_purge, outbox_configure (operators).
 *
 * Lifecycle of an event in event_outbox:
 *   ready (visible_at <= now, unclaimed) --claim--> claimed (claimed_by, claim_expires_at = now + visibility, attempts + 1;
 *           a HOT update: visible_at, the indexed column, stays)
 *   claimed --ack--> delivered: deleted from event_outbox, its id in an outbox_receipt row
 *           --purge after retention--> receipt gone (counted)
 *   claimed --fail, attempts < max--> backing off (unclaimed, visible_at = now + backoff) --> ready
 *   claimed --fail at max attempts--> event_dead_letter  --redrive--> ready (attempts 0)
 *   claimed --visibility expires--> claimable again in its place; the next claim records the expiry
 *           as an error, or dead-letters the event when that claim was its last attempt.
 * All times are clock_timestamp(), so a claim inside a long transaction still sees real time.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { PINNED_SEARCH_PATH, sqlText } from '../lib/sql.js';
import { MAX_CLAIM, MAX_ERROR_TEXT, MAX_IDS, MAX_PURGE, MAX_VISIBILITY, MAX_WORKER, raiseAt } from './common.js';

/** Columns event_dead_letter copies from event_outbox unchanged. */
const EVENT_COLS = 'outbox_id, event_type, object_key, born_at, payload, source_change_id, emitted_at, released_from_pending';

/** plpgsql check of a worker name (NULL allowed when `optional`). */
function checkWorker(fn: string, optional: boolean): string {
  const bad = `btrim(p_worker) = '' OR length(p_worker) > ${MAX_WORKER}`;
  const cond = optional ? `p_worker IS NOT NULL AND (${bad})` : `p_worker IS NULL OR ${bad}`;
  return sqlText`
    IF ${cond} THEN
        ${raiseAt(8, 'OUTBOX_INVALID_WORKER', `format('${fn}(p_worker => %s): must be 1 to ${MAX_WORKER} characters, not blank (got %s characters)', coalesce(quote_literal(left(p_worker, 100)), 'NULL'), coalesce(length(p_worker)::text, 'NULL'))`)}
    END IF;`;
}

/** plpgsql check of an id array: not NULL, no NULL element, at most MAX_IDS. */
function checkIds(fn: string, allowNull: boolean): string {
  const nullCase = allowNull ? '' : `p_outbox_ids IS NULL OR `;
  const guard = allowNull ? `p_outbox_ids IS NOT NULL AND (` : '';
  const close = allowNull ? ')' : '';
  return sqlText`
    IF ${nullCase}${guard}array_position(p_outbox_ids, NULL) IS NOT NULL OR cardinality(p_outbox_ids) > ${MAX_IDS}${close} THEN
        ${raiseAt(8, 'OUTBOX_INVALID_IDS', `format('${fn}(p_outbox_ids => %s): %s', CASE WHEN p_outbox_ids IS NULL THEN 'NULL' ELSE format('%s ids', cardinality(p_outbox_ids)) END, CASE WHEN p_outbox_ids IS NULL THEN 'must not be NULL' WHEN cardinality(p_outbox_ids) > ${MAX_IDS} THEN 'at most ${MAX_IDS} ids per call' ELSE 'contains NULL' END)`)}
    END IF;`;
}

/** The settings row, or BG510. */
function readConfig(c: Ctx, into: string, cols: string): string {
  return sqlText`
    SELECT ${cols} INTO ${into} FROM ${c.q('outbox_config')} AS cfg WHERE cfg.singleton;
    IF NOT FOUND THEN
        ${raiseAt(8, 'OUTBOX_CONFIG_MISSING', `format('no row in %s', '${c.schema}.outbox_config')`)}
    END IF;`;
}

/** The errors-array entry of an expired claim, for row alias `r` (old claim columns). */
const expiryEntry = (r: string, now: string) =>
  `jsonb_build_object('attempt', ${r}.attempts, 'at', ${r}.claim_expires_at, 'worker', ${r}.claimed_by, 'error', ${expiryText(r, now)})`;
const expiryText = (r: string, _now: string) =>
  `format('visibility timeout expired: claimed at %s by %s, neither acknowledged nor failed by %s', ${r}.claimed_at, ${r}.claimed_by, ${r}.claim_expires_at)`;

/** The receipts that hold id `id` (a delivered event). */
export const receiptHas = (c: Ctx, r: string, id: string) =>
  `${c.q('outbox_receipt')} AS ${r} WHERE int8range(${r}.min_outbox_id, ${r}.max_outbox_id, '[]') @> ${id} AND ${id} = ANY (${r}.outbox_ids)`;

export function claimFunction(c: Ctx): string {
  const fn = c.q('outbox_claim');
  const pad = (s: string, n: number) => s.replaceAll('\n', `\n${' '.repeat(n)}`);
  return sqlText`
    CREATE FUNCTION ${fn}(p_worker text, p_limit integer DEFAULT 100, p_visibility interval DEFAULT '30 seconds')
    RETURNS TABLE (outbox_id bigint, event_type text, object_key text, payload jsonb, attempt integer)
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    AS $fn$
    #variable_conflict use_column
    DECLARE
        v_now timestamptz := clock_timestamp();
        v_max integer;
    BEGIN
        ${pad(checkWorker('outbox_claim', false), 8)}
        IF p_limit IS NULL OR p_limit < 1 OR p_limit > ${MAX_CLAIM} THEN
            ${raiseAt(12, 'OUTBOX_INVALID_LIMIT', `format('outbox_claim(p_limit => %s): must be between 1 and ${MAX_CLAIM}', coalesce(p_limit::text, 'NULL'))`)}
        END IF;
        IF p_visibility IS NULL OR p_visibility <= '0'::interval OR p_visibility > '${MAX_VISIBILITY}'::interval THEN
            ${raiseAt(12, 'OUTBOX_INVALID_VISIBILITY', `format('outbox_claim(p_visibility => %s): must be above 0 and at most ${MAX_VISIBILITY}', coalesce(p_visibility::text, 'NULL'))`)}
        END IF;
        ${pad(readConfig(c, 'v_max', 'cfg.max_attempts'), 8)}

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
            FROM ${c.q('event_outbox')} AS o
            WHERE o.delivered_at IS NULL
              AND o.visible_at <= v_now
              AND (o.claim_expires_at IS NULL OR o.claim_expires_at <= v_now)
            ORDER BY o.visible_at, o.outbox_id
            LIMIT p_limit
            FOR UPDATE OF o SKIP LOCKED
        ),
        dead AS (
            DELETE FROM ${c.q('event_outbox')} AS o
            USING cand
            WHERE o.outbox_id = cand.id AND cand.exhausted
            RETURNING o.outbox_id, o.event_type, o.object_key, o.born_at, o.payload, o.source_change_id, o.emitted_at,
                      o.released_from_pending, o.attempts, o.errors || jsonb_build_array(${expiryEntry('o', 'v_now')}) AS errors,
                      ${expiryText('o', 'v_now')} AS last_error, o.redrive_count, o.claimed_by
        ),
        dead_lettered AS (
            INSERT INTO ${c.q('event_dead_letter')} (${EVENT_COLS}, attempts, errors, last_error, redrive_count, dead_lettered_at, dead_lettered_by)
            SELECT d.outbox_id, d.event_type, d.object_key, d.born_at, d.payload, d.source_change_id, d.emitted_at, d.released_from_pending,
                   d.attempts, d.errors, d.last_error, d.redrive_count, v_now, d.claimed_by
            FROM dead AS d
            ON CONFLICT DO NOTHING
            RETURNING 1
        ),
        claimed AS (
            UPDATE ${c.q('event_outbox')} AS o
            SET attempts = o.attempts + 1,
                claimed_by = p_worker,
                claimed_at = v_now,
                claim_expires_at = v_now + p_visibility,
                errors = CASE WHEN cand.expired THEN o.errors || jsonb_build_array(${expiryEntry('o', 'v_now')}) ELSE o.errors END,
                last_error = CASE WHEN cand.expired THEN ${expiryText('o', 'v_now')} ELSE o.last_error END
            FROM cand
            WHERE o.outbox_id = cand.id AND NOT cand.exhausted
            RETURNING o.outbox_id, o.event_type, o.object_key, o.payload, o.attempts, cand.expired, cand.was_visible_at
        ),
        counted AS (
            INSERT INTO ${c.q('outbox_counter')} (counter, amount, at)
            SELECT k.counter, k.amount, v_now
            FROM (VALUES ('dead_lettered', (SELECT count(*) FROM dead_lettered)),
                         ('expired_claims', (SELECT count(*) FROM claimed AS x WHERE x.expired) + (SELECT count(*) FROM dead))) AS k (counter, amount)
            WHERE k.amount > 0
        )
        SELECT x.outbox_id, x.event_type, x.object_key, x.payload, x.attempts
        FROM claimed AS x
        ORDER BY x.was_visible_at, x.outbox_id;
    END;
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}(text, integer, interval)`,
      `Claims up to p_limit (1..${MAX_CLAIM}) claimable events for worker p_worker with FOR UPDATE SKIP LOCKED (concurrent workers get disjoint sets and never wait) and hides them for p_visibility (above 0, at most ${MAX_VISIBILITY}); returns them in the order taken: by visible_at, then outbox_id (new events in emission order; an event whose backoff ended joins behind the events already claimable; an event whose claim expired is claimable again in its old place). attempt counts this claim. A claim neither acknowledged nor failed within p_visibility becomes claimable again; the next claim records the expiry in errors, or moves the event to event_dead_letter when that was its last attempt (so a poison event that crashes its workers ends in the dead letter table). May return fewer than p_limit rows while other workers hold events. No order across workers or per object key: workers must be idempotent.`,
    )}`;
}

export function ackFunction(c: Ctx): string {
  const fn = c.q('outbox_ack');
  const pad = (s: string, n: number) => s.replaceAll('\n', `\n${' '.repeat(n)}`);
  return sqlText`
    CREATE FUNCTION ${fn}(p_outbox_ids bigint[], p_worker text DEFAULT NULL)
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
        ${pad(checkIds('outbox_ack', false), 8)}
        ${pad(checkWorker('outbox_ack', true), 8)}
        IF cardinality(p_outbox_ids) = 0 THEN
            RETURN 0;
        END IF;

        -- Exactly once: only a claimed event still in event_outbox is acknowledged; it leaves
        -- the table in this statement, so a second acknowledgement (or a concurrent one, which
        -- waits for the row and re-checks) finds nothing and counts 0. With p_worker, only the
        -- worker holding the claim can acknowledge it: a worker whose claim expired and was
        -- taken over is refused (0). One receipt row records the delivered ids.
        WITH gone AS (
            DELETE FROM ${c.q('event_outbox')} AS o
            WHERE o.outbox_id = ANY (p_outbox_ids)
              AND o.delivered_at IS NULL
              AND o.claimed_by IS NOT NULL
              AND (p_worker IS NULL OR o.claimed_by = p_worker)
            RETURNING o.outbox_id
        )
        INSERT INTO ${c.q('outbox_receipt')} AS r (delivered_at, acked_by, outbox_ids, events, min_outbox_id, max_outbox_id)
        SELECT v_now, p_worker, array_agg(g.outbox_id ORDER BY g.outbox_id), count(*), min(g.outbox_id), max(g.outbox_id)
        FROM gone AS g
        HAVING count(*) > 0
        RETURNING r.events INTO v_acked;
        v_acked := coalesce(v_acked, 0);

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
      `Acknowledges claimed events as delivered and returns how many were acknowledged by this call: they leave event_outbox and one outbox_receipt row records their ids; an id already acknowledged counts 0, so every event is acknowledged exactly once. Only claimed events are acknowledged: an unclaimed one (never claimed, backing off after a failure) or a dead-lettered one counts 0. With p_worker (recommended: the name given to outbox_claim) the acknowledgement is fenced: an event whose claim expired and was taken over by another worker is refused (counts 0, stays with its new holder, counted as stale_acks in v_outbox_status); the late worker's delivery then is a duplicate the receiver must tolerate (at-least-once). Without p_worker any current claim is acknowledged. Ids that exist nowhere (never, or their receipt purged after the retention): BG504 and nothing is acknowledged. At most ${MAX_IDS} ids.`,
    )}`;
}

export function failFunction(c: Ctx): string {
  const fn = c.q('outbox_fail');
  const pad = (s: string, n: number) => s.replaceAll('\n', `\n${' '.repeat(n)}`);
  return sqlText`
    CREATE FUNCTION ${fn}(p_outbox_id bigint, p_error text, p_worker text DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    AS $fn$
    DECLARE
        v_now timestamptz := clock_timestamp();
        v_cfg record;
        v_row record;
        v_receipt record;
        v_error text;
        v_entry jsonb;
        v_seconds double precision;
    BEGIN
        IF p_outbox_id IS NULL THEN
            ${raiseAt(12, 'OUTBOX_INVALID_IDS', `'outbox_fail(p_outbox_id => NULL): must not be NULL'`)}
        END IF;
        IF p_error IS NULL OR btrim(p_error) = '' THEN
            ${raiseAt(12, 'OUTBOX_INVALID_ERROR_TEXT', `format('outbox_fail(%s, p_error => %s): say what went wrong', p_outbox_id, coalesce(quote_literal(left(p_error, 100)), 'NULL'))`)}
        END IF;
        ${pad(checkWorker('outbox_fail', true), 8)}
        ${pad(readConfig(c, 'v_cfg', 'cfg.max_attempts, cfg.backoff_base, cfg.backoff_max'), 8)}

        SELECT o.outbox_id, o.attempts, o.claimed_by, o.claimed_at, o.delivered_at, o.errors
        INTO v_row
        FROM ${c.q('event_outbox')} AS o
        WHERE o.outbox_id = p_outbox_id
        FOR UPDATE;
        IF NOT FOUND THEN
            IF EXISTS (SELECT 1 FROM ${c.q('event_dead_letter')} AS d WHERE d.outbox_id = p_outbox_id) THEN
                ${raiseAt(16, 'OUTBOX_DEAD_LETTERED', `format('outbox_fail(%s): the event is in %s', p_outbox_id, '${c.schema}.event_dead_letter')`)}
            END IF;
            SELECT r.receipt_id, r.delivered_at, r.acked_by INTO v_receipt FROM ${receiptHas(c, 'r', 'p_outbox_id')} LIMIT 1;
            IF FOUND THEN
                ${raiseAt(16, 'OUTBOX_ALREADY_DELIVERED', `format('outbox_fail(%s): acknowledged at %s by %s (receipt %s)', p_outbox_id, v_receipt.delivered_at, coalesce(left(v_receipt.acked_by, 100), 'a worker without a name'), v_receipt.receipt_id)`)}
            END IF;
            ${raiseAt(12, 'OUTBOX_UNKNOWN_ID', `format('outbox_fail(%s): no such event in %s, %s or %s', p_outbox_id, '${c.schema}.event_outbox', '${c.schema}.event_dead_letter', '${c.schema}.outbox_receipt')`)}
        END IF;
        IF v_row.delivered_at IS NOT NULL THEN
            ${raiseAt(12, 'OUTBOX_ALREADY_DELIVERED', `format('outbox_fail(%s): marked delivered at %s', p_outbox_id, v_row.delivered_at)`)}
        END IF;
        IF v_row.claimed_by IS NULL OR (p_worker IS NOT NULL AND v_row.claimed_by <> p_worker) THEN
            ${raiseAt(12, 'OUTBOX_NOT_CLAIMED', `format('outbox_fail(%s, p_worker => %s): %s', p_outbox_id, coalesce(quote_literal(left(p_worker, 100)), 'NULL'), CASE WHEN v_row.claimed_by IS NULL THEN 'the event is not claimed' ELSE format('claimed by %L since %s', left(v_row.claimed_by, 100), v_row.claimed_at) END)`)}
        END IF;

        v_error := CASE WHEN length(p_error) > ${MAX_ERROR_TEXT}
                        THEN left(p_error, ${MAX_ERROR_TEXT}) || format(' [truncated: %s characters in all]', length(p_error))
                        ELSE p_error END;
        v_entry := jsonb_build_object('attempt', v_row.attempts, 'at', v_now, 'worker', v_row.claimed_by, 'error', v_error);

        IF v_row.attempts >= v_cfg.max_attempts THEN
            WITH dead AS (
                DELETE FROM ${c.q('event_outbox')} AS o
                WHERE o.outbox_id = p_outbox_id
                RETURNING o.*
            )
            INSERT INTO ${c.q('event_dead_letter')} (${EVENT_COLS}, attempts, errors, last_error, redrive_count, dead_lettered_at, dead_lettered_by)
            SELECT d.outbox_id, d.event_type, d.object_key, d.born_at, d.payload, d.source_change_id, d.emitted_at, d.released_from_pending,
                   d.attempts, d.errors || jsonb_build_array(v_entry), v_error, d.redrive_count, v_now, d.claimed_by
            FROM dead AS d;
            INSERT INTO ${c.q('outbox_counter')} (counter, amount, at) VALUES ('dead_lettered', 1, v_now);
            RETURN 'dead';
        END IF;

        -- bounded exponential backoff with jitter: base * 2^(attempts - 1), at most backoff_max,
        -- then a random point in [half, full] so that failing workers do not retry in lockstep
        v_seconds := least(extract(epoch FROM v_cfg.backoff_max),
                           extract(epoch FROM v_cfg.backoff_base) * power(2::double precision, least(greatest(v_row.attempts - 1, 0), 62)));
        v_seconds := v_seconds * (0.5 + random() * 0.5);
        UPDATE ${c.q('event_outbox')} AS o
        SET claimed_by = NULL,
            claimed_at = NULL,
            claim_expires_at = NULL,
            visible_at = v_now + make_interval(secs => v_seconds),
            errors = o.errors || jsonb_build_array(v_entry),
            last_error = v_error
        WHERE o.outbox_id = p_outbox_id;
        RETURN 'retry';
    END;
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}(bigint, text, text)`,
      `Records a failed delivery of a claimed event: appends {attempt, at, worker, error} to errors (error text kept up to ${MAX_ERROR_TEXT} characters, a longer one is cut and says so), releases the claim and returns 'retry' (claimable again after a bounded exponential backoff with jitter: backoff_base * 2^(attempts-1), at most backoff_max, jittered into [half, full]) or, when this was attempt max_attempts, 'dead' (moved to event_dead_letter with every error). With p_worker only the claim holder may fail it. Errors: BG504 unknown id, BG505 empty error text, BG506 not claimed (by this worker), BG507 already acknowledged, BG508 already dead-lettered; nothing changes on error.`,
    )}`;
}

export function redriveFunction(c: Ctx): string {
  const fn = c.q('outbox_redrive');
  const pad = (s: string, n: number) => s.replaceAll('\n', `\n${' '.repeat(n)}`);
  return sqlText`
    CREATE FUNCTION ${fn}(p_outbox_ids bigint[] DEFAULT NULL)
    RETURNS integer
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    AS $fn$
    DECLARE
        v_now timestamptz := clock_timestamp();
        v_unknown bigint[];
        v_moved integer;
    BEGIN
        ${pad(checkIds('outbox_redrive', true), 8)}
        IF p_outbox_ids IS NOT NULL THEN
            SELECT array_agg(u.id ORDER BY u.id) INTO v_unknown
            FROM (SELECT DISTINCT x.id FROM unnest(p_outbox_ids) AS x (id)) AS u
            WHERE NOT EXISTS (SELECT 1 FROM ${c.q('event_dead_letter')} AS d WHERE d.outbox_id = u.id)
              AND NOT EXISTS (SELECT 1 FROM ${c.q('event_outbox')} AS o WHERE o.outbox_id = u.id);
            IF v_unknown IS NOT NULL THEN
                ${raiseAt(16, 'OUTBOX_UNKNOWN_ID', `format('outbox_redrive: %s ids are neither in %s nor in %s: %s', cardinality(v_unknown), '${c.schema}.event_dead_letter', '${c.schema}.event_outbox', array_to_string(v_unknown[1:10], ', ') || CASE WHEN cardinality(v_unknown) > 10 THEN ', ...' ELSE '' END)`)}
            END IF;
        END IF;

        WITH moved AS (
            DELETE FROM ${c.q('event_dead_letter')} AS d
            WHERE p_outbox_ids IS NULL OR d.outbox_id = ANY (p_outbox_ids)
            RETURNING d.*
        ),
        back AS (
            INSERT INTO ${c.q('event_outbox')} (${EVENT_COLS}, attempts, errors, last_error, redrive_count, visible_at)
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
            INSERT INTO ${c.q('outbox_counter')} (counter, amount, at) VALUES ('redriven', v_moved, v_now);
        END IF;
        RETURN v_moved;
    END;
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}(bigint[])`,
      `Moves dead-lettered events (all of them when p_outbox_ids is NULL) back to event_outbox under their own outbox_id, claimable at once, with attempts reset to 0 and redrive_count + 1; their errors stay. Returns how many moved; an id already back in the outbox counts 0 (repeating a re-drive is harmless); an id in neither table: BG504 and nothing moves. At most ${MAX_IDS} ids.`,
    )}`;
}

export function purgeFunction(c: Ctx): string {
  const fn = c.q('outbox_purge');
  const pad = (s: string, n: number) => s.replaceAll('\n', `\n${' '.repeat(n)}`);
  return sqlText`
    CREATE FUNCTION ${fn}(p_limit integer DEFAULT 10000)
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
    BEGIN
        IF p_limit IS NULL OR p_limit < 1 OR p_limit > ${MAX_PURGE} THEN
            ${raiseAt(12, 'OUTBOX_INVALID_LIMIT', `format('outbox_purge(p_limit => %s): must be between 1 and ${MAX_PURGE}', coalesce(p_limit::text, 'NULL'))`)}
        END IF;
        ${pad(readConfig(c, 'v_retention', 'cfg.retention'), 8)}

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
            RETURNING r.events, r.delivered_at
        )
        SELECT coalesce(sum(g.events), 0)::integer, min(g.delivered_at), max(g.delivered_at) INTO v_purged, v_oldest, v_newest FROM gone AS g;

        IF v_purged > 0 THEN
            INSERT INTO ${c.q('outbox_counter')} (counter, amount, at) VALUES ('purged', v_purged, v_now);
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
      `Deletes the receipts (outbox_receipt) of acknowledged events delivered longer ago than outbox_config.retention, oldest first, whole receipts until at least p_limit (1..${MAX_PURGE}) events are covered, and returns how many events they held (less than p_limit only when nothing more is due); never silently: every purge is counted (v_outbox_status.purged_total, last_purge_at, the purged finding of v_outbox_findings) and raises a NOTICE. Call it from cron until it returns less than p_limit. Undelivered and dead-lettered events are never purged; after the purge a repeated acknowledgement of a purged id raises BG504.`,
    )}`;
}

export function configureFunction(c: Ctx): string {
  const fn = c.q('outbox_configure');
  const pad = (s: string, n: number) => s.replaceAll('\n', `\n${' '.repeat(n)}`);
  return sqlText`
    CREATE FUNCTION ${fn}(
        p_max_attempts integer DEFAULT NULL,
        p_backoff_base interval DEFAULT NULL,
        p_backoff_max interval DEFAULT NULL,
        p_retention interval DEFAULT NULL,
        p_alert_after interval DEFAULT NULL)
    RETURNS TABLE (max_attempts integer, backoff_base interval, backoff_max interval, retention interval, alert_after interval)
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    AS $fn$
    #variable_conflict use_column
    DECLARE
        v_old record;
        v_max_attempts integer;
        v_base interval;
        v_max interval;
        v_retention interval;
        v_alert interval;
    BEGIN
        SELECT cfg.max_attempts, cfg.backoff_base, cfg.backoff_max, cfg.retention, cfg.alert_after INTO v_old
        FROM ${c.q('outbox_config')} AS cfg WHERE cfg.singleton FOR UPDATE;
        IF NOT FOUND THEN
            ${raiseAt(12, 'OUTBOX_CONFIG_MISSING', `format('no row in %s', '${c.schema}.outbox_config')`)}
        END IF;
        v_max_attempts := coalesce(p_max_attempts, v_old.max_attempts);
        v_base := coalesce(p_backoff_base, v_old.backoff_base);
        v_max := coalesce(p_backoff_max, v_old.backoff_max);
        v_retention := coalesce(p_retention, v_old.retention);
        v_alert := coalesce(p_alert_after, v_old.alert_after);
        IF v_max_attempts NOT BETWEEN 1 AND 1000
           OR v_base <= '0'::interval OR v_max < v_base OR v_max > '1 day'::interval
           OR v_retention < '1 minute'::interval OR v_alert <= '0'::interval THEN
            ${raiseAt(12, 'OUTBOX_INVALID_SETTING', `format('outbox_configure: max_attempts %s, backoff_base %s, backoff_max %s, retention %s, alert_after %s', v_max_attempts, v_base, v_max, v_retention, v_alert)`)}
        END IF;
        UPDATE ${c.q('outbox_config')} AS cfg
        SET max_attempts = v_max_attempts, backoff_base = v_base, backoff_max = v_max, retention = v_retention,
            alert_after = v_alert, updated_at = now(), updated_by = session_user
        WHERE cfg.singleton;
        RETURN QUERY SELECT v_max_attempts, v_base, v_max, v_retention, v_alert;
    END;
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}(integer, interval, interval, interval, interval)`,
      'Changes the outbox delivery settings (NULL keeps a value) and returns them: max_attempts 1..1000, backoff_base above 0, backoff_max between backoff_base and 1 day, retention at least 1 minute, alert_after above 0; anything else BG509 and nothing changes. Applies to the next claim, failure and purge.',
    )}`;
}
