/**
 * A schema description read from the system catalogs, for servers that the local pg_dump cannot
 * dump: pg_dump refuses a server of a newer major ("aborting because of server version mismatch"),
 * and a Debian 12 machine has only pg_dump 15 while the tests also run on 16, 17 and 18.
 *
 * It lists, one sorted line each (with the server's own deparsers: pg_get_functiondef,
 * pg_get_viewdef, pg_get_constraintdef, pg_get_indexdef, pg_get_triggerdef, pg_get_ruledef):
 * schemas, extensions, tables/views/sequences/composite types with their options, columns
 * (type, NOT NULL, default, identity, generated, collation), constraints, indexes, triggers with
 * their enabled state, functions and procedures, aggregates, operators, enums, domains, ranges,
 * row-level security policies, rules, comments on all of these — and, with owners, the owners,
 * privileges, default privileges and event triggers. Objects that belong to an extension are left
 * out, as pg_dump leaves them out. Two descriptions taken from the same server are equal exactly
 * when these are; it is not comparable with a pg_dump (or with another major).
 */
import { openClient } from './db.js';

export interface CatalogDumpOptions {
  /** Schemas to describe; null: every schema that is not a system schema. */
  schemas: string[] | null;
  /** Include owners, privileges (also default privileges) and event triggers. */
  owners: boolean;
}

