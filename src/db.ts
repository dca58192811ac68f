import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';

/** A single pg client (the CLI uses one connection per command). */
export async function connect(databaseUrl: string, applicationName = 'birthgate'): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: applicationName });
  await client.connect();
  return client;
}

/** A Kysely instance over a pool, for typed queries from TypeScript. */
export function kysely<DB>(databaseUrl: string, max = 4): Kysely<DB> {
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: databaseUrl, max }) }) });
}

/** Replace the database name of a postgres URL (keeps host/port/user and query parameters). */
export function withDatabase(databaseUrl: string, database: string): string {
  const u = new URL(databaseUrl);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}
