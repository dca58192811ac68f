import { parseArgs } from 'node:util';
import { connectionFromEnv } from '../../config.js';
import { migrate } from '../../migrate.js';
import { CliError, printJson } from '../io.js';

export const usage = `birthgate migrate up|down [--count N | --all] [--json]
  up      apply pending migrations (all by default)
  down    roll back the last migration (--count N for N, --all for every one)`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { count: { type: 'string' }, all: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
  });
  const direction = positionals[0];
  if (direction !== 'up' && direction !== 'down') throw new CliError(`migrate: expected up or down\n${usage}`, 2);
  let count: number | undefined;
  if (values.all) count = Infinity;
  else if (values.count !== undefined) {
    count = Number(values.count);
    if (!Number.isInteger(count) || count < 1) throw new CliError(`migrate: --count must be a positive integer, got ${values.count}`, 2);
  }
  const cfg = connectionFromEnv();
  const log = values.json ? () => {} : (m: string) => console.error(m);
  const ran = await migrate({ databaseUrl: cfg.databaseUrl, direction, count, schema: cfg.schema, log });
  if (values.json) printJson({ direction, migrations: ran });
  else console.log(ran.length === 0 ? `migrate ${direction}: nothing to do` : `migrate ${direction}: ${ran.join(', ')}`);
  return 0;
}
