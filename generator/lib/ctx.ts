import { qi } from './sql.js';

/** Everything a generator module may depend on. Modules are pure functions of this. */
export interface Ctx {
  /** Schema name, unquoted (generator option, default `birthgate`). */
  readonly schema: string;
  /** Schema name, quoted, for splicing: `${c.s}.birth_registry`. */
  readonly s: string;
  /** Package version (from package.json). */
  readonly version: string;
  /** Schema that holds the migration bookkeeping table. */
  readonly migrationsSchema: string;
  /** Role names derived from the schema name. */
  readonly roles: { readonly admin: string; readonly issuer: string; readonly reader: string; readonly consumer: string };
  /** Schema-qualified, quoted name of an object in the package schema. */
  q(name: string): string;
}

export const DEFAULT_SCHEMA = 'birthgate';

export function makeCtx(schema: string, version: string): Ctx {
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(schema)) {
    throw new Error(`schema name must match ^[a-z_][a-z0-9_]{0,40}$, got ${JSON.stringify(schema)}`);
  }
  if (schema === 'public' || schema.startsWith('pg_')) throw new Error(`schema ${schema} is reserved`);
  const s = qi(schema);
  return {
    schema,
    s,
    version,
    migrationsSchema: `${schema}_migrations`,
    roles: { admin: `${schema}_admin`, issuer: `${schema}_issuer`, reader: `${schema}_reader`, consumer: `${schema}_consumer` },
    q: (name: string) => `${s}.${qi(name)}`,
  };
}
