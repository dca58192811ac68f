/**
 * A cleaned `pg_dump --schema-only` of the package's schemas: what "the applied schema" means
 * for the snapshot check, the up/down/up test and the install-script test.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function dumpSchema(databaseUrl: string, schema = 'birthgate'): Promise<string> {
  const { stdout } = await run(
    'pg_dump',
    ['--schema-only', '--no-owner', '--no-privileges', '--schema', schema, '--schema', `${schema}_migrations`, databaseUrl],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  return cleanDump(stdout);
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
