/**
 * bench/sweeps.ts — the live-scale sweeps at the registry size of the scale budget
 * (1,037,716 objects; BENCH_ROWS to change it; BENCH_BATCH for a fixed batch size, default: adaptive,
 * the functions' default since 000012, each batch sized to about 80 ms; BENCH_TARGET to set that
 * target, e.g. BENCH_TARGET=100ms).
 *
 * Adoption: a family table of BENCH_ROWS rows with an index on its code column, adopted by
 * sweep_adopt in committed batches (each its own transaction, as the CLI runs it), against its
 * ceiling measured in the same run: one INSERT … SELECT writing the same birth_registry and
 * registry_changelog rows. Backfill: sweep_backfill over the registry against one INSERT … SELECT
 * of the same governance_candidate_state rows. Prints each time, the ratio ceiling/sweep (target
 * ≥ 0.8) and per-batch p50/p99/max (budget < 5 s, aim ≤ 100 ms).
 *
 * Fairness of the ceilings: same rows (checked: the row counts must match), same indexes (the same
 * tables, emptied), same WAL (printed for both): like the sweeps, the ceilings insert with
 * ON CONFLICT DO NOTHING on the same unique key (a live registry may gain the same key at any
 * moment; that speculative insertion writes one more WAL record per row), and every measured phase
 * starts right after a CHECKPOINT, so full-page images weigh the same. For reference the plain
 * INSERT … SELECT (no ON CONFLICT) is printed too; the target ratio is against the first.
 * The backfill ceilings are each the faster of two forms of the same statement, measured in the same
 * run: a LATERAL probe of the changelog per object (in registry_id order) and one merge join with
 * the latest changelog row per object (in object_key order, the order the 000012 sweep walks), so
 * no ceiling is handicapped by a plan the sweep avoids. No index was added for the sweeps: the
 * ceilings and the sweeps use the same indexes.
 */
import pg from 'pg';
import { migrate } from '../src/migrate.js';
import { withDatabase } from '../src/db.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_037_716);
const BATCH: number | null = process.env.BENCH_BATCH ? Number(process.env.BENCH_BATCH) : null;
const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) throw new Error('DATABASE_URL is not set (run through make bench)');
const S = 'birthgate';

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? 0;
}
const ms = (x: number) => `${x.toFixed(1)} ms`;

interface Run {
  total: number;
  wal: number;
  rows: number;
}

async function lsn(c: pg.Client): Promise<string> {
  return (await c.query(`SELECT pg_current_wal_lsn()::text AS l`)).rows[0].l;
}

