/**
 * Adversarial pass on adopting a table that already holds objects, with real sessions: the
 * adoption sweep (small committed batches, as sweep_adopt_run and the CLI run it) while an
 * application deletes, re-codes, inserts with permits and upserts, and an admin switches the
 * family off -> report -> enforce and retires the phantoms it finds. At the end (one more run
 * adopts what is new) every object holds exactly one BORN registry row, a BORN row without an
 * object is a phantom the drift monitor lists, and the handoff emits exactly one event per BORN
 * changelog row. The operations are random: the seed is printed (BREAKER8_SEED replays a run).
 * Also: down from 0.4.1 to 0.4.0 and up again with families, births and events present; the install
 * script applied over an installed schema; the CLI consume under a role statement_timeout.
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import type pg from 'pg';
import { readFileSync } from 'node:fs';
import { databasesDroppedAfterAll } from './helpers/db.js';

const databases = databasesDroppedAfterAll();
const root = resolve(import.meta.dirname, '..');

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function attempt(c: pg.Client, stmts: string[], seen: Map<string, number>): Promise<boolean> {
  await c.query('BEGIN');
  try {
    for (const s of stmts) await c.query(s);
    await c.query('COMMIT');
    seen.set('ok', (seen.get('ok') ?? 0) + 1);
    return true;
  } catch (e) {
    await c.query('ROLLBACK');
    const code = (e as { code?: string }).code ?? String(e);
    seen.set(code, (seen.get(code) ?? 0) + 1);
    return false;
  }
}

const cli = (args: string[], env: Record<string, string>) => runCli(args, env);

describe('adoption of a live table', () => {
  it('adopt while the application deletes, re-codes, inserts and upserts and the admin switches modes and retires: one BORN row per object, one event per BORN row', async () => {
    const seed = Number(process.env.BREAKER8_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`breaker8-adopt seed ${seed} (BREAKER8_SEED=${seed} replays it)`);
    const rand = rng(seed);
    const db = await databases.fresh();
    const adm = await db.client();
    const app = await db.client();
    const ops = await db.client();
    await adm.query(`CREATE SCHEMA b8; CREATE TABLE b8.live (id serial PRIMARY KEY, code text UNIQUE, n int NOT NULL DEFAULT 0)`);
    const N = 3000;
    await adm.query(`INSERT INTO b8.live (code) SELECT 'L-' || g FROM generate_series(1, ${N}) g`);
    await adm.query(`SELECT birthgate.register_family('b8live', 'b8.live', 'code', '^L-[0-9]+$', 'off')`);
    await adm.query(`SELECT birthgate.set_event_type_active('handoff.object_born', true)`);

    let sweeping = true;
    const sweep = (async () => {
      const deadline = Date.now() + 120_000;
      for (;;) {
        const r = await adm.query<{ status: string }>(`SELECT status FROM birthgate.sweep_adopt('b8live', false, 10, NULL, false)`);
        if (r.rows[0]!.status === 'finished' || Date.now() > deadline) break;
      }
      sweeping = false;
    })();

    const seen = new Map<string, number>();
    let next = N + 1;
    let step = 0;
    const mutate = (async () => {
      while (sweeping || step < 60) {
        step++;
        if (step === 20) await ops.query(`SELECT birthgate.set_family_mode('b8live', 'report')`);
        if (step === 40) await ops.query(`SELECT birthgate.set_family_mode('b8live', 'enforce')`);
        if (step % 15 === 0) {
          // the admin retires what is gone (phantoms), as an operator following the drift report would
          await attempt(ops, [`SELECT birthgate.retire('b8live', f.entity_code, 'breaker8: gone')
                                 FROM birthgate.drift_family_objects('b8live') f WHERE f.finding = 'phantom'`], seen);
        }
        const id = 1 + Math.floor(rand() * (next - 1));
        const k = rand();
        const code = `L-${next++}`;
        if (k < 0.25) {
          await attempt(app, [`SELECT birthgate.retire('b8live', code, 'deleted') FROM b8.live WHERE id = ${id}
                                 AND EXISTS (SELECT 1 FROM birthgate.birth_registry r WHERE r.collection_name = 'b8live' AND r.entity_code = b8.live.code AND r.status = 'BORN')`,
                               `DELETE FROM b8.live WHERE id = ${id}`], seen).catch(() => undefined);
        } else if (k < 0.5) {
          await attempt(app, [`SELECT birthgate.issue_permit('b8live', '${code}')`, `UPDATE b8.live SET code = '${code}' WHERE id = ${id}`], seen);
        } else if (k < 0.75) {
          await attempt(app, [`SELECT birthgate.issue_permit('b8live', '${code}')`, `INSERT INTO b8.live (code) VALUES ('${code}')`], seen);
        } else {
          const existing = `L-${1 + Math.floor(rand() * N)}`;
          await attempt(app, [`INSERT INTO b8.live (code) VALUES ('${existing}') ON CONFLICT (code) DO UPDATE SET n = b8.live.n + 1`], seen);
        }
      }
    })();
    await Promise.all([sweep, mutate]);
    console.log(`breaker8-adopt seed ${seed}: outcomes ${JSON.stringify([...seen])}`);

    // a re-run adopts what is new (rows born while the family was off)
    for (let i = 0; i < 200; i++) {
      const r = await adm.query<{ status: string }>(`SELECT status FROM birthgate.sweep_adopt('b8live', false, 1000, NULL, false)`);
      if (r.rows[0]!.status === 'finished') break;
    }
    await adm.query(`CALL birthgate.handoff_drain()`);

    // every refusal is one of the package's own SQLSTATEs (or a serialization/deadlock retry)
    const raw = [...seen.keys()].filter((k) => k !== 'ok' && !/^BG/.test(k));
    expect(raw, `seed ${seed}`).toEqual([]);

    const inv = await adm.query<{ unborn: number; twice: number; phantom_unlisted: number; events_missing: number; events_twice: number }>(`
      SELECT (SELECT count(*)::int FROM b8.live t WHERE NOT EXISTS (SELECT 1 FROM birthgate.birth_registry r
                WHERE r.collection_name = 'b8live' AND r.entity_code = t.code AND r.status = 'BORN')
                AND NOT EXISTS (SELECT 1 FROM birthgate.birth_registry r
                WHERE r.collection_name = 'b8live' AND r.entity_code = t.code AND r.status = 'RETIRED')) AS unborn,
             (SELECT count(*)::int FROM (SELECT entity_code FROM birthgate.birth_registry WHERE collection_name = 'b8live'
                GROUP BY entity_code HAVING count(*) > 1) x) AS twice,
             (SELECT count(*)::int FROM birthgate.birth_registry r WHERE r.collection_name = 'b8live' AND r.status = 'BORN'
                AND NOT EXISTS (SELECT 1 FROM b8.live t WHERE t.code = r.entity_code)
                AND NOT EXISTS (SELECT 1 FROM birthgate.drift_family_objects('b8live') f
                                 WHERE f.finding = 'phantom' AND f.entity_code = r.entity_code)) AS phantom_unlisted,
             (SELECT count(*)::int FROM birthgate.registry_changelog l WHERE l.op = 'BORN' AND l.collection_name = 'b8live'
                AND NOT EXISTS (SELECT 1 FROM birthgate.event_outbox o WHERE o.object_key LIKE '%' || l.entity_code)
                AND NOT EXISTS (SELECT 1 FROM birthgate.event_pending p WHERE p.object_key LIKE '%' || l.entity_code)) AS events_missing,
             (SELECT count(*)::int FROM (SELECT o.object_key, o.born_at FROM birthgate.event_outbox o
                GROUP BY 1, 2 HAVING count(*) > 1) x) AS events_twice`);
    console.log(`breaker8-adopt seed ${seed}: ${JSON.stringify(inv.rows[0])}`);
    expect(inv.rows[0], `seed ${seed}`).toEqual({ unborn: 0, twice: 0, phantom_unlisted: 0, events_missing: 0, events_twice: 0 });
    const ev = await adm.query<{ born: number; events: number }>(`
      SELECT (SELECT count(*)::int FROM birthgate.registry_changelog WHERE op = 'BORN') AS born,
             (SELECT count(*)::int FROM birthgate.event_outbox) + (SELECT count(*)::int FROM birthgate.event_pending) AS events`);
    expect(ev.rows[0]!.events, `seed ${seed}`).toBe(ev.rows[0]!.born);
  }, 300_000);
});

describe('0.4.1 <-> 0.4.0 with data', () => {
  it('down to 0.4.0 (000017) and up again: registry, changelog, permits, outbox and cursor kept; births and refusals work at 0.4.0 and after', async () => {
    const db = await databases.fresh();
    const c = await db.client();
    await c.query(`CREATE SCHEMA b8; CREATE TABLE b8.t (id serial PRIMARY KEY, code text UNIQUE)`);
    await c.query(`SELECT birthgate.register_family('b8t', 'b8.t', 'code', '^T-[0-9]+$', 'enforce')`);
    await c.query(`SELECT birthgate.issue_permit('b8t', 'T-' || g) FROM generate_series(1, 10) g`);
    await c.query(`INSERT INTO b8.t (code) SELECT 'T-' || g FROM generate_series(1, 10) g`);
    await c.query(`SELECT birthgate.set_event_type_active('handoff.object_born', true)`);
    await c.query(`CALL birthgate.handoff_drain()`);
    await c.query(`SELECT birthgate.issue_permit('b8t', 'T-' || g) FROM generate_series(11, 15) g`);
    await c.query(`INSERT INTO b8.t (code) SELECT 'T-' || g FROM generate_series(11, 15) g`);
    const state = async () => (await c.query(`SELECT
        (SELECT string_agg(entity_code || status, ',' ORDER BY registry_id) FROM birthgate.birth_registry) AS reg,
        (SELECT count(*) FROM birthgate.registry_changelog) AS log,
        (SELECT count(*) FROM birthgate.birth_admission_permit WHERE state = 'CONSUMED') AS permits,
        (SELECT count(*) FROM birthgate.event_outbox) AS outbox,
        (SELECT position_txid::text || '/' || position_change_id FROM birthgate.handoff_cursor) AS cursor`)).rows[0];
    const before = await state();
    // every migration after 0.4.0's release marker
    const count = (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM birthgate_migrations.pgmigrations WHERE name > '000017_release_0_4_0'`)).rows[0]!.n;
    expect(count).toBeGreaterThanOrEqual(6);
    const r = await cli(['migrate', 'down', '--count', String(count), '--json'], { DATABASE_URL: db.url });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const applied = (await c.query<{ name: string }>(`SELECT name FROM birthgate_migrations.pgmigrations ORDER BY id DESC LIMIT 1`)).rows[0]!.name;
    expect(await state()).toEqual(before);
    expect(applied).toBe('000017_release_0_4_0');
    const up = await cli(['migrate', 'up', '--json'], { DATABASE_URL: db.url });
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(await state()).toEqual(before);
    await c.query(`CALL birthgate.handoff_drain()`);
    const after = (await c.query(`SELECT (SELECT count(*)::int FROM birthgate.event_outbox) AS outbox,
                                         (SELECT count(*)::int FROM birthgate.registry_changelog WHERE op = 'BORN') AS born`)).rows[0];
    expect(after).toEqual({ outbox: 15, born: 15 });
    // still governed: a birth without a permit is refused
    await expect(c.query(`INSERT INTO b8.t (code) VALUES ('T-99')`)).rejects.toMatchObject({ code: 'BG120' });
  }, 120_000);

  it('the install script over an installed schema: BG003 with DETAIL and HINT, nothing changed', async () => {
    const db = await databases.fresh();
    const c = await db.client();
    const n0 = (await c.query(`SELECT count(*)::int AS n FROM birthgate_migrations.pgmigrations`)).rows[0];
    const script = readFileSync(resolve(root, `sql/birthgate--${JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')).version}.sql`), 'utf8').replace(/^\\set .*$/m, '');
    const err = await c.query(script).then(() => null, (e) => e as { code?: string; detail?: string; hint?: string });
    await c.query('ROLLBACK').catch(() => undefined);
    expect(err).toMatchObject({ code: 'BG003' });
    expect(err!.detail).toMatch(/birthgate/);
    expect(err!.hint).toMatch(/migrate up/);
    expect((await c.query(`SELECT count(*)::int AS n FROM birthgate_migrations.pgmigrations`)).rows[0]).toEqual(n0);
  }, 60_000);
});

describe('the CLI as a cron job', () => {
  it('consume --json under a role statement_timeout: exit 1, one JSON line, class database with SQLSTATE 57014; the cursor unchanged', async () => {
    const db = await databases.fresh();
    const c = await db.client();
    await c.query(`CREATE ROLE b8_cron_${db.name} LOGIN IN ROLE birthgate_consumer`);
    await c.query(`ALTER ROLE b8_cron_${db.name} SET statement_timeout = '1ms'`);
    await c.query(`CREATE SCHEMA b8; CREATE TABLE b8.t (id serial PRIMARY KEY, code text UNIQUE)`);
    await c.query(`SELECT birthgate.register_family('b8t', 'b8.t', 'code', '^T-[0-9]+$', 'enforce')`);
    await c.query(`SELECT birthgate.issue_permit('b8t', 'T-' || g) FROM generate_series(1, 3000) g`);
    await c.query(`INSERT INTO b8.t (code) SELECT 'T-' || g FROM generate_series(1, 3000) g`);
    const cur0 = (await c.query(`SELECT position_change_id FROM birthgate.handoff_cursor`)).rows[0];
    const url = new URL(db.url);
    url.username = `b8_cron_${db.name}`;
    const r = await cli(['consume', '--until-empty', '--json'], { DATABASE_URL: url.toString() });
    const lines = r.stdout.split('\n').filter(Boolean);
    expect(lines, r.stdout + r.stderr).toHaveLength(1);
    const doc = JSON.parse(lines[0]!) as { ok: boolean; exit_code: number; error?: { class: string; sqlstate?: string; hint?: string } };
    console.log(`breaker8 cron: exit ${r.code} ${lines[0]}`);
    if (doc.ok) {
      // a fast machine may finish within 1 ms per statement: then it must have consumed everything
      expect(r.code).toBe(0);
    } else {
      expect(r.code).toBe(1);
      expect(doc.error).toMatchObject({ class: 'database', sqlstate: '57014' });
      expect((await c.query(`SELECT position_change_id FROM birthgate.handoff_cursor`)).rows[0]).toEqual(cur0);
    }
    await c.query(`DROP OWNED BY b8_cron_${db.name}; DROP ROLE b8_cron_${db.name}`);
  }, 120_000);
});

describe('move_family and register_family as a way in', () => {
  /**
   * Session 1 runs `first` in an open transaction, session 2 runs `second` and waits on it (polled in
   * pg_stat_activity, 60 s deadline), then session 1 commits: session 2's outcome ('ok' or its SQLSTATE).
   */
  async function concurrently(c: pg.Client, s1: pg.Client, s2: pg.Client, first: string, second: string): Promise<string> {
    await s1.query('BEGIN');
    await s1.query(first);
    const pid2 = (await s2.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;
    const outcome = s2.query(second).then(() => 'ok', (e) => (e as { code?: string }).code ?? 'error');
    const deadline = Date.now() + 60_000;
    for (;;) {
      const w = await c.query(`SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1`, [pid2]);
      if (w.rows[0]?.wait_event_type === 'Lock') break;
      if (Date.now() > deadline) throw new Error('the second session never waited on the first');
      await new Promise((r) => setTimeout(r, 50));
    }
    await s1.query('COMMIT');
    return outcome;
  }
  // Until 000024 the second of two concurrent registrations of one new family raised a raw 23505
  // (birth_family_pkey) once the first committed; register_family now reads again after the violation.
  it('register_family of one new family from two sessions at once: both succeed (idempotent), one family row, seven gates', async () => {
    const db = await databases.fresh();
    const [c, s1, s2] = [await db.client(), await db.client(), await db.client()];
    await c.query(`CREATE SCHEMA b8; CREATE TABLE b8.c (id int, code text)`);
    const reg = `SELECT birthgate.register_family('b8c', 'b8.c', 'code', '^C-[0-9]+$', 'enforce')`;
    expect(await concurrently(c, s1, s2, reg, reg)).toBe('ok');
    expect((await c.query(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'b8.c'::regclass AND NOT tgisinternal`)).rows[0]).toEqual({ n: 7 });
    expect((await c.query(`SELECT count(*)::int AS n FROM birthgate.birth_family WHERE collection_name = 'b8c'`)).rows[0]).toEqual({ n: 1 });
  }, 120_000);
  it('two collections registered onto one table from two sessions at once: the second is BG106, one family row', async () => {
    const db = await databases.fresh();
    const [c, s1, s2] = [await db.client(), await db.client(), await db.client()];
    await c.query(`CREATE SCHEMA b8; CREATE TABLE b8.c (id int, code text)`);
    expect(await concurrently(c, s1, s2, `SELECT birthgate.register_family('b8c1', 'b8.c', 'code', '^C-[0-9]+$', 'enforce')`,
      `SELECT birthgate.register_family('b8c2', 'b8.c', 'code', '^C-[0-9]+$', 'enforce')`)).toBe('BG106');
    expect((await c.query(`SELECT string_agg(collection_name, ',') AS f FROM birthgate.birth_family WHERE table_name = 'b8.c'::regclass`)).rows[0]).toEqual({ f: 'b8c1' });
  }, 120_000);

  it('an admin owning only one of the two tables: move_family is BG154 with DETAIL/HINT, nothing moved', async () => {
    const db = await databases.fresh();
    const c = await db.client();
    await c.query(`CREATE SCHEMA b8; CREATE TABLE b8.c (id int, code text); CREATE TABLE b8.d (id int, code text)`);
    await c.query(`SELECT birthgate.register_family('b8c', 'b8.c', 'code', '^C-[0-9]+$', 'enforce')`);
    const role = `b8adm_${db.name}`;
    await c.query(`CREATE ROLE ${role} IN ROLE birthgate_admin; GRANT USAGE ON SCHEMA b8 TO ${role}; ALTER TABLE b8.c OWNER TO ${role}`);
    await c.query('BEGIN');
    await c.query(`SET LOCAL ROLE ${role}`);
    const err = await c.query(`SELECT birthgate.move_family('b8c', 'b8.d', 'breaker8')`).then(() => null, (e) => e as { code?: string; detail?: string; hint?: string });
    await c.query('ROLLBACK');
    expect(err).toMatchObject({ code: 'BG154' });
    expect(err!.detail).toMatch(/b8\.d/);
    expect(err!.hint).toMatch(/GRANT TRIGGER/);
    expect((await c.query(`SELECT table_name::text AS t FROM birthgate.birth_family WHERE collection_name = 'b8c'`)).rows[0]).toEqual({ t: 'b8.c' });
    await c.query(`ALTER TABLE b8.c OWNER TO current_user; DROP OWNED BY ${role}; DROP ROLE ${role}`);
  }, 60_000);
});
