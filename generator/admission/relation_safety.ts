/**
 * Whether the package may plan a query over a family table without running code of its owner
 * (created by 000006: the gates and register_family/move_family check it; 000007's
 * family_read_source and every later reader use it too).
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { PINNED_SEARCH_PATH, sqlText } from '../lib/sql.js';

const PINNED = PINNED_SEARCH_PATH;

/**
 * family_relation_unsafe(rel): why planning a query over `rel` as the package owner could run code
 * of its owner, or NULL. The planner evaluates expressions attached to a relation while it plans
 * (the relation cache const-folds index expressions and partial-index predicates, constraint
 * exclusion folds CHECK constraints, extended statistics and partition keys are read as
 * expressions): an IMMUTABLE function of the owner there runs as whoever plans. So a relation whose
 * index expressions or predicates, CHECK constraints, statistics expressions or (for a partition)
 * ancestors' partition keys depend on a function, operator or type outside pg_catalog is unsafe;
 * so is an ordinary table with inheritance children (their rows belong to the table for every
 * application query, but never pass a gate and are never read by ONLY scans).
 */
export function familyRelationUnsafe(c: Ctx): string {
  const fn = c.q('family_relation_unsafe');
  return sqlText`
    CREATE FUNCTION ${fn}(p_rel oid)
    RETURNS text
    LANGUAGE plpgsql
    STABLE
    ${PINNED}
    AS $fn$
    BEGIN
    RETURN (
    WITH rel AS (
        SELECT cl.oid, cl.relkind, pg_catalog.format('%I.%I', n.nspname, cl.relname) AS ident
          FROM pg_catalog.pg_class cl JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) cl.relnamespace
         WHERE cl.oid OPERATOR(pg_catalog.=) p_rel
    ),
    -- the catalog rows whose expressions the planner may evaluate when it plans over the relation
    expr_owner (classid, objid, what) AS (
        SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid, i.indexrelid,
               pg_catalog.format('index %s', i.indexrelid::pg_catalog.regclass)
          FROM pg_catalog.pg_index i
         WHERE i.indrelid OPERATOR(pg_catalog.=) p_rel AND (i.indexprs IS NOT NULL OR i.indpred IS NOT NULL)
        UNION ALL
        SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass::pg_catalog.oid, k.oid, pg_catalog.format('CHECK constraint %I', k.conname)
          FROM pg_catalog.pg_constraint k
         WHERE k.conrelid OPERATOR(pg_catalog.=) p_rel AND k.contype OPERATOR(pg_catalog.=) 'c'
        UNION ALL
        SELECT 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass::pg_catalog.oid, x.oid, pg_catalog.format('statistics object %I', x.stxname)
          FROM pg_catalog.pg_statistic_ext x
         WHERE x.stxrelid OPERATOR(pg_catalog.=) p_rel
        UNION ALL
        SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid, a.relid, pg_catalog.format('the partition key of %s', a.relid::pg_catalog.regclass)
          FROM pg_catalog.pg_partition_ancestors(p_rel) a
         WHERE a.relid OPERATOR(pg_catalog.<>) p_rel
    ),
    foreign_code AS (
        SELECT e.what, pg_catalog.pg_describe_object(d.refclassid, d.refobjid, 0) AS obj
          FROM expr_owner e
          JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) e.classid AND d.objid OPERATOR(pg_catalog.=) e.objid
                                     AND (e.what NOT LIKE 'the partition key of %' OR d.objsubid OPERATOR(pg_catalog.=) 0)
          LEFT JOIN pg_catalog.pg_proc pr ON d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass AND pr.oid OPERATOR(pg_catalog.=) d.refobjid
          LEFT JOIN pg_catalog.pg_operator op ON d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_operator'::pg_catalog.regclass AND op.oid OPERATOR(pg_catalog.=) d.refobjid
          LEFT JOIN pg_catalog.pg_type ty ON d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass AND ty.oid OPERATOR(pg_catalog.=) d.refobjid
         WHERE COALESCE(pr.pronamespace, op.oprnamespace, ty.typnamespace) OPERATOR(pg_catalog.<>) 'pg_catalog'::pg_catalog.regnamespace
    )
    SELECT COALESCE(
        (SELECT pg_catalog.format('%s has inheritance child %s: its rows belong to the family table but never pass a gate', r.ident, i.inhrelid::pg_catalog.regclass)
           FROM rel r JOIN pg_catalog.pg_inherits i ON i.inhparent OPERATOR(pg_catalog.=) r.oid
          WHERE r.relkind OPERATOR(pg_catalog.=) 'r'
          ORDER BY i.inhrelid LIMIT 1),
        (SELECT pg_catalog.format('%s of %s uses %s, code the planner would run as the package owner', f.what, r.ident, f.obj)
           FROM foreign_code f CROSS JOIN rel r
          ORDER BY f.what, f.obj LIMIT 1)));
    END;
    $fn$;
    REVOKE ALL ON FUNCTION ${fn}(oid) FROM PUBLIC;
    ${comment('FUNCTION', `${fn}(oid)`, 'Internal: why planning a query over this relation as the package owner could run code of its owner (index expressions or predicates, CHECK constraints, statistics expressions or ancestor partition keys using a function, operator or type outside pg_catalog), or why its rows escape the gates (inheritance children); NULL when neither. Catalogs only; evaluates nothing. PL/pgSQL, so that its plan is cached per session: layer 2 calls it for every row at commit.')}`;
}

