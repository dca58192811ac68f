/**
 * bench/admission.ts — the cost of admission control on a bulk birth (make bench, BENCH=admission).
 *
 * In a fresh database: pilot.governed (registered, enforce mode) and pilot.plain (the same table,
 * not registered). Each round issues BENCH_ROWS permits (issue_permit, timed on its own), then runs
 * one multi-row INSERT ... SELECT of BENCH_ROWS rows into each table in its own transaction:
 *   baseline  = the INSERT into pilot.plain + its COMMIT
 *   governed  = the INSERT into pilot.governed (layer 1, BEFORE gate, per row) + its COMMIT (layer 2,
 *               the deferred finalize gate, per row, runs inside COMMIT)
 * The order of the two alternates between rounds; the median of BENCH_ROUNDS rounds is printed
 * with rows/s for both, the ratio, and the split statement/commit.
 *
 * Statements per row, measured rather than asserted: on a separate sample of BENCH_SAMPLE rows,
 * auto_explain (LOADed into the session; needs a superuser) logs every executor run, nested ones
 * included (log_nested_statements), as a NOTICE; each NOTICE is one SQL statement the insert, its
 * triggers and the foreign-key checks ran. They are counted by what they are and divided by the
 * sample size. PL/pgSQL expressions evaluated without the executor (IF, :=) are not statements and
 * are not counted. EXPLAIN (ANALYZE) of the same kind of insert (with SET CONSTRAINTS ALL
 * IMMEDIATE so that the deferred gate is counted too) gives the trigger calls per row.
 *
 * Env: DATABASE_URL (a server where we may create a database), BENCH_ROWS (default 50000),
 * BENCH_ROUNDS (default 3), BENCH_SAMPLE (default 200).
 */
import pg from 'pg';
import { migrate } from '../src/migrate.js';
import { withDatabase } from '../src/db.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 50_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SAMPLE = Number(process.env.BENCH_SAMPLE ?? 200);
const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) throw new Error('DATABASE_URL is not set (make bench sets it)');

const S = 'birthgate';
const dbName = `bg_bench_admission_${process.pid}`;
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const note = (t: string) => process.stderr.write(`${t}\n`);

interface Timing {
  statementMs: number;
  commitMs: number;
}

async function timedInsert(c: pg.Client, table: string, prefix: string, rows: number): Promise<Timing> {
  await c.query('BEGIN');
  let t0 = process.hrtime.bigint();
  const r = await c.query(
    `INSERT INTO pilot.${table} (code, name) SELECT $1 || g, 'tool ' || g FROM generate_series(1, $2::int) AS g`,
    [prefix, rows],
  );
  const statementMs = ms(t0);
  t0 = process.hrtime.bigint();
  await c.query('COMMIT');
  const commitMs = ms(t0);
  if (r.rowCount !== rows) throw new Error(`inserted ${r.rowCount} rows into ${table}, expected ${rows}`);
  return { statementMs, commitMs };
}

async function issuePermits(c: pg.Client, prefix: string, rows: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await c.query<{ n: number }>(
    `SELECT count(${S}.issue_permit('governed', $1 || g))::int AS n FROM generate_series(1, $2::int) AS g`,
    [prefix, rows],
  );
  if (r.rows[0]!.n !== rows) throw new Error('permit issuance came up short');
  return ms(t0);
}

/** Classify one auto_explain "Query Text" into what it is. */
function classify(text: string): string {
  if (/^\s*INSERT INTO pilot\./.test(text)) return 'top-level INSERT (not per row)';
  if (/^\s*COMMIT/.test(text)) return 'COMMIT (not per row)';
  if (/FOR KEY SHARE/.test(text)) return 'foreign-key check (RI trigger)';
  if (/^\s*UPDATE "[^"]+"\."birth_admission_permit"/.test(text)) return 'layer 1: consume the permit (UPDATE ... RETURNING)';
  if (/^\s*INSERT INTO "[^"]+"\."birth_registry"/.test(text)) return 'layer 1: birth_registry INSERT';
  if (/^\s*INSERT INTO "[^"]+"\."registry_changelog"/.test(text)) return 'layer 1: registry_changelog INSERT';
  if (/^\s*SELECT f\.collection_name, f\.table_name, f\.code_column/.test(text)) return 'layers 1 and 2: read the family + its code column type (one each)';
  if (/^\s*SELECT \(\$1\)\./.test(text)) return 'layers 1 and 2: read the code column of NEW by name (EXECUTE, one each)';
  if (/FROM "[^"]+"\."birth_registry" r/.test(text)) return 'layer 2: registry row + its permit';
  return `other: ${text.replace(/\s+/g, ' ').slice(0, 80)}`;
}

