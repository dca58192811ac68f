/**
 * bench/admission.ts — what admission control costs (make bench, BENCH=admission).
 *
 * Bulk: one INSERT ... SELECT of N rows (default 1,037,716, the seeds' scale; BENCH_ROWS=n for
 * fewer) into
 *   plain     an ungoverned table (the floor)
 *   governed  a registered enforce-mode table (permits issued beforehand): the BEFORE ROW gate
 *             validates each row, the AFTER STATEMENT writer consumes the permits and writes
 *             registry + changelog set-based, layer 2 checks every row inside COMMIT
 *   ceiling   the same writes by hand as plain statements in one transaction: insert the objects
 *             into an ungoverned table; UPDATE the permits FROM the codes; INSERT ... SELECT into
 *             birth_registry and registry_changelog
 * each in its own transaction, timed including COMMIT; prints seconds, rows/s and
 * governed/ceiling (target >= 0.5: the ceiling's time divided by the governed time).
 * Single row: p50/p99 latency of BENCH_SINGLE (default 10,000) governed INSERTs, each its own
 * committed transaction (autocommit), vs the same number into the plain table, and vs a single-row
 * ceiling: the same four writes by hand (object, permit UPDATE, registry and changelog INSERT) as one
 * statement (one round trip, autocommit). Same connection and settings for all three.
 * The cluster's fsync and synchronous_commit settings are printed with the figures (scripts/with-pg
 * runs with both off, so commits cost no flush in any of the variants).
 * Permits are inserted in bulk by the superuser running the bench (issue_permit is not what is
 * measured). Env: DATABASE_URL, BENCH_ROWS, BENCH_SINGLE.
 */
import pg from 'pg';
import { migrate } from '../src/migrate.js';
import { withDatabase } from '../src/db.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_037_716);
const SINGLE = Number(process.env.BENCH_SINGLE ?? 10_000);
const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) throw new Error('DATABASE_URL is not set (make bench sets it)');
const S = 'birthgate';
const dbName = `bg_bench_admission_${process.pid}`;
const sec = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length - 1) * p))]!;

async function permits(c: pg.Client, collection: string, prefix: string, n: number): Promise<void> {
  await c.query(
    `INSERT INTO ${S}.birth_admission_permit (collection_name, entity_code, issued_by, issued_at, expires_at)
     SELECT $1, $2 || g, current_user, clock_timestamp(), clock_timestamp() + interval '1 day' FROM generate_series(1, $3::int) g`,
    [collection, prefix, n],
  );
}

async function timed(c: pg.Client, statements: string[], params: unknown[][]): Promise<number> {
  const t0 = process.hrtime.bigint();
  await c.query('BEGIN');
  for (let i = 0; i < statements.length; i++) await c.query(statements[i]!, params[i] ?? []);
  await c.query('COMMIT');
  return sec(t0);
}

