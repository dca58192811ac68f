/**
 * Re-verification, fifth round (000018): a family table dropped in the transaction of its births.
 *
 * tg_admission_reverify (000015) runs at commit from the package table admission_verify, so it runs
 * even when the family table and all its gate triggers are gone. Until now it returned when
 * pg_class had no row for the family table ("the family is gone"): a role owning the table could
 * INSERT a permitted row (consuming the permit, writing BORN) and DROP TABLE in the same
 * transaction, and the birth committed without its object. Now a family whose registration is still
 * there but whose table is not is judged like any other vanished object: enforce refuses the commit
 * (BG157, DETAIL names the collection, the table's last known name and a born code), report records
 * one BORN_WITHOUT_OBJECT violation per birth of this transaction (detail.removed_by = 'DROP TABLE').
 * A birth retired before the drop is not a birth here any more and passes. A DROP in a later
 * transaction stays what it was: the drift finding family_table_missing.
 * The fast path (no family table read when its statistics counters show no DELETE or UPDATE) is
 * also skipped when the table's pg_class row was changed in this transaction (a rewrite changes
 * rows without counting updates): the births are then probed in the table.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { functionDefinitionOnly, orReplace, replaceOnce } from '../lib/sql.js';
import { ACTOR } from './common.js';
import { raiseQ, short } from './v2_common.js';
import { nondeterministicCollation } from './v3_common.js';
import { reverifyFunction } from './single_row_v4.js';

/** 000015's tg_admission_reverify as CREATE OR REPLACE (the Down of 000018). */
export function reverifyFunctionV4Replacing(c: Ctx): string {
  const fn = c.q('tg_admission_reverify');
  return `${orReplace(functionDefinitionOnly(reverifyFunction(c), fn))}\n${reverifyComment(c, false)}`;
}

function reverifyComment(c: Ctx, v5: boolean): string {
  const base =
    'Layer 2 re-verification (deferred constraint trigger _900_admission_reverify on admission_verify, queued by tg_birth_register once per transaction and collection). At commit (or SET CONSTRAINTS ... IMMEDIATE) every birth the statement writer made in this transaction must still be BORN from a CONSUMED permit for its code while its object is in the family table, and its object must still be there while it is BORN here. enforce: BG130 / BG157 (unless layer 1 recorded an authorised BYPASS); report: one UNFINALIZED row per code (detail.reverified); off: nothing. A family table that would run its owner\'s code when planned: BG161 (enforce) or a FAMILY_TABLE_UNSAFE row (report). Up to 16 births: cached point lookups and one presence probe each; more: one set-based query planned per execution (hash joins above 1000).';
  const dropped =
    ' A family table dropped in the transaction of its births (since 000018): enforce refuses the commit (BG157), report records one BORN_WITHOUT_OBJECT row per birth (detail.removed_by = DROP TABLE).';
  return comment('FUNCTION', `${c.q('tg_admission_reverify')}()`, base + (v5 ? dropped : ''));
}

