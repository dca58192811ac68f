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
 * runs with both off, so commits cost no flush in any of the variants). Then the single-row figures
 * are measured a second time with PostgreSQL's default durability: the bench starts a throwaway
 * cluster of its own (initdb + pg_ctl from the same server build, unix socket only, fsync = on,
 * synchronous_commit = on, full_page_writes = on: the defaults) and stops it at the end;
 * BENCH_DURABLE=off skips it; BENCH_SINGLE_DURABLE (default BENCH_SINGLE) inserts each.
 * Permits are inserted in bulk by the superuser running the bench (issue_permit is not what is
 * measured). Env: DATABASE_URL, BENCH_ROWS, BENCH_SINGLE.
 */
import pg from 'pg';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate } from '../src/migrate.js';
import { withDatabase } from '../src/db.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_037_716);
const SINGLE = Number(process.env.BENCH_SINGLE ?? 10_000);
const SINGLE_DURABLE = Number(process.env.BENCH_SINGLE_DURABLE ?? SINGLE);
const DURABLE = (process.env.BENCH_DURABLE ?? 'on') !== 'off';
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

async function lat(c: pg.Client, sql: string, prefix: string, n: number): Promise<number[]> {
      const out: number[] = [];
      for (let i = 1; i <= n; i++) {
        const t0 = process.hrtime.bigint();
        await c.query(sql, [prefix + i]);
        out.push(sec(t0) * 1000);
      }
      return out;
}
async function singleRow(c: pg.Client, k: string, n: number, label: string, show: (name: string) => Promise<string>): Promise<void> {
      const p = await lat(c, `INSERT INTO pilot.plain${k} (code, name) VALUES ($1, 'one')`, 'S-', n);
      const g = await lat(c, `INSERT INTO pilot.governed${k} (code, name) VALUES ($1, 'one')`, 'S-', n);
      // the same writes by hand, one statement: object, permit, registry, changelog
      const h = await lat(
        c,
        `WITH o AS (INSERT INTO pilot.ceiling${k} (code, name) VALUES ($1, 'one') RETURNING code),
              p AS (UPDATE ${S}.birth_admission_permit p SET state = 'CONSUMED', consumed_at = clock_timestamp(), consumed_by = current_user
                      FROM o WHERE p.collection_name = 'ceiling${k}' AND p.entity_code = o.code AND p.state = 'ISSUED'
                    RETURNING p.permit_id, p.entity_code),
              r AS (INSERT INTO ${S}.birth_registry (collection_name, entity_code, permit_id, born_by)
                    SELECT 'ceiling${k}', p.entity_code, p.permit_id, current_user FROM p
                    RETURNING registry_id, entity_code, born_at, permit_id)
         INSERT INTO ${S}.registry_changelog (op, collection_name, entity_code, registry_id, born_at, actor, detail)
         SELECT 'BORN', 'ceiling${k}', r.entity_code, r.registry_id, r.born_at, current_user, jsonb_build_object('permit_id', r.permit_id) FROM r`,
        'S-',
        n,
      );
      const born1 = await c.query(`SELECT count(*)::int AS n FROM ${S}.birth_registry WHERE collection_name IN ('governed${k}', 'ceiling${k}') GROUP BY collection_name`);
      if (born1.rows.length !== 2 || born1.rows.some((r) => r.n !== n)) throw new Error(`single-row births: ${JSON.stringify(born1.rows)}, expected ${n} each`);
      console.log(`single-row INSERT, own committed transaction each (${fmt(n)} each; ${label}; fsync=${await show('fsync')}, synchronous_commit=${await show('synchronous_commit')}):`);
      console.log(`  plain     p50 ${fmt(pct(p, 0.5), 3)} ms  p99 ${fmt(pct(p, 0.99), 3)} ms`);
      console.log(`  ceiling   p50 ${fmt(pct(h, 0.5), 3)} ms  p99 ${fmt(pct(h, 0.99), 3)} ms  (the four writes by hand, one statement)`);
      console.log(`  governed  p50 ${fmt(pct(g, 0.5), 3)} ms  p99 ${fmt(pct(g, 0.99), 3)} ms`);
      console.log(`  governed p50 / plain p50 = ${fmt(pct(g, 0.5) / pct(p, 0.5), 2)} (target <= 2); ceiling p50 / plain p50 = ${fmt(pct(h, 0.5) / pct(p, 0.5), 2)}; governed p50 / ceiling p50 = ${fmt(pct(g, 0.5) / pct(h, 0.5), 2)}`);
    }

/** Single-row figures on a throwaway cluster with PostgreSQL's default durability (fsync on). */
async function durableSingleRow(showMain: (name: string) => Promise<string>): Promise<void> {
  const major = (await showMain('server_version_num')).slice(0, -4);
  const bindir = process.env.PG_BINDIR ?? `/usr/lib/postgresql/${major}/bin`;
  const dir = mkdtempSync(join(tmpdir(), 'bg-bench-durable-'));
  const root = process.getuid?.() === 0;
  const asOwner = (cmd: string, args: string[]) => (root ? execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe' }) : execFileSync(cmd, args, { stdio: 'pipe' }));
  if (root) execFileSync('chown', ['postgres:', dir]);
  const port = 20000 + Math.floor(Math.random() * 20000);
  let started = false;
  try {
    asOwner(`${bindir}/initdb`, ['-D', `${dir}/data`, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
    asOwner(`${bindir}/pg_ctl`, ['-D', `${dir}/data`, '-l', `${dir}/server.log`, '-w', '-t', '60', 'start', '-o',
      `-c port=${port} -c listen_addresses='' -c unix_socket_directories='${dir}' -c shared_buffers=256MB`]);
    started = true;
    const url = `postgresql://postgres@localhost:${port}/postgres?host=${dir}`;
    await migrate({ databaseUrl: url, direction: 'up', log: () => {} });
    const c = new pg.Client(url);
    await c.connect();
    try {
      const show = async (name: string) => (await c.query(`SELECT current_setting($1) AS v`, [name])).rows[0].v as string;
      await c.query(`CREATE SCHEMA pilot`);
      for (const t of ['plain2', 'governed2', 'ceiling2', 'ceiling2_family']) {
        await c.query(`CREATE TABLE pilot.${t} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text NOT NULL UNIQUE, name text)`);
      }
      await c.query(`SELECT ${S}.register_family('governed2', 'pilot.governed2', 'code', '^S-[0-9]+$', 'enforce')`);
      await c.query(`SELECT ${S}.register_family('ceiling2', 'pilot.ceiling2_family', 'code', '^S-[0-9]+$', 'off')`);
      await permits(c, 'governed2', 'S-', SINGLE_DURABLE);
      await permits(c, 'ceiling2', 'S-', SINGLE_DURABLE);
      await c.query('VACUUM ANALYZE');
      await c.query('CHECKPOINT');
      await singleRow(c, '2', SINGLE_DURABLE, `a second throwaway cluster with PostgreSQL's default durability, full_page_writes=${await show('full_page_writes')}`, show);
    } finally {
      await c.end();
    }
  } finally {
    if (started) asOwner(`${bindir}/pg_ctl`, ['-D', `${dir}/data`, '-m', 'immediate', '-w', 'stop']);
    rmSync(dir, { recursive: true, force: true });
  }
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

    await singleRow(c, '1', SINGLE, 'the cluster as started', show);
    if (DURABLE) await durableSingleRow(show);
    await c.end();
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  }
}

await main();
