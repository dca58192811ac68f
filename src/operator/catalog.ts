/**
 * A catalog snapshot taken inside a transaction (same connection), to diff what pending
 * migrations create, alter and drop: schemas, relations (with their columns or view text),
 * indexes, constraints, functions, triggers (with their enabled state) and roles.
 */
import type pg from 'pg';

export interface CatalogObject {
  kind: string;
  identity: string;
  hash: string;
}

export interface CatalogDiff {
  created: CatalogObject[];
  altered: CatalogObject[];
  dropped: CatalogObject[];
}

const SNAPSHOT = `
WITH nsp AS (
    SELECT oid, nspname FROM pg_catalog.pg_namespace
     WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%'
)
SELECT 'schema' AS kind, quote_ident(n.nspname) AS identity, md5(coalesce(n2.nspacl::text, '') || n2.nspowner::text) AS hash
  FROM nsp n JOIN pg_catalog.pg_namespace n2 ON n2.oid = n.oid
UNION ALL
SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                      WHEN 'i' THEN 'index' WHEN 'I' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table'
                      WHEN 'c' THEN 'type' ELSE 'relation' END,
       format('%I.%I', n.nspname, c.relname),
       md5(concat_ws('|',
           (SELECT string_agg(format('%I %s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                                     CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                                     coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')), ', ' ORDER BY a.attnum)
              FROM pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
           CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
           CASE WHEN c.relkind IN ('i', 'I') THEN pg_get_indexdef(c.oid) END,
           c.relacl::text, c.relowner::text, obj_description(c.oid, 'pg_class')))
  FROM pg_catalog.pg_class c JOIN nsp n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'i', 'I', 'S', 'f')
UNION ALL
SELECT 'constraint', format('%I ON %I.%I', co.conname, n.nspname, c.relname), md5(pg_get_constraintdef(co.oid))
  FROM pg_catalog.pg_constraint co JOIN pg_catalog.pg_class c ON c.oid = co.conrelid JOIN nsp n ON n.oid = c.relnamespace
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,
       format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       md5(concat_ws('|', CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) END, p.proacl::text, p.proowner::text,
                     obj_description(p.oid, 'pg_proc')))
  FROM pg_catalog.pg_proc p JOIN nsp n ON n.oid = p.pronamespace
UNION ALL
SELECT 'trigger', format('%I ON %I.%I', t.tgname, n.nspname, c.relname), md5(pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text)
  FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid JOIN nsp n ON n.oid = c.relnamespace
 WHERE NOT t.tgisinternal
UNION ALL
SELECT 'role', quote_ident(r.rolname), md5(concat_ws('|', r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin))
  FROM pg_catalog.pg_roles r
ORDER BY 1, 2`;

export async function catalogSnapshot(client: pg.Client): Promise<CatalogObject[]> {
  return (await client.query<CatalogObject>(SNAPSHOT)).rows;
}

export function diffCatalog(before: CatalogObject[], after: CatalogObject[]): CatalogDiff {
  const key = (o: CatalogObject) => `${o.kind}\u0000${o.identity}`;
  const a = new Map(before.map((o) => [key(o), o]));
  const b = new Map(after.map((o) => [key(o), o]));
  const created = after.filter((o) => !a.has(key(o)));
  const dropped = before.filter((o) => !b.has(key(o)));
  const altered = after.filter((o) => a.has(key(o)) && a.get(key(o))!.hash !== o.hash);
  return { created, altered, dropped };
}

/** Rows each table gained/lost/changed in the current transaction (pg_stat_xact_user_tables). */
export async function rowsWritten(client: pg.Client): Promise<{ table: string; inserted: number; updated: number; deleted: number }[]> {
  const r = await client.query<{ table: string; inserted: string; updated: string; deleted: string }>(`
    SELECT format('%I.%I', schemaname, relname) AS table, n_tup_ins AS inserted, n_tup_upd AS updated, n_tup_del AS deleted
      FROM pg_catalog.pg_stat_xact_user_tables
     WHERE n_tup_ins + n_tup_upd + n_tup_del > 0
     ORDER BY 1`);
  return r.rows.map((x) => ({ table: x.table, inserted: Number(x.inserted), updated: Number(x.updated), deleted: Number(x.deleted) }));
}
