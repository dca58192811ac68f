/**
 * Shared names and SQL fragments of the admission feature (issue 3).
 */
import type { Ctx } from '../lib/ctx.js';
import { litList } from '../lib/sql.js';
import { vocab } from '../vocab.js';

/** Trigger names the drift monitor (000004) depends on: do not rename. */
export const GATE_TRIGGER = '_100_birth_gate';
export const FINALIZE_TRIGGER = '_900_birth_finalize';

/** pg_trigger.tgtype bits: ROW=1, BEFORE=2, INSERT=4, UPDATE=16. */
export const GATE_TGTYPE = 1 + 2 + 4 + 16;
export const FINALIZE_TGTYPE = 1 + 4 + 16;

/** The kill-switch setting: `<schema>.bypass_gate` = on | off. */
export const bypassSetting = (c: Ctx) => `${c.schema}.bypass_gate`;

/**
 * The role on whose behalf a SECURITY DEFINER function runs. Inside such a function current_user
 * is the owner, so the caller is the SET ROLE role if one is set, else the session user.
 * (A caller that is itself a SECURITY DEFINER function is seen as the session's role.)
 */
export const ACTOR = `COALESCE(NULLIF(current_setting('role'), 'none'), session_user)::name`;

/** SET clause of every function: pinned search_path (mandatory for SECURITY DEFINER). */
export { PINNED_SEARCH_PATH as PINNED } from '../lib/sql.js';

/** `('off', 'report', 'enforce')` */
export const MODES = litList(vocab.familyMode);

export { raiseAt } from '../errors/index.js';

/**
 * The code column types the gates read: text, varchar, name, or a domain directly over one of them.
 * Reading them never runs code of the table owner (no user cast, no domain CHECK: comparisons use
 * the base type). SQL expression over pg_type alias `t` giving true when the type is acceptable.
 */
export const SAFE_CODE_TYPE = `(CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END) IN ('text'::regtype, 'varchar'::regtype, 'name'::regtype)`;

/** The base type (for CASTs that must not run a domain CHECK), from pg_type alias `t`. */
export const CODE_BASE_TYPE = `format_type(CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END, NULL)`;

/**
 * One statement: the family row of v_collection plus what the gate must know about its code column
 * now (present? a safe type?). Into a record; used by both gate functions.
 */
export function familyLookup(c: Ctx, into: string): string {
  return [
    `SELECT f.collection_name, f.table_name, f.code_column, f.code_pattern, f.mode,`,
    `       a.attnum IS NOT NULL AS has_column, COALESCE(${SAFE_CODE_TYPE}, false) AS safe_type`,
    `  INTO ${into}`,
    `  FROM ${c.q('birth_family')} f`,
    `  LEFT JOIN pg_attribute a ON a.attrelid = f.table_name AND a.attname = f.code_column AND a.attnum > 0 AND NOT a.attisdropped`,
    `  LEFT JOIN pg_type t ON t.oid = a.atttypid`,
    ` WHERE f.collection_name = v_collection;`,
  ].join('\n');
}

/**
 * Reads the code of NEW (and OLD on UPDATE) by name, as text, without converting any other column
 * (a whole-row to_jsonb(NEW) would call casts of the owner's types, as the package owner).
 */
export const READ_CODE = [
  `IF TG_OP = 'UPDATE' THEN`,
  `    EXECUTE format('SELECT ($1).%1$I::text, ($2).%1$I::text', v_family.code_column) INTO v_code, v_old_code USING NEW, OLD;`,
  `ELSE`,
  `    EXECUTE format('SELECT ($1).%I::text', v_family.code_column) INTO v_code USING NEW;`,
  `END IF;`,
].join('\n');

/** Indent every line after the first by n spaces (for splicing into a sqlText body at column n). */
export function at(n: number, text: string): string {
  return text.split('\n').join(`\n${' '.repeat(n)}`);
}
