/**
 * `birthgate consume` as a child process (node bin/birthgate.mjs consume ...), against real
 * databases: exit codes (0 ok, 1 database failure, 2 bad flags or configuration), exactly one
 * parseable JSON line with --json and the right numbers, errors printed with SQLSTATE/DETAIL/HINT.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { oneJsonLine, runCli } from './helpers/cli.js';
import { freshDatabase, type TestDb } from './helpers/db.js';
import { withDatabase } from '../src/db.js';

const S = 'birthgate';
const cli = (args: string[], env: Record<string, string | undefined>) => runCli(['consume', ...args], env);

async function births(c: pg.Client, prefix: string, n: number): Promise<void> {
  await c.query(
    `WITH r AS (
       INSERT INTO ${S}.birth_registry (collection_name, entity_code)
       SELECT 'cli_probe', $1 || g FROM generate_series(1, $2::int) AS g
       RETURNING registry_id, collection_name, entity_code, born_at)
     INSERT INTO ${S}.registry_changelog (op, collection_name, entity_code, registry_id, born_at)
     SELECT 'BORN', r.collection_name, r.entity_code, r.registry_id, r.born_at FROM r ORDER BY r.registry_id`,
    [prefix, n],
  );
}

describe('birthgate consume (CLI)', () => {
  let db: TestDb;
  let c: pg.Client;

  beforeAll(async () => {
    db = await freshDatabase();
    c = await db.client();
    await c.query(`INSERT INTO ${S}.birth_family (collection_name, table_name, code_column, code_pattern)
                   VALUES ('cli_probe', 'pg_catalog.pg_class', 'relname', '^[A-Z]-[0-9]+$')`);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('--until-empty --json drains in batches and prints exactly one JSON line with the numbers', async () => {
    await births(c, 'A-', 12);
    const r = await cli(['--batch-size', '5', '--until-empty', '--json'], { DATABASE_URL: db.url });
    expect(r.code, r.stderr).toBe(0);
    const j = oneJsonLine(r.stdout);
    expect(j).toMatchObject({ ok: true, consumed: 12, emitted: 0, captured: 12, lag: 0, batches: 3, skipped: false, interrupted: false });
    expect(typeof j.elapsed_ms).toBe('number');
    const lag = (await c.query(`SELECT count(*)::int AS n FROM ${S}.v_handoff_lag`)).rows[0].n;
    expect(lag).toBe(0);
  });

  it('without --until-empty runs one batch; --max-batches bounds the run; lag tells what is left', async () => {
    await births(c, 'B-', 10);
    let r = await cli(['--batch-size', '2', '--json'], { DATABASE_URL: db.url });
    expect(r.code, r.stderr).toBe(0);
    expect(oneJsonLine(r.stdout)).toMatchObject({ ok: true, consumed: 2, batches: 1, lag: 8 });
    r = await cli(['--batch-size', '2', '--max-batches', '2', '--json'], { DATABASE_URL: db.url });
    expect(oneJsonLine(r.stdout)).toMatchObject({ ok: true, consumed: 4, batches: 2, lag: 4 });
    r = await cli(['--batch-size', '3', '--until-empty'], { DATABASE_URL: db.url });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^consume: 4 rows in 2 batches \(0 emitted, 4 captured\), lag 0, \d+ ms\n$/);
  });

  it('returns 0 with skipped: true when another consumer holds the cursor, and processes nothing', async () => {
    await births(c, 'C-', 3);
    const holder = await db.client();
    await holder.query('BEGIN');
    await holder.query(`SELECT * FROM ${S}.handoff_cursor FOR UPDATE`);
    const r = await cli(['--until-empty', '--json'], { DATABASE_URL: db.url });
    await holder.query('ROLLBACK');
    expect(r.code, r.stderr).toBe(0);
    expect(oneJsonLine(r.stdout)).toMatchObject({ ok: true, consumed: 0, batches: 0, skipped: true, lag: null });
  });

  it('exits 2 on bad flags, with a clear message (and ok:false in --json mode)', async () => {
    const cases: [string[], RegExp][] = [
      [['--batch-size', '0'], /--batch-size must be at least 1/],
      [['--batch-size', 'abc'], /--batch-size must be a whole number \(got "abc"\)/],
      [['--batch-size', '100001'], /--batch-size must be at most 100000/],
      [['--max-batches', '0'], /--max-batches must be at least 1/],
      [['--bogus'], /Unknown option '--bogus'/],
      [['--batch-size'], /--batch-size/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args, { DATABASE_URL: db.url });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    const r = await cli(['--batch-size', '-5', '--json'], { DATABASE_URL: db.url });
    expect(r.code).toBe(2);
    expect(oneJsonLine(r.stdout)).toMatchObject({ ok: false });
  });

  it('exits 2 when DATABASE_URL is missing or not a postgres URL, 1 when the database cannot be reached', async () => {
    let r = await cli(['--json'], { DATABASE_URL: undefined });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/DATABASE_URL is not set/);
    r = await cli([], { DATABASE_URL: 'http://example.invalid/db' });
    expect(r.code).toBe(2);
    r = await cli(['--json'], { DATABASE_URL: withDatabase(db.url, 'bg_no_such_database') });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[SQLSTATE 3D000\]/);
    expect(oneJsonLine(r.stdout)).toMatchObject({ ok: false, consumed: 0, error: { sqlstate: '3D000' } });
  });

  it('exits 1 on a database failure, printing SQLSTATE, DETAIL and HINT (missing cursor: BG201; dropped function: 42883)', async () => {
    const broken = await freshDatabase();
    try {
      const b = await broken.client();
      await b.query(`DELETE FROM ${S}.handoff_cursor`);
      let r = await cli([], { DATABASE_URL: broken.url });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/the handoff cursor row is missing \[SQLSTATE BG201\]/);
      expect(r.stderr).toMatch(/^DETAIL: no row with consumer_name = 'governance_handoff'/m);
      expect(r.stderr).toMatch(/^HINT: Re-create it/m);
      await b.query(`DROP FUNCTION ${S}.handoff_consume(integer)`);
      r = await cli(['--json'], { DATABASE_URL: broken.url });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/\[SQLSTATE 42883\]/);
      expect(oneJsonLine(r.stdout)).toMatchObject({ ok: false, batches: 0, error: { sqlstate: '42883' } });
    } finally {
      await broken.drop();
    }
  });
});
