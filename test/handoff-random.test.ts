/**
 * Randomized multi-connection run of the governance handoff (issue 4), real PostgreSQL:
 * - 5 writer connections, each 30 transactions of 1–3 births (sometimes a retire of one of its
 *   earlier births), random commit delays, ~20% rolled back, sometimes taking their xid before
 *   the changelog id (so xid order and id order disagree: the out-of-order commit hazard);
 * - two consumers running at once the whole time (handoff_consume with random batch sizes, and
 *   CALL handoff_drain), a lane toggler switching handoff.object_born active/inactive and
 *   releasing pending events, and a replayer rewinding the cursor a few rows (handoff_rewind: replays
 *   must be harmless);
 * - a long writer in ANOTHER database of the cluster holding one transaction (with an xid) open for
 *   the whole run, final drain included: it must not hold back any committed birth here.
 * After a final drain: every committed birth has exactly one candidate row and exactly one event
 * (in one lane), retired objects' candidates say RETIRED, no row exists for a rolled-back birth,
 * and v_handoff_lag is 0. Bounded: counts are fixed, sleeps are short; the seed is printed
 * (HANDOFF_SEED=<n> reproduces the schedule).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import pgModule from 'pg';
import { adminUrl, freshDatabase, type TestDb } from './helpers/db.js';
import { prng } from './helpers/random.js';

const WRITERS = 5;
const TXNS_PER_WRITER = 30;
const S = 'birthgate';

/** mulberry32: small, seedable PRNG. */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function birth(c: pg.Client, code: string): Promise<void> {
  await c.query(
    `WITH r AS (
       INSERT INTO ${S}.birth_registry (collection_name, entity_code) VALUES ('random_probe', $1)
       RETURNING registry_id, collection_name, entity_code, born_at)
     INSERT INTO ${S}.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
     SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r`,
    [code],
  );
}

async function retire(c: pg.Client, code: string): Promise<void> {
  await c.query(
    `WITH r AS (
       UPDATE ${S}.birth_registry
       SET status = 'RETIRED', retired_at = now(), retired_by = current_user, retire_reason = 'random run'
       WHERE collection_name = 'random_probe' AND entity_code = $1 AND status = 'BORN'
       RETURNING registry_id, collection_name, entity_code, born_at)
     INSERT INTO ${S}.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
     SELECT 'RETIRED', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r`,
    [code],
  );
}

