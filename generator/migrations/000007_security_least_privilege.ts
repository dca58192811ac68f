/**
 * 000007 security & least privilege (issue 11): no table owner's code ever runs with the package's
 * rights, and a role per job.
 * - family_read_source(): the one gate every read of a family table with the package's rights
 *   goes through (relation kind, code column base type, row-level security, lock + re-check);
 *   drift_family_objects and retire_gate_check read only through it. drift_family_objects gains
 *   an unsafe_table finding and hides codes from callers without SELECT on the code column;
 *   v_drift_report reports family_table_unsafe and gets concrete remedies; retire_gate_check
 *   raises BG320 (code too long) and BG321 (unsafe table).
 * - drift_current_functions / drift_current_triggers become SECURITY INVOKER (they read only
 *   catalogs and birth_family, which their callers may read).
 * - Role <schema>_consumer (handoff only); reader/admin may read the migrations bookkeeping and the
 *   heartbeat, so `birthgate status` works for them.
 * (handoff_drain pins its own search_path since 000005.)
 * The Down section restores the 000004/000002 definitions and grants and drops the role
 * (unless another database still uses it).
 */
import type { Ctx } from '../lib/ctx.js';
import type { Migration } from '../lib/migration.js';
import { qi } from '../lib/sql.js';
import { familyScan, recaptureDriftBaseline, report } from '../drift/monitor.js';
import { retireGateCheck } from '../admission/functions.js';
import { familyObjectsV2, familyReadGrants, familyReadSource, retireGateCheckV2 } from '../security/family_read.js';
import { reportViewV2 } from '../security/drift_report_v2.js';
import { consumerGrants, createConsumerRole, dropConsumerRole, revokeStatusGrants, statusGrants } from '../security/roles.js';

const orReplace = (sql: string) => sql.replace(/\bCREATE (FUNCTION|PROCEDURE)\b/g, 'CREATE OR REPLACE $1');

function familyObjectsGrants(c: Ctx): string {
  const { admin, reader } = c.roles;
  return [
    `REVOKE ALL ON FUNCTION ${c.q('drift_family_objects')}(text) FROM PUBLIC;`,
    `GRANT EXECUTE ON FUNCTION ${c.q('drift_family_objects')}(text) TO ${qi(admin)}, ${qi(reader)};`,
  ].join('\n');
}

const reportGrants = (c: Ctx) => `GRANT SELECT ON ${c.q('v_drift_report')} TO ${qi(c.roles.admin)}, ${qi(c.roles.reader)};`;

const catalogReaders = (c: Ctx, security: 'INVOKER' | 'DEFINER') =>
  [`ALTER FUNCTION ${c.q('drift_current_functions')}() SECURITY ${security};`, `ALTER FUNCTION ${c.q('drift_current_triggers')}() SECURITY ${security};`].join('\n');

export const securityLeastPrivilege: Migration = {
  id: '000007',
  slug: 'security_least_privilege',
  summary: 'security: family tables read without owner code (family_read_source), BG320/BG321, consumer role, status for readers',
  up: (c) => [
    createConsumerRole(c),
    consumerGrants(c),
    statusGrants(c),
    familyReadSource(c),
    ...familyReadGrants(c),
    `DROP VIEW ${c.q('v_drift_report')};\nDROP FUNCTION ${c.q('drift_family_objects')}(text);`,
    familyObjectsV2(c),
    familyObjectsGrants(c),
    reportViewV2(c),
    reportGrants(c),
    retireGateCheckV2(c),
    catalogReaders(c, 'INVOKER'),
    recaptureDriftBaseline(c),
  ],
  down: (c) => [
    catalogReaders(c, 'DEFINER'),
    orReplace(retireGateCheck(c)),
    `DROP VIEW ${c.q('v_drift_report')};\nDROP FUNCTION ${c.q('drift_family_objects')}(text);`,
    familyScan(c),
    familyObjectsGrants(c),
    orReplace(report(c)),
    reportGrants(c),
    `DROP FUNCTION ${c.q('family_read_source')}(oid, name);`,
    revokeStatusGrants(c),
    dropConsumerRole(c),
    recaptureDriftBaseline(c),
  ],
};
