/**
 * A Kysely instance over a pool, for typed queries from TypeScript. Kept out of db.ts so that the
 * CLI, which connects through db.ts on every call, does not load Kysely (~200 ms of start time).
 */
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';

export function kysely<DB>(databaseUrl: string, max = 4): Kysely<DB> {
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: databaseUrl, max }) }) });
}
