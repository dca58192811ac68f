/**
 * Connection and schema configuration. Every command reads it the same way: DATABASE_URL
 * (required) and BIRTHGATE_SCHEMA (default `birthgate`). Plain checks, no schema library: this
 * runs on every CLI start. A bad value is a configuration error (exit 2).
 */
import { CliError, EXIT } from './cli/io.js';

export interface ConnectionConfig {
  databaseUrl: string;
  schema: string;
}

function configError(message: string, hint: string): CliError {
  return new CliError(`invalid configuration: ${message}`, EXIT.USAGE, 'config', hint);
}

export function connectionFromEnv(env: NodeJS.ProcessEnv = process.env): ConnectionConfig {
  const url = env.DATABASE_URL;
  const example = 'export DATABASE_URL=postgresql://user@host:5432/dbname (a unix socket: postgresql://user@/dbname?host=/var/run/postgresql)';
  if (url === undefined) throw configError('DATABASE_URL is not set', example);
  if (url.length === 0) throw configError('DATABASE_URL is empty', example);
  if (!/^postgres(ql)?:\/\//.test(url)) throw configError('DATABASE_URL must be a postgres:// or postgresql:// URL', example);
  const schema = env.BIRTHGATE_SCHEMA || 'birthgate';
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(schema)) {
    throw configError(`BIRTHGATE_SCHEMA must be a plain lower-case identifier (got ${JSON.stringify(schema.slice(0, 100))})`, 'unset it for the default schema birthgate, or name the schema birthgate was installed into, e.g. BIRTHGATE_SCHEMA=myschema');
  }
  return { databaseUrl: url, schema };
}
