/**
 * birthgate status as a monitoring probe: exit 0 when nothing at or above --fail-on exists, 3 when
 * something does (per severity: info, warning, critical), 1 when the database cannot be reached,
 * 2 for bad flags; one JSON document with --json, a table otherwise.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { databasesDroppedAfterAll, type TestDb } from './helpers/db.js';
import { withDatabase } from '../src/db.js';
import { cli } from './drift-helpers.js';
import type pg from 'pg';

let d: TestDb;
let c: pg.Client;
const databases = databasesDroppedAfterAll();
beforeAll(async () => {
  d = await databases.fresh();
  c = await d.client();
});

const status = (...args: string[]) => cli(['status', ...args], { DATABASE_URL: d.url });
const doc = (r: { stdout: string }) => JSON.parse(r.stdout) as { ok: boolean; exit_code: number; findings: { severity: string; kind: string }[]; summary: Record<string, number>; handoff: unknown[]; migrations: { pending: string[] } };

describe('birthgate status', () => {
  it('clean database: exit 0 and one JSON document with no findings', async () => {
    const r = await status('--json');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const j = doc(r);
    expect(j.ok).toBe(true);
    expect(j.findings).toEqual([]);
    expect(j.migrations.pending).toEqual([]);
    expect(j.handoff).toHaveLength(1);
  });

  it('an info finding fails only --fail-on info', async () => {
    await c.query('ALTER TABLE birthgate.registry_changelog ENABLE ALWAYS TRIGGER _100_append_only');
    try {
      const def = await status('--json');
      expect(def.code).toBe(0);
      expect(doc(def).findings.map((f) => [f.severity, f.kind])).toEqual([['info', 'trigger_always']]);
      expect((await status('--json', '--fail-on', 'warning')).code).toBe(0);
      const info = await status('--json', '--fail-on', 'info');
      expect(info.code).toBe(3);
      expect(doc(info).ok).toBe(false);
      expect(doc(info).exit_code).toBe(3);
    } finally {
      await c.query('ALTER TABLE birthgate.registry_changelog ENABLE TRIGGER _100_append_only');
    }
    expect((await status('--json', '--fail-on', 'info')).code).toBe(0);
  });

  it('a warning finding fails --fail-on warning and info, not the default (critical)', async () => {
    await c.query(`CREATE FUNCTION birthgate.sneaky() RETURNS int LANGUAGE sql AS 'SELECT 1'`);
    await c.query('REVOKE ALL ON FUNCTION birthgate.sneaky() FROM PUBLIC');
    try {
      const def = await status('--json');
      expect(def.code).toBe(0);
      expect(doc(def).findings.map((f) => [f.severity, f.kind])).toEqual([['warning', 'function_unexpected']]);
      expect((await status('--json', '--fail-on', 'warning')).code).toBe(3);
      expect((await status('--json', '--fail-on', 'info')).code).toBe(3);
      expect((await status('--json', '--fail-on', 'critical')).code).toBe(0);
    } finally {
      await c.query('DROP FUNCTION birthgate.sneaky()');
    }
    expect((await status('--json', '--fail-on', 'info')).code).toBe(0);
  });

  it('a critical finding fails the default probe; the table names it; repaired, it passes again', async () => {
    await c.query('ALTER TABLE birthgate.registry_changelog DISABLE TRIGGER _101_append_only_truncate');
    try {
      const r = await status('--json');
      expect(r.code).toBe(3);
      expect(doc(r).summary.critical).toBe(1);
      expect(doc(r).findings[0]).toMatchObject({ severity: 'critical', kind: 'trigger_disabled' });
      const text = await status();
      expect(text.code).toBe(3);
      expect(text.stdout).toContain('trigger_disabled');
      expect(text.stdout).toContain('ALTER TABLE birthgate.registry_changelog ENABLE TRIGGER _101_append_only_truncate');
      expect(text.stdout).toContain('FAIL');
    } finally {
      await c.query('ALTER TABLE birthgate.registry_changelog ENABLE TRIGGER _101_append_only_truncate');
    }
    const ok = await status();
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('OK: nothing at or above critical');
  });

  it('a stale heartbeat is critical and says that activation fails closed', async () => {
    await c.query(`UPDATE birthgate.handoff_cursor SET heartbeat_at = now() - interval '2 hours'`);
    try {
      const r = await status('--json');
      expect(r.code).toBe(3);
      const f = doc(r).findings.find((x) => x.kind === 'heartbeat_stale') as { message: string } | undefined;
      expect(f?.message).toMatch(/fails closed/);
    } finally {
      await c.query(`UPDATE birthgate.handoff_cursor SET heartbeat_at = NULL`);
    }
    expect((await status('--json')).code).toBe(0);
  });

  it('bad flags exit 2', async () => {
    const bad = await status('--fail-on', 'fatal');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/fail-on/);
    expect((await status('--bogus')).code).toBe(2);
    expect((await cli(['status'], { DATABASE_URL: 'mysql://nope' })).code).toBe(2);
  });

  it('an unreachable or missing database exits 1 (JSON error document with --json)', async () => {
    const r = await cli(['status', '--json'], { DATABASE_URL: withDatabase(d.url, 'no_such_database_bg') });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout.trim().split('\n')[0]!)).toMatchObject({ ok: false });
    expect(r.stderr).toMatch(/3D000|does not exist/);
  });

  it('a database without birthgate is critical; one without the monitor warns', async () => {
    const e = await databases.empty();
    const r = await cli(['status', '--json'], { DATABASE_URL: e.url });
    expect(r.code).toBe(3);
    expect(doc(r).findings.map((f) => f.kind)).toContain('not_installed');
  });
});
