/**
 * bench/cli.ts — CLI start time. Runs each command N times (BENCH_CLI_RUNS, default 15) as a child
 * process and prints the median and p90 wall time next to the baseline measured in the same run:
 * `node -e 0` (the floor any Node CLI pays). The target: well under 300 ms for the built CLI.
 * Not a test: it measures, it does not assert.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { withDatabase } from '../src/db.js';
import { migrate } from '../src/migrate.js';
import { projectRoot } from '../src/paths.js';

const runs = Number(process.env.BENCH_CLI_RUNS || 15);
const bin = join(projectRoot, 'bin', 'birthgate.mjs');
const adminUrl = process.env.DATABASE_URL!;
const dbName = `bg_bench_cli_${process.pid}`;
const admin = new pg.Client(adminUrl);
await admin.connect();
await admin.query(`CREATE DATABASE ${dbName}`);
const url = withDatabase(adminUrl, dbName);
await migrate({ databaseUrl: url, direction: 'up' });

function time(args: string[], env: Record<string, string> = {}): { min: number; median: number; p90: number } {
  const ms: number[] = [];
  spawnSync(process.execPath, args, { env: { ...process.env, ...env } }); // warm the file cache
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, args, { env: { ...process.env, ...env }, encoding: 'utf8' });
    ms.push(performance.now() - t0);
    if (r.status !== 0 && r.status !== 3) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  }
  ms.sort((a, b) => a - b);
  return { min: ms[0]!, median: ms[Math.floor(ms.length / 2)]!, p90: ms[Math.min(ms.length - 1, Math.ceil(ms.length * 0.9) - 1)]! };
}

/** Start-up without a server: modules loaded, configuration checked, connection refused at once. */
function timeRefused(args: string[]) {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    spawnSync(process.execPath, args, { env: { ...process.env, DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none' } });
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return { min: ms[0]!, median: ms[Math.floor(ms.length / 2)]!, p90: ms[Math.min(ms.length - 1, Math.ceil(ms.length * 0.9) - 1)]! };
}

const rows: [string, { min: number; median: number; p90: number }][] = [
  ['baseline: node -e 0', time(['-e', '0'])],
  ['birthgate --version', time([bin, '--version'])],
  ['birthgate --help', time([bin, '--help'])],
  ['birthgate status (refused port: start-up only)', timeRefused([bin, 'status'])],
  ['birthgate migrate status (database)', time([bin, 'migrate', 'status'], { DATABASE_URL: url })],
  ['birthgate consume --max-batches 1 (database)', time([bin, 'consume'], { DATABASE_URL: url })],
];
const base = rows[0]![1].median;
console.log(`CLI start time, ${runs} runs each (wall clock, child process)`);
console.log('(min is the best run: on a busy machine the closest to an idle one; compare each row with the baseline of the same run)');
console.log(`${'command'.padEnd(50)} ${'min'.padStart(9)} ${'median'.padStart(9)} ${'p90'.padStart(9)} ${'median over baseline'.padStart(21)}`);
for (const [name, t] of rows) {
  console.log(`${name.padEnd(50)} ${t.min.toFixed(0).padStart(7)}ms ${t.median.toFixed(0).padStart(7)}ms ${t.p90.toFixed(0).padStart(7)}ms ${(t.median - base).toFixed(0).padStart(19)}ms`);
}

await admin.query(`DROP DATABASE ${dbName} WITH (FORCE)`);
await admin.end();
