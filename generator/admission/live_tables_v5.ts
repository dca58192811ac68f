/**
 * Admission on live tables, fifth round (000020): two ways a family table could change after
 * registration so that layer 1 and layer 2 no longer see what they govern.
 *
 * 1. The family table attached as a partition of a partitioned table of its owner (PostgreSQL
 *    allows it; register_family refuses partitions). A row inserted through the parent fires the
 *    family table's row triggers but not its statement-level writer (_110_birth_register), and
 *    tg_birth_gate armed the statement as if the writer would check it: the object committed
 *    without a birth. tg_birth_gate now checks at the first row of every statement whether the
 *    table is a partition: enforce refuses the write (BG163); report never arms the statement, so
 *    layer 2 judges every row at commit (an unborn row is recorded).
 * 2. A code column with a nondeterministic collation (CREATE COLLATION ... deterministic = false):
 *    the registry, the permits and the gates compare codes exactly, but layer 2 compares the
 *    column with its own collation, so 'a-1' passed for the object of the birth 'A-1'.
 *    register_family and move_family refuse such a column (BG103, DETAIL and HINT say why and
 *    how); for a family registered before, tg_birth_gate refuses writes in enforce (BG164).
 * family_read_source (the drift monitor's reader) reports both as reasons for state unsafe, so
 * v_drift_report shows either as a critical family_table_unsafe finding in every mode.
 */
import type { Ctx } from '../lib/ctx.js';
import { lit, replaceOnce } from '../lib/sql.js';
import { markerSetting, raiseQ } from './v2_common.js';
import { armedSetting, collationName, isPartition, nondeterministicCollation } from './v3_common.js';
import * as v3 from './statement_gate_v3.js';
import { admissionFunctionsV3 } from './functions_v3.js';
import { moveFamilyV4 } from './single_row_v4.js';
import { familyReadSourceV2 } from '../security/reader_rights_v2.js';

const MARKER_TEST = (c: Ctx) => `    IF pg_catalog.current_setting(${lit(markerSetting(c))}, true) IS DISTINCT FROM v_marker THEN\n`;

/** tg_birth_gate (000011) refusing partitions and nondeterministic code collations in enforce. */
export function gateFunctionV4(c: Ctx): string {
  let sql = v3.gateCheckFunction(c);
  sql = replaceOnce(sql, '           a.attnum IS NOT NULL AS has_column, a.atttypid\n', '           a.attnum IS NOT NULL AS has_column, a.atttypid, a.attcollation\n');
  sql = replaceOnce(
    sql,
    MARKER_TEST(c),
    `    -- a family table that has become a partition (since 000020): rows routed through its parent
    -- never reach its statement-level writer, so the statement is never armed; enforce refuses,
    -- report leaves every row to layer 2 (neither marker is this statement's, so the WHEN clause
    -- calls this function for every row and _900_birth_finalize queues every row)
    IF pg_catalog.current_setting(${lit(markerSetting(c))}, true) IS DISTINCT FROM v_marker
       AND v_family.mode <> 'off'
       AND ${isPartition('TG_RELID')} THEN
        IF v_family.mode = 'enforce' THEN
            ${raiseQ(c, 12, 'GATE_FAMILY_PARTITION', `format('collection %s: %I.%I is now a partition of %s (%s)', v_collection, TG_TABLE_SCHEMA, TG_TABLE_NAME, (SELECT pg_catalog.string_agg(i.inhparent::pg_catalog.regclass::text, ', ') FROM pg_catalog.pg_inherits i WHERE i.inhrelid = TG_RELID), TG_OP)`, `format('Detach it: ALTER TABLE %s DETACH PARTITION %I.%I; or stop governing it first: SELECT ${c.schema}.set_family_mode(%L, ''report'');', (SELECT i.inhparent::pg_catalog.regclass::text FROM pg_catalog.pg_inherits i WHERE i.inhrelid = TG_RELID LIMIT 1), TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection)`)}
        END IF;
        PERFORM pg_catalog.set_config(${lit(markerSetting(c))}, '', true);
        PERFORM pg_catalog.set_config(${lit(armedSetting(c))}, '', true);
    ELSIF pg_catalog.current_setting(${lit(markerSetting(c))}, true) IS DISTINCT FROM v_marker THEN
        -- a code column whose collation makes different codes equal (since 000020; register_family
        -- refuses it, a family registered before is refused here in enforce)
        IF v_family.mode = 'enforce'
           AND ${nondeterministicCollation('v_family.attcollation')} THEN
            ${raiseQ(c, 12, 'GATE_CODE_COLLATION', `format('collection %s: column %I of %I.%I has the nondeterministic collation %s (%s)', v_collection, v_family.code_column, TG_TABLE_SCHEMA, TG_TABLE_NAME, ${collationName('v_family.attcollation')}, TG_OP)`, `format('Give %I a deterministic collation (drop the gate triggers, ALTER TABLE %I.%I ALTER COLUMN %I TYPE text COLLATE "default"; then SELECT ${c.schema}.register_family(...) again), or stop governing the table: SELECT ${c.schema}.set_family_mode(%L, ''report'');', v_family.code_column, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_family.code_column, v_collection)`)}
        END IF;
`,
  );
  return sql;
}

