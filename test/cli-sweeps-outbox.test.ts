/**
 * `adopt`, `backfill` and `outbox` on the CLI's common conventions: exit codes in every help text;
 * with --json exactly one JSON line on every failure path in the common shape
 * {"ok":false,"exit_code":N,"error":{...}} (the sweeps and purge keep their progress fields next to
 * it): bad flags (a short message, no usage text), connection refused (node_code, never a
 * SQLSTATE), birthgate not installed (the hint to run `birthgate migrate up`, at once, no retries),
 * an SQL error (SQLSTATE, DETAIL, HINT; nothing changed), and SIGTERM/SIGINT (the batch in flight
 * completes, then exit 143/130 through the shared handler).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { databasesDroppedAfterAll, type TestDb } from './helpers/db.js';
import { cli } from './drift-helpers.js';
import { projectRoot } from '../src/paths.js';

const databases = databasesDroppedAfterAll();
const BIN = join(projectRoot, 'bin', 'birthgate.mjs');
const REFUSED = 'postgresql://nobody@127.0.0.1:1/nothing';

function oneJsonLine(stdout: string): Record<string, any> {
  const lines = stdout.split('\n').filter((l) => l.length > 0);
  expect(lines, `stdout must be exactly one line, got ${JSON.stringify(stdout)}`).toHaveLength(1);
  return JSON.parse(lines[0]!) as Record<string, any>;
}

async function pollUntil(what: string, fn: () => Promise<boolean>, deadlineMs = 120_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The progress fields a sweep prints, also next to an error. */
const SWEEP_FIELDS = ['sweep', 'run_id', 'finished', 'rows_done', 'applied', 'findings', 'batches', 'retries', 'elapsed_ms', 'interrupted', 'deferred'];

/** Every command of these three that connects, with arguments that would otherwise be valid. */
const CONNECTING: string[][] = [
  ['adopt', 'op_probe'],
  ['adopt', 'op_probe', '--dry-run'],
  ['backfill'],
  ['outbox', 'status'],
  ['outbox', 'dead-letters'],
  ['outbox', 'redrive', '--all'],
  ['outbox', 'purge'],
];

async function count(c: pg.Client, sql: string): Promise<number> {
  return Number((await c.query(sql)).rows[0].n);
}

