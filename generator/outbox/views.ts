/** Health of outbox delivery: v_outbox_status (one row of numbers) and v_outbox_findings. */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { lit, sqlText } from '../lib/sql.js';
import { vocab } from '../vocab.js';

export function statusView(c: Ctx): string {
  const v = c.q('v_outbox_status');
  return sqlText`
    CREATE VIEW ${v} AS
    SELECT q.depth,
           q.ready,
           q.in_flight,
           q.backing_off,
           q.expired_claims,
           q.oldest_undelivered_at,
           clock_timestamp() - q.oldest_undelivered_at AS oldest_undelivered_age,
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
           pg_catalog.pg_table_size(${lit(`${c.schema}.event_outbox`)}::pg_catalog.regclass) AS table_bytes,
           pg_catalog.pg_indexes_size(${lit(`${c.schema}.event_outbox`)}::pg_catalog.regclass) AS index_bytes,
           pg_catalog.pg_stat_get_live_tuples(${lit(`${c.schema}.event_outbox`)}::pg_catalog.regclass) AS live_tuples,
           pg_catalog.pg_stat_get_dead_tuples(${lit(`${c.schema}.event_outbox`)}::pg_catalog.regclass) AS dead_tuples,
           greatest(pg_catalog.pg_stat_get_last_vacuum_time(${lit(`${c.schema}.event_outbox`)}::pg_catalog.regclass),
                    pg_catalog.pg_stat_get_last_autovacuum_time(${lit(`${c.schema}.event_outbox`)}::pg_catalog.regclass)) AS last_vacuum_at
    FROM ${c.q('outbox_config')} AS cfg
    CROSS JOIN LATERAL (
        SELECT count(*) AS depth,
               count(*) FILTER (WHERE o.claimed_by IS NULL AND o.visible_at <= clock_timestamp()) AS ready,
               count(*) FILTER (WHERE o.claimed_by IS NOT NULL AND o.claim_expires_at > clock_timestamp()) AS in_flight,
               count(*) FILTER (WHERE o.claimed_by IS NULL AND o.visible_at > clock_timestamp()) AS backing_off,
               count(*) FILTER (WHERE o.claimed_by IS NOT NULL AND o.claim_expires_at <= clock_timestamp()) AS expired_claims,
               min(o.emitted_at) AS oldest_undelivered_at,
               coalesce(max(o.attempts), 0) AS max_attempts_seen
        FROM ${c.q('event_outbox')} AS o
        WHERE o.delivered_at IS NULL
    ) AS q
    CROSS JOIN LATERAL (
        SELECT coalesce(sum(r.events), 0)::bigint AS delivered_retained,
               min(r.delivered_at) AS oldest_delivered_at,
               coalesce(sum(r.events) FILTER (WHERE r.delivered_at < clock_timestamp() - cfg.retention), 0)::bigint AS purge_due
        FROM ${c.q('outbox_receipt')} AS r
    ) AS d
    CROSS JOIN LATERAL (
        SELECT count(*) AS dead_lettered, min(x.dead_lettered_at) AS oldest_dead_lettered_at
        FROM ${c.q('event_dead_letter')} AS x
    ) AS dl
    CROSS JOIN LATERAL (
        SELECT coalesce(sum(k.amount) FILTER (WHERE k.counter = 'dead_lettered'), 0)::bigint AS dead_lettered_total,
               coalesce(sum(k.amount) FILTER (WHERE k.counter = 'redriven'), 0)::bigint AS redriven_total,
               coalesce(sum(k.amount) FILTER (WHERE k.counter = 'expired_claims'), 0)::bigint AS expired_claims_total,
               coalesce(sum(k.amount) FILTER (WHERE k.counter = 'stale_acks'), 0)::bigint AS stale_acks_total,
               coalesce(sum(k.amount) FILTER (WHERE k.counter = 'purged'), 0)::bigint AS purged_total,
               max(k.at) FILTER (WHERE k.counter = 'purged') AS last_purge_at
        FROM ${c.q('outbox_counter')} AS k
    ) AS k
    WHERE cfg.singleton;
    ${comment(
      'VIEW',
      v,
      'Outbox delivery health, one row: depth (undelivered events) = ready + in_flight (claimed, visibility running) + backing_off (failed, waiting for the backoff) + expired_claims (claim timed out, claimable again); the oldest undelivered event and its age; dead_lettered (now in event_dead_letter); acknowledged events whose receipts (outbox_receipt) are still retained, since when, and how many are past the retention (purge_due); counters since install: dead_lettered_total, redriven_total, expired_claims_total, stale_acks_total (fenced acknowledgements refused), purged_total and last_purge_at; the settings; the size of event_outbox (table_bytes, index_bytes; it holds undelivered events only), live/dead tuples and the last vacuum (bloat). Ages are wall-clock.',
    )}`;
}

