/**
 * Operator metrics: the view v_metrics (one row per sample: metric, type, help, labels, value) and
 * metrics_exposition() (v_metrics rendered in the Prometheus text exposition format). The CLI's
 * `birthgate metrics` prints metrics_exposition(), so the SQL and the CLI never disagree.
 *
 * Adding a metric is one entry in `metricDefs` (and a migration that re-creates the view with
 * metricsView(c), ending with the Down that restores the previous list).
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { indent, lit, PINNED_SEARCH_PATH, qi, sqlText } from '../lib/sql.js';
import { vocab } from '../vocab.js';

export interface MetricDef {
  /** Prometheus metric name: birthgate_<area>_<what>_<unit>; counters end in _total. */
  readonly name: string;
  readonly type: 'gauge' | 'counter';
  readonly help: string;
  /** A SELECT (or VALUES-like query) yielding the columns `labels jsonb` and `value double precision`. */
  select(c: Ctx): string;
  /** Include only when this holds (e.g. an object created by an earlier migration exists). */
  readonly when?: (c: Ctx, priorSql: string) => boolean;
}

const status = (c: Ctx) => c.q('v_handoff_status');
const consumerLabel = `jsonb_build_object('consumer', s.consumer_name)`;
const epoch = (interval: string) => `extract(epoch FROM ${interval})::float8`;

/** Zero-filled counts per vocabulary value: every label value is present, also at 0. */
function countsBy(label: string, values: readonly string[], from: string, column: string, where = 'true'): string {
  return sqlText`
    SELECT jsonb_build_object(${lit(label)}, v.x) AS labels, coalesce(n.n, 0)::float8 AS value
      FROM unnest(ARRAY[${values.map(lit).join(', ')}]::text[]) AS v(x)
      LEFT JOIN (SELECT ${column} AS x, count(*) AS n FROM ${from} WHERE ${where} GROUP BY 1) AS n ON n.x = v.x`;
}

