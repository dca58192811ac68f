/**
 * 000023 release 0.4.1: the schema comment names the release that 000018–000022 ship in (admission
 * on live tables: a family table dropped in the transaction of its births, a family table turned
 * partition, a nondeterministic code collation, row-level security at commit; the drift views for
 * roles without rights on the family schemas; handoff and outbox accounting). No other change.
 */
import { comment, type Migration } from '../lib/migration.js';
import type { Ctx } from '../lib/ctx.js';

/** The release this migration ships in (frozen text: never the package version). */
const RELEASED_IN = '0.4.1';
const schemaComment = (c: Ctx, release: string) =>
  comment('SCHEMA', c.s, `birthgate ${release}: pre-birth admission control and the governance handoff.`);

export const release041: Migration = {
  id: '000023',
  slug: 'release_0_4_1',
  summary: 'release 0.4.1: the schema comment names the release',
  up: (c) => [schemaComment(c, RELEASED_IN)],
  down: (c) => [schemaComment(c, '0.4.0')],
};
