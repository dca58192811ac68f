/**
 * Migration 000012: the finding kind no_code_index (adoption of a table without a usable index on
 * its code column: every batch sorts the whole table). Widens sweep_finding's kind CHECK and gives
 * the kind its remedy in v_sweep_findings (findingsView of views.ts, 000009, with one more WHEN).
 */
import type { Ctx } from '../lib/ctx.js';
import { litList } from '../lib/sql.js';
import { FINDING_KINDS } from './common.js';
import { findingsView } from './views.js';

export const FINDING_KINDS_V3 = [...FINDING_KINDS, 'no_code_index'] as const;

const kindCheck = (c: Ctx, kinds: readonly string[]) =>
  `ALTER TABLE ${c.q('sweep_finding')} DROP CONSTRAINT sweep_finding_kind_check, ADD CONSTRAINT sweep_finding_kind_check CHECK (kind IN ${litList(kinds)});`;

export function findingKindsV3(c: Ctx): string[] {
  const view = findingsView(c).replace(
    /\n( *)ELSE 'see sweep_finding' END AS remedy/,
    (_m, pad: string) =>
      `\n${pad}WHEN 'no_code_index' THEN 'no btree index on the code column: every adoption batch sorts the whole table; create one (detail->>''remedy'' has the statement), then run the adoption again'` +
      `\n${pad}ELSE 'see sweep_finding' END AS remedy`,
  );
  if (view === findingsView(c)) throw new Error('findingKindsV3: the remedy list of v_sweep_findings changed shape');
  return [kindCheck(c, FINDING_KINDS_V3), view];
}

export function dropFindingKindsV3(c: Ctx): string[] {
  return [`DELETE FROM ${c.q('sweep_finding')} WHERE kind = 'no_code_index';`, kindCheck(c, FINDING_KINDS), findingsView(c)];
}