const SQL = `
WITH ns AS (
    SELECT n.oid, n.nspname FROM pg_catalog.pg_namespace AS n
    WHERE CASE WHEN $1::text[] IS NULL
               THEN n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
               ELSE n.nspname = ANY ($1::text[]) END
),
ext AS (
    SELECT d.classid, d.objid FROM pg_catalog.pg_depend AS d WHERE d.deptype = 'e'
),
rel AS (
    SELECT c.*, ns.nspname, pg_catalog.format('%I.%I', ns.nspname, c.relname) AS ident
    FROM pg_catalog.pg_class AS c JOIN ns ON ns.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
      AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND ext.objid = c.oid)
),
lines (k, line) AS (
    SELECT '01 ' || ns.nspname, pg_catalog.format('SCHEMA %I', ns.nspname)
           || pg_catalog.concat(' -- ', pg_catalog.obj_description(ns.oid, 'pg_namespace'))
           || CASE WHEN $2 THEN pg_catalog.format(' owner=%s acl=%s', pg_catalog.pg_get_userbyid(n.nspowner),
                  (SELECT pg_catalog.string_agg(a::text, ',' ORDER BY a::text) FROM pg_catalog.unnest(n.nspacl) AS a)) ELSE '' END
    FROM ns JOIN pg_catalog.pg_namespace AS n ON n.oid = ns.oid
    UNION ALL
    SELECT '02 ' || e.extname, pg_catalog.format('EXTENSION %I version %s schema %I', e.extname, e.extversion, ns.nspname)
    FROM pg_catalog.pg_extension AS e JOIN ns ON ns.oid = e.extnamespace
    UNION ALL
    SELECT '10 ' || r.ident,
           pg_catalog.format('RELATION %s kind=%s persistence=%s rls=%s force_rls=%s options=%s', r.ident, r.relkind, r.relpersistence,
                             r.relrowsecurity, r.relforcerowsecurity, r.reloptions::text)
           || CASE WHEN r.relkind = 'p' THEN ' partition by ' || pg_catalog.pg_get_partkeydef(r.oid) ELSE '' END
           || CASE WHEN r.relispartition THEN ' partition of ' || (SELECT i.inhparent::pg_catalog.regclass::text FROM pg_catalog.pg_inherits AS i WHERE i.inhrelid = r.oid)
                   || ' ' || pg_catalog.pg_get_expr(r.relpartbound, r.oid) ELSE '' END
           || CASE WHEN r.relkind IN ('v', 'm') THEN E'\\n    AS ' || pg_catalog.pg_get_viewdef(r.oid) ELSE '' END
           || CASE WHEN r.relkind = 'S' THEN (SELECT pg_catalog.format(' type=%s start=%s increment=%s min=%s max=%s cache=%s cycle=%s',
                       s.seqtypid::pg_catalog.regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle)
                   FROM pg_catalog.pg_sequence AS s WHERE s.seqrelid = r.oid)
                   || coalesce((SELECT pg_catalog.format(' owned by %s.%I (%s)', d.refobjid::pg_catalog.regclass, a.attname, d.deptype)
                       FROM pg_catalog.pg_depend AS d
                       JOIN pg_catalog.pg_attribute AS a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                       WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = r.oid
                         AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i') LIMIT 1), '')
              ELSE '' END
           || pg_catalog.concat(' -- ', pg_catalog.obj_description(r.oid, 'pg_class'))
           || CASE WHEN $2 THEN pg_catalog.format(' owner=%s acl=%s', pg_catalog.pg_get_userbyid(r.relowner),
                  (SELECT pg_catalog.string_agg(a::text, ',' ORDER BY a::text) FROM pg_catalog.unnest(r.relacl) AS a)) ELSE '' END
    FROM rel AS r
    UNION ALL
    SELECT '11 ' || r.ident || ' ' || pg_catalog.lpad((pg_catalog.row_number() OVER (PARTITION BY r.oid ORDER BY a.attnum))::text, 5, '0'),
           pg_catalog.format('COLUMN %s.%I %s', r.ident, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod))
           || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
           || CASE WHEN a.atthasdef THEN ' DEFAULT ' || (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef AS d
                                                          WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum) ELSE '' END
           || CASE WHEN a.attidentity <> '' THEN ' identity=' || a.attidentity::text ELSE '' END
           || CASE WHEN a.attgenerated <> '' THEN ' generated=' || a.attgenerated::text ELSE '' END
           || CASE WHEN a.attcollation <> t.typcollation THEN ' collate ' || a.attcollation::pg_catalog.regcollation::text ELSE '' END
           || pg_catalog.concat(' -- ', pg_catalog.col_description(r.oid, a.attnum))
           || CASE WHEN $2 AND a.attacl IS NOT NULL THEN ' acl=' || (SELECT pg_catalog.string_agg(x::text, ',' ORDER BY x::text) FROM pg_catalog.unnest(a.attacl) AS x) ELSE '' END
    FROM rel AS r
    JOIN pg_catalog.pg_attribute AS a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
    JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
    WHERE r.relkind <> 'S'
    UNION ALL
    SELECT '12 ' || coalesce(r.ident, pg_catalog.format_type(co.contypid, NULL)) || ' ' || co.conname,
           pg_catalog.format('CONSTRAINT %I ON %s: %s', co.conname, coalesce(r.ident, 'DOMAIN ' || pg_catalog.format_type(co.contypid, NULL)),
                             pg_catalog.pg_get_constraintdef(co.oid))
           || pg_catalog.concat(' -- ', pg_catalog.obj_description(co.oid, 'pg_constraint'))
    FROM pg_catalog.pg_constraint AS co
    JOIN ns ON ns.oid = co.connamespace
    LEFT JOIN rel AS r ON r.oid = co.conrelid
    WHERE (co.conrelid <> 0 AND r.oid IS NOT NULL)
       OR (co.contypid <> 0 AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND ext.objid = co.contypid))
    UNION ALL
    SELECT '13 ' || r.ident || ' ' || ic.relname,
           pg_catalog.pg_get_indexdef(i.indexrelid) || pg_catalog.concat(' -- ', pg_catalog.obj_description(i.indexrelid, 'pg_class'))
    FROM pg_catalog.pg_index AS i
    JOIN rel AS r ON r.oid = i.indrelid
    JOIN pg_catalog.pg_class AS ic ON ic.oid = i.indexrelid
    UNION ALL
    SELECT '14 ' || r.ident || ' ' || tg.tgname,
           pg_catalog.pg_get_triggerdef(tg.oid, false) || ' enabled=' || tg.tgenabled::text
           || pg_catalog.concat(' -- ', pg_catalog.obj_description(tg.oid, 'pg_trigger'))
    FROM pg_catalog.pg_trigger AS tg JOIN rel AS r ON r.oid = tg.tgrelid
    WHERE NOT tg.tgisinternal
    UNION ALL
    SELECT '15 ' || r.ident || ' ' || pol.polname,
           pg_catalog.format('POLICY %I ON %s cmd=%s permissive=%s roles=%s using=%s check=%s', pol.polname, r.ident, pol.polcmd, pol.polpermissive,
                             (SELECT pg_catalog.string_agg(CASE WHEN x = 0 THEN 'public' ELSE pg_catalog.pg_get_userbyid(x) END, ',' ORDER BY 1)
                              FROM pg_catalog.unnest(pol.polroles) AS x),
                             pg_catalog.pg_get_expr(pol.polqual, pol.polrelid), pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid))
           || pg_catalog.concat(' -- ', pg_catalog.obj_description(pol.oid, 'pg_policy'))
    FROM pg_catalog.pg_policy AS pol JOIN rel AS r ON r.oid = pol.polrelid
    UNION ALL
    SELECT '16 ' || r.ident || ' ' || rw.rulename, pg_catalog.pg_get_ruledef(rw.oid)
    FROM pg_catalog.pg_rewrite AS rw JOIN rel AS r ON r.oid = rw.ev_class
    WHERE rw.rulename <> '_RETURN'
    UNION ALL
    SELECT '20 ' || p.oid::pg_catalog.regprocedure::text,
           CASE WHEN p.prokind = 'a' THEN pg_catalog.format('AGGREGATE %s transition %s state %s final %s', p.oid::pg_catalog.regprocedure,
                                                            ag.aggtransfn, ag.aggtranstype::pg_catalog.regtype, ag.aggfinalfn)
                ELSE pg_catalog.pg_get_functiondef(p.oid) END
           || pg_catalog.concat(' -- ', pg_catalog.obj_description(p.oid, 'pg_proc'))
           || CASE WHEN $2 THEN pg_catalog.format(' owner=%s acl=%s', pg_catalog.pg_get_userbyid(p.proowner),
                  (SELECT pg_catalog.string_agg(a::text, ',' ORDER BY a::text) FROM pg_catalog.unnest(p.proacl) AS a)) ELSE '' END
    FROM pg_catalog.pg_proc AS p
    JOIN ns ON ns.oid = p.pronamespace
    LEFT JOIN pg_catalog.pg_aggregate AS ag ON ag.aggfnoid = p.oid
    WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND ext.objid = p.oid)
    UNION ALL
    SELECT '21 ' || o.oid::pg_catalog.regoperator::text,
           pg_catalog.format('OPERATOR %s function %s', o.oid::pg_catalog.regoperator, o.oprcode)
    FROM pg_catalog.pg_operator AS o JOIN ns ON ns.oid = o.oprnamespace
    WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_catalog.pg_operator'::pg_catalog.regclass AND ext.objid = o.oid)
    UNION ALL
    SELECT '30 ' || pg_catalog.format('%I.%I', ns.nspname, t.typname),
           pg_catalog.format('TYPE %I.%I %s', ns.nspname, t.typname,
               CASE t.typtype
                   WHEN 'e' THEN 'enum (' || (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                                             FROM pg_catalog.pg_enum AS e WHERE e.enumtypid = t.oid) || ')'
                   WHEN 'd' THEN 'domain over ' || pg_catalog.format_type(t.typbasetype, t.typtypmod)
                                 || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END || pg_catalog.concat(' DEFAULT ', t.typdefault)
                   WHEN 'r' THEN 'range of ' || (SELECT rg.rngsubtype::pg_catalog.regtype::text FROM pg_catalog.pg_range AS rg WHERE rg.rngtypid = t.oid)
                   ELSE 'kind ' || t.typtype::text END)
           || pg_catalog.concat(' -- ', pg_catalog.obj_description(t.oid, 'pg_type'))
           || CASE WHEN $2 THEN pg_catalog.format(' owner=%s acl=%s', pg_catalog.pg_get_userbyid(t.typowner),
                  (SELECT pg_catalog.string_agg(a::text, ',' ORDER BY a::text) FROM pg_catalog.unnest(t.typacl) AS a)) ELSE '' END
    FROM pg_catalog.pg_type AS t JOIN ns ON ns.oid = t.typnamespace
    WHERE t.typtype IN ('e', 'd', 'r')
      AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND ext.objid = t.oid)
    UNION ALL
    SELECT '40 ' || pg_catalog.pg_get_userbyid(da.defaclrole) || ' ' || coalesce(n.nspname, '') || ' ' || da.defaclobjtype::text,
           pg_catalog.format('DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA %s ON %s: %s', pg_catalog.pg_get_userbyid(da.defaclrole),
                             coalesce(n.nspname, '*'), da.defaclobjtype,
                             (SELECT pg_catalog.string_agg(a::text, ',' ORDER BY a::text) FROM pg_catalog.unnest(da.defaclacl) AS a))
    FROM pg_catalog.pg_default_acl AS da
    LEFT JOIN pg_catalog.pg_namespace AS n ON n.oid = da.defaclnamespace
    WHERE $2 AND (da.defaclnamespace = 0 AND $1::text[] IS NULL OR da.defaclnamespace IN (SELECT ns.oid FROM ns))
    UNION ALL
    SELECT '41 ' || et.evtname,
           pg_catalog.format('EVENT TRIGGER %I ON %s tags=%s function %s enabled=%s owner=%s', et.evtname, et.evtevent, et.evttags::text,
                             et.evtfoid::pg_catalog.regprocedure, et.evtenabled, pg_catalog.pg_get_userbyid(et.evtowner))
    FROM pg_catalog.pg_event_trigger AS et
    WHERE $2 AND $1::text[] IS NULL
      AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_catalog.pg_event_trigger'::pg_catalog.regclass AND ext.objid = et.oid)
)
SELECT line FROM lines ORDER BY k COLLATE "C", line COLLATE "C"`;

export async function catalogDump(databaseUrl: string, opts: CatalogDumpOptions): Promise<string> {
  const client = await openClient({ connectionString: databaseUrl, application_name: 'birthgate catalog dump' });
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const r = await client.query<{ line: string }>(SQL, [opts.schemas, opts.owners]);
    await client.query('COMMIT');
    return `${r.rows.map((x) => x.line).join('\n')}\n`;
  } finally {
    await client.end();
  }
}
