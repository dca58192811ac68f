/**
 * birthgate outbox: status (numbers and findings, --fail-on exit 3), dead-letters, redrive
 * (--all / --id, BG504 for an unknown id with exit 1, exit 2 without a choice), purge (counted);
 * --json prints exactly one line.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { databasesDroppedAfterAll, type TestDb } from './helpers/db.js';
import { cli } from './drift-helpers.js';

let d: TestDb;
let c: pg.Client;
const databases = databasesDroppedAfterAll();
const outbox = (...args: string[]) => cli(['outbox', ...args], { DATABASE_URL: d.url });
const one = (r: { stdout: string }) => {
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as Record<string, any>;
};

beforeAll(async () => {
  d = await databases.fresh();
  c = await d.client();
  await c.query(`INSERT INTO birthgate.event_outbox (event_type, object_key, born_at, payload, source_change_id)
                 SELECT 'handoff.object_born', 'cli:' || g, now(), '{}', g FROM generate_series(1, 5) g`);
  await c.query(`SELECT * FROM birthgate.outbox_configure(p_max_attempts => 1)`);
  // 1 acknowledged, 2 dead-lettered, 1 in flight, 1 ready
  const ids = (await c.query<{ outbox_id: string }>(`SELECT outbox_id FROM birthgate.outbox_claim('cli-w', 4) ORDER BY outbox_id`)).rows.map((r) => r.outbox_id);
  await c.query(`SELECT birthgate.outbox_ack(ARRAY[$1]::bigint[], 'cli-w')`, [ids[0]]);
  await c.query(`SELECT birthgate.outbox_fail($1, 'HTTP 500', 'cli-w'), birthgate.outbox_fail($2, 'HTTP 502', 'cli-w')`, [ids[1], ids[2]]);
});

describe('birthgate outbox', () => {
  it('status --json: the numbers and the dead_letters finding; exit 0 by default, 3 with --fail-on warning', async () => {
    const r = await outbox('status', '--json');
    expect(r.code).toBe(0);
    const j = one(r);
    expect([j.depth, j.ready, j.in_flight, j.dead_lettered, j.delivered_retained]).toEqual([2, 1, 1, 2, 1]);
    expect(j.findings.map((f: { kind: string }) => f.kind)).toContain('dead_letters');
    expect(j.oldest_undelivered_age_s).toBeGreaterThanOrEqual(0);
    const w = await outbox('status', '--json', '--fail-on', 'warning');
    expect(w.code).toBe(3);
    expect(one(w).ok).toBe(false);
    const t = await outbox('status');
    expect(t.code).toBe(0);
    expect(t.stdout).toContain('dead_letters');
  });

  it('dead-letters lists them with their last error', async () => {
    const j = one(await outbox('dead-letters', '--json'));
    expect(j.total).toBe(2);
    expect(j.dead_letters.map((x: { last_error: string }) => x.last_error).sort()).toEqual(['HTTP 500', 'HTTP 502']);
  });

  it('redrive: exit 2 without --all/--id, exit 1 with BG504 for an unknown id (nothing moves), then --id and --all', async () => {
    expect((await outbox('redrive')).code).toBe(2);
    expect((await outbox('redrive', '--id', 'abc')).code).toBe(2);
    const dl = one(await outbox('dead-letters', '--json')).dead_letters as { outbox_id: string }[];
    const bad = await outbox('redrive', '--id', dl[0]!.outbox_id, '--id', '999999', '--json');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('BG504');
    expect(one(await outbox('dead-letters', '--json')).total).toBe(2);
    expect(one(await outbox('redrive', '--id', dl[0]!.outbox_id, '--json')).redriven).toBe(1);
    expect(one(await outbox('redrive', '--all', '--json')).redriven).toBe(1);
    expect(one(await outbox('dead-letters', '--json')).total).toBe(0);
  });

  it('purge deletes acknowledged events past the retention and counts them', async () => {
    await c.query(`UPDATE birthgate.outbox_receipt SET delivered_at = now() - interval '30 days'`);
    const j = one(await outbox('purge', '--batch', '1', '--json'));
    expect(j.purged).toBe(1);
    expect(j.batches).toBe(2);
    expect(one(await outbox('status', '--json')).totals.purged).toBe(1);
  });

  it('bad flags and an unknown subcommand exit 2', async () => {
    expect((await outbox('purge', '--batch', '0')).code).toBe(2);
    expect((await outbox('frobnicate')).code).toBe(2);
    expect((await outbox()).code).toBe(2);
  });
});
