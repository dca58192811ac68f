/**
 * birthgate migrate up|down|status — node-pg-migrate over the generated migrations, for the
 * schema BIRTHGATE_SCHEMA names (default birthgate).
 */
import { connectionFromEnv } from '../../config.js';
import { connect } from '../../db.js';
import { migrate } from '../../migrate.js';
import { parseCli } from '../../operator/args.js';
import { migrationState } from '../../operator/migrations.js';
import { COMMON_EXIT_CODES, EXIT, printJson, usageError } from '../io.js';

export const usage = `birthgate migrate up|down|status [--count N | --all] [--json]
  Applies or rolls back the schema migrations on DATABASE_URL (schema BIRTHGATE_SCHEMA, default
  birthgate; bookkeeping in <schema>_migrations.pgmigrations). Each migration runs in its own
  transaction; two migrators at once are safe (the second waits, then finds nothing to do).
  up       apply pending migrations (all by default; --count N for the next N)
  down     roll back the last migration (--count N for N, --all for every one: drops the schema and its roles)
  status   list every migration as applied or pending (and applied ones this version does not know); changes nothing
  --json   one JSON line on stdout:
           up/down: {"ok":true,"direction","migrations":[names]}
           status:  {"ok":true,"schema","applied":[..],"pending":[..],"unknown":[..],"migrations":[{"name","state"}]}
exit codes:
${COMMON_EXIT_CODES}
  3    status only: migrations are pending (so a deploy check can fail on it)`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(
    'migrate',
    argv,
    { count: { type: 'string' }, all: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
    true,
  );
  const action = positionals[0];
  if (positionals.length > 1) throw usageError('migrate', `expected one action, got ${positionals.length}: ${positionals.join(' ').slice(0, 100)}`);
  if (action !== 'up' && action !== 'down' && action !== 'status') {
    throw usageError('migrate', action === undefined ? 'expected up, down or status' : `expected up, down or status, got ${JSON.stringify(action.slice(0, 100))}`);
  }
  let count: number | undefined;
  if (values.all && values.count !== undefined) throw usageError('migrate', '--count and --all exclude each other');
  if (action === 'status' && (values.all || values.count !== undefined)) throw usageError('migrate', 'status takes no --count or --all');
  if (values.all) count = Infinity;
  else if (values.count !== undefined) {
    const raw = String(values.count);
    if (!/^[0-9]+$/.test(raw) || Number(raw) < 1) throw usageError('migrate', `--count must be a whole number of at least 1 (got ${JSON.stringify(raw.slice(0, 100))})`);
    count = Number(raw);
  }
  const cfg = connectionFromEnv();
  if (action === 'status') return status(cfg.databaseUrl, cfg.schema, values.json === true);
  const log = values.json ? () => {} : (m: string) => console.error(m);
  const ran = await migrate({ databaseUrl: cfg.databaseUrl, direction: action, count, schema: cfg.schema, log });
  if (values.json) printJson({ ok: true, direction: action, migrations: ran });
  else console.log(ran.length === 0 ? `migrate ${action}: nothing to do` : `migrate ${action}: ${ran.join(', ')}`);
  return EXIT.OK;
}

async function status(databaseUrl: string, schema: string, json: boolean): Promise<number> {
  const client = await connect(databaseUrl, 'birthgate migrate status');
  try {
    await client.query(`SET default_transaction_read_only = on; SET statement_timeout = '30s'; SET lock_timeout = '5s'`);
    const s = await migrationState(client, schema);
    const pending = s.pending.map((m) => m.name);
    const applied = new Set(s.applied);
    const rows = [
      ...s.files.map((f) => ({ name: f.name, state: applied.has(f.name) ? 'applied' : 'pending' })),
      ...s.unknown.map((name) => ({ name, state: 'unknown' })),
    ];
    const exit = pending.length > 0 ? EXIT.FINDINGS : EXIT.OK;
    if (json) printJson({ ok: exit === EXIT.OK, exit_code: exit, schema, table: s.table, applied: s.applied, pending, unknown: s.unknown, migrations: rows });
    else {
      console.log(`migrate status: schema ${schema}, bookkeeping ${s.table}${s.tableExists ? '' : ' (absent: nothing applied yet)'}`);
      for (const r of rows) console.log(`  ${r.state.padEnd(8)} ${r.name}`);
      console.log(
        `${s.applied.length} applied, ${pending.length} pending${s.unknown.length ? `, ${s.unknown.length} unknown to birthgate of this version` : ''}` +
          (pending.length ? ' — apply with: birthgate migrate up' : ''),
      );
    }
    return exit;
  } finally {
    await client.end().catch(() => {});
  }
}