export const metricDefs: readonly MetricDef[] = [
  {
    name: 'birthgate_handoff_lag_rows',
    type: 'gauge',
    help: 'Committed changelog rows not yet handed off (exact): the consumer backlog.',
    select: (c) => `SELECT ${consumerLabel} AS labels, s.rows_waiting::float8 AS value FROM ${status(c)} AS s`,
  },
  {
    name: 'birthgate_handoff_lag_seconds',
    type: 'gauge',
    help: 'Age of the oldest committed changelog row not yet handed off (0 when there is none).',
    select: (c) => `SELECT ${consumerLabel} AS labels, s.lag_seconds::float8 AS value FROM ${status(c)} AS s`,
  },
  {
    name: 'birthgate_handoff_rows_waiting',
    type: 'gauge',
    help: 'Committed changelog rows not yet handed off (the same number as lag_rows, kept for dashboards).',
    select: (c) => `SELECT ${consumerLabel} AS labels, s.rows_waiting::float8 AS value FROM ${status(c)} AS s`,
  },
  {
    name: 'birthgate_handoff_rows_held_back',
    type: 'gauge',
    help: 'Changelog rows past the cursor held back by an older open transaction (at or above the horizon).',
    select: (c) => `SELECT ${consumerLabel} AS labels, s.rows_held_back::float8 AS value FROM ${status(c)} AS s`,
  },
  {
    name: 'birthgate_handoff_held_back_seconds',
    type: 'gauge',
    help: 'How long the oldest held-back changelog row has been held back (0 when none is).',
    select: (c) => `SELECT ${consumerLabel} AS labels, coalesce(${epoch('s.oldest_held_back_age')}, 0) AS value FROM ${status(c)} AS s`,
  },
  {
    name: 'birthgate_handoff_holding_xact_age_seconds',
    type: 'gauge',
    help: 'Age of the open transaction holding the handoff horizon back (0 when none does); see v_handoff_status for its pid.',
    select: (c) => `SELECT ${consumerLabel} AS labels, coalesce(${epoch('s.holding_xact_age')}, 0) AS value FROM ${status(c)} AS s`,
  },
  {
    name: 'birthgate_handoff_heartbeat_age_seconds',
    type: 'gauge',
    help: 'Seconds since the consumer last ran (+Inf when it never ran).',
    select: (c) => `SELECT ${consumerLabel} AS labels, coalesce(${epoch('s.heartbeat_age')}, 'Infinity'::float8) AS value FROM ${status(c)} AS s`,
  },
  {
    name: 'birthgate_handoff_stale_after_seconds',
    type: 'gauge',
    help: 'The heartbeat age after which the handoff counts as stale (governed activation then fails closed).',
    select: (c) => `SELECT ${consumerLabel} AS labels, ${epoch('s.stale_after')} AS value FROM ${status(c)} AS s`,
  },
  {
    name: 'birthgate_handoff_stale',
    type: 'gauge',
    help: '1 when the heartbeat is missing or older than stale_after, else 0.',
    select: (c) => `SELECT ${consumerLabel} AS labels, CASE WHEN s.stale THEN 1 ELSE 0 END::float8 AS value FROM ${status(c)} AS s`,
  },
  {
    name: 'birthgate_handoff_batches_total',
    type: 'counter',
    help: 'Consumer batches run (handoff_consume calls that held the cursor).',
    select: (c) => `SELECT ${consumerLabel} AS labels, s.batches_run::float8 AS value FROM ${status(c)} AS s`,
  },
  {
    name: 'birthgate_handoff_consumed_rows_total',
    type: 'counter',
    help: 'Changelog rows the consumer has handed off.',
    select: (c) => `SELECT ${consumerLabel} AS labels, s.rows_consumed::float8 AS value FROM ${status(c)} AS s`,
  },
  {
    name: 'birthgate_event_pending_depth',
    type: 'gauge',
    help: 'Captured events waiting in event_pending (inactive event types), per event type.',
    select: (c) => countsBy('event_type', vocab.eventType, c.q('event_pending'), 'event_type'),
  },
  {
    name: 'birthgate_event_outbox_depth',
    type: 'gauge',
    help: 'Undelivered events in event_outbox, per event type.',
    select: (c) => countsBy('event_type', vocab.eventType, c.q('event_outbox'), 'event_type', 'delivered_at IS NULL'),
  },
  {
    name: 'birthgate_event_dead_letter_depth',
    type: 'gauge',
    help: 'Events in event_dead_letter (delivery attempts exhausted), per event type.',
    select: (c) => countsBy('event_type', vocab.eventType, c.q('event_dead_letter'), 'event_type'),
    when: (c, prior) => new RegExp(`CREATE TABLE (IF NOT EXISTS )?${c.q('event_dead_letter').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`).test(prior),
  },
  {
    name: 'birthgate_permits',
    type: 'gauge',
    help: 'Admission permits per state (ISSUED, CONSUMED, EXPIRED, REVOKED).',
    select: (c) => countsBy('state', vocab.permitState, c.q('birth_admission_permit'), 'state'),
  },
  {
    name: 'birthgate_permits_issued_past_expiry',
    type: 'gauge',
    help: 'ISSUED permits past expires_at (expire_permits() has not run since they expired).',
    select: (c) => `SELECT '{}'::jsonb AS labels, count(*)::float8 AS value FROM ${c.q('birth_admission_permit')} WHERE state = 'ISSUED' AND expires_at < now()`,
  },
  {
    name: 'birthgate_gate_violations',
    type: 'gauge',
    help: 'Rows in birth_gate_violation per kind (what the gates saw and let through or refused to finalize).',
    select: (c) => countsBy('kind', vocab.violationKind, c.q('birth_gate_violation'), 'kind'),
  },
  {
    name: 'birthgate_families',
    type: 'gauge',
    help: 'Registered families per gate mode (off, report, enforce).',
    select: (c) => countsBy('mode', vocab.familyMode, c.q('birth_family'), 'mode'),
  },
  {
    name: 'birthgate_drift_findings',
    type: 'gauge',
    help: 'Drift findings in v_drift_report per severity (info, warning, critical).',
    select: (c) => countsBy('severity', vocab.severity, c.q('v_drift_report'), 'severity'),
  },
  {
    name: 'birthgate_outbox_in_flight',
    type: 'gauge',
    help: 'Outbox events claimed by a delivery worker and not yet acknowledged or failed.',
    select: (c) => `SELECT '{}'::jsonb AS labels, o.in_flight::float8 AS value FROM ${c.q('v_outbox_status')} AS o`,
  },
  {
    name: 'birthgate_outbox_oldest_undelivered_seconds',
    type: 'gauge',
    help: 'Age of the oldest undelivered outbox event (0 when there is none).',
    select: (c) => `SELECT '{}'::jsonb AS labels, coalesce(${epoch('o.oldest_undelivered_age')}, 0) AS value FROM ${c.q('v_outbox_status')} AS o`,
  },
  {
    name: 'birthgate_outbox_dead_lettered_total',
    type: 'counter',
    help: 'Outbox events ever moved to event_dead_letter after exhausting their attempts.',
    select: (c) => `SELECT '{}'::jsonb AS labels, o.dead_lettered_total::float8 AS value FROM ${c.q('v_outbox_status')} AS o`,
  },
  {
    name: 'birthgate_sweep_rows_done',
    type: 'gauge',
    help: 'Rows a sweep (adoption, backfill) has gone through in its current run.',
    select: (c) => `SELECT jsonb_build_object('sweep', w.sweep_name, 'kind', w.kind) AS labels, w.rows_done::float8 AS value FROM ${c.q('v_sweep_status')} AS w`,
  },
  {
    name: 'birthgate_sweep_percent_done',
    type: 'gauge',
    help: 'Estimated progress of a sweep run, 0..100 (estimated from table statistics).',
    select: (c) => `SELECT jsonb_build_object('sweep', w.sweep_name, 'kind', w.kind) AS labels, coalesce(w.percent_done, 0)::float8 AS value FROM ${c.q('v_sweep_status')} AS w`,
  },
  {
    name: 'birthgate_sweep_paused',
    type: 'gauge',
    help: '1 while a sweep is paused by its rate limit or the load guard, else 0.',
    select: (c) => `SELECT jsonb_build_object('sweep', w.sweep_name, 'kind', w.kind) AS labels, (w.state = 'paused')::int::float8 AS value FROM ${c.q('v_sweep_status')} AS w`,
  },
  {
    name: 'birthgate_sweep_errors_total',
    type: 'counter',
    help: 'Failed batches of a sweep (each retried; see v_sweep_status.last_error).',
    select: (c) => `SELECT jsonb_build_object('sweep', w.sweep_name, 'kind', w.kind) AS labels, w.error_count::float8 AS value FROM ${c.q('v_sweep_status')} AS w`,
  },
  {
    name: 'birthgate_sweep_heartbeat_age_seconds',
    type: 'gauge',
    help: 'Seconds since a sweep last finished a batch (+Inf: never).',
    select: (c) => `SELECT jsonb_build_object('sweep', w.sweep_name, 'kind', w.kind) AS labels, coalesce(${epoch('w.heartbeat_age')}, 'Infinity'::float8) AS value FROM ${c.q('v_sweep_status')} AS w`,
  },
];

