/**
 * Shared pieces of the admission gate as of migration 000011 (see statement_gate_v3.ts).
 */
import type { Ctx } from '../lib/ctx.js';

/**
 * Transaction-local marker: '<statement_timestamp> <collection>' while the INSERT statement running
 * now is certain to be checked by its statement writer (set by tg_birth_gate for the first row of
 * the statement, cleared by tg_birth_register). The WHEN clause of _900_birth_finalize queues no
 * event while it is set.
 */
export const armedSetting = (c: Ctx) => `${c.schema}.gate_armed`;

/**
 * Transaction-local, per collection: 'pending' while births of this transaction written by the
 * statement writer have not been re-verified set-based by layer 2. The WHEN clause of
 * _900_birth_finalize sets it when it lets the one event through that does the re-verification;
 * tg_birth_finalize clears it when it has done it. Collection names are [a-z][a-z0-9_]*, so they
 * form a valid setting name.
 */
export const verifyPrefix = (c: Ctx) => `${c.schema}.gate_verify_`;

/** The value both markers take for a statement: statement timestamp, a space, the collection. */
export const markerValue = (collectionExpr: string) => `pg_catalog.statement_timestamp()::text OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) ${collectionExpr}`;

/**
 * SQL expression: the base type (regtype) of the type `typeExpr` (an oid), following domains to any
 * depth; the type itself when it is not a domain. Catalog reads only.
 */
export function baseTypeOf(typeExpr: string): string {
  return `(WITH RECURSIVE d (oid, typtype, typbasetype, depth) AS (
                SELECT t.oid, t.typtype, t.typbasetype, 0 FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) ${typeExpr}
                UNION ALL
                SELECT t.oid, t.typtype, t.typbasetype, d.depth OPERATOR(pg_catalog.+) 1
                  FROM d JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) d.typbasetype
                 WHERE d.typtype OPERATOR(pg_catalog.=) 'd' AND d.depth OPERATOR(pg_catalog.<) 100)
            SELECT d.oid::pg_catalog.regtype FROM d WHERE d.typtype OPERATOR(pg_catalog.<>) 'd' ORDER BY d.depth LIMIT 1)`;
}

/** SQL expression: whether the type `typeExpr` (oid) is text, varchar or name, or a domain over one at any depth. */
export function safeCodeType(typeExpr: string): string {
  return `COALESCE(${baseTypeOf(typeExpr)} IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.name'::pg_catalog.regtype), false)`;
}

/** SQL: the collation `collExpr` (an oid) is nondeterministic, so different codes can compare equal (since 000020). */
export const nondeterministicCollation = (collExpr: string, eq = '=') =>
  `EXISTS (SELECT 1 FROM pg_catalog.pg_collation k WHERE k.oid ${eq} ${collExpr} AND NOT k.collisdeterministic)`;

/** SQL: the schema-qualified, quoted name of the collation `collExpr` (an oid). */
export const collationName = (collExpr: string) =>
  `(SELECT pg_catalog.format('%I.%I', n.nspname, k.collname) FROM pg_catalog.pg_collation k JOIN pg_catalog.pg_namespace n ON n.oid = k.collnamespace WHERE k.oid = ${collExpr})`;

/** SQL: the relation `relExpr` (an oid) is a partition: rows routed through its parent never reach its statement triggers. */
export const isPartition = (relExpr: string) => `EXISTS (SELECT 1 FROM pg_catalog.pg_class k WHERE k.oid = ${relExpr} AND k.relispartition)`;
