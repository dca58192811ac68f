#!/usr/bin/env node
// Prints `export PG...=...` lines for a postgres URL (optionally with another database name),
// for tools such as pg_prove that take their connection from libpq's environment variables.
// usage: eval "$(node scripts/pg-env.mjs "$DATABASE_URL" [dbname])"
import { parse } from 'pg-connection-string';
const [url, db] = process.argv.slice(2);
if (!url) { console.error('usage: pg-env.mjs URL [DBNAME]'); process.exit(2); }
const c = parse(url);
const env = { PGHOST: c.host, PGPORT: c.port, PGUSER: c.user, PGPASSWORD: c.password, PGDATABASE: db ?? c.database };
if (c.ssl === true || typeof c.ssl === 'object') env.PGSSLMODE = 'require';
const q = (v) => `'${String(v).replaceAll("'", "'\\''")}'`;
for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== null && v !== '') console.log(`export ${k}=${q(v)}`);
