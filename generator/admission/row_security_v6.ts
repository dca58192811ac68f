/**
 * Row-level security at commit (000022).
 *
 * Layer 2 (tg_birth_finalize) and the commit-time re-verification (tg_admission_reverify) read the
 * family table as the package owner with row_security = off, so that no policy of the table owner
 * runs and none can hide a row. A package owner that is neither superuser nor BYPASSRLS (a managed
 * server) and not a member of the table owner's role may not read a table with row-level security
 * that way: PostgreSQL raised a raw 42501 ("query would be affected by row-level security policy")
 * at commit, e.g. for every INSERT of more than 16 rows or a DELETE of a born object, while the
 * drift monitor already reported the table as family_table_unsafe. Both functions now treat such a
 * table like one that cannot be checked without the owner's code: enforce refuses the commit with
 * BG161 (DETAIL names the table, the package owner and both remedies), report records it
 * (FAMILY_TABLE_UNSAFE) and admits. A superuser package owner (the default install), a BYPASSRLS one
 * and a member of the table owner's role are unaffected (unless the table FORCEs row security).
 * Also: tg_birth_finalize no longer defers to the statement writer of a table that is a partition
 * (rows routed through the parent never reach it).
 */
import type { Ctx } from '../lib/ctx.js';
import { replaceOnce } from '../lib/sql.js';
import { finalizeCheckFunctionV4 } from './single_row_v4.js';
import { reverifyFunctionV5 } from './reverify_v5.js';
import { isPartition } from './v3_common.js';

/** plpgsql: set v_unsafe (when still NULL) if reading `rel` with row_security = off would fail. */
const rowSecurityCheck = (rel: string) => `    -- row-level security the package owner is subject to (since 000022): reading the table with
    -- row_security = off would fail (42501); it cannot be checked without the owner's policies
    IF v_unsafe IS NULL THEN
        v_unsafe := (SELECT pg_catalog.format('row-level security is enabled on %I.%I and the package owner %I does not bypass it: ALTER ROLE %I BYPASSRLS; or ALTER TABLE %I.%I DISABLE ROW LEVEL SECURITY;',
                                              n.nspname, k.relname, current_user, current_user, n.nspname, k.relname)
                       FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
                      WHERE k.oid = ${rel} AND k.relrowsecurity
                        AND NOT (SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
                        AND (k.relforcerowsecurity OR NOT pg_catalog.pg_has_role(current_user, k.relowner, 'USAGE')));
    END IF;
`;

/** Insert the check after the planning-risk probe of a function (its `v_unsafe := family_relation_unsafe(rel)` block). */
function afterProbe(c: Ctx, sql: string, rel: string): string {
  const probe = `        v_unsafe := ${c.q('family_relation_unsafe')}(${rel});\n    END IF;\n`;
  return replaceOnce(sql, probe, probe + rowSecurityCheck(rel));
}

/**
 * tg_birth_finalize fired at the end of the inserting statement itself (SET CONSTRAINTS ...
 * IMMEDIATE) defers to the statement-level writer; a row routed into a family table that has become
 * a partition never reaches that writer (000020 refuses such writes at the gate, but a statement
 * the gate had already marked earlier skips the gate's call), so then it judges the row itself.
 */
function noDeferralToWriterOfPartition(sql: string): string {
  const anchor = "       AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t\n                     WHERE t.tgrelid = TG_RELID AND t.tgname = '_110_birth_register'";
  return replaceOnce(sql, anchor, `       AND NOT ${isPartition('TG_RELID')}\n${anchor}`);
}

export const finalizeCheckFunctionV6 = (c: Ctx) => noDeferralToWriterOfPartition(afterProbe(c, finalizeCheckFunctionV4(c), 'TG_RELID'));
export const reverifyFunctionV6 = (c: Ctx) => afterProbe(c, reverifyFunctionV5(c), 'v_family.table_name');