async function walSince(c: pg.Client, from: string): Promise<number> {
  return Number((await c.query(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn) AS d`, [from])).rows[0].d);
}

/** One statement, after a CHECKPOINT: time, WAL bytes, rows. */
async function timed(c: pg.Client, sql: string): Promise<Run> {
  await c.query('CHECKPOINT');
  const l = await lsn(c);
  const t = performance.now();
  const r = await c.query(sql);
  const total = performance.now() - t;
  return { total, wal: await walSince(c, l), rows: r.rowCount ?? 0 };
}

async function reset(c: pg.Client, tables: string[]): Promise<void> {
  await c.query(`SET session_replication_role = replica`); // the changelog refuses TRUNCATE otherwise
  await c.query(`TRUNCATE ${tables.map((t) => `${S}.${t}`).join(', ')} CASCADE`);
  await c.query(`SET session_replication_role = origin`);
  await c.query(`DELETE FROM ${S}.sweep_cursor`);
  await c.query(`VACUUM ANALYZE`);
}

async function sweep(c: pg.Client, sql: string, params: unknown[]): Promise<Run & { batches: number[]; sizes: number[] }> {
  const batches: number[] = [];
  const sizes: number[] = [];
  let applied = 0;
  await c.query('CHECKPOINT');
  const l = await lsn(c);
  const t = performance.now();
  for (;;) {
    const t0 = performance.now();
    const r = (await c.query(sql, params)).rows[0];
    batches.push(performance.now() - t0);
    sizes.push(r.scanned);
    applied += r.applied;
    if (r.status !== 'batch') break;
  }
  const total = performance.now() - t;
  return { total, batches, sizes, rows: applied, wal: await walSince(c, l) };
}

const mb = (b: number) => `${(b / 1048576).toFixed(0)} MB WAL`;

function report(name: string, ceiling: Run, plain: Run, s: Run & { batches: number[]; sizes: number[] }) {
  if (ceiling.rows !== s.rows || plain.rows !== s.rows) {
    throw new Error(`${name}: the ceilings wrote ${ceiling.rows} / ${plain.rows} rows, the sweep ${s.rows}: not the same rows`);
  }
  const ratio = ceiling.total / s.total;
  console.log(`${name}: ${s.rows} rows`);
  console.log(`  ceiling (one INSERT … SELECT … ON CONFLICT DO NOTHING): ${(ceiling.total / 1000).toFixed(2)} s, ${mb(ceiling.wal)}`);
  console.log(`  reference (one plain INSERT … SELECT):                 ${(plain.total / 1000).toFixed(2)} s, ${mb(plain.wal)}`);
  const sizes = BATCH === null ? `adaptive: ${Math.min(...s.sizes)}–${Math.max(...s.sizes)} rows, p50 ${pct(s.sizes, 50)}` : `${BATCH}`;
  console.log(`  sweep (${s.batches.length} committed batches of ${sizes}): ${(s.total / 1000).toFixed(2)} s, ${mb(s.wal)}  → ${ratio.toFixed(2)} × ceiling (target ≥ 0.80) ${ratio >= 0.8 ? 'OK' : 'BELOW TARGET'}; ${(plain.total / s.total).toFixed(2)} × the plain reference`);
  console.log(`  per batch: p50 ${ms(pct(s.batches, 50))}, p99 ${ms(pct(s.batches, 99))}, max ${ms(Math.max(...s.batches))} (budget < 5000 ms, aim ≤ 100 ms)`);
}

async function main() {
  const dbName = `bg_bench_sweeps_${process.pid}`;
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = withDatabase(adminUrl!, dbName);
  try {
    await migrate({ databaseUrl: url, direction: 'up' });
    // BENCH_TARGET: the adaptive batches' time target (birthgate.sweep_batch_target), e.g. '100ms'
    if (process.env.BENCH_TARGET) await admin.query(`ALTER DATABASE ${dbName} SET birthgate.sweep_batch_target = '${process.env.BENCH_TARGET.replaceAll("'", "''")}'`);
    const c = new pg.Client(url);
    await c.connect();
    console.log(`sweeps bench: ${ROWS} objects, batch ${BATCH ?? `adaptive (sweep_batch_target ${process.env.BENCH_TARGET ?? 'default, 80 ms'})`}`);
    await c.query(`CREATE SCHEMA app; CREATE TABLE app.objects (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text NOT NULL, payload text)`);
    await c.query(`INSERT INTO app.objects (code, payload) SELECT 'OBJ-' || lpad(g::text, 8, '0'), md5(g::text) FROM generate_series(1, ${ROWS}) AS g`);
    await c.query(`CREATE UNIQUE INDEX ON app.objects (code)`);
    await c.query(`SELECT ${S}.register_family('objects', 'app.objects', 'code', '^OBJ-[0-9]+$', 'report')`);
    await c.query(`VACUUM ANALYZE`);

    // adoption: the ceilings, then the sweep
    const adoptSql = (onConflict: boolean) => `WITH r AS (
         INSERT INTO ${S}.birth_registry (collection_name, entity_code, permit_id, born_by)
         SELECT 'objects', t.code, NULL, current_user FROM app.objects AS t ORDER BY t.code
         ${onConflict ? 'ON CONFLICT (entity_code, collection_name) DO NOTHING' : ''}
         RETURNING registry_id, entity_code, born_at)
       INSERT INTO ${S}.registry_changelog (op, collection_name, entity_code, registry_id, born_at, actor, detail)
       SELECT 'BORN', 'objects', r.entity_code, r.registry_id, r.born_at, current_user,
              jsonb_build_object('adopted', true, 'adopted_by', current_user, 'run_id', 0, 'sweep', 'adopt:objects',
                                 'table', 'app.objects', 'mode', 'report', 'permit_id', NULL)
       FROM r ORDER BY r.registry_id`;
    const adoptPlain = await timed(c, adoptSql(false));
    await reset(c, ['birth_registry', 'registry_changelog']);
    const adoptCeiling = await timed(c, adoptSql(true));
    await reset(c, ['birth_registry', 'registry_changelog']);
    const adopt = await sweep(c, `SELECT * FROM ${S}.sweep_adopt('objects', false, $1::integer, NULL, false)`, [BATCH]);
    await c.query(`VACUUM ANALYZE`);

    // backfill: the ceilings, then the sweep (over the registry adoption just wrote)
    const backfillCols = `INSERT INTO ${S}.governance_candidate_state
           (object_key, collection_name, entity_code, registry_status, born_at, dirty, marked_at, source_change_id, source_txid)
       SELECT r.object_key, r.collection_name, r.entity_code, 'BORN', r.born_at, true,
              coalesce(lc.changed_at, r.born_at), coalesce(lc.change_id, 0), coalesce(lc.txid, r.born_txid)
       FROM ${S}.birth_registry AS r`;
    const backfillSql = (onConflict: boolean, form: 'lateral' | 'join') =>
      form === 'lateral'
        ? `${backfillCols}
       LEFT JOIN LATERAL (SELECT l.change_id, l.txid, l.changed_at FROM ${S}.registry_changelog AS l
                          WHERE l.object_key = r.object_key ORDER BY l.change_id DESC LIMIT 1) AS lc ON true
       WHERE r.status = 'BORN'
       ORDER BY r.registry_id
       ${onConflict ? 'ON CONFLICT (object_key) DO NOTHING' : ''}`
        : `${backfillCols}
       LEFT JOIN (SELECT DISTINCT ON (l.object_key) l.object_key, l.change_id, l.txid, l.changed_at FROM ${S}.registry_changelog AS l
                  ORDER BY l.object_key, l.change_id DESC) AS lc ON lc.object_key = r.object_key
       WHERE r.status = 'BORN'
       ORDER BY r.object_key
       ${onConflict ? 'ON CONFLICT (object_key) DO NOTHING' : ''}`;
    const best = async (onConflict: boolean): Promise<Run> => {
      const runs: Run[] = [];
      for (const form of ['lateral', 'join'] as const) {
        runs.push(await timed(c, backfillSql(onConflict, form)));
        await reset(c, ['governance_candidate_state']);
      }
      return runs.reduce((a, b) => (b.total < a.total ? b : a));
    };
    const backfillPlain = await best(false);
    const backfillCeiling = await best(true);
    const backfill = await sweep(c, `SELECT * FROM ${S}.sweep_backfill($1::integer, NULL, false)`, [BATCH]);

    report('adoption', adoptCeiling, adoptPlain, adopt);
    report('backfill', backfillCeiling, backfillPlain, backfill);
    await c.end();
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
