/**
 * 000010 operator metrics: v_metrics (one row per Prometheus sample) and metrics_exposition()
 * (the same rows in the Prometheus text format, what `birthgate metrics` prints). Metrics over
 * objects of earlier migrations (e.g. event_dead_letter) are included when an earlier migration
 * creates them. The SQL lives in generator/operator/metrics.ts.
 */
import { recaptureDriftBaseline } from '../drift/monitor.js';
import { comment, type Migration } from '../lib/migration.js';
import { activeMetricDefs, metricsExposition, metricsGrants, metricsView } from '../operator/metrics.js';
import type { Ctx } from '../lib/ctx.js';
import { migrations } from './index.js';

const ID = '000010';
/** The release this migration ships in; the schema comment names it (frozen text: never the package version). */
const RELEASED_IN = '0.2.0';
const schemaComment = (c: Ctx, release: string) =>
  comment('SCHEMA', c.s, `birthgate ${release}: pre-birth admission control and the governance handoff.`);

/** The Up SQL of every migration before this one (read at generation time, after all modules load). */
function priorSql(c: Ctx): string {
  return migrations
    .filter((m) => m.id < ID)
    .map((m) => m.up(c).join('\n'))
    .join('\n');
}

export const operatorMetrics: Migration = {
  id: ID,
  slug: 'operator_metrics',
  summary: 'operator metrics: v_metrics (Prometheus samples) and metrics_exposition() (text format)',
  up: (c) => [
    metricsView(c, activeMetricDefs(c, priorSql(c))),
    metricsExposition(c),
    metricsGrants(c),
    schemaComment(c, RELEASED_IN),
    recaptureDriftBaseline(c),
  ],
  down: (c) => [
    `DROP FUNCTION ${c.q('metrics_exposition')}();`,
    `DROP VIEW ${c.q('v_metrics')};`,
    schemaComment(c, '0.1.0'),
    recaptureDriftBaseline(c),
  ],
};
