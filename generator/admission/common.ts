/**
 * Shared names and SQL fragments of the admission feature (issue 3).
 */
import type { Ctx } from '../lib/ctx.js';
import { raise } from '../errors/index.js';
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
export const PINNED = 'SET search_path = pg_catalog, pg_temp';

/** `('off', 'report', 'enforce')` */
export const MODES = litList(vocab.familyMode);

/** A RAISE for a registered error, indented so that it can sit at column `pad` of a sqlText body. */
export function raiseAt(pad: number, name: string, detail: string, message?: string): string {
  return raise(name, detail, message).split('\n').join(`\n${' '.repeat(pad)}`);
}