describe('handoff under random concurrency', () => {
  let db: TestDb;
  const seed = Number(process.env.HANDOFF_SEED ?? Date.now() % 2 ** 31);

  beforeAll(async () => {
    db = await freshDatabase();
    const c = await db.client();
    await c.query(`INSERT INTO ${S}.birth_family (collection_name, table_name, code_column, code_pattern)
                   VALUES ('random_probe', 'pg_catalog.pg_class', 'relname', '^w[0-9]+-[0-9]+-[0-9]+$')`);
    console.log(`handoff-random: seed ${seed} (reproduce with HANDOFF_SEED=${seed})`);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('every committed birth ends with exactly one candidate and one event; rolled-back births leave nothing', async () => {
    const committed = new Set<string>();
    const rolledBack = new Set<string>();
    const retired = new Set<string>();
    let writersDone = 0;
    let failed = false;
    const running = () => writersDone < WRITERS && !failed;
    const guard = async (task: () => Promise<void>) => {
      try {
        await task();
      } catch (e) {
        failed = true;
        throw e;
      }
    };
    const stats = { consumerCalls: 0, skipped: 0, drains: 0, toggles: 0, released: 0, replays: 0, rewindsRefused: 0 };
    // a long writer in ANOTHER database of the cluster holds one transaction (with an xid) open for
    // the whole run: it must not hold back a single committed birth here
    const longWriter = new pgModule.Client({ connectionString: adminUrl(), application_name: 'handoff-random long writer' });
    await longWriter.connect();
    await longWriter.query('BEGIN');
    await longWriter.query('SELECT pg_current_xact_id()');

    const writer = async (w: number) => {
      const rnd = prng(seed + w * 7919);
      const c = await db.client();
      const mine: string[] = [];
      for (let t = 0; t < TXNS_PER_WRITER && !failed; t++) {
        const codes = Array.from({ length: 1 + Math.floor(rnd() * 3) }, (_, k) => `w${w}-${t}-${k}`);
        const toRetire = mine.length > 0 && rnd() < 0.15 ? mine[Math.floor(rnd() * mine.length)]! : null;
        await c.query('BEGIN');
        if (rnd() < 0.5) await c.query('SELECT pg_current_xact_id()'); // take the xid before the changelog id
        await sleep(rnd() * 10);
        for (const code of codes) await birth(c, code);
        if (toRetire && !retired.has(toRetire)) await retire(c, toRetire);
        await sleep(rnd() * 25);
        if (rnd() < 0.2) {
          await c.query('ROLLBACK');
          codes.forEach((x) => rolledBack.add(x));
        } else {
          await c.query('COMMIT');
          codes.forEach((x) => {
            committed.add(x);
            mine.push(x);
          });
          if (toRetire) retired.add(toRetire);
        }
      }
      writersDone++;
    };

    const consumer = async (id: number) => {
      const rnd = prng(seed + 1000 + id);
      const c = await db.client();
      while (running()) {
        if (id === 1 && rnd() < 0.3) {
          await c.query(`CALL ${S}.handoff_drain($1, 3)`, [1 + Math.floor(rnd() * 5)]);
          stats.drains++;
        } else {
          const r = await c.query<{ lag: string | null }>(`SELECT * FROM ${S}.handoff_consume($1)`, [1 + Math.floor(rnd() * 7)]);
          stats.consumerCalls++;
          if (r.rows[0]!.lag === null) stats.skipped++;
        }
        await sleep(rnd() * 15);
      }
    };

    const toggler = async () => {
      const rnd = prng(seed + 2000);
      const c = await db.client();
      while (running()) {
        await sleep(20 + rnd() * 60);
        const active = rnd() < 0.5;
        await c.query(`SELECT ${S}.set_event_type_active('handoff.object_born', $1)`, [active]);
        stats.toggles++;
        if (active) {
          const r = await c.query<{ n: number }>(`SELECT ${S}.release_pending('handoff.object_born') AS n`);
          stats.released += r.rows[0]!.n;
        }
      }
    };

    const replayer = async () => {
      const rnd = prng(seed + 3000);
      const c = await db.client();
      while (running()) {
        await sleep(60 + rnd() * 120);
        // rewind a few rows behind the last row taken (handoff_rewind): a shallow replay, which
        // must be harmless (a deep one would re-read, and so hide, rows an unsafe consumer skipped)
        const back = await c.query<{ txid: string; change_id: string }>(
          `SELECT l.txid::text, l.change_id::text
           FROM ${S}.registry_changelog AS l, ${S}.handoff_cursor AS hc
           WHERE (l.txid, l.change_id) <= (hc.position_txid, hc.position_change_id)
           ORDER BY l.txid DESC, l.change_id DESC OFFSET $1 LIMIT 1`,
          [1 + Math.floor(rnd() * 8)],
        );
        if (back.rows.length === 0) continue;
        const pos = back.rows[0]!;
        try {
          await c.query(`SELECT ${S}.handoff_rewind($1::xid8, $2::bigint)`, [pos.txid, pos.change_id]);
          stats.replays++;
        } catch (e) {
          // the point was read before a consumer batch moved on into a window of late-committing
          // (lower) xids: it is now past that window's last row taken, and refusing it is correct
          if ((e as { code?: string }).code !== 'BG221') throw e;
          stats.rewindsRefused++;
        }
      }
    };

    await Promise.all([
      ...Array.from({ length: WRITERS }, (_, w) => guard(() => writer(w))),
      guard(() => consumer(1)),
      guard(() => consumer(2)),
      guard(() => toggler()),
      guard(() => replayer()),
    ]);

    // final drain while the long writer in the other database is STILL open: one drain takes everything
    const c = await db.client();
    await c.query(`CALL ${S}.handoff_drain(7)`);
    const final = (await c.query<{ consumed: number; lag: string }>(`SELECT * FROM ${S}.handoff_consume(1000)`)).rows[0]!;
    console.log(
      `handoff-random: ${committed.size} committed births (${retired.size} retired), ${rolledBack.size} rolled back; ` +
        `consumer calls ${stats.consumerCalls} (${stats.skipped} skipped: cursor busy), drains ${stats.drains}, ` +
        `lane toggles ${stats.toggles}, released ${stats.released}, cursor rewinds ${stats.replays} (${stats.rewindsRefused} refused: BG221)`,
    );
    expect(final.consumed).toBe(0);
    expect(Number(final.lag)).toBe(0);
    expect(committed.size).toBeGreaterThan(50);
    expect(rolledBack.size).toBeGreaterThan(0);

    const candidates = new Map(
      (
        await c.query<{ entity_code: string; registry_status: string }>(
          `SELECT entity_code, registry_status FROM ${S}.governance_candidate_state WHERE collection_name = 'random_probe'`,
        )
      ).rows.map((r) => [r.entity_code, r.registry_status]),
    );
    const events = (
      await c.query<{ code: string; lanes: string }>(
        `SELECT split_part(object_key, ':', 2) AS code, string_agg(lane, ',' ORDER BY lane) AS lanes FROM (
           SELECT object_key, 'pending' AS lane FROM ${S}.event_pending
           UNION ALL SELECT object_key, 'outbox' FROM ${S}.event_outbox) e
         WHERE object_key LIKE 'random\\_probe:%' GROUP BY object_key`,
      )
    ).rows;
    const eventLanes = new Map(events.map((e) => [e.code, e.lanes]));

    const missingCandidate = [...committed].filter((x) => !candidates.has(x));
    const wrongStatus = [...committed].filter((x) => candidates.get(x) !== (retired.has(x) ? 'RETIRED' : 'BORN'));
    const notExactlyOneEvent = [...committed].filter((x) => !['pending', 'outbox'].includes(eventLanes.get(x) ?? ''));
    const ghosts = [...rolledBack].filter((x) => candidates.has(x) || eventLanes.has(x));
    expect(missingCandidate, 'committed births without a candidate row').toEqual([]);
    expect(wrongStatus, 'candidates whose status disagrees with the registry').toEqual([]);
    expect(notExactlyOneEvent, 'committed births without exactly one event in one lane').toEqual([]);
    expect(ghosts, 'rolled-back births that were handed off').toEqual([]);
    expect(candidates.size).toBe(committed.size);
    expect(events.length).toBe(committed.size);
    const lag = (await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${S}.v_handoff_lag`)).rows[0]!.n;
    expect(Number(lag)).toBe(0);
    const status = (await c.query<{ rows_waiting: string; rows_held_back: string; stale: boolean }>(
      `SELECT rows_waiting, rows_held_back, stale FROM ${S}.v_handoff_status`,
    )).rows[0]!;
    expect(status).toEqual({ rows_waiting: '0', rows_held_back: '0', stale: false });
    await longWriter.query('ROLLBACK');
    await longWriter.end();
  });
});
