/**
 * Applying and rolling back the generated migrations with node-pg-migrate.
 * Two migrators started at once are safe: the second waits on node-pg-migrate's advisory lock,
 * then finds nothing left to do.
 */
import { runner } from 'node-pg-migrate';
import { migrationsDir } from './paths.js';

export interface MigrateOptions {
  databaseUrl: string;
  direction: 'up' | 'down';
  /** How many migrations; default: all for up, 1 for down. Infinity = all. */
  count?: number;
  schema?: string;
  dir?: string;
  log?: (msg: string) => void;
}

export async function migrate(o: MigrateOptions): Promise<string[]> {
  const schema = o.schema ?? 'birthgate';
  const done = await runner({
    databaseUrl: o.databaseUrl,
    dir: o.dir ?? migrationsDir,
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
