/**
 * Rights of the readers of the drift monitor (000019).
 *
 * 1. birth_gate_trigger_definitions (000015) found the code column's type with
 *    to_regclass(p_table_ident). It is not SECURITY DEFINER, so in v_drift_trigger_state and
 *    v_drift_report it ran as the caller, and to_regclass raises "permission denied for schema" for a
 *    schema the caller may not use: a monitoring role (birthgate_reader) lacking USAGE on the schema
 *    of any one family table could not read the drift report at all. The table is now found in
 *    pg_class by its two name parts (parse_ident), which needs no right on the schema.
 * 2. family_read_source (000007) checked that the package owner may SELECT every relation it reads,
 *    but not that it may use their schemas: with a package owner that is not superuser (a managed
 *    server), a table owner revoking USAGE on the schema made drift_family_objects, and with it the
 *    whole v_drift_report and retire_gate_check, fail with a raw 42501. A schema the package owner
 *    may not use is now one more reason for state unsafe: the drift report shows the family as a
 *    critical family_table_unsafe finding naming the missing USAGE (the other families are still
 *    scanned), retire_gate_check raises BG321 with it, and nothing is read.
 */
import type { Ctx } from '../lib/ctx.js';
import { orReplace, replaceOnce } from '../lib/sql.js';
import { familyReadSource } from './family_read.js';
import { triggerDefsFunctionV4 } from '../admission/single_row_v4.js';

const READ_SOURCE_COMMENT_V1 =
  'no SELECT for the owner); missing: the table is gone.';

/** family_read_source refusing a schema the package owner may not use (state unsafe, no raw 42501). */
export function familyReadSourceV2(c: Ctx): string {
  let sql = orReplace(familyReadSource(c));
  // the table's own schema (a partitioned parent is locked by name, its leaves read by name)
  sql = replaceOnce(
    sql,
    `        ELSE
            FOR v_leaf IN`,
    `        ELSIF NOT pg_catalog.has_schema_privilege(v_rel.nspname, 'USAGE') THEN
            v_reason := pg_catalog.format('the package owner %I may not read %s: no USAGE on schema %I', current_user, relation, v_rel.nspname);
        ELSE
            FOR v_leaf IN`,
  );
  // every leaf's schema (partitions may live in other schemas)
  sql = replaceOnce(
    sql,
    `                    WHEN NOT pg_catalog.has_table_privilege(v_leaf.relid, 'SELECT') THEN`,
    `                    WHEN NOT pg_catalog.has_schema_privilege(v_leaf.nspname, 'USAGE') THEN pg_catalog.format('the package owner %I may not read %I.%I: no USAGE on schema %I', current_user, v_leaf.nspname, v_leaf.relname, v_leaf.nspname)
                    WHEN NOT pg_catalog.has_table_privilege(v_leaf.relid, 'SELECT') THEN`,
  );
  sql = replaceOnce(sql, READ_SOURCE_COMMENT_V1, 'no USAGE on the schema or no SELECT for the owner); missing: the table is gone.');
  return sql;
}

/** Down: 000007's family_read_source. */
export const familyReadSourceV1Replacing = (c: Ctx) => orReplace(familyReadSource(c));

const TO_REGCLASS = 'pg_catalog.to_regclass(p_table_ident)';
/** The table named by p_table_ident (always %I.%I), found without any right on its schema. */
const BY_NAME_PARTS = `(SELECT k.oid FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) k.relnamespace
                                                     WHERE n.nspname OPERATOR(pg_catalog.=) (pg_catalog.parse_ident(p_table_ident))[1]
                                                       AND k.relname OPERATOR(pg_catalog.=) (pg_catalog.parse_ident(p_table_ident))[2])`;

/** birth_gate_trigger_definitions that any caller of the drift views may run. */
export function triggerDefsFunctionV5(c: Ctx): string {
  return replaceOnce(triggerDefsFunctionV4(c), TO_REGCLASS, BY_NAME_PARTS);
}
