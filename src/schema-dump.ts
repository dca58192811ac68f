/**
 * A cleaned `pg_dump --schema-only` of the package's schemas: what "the applied schema" means
 * for the snapshot check, the up/down/up test and the install-script test. On a server newer than
 * the local pg_dump, a description read from the catalogs instead (see dumpTool()).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { openClient } from './db.js';
import { catalogDump } from './catalog-dump.js';

const run = promisify(execFile);

export async function dumpSchema(databaseUrl: string, schema = 'birthgate'): Promise<string> {
  if (!(await dumpTool(databaseUrl)).pgDump) return catalogDump(databaseUrl, { schemas: [schema, `${schema}_migrations`], owners: false });
  const { stdout } = await run(
    'pg_dump',
    ['--schema-only', '--no-owner', '--no-privileges', '--schema', schema, '--schema', `${schema}_migrations`, databaseUrl],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  return cleanDump(stdout);
}

export interface DumpTool {
  /** true: the local pg_dump can dump this server; false: catalogDump() describes it instead. */
  pgDump: boolean;
  pgDumpMajor: number;
  serverMajor: number;
}

let pgDumpMajor: Promise<number> | undefined;

/**
 * pg_dump refuses a server of a newer major than its own (a Debian 12 machine has pg_dump 15 and
 * the tests also run on 16-18): there the schema is described from the catalogs (catalog-dump.ts).
 */
export async function dumpTool(databaseUrl: string): Promise<DumpTool> {
  pgDumpMajor ??= run('pg_dump', ['--version']).then(
    (r) => Number(/(\d+)(?:\.\d+)?/.exec(r.stdout.replace(/^[^)]*\)/, ''))?.[1] ?? 0),
    () => 0,
  );
  const client = await openClient({ connectionString: databaseUrl, application_name: 'birthgate dump tool' });
  let serverMajor: number;
  try {
    serverMajor = Math.floor(Number((await client.query<{ v: string }>("SELECT pg_catalog.current_setting('server_version_num') AS v")).rows[0]!.v) / 10000);
  } finally {
    await client.end();
  }
  const major = await pgDumpMajor;
  return { pgDump: major >= serverMajor, pgDumpMajor: major, serverMajor };
}

/** Drops what varies between runs and servers: comments, SET lines, blank runs. */
export function cleanDump(text: string): string {
  return (
    text
      .split('\n')
      .filter((l) => !l.startsWith('--'))
      .filter((l) => !/^SET |^SELECT pg_catalog\.set_config/.test(l))
      .filter((l) => !/^\\(un)?restrict /.test(l))
      .join('\n')
      .replace(/\n{3,}/g, '\n\n')
      .trim() + '\n'
  );
}