export function findingsView(c: Ctx): string {
  const v = c.q('v_outbox_findings');
  const sev = `ARRAY${JSON.stringify(vocab.severity).replaceAll('"', "'")}::text[]`;
  const s = c.schema;
  return sqlText`
    CREATE VIEW ${v} AS
    WITH st AS (SELECT * FROM ${c.q('v_outbox_status')}), findings AS (
        SELECT 'warning'::text AS severity, 'dead_letters'::text AS kind,
               pg_catalog.format('%s event(s) dead-lettered after %s attempts (oldest since %s); %s dead-lettered since install', st.dead_lettered, st.max_attempts, st.oldest_dead_lettered_at, st.dead_lettered_total) AS message,
               ${lit(`SELECT outbox_id, event_type, object_key, attempts, last_error, dead_lettered_at FROM ${s}.event_dead_letter ORDER BY dead_lettered_at; fix the cause, then re-drive: SELECT ${s}.outbox_redrive();`)}::text AS remedy,
               jsonb_build_object('dead_lettered', st.dead_lettered, 'dead_lettered_total', st.dead_lettered_total, 'oldest_dead_lettered_at', st.oldest_dead_lettered_at) AS detail
          FROM st WHERE st.dead_lettered > 0
        UNION ALL
        SELECT 'warning', 'undelivered_old',
               pg_catalog.format('the oldest undelivered event is %s old (alert after %s); %s undelivered: %s ready, %s in flight, %s backing off, %s expired claims',
                                 pg_catalog.date_trunc('second', st.oldest_undelivered_age), st.alert_after, st.depth, st.ready, st.in_flight, st.backing_off, st.expired_claims),
               ${lit(`Check that delivery workers run and succeed (SELECT * FROM ${s}.v_outbox_status; errors: SELECT outbox_id, attempts, last_error FROM ${s}.event_outbox WHERE delivered_at IS NULL AND attempts > 0 ORDER BY visible_at LIMIT 20;)`)},
               jsonb_build_object('oldest_undelivered_at', st.oldest_undelivered_at, 'depth', st.depth, 'ready', st.ready, 'in_flight', st.in_flight, 'backing_off', st.backing_off)
          FROM st WHERE st.oldest_undelivered_age > st.alert_after
        UNION ALL
        SELECT 'info', 'expired_claims',
               pg_catalog.format('%s claim(s) expired unacknowledged and wait to be claimed again (%s since install): workers crashed, or the visibility timeout is shorter than a delivery', st.expired_claims, st.expired_claims_total),
               ${lit(`Find the workers: SELECT claimed_by, count(*) FROM ${s}.event_outbox WHERE claimed_by IS NOT NULL AND claim_expires_at <= clock_timestamp() GROUP BY 1; raise p_visibility of outbox_claim() if deliveries take longer`)},
               jsonb_build_object('expired_claims', st.expired_claims, 'expired_claims_total', st.expired_claims_total)
          FROM st WHERE st.expired_claims > 0
        UNION ALL
        SELECT 'warning', 'purge_overdue',
               pg_catalog.format('%s acknowledged event(s) are past the retention of %s (oldest delivered %s): the purge does not run; the receipts grow', st.purge_due, st.retention, st.oldest_delivered_at),
               ${lit(`Schedule the purge, e.g. every 5 minutes: SELECT ${s}.outbox_purge(10000); (or birthgate outbox purge)`)},
               jsonb_build_object('purge_due', st.purge_due, 'oldest_delivered_at', st.oldest_delivered_at, 'last_purge_at', st.last_purge_at)
          FROM st WHERE st.purge_due > 0 AND st.oldest_delivered_at < clock_timestamp() - st.retention - '1 hour'::interval
        UNION ALL
        SELECT 'info', 'purged',
               pg_catalog.format('%s acknowledged event(s) purged after the retention of %s since install, the last at %s', st.purged_total, st.retention, st.last_purge_at),
               ${lit(`Nothing to do; lengthen the retention with SELECT * FROM ${s}.outbox_configure(p_retention => interval '30 days'); to keep them longer`)},
               jsonb_build_object('purged_total', st.purged_total, 'last_purge_at', st.last_purge_at)
          FROM st WHERE st.purged_total > 0
    )
    SELECT f.severity,
           pg_catalog.array_position(${sev}, f.severity) AS severity_rank,
           f.kind,
           'outbox'::text AS object_type,
           ${lit(`${s}.event_outbox`)}::text AS object_name,
           f.message,
           f.remedy,
           f.detail
      FROM findings AS f
     ORDER BY 2 DESC, 3;
    ${comment(
      'VIEW',
      v,
      'One row per outbox delivery finding, worst first, shaped like v_drift_report: dead_letters (warning), undelivered_old (oldest undelivered older than alert_after, warning), purge_overdue (acknowledged events past the retention an hour after it: the purge is not scheduled, warning), expired_claims (info), purged (how many acknowledged events the retention removed, info). remedy says what to do. Reading it changes nothing.',
    )}`;
}