/** The column check of register_family / move_family: also a nondeterministic collation. */
function withCollationCheck(sql: string, c: Ctx, fnName: string): string {
  sql = replaceOnce(sql, 'SELECT a.attnum, a.attgenerated, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_name, ', 'SELECT a.attnum, a.attgenerated, a.attcollation, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_name, ');
  const anchor = `IF NOT FOUND OR v_att.attgenerated <> '' OR NOT v_att.safe_type THEN`;
  const at = sql.indexOf(anchor);
  const end = sql.indexOf('END IF;\n', at);
  if (at < 0 || end < 0) throw new Error(`live_tables_v5: no column check in ${fnName}`);
  const indent = sql.slice(sql.lastIndexOf('\n', at) + 1, at);
  const check = `
${indent}-- a nondeterministic collation makes different codes equal in the table, not in the registry (since 000020)
${indent}IF ${nondeterministicCollation('v_att.attcollation')} THEN
${indent}    ${raiseQ(c, indent.length + 4, 'FAMILY_CODE_COLUMN_INVALID', `format('column %I of %s (collection %s) has the nondeterministic collation %s: codes the registry keeps apart (e.g. A-1 and a-1) would be equal in the table', p_code_column, p_table, p_collection, ${collationName('v_att.attcollation')})`, `format('Use a deterministic collation for the code column: ALTER TABLE %s ALTER COLUMN %I TYPE text COLLATE "default"; (keep a case-insensitive lookup in an index on lower(%I) if the application needs one)', p_table, p_code_column, p_code_column)`)}
${indent}END IF;`;
  const cut = end + 'END IF;'.length;
  return sql.slice(0, cut) + check + sql.slice(cut);
}

export const registerFamilyV4 = (c: Ctx) => withCollationCheck(admissionFunctionsV3(c)[0]!, c, 'register_family');
export const moveFamilyV5 = (c: Ctx) => withCollationCheck(moveFamilyV4(c), c, 'move_family');
/** Down. */
export const registerFamilyV3 = (c: Ctx) => admissionFunctionsV3(c)[0]!;

/** family_read_source (000019) naming a partition and a nondeterministic code collation as unsafe. */
export function familyReadSourceV3(c: Ctx): string {
  let sql = familyReadSourceV2(c);
  sql = replaceOnce(sql, 'SELECT cl.oid, cl.relkind, n.nspname, cl.relname INTO v_rel', 'SELECT cl.oid, cl.relkind, cl.relispartition, n.nspname, cl.relname INTO v_rel');
  sql = replaceOnce(
    sql,
    `        ELSIF NOT pg_catalog.has_schema_privilege(v_rel.nspname, 'USAGE') THEN`,
    `        ELSIF v_rel.relispartition THEN
            v_reason := pg_catalog.format('%s is a partition of %s: rows inserted through the parent do not reach its statement-level birth writer', relation,
                                          (SELECT pg_catalog.string_agg(i.inhparent::pg_catalog.regclass::pg_catalog.text, ', ') FROM pg_catalog.pg_inherits i WHERE i.inhrelid OPERATOR(pg_catalog.=) p_table));
        ELSIF NOT pg_catalog.has_schema_privilege(v_rel.nspname, 'USAGE') THEN`,
  );
  sql = replaceOnce(sql, '                       a.attnum, a.attgenerated, a.atttypid,', '                       a.attnum, a.attgenerated, a.atttypid, a.attcollation,');
  sql = replaceOnce(
    sql,
    `                    WHEN NOT pg_catalog.has_schema_privilege(v_leaf.nspname, 'USAGE') THEN`,
    `                    WHEN ${nondeterministicCollation('v_leaf.attcollation', 'OPERATOR(pg_catalog.=)')}
                        THEN pg_catalog.format('code column %I of %I.%I has a nondeterministic collation: codes the registry keeps apart compare equal in the table', p_code_column, v_leaf.nspname, v_leaf.relname)
                    WHEN NOT pg_catalog.has_schema_privilege(v_leaf.nspname, 'USAGE') THEN`,
  );
  return sql;
}
