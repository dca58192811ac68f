/**
 * The built CLI as an operator meets it: --version and help with exit codes, exactly one JSON line
 * on every failure path with --json (usage, configuration, connection refused, not installed, SQL
 * error, interrupted), `migrate status`, BIRTHGATE_SCHEMA installing into that schema, `status`
 * agreeing with v_handoff_status (waiting vs held back), `metrics` (promtool check metrics, equal
 * to metrics_exposition(), --textfile), a read-only root filesystem, and npm pack + install -g.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { databasesDroppedAfterAll, type TestDb } from './helpers/db.js';
import { cli } from './drift-helpers.js';
import { projectRoot, packageVersion } from '../src/paths.js';

const databases = databasesDroppedAfterAll();
const BIN = join(projectRoot, 'bin', 'birthgate.mjs');

function oneJsonLine(stdout: string): Record<string, any> {
  const lines = stdout.split('\n').filter((l) => l.length > 0);
  expect(lines, `stdout must be exactly one line, got ${JSON.stringify(stdout)}`).toHaveLength(1);
  return JSON.parse(lines[0]!) as Record<string, any>;
}

function promtoolCheck(text: string): { code: number; out: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { code: r.status ?? 1, out: `${r.stdout}${r.stderr}` };
}

async function pollUntil<T>(what: string, fn: () => Promise<T | null | undefined | false>, deadlineMs = 60_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Births written the way the gate writes them (registry + changelog), for a family over pg_class. */
/** A family over a small table of its own (scanning pg_class as a family would be slow and noisy). */
async function probeFamily(c: pg.Client): Promise<void> {
  await c.query(`CREATE TABLE public.op_probe (code text)`);
  await c.query(`INSERT INTO birthgate.birth_family (collection_name, table_name, code_column, code_pattern)
                 VALUES ('op_probe', 'public.op_probe', 'code', '^[A-Z]-[0-9]+$')`);
}

async function births(c: pg.Client, prefix: string, n: number): Promise<void> {
  await c.query(
    `WITH r AS (
       INSERT INTO birthgate.birth_registry (collection_name, entity_code)
       SELECT 'op_probe', $1 || g FROM generate_series(1, $2::int) AS g
       RETURNING registry_id, collection_name, entity_code, born_at)
     INSERT INTO birthgate.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
     SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r ORDER BY r.registry_id`,
    [prefix, n],
  );
}

describe('birthgate CLI: version, help, exit codes', () => {
  it('--version prints the package version; --json as one line', async () => {
    const r = await cli(['--version'], {});
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`birthgate ${packageVersion}`);
    expect(oneJsonLine((await cli(['--version', '--json'], {})).stdout)).toEqual({ ok: true, version: packageVersion });
  });

  it('the top-level help says what each command does and lists the exit codes; every command help lists its exit codes', async () => {
    const r = await cli(['--help'], {});
    expect(r.code).toBe(0);
    const names = ['migrate', 'status', 'metrics', 'consume', 'rehearse', 'packet'];
    for (const n of names) expect(r.stdout).toMatch(new RegExp(`^  ${n} +\\S.{20,}`, 'm'));
    expect(r.stdout).toMatch(/exit codes/);
    expect(r.stdout).toMatch(/130/);
    for (const n of names) {
      const h = await cli([n, '--help'], {});
      expect(h.code, n).toBe(0);
      expect(h.stdout, n).toMatch(/exit codes/);
      expect(h.stdout, n).toMatch(/^ +2 /m);
    }
  });
});

