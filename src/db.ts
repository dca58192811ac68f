import pg from 'pg';

/**
 * A connected pg client. When connecting fails, the half-open connection is closed before the error
 * is passed on: a failed login (a server asking a password DATABASE_URL does not give, SCRAM or
 * md5) otherwise leaves the socket open until the server's authentication_timeout (60 s by
 * default), and a cron job's process with it.
 */
export async function openClient(config: pg.ClientConfig): Promise<pg.Client> {
  const client = new pg.Client(config);
  // pg reports some failures (a socket reset after the login failed) as 'error' events as well
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (e) {
    const stream = (client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream;
    stream?.destroy?.();
    await client.end().catch(() => undefined);
    throw e;
  }
  return client;
}

/** A single pg client (the CLI uses one connection per command). */
export function connect(databaseUrl: string, applicationName = 'birthgate'): Promise<pg.Client> {
  return openClient({ connectionString: databaseUrl, application_name: applicationName });
}


/** Replace the database name of a postgres URL (keeps host/port/user and query parameters). */
export function withDatabase(databaseUrl: string, database: string): string {
  const u = new URL(databaseUrl);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}
