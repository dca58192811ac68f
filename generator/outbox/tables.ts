/**
 * Outbox delivery storage: the claim/visibility/attempt columns of event_outbox and its claim
 * index, outbox_receipt (one row per acknowledgement call: which ids were delivered, when, by
 * whom), event_dead_letter, outbox_config (one row of settings) and outbox_counter (an
 * insert-only log of what happened that leaves no row behind: dead-lettered, re-driven, expired
 * claims, refused stale acknowledgements, purged).
 *
 * Storage is shaped for the hot path (claim, then acknowledge):
 *  - a claim changes only columns no index covers (attempts, claimed_by, claimed_at,
 *    claim_expires_at), and the table keeps free space on every page (fillfactor), so the claim is
 *    a HOT update: no new index entries, the new row version on the same page;
 *  - an acknowledgement deletes the events from event_outbox and writes one small receipt row per
 *    call (the delivered ids as an array), so the hot table holds only undelivered events and
 *    VACUUM gives the space of delivered ones back for new events.
 *
 * Every new event_outbox column has a default, so the handoff's INSERT (which names only the
 * 0.1 columns) keeps working unchanged.
 */
import type { Ctx } from '../lib/ctx.js';
import { columnComments, comment } from '../lib/migration.js';
import { qi, sqlText } from '../lib/sql.js';

/** Free space left on each event_outbox page for the claim's HOT update (a new row version per claim). */
export const OUTBOX_FILLFACTOR = 45;

/** The 0.1 definition of the undelivered index (000001), restored by the Down section. */
function undeliveredIndexV1(c: Ctx): string {
  return `CREATE INDEX ${qi('event_outbox_undelivered_idx')} ON ${c.q('event_outbox')} (${qi('outbox_id')}) WHERE delivered_at IS NULL;`;
}

export function outboxColumns(c: Ctx): string {
  const t = c.q('event_outbox');
  return sqlText`
    ALTER TABLE ${t}
        ADD COLUMN IF NOT EXISTS visible_at timestamptz NOT NULL DEFAULT now(),
        ADD COLUMN IF NOT EXISTS claimed_by text,
        ADD COLUMN IF NOT EXISTS claimed_at timestamptz,
        ADD COLUMN IF NOT EXISTS claim_expires_at timestamptz,
        ADD COLUMN IF NOT EXISTS errors jsonb NOT NULL DEFAULT '[]'::jsonb,
        ADD COLUMN IF NOT EXISTS redrive_count integer NOT NULL DEFAULT 0;
    ALTER TABLE ${t}
        ADD CONSTRAINT event_outbox_claim_consistent CHECK ((claimed_by IS NULL) = (claimed_at IS NULL) AND (claimed_at IS NULL) = (claim_expires_at IS NULL)),
        ADD CONSTRAINT event_outbox_errors_is_array CHECK (jsonb_typeof(errors) = 'array'),
        ADD CONSTRAINT event_outbox_redrive_count_check CHECK (redrive_count >= 0);
    -- free space on every page for the claim's HOT update (applies to pages written from now on)
    ALTER TABLE ${t} SET (fillfactor = ${OUTBOX_FILLFACTOR}, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
    -- the claim index: undelivered events by the time they become claimable (emission, or the end
    -- of a backoff). A claim leaves visible_at alone (claim_expires_at is not indexed: the claim
    -- stays a HOT update); a failure moves the event to the end of its backoff.
    DROP INDEX ${c.q('event_outbox_undelivered_idx')};
    CREATE INDEX ${qi('event_outbox_undelivered_idx')} ON ${t} (visible_at, outbox_id) WHERE delivered_at IS NULL;
    ${comment('INDEX', c.q('event_outbox_undelivered_idx'), 'Claim index: undelivered events in (visible_at, outbox_id) order, the order outbox_claim() takes them in; no column a claim changes is indexed, so a claim is a HOT update.')}
    ${columnComments(c, 'event_outbox', {
      attempts: 'Claims so far (outbox_claim() counts one per claim; reset to 0 by outbox_redrive()).',
      last_error: 'The latest error: from outbox_fail(), or the expiry of a claim nobody acknowledged.',
      visible_at: 'When the event is (again) claimable when not claimed: emission time, or the end of a backoff after a failure.',
      claimed_by: 'Worker holding the current claim (NULL when unclaimed).',
      claimed_at: 'When the current claim was taken.',
      claim_expires_at: 'When the current claim expires (claim time + visibility timeout): from then on the event is claimable again.',
      delivered_at: 'Unused since outbox delivery (0.2): an acknowledged event leaves event_outbox, its receipt is in outbox_receipt.',
      errors: 'Every error so far, oldest first: [{attempt, at, worker, error}], kept across re-drives.',
      redrive_count: 'How often the event came back from event_dead_letter.',
    })}`;
}