async function statementsPerRow(url: string): Promise<void> {
  const c = new pg.Client(url);
  await c.connect();
  try {
    await c.query(`SELECT count(${S}.issue_permit('governed', 'SAMPLE-' || g)) FROM generate_series(1, $1::int) AS g`, [SAMPLE]);
    try {
      await c.query(`LOAD 'auto_explain'`);
    } catch (e) {
      console.log(`statements per row: not measured (LOAD 'auto_explain' failed: ${(e as Error).message})`);
      return;
    }
    await c.query(`SET auto_explain.log_min_duration = 0`);
    await c.query(`SET auto_explain.log_nested_statements = on`);
    await c.query(`SET auto_explain.log_analyze = off`);
    await c.query(`SET auto_explain.log_level = 'notice'`);
    await c.query(`SET client_min_messages = notice`);
    const counts = new Map<string, number>();
    const onNotice = (n: { message?: string }) => {
      const at = (n.message ?? '').indexOf('Query Text: ');
      if (at < 0) return;
      const k = classify((n.message ?? '').slice(at + 'Query Text: '.length));
      counts.set(k, (counts.get(k) ?? 0) + 1);
    };
    c.on('notice', onNotice);
    await c.query('BEGIN');
    await c.query(`INSERT INTO pilot.governed (code, name) SELECT 'SAMPLE-' || g, 'tool' FROM generate_series(1, $1::int) AS g`, [SAMPLE]);
    await c.query('COMMIT');
    c.off('notice', onNotice);
    await c.query(`SET client_min_messages = warning`);

    let perRow = 0;
    console.log(`statements per row (auto_explain, log_nested_statements, ${SAMPLE}-row INSERT ... SELECT + COMMIT):`);
    for (const [k, n] of [...counts.entries()].sort()) {
      const per = /not per row/.test(k) ? 0 : n / SAMPLE;
      perRow += per;
      console.log(`  ${k.padEnd(66)} ${String(n).padStart(6)}  = ${fmt(per, 2)} per row`);
    }
    console.log(`  ${'total per row (the top-level INSERT itself excluded)'.padEnd(66)} ${''.padStart(6)}  = ${fmt(perRow, 2)}`);
    console.log(`  (baseline pilot.plain: the top-level INSERT only, 0 statements per row)`);

    // trigger calls per row, from EXPLAIN (ANALYZE); layer 2 made immediate so that it shows up
    await c.query(`SELECT count(${S}.issue_permit('governed', 'EXPLAIN-' || g)) FROM generate_series(1, $1::int) AS g`, [SAMPLE]);
    await c.query('BEGIN');
    await c.query('SET CONSTRAINTS ALL IMMEDIATE');
    const ex = await c.query<{ 'QUERY PLAN': unknown }>(
      `EXPLAIN (ANALYZE, FORMAT JSON) INSERT INTO pilot.governed (code) SELECT 'EXPLAIN-' || g FROM generate_series(1, ${SAMPLE}) AS g`,
    );
    await c.query('COMMIT');
    const plan = ex.rows[0]!['QUERY PLAN'] as Array<{ Triggers?: Array<{ 'Trigger Name': string; Calls: number; Time: number }> }>;
    console.log(`trigger calls per row (EXPLAIN ANALYZE, ${SAMPLE} rows, SET CONSTRAINTS ALL IMMEDIATE):`);
    for (const t of plan[0]!.Triggers ?? []) {
      console.log(`  ${t['Trigger Name'].padEnd(24)} calls ${t.Calls} = ${fmt(t.Calls / SAMPLE, 2)} per row, ${fmt((t.Time * 1000) / t.Calls, 1)} us per call`);
    }
  } finally {
    await c.end();
  }
}

