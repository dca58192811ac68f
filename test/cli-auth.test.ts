/**
 * The CLI against a server that asks for a password (scram-sha-256 in pg_hba.conf), as on most
 * servers that are not a throwaway: a DATABASE_URL without the password, or with a wrong one, must
 * end the process at once with exit 1, one JSON line (class connection, a HINT about where the
 * password goes) — not leave it waiting on the half-open login until the server's
 * authentication_timeout, which piles up cron processes. A process that has not exited by itself
 * after 45 s is sent SIGTERM, which fails the test whatever the process then does.
 *
 * It needs a server whose pg_hba.conf it may change, so it starts its own small cluster
 * (scripts/with-pg --keep, the same server build as the rest of the suite), also when the suite
 * runs against DATABASE_URL.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { runCli, runCommand } from './helpers/cli.js';



describe('the CLI against a server that asks for a password', () => {
  let dir: string;
  let adminUrl: string;
  // the suite's own server settings must not leak into these runs (undefined removes a variable)
  const baseEnv: Record<string, string | undefined> = {
    DATABASE_URL: undefined,
    PGPASSWORD: undefined,
    PGHOST: undefined,
    PGPORT: undefined,
    PGUSER: undefined,
    PGDATABASE: undefined,
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'birthgate-auth-'));
    const started = await runCommand('scripts/with-pg', ['--keep', dir, '--', 'sh', '-c', 'echo "$DATABASE_URL"'], baseEnv, 120_000);
    expect(started.code, started.stderr).toBe(0);
    adminUrl = started.stdout.trim().split('\n').pop()!;
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    try {
      await c.query(`CREATE ROLE pw_needed LOGIN PASSWORD 'right-password'`);
      const hba = join(dir, 'data', 'pg_hba.conf');
      // first match wins: the role must authenticate with a password, everyone else stays as it was
      writeFileSync(hba, `local all pw_needed scram-sha-256\n${readFileSync(hba, 'utf8')}`);
      await c.query('SELECT pg_catalog.pg_reload_conf()');
      // the reload is asynchronous: wait until a login without the password is refused (generous deadline)
      const deadline = Date.now() + 60_000;
      for (;;) {
        const probe = new pg.Client({ connectionString: urlAs() });
        probe.on('error', () => undefined);
        const refused = await probe.connect().then(
          () => false,
          () => true,
        );
        await probe.end().catch(() => undefined);
        if (refused) break;
        if (Date.now() > deadline) throw new Error('pg_hba.conf reload not seen within 60 s');
        await new Promise((t) => setTimeout(t, 100));
      }
    } finally {
      await c.end();
    }
  }, 180_000);

  afterAll(async () => {
    if (!dir) return;
    await runCommand('scripts/with-pg', ['--stop', dir], baseEnv, 120_000);
    rmSync(dir, { recursive: true, force: true });
  }, 180_000);

  function urlAs(password?: string): string {
    const u = new URL(adminUrl);
    u.username = 'pw_needed';
    if (password !== undefined) u.password = password;
    return u.toString();
  }

  for (const command of [['consume'], ['status'], ['metrics'], ['migrate', 'status'], ['outbox', 'status']]) {
    it(`${command.join(' ')} --json without the password: exits 1 by itself, class connection, a HINT on where the password goes`, async () => {
      const r = await runCli([...command, '--json'], { ...baseEnv, DATABASE_URL: urlAs() }, 45_000);
      expect(r.killed, `the process had to be stopped by the deadline: ${r.stderr}`).toBe(false);
      expect(r.signal).toBeNull();
      expect(r.code, r.stdout + r.stderr).toBe(1);
      const lines = r.stdout.split('\n').filter(Boolean);
      expect(lines, r.stdout).toHaveLength(1);
      const doc = JSON.parse(lines[0]!) as { ok: boolean; error: { class: string; hint?: string } };
      expect(doc.ok).toBe(false);
      expect(doc.error.class).toBe('connection');
      expect(doc.error.hint).toContain('PGPASSWORD');
    }, 60_000);
  }

  it('a wrong password: exit 1, class connection, SQLSTATE 28P01 with a HINT; human output names it on stderr', async () => {
    const r = await runCli(['consume'], { ...baseEnv, DATABASE_URL: urlAs('wrong-password') }, 45_000);
    expect(r.killed).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[SQLSTATE 28P01]');
    expect(r.stderr).toContain('HINT: The password in DATABASE_URL');
    expect(r.stderr).not.toContain('wrong-password');
  }, 60_000);

  it('the right password gets past the login (then: birthgate is not installed in this database)', async () => {
    const r = await runCli(['consume', '--json'], { ...baseEnv, DATABASE_URL: urlAs('right-password') }, 45_000);
    expect(r.killed).toBe(false);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout.trim()) as { error: { class: string } };
    expect(doc.error.class).toBe('not_installed');
  }, 60_000);
});
