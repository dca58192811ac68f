/**
 * Adversarial review of the outbox replay guard (000013), real sessions: an operator rewinds the
 * handoff and replays it while a worker's acknowledgement of the same events is still open.
 *
 *  - three births are handed off and claimed;
 *  - session A acknowledges them (outbox_ack) and keeps its transaction open (a slow commit);
 *  - session B rewinds the handoff to before the births and consumes again: the replay guard
 *    (BEFORE INSERT on event_outbox) cannot see A's uncommitted receipt, and the handoff's
 *    INSERT ... ON CONFLICT waits for A's deleted outbox rows, then inserts once A commits;
 *  - A commits, B finishes.
 * Expected (exactly-once across a replay, CHANGELOG 000013): no event of the acknowledged births is
 * back in event_outbox. The opposite order (A commits first) is the sequential case of pgTAP 540.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { freshDatabase, type TestDb } from './helpers/db.js';

const S = 'birthgate';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function consumeUntil(c: pg.Client, want: number): Promise<number> {
  let emitted = 0;
  const until = Date.now() + 120_000;
  while (emitted < want && Date.now() < until) {
    emitted += (await c.query<{ emitted: number }>(`SELECT emitted FROM ${S}.handoff_consume(5000)`)).rows[0]!.emitted;
    if (emitted < want) await sleep(100);
  }
  return emitted;
}

describe('replay guard against an acknowledgement still in flight', () => {
  let db: TestDb;
  let ctl: pg.Client;

  beforeAll(async () => {
    db = await freshDatabase();
    ctl = await db.client();
    await ctl.query(`INSERT INTO ${S}.birth_family (collection_name, table_name, code_column, code_pattern)
                     VALUES ('race_probe', 'pg_catalog.pg_am', 'amname', '^R-[0-9]+$')`);
    await ctl.query(
      `WITH r AS (
         INSERT INTO ${S}.birth_registry (collection_name, entity_code)
         SELECT 'race_probe', 'R-' || g FROM generate_series(1, 3) AS g
         RETURNING registry_id, collection_name, entity_code, born_at)
       INSERT INTO ${S}.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
       SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r ORDER BY r.registry_id`,
    );
    await ctl.query(`SELECT ${S}.set_event_type_active('handoff.object_born', true)`);
    expect(await consumeUntil(ctl, 3)).toBe(3);
  }, 180_000);

  afterAll(async () => {
    await db?.drop();
  });

  it('a rewind replayed while the acknowledgement commits does not deliver the events again', async () => {
    const a = await db.client();
    const b = await db.client();
    const ids = (await ctl.query<{ outbox_id: string }>(`SELECT outbox_id FROM ${S}.outbox_claim('w1', 10)`)).rows.map((r) => r.outbox_id);
    expect(ids.length).toBe(3);

    await a.query('BEGIN');
    const acked = (await a.query<{ n: number }>(`SELECT ${S}.outbox_ack($1::bigint[], 'w1') AS n`, [ids])).rows[0]!.n;
    expect(acked).toBe(3);

    const bPid = (await b.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    await b.query(
      `SELECT ${S}.handoff_rewind(l.txid, l.change_id - 1)
         FROM ${S}.registry_changelog AS l WHERE l.collection_name = 'race_probe'
        ORDER BY l.txid, l.change_id LIMIT 1`,
    );
    let replayDone = false;
    const replay = b.query<{ emitted: number; consumed: number }>(`SELECT * FROM ${S}.handoff_consume(5000)`).then((r) => {
      console.log(`replay batch: ${JSON.stringify(r.rows[0])}`);
      replayDone = true;
      return r.rows[0]!.emitted;
    });
    // wait (generous deadline) until the replay either finished or waits for A's transaction
    const until = Date.now() + 60_000;
    for (;;) {
      if (replayDone) break;
      const w = await ctl.query<{ waiting: boolean }>(
        `SELECT coalesce(wait_event_type = 'Lock', false) AS waiting FROM pg_stat_activity WHERE pid = $1`,
        [bPid],
      );
      if (w.rows[0]?.waiting) break;
      if (Date.now() > until) throw new Error('the replay neither finished nor waited for the acknowledgement');
      await sleep(50);
    }
    await a.query('COMMIT');
    const emitted = await replay;

    const back = (
      await ctl.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${S}.event_outbox WHERE object_key LIKE 'race\\_probe:%'`)
    ).rows[0]!.n;
    const receipts = (await ctl.query<{ n: number }>(`SELECT coalesce(sum(events), 0)::int AS n FROM ${S}.outbox_receipt`)).rows[0]!.n;
    console.log(`replay emitted ${emitted}, events back in event_outbox ${back}, acknowledged ${receipts}`);
    expect(receipts).toBe(3);
    // every event was acknowledged once: a replay must not hand any of them out again
    expect(back).toBe(0);
  }, 180_000);
});