export function dropOutboxColumns(c: Ctx): string {
  const t = c.q('event_outbox');
  return sqlText`
    DROP INDEX ${c.q('event_outbox_undelivered_idx')};
    ${undeliveredIndexV1(c)}
    ALTER TABLE ${t} RESET (fillfactor, autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor);
    ALTER TABLE ${t}
        DROP CONSTRAINT event_outbox_redrive_count_check,
        DROP CONSTRAINT event_outbox_errors_is_array,
        DROP CONSTRAINT event_outbox_claim_consistent;
    ALTER TABLE ${t}
        DROP COLUMN redrive_count,
        DROP COLUMN errors,
        DROP COLUMN claim_expires_at,
        DROP COLUMN claimed_at,
        DROP COLUMN claimed_by,
        DROP COLUMN visible_at;
    COMMENT ON COLUMN ${t}.${qi('attempts')} IS NULL;
    COMMENT ON COLUMN ${t}.${qi('last_error')} IS NULL;
    COMMENT ON COLUMN ${t}.${qi('delivered_at')} IS 'Set by the delivery worker once the event has been handed on.';`;
}

export function deadLetterTable(c: Ctx): string {
  const t = c.q('event_dead_letter');
  return sqlText`
    CREATE TABLE ${t} (
        outbox_id bigint PRIMARY KEY,
        event_type text NOT NULL REFERENCES ${c.q('event_type_registry')} (event_type) ON DELETE RESTRICT,
        object_key text NOT NULL,
        born_at timestamptz NOT NULL,
        payload jsonb NOT NULL,
        source_change_id bigint NOT NULL,
        emitted_at timestamptz NOT NULL,
        released_from_pending boolean NOT NULL,
        attempts integer NOT NULL CHECK (attempts >= 0),
        errors jsonb NOT NULL CHECK (jsonb_typeof(errors) = 'array'),
        last_error text,
        redrive_count integer NOT NULL CHECK (redrive_count >= 0),
        dead_lettered_at timestamptz NOT NULL DEFAULT now(),
        dead_lettered_by text NOT NULL,
        CONSTRAINT event_dead_letter_event_type_object_key_born_at_key UNIQUE (event_type, object_key, born_at)
    );
    CREATE INDEX ${qi('event_dead_letter_dead_lettered_at_idx')} ON ${t} (dead_lettered_at);
    ${comment('TABLE', t, 'Events that exhausted their delivery attempts, moved out of event_outbox with every error and when; outbox_redrive() moves them back.')}
    ${columnComments(c, 'event_dead_letter', {
      outbox_id: 'The event id in event_outbox; kept through dead-lettering and re-drive.',
      attempts: 'Claims the event had when it was dead-lettered.',
      errors: 'Every error, oldest first: [{attempt, at, worker, error}] (a claim that expired unacknowledged counts as an error).',
      last_error: 'The error that exhausted the attempts.',
      dead_lettered_at: 'When the event was moved here.',
      dead_lettered_by: 'The worker whose failure (or expired claim) used up the last attempt.',
    })}`;
}