describe('--json: exactly one JSON line on every failure path', () => {
  let d: TestDb;
  beforeAll(async () => {
    d = await databases.fresh();
  });

  it('bad arguments: exit 2, class usage, a short message without the usage text', async () => {
    const cases: [string[], RegExp][] = [
      [['consume', '--max-batches', '-1', '--json'], /--max-batches must be at least 1 \(got "-1"\)/],
      [['consume', '--batch-size', 'x', '--json'], /--batch-size must be a whole number/],
      [['migrate', 'sideways', '--json'], /expected up, down or status/],
      [['migrate', 'down', '--count', '-2', '--json'], /--count must be a whole number of at least 1/],
      [['status', '--fail-on', 'loud', '--json'], /--fail-on/],
      [['metrics', '--textfile', 'out.txt', '--json'], /--textfile/],
      [['frobnicate', '--json'], /unknown command 'frobnicate'/],
      [['--json'], /no command given/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args, { DATABASE_URL: d.url });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      const j = oneJsonLine(r.stdout);
      expect(j.ok).toBe(false);
      expect(j.error.class).toBe('usage');
      expect(j.error.message).toMatch(message);
      expect(j.error.message).not.toMatch(/\n|usage:|Options/);
      expect(j.error.message.length).toBeLessThan(200);
    }
  });

  it('configuration: DATABASE_URL missing or not a postgres URL is exit 2, class config', async () => {
    for (const url of [undefined, 'http://example.invalid/db']) {
      const r = await cli(['status', '--json'], { DATABASE_URL: url });
      expect(r.code).toBe(2);
      expect(oneJsonLine(r.stdout)).toMatchObject({ ok: false, exit_code: 2, error: { class: 'config' } });
    }
  });

  it('connection refused: exit 1, class connection, the node code is not passed off as a SQLSTATE', async () => {
    const rehearse = await cli(['rehearse', '--json'], { DATABASE_URL: 'postgresql://nobody:secret@127.0.0.1:1/nothing' });
    expect(rehearse.code).toBe(1);
    expect(oneJsonLine(rehearse.stdout).error.class).toBe('connection');
    expect(rehearse.stdout + rehearse.stderr).not.toMatch(/secret/);
    for (const cmd of [['status'], ['metrics'], ['migrate', 'status'], ['migrate', 'up']]) {
      const r = await cli([...cmd, '--json'], { DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/nothing' });
      expect(r.code, cmd.join(' ')).toBe(1);
      const j = oneJsonLine(r.stdout);
      expect(j.error).toMatchObject({ class: 'connection', node_code: 'ECONNREFUSED' });
      expect(j.error.sqlstate).toBeUndefined();
      expect(r.stderr).not.toMatch(/SQLSTATE ECONNREFUSED/);
      expect(r.stderr).toMatch(/\[ECONNREFUSED\]/);
    }
    const c = await cli(['consume', '--json'], { DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/nothing' });
    expect(c.code).toBe(1);
    expect(oneJsonLine(c.stdout).error).toMatchObject({ class: 'connection', node_code: 'ECONNREFUSED' });
  });

  it('birthgate not installed: the hint says to run birthgate migrate up', async () => {
    const empty = await databases.empty();
    for (const cmd of [['consume'], ['metrics']]) {
      const r = await cli([...cmd, '--json'], { DATABASE_URL: empty.url });
      expect(r.code, cmd.join(' ')).toBe(1);
      const j = oneJsonLine(r.stdout);
      expect(j.error.class).toBe('not_installed');
      expect(j.error.hint).toMatch(/birthgate migrate up/);
    }
    const s = await cli(['status', '--json'], { DATABASE_URL: empty.url });
    expect(s.code).toBe(3);
    expect(oneJsonLine(s.stdout).findings[0]).toMatchObject({ kind: 'not_installed', remedy: expect.stringMatching(/birthgate migrate up/) });
  });

  it('an SQL error carries SQLSTATE, DETAIL and HINT', async () => {
    const broken = await databases.fresh();
    const b = await broken.client();
    await b.query('DELETE FROM birthgate.handoff_cursor');
    const r = await cli(['consume', '--json'], { DATABASE_URL: broken.url });
    expect(r.code).toBe(1);
    const j = oneJsonLine(r.stdout);
    expect(j.error).toMatchObject({ class: 'database', sqlstate: 'BG201', detail: expect.any(String), hint: expect.any(String) });
    expect(r.stderr).toMatch(/\[SQLSTATE BG201\]\nDETAIL: .+\nHINT: .+/);
  });

  it('SIGTERM while waiting on a lock: exit 143 and one JSON line of class interrupted', async () => {
    const locker = await d.client();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE birthgate.handoff_cursor IN ACCESS EXCLUSIVE MODE');
    const watcher = await d.client();
    const child = spawn(process.execPath, [BIN, 'metrics', '--json'], { env: { ...process.env, DATABASE_URL: d.url } });
    let stdout = '';
    child.stdout.on('data', (b) => (stdout += b));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await pollUntil('metrics to wait on the lock', async () => {
      const w = await watcher.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'birthgate metrics' AND wait_event_type = 'Lock'`);
      return w.rowCount! > 0;
    });
    child.kill('SIGTERM');
    const code = await exited.finally(() => locker.query('ROLLBACK'));
    expect(code).toBe(143);
    expect(oneJsonLine(stdout)).toMatchObject({ ok: false, exit_code: 143, error: { class: 'interrupted' } });
  });

  it('consume stops after the batch in flight on SIGINT, reports it and exits 130', async () => {
    const db = await databases.fresh();
    const c = await db.client();
    await probeFamily(c);
    await births(c, 'S-', 3);
    const locker = await db.client();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE birthgate.governance_candidate_state IN ACCESS EXCLUSIVE MODE');
    const watcher = await db.client();
    const child = spawn(process.execPath, [BIN, 'consume', '--until-empty', '--batch-size', '1', '--json'], { env: { ...process.env, DATABASE_URL: db.url } });
    let stdout = '';
    child.stdout.on('data', (b) => (stdout += b));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await pollUntil('consume to wait on the lock', async () => {
      const w = await watcher.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'birthgate consume' AND wait_event_type = 'Lock'`);
      return w.rowCount! > 0;
    });
    child.kill('SIGINT');
    // the first signal only asks it to stop: the batch in flight still completes once the lock goes
    await new Promise((r) => setTimeout(r, 200));
    await locker.query('ROLLBACK');
    const code = await exited;
    expect(code).toBe(130);
    const j = oneJsonLine(stdout);
    expect(j).toMatchObject({ ok: false, interrupted: true, batches: 1, error: { class: 'interrupted' } });
    // one batch of 1 ran to completion and no second one started (it consumed 0 when another
    // database's open transaction held the horizon back: that is the handoff's rule, not a failure)
    expect([0, 1]).toContain(j.consumed);
    const left = await c.query(`SELECT rows_waiting + rows_held_back AS n FROM birthgate.v_handoff_status`);
    expect(Number(left.rows[0].n)).toBe(3 - j.consumed);
  });
});

describe('make targets for operators', () => {
  it('make migrate, migrate-down and migrate-status need only Node and the database: no test-tool setup', () => {
    for (const target of ['migrate', 'migrate-down', 'migrate-status', 'metrics', 'build']) {
      const r = spawnSync('make', ['-n', target], { cwd: projectRoot, encoding: 'utf8', env: { ...process.env, DATABASE_URL: 'postgresql://x@127.0.0.1:1/y' } });
      expect(r.status, `${target}: ${r.stderr}`).toBe(0);
      expect(r.stdout, target).not.toMatch(/setup\.sh|pg_prove|promtool|apt-get/);
    }
    const t = spawnSync('make', ['-n', 'test'], { cwd: projectRoot, encoding: 'utf8' });
    expect(t.stdout).toMatch(/setup\.sh test/);
  });
});

describe('migrate status and BIRTHGATE_SCHEMA', () => {
  it('migrate status: exit 3 with everything pending on an empty database, 0 once applied; changes nothing', async () => {
    const e = await databases.empty();
    const before = await cli(['migrate', 'status', '--json'], { DATABASE_URL: e.url });
    expect(before.code).toBe(3);
    const j = oneJsonLine(before.stdout);
    const files = readdirSync(join(projectRoot, 'migrations')).filter((f) => f.endsWith('.sql')).map((f) => f.replace(/\.sql$/, '')).sort();
    expect(j).toMatchObject({ ok: false, applied: [], pending: files, unknown: [] });
    const c = await e.client();
    expect((await c.query(`SELECT to_regnamespace('birthgate_migrations') IS NULL AS none`)).rows[0].none).toBe(true);
    expect((await cli(['migrate', 'up'], { DATABASE_URL: e.url })).code).toBe(0);
    const after = await cli(['migrate', 'status'], { DATABASE_URL: e.url });
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(new RegExp(`${files.length} applied, 0 pending`));
    for (const f of files) expect(after.stdout).toMatch(new RegExp(`applied +${f}`));
  });

  it('BIRTHGATE_SCHEMA=myschema installs into myschema (objects, roles, bookkeeping) and rolls back', async () => {
    const e = await databases.empty();
    const env = { DATABASE_URL: e.url, BIRTHGATE_SCHEMA: 'opschema' };
    const up = await cli(['migrate', 'up', '--json'], env);
    expect(up.code, up.stderr).toBe(0);
    const c = await e.client();
    const ns = await c.query(`SELECT nspname FROM pg_namespace WHERE nspname IN ('birthgate', 'birthgate_migrations', 'opschema', 'opschema_migrations') ORDER BY 1`);
    expect(ns.rows.map((r) => r.nspname)).toEqual(['opschema', 'opschema_migrations']);
    expect((await c.query(`SELECT count(*)::int AS n FROM pg_roles WHERE rolname IN ('opschema_admin', 'opschema_issuer', 'opschema_reader')`)).rows[0].n).toBe(3);
    expect((await c.query(`SELECT count(*)::int AS n FROM opschema.v_drift_report`)).rows[0].n).toBe(0);
    const st = await cli(['status', '--json'], env);
    expect(st.code, st.stdout).toBe(0);
    expect(oneJsonLine(st.stdout)).toMatchObject({ ok: true, schema: 'opschema', migrations: { pending: [] } });
    const m = await cli(['metrics'], env);
    expect(m.code).toBe(0);
    expect(promtoolCheck(m.stdout).code).toBe(0);
    expect((await cli(['migrate', 'down', '--all'], env)).code).toBe(0);
    expect((await c.query(`SELECT to_regnamespace('opschema') IS NULL AS gone`)).rows[0].gone).toBe(true);
  });
});

describe('status and metrics agree with the views', () => {
  let d: TestDb;
  let c: pg.Client;
  beforeAll(async () => {
    d = await databases.fresh();
    c = await d.client();
    await probeFamily(c);
  });

  it('a row held back by a transaction holding the cursor: status says 1 waiting, 1 held back, as v_handoff_status does; metrics too', async () => {
    // Since the snapshot cursor (000005) an open transaction elsewhere holds nothing back; what does
    // is a transaction that holds the cursor itself (a consumer run inside a long transaction).
    const holder = await d.client();
    await holder.query('BEGIN');
    await holder.query('SELECT * FROM birthgate.handoff_consume(1)');
    const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    let view: Record<string, unknown>;
    let json: Awaited<ReturnType<typeof cli>>;
    let text: Awaited<ReturnType<typeof cli>>;
    let m: Awaited<ReturnType<typeof cli>>;
    try {
      await births(c, 'H-', 1);
      view = (await c.query(`SELECT rows_waiting::int AS w, rows_held_back::int AS h, holding_pid FROM birthgate.v_handoff_status`)).rows[0];
      [json, text, m] = await Promise.all([
        cli(['status', '--json'], { DATABASE_URL: d.url }),
        cli(['status'], { DATABASE_URL: d.url }),
        cli(['metrics'], { DATABASE_URL: d.url }),
      ]);
    } finally {
      await holder.query('ROLLBACK');
    }
    expect(view).toMatchObject({ w: 1, h: 1, holding_pid: holderPid });
    const j = oneJsonLine(json.stdout);
    const h = j.handoff[0];
    expect(h).toMatchObject({ consumer: 'governance_handoff', rows_waiting: 1, rows_held_back: 1, holding_pid: holderPid });
    expect(typeof h.position_change_id).toBe('number');
    expect(typeof h.stale_after_seconds).toBe('number');
    for (const k of Object.keys(j).concat(Object.keys(h))) expect(k, 'snake_case keys only').toMatch(/^[a-z0-9_]+$/);
    expect(text.stdout).toMatch(new RegExp(`1 changelog row\\(s\\) waiting, 1 held back by an open transaction \\(pid ${holderPid}`));
    expect(m.stdout).toMatch(/^birthgate_handoff_rows_held_back\{consumer="governance_handoff"\} 1$/m);
    expect(m.stdout).toMatch(/^birthgate_handoff_rows_waiting\{consumer="governance_handoff"\} 1$/m);
    expect(m.stdout).toMatch(/^birthgate_handoff_lag_rows\{consumer="governance_handoff"\} 1$/m);
    // the holder is gone: the row is waiting and nothing holds it back
    const after = oneJsonLine((await cli(['status', '--json'], { DATABASE_URL: d.url })).stdout).handoff[0];
    expect(after).toMatchObject({ rows_waiting: 1, rows_held_back: 0 });
  });

  it('metrics: valid for promtool check metrics, identical to metrics_exposition(), every view row present', async () => {
    const d = await databases.fresh();
    const c = await d.client();
    await c.query(`ALTER TABLE birthgate.registry_changelog DISABLE TRIGGER _101_append_only_truncate`);
    try {
      const m = await cli(['metrics'], { DATABASE_URL: d.url });
      expect(m.code).toBe(0);
      const check = promtoolCheck(m.stdout);
      expect(check.out).toBe('');
      expect(check.code).toBe(0);
      const sql = (await c.query<{ t: string }>('SELECT birthgate.metrics_exposition() AS t')).rows[0]!.t;
      const strip = (t: string) => t.replace(/^birthgate_handoff_(lag|heartbeat_age|held_back|holding_xact_age)_seconds.*$/gm, '');
      expect(strip(m.stdout)).toBe(strip(sql));
      expect(m.stdout).toMatch(/^birthgate_drift_findings\{severity="critical"\} 1$/m);
      const rows = (await c.query(`SELECT count(*)::int AS n FROM birthgate.v_metrics`)).rows[0].n;
      expect(m.stdout.split('\n').filter((l) => l && !l.startsWith('#'))).toHaveLength(rows);
      const j = oneJsonLine((await cli(['metrics', '--json'], { DATABASE_URL: d.url })).stdout);
      expect(j.metrics).toHaveLength(rows);
      expect(j.metrics.find((x: { metric: string; labels: { severity?: string } }) => x.metric === 'birthgate_drift_findings' && x.labels.severity === 'critical').value).toBe(1);
    } finally {
      await c.query(`ALTER TABLE birthgate.registry_changelog ENABLE TRIGGER _101_append_only_truncate`);
    }
  });

  it('metrics --textfile writes a complete file atomically (no temp file left) that promtool accepts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-textfile-'));
    try {
      const path = join(dir, 'birthgate.prom');
      const r = await cli(['metrics', '--textfile', path], { DATABASE_URL: d.url });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('');
      const text = readFileSync(path, 'utf8');
      expect(text).toMatch(/^birthgate_up 1$/m);
      expect(promtoolCheck(text).code).toBe(0);
      expect(readdirSync(dir)).toEqual(['birthgate.prom']);
      const down = await cli(['metrics', '--textfile', path], { DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/nothing' });
      expect(down.code).toBe(1);
      expect(readFileSync(path, 'utf8')).toMatch(/^birthgate_up 0$/m);
      expect(readdirSync(dir)).toEqual(['birthgate.prom']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a login role with only birthgate_reader runs status (the same findings as the owner) and metrics', async () => {
    const role = `bg_mon_${process.pid}`;
    await c.query(`CREATE ROLE ${role} LOGIN`);
    try {
      await c.query(`GRANT birthgate_reader TO ${role}`);
      const u = new URL(d.url);
      u.username = role;
      const st = await cli(['status', '--json'], { DATABASE_URL: u.toString() });
      const owner = await cli(['status', '--json'], { DATABASE_URL: d.url });
      expect(st.code, st.stdout + st.stderr).toBe(owner.code); // it ran: the same verdict as the owner's
      const kinds = (r: { stdout: string }) => oneJsonLine(r.stdout).findings.map((f: { kind: string }) => f.kind);
      // 000007 lets the reader read the migrations bookkeeping: the same findings as the owner's
      expect(kinds(st)).not.toContain('migrations_unreadable');
      expect(kinds(st)).toEqual(kinds(owner));
      const m = await cli(['metrics'], { DATABASE_URL: u.toString() });
      expect(m.code, m.stderr).toBe(0);
      expect(promtoolCheck(m.stdout).code).toBe(0);
    } finally {
      await c.query(`DROP OWNED BY ${role}`);
      await c.query(`DROP ROLE ${role}`);
    }
  });

  it('the reader role can read v_metrics and metrics_exposition()', async () => {
    await c.query('BEGIN');
    try {
      await c.query('SET LOCAL ROLE birthgate_reader');
      const r = await c.query(`SELECT count(*)::int AS n FROM birthgate.v_metrics`);
      expect(r.rows[0].n).toBeGreaterThan(10);
      expect((await c.query('SELECT length(birthgate.metrics_exposition()) > 0 AS ok')).rows[0].ok).toBe(true);
    } finally {
      await c.query('ROLLBACK');
    }
  });
});

describe('packaging and a read-only filesystem', () => {
  let d: TestDb;
  beforeAll(async () => {
    d = await databases.fresh();
  });

  it('runs on a read-only root filesystem (status, metrics, a failure path with --json)', async (ctx) => {
    const probe = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount -o remount,bind,ro / && ! touch /.bg_rw_probe 2>/dev/null'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      ctx.skip(); // needs CAP_SYS_ADMIN for a private mount namespace
      return;
    }
    const run = (args: string) =>
      spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount -o remount,bind,ro / && exec "${process.execPath}" "${BIN}" ${args}`], {
        encoding: 'utf8',
        env: { ...process.env, DATABASE_URL: d.url, HOME: '/nonexistent', TMPDIR: '/nonexistent' },
      });
    const v = run('--version');
    expect(v.status, v.stderr).toBe(0);
    const s = run('status --json');
    expect(s.status, s.stderr).toBe(0);
    expect(oneJsonLine(s.stdout).ok).toBe(true);
    const m = run('metrics');
    expect(m.status, m.stderr).toBe(0);
    expect(m.stdout).toMatch(/^birthgate_handoff_lag_rows/m);
    const t = run(`metrics --textfile /birthgate.prom --json`);
    expect(t.status).toBe(2);
    const f = run(`metrics --textfile /birthgate.prom`);
    expect(f.status).toBe(1);
    expect(f.stderr).toMatch(/EROFS|read-only/i);
    const j = run('consume --max-batches -1 --json');
    expect(j.status).toBe(2);
    expect(oneJsonLine(j.stdout).error.class).toBe('usage');
  });

  it('installs with npm pack + npm install -g into a temporary prefix and runs from there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-pack-'));
    try {
      const sh = (cmd: string, args: string[], cwd = projectRoot) =>
        new Promise<string>((resolve, reject) =>
          execFile(cmd, args, { cwd, env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' }, maxBuffer: 64 << 20 }, (err, out, errOut) =>
            err ? reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${errOut}`)) : resolve(out),
          ),
        );
      await sh('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir]);
      const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
      expect(tgz).toBe(`birthgate-${packageVersion}.tgz`);
      const listing = await sh('tar', ['-tzf', join(dir, tgz)]);
      expect(listing).toMatch(/package\/dist\/src\/cli\/main\.js/);
      expect(listing).toMatch(/package\/migrations\/000001_substrate\.sql/);
      expect(listing).not.toMatch(/package\/src\//);
      const prefix = join(dir, 'prefix');
      await sh('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(dir, tgz)]);
      const bin = join(prefix, 'bin', 'birthgate');
      expect(existsSync(bin)).toBe(true);
      const v = spawnSync(bin, ['--version'], { encoding: 'utf8' });
      expect(v.stdout.trim()).toBe(`birthgate ${packageVersion}`);
      const st = spawnSync(bin, ['migrate', 'status', '--json'], { encoding: 'utf8', env: { ...process.env, DATABASE_URL: d.url } });
      expect(st.status, st.stderr).toBe(0);
      expect(oneJsonLine(st.stdout).pending).toEqual([]);
      expect(st.stderr).not.toMatch(/warning/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
