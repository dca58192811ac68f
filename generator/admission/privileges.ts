/**
 * Privileges of the admission feature. Nothing is granted to PUBLIC. The tables are written only
 * by the SECURITY DEFINER functions and gate triggers: no role gets INSERT/UPDATE/DELETE on them.
 *   admin  : register_family, set_family_mode, retire, retire_gate_check, expire_permits, revoke_permit; SELECT
 *   issuer : issue_permit, revoke_permit; SELECT on the family, registry and permit tables
 *   reader : SELECT on the family, registry, changelog, permit and violation tables
 * The kill switch (<schema>.bypass_gate) is honoured for members of admin only (checked in the gate).
 */
import type { Ctx } from '../lib/ctx.js';
import { qi } from '../lib/sql.js';
import { signatures } from './functions.js';

const ownTables = ['birth_admission_permit', 'birth_gate_violation'];
const readerTables = ['birth_family', 'birth_registry', 'registry_changelog', ...ownTables];
const issuerTables = ['birth_family', 'birth_registry', 'birth_admission_permit'];
const internalFunctions = ['tg_birth_gate()', 'tg_birth_finalize()', 'tg_birth_admission_permit_guard()', 'tg_birth_gate_violation_append_only()'];

const fnRef = (c: Ctx, sig: string) => `${c.s}.${qi(sig.slice(0, sig.indexOf('(')))}${sig.slice(sig.indexOf('('))}`;

export function grants(c: Ctx): string[] {
  const { admin, issuer, reader } = c.roles;
  const allFns = [...Object.values(signatures), ...internalFunctions];
  const grantExec = (sig: string, roles: string[]) => `GRANT EXECUTE ON FUNCTION ${fnRef(c, sig)} TO ${roles.map(qi).join(', ')};`;
  return [
    [
      ...ownTables.map((t) => `REVOKE ALL ON TABLE ${c.q(t)} FROM PUBLIC;`),
      ...allFns.map((sig) => `REVOKE ALL ON FUNCTION ${fnRef(c, sig)} FROM PUBLIC;`),
    ].join('\n'),
    [
      `GRANT SELECT ON TABLE ${readerTables.map((t) => c.q(t)).join(', ')} TO ${qi(reader)}, ${qi(admin)};`,
      `GRANT SELECT ON TABLE ${issuerTables.map((t) => c.q(t)).join(', ')} TO ${qi(issuer)};`,
      grantExec(signatures.register_family, [admin]),
      grantExec(signatures.set_family_mode, [admin]),
      grantExec(signatures.retire, [admin]),
      grantExec(signatures.retire_gate_check, [admin]),
      grantExec(signatures.expire_permits, [admin]),
      grantExec(signatures.revoke_permit, [admin, issuer]),
      grantExec(signatures.issue_permit, [issuer]),
    ].join('\n'),
  ];
}

/** Down: the privileges this migration granted on substrate tables (its own objects are dropped). */
export function revokeGrants(c: Ctx): string[] {
  const { admin, issuer, reader } = c.roles;
  const substrate = (ts: string[]) => ts.filter((t) => !ownTables.includes(t)).map((t) => c.q(t)).join(', ');
  return [
    [
      `REVOKE SELECT ON TABLE ${substrate(readerTables)} FROM ${qi(reader)}, ${qi(admin)};`,
      `REVOKE SELECT ON TABLE ${substrate(issuerTables)} FROM ${qi(issuer)};`,
    ].join('\n'),
  ];
}

export const functionRefs = (c: Ctx) => [...Object.values(signatures), ...internalFunctions].map((sig) => fnRef(c, sig));
