/**
 * The metric registry (generator/operator/metrics.ts): names and types are checked when the view is
 * generated, and a metric over an object of another migration (the dead-letter table) is included
 * exactly when an earlier migration creates that object.
 */
import { describe, expect, it } from 'vitest';
import { makeCtx } from '../generator/lib/ctx.js';
import { activeMetricDefs, metricDefs, metricsView, type MetricDef } from '../generator/operator/metrics.js';

const c = makeCtx('birthgate', '0.0.0');

describe('metric registry', () => {
  it('includes the dead-letter depth only when an earlier migration creates event_dead_letter', () => {
    const names = (sql: string) => activeMetricDefs(c, sql).map((d) => d.name);
    expect(names('CREATE TABLE "birthgate"."event_outbox" (...)')).not.toContain('birthgate_event_dead_letter_depth');
    expect(names('CREATE TABLE "birthgate"."event_dead_letter" (\n id bigint)')).toContain('birthgate_event_dead_letter_depth');
    expect(names('CREATE TABLE IF NOT EXISTS "birthgate"."event_dead_letter" (')).toContain('birthgate_event_dead_letter_depth');
  });

  it('refuses a bad name, a counter without _total, a gauge with it, and duplicates', () => {
    const base = metricDefs[0]!;
    const bad = (d: Partial<MetricDef>) => () => metricsView(c, [{ ...base, ...d }]);
    expect(bad({ name: 'Birthgate-Lag' })).toThrow(/bad metric name/);
    expect(bad({ type: 'counter' })).toThrow(/_total/);
    expect(bad({ name: 'birthgate_x_total', type: 'gauge' })).toThrow(/_total/);
    expect(() => metricsView(c, [base, base])).toThrow(/duplicate/);
  });

  it('every registered metric has help text and a unique name', () => {
    expect(new Set(metricDefs.map((d) => d.name)).size).toBe(metricDefs.length);
    for (const d of metricDefs) expect(d.help.length, d.name).toBeGreaterThan(20);
  });
});
