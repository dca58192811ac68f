/**
 * Security audit guard: every SECURITY DEFINER function in the installed schema is listed in the
 * README's "SECURITY DEFINER audit" table (and every function listed there exists and is a
 * definer), and pins search_path; so a definer added later cannot slip in unaudited. Also:
 * `birthgate status` works for a login that is only a member of birthgate_reader.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { databasesDroppedAfterAll, type TestDb } from './helpers/db.js';
import { cli } from './drift-helpers.js';

const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');

/** Signatures in the first column of the audit table, spaces removed: name(type,type). */
function auditedDefiners(): string[] {
  const start = readme.indexOf('### SECURITY DEFINER audit');
  expect(start, 'README has a "### SECURITY DEFINER audit" section').toBeGreaterThan(0);
  const rest = readme.slice(start);
  const end = rest.indexOf('\n### ', 5);
  const section = end > 0 ? rest.slice(0, end) : rest;
  return section
    .split('\n')
    .filter((l) => /^\| `[a-z_0-9]+\(/.test(l))
    .map((l) => /^\| `([^`]+)`/.exec(l)![1]!.replace(/,\s+/g, ','));
}

let d: TestDb;
let c: pg.Client;
const databases = databasesDroppedAfterAll();
beforeAll(async () => {
  d = await databases.fresh();
  c = await d.client();
});

describe('SECURITY DEFINER audit', () => {
  it('the README table lists exactly the SECURITY DEFINER functions of the installed schema', async () => {
    const { rows } = await c.query<{ sig: string }>(
      `SELECT regexp_replace(p.oid::regprocedure::text, '^birthgate\\.', '') AS sig
         FROM pg_proc p WHERE p.pronamespace = 'birthgate'::regnamespace AND p.prosecdef ORDER BY 1`,
    );
    const installed = rows.map((r) => r.sig).sort();
    const listed = auditedDefiners().sort();
    expect(installed.filter((s) => !listed.includes(s)), 'definers missing from the README audit table').toEqual([]);
    expect(listed.filter((s) => !installed.includes(s)), 'README audit rows that are not installed definers').toEqual([]);
  });

  it('every SECURITY DEFINER function pins search_path = pg_catalog, pg_temp', async () => {
    const { rows } = await c.query<{ sig: string }>(
      `SELECT p.oid::regprocedure::text AS sig FROM pg_proc p
        WHERE p.pronamespace = 'birthgate'::regnamespace AND p.prosecdef
          AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)`,
    );
    expect(rows.map((r) => r.sig)).toEqual([]);
  });
});

describe('birthgate status for a reader', () => {
  it('a login that is only a member of birthgate_reader gets a status, not permission denied', async () => {
    const role = `bg_sec_reader_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    await c.query(`CREATE ROLE ${role} LOGIN IN ROLE birthgate_reader`);
    try {
      const url = new URL(d.url);
      url.username = role;
      const r = await cli(['status', '--json'], { DATABASE_URL: url.toString() });
      expect(r.stderr).not.toMatch(/permission denied/);
      expect(r.code).toBe(0);
      const doc = JSON.parse(r.stdout) as { ok: boolean; installed: boolean; migrations: { applied: string[] }; handoff: unknown[] };
      expect(doc.installed).toBe(true);
      expect(doc.migrations.applied.length).toBeGreaterThan(0);
      expect(doc.handoff).toHaveLength(1);
    } finally {
      await c.query(`DROP ROLE ${role}`);
    }
  });
});