async function main(): Promise<void> {
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName}`);
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = withDatabase(adminUrl!, dbName);
  try {
    await migrate({ databaseUrl: url, direction: 'up' });
    const c = new pg.Client(url);
    await c.connect();
    const v = await c.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
    await c.query(`CREATE SCHEMA pilot`);
    for (const t of ['governed', 'plain']) {
      await c.query(`CREATE TABLE pilot.${t} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text NOT NULL, name text)`);
      await c.query(`CREATE INDEX ON pilot.${t} (code)`);
    }
    await c.query(`SELECT ${S}.register_family('governed', 'pilot.governed', 'code', '^[A-Z0-9]+-[0-9]+$', 'enforce')`);

    const base: Timing[] = [];
    const gov: Timing[] = [];
    const issue: number[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const prefix = `R${r}-`;
      note(`round ${r}/${ROUNDS}: issuing ${fmt(ROWS)} permits`);
      issue.push(await issuePermits(c, prefix, ROWS));
      await c.query(`VACUUM ANALYZE pilot.governed, pilot.plain, ${S}.birth_admission_permit, ${S}.birth_registry, ${S}.registry_changelog`);
      await c.query('CHECKPOINT');
      const order = r % 2 === 1 ? ['plain', 'governed'] : ['governed', 'plain'];
      for (const t of order) {
        note(`round ${r}/${ROUNDS}: INSERT ... SELECT ${fmt(ROWS)} rows into pilot.${t}`);
        const timing = await timedInsert(c, t, prefix, ROWS);
        (t === 'plain' ? base : gov).push(timing);
      }
    }
    const check = await c.query<{ objects: number; born: number; logged: number; consumed: number; violations: number }>(
      `SELECT (SELECT count(*) FROM pilot.governed)::int AS objects,
              (SELECT count(*) FROM ${S}.birth_registry WHERE collection_name = 'governed' AND permit_id IS NOT NULL)::int AS born,
              (SELECT count(*) FROM ${S}.registry_changelog WHERE collection_name = 'governed')::int AS logged,
              (SELECT count(*) FROM ${S}.birth_admission_permit WHERE collection_name = 'governed' AND state = 'CONSUMED')::int AS consumed,
              (SELECT count(*) FROM ${S}.birth_gate_violation)::int AS violations`,
    );
    await c.end();

    const total = (t: Timing) => t.statementMs + t.commitMs;
    const bMs = median(base.map(total));
    const gMs = median(gov.map(total));
    const gStmt = median(gov.map((t) => t.statementMs));
    const gCommit = median(gov.map((t) => t.commitMs));
    const iMs = median(issue);
    console.log(`admission bench: PostgreSQL ${v.rows[0]!.v}, ${fmt(ROWS)} rows per INSERT ... SELECT, median of ${ROUNDS} rounds (same run, same database)`);
    console.log(`  baseline  pilot.plain     ${fmt(bMs, 1).padStart(10)} ms  ${fmt((ROWS / bMs) * 1000).padStart(10)} rows/s   (statement + commit)`);
    console.log(`  governed  pilot.governed  ${fmt(gMs, 1).padStart(10)} ms  ${fmt((ROWS / gMs) * 1000).padStart(10)} rows/s   (statement ${fmt(gStmt, 1)} ms: layer 1; commit ${fmt(gCommit, 1)} ms: layer 2)`);
    console.log(`  ratio governed/baseline time: ${fmt(gMs / bMs, 1)}x   (throughput ${fmt((bMs / gMs) * 100, 1)}% of baseline)`);
    console.log(`  per governed row: ${fmt((gStmt * 1000) / ROWS, 1)} us layer 1 + ${fmt((gCommit * 1000) / ROWS, 1)} us layer 2, vs ${fmt((bMs * 1000) / ROWS, 1)} us per plain row`);
    console.log(`  issue_permit: ${fmt(iMs, 1)} ms for ${fmt(ROWS)} permits = ${fmt((ROWS / iMs) * 1000)} permits/s (not part of either figure)`);
    const c0 = check.rows[0]!;
    const expect = ROWS * ROUNDS;
    console.log(`  check: ${fmt(c0.objects)} objects, ${fmt(c0.born)} BORN from permits, ${fmt(c0.logged)} changelog rows, ${fmt(c0.consumed)} permits CONSUMED, ${c0.violations} violations (expected ${fmt(expect)} each, 0 violations)`);
    if (c0.objects !== expect || c0.born !== expect || c0.logged !== expect || c0.consumed !== expect || c0.violations !== 0) {
      throw new Error('the governed inserts did not birth every row exactly once');
    }
    await statementsPerRow(url);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