async function main(): Promise<void> {
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = withDatabase(adminUrl!, dbName);
  try {
    await migrate({ databaseUrl: url, direction: 'up', log: () => {} });
    const c = new pg.Client(url);
    await c.connect();
    await c.query(`CREATE SCHEMA pilot`);
    for (const t of ['plain', 'governed', 'ceiling', 'ceiling_family', 'plain1', 'governed1', 'ceiling1', 'ceiling1_family']) {
      await c.query(`CREATE TABLE pilot.${t} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text NOT NULL UNIQUE, name text)`);
    }
    await c.query(`SELECT ${S}.register_family('governed', 'pilot.governed', 'code', '^G-[0-9]+$', 'enforce')`);
    await c.query(`SELECT ${S}.register_family('ceiling', 'pilot.ceiling_family', 'code', '^C-[0-9]+$', 'off')`);
    await c.query(`SELECT ${S}.register_family('governed1', 'pilot.governed1', 'code', '^S-[0-9]+$', 'enforce')`);
    await c.query(`SELECT ${S}.register_family('ceiling1', 'pilot.ceiling1_family', 'code', '^S-[0-9]+$', 'off')`);
    await permits(c, 'governed', 'G-', ROWS);
    await permits(c, 'ceiling', 'C-', ROWS);
    await permits(c, 'governed1', 'S-', SINGLE);
    await permits(c, 'ceiling1', 'S-', SINGLE);
    await c.query('VACUUM ANALYZE');
    const show = async (name: string) => (await c.query(`SELECT current_setting($1) AS v`, [name])).rows[0].v as string;
    console.log(`admission bench: ${fmt(ROWS)} rows per bulk insert, ${fmt(SINGLE)} single-row inserts (PostgreSQL ${await show('server_version')}; fsync=${await show('fsync')}, synchronous_commit=${await show('synchronous_commit')})`);

    const plain = await timed(c, [`INSERT INTO pilot.plain (code, name) SELECT 'P-' || g, 'tool ' || g FROM generate_series(1, $1::int) g`], [[ROWS]]);
    const governed = await timed(c, [`INSERT INTO pilot.governed (code, name) SELECT 'G-' || g, 'tool ' || g FROM generate_series(1, $1::int) g`], [[ROWS]]);
    const ceiling = await timed(
      c,
      [
        `INSERT INTO pilot.ceiling (code, name) SELECT 'C-' || g, 'tool ' || g FROM generate_series(1, $1::int) g`,
        `UPDATE ${S}.birth_admission_permit p SET state = 'CONSUMED', consumed_at = clock_timestamp(), consumed_by = current_user
           FROM pilot.ceiling t WHERE p.collection_name = 'ceiling' AND p.entity_code = t.code AND p.state = 'ISSUED'`,
        `INSERT INTO ${S}.birth_registry (collection_name, entity_code, permit_id, born_by)
         SELECT 'ceiling', p.entity_code, p.permit_id, current_user FROM ${S}.birth_admission_permit p
          WHERE p.collection_name = 'ceiling' AND p.state = 'CONSUMED'`,
        `INSERT INTO ${S}.registry_changelog (op, collection_name, entity_code, registry_id, born_at, actor, detail)
         SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at, current_user, jsonb_build_object('permit_id', r.permit_id)
           FROM ${S}.birth_registry r WHERE r.collection_name = 'ceiling'`,
      ],
      [[ROWS]],
    );
    const check = await c.query(`SELECT (SELECT count(*) FROM ${S}.birth_registry WHERE collection_name = 'governed')::int AS g,
                                        (SELECT count(*) FROM ${S}.birth_registry WHERE collection_name = 'ceiling')::int AS c`);
    if (check.rows[0].g !== ROWS || check.rows[0].c !== ROWS) throw new Error(`births: governed ${check.rows[0].g}, ceiling ${check.rows[0].c}, expected ${ROWS}`);
    const line = (name: string, s: number) => console.log(`  ${name.padEnd(9)} ${fmt(s, 2).padStart(8)} s  ${fmt(ROWS / s).padStart(10)} rows/s  ${fmt(s / plain, 1).padStart(5)} x plain`);
    console.log('bulk INSERT ... SELECT (statement + COMMIT):');
    line('plain', plain);
    line('ceiling', ceiling);
    line('governed', governed);
    console.log(`  governed/ceiling = ${fmt(ceiling / governed, 2)} (ceiling time / governed time; target >= 0.5)`);

    const lat = async (sql: string, prefix: string): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 1; i <= SINGLE; i++) {
        const t0 = process.hrtime.bigint();
        await c.query(sql, [prefix + i]);
        out.push(sec(t0) * 1000);
      }
      return out;
    };
    const p = await lat(`INSERT INTO pilot.plain1 (code, name) VALUES ($1, 'one')`, 'S-');
    const g = await lat(`INSERT INTO pilot.governed1 (code, name) VALUES ($1, 'one')`, 'S-');
    // the same writes by hand, one statement: object, permit, registry, changelog
    const h = await lat(
      `WITH o AS (INSERT INTO pilot.ceiling1 (code, name) VALUES ($1, 'one') RETURNING code),
            p AS (UPDATE ${S}.birth_admission_permit p SET state = 'CONSUMED', consumed_at = clock_timestamp(), consumed_by = current_user
                    FROM o WHERE p.collection_name = 'ceiling1' AND p.entity_code = o.code AND p.state = 'ISSUED'
                  RETURNING p.permit_id, p.entity_code),
            r AS (INSERT INTO ${S}.birth_registry (collection_name, entity_code, permit_id, born_by)
                  SELECT 'ceiling1', p.entity_code, p.permit_id, current_user FROM p
                  RETURNING registry_id, entity_code, born_at, permit_id)
       INSERT INTO ${S}.registry_changelog (op, collection_name, entity_code, registry_id, born_at, actor, detail)
       SELECT 'BORN', 'ceiling1', r.entity_code, r.registry_id, r.born_at, current_user, jsonb_build_object('permit_id', r.permit_id) FROM r`,
      'S-',
    );
    const born1 = await c.query(`SELECT count(*)::int AS n FROM ${S}.birth_registry WHERE collection_name IN ('governed1', 'ceiling1') GROUP BY collection_name`);
    if (born1.rows.length !== 2 || born1.rows.some((r) => r.n !== SINGLE)) throw new Error(`single-row births: ${JSON.stringify(born1.rows)}, expected ${SINGLE} each`);
    console.log(`single-row INSERT, own committed transaction each (${fmt(SINGLE)} each):`);
    console.log(`  plain     p50 ${fmt(pct(p, 0.5), 3)} ms  p99 ${fmt(pct(p, 0.99), 3)} ms`);
    console.log(`  ceiling   p50 ${fmt(pct(h, 0.5), 3)} ms  p99 ${fmt(pct(h, 0.99), 3)} ms  (the four writes by hand, one statement)`);
    console.log(`  governed  p50 ${fmt(pct(g, 0.5), 3)} ms  p99 ${fmt(pct(g, 0.99), 3)} ms`);
    console.log(`  governed p50 / plain p50 = ${fmt(pct(g, 0.5) / pct(p, 0.5), 2)} (target <= 2); ceiling p50 / plain p50 = ${fmt(pct(h, 0.5) / pct(p, 0.5), 2)}; governed p50 / ceiling p50 = ${fmt(pct(g, 0.5) / pct(h, 0.5), 2)}`);
    await c.end();
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  }
}

await main();