/** The definitions that apply, given the SQL of every earlier migration. */
export function activeMetricDefs(c: Ctx, priorSql: string, defs: readonly MetricDef[] = metricDefs): MetricDef[] {
  return defs.filter((d) => !d.when || d.when(c, priorSql));
}

export function metricsView(c: Ctx, defs: readonly MetricDef[]): string {
  const v = c.q('v_metrics');
  const names = new Set<string>();
  for (const d of defs) {
    if (!/^birthgate_[a-z0-9_]+$/.test(d.name)) throw new Error(`bad metric name ${d.name}`);
    if (d.type === 'counter' !== d.name.endsWith('_total')) throw new Error(`metric ${d.name}: counters and only counters end in _total`);
    if (names.has(d.name)) throw new Error(`duplicate metric ${d.name}`);
    names.add(d.name);
  }
  const parts = defs.map(
    (d, i) =>
      `SELECT ${i + 1} AS metric_order, ${lit(d.name)}::text AS metric, ${lit(d.type)}::text AS metric_type, ${lit(d.help)}::text AS help, m.labels, m.value\n` +
      `  FROM (\n${indent(d.select(c), 6)}\n  ) AS m`,
  );
  return [
    `CREATE OR REPLACE VIEW ${v} AS`,
    `${parts.join('\nUNION ALL\n')};`,
    comment(
      'VIEW',
      v,
      'Operator metrics, one row per sample: metric (Prometheus name), metric_type (gauge | counter), help, labels (jsonb object), value. metrics_exposition() renders it in the Prometheus text format; `birthgate metrics` prints that. Reading it changes nothing; it costs about what v_handoff_status and v_drift_report cost.',
    ),
  ].join('\n');
}