/** tg_admission_reverify knowing a family table dropped in this transaction. */
export function reverifyFunctionV5(c: Ctx): string {
  const fn = c.q('tg_admission_reverify');
  const registry = c.q('birth_registry');
  const violation = c.q('birth_gate_violation');
  const changelog = c.q('registry_changelog');
  const births = `l.txid = pg_catalog.pg_current_xact_id() AND l.op = 'BORN' AND l.collection_name = v_collection AND l.detail ? 'mode'`;
  // still born here (not retired before the drop)
  const bornHere = `r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id()`;
  const lastName = `COALESCE(l.detail ->> 'table', pg_catalog.format('table with oid %s', v_family.table_name::pg_catalog.oid))`;
  const bornHereRows = `FROM ${changelog} l
          JOIN ${registry} r ON r.collection_name = l.collection_name AND r.entity_code = l.entity_code
         WHERE ${births} AND ${bornHere}`;
  let sql = orReplace(functionDefinitionOnly(reverifyFunction(c), fn));
  sql = replaceOnce(
    sql,
    '      JOIN pg_catalog.pg_class k ON k.oid = f.table_name\n      JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace\n',
    '      LEFT JOIN pg_catalog.pg_class k ON k.oid = f.table_name\n      LEFT JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace\n',
  );
  sql = replaceOnce(sql, 'RETURN NULL;  -- the family is gone, moved off,', 'RETURN NULL;  -- the family is deregistered, moved off,');
  sql = replaceOnce(
    sql,
    `    IF v_n = 0 THEN
        RETURN NULL;
    END IF;
`,
    `    IF v_n = 0 THEN
        RETURN NULL;
    END IF;

    -- the family table is gone (dropped in this transaction after its births: its gate triggers went
    -- with it, this trigger is on a package table): every birth still BORN here is a birth without
    -- an object
    IF v_family.relname IS NULL THEN
        SELECT l.entity_code, ${lastName} AS table_name, pg_catalog.count(*) OVER () AS n
          INTO v_bad
          ${bornHereRows}
         ORDER BY l.change_id
         LIMIT 1;
        IF NOT FOUND THEN
            RETURN NULL;  -- every birth of this transaction was retired before the drop
        END IF;
        IF v_family.mode = 'enforce' THEN
            ${raiseQ(c, 12, 'GATE_BORN_WITHOUT_OBJECT', `format('collection %s: the family table (%s) was dropped in this transaction after %s birth(s) in it, e.g. code %L', v_collection, v_bad.table_name, v_bad.n, ${short('v_bad.entity_code')})`, `format('Keep the table until the births are committed, or retire them before the drop (SELECT ${c.schema}.retire(%L, %L, ''<reason>'');). To stop governing the table first: SELECT ${c.schema}.set_family_mode(%L, ''off'');', v_collection, ${short('v_bad.entity_code')}, v_collection)`)}
        END IF;
        INSERT INTO ${violation} (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
        SELECT 'UNFINALIZED', v_collection, l.entity_code, ${lastName}, 'INSERT', v_family.mode, 2, ${ACTOR},
               pg_catalog.jsonb_build_object('finding', 'BORN_WITHOUT_OBJECT', 'registry_id', r.registry_id,
                                             'removed_by', 'DROP TABLE', 'reverified', true)
          ${bornHereRows}
           AND NOT EXISTS (SELECT 1 FROM ${violation} v
                            WHERE v.collection_name = v_collection AND v.entity_code = l.entity_code
                              AND v.txid = pg_catalog.pg_current_xact_id() AND v.detail ->> 'finding' = 'BORN_WITHOUT_OBJECT');
        RETURN NULL;
    END IF;
`,
  );
  // the fast path trusts the statistics counters only while the table and its code column were not
  // altered in this transaction: a rewrite (ALTER COLUMN ... TYPE ... USING, after the owner dropped
  // the gates whose WHEN clauses name the column) changes every row without counting an update, and
  // RENAME COLUMN can make another column the code column. The pg_class row of the table, or the
  // pg_attribute row of the code column, is then this transaction's (age <= 0: our own xid or a
  // later one), and the presence probes run.
  sql = replaceOnce(sql, '           a.attnum IS NOT NULL AS has_column, a.atttypid\n', '           a.attnum IS NOT NULL AS has_column, a.atttypid, a.attcollation, pg_catalog.age(k.xmin) AS class_age, pg_catalog.age(a.xmin) AS column_age\n');
  sql = replaceOnce(
    sql,
    "    IF v_n <= 16 AND pg_catalog.current_setting('track_counts') = 'on'\n",
    "    IF v_n <= 16 AND pg_catalog.current_setting('track_counts') = 'on' AND v_family.class_age > 0 AND v_family.column_age > 0\n",
  );
  // a code column with a nondeterministic collation (register_family refuses one since 000020; a family
  // registered before may have it): the presence probes would take a case variant for the born
  // object, so the births cannot be checked
  sql = replaceOnce(
    sql,
    "    v_safe := v_type IN ('text', 'character varying', 'name');\n",
    `    v_safe := v_type IN ('text', 'character varying', 'name');
    IF v_safe AND ${nondeterministicCollation('v_family.attcollation')} THEN
        v_unsafe := COALESCE(v_unsafe, pg_catalog.format('column %I has a nondeterministic collation: codes the registry keeps apart compare equal in the table', v_family.code_column));
    END IF;
`,
  );
  return `${sql}\n${reverifyComment(c, true)}`;
}
