/**
 * The one registry of deliberate errors. Feature modules add their own file; this index
 * concatenates them, checks that codes and names are unique, and is the source of both the
 * SQL raises (through `raise`) and the TypeScript constants (src/generated/errors.ts).
 */
import type { ErrorDef } from './types.js';
import { substrateErrors } from './substrate.js';
import { admissionErrors } from './admission.js';
import { admissionV2Errors } from './admission_v2.js';
import { handoffErrors } from './handoff.js';
import { driftErrors } from './drift.js';
import { securityErrors } from './security.js';
import { sweepErrors } from './sweeps.js';
import { sweepV3Errors } from './sweeps_v3.js';
import { outboxErrors } from './outbox.js';
import { handoffCursorErrors } from './handoff_cursor.js';
import { operatorContextErrors } from './operator_context.js';
import { lit } from '../lib/sql.js';

export type { ErrorDef } from './types.js';

const all: readonly ErrorDef[] = [
  ...substrateErrors,
  ...admissionErrors,
  ...admissionV2Errors,
  ...handoffErrors,
  ...handoffCursorErrors,
  ...driftErrors,
  ...securityErrors,
  ...outboxErrors,
  ...sweepErrors,
  ...sweepV3Errors,
  ...operatorContextErrors,
];

export function allErrors(): readonly ErrorDef[] {
  const codes = new Set<string>();
  const names = new Set<string>();
  for (const e of all) {
    if (!/^BG[0-9A-Z]{3}$/.test(e.code)) throw new Error(`bad SQLSTATE ${e.code}`);
    if (codes.has(e.code)) throw new Error(`duplicate SQLSTATE ${e.code}`);
    if (names.has(e.name)) throw new Error(`duplicate error name ${e.name}`);
    codes.add(e.code);
    names.add(e.name);
  }
  return [...all].sort((a, b) => a.code.localeCompare(b.code));
}

/**
 * Registered hints name package objects under the default schema (`birthgate.outbox_claim(...)`),
 * so they read as copyable commands; generate() renders them for the schema it generates
 * (withErrorSchema), so a HINT never names a schema the install does not have.
 */
let hintSchema = 'birthgate';
export function withErrorSchema<T>(schema: string, fn: () => T): T {
  const before = hintSchema;
  hintSchema = schema;
  try {
    return fn();
  } finally {
    hintSchema = before;
  }
}
function hintFor(e: ErrorDef): string {
  return hintSchema === 'birthgate' ? e.hint : e.hint.replace(/\bbirthgate\./g, `${hintSchema}.`);
}

export function errorByName(name: string): ErrorDef {
  const e = all.find((x) => x.name === name);
  if (!e) throw new Error(`unknown error name ${name}`);
  return e;
}

/** A RAISE for a registered error, spliced into a plpgsql body at column `pad` (continuation lines indented to match). */
export function raiseAt(pad: number, name: string, detail: string, message?: string, hintSuffix?: string): string {
  return raise(name, detail, message, hintSuffix).replaceAll('\n', `\n${' '.repeat(pad)}`);
}

/**
 * A plpgsql RAISE for a registered error.
 * `detail` is a SQL expression (usually a format(...) call with the values involved);
 * `message` optionally overrides the registered message with a SQL expression.
 * `hintSuffix` optionally appends a SQL expression (a concrete, copyable command) to the registered hint.
 */
export function raise(name: string, detail: string, message?: string, hintSuffix?: string): string {
  const e = errorByName(name);
  return [
    `RAISE EXCEPTION USING`,
    `    ERRCODE = ${lit(e.code)},`,
    `    MESSAGE = ${message ?? lit(e.message)},`,
    `    DETAIL = ${detail},`,
    hintSuffix === undefined ? `    HINT = ${lit(hintFor(e))};` : `    HINT = ${lit(hintFor(e))} || ' ' || ${hintSuffix};`,
  ].join('\n');
}