export function receiptTable(c: Ctx): string {
  const t = c.q('outbox_receipt');
  return sqlText`
    CREATE TABLE ${t} (
        receipt_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        delivered_at timestamptz NOT NULL,
        acked_by text,
        outbox_ids bigint[] NOT NULL CHECK (cardinality(outbox_ids) > 0 AND array_position(outbox_ids, NULL) IS NULL),
        events integer NOT NULL,
        min_outbox_id bigint NOT NULL,
        max_outbox_id bigint NOT NULL,
        CONSTRAINT outbox_receipt_events_check CHECK (events = cardinality(outbox_ids) AND min_outbox_id <= max_outbox_id)
    );
    -- "was this id delivered?" (a repeated acknowledgement, outbox_fail of a delivered event):
    -- the receipts whose id range covers it, then the array
    CREATE INDEX ${qi('outbox_receipt_id_range_idx')} ON ${t} USING gist (int8range(min_outbox_id, max_outbox_id, '[]'));
    ${comment('TABLE', t, 'One row per outbox_ack() call that acknowledged events: the delivered ids (removed from event_outbox), when and by which worker. Kept for outbox_config.retention, then outbox_purge() deletes them (counted), after which a repeated acknowledgement of those ids raises BG504.')}
    ${columnComments(c, 'outbox_receipt', {
      delivered_at: 'When the acknowledgement was made.',
      acked_by: 'The worker name passed to outbox_ack() (NULL when acknowledged without one).',
      outbox_ids: 'The acknowledged event ids, ascending.',
      events: 'How many events (cardinality of outbox_ids).',
      min_outbox_id: 'Lowest id in outbox_ids (the GiST range index covers min..max).',
      max_outbox_id: 'Highest id in outbox_ids.',
    })}`;
}

export function configTable(c: Ctx): string {
  const t = c.q('outbox_config');
  return sqlText`
    CREATE TABLE ${t} (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        max_attempts integer NOT NULL DEFAULT 10 CHECK (max_attempts BETWEEN 1 AND 1000),
        backoff_base interval NOT NULL DEFAULT '5 seconds' CHECK (backoff_base > '0'::interval),
        backoff_max interval NOT NULL DEFAULT '1 hour' CHECK (backoff_max >= backoff_base AND backoff_max <= '1 day'::interval),
        retention interval NOT NULL DEFAULT '7 days' CHECK (retention >= '1 minute'::interval),
        alert_after interval NOT NULL DEFAULT '15 minutes' CHECK (alert_after > '0'::interval),
        updated_at timestamptz NOT NULL DEFAULT now(),
        updated_by name NOT NULL DEFAULT current_user
    );
    INSERT INTO ${t} DEFAULT VALUES;
    ${comment('TABLE', t, 'Outbox delivery settings (one row); change them with outbox_configure().')}
    ${columnComments(c, 'outbox_config', {
      max_attempts: 'Claims an event gets; the failure (or expired claim) of the last one moves it to event_dead_letter.',
      backoff_base: 'Backoff after the first failure; doubles per attempt up to backoff_max, then jittered into [half, full].',
      backoff_max: 'Longest backoff between attempts.',
      retention: 'How long the receipts of acknowledged events (outbox_receipt) are kept before outbox_purge() deletes them (and counts them).',
      alert_after: 'Age of the oldest undelivered event past which v_outbox_findings reports it.',
    })}`;
}

export function counterTable(c: Ctx): string {
  const t = c.q('outbox_counter');
  return sqlText`
    CREATE TABLE ${t} (
        counter text NOT NULL CHECK (counter IN ('dead_lettered', 'redriven', 'expired_claims', 'stale_acks', 'purged')),
        amount bigint NOT NULL CHECK (amount > 0),
        at timestamptz NOT NULL DEFAULT now()
    );
    ${comment('TABLE', t, 'Insert-only log of outbox events that leave no row behind (dead_lettered, redriven, expired_claims, stale_acks, purged); v_outbox_status sums it. Insert-only so that concurrent workers never wait on a counter row; outbox_purge() folds it into one row per counter.')}`;
}
