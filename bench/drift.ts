/**
 * make bench (BENCH=drift): cost of reading v_drift_report, which scans every family table
 * against the registry (unborn + phantom anti-joins), for a family of N born objects; printed next
 * to a same-run baseline: the bare anti-join of the table against birth_registry (the minimum any
 * unborn check must do) and a plain count(*) of the table.
 * BENCH_ROWS (default 200000) sets N.
 */
import pg from 'pg';
import { migrate } from '../src/migrate.js';
import { withDatabase } from '../src/db.js';

const rows = Number(process.env.BENCH_ROWS ?? 200_000);
const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) throw new Error('DATABASE_URL is required');
const name = `bg_bench_drift_${process.pid}`;

async function time(c: pg.Client, sql: string, runs = 5): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await c.query(sql);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)]!;
}

const admin = new pg.Client(adminUrl);
await admin.connect();
await admin.query(`CREATE DATABASE ${name}`);
try {
  const url = withDatabase(adminUrl, name);
  await migrate({ databaseUrl: url, direction: 'up' });
  const c = new pg.Client(url);
  await c.connect();
  await c.query(`CREATE TABLE public.bench_items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text UNIQUE)`);
  await c.query(`SELECT birthgate.register_family('bench_items', 'public.bench_items', 'code', '^BI-[0-9]+$', 'enforce')`);
  // N born objects, loaded the way a backfill would (triggers off for the load, registry consistent)
  await c.query('SET session_replication_role = replica');
  await c.query(`INSERT INTO public.bench_items (code) SELECT 'BI-' || g FROM generate_series(1, $1) g`, [rows]);
  await c.query(`INSERT INTO birthgate.birth_registry (collection_name, entity_code) SELECT 'bench_items', 'BI-' || g FROM generate_series(1, $1) g`, [rows]);
  await c.query('RESET session_replication_role');
  await c.query('ANALYZE public.bench_items; ANALYZE birthgate.birth_registry');
  await c.query(`UPDATE birthgate.handoff_cursor SET heartbeat_at = now()`);
  const findings = (await c.query('SELECT count(*)::int AS n FROM birthgate.v_drift_report')).rows[0].n;

  const report = await time(c, 'SELECT * FROM birthgate.v_drift_report');
  const fnHash = await time(c, 'SELECT * FROM birthgate.v_drift_function_hash');
  const trig = await time(c, 'SELECT * FROM birthgate.v_drift_trigger_state');
  const antiJoin = await time(
    c,
    `SELECT count(*) FROM public.bench_items t WHERE NOT EXISTS (SELECT 1 FROM birthgate.birth_registry r WHERE r.collection_name = 'bench_items' AND r.entity_code = t.code)`,
  );
  const count = await time(c, 'SELECT count(*) FROM public.bench_items');
  console.log(`drift monitor, one family of ${rows} born objects, ${findings} findings (median of 5 runs):`);
  console.log(`  v_drift_report (everything)          ${report.toFixed(1)} ms`);
  console.log(`  v_drift_function_hash                ${fnHash.toFixed(1)} ms`);
  console.log(`  v_drift_trigger_state                ${trig.toFixed(1)} ms`);
  console.log(`  baseline: bare unborn anti-join      ${antiJoin.toFixed(1)} ms`);
  console.log(`  baseline: count(*) of the table      ${count.toFixed(1)} ms`);
  await c.end();
} finally {
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}
