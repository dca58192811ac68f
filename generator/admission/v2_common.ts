/**
 * Shared pieces of the 0.2 statement-level admission gate (migration 000006): the trigger set a
 * family table carries, copyable hints (package objects schema-qualified), and the DETAIL-safe
 * rendering of user-supplied codes.
 */
import type { Ctx } from '../lib/ctx.js';
import { lit } from '../lib/sql.js';
import { errorByName } from '../errors/index.js';

export const GATE_TRIGGER = '_100_birth_gate';
export const REGISTER_TRIGGER = '_110_birth_register';
export const RECODE_TRIGGER = '_120_birth_recode';
export const FINALIZE_TRIGGER = '_900_birth_finalize';
/** BEFORE TRUNCATE statement trigger: layer 2 watching a TRUNCATE (tg_birth_finalize, TG_OP TRUNCATE). */
export const TRUNCATE_TRIGGER = '_130_birth_truncate';
/** Layer 2 for a re-code: deferred, on every UPDATE whose final row has another code (WHEN). */
export const FINALIZE_RECODE_TRIGGER = '_910_birth_finalize_recode';
/** Every trigger name a family table may carry from any version (detached before re-attaching). */
export const ALL_GATE_TRIGGERS = [GATE_TRIGGER, REGISTER_TRIGGER, RECODE_TRIGGER, TRUNCATE_TRIGGER, FINALIZE_TRIGGER, FINALIZE_RECODE_TRIGGER] as const;
/** The transition table name of the statement-level register trigger. */
export const NEW_TABLE = 'birthgate_new';
/** Default and maximum code length (characters); 600 x 4 bytes stays under the btree limit. */
export const DEFAULT_CODE_LIMIT = 256;
export const MAX_CODE_LIMIT = 600;
/** At most this many characters of a user-supplied code reach a DETAIL or HINT. */
export const DETAIL_CODE_CHARS = 100;

const PACKAGE_FUNCTIONS = [
  'register_family',
  'set_family_mode',
  'set_family_code_limit',
  'move_family',
  'issue_permit',
  'revoke_permit',
  'expire_permits',
  'retire_gate_check',
  'retire',
];
const PACKAGE_TABLES = ['birth_family_move', 'birth_family', 'birth_admission_permit', 'birth_registry', 'birth_gate_violation', 'registry_changelog'];

/** Qualify every package function and table a hint names with the schema, so the hint is copyable. */
export function qualifyHint(c: Ctx, text: string): string {
  let out = text.replace(new RegExp(`(?<![.\\w])(${PACKAGE_FUNCTIONS.join('|')})\\(`, 'g'), `${c.schema}.$1(`);
  out = out.replace(new RegExp(`(?<![.\\w])(${PACKAGE_TABLES.join('|')})(?![\\w(])`, 'g'), `${c.schema}.$1`);
  return out;
}

/**
 * RAISE of a registered error with a schema-qualified HINT (the registered one, or `hint`, a SQL
 * expression), spliced at column `pad`.
 */
export function raiseQ(c: Ctx, pad: number, name: string, detail: string, hint?: string): string {
  const e = errorByName(name);
  return [
    `RAISE EXCEPTION USING`,
    `    ERRCODE = ${lit(e.code)},`,
    `    MESSAGE = ${lit(e.message)},`,
    `    DETAIL = ${detail},`,
    `    HINT = ${hint ?? lit(qualifyHint(c, e.hint))};`,
  ].join(`\n${' '.repeat(pad)}`);
}

/** SQL expression: a user-supplied code cut to DETAIL_CODE_CHARS characters (with its length when cut). */
export function short(expr: string): string {
  return `(CASE WHEN pg_catalog.length(${expr}) > ${DETAIL_CODE_CHARS} THEN pg_catalog.left(${expr}, ${DETAIL_CODE_CHARS}) || pg_catalog.format('...(%s characters)', pg_catalog.length(${expr})) ELSE ${expr} END)`;
}

/** Transaction-local marker the BEFORE ROW gate sets: the statement whose writer has yet to run. */
export const markerSetting = (c: Ctx) => `${c.schema}.gate_statement`;
