/**
 * Applying and rolling back the generated migrations with node-pg-migrate.
 * Two migrators started at once are safe: the second waits on node-pg-migrate's advisory lock,
 * then finds nothing left to do.
 *
 * The committed migrations/ are generated for schema `birthgate`. For another schema
 * (BIRTHGATE_SCHEMA=myschema) the same generator renders them for that schema at run time, into
 * a private temporary directory: objects, roles (myschema_admin, ...) and the bookkeeping schema
 * (myschema_migrations) all follow the schema name.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrationsDir, packageVersion } from './paths.js';

export const DEFAULT_SCHEMA = 'birthgate';

export interface MigrateOptions {
  databaseUrl: string;
  direction: 'up' | 'down';
  /** How many migrations; default: all for up, 1 for down. Infinity = all. */
  count?: number;
  schema?: string;
  dir?: string;
  log?: (msg: string) => void;
}

/** The schema the committed migration files were generated for (their `-- schema:` header line). */
export function committedSchema(dir = migrationsDir): string {
  const first = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort()[0];
  if (!first) return DEFAULT_SCHEMA;
  const m = /^-- schema: (\S+)$/m.exec(readFileSync(join(dir, first), 'utf8').slice(0, 2000));
  return m?.[1] ?? DEFAULT_SCHEMA;
}

const rendered = new Map<string, string>();

/**
 * The directory holding the migrations for `schema`: migrations/ itself for the schema it was
 * generated for, otherwise a rendering into a temporary directory (removed when the process exits).
 */
export async function migrationsDirFor(schema: string = DEFAULT_SCHEMA): Promise<string> {
  if (schema === committedSchema()) return migrationsDir;
  const done = rendered.get(schema);
  if (done) return done;
  const { generate } = await import('../generator/generate.js');
  const files = generate({ schema, version: packageVersion });
  let dir: string;
  try {
    dir = mkdtempSync(join(tmpdir(), `birthgate-${schema}-`));
  } catch (e) {
    throw new Error(
      `cannot render the migrations for schema ${schema}: ${(e as Error).message}. Set TMPDIR to a writable directory ` +
        `(only needed when BIRTHGATE_SCHEMA is not ${committedSchema()})`,
    );
  }
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  for (const [rel, text] of files) {
    if (rel.startsWith('migrations/')) writeFileSync(join(dir, rel.slice('migrations/'.length)), text);
  }
  rendered.set(schema, dir);
  return dir;
}

export async function migrate(o: MigrateOptions): Promise<string[]> {
  const schema = o.schema ?? DEFAULT_SCHEMA;
  const { runner } = await import('node-pg-migrate');
  const done = await runner({
    databaseUrl: o.databaseUrl,
    dir: o.dir ?? (await migrationsDirFor(schema)),
    direction: o.direction,
    count: o.count ?? (o.direction === 'up' ? Infinity : 1),
    migrationsTable: 'pgmigrations',
    migrationsSchema: `${schema}_migrations`,
    createMigrationsSchema: true,
    checkOrder: true,
    advisoryLockMode: 'wait',
    singleTransaction: true,
    log: o.log ?? (() => {}),
  });
  return done.map((m) => m.name);
}