describe('adopt, backfill, outbox: help and bad flags', () => {
  it('every help text lists the common exit codes and the command\'s own', async () => {
    for (const [cmd, own] of [['adopt', /skipped/], ['backfill', /skipped/], ['outbox', /^ +3 +status/m]] as const) {
      const h = await cli([cmd, '--help'], {});
      expect(h.code, cmd).toBe(0);
      expect(h.stdout, cmd).toMatch(/exit codes/);
      for (const code of ['0', '1', '2', '130']) expect(h.stdout, `${cmd}: ${code}`).toMatch(new RegExp(`^ +${code} `, 'm'));
      expect(h.stdout, cmd).toMatch(own);
    }
    const top = await cli(['--help'], {});
    for (const cmd of ['adopt', 'backfill', 'outbox']) expect(top.stdout).toMatch(new RegExp(`^  ${cmd} +\\S.{20,}`, 'm'));
  });

  it('bad flags and arguments: exit 2, class usage, one short line without the usage text, before any connection', async () => {
    const cases: [string[], RegExp][] = [
      [['adopt', '--json'], /adopt: expected the collection name/],
      [['adopt', 'a', 'b', '--json'], /expected exactly one collection name \(got 2\)/],
      [['adopt', 'a', '--batch-size', '-1', '--json'], /--batch-size must be at least 1 \(got "-1"\)/],
      [['adopt', 'a', '--batch-size', '100001', '--json'], /--batch-size must be at most 100000/],
      [['adopt', 'a', '--max-batches', 'many', '--json'], /--max-batches must be a whole number \(got "many"\)/],
      [['adopt', 'a', '--frobnicate', '--json'], /^adopt: Unknown option '--frobnicate'$/],
      [['backfill', 'items', '--json'], /backfill: unexpected argument "items"/],
      [['backfill', '--dry-run', '--json'], /Unknown option '--dry-run'/],
      [['backfill', '--statement-timeout', '0', '--json'], /--statement-timeout must be at least 1/],
      [['backfill', '--max-retries', '-3', '--json'], /--max-retries must be at least 0 \(got "-3"\)/],
      [['outbox', '--json'], /outbox: missing subcommand/],
      [['outbox', 'sideways', '--json'], /outbox: unknown subcommand 'sideways'/],
      [['outbox', 'redrive', '--json'], /outbox redrive: give either --all or at least one --id/],
      [['outbox', 'redrive', '--all', '--id', '1', '--json'], /not both/],
      [['outbox', 'redrive', '--id', 'abc', '--json'], /--id must be a whole number/],
      [['outbox', 'purge', '--batch', '0', '--json'], /--batch must be at least 1 \(got "0"\)/],
      [['outbox', 'dead-letters', '--limit', '-5', '--json'], /--limit/],
      [['outbox', 'status', '--fail-on', 'loud', '--json'], /--fail-on/],
    ];
    for (const [args, message] of cases) {
      // a URL that refuses connections: a usage error must come before any attempt to connect
      const r = await cli(args, { DATABASE_URL: REFUSED });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      const j = oneJsonLine(r.stdout);
      expect(j, args.join(' ')).toMatchObject({ ok: false, exit_code: 2, error: { class: 'usage' } });
      expect(j.error.message, args.join(' ')).toMatch(message);
      expect(j.error.message).not.toMatch(/\n|usage:|Options|To specify a positional/);
      expect(j.error.message.length).toBeLessThan(200);
      expect(j.error.hint).toMatch(/birthgate (adopt|backfill|outbox)( \S+)? --help/);
      // the text output is short too
      expect(r.stderr.split('\n').filter(Boolean).length, r.stderr).toBeLessThanOrEqual(2);
    }
  });

  it('configuration: DATABASE_URL missing is exit 2, class config', async () => {
    for (const args of CONNECTING) {
      const r = await cli([...args, '--json'], { DATABASE_URL: undefined });
      expect(r.code, args.join(' ')).toBe(2);
      expect(oneJsonLine(r.stdout), args.join(' ')).toMatchObject({ ok: false, exit_code: 2, error: { class: 'config' } });
    }
  });
});