export function metricsExposition(c: Ctx): string {
  const f = c.q('metrics_exposition');
  return sqlText`
    CREATE OR REPLACE FUNCTION ${f}()
    RETURNS text
    LANGUAGE sql
    STABLE
    ${PINNED_SEARCH_PATH}
    AS $fn$
    WITH samples AS (
        SELECT m.metric_order, m.metric, m.metric_type, m.help,
               m.metric || CASE WHEN m.labels = '{}'::jsonb THEN ''
                                ELSE '{' || (SELECT pg_catalog.string_agg(
                                                 pg_catalog.format('%s="%s"', l.key,
                                                     pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(l.value, E'\\\\', E'\\\\\\\\'), '"', E'\\\\"'), E'\\n', E'\\\\n')),
                                                 ',' ORDER BY l.key)
                                              FROM pg_catalog.jsonb_each_text(m.labels) AS l) || '}' END
               || ' ' ||
               CASE WHEN m.value = 'Infinity'::float8 THEN '+Inf'
                    WHEN m.value = '-Infinity'::float8 THEN '-Inf'
                    WHEN m.value = 'NaN'::float8 THEN 'NaN'
                    ELSE m.value::text END AS line
          FROM ${c.q('v_metrics')} AS m
    ), families AS (
        SELECT s.metric_order,
               pg_catalog.format(E'# HELP %s %s\\n# TYPE %s %s\\n', s.metric,
                   pg_catalog.replace(pg_catalog.replace(pg_catalog.min(s.help), E'\\\\', E'\\\\\\\\'), E'\\n', E'\\\\n'),
                   s.metric, pg_catalog.min(s.metric_type))
               || pg_catalog.string_agg(s.line || E'\\n', '' ORDER BY s.line) AS block
          FROM samples AS s
         GROUP BY s.metric_order, s.metric
    )
    SELECT coalesce(pg_catalog.string_agg(families.block, '' ORDER BY families.metric_order), '')
      FROM families
    $fn$;
    ${comment(
      'FUNCTION',
      `${f}()`,
      'v_metrics in the Prometheus text exposition format (version 0.0.4): # HELP and # TYPE per metric, one line per sample. What `birthgate metrics` prints; for a node_exporter textfile collector, write it to <dir>/birthgate.prom atomically.',
    )}`;
}

export function metricsGrants(c: Ctx): string {
  const { admin, reader } = c.roles;
  return [
    `REVOKE ALL ON ${c.q('v_metrics')} FROM PUBLIC;`,
    `REVOKE ALL ON FUNCTION ${c.q('metrics_exposition')}() FROM PUBLIC;`,
    `GRANT SELECT ON ${c.q('v_metrics')} TO ${qi(admin)}, ${qi(reader)};`,
    `GRANT EXECUTE ON FUNCTION ${c.q('metrics_exposition')}() TO ${qi(admin)}, ${qi(reader)};`,
  ].join('\n');
}
