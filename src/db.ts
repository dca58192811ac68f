import pg from 'pg';

/** A single pg client (the CLI uses one connection per command). */
export async function connect(databaseUrl: string, applicationName = 'birthgate'): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: applicationName });
  await client.connect();
  return client;
}


/** Replace the database name of a postgres URL (keeps host/port/user and query parameters). */
export function withDatabase(databaseUrl: string, database: string): string {
  const u = new URL(databaseUrl);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}