describe('adopt, backfill, outbox: --json on every failure class', () => {
  it('connection refused: exit 1, class connection with node_code ECONNREFUSED, no SQLSTATE; progress fields kept', async () => {
    for (const args of CONNECTING) {
      const r = await cli([...args, '--json'], { DATABASE_URL: REFUSED });
      const what = args.join(' ');
      expect(r.code, `${what}: ${r.stderr}`).toBe(1);
      const j = oneJsonLine(r.stdout);
      expect(j, what).toMatchObject({ ok: false, exit_code: 1, error: { class: 'connection', node_code: 'ECONNREFUSED', hint: expect.stringMatching(/DATABASE_URL/) } });
      expect(j.error.sqlstate, what).toBeUndefined();
      expect(r.stderr, what).toMatch(/\[ECONNREFUSED\]/);
      expect(r.stderr, what).not.toMatch(/SQLSTATE/);
      if (args[0] !== 'outbox') {
        for (const k of SWEEP_FIELDS) expect(j, `${what}: ${k}`).toHaveProperty(k);
        expect(j.batches).toBe(0);
      }
      if (args[1] === 'purge') expect(j).toMatchObject({ purged: 0, batches: 0 });
    }
  });

  it('birthgate not installed: exit 1 at once (no retries), class not_installed, the hint says birthgate migrate up', async () => {
    const empty = await databases.empty();
    for (const args of CONNECTING) {
      const r = await cli([...args, '--json'], { DATABASE_URL: empty.url });
      const what = args.join(' ');
      expect(r.code, `${what}: ${r.stderr}`).toBe(1);
      const j = oneJsonLine(r.stdout);
      expect(j, what).toMatchObject({ ok: false, exit_code: 1, error: { class: 'not_installed', sqlstate: expect.stringMatching(/^(3F000|42P01|42883)$/) } });
      expect(j.error.hint, what).toMatch(/birthgate migrate up/);
      expect(r.stderr, what).toMatch(/HINT: .*birthgate migrate up/);
      if (args[0] !== 'outbox') expect(j, what).toMatchObject({ retries: 0, batches: 0 });
    }
    // another schema name: the hint names it
    const r = await cli(['backfill', '--json'], { DATABASE_URL: empty.url, BIRTHGATE_SCHEMA: 'elsewhere' });
    expect(r.code).toBe(1);
    expect(oneJsonLine(r.stdout).error).toMatchObject({ class: 'not_installed', hint: expect.stringMatching(/schema elsewhere.*birthgate migrate up/) });
  });

  describe('SQL errors carry SQLSTATE, DETAIL and HINT, and change nothing', () => {
    let d: TestDb;
    let c: pg.Client;
    beforeAll(async () => {
      d = await databases.fresh();
      c = await d.client();
    });

    it('adopt of an unregistered family: BG601, exit 1, no cursor, no registry row', async () => {
      const before = await count(c, `SELECT (SELECT count(*) FROM birthgate.sweep_cursor) + (SELECT count(*) FROM birthgate.birth_registry) AS n`);
      const long = `no_such_family_${'x'.repeat(300)}`;
      for (const args of [['adopt', 'no_such_family'], ['adopt', long, '--dry-run']]) {
        const r = await cli([...args, '--json'], { DATABASE_URL: d.url });
        expect(r.code, r.stderr).toBe(1);
        const j = oneJsonLine(r.stdout);
        expect(j).toMatchObject({
          ok: false,
          exit_code: 1,
          retries: 0,
          batches: 0,
          error: { class: 'database', sqlstate: 'BG601', detail: expect.stringMatching(/no_such_family/), hint: expect.stringMatching(/birthgate\.register_family/) },
        });
        expect(j.error.detail.length).toBeLessThan(200); // the user-supplied name is cut to 100 characters
        expect(r.stderr).toMatch(/\[SQLSTATE BG601\]\nDETAIL: .+\nHINT: .+/);
      }
      expect(await count(c, `SELECT (SELECT count(*) FROM birthgate.sweep_cursor) + (SELECT count(*) FROM birthgate.birth_registry) AS n`)).toBe(before);
    });

    it('backfill with an unreadable load-guard setting: BG605, exit 1 at once, no candidate seeded', async () => {
      await c.query(`ALTER DATABASE ${d.name} SET birthgate.sweep_max_lock_wait = 'a while'`);
      try {
        const before = await count(c, `SELECT count(*) AS n FROM birthgate.governance_candidate_state`);
        const r = await cli(['backfill', '--json'], { DATABASE_URL: d.url });
        expect(r.code, r.stderr).toBe(1);
        const j = oneJsonLine(r.stdout);
        expect(j).toMatchObject({
          ok: false,
          exit_code: 1,
          retries: 0,
          error: { class: 'database', sqlstate: 'BG605', detail: expect.stringMatching(/sweep_max_lock_wait/), hint: expect.stringMatching(/sweep_max_lock_wait|RESET/) },
        });
        expect(r.stderr).toMatch(/\[SQLSTATE BG605\]\nDETAIL: .+\nHINT: .+/);
        expect(await count(c, `SELECT count(*) AS n FROM birthgate.governance_candidate_state`)).toBe(before);
        // --no-load-guard does not read the setting: the same run then succeeds
        const ok = await cli(['backfill', '--no-load-guard', '--json'], { DATABASE_URL: d.url });
        expect(ok.code, ok.stderr).toBe(0);
        expect(oneJsonLine(ok.stdout)).toMatchObject({ ok: true, finished: true });
      } finally {
        await c.query(`ALTER DATABASE ${d.name} RESET birthgate.sweep_max_lock_wait`);
      }
    });

    it('outbox redrive of an unknown id: BG504, exit 1, nothing moved', async () => {
      const before = await count(c, `SELECT (SELECT count(*) FROM birthgate.event_outbox) * 1000 + (SELECT count(*) FROM birthgate.event_dead_letter) AS n`);
      const r = await cli(['outbox', 'redrive', '--id', '987654321', '--json'], { DATABASE_URL: d.url });
      expect(r.code, r.stderr).toBe(1);
      const j = oneJsonLine(r.stdout);
      expect(j).toMatchObject({ ok: false, exit_code: 1, error: { class: 'database', sqlstate: 'BG504', detail: expect.stringMatching(/987654321/), hint: expect.stringMatching(/birthgate\./) } });
      expect(r.stderr).toMatch(/\[SQLSTATE BG504\]\nDETAIL: .+\nHINT: .+/);
      expect(await count(c, `SELECT (SELECT count(*) FROM birthgate.event_outbox) * 1000 + (SELECT count(*) FROM birthgate.event_dead_letter) AS n`)).toBe(before);
    });
  });
});

