/**
 * `birthgate adopt` when the package owner may not read the family table (migration 000012): the
 * package function belongs to a role that is neither superuser nor BYPASSRLS (as on a managed
 * server); the family table and its schema belong to a third role that grants it neither USAGE nor
 * SELECT. The CLI exits 1 with one JSON line carrying BG608, the table in DETAIL and the GRANTs in
 * the HINT (a raw 42501 before, for the schema), and nothing is written; after running the HINT's
 * GRANTs the same command adopts every row.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { databasesDroppedAfterAll } from './helpers/db.js';

const root = resolve(import.meta.dirname, '..');
const S = 'birthgate';
const dbs = databasesDroppedAfterAll();

function cli(args: string[], url: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawn(process.execPath, ['bin/birthgate.mjs', ...args], { cwd: root, env: { ...process.env, DATABASE_URL: url } });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d) => (stdout += d));
  p.stderr.on('data', (d) => (stderr += d));
  return new Promise((done) => p.on('close', (code) => done({ code, stdout, stderr })));
}

describe('adopt with a package owner that may not read the family table', () => {
  it('BG608 with the GRANT in the HINT, nothing written; the GRANT makes it work', async () => {
    const db = await dbs.fresh();
    const c = await db.client();
    // roles are cluster-wide: a name of this run only, dropped at the end
    const pkg = `bg_pkg_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    const fn = `${S}.sweep_adopt(text, boolean, integer, integer, boolean)`;
    const owner = (await c.query(`SELECT proowner::regrole::text AS o FROM pg_proc WHERE oid = '${fn}'::regprocedure`)).rows[0].o;
    const tableOwner = `${pkg}_o`;
    await c.query(`CREATE ROLE ${pkg} NOLOGIN; GRANT ${owner} TO ${pkg}; ALTER FUNCTION ${fn} OWNER TO ${pkg}; CREATE ROLE ${tableOwner} NOLOGIN`);
    try {
      // the family table and its schema belong to another role, which grants the package owner nothing
      await c.query(`CREATE SCHEMA closed AUTHORIZATION ${tableOwner}; CREATE TABLE closed.items (id int, code text); CREATE INDEX ON closed.items (code)`);
      await c.query(`INSERT INTO closed.items SELECT g, 'K-' || g FROM generate_series(1, 500) g; ALTER TABLE closed.items OWNER TO ${tableOwner}`);
      await c.query(`SELECT ${S}.register_family('items', 'closed.items', 'code', '^K-[0-9]+$', 'report')`);
      const count = async () =>
        (await c.query(`SELECT (SELECT count(*) FROM ${S}.birth_registry)::int + (SELECT count(*) FROM ${S}.sweep_cursor)::int AS n`)).rows[0].n;
      const before = await count();

      for (const dry of [['--dry-run'], []]) {
        const r = await cli(['adopt', 'items', ...dry, '--json'], db.url);
        expect(r.code, r.stdout + r.stderr).toBe(1);
        const out = JSON.parse(r.stdout.trim());
        expect(out.ok).toBe(false);
        expect(out.error.sqlstate).toBe('BG608');
        expect(out.error.detail).toMatch(new RegExp(`^family items, table closed\\.items, package owner ${pkg}: `));
        expect(out.error.hint).toMatch(new RegExp(`run: GRANT USAGE ON SCHEMA closed TO ${pkg}; GRANT SELECT ON closed\\.items TO ${pkg};$`));
      }
      expect(await count()).toBe(before);

      const r0 = await cli(['adopt', 'items', '--json'], db.url);
      const hint: string = JSON.parse(r0.stdout.trim()).error.hint;
      await c.query(hint.slice(hint.indexOf('run: ') + 'run: '.length));
      const r = await cli(['adopt', 'items', '--json'], db.url);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim());
      expect(out.finished).toBe(true);
      expect(out.applied).toBe(500);
    } finally {
      await c.query(`ALTER FUNCTION ${fn} OWNER TO ${owner}; DROP OWNED BY ${pkg}, ${tableOwner}; DROP ROLE ${pkg}; DROP ROLE ${tableOwner}`);
    }
  });
});
