/**
 * Outbox delivery under random concurrency (issue 14), real PostgreSQL:
 * - N births are handed off by handoff_consume() into event_outbox (the handoff's own INSERT, with
 *   the 0.2 delivery columns in place);
 * - 4 worker connections claim batches and, per event at random, deliver and acknowledge (fenced
 *   with their worker name), fail it (outbox_fail), or crash between claim and ack: the
 *   controller kills their connection with pg_terminate_backend and the worker restarts under a
 *   new name. Events whose key ends in 7 are poison: they always fail. The visibility timeout is
 *   short, so slow workers also lose claims to others (their fenced acks must be refused).
 * Until nothing is undelivered; then: every event is acknowledged exactly once (one ack call
 * returned it, the row is delivered) or dead-lettered (never acknowledged, every error kept),
 * none lost, none acknowledged twice. Finally all dead letters are re-driven and delivered.
 * The seed is printed; OUTBOX_SEED=<n> reproduces the random choices (not the interleaving).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { freshDatabase, type TestDb } from './helpers/db.js';
import { prng } from './helpers/random.js';

const S = 'birthgate';
const EVENTS = 400;
const WORKERS = 4;
const MAX_ATTEMPTS = 4;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Claimed {
  outbox_id: string;
  object_key: string;
  attempt: number;
}

describe('outbox delivery with 4 concurrent workers, random failures and crashes', () => {
  let db: TestDb;
  let ctl: pg.Client;
  const emittedIds = new Set<string>(); // every event the handoff wrote

  beforeAll(async () => {
    db = await freshDatabase();
    ctl = await db.client();
    await ctl.query(`INSERT INTO ${S}.birth_family (collection_name, table_name, code_column, code_pattern)
                     VALUES ('outbox_probe', 'pg_catalog.pg_am', 'amname', '^O-[0-9]+$')`);
    await ctl.query(
      `WITH r AS (
         INSERT INTO ${S}.birth_registry (collection_name, entity_code)
         SELECT 'outbox_probe', 'O-' || g FROM generate_series(1, $1::int) AS g
         RETURNING registry_id, collection_name, entity_code, born_at)
       INSERT INTO ${S}.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
       SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r ORDER BY r.registry_id`,
      [EVENTS],
    );
    await ctl.query(`SELECT ${S}.set_event_type_active('handoff.object_born', true)`);
    // the handoff reads only below the cluster-wide xid horizon: while another database holds a
    // transaction open the births wait, so poll (generous deadline) instead of expecting one batch
    let emitted = 0;
    const until = Date.now() + 120_000;
    while (emitted < EVENTS && Date.now() < until) {
      emitted += (await ctl.query<{ emitted: number }>(`SELECT emitted FROM ${S}.handoff_consume(5000)`)).rows[0]!.emitted;
      if (emitted < EVENTS) await sleep(100);
    }
    expect(emitted).toBe(EVENTS);
    for (const r of (await ctl.query<{ outbox_id: string }>(`SELECT outbox_id FROM ${S}.event_outbox`)).rows) emittedIds.add(r.outbox_id);
    expect(emittedIds.size).toBe(EVENTS);
    await ctl.query(`SELECT * FROM ${S}.outbox_configure(p_max_attempts => $1, p_backoff_base => '10 milliseconds', p_backoff_max => '80 milliseconds')`, [
      MAX_ATTEMPTS,
    ]);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('every event ends acknowledged exactly once or dead-lettered; none lost, none acknowledged twice', async () => {
    const seed = Number(process.env.OUTBOX_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`outbox-workers: seed ${seed} (OUTBOX_SEED=${seed} reproduces the random choices)`);
    const rand = prng(seed);
    const ackedBy = new Map<string, number>(); // outbox_id -> successful acknowledgements
    const stats = { delivered: 0, refused: 0, failed: 0, staleFails: 0, crashes: 0, dead: 0 };
    const deadline = Date.now() + 180_000;

    const undelivered = async () =>
      Number((await ctl.query<{ n: string }>(`SELECT count(*) AS n FROM ${S}.event_outbox WHERE delivered_at IS NULL`)).rows[0]!.n);

    async function worker(i: number): Promise<void> {
      let generation = 0;
      while (Date.now() < deadline) {
        const name = `worker-${i}.${generation}`;
        const c = new pg.Client({ connectionString: db.url, application_name: name });
        c.on('error', () => {}); // a terminated connection reports here
        await c.connect();
        const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        let crashed = false;
        try {
          for (;;) {
            if (Date.now() > deadline) return;
            const got = (
              await c.query<Claimed>(`SELECT outbox_id, object_key, attempt FROM ${S}.outbox_claim($1, $2, '400 milliseconds')`, [
                name,
                1 + Math.floor(rand() * 8),
              ])
            ).rows;
            if (got.length === 0) {
              if ((await undelivered()) === 0) return;
              await sleep(5 + rand() * 20);
              continue;
            }
            if (rand() < 0.08) {
              // crash between claim and ack: the connection is killed, the claims stay until they expire
              stats.crashes++;
              crashed = true;
              await ctl.query('SELECT pg_terminate_backend($1)', [pid]);
              break;
            }
            const toAck: string[] = [];
            for (const e of got) {
              const poison = e.object_key.endsWith('7');
              if (poison || rand() < 0.2) {
                try {
                  const r = await c.query<{ outcome: string }>(`SELECT ${S}.outbox_fail($1, $2, $3) AS outcome`, [
                    e.outbox_id,
                    poison ? 'poison: receiver rejects it' : `random failure on attempt ${e.attempt}`,
                    name,
                  ]);
                  stats.failed++;
                  if (r.rows[0]!.outcome === 'dead') stats.dead++;
                } catch (err) {
                  if ((err as { code?: string }).code !== 'BG506') throw err;
                  stats.staleFails++; // the claim expired and was taken over: nothing to do
                }
              } else toAck.push(e.outbox_id);
            }
            if (toAck.length > 0) {
              if (rand() < 0.2) await sleep(rand() * 600); // a slow delivery: the claim may expire meanwhile
              for (const id of toAck) {
                const n = (await c.query<{ n: number }>(`SELECT ${S}.outbox_ack(ARRAY[$1]::bigint[], $2) AS n`, [id, name])).rows[0]!.n;
                if (n === 1) {
                  ackedBy.set(id, (ackedBy.get(id) ?? 0) + 1);
                  stats.delivered++;
                } else stats.refused++;
              }
            }
          }
        } finally {
          await c.end().catch(() => {});
        }
        if (!crashed) return;
        generation++;
      }
    }

    await Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(i)));
    console.log(`outbox-workers: ${JSON.stringify(stats)}`);
    expect(await undelivered()).toBe(0);

    const rows = (
      await ctl.query<{ outbox_id: string; object_key: string; delivered: boolean; attempts: number }>(
        `SELECT o.outbox_id, o.object_key, false AS delivered, o.attempts FROM ${S}.event_outbox AS o WHERE o.object_key LIKE 'outbox_probe:%'
         UNION ALL
         SELECT x.id, NULL, true, NULL FROM ${S}.outbox_receipt AS r, unnest(r.outbox_ids) AS x (id)`,
      )
    ).rows;
    const dead = (
      await ctl.query<{ outbox_id: string; object_key: string; attempts: number; errors: number; last_error: string }>(
        `SELECT outbox_id, object_key, attempts, jsonb_array_length(errors) AS errors, last_error FROM ${S}.event_dead_letter`,
      )
    ).rows;
    // none lost: every event is in exactly one place
    const ids = [...rows.map((r) => r.outbox_id), ...dead.map((d) => d.outbox_id)];
    expect(ids.length).toBe(EVENTS);
    expect(new Set(ids).size).toBe(EVENTS);
    expect(ids.every((id) => emittedIds.has(id))).toBe(true);
    // delivered: acknowledged by exactly one successful ack call
    for (const r of rows) {
      expect(r.delivered).toBe(true);
      expect(ackedBy.get(r.outbox_id), `event ${r.outbox_id} (${r.object_key})`).toBe(1);
    }
    // dead-lettered: never acknowledged, all attempts used, every error kept
    for (const d of dead) {
      expect(ackedBy.has(d.outbox_id), `dead-lettered ${d.outbox_id} was acknowledged`).toBe(false);
      expect(d.attempts).toBe(MAX_ATTEMPTS);
      expect(d.errors).toBe(MAX_ATTEMPTS);
    }
    expect([...ackedBy.values()].every((n) => n === 1)).toBe(true);
    // the poison events are all dead-lettered
    const poison = Array.from({ length: EVENTS }, (_, k) => `outbox_probe:O-${k + 1}`).filter((k) => k.endsWith('7'));
    expect(dead.map((d) => d.object_key)).toEqual(expect.arrayContaining(poison));

    const status = (await ctl.query(`SELECT * FROM ${S}.v_outbox_status`)).rows[0]!;
    expect(Number(status.dead_lettered)).toBe(dead.length);
    expect(Number(status.dead_lettered_total)).toBe(dead.length);
    expect(Number(status.depth)).toBe(0);
    expect(Number(status.stale_acks_total)).toBeLessThanOrEqual(stats.refused); // refusals of events since delivered or dead-lettered are not "stale"

    // re-drive everything and deliver it: every event ends acknowledged exactly once
    const moved = (await ctl.query<{ n: number }>(`SELECT ${S}.outbox_redrive() AS n`)).rows[0]!.n;
    expect(moved).toBe(dead.length);
    for (;;) {
      const got = (await ctl.query<{ outbox_id: string }>(`SELECT outbox_id FROM ${S}.outbox_claim('redrive-worker', 1000)`)).rows;
      if (got.length === 0) break;
      const n = (await ctl.query<{ n: number }>(`SELECT ${S}.outbox_ack($1::bigint[], 'redrive-worker') AS n`, [got.map((g) => g.outbox_id)])).rows[0]!.n;
      expect(n).toBe(got.length);
    }
    const final = (
      await ctl.query<{ delivered: string; dl: string }>(
        `SELECT (SELECT count(DISTINCT x.id) FROM ${S}.outbox_receipt AS r, unnest(r.outbox_ids) AS x (id)) AS delivered, (SELECT count(*) FROM ${S}.event_dead_letter) AS dl`,
      )
    ).rows[0]!;
    expect(Number(final.delivered)).toBe(EVENTS);
    expect(Number(final.dl)).toBe(0);
  });
});