describe('adopt, backfill, outbox purge: SIGINT/SIGTERM stop after the batch in flight', () => {
  /** Runs the CLI, waits until its batch waits on `table` (locked by us), signals it, then lets the batch finish. */
  async function interruptWhileLocked(d: TestDb, args: string[], appName: string, table: string, signal: NodeJS.Signals) {
    const locker = await d.client();
    const watcher = await d.client();
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, DATABASE_URL: d.url } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await pollUntil(`${appName} to wait on the lock`, async () => {
        const w = await watcher.query(
          `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database() AND wait_event_type = 'Lock'`,
          [appName],
        );
        return w.rowCount! > 0;
      });
      child.kill(signal);
      // the first signal only asks it to stop, and says so on stderr; then the lock goes
      await pollUntil(`${appName} to acknowledge ${signal}`, async () => stderr.includes(`${signal} received: stopping after the batch in flight`));
    } finally {
      await locker.query('ROLLBACK');
    }
    const code = await exited;
    return { code, stdout, stderr };
  }

  it('backfill: SIGTERM while its batch waits on a lock: the batch completes, exit 143, one JSON line with the progress', async () => {
    const d = await databases.fresh();
    const c = await d.client();
    await c.query(`CREATE TABLE public.sig_items (code text)`);
    await c.query(`SELECT birthgate.register_family('sig_items', 'public.sig_items', 'code', '^[A-Z]-[0-9]+$', 'report')`);
    await c.query(`INSERT INTO public.sig_items SELECT 'S-' || g FROM generate_series(1, 30) g`);
    const r = await interruptWhileLocked(
      d,
      ['backfill', '--batch-size', '10', '--no-load-guard', '--statement-timeout', '600000', '--json'],
      'birthgate backfill',
      'birthgate.governance_candidate_state',
      'SIGTERM',
    );
    expect(r.code, r.stderr).toBe(143);
    const j = oneJsonLine(r.stdout);
    expect(j).toMatchObject({ ok: false, exit_code: 143, interrupted: true, finished: false, sweep: 'backfill', error: { class: 'interrupted' } });
    expect(j.error.message).toMatch(/SIGTERM/);
    // the batch in flight completed and was committed; no second batch started
    expect(j.batches).toBe(1);
    expect(await count(c, `SELECT count(*) AS n FROM birthgate.governance_candidate_state`)).toBe(j.applied);
    // what is left is recorded, and the next run resumes and finishes
    const done = await cli(['backfill', '--json'], { DATABASE_URL: d.url });
    expect(done.code, done.stderr).toBe(0);
    expect(oneJsonLine(done.stdout)).toMatchObject({ ok: true, finished: true, run_id: j.run_id });
    expect(await count(c, `SELECT count(*) AS n FROM birthgate.governance_candidate_state`)).toBe(30);
  });

  it('outbox purge: SIGINT while its batch waits on a lock: exit 130, one JSON line with the batches done', async () => {
    const d = await databases.fresh();
    const r = await interruptWhileLocked(d, ['outbox', 'purge', '--batch', '1', '--json'], 'birthgate outbox purge', 'birthgate.outbox_receipt', 'SIGINT');
    expect(r.code, r.stderr).toBe(130);
    const j = oneJsonLine(r.stdout);
    expect(j).toMatchObject({ ok: false, exit_code: 130, interrupted: true, batches: 1, purged: 0, error: { class: 'interrupted' } });
  });

  it('text mode: the interruption is said on stderr with the exit code 130', async () => {
    const d = await databases.fresh();
    const r = await interruptWhileLocked(d, ['outbox', 'purge'], 'birthgate outbox purge', 'birthgate.outbox_receipt', 'SIGINT');
    expect(r.code).toBe(130);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/interrupted by SIGINT after 1 batch/);
  });
});
