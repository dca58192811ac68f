/**
 * 000028 release 0.4.3: the schema comment names the release that 000026 (the drift monitor after a
 * dump/restore; EXECUTE grants outside the package) and 000027 (writers refuse read-only
 * transactions and hot standbys up front; the consumer under REPEATABLE READ) ship in. No other
 * change.
 */
import { comment, type Migration } from '../lib/migration.js';
import type { Ctx } from '../lib/ctx.js';

/** The release this migration ships in (frozen text: never the package version). */
const RELEASED_IN = '0.4.3';
const schemaComment = (c: Ctx, release: string) =>
  comment('SCHEMA', c.s, `birthgate ${release}: pre-birth admission control and the governance handoff.`);

export const release043: Migration = {
  id: '000028',
  slug: 'release_0_4_3',
  summary: 'release 0.4.3: the schema comment names the release',
  up: (c) => [schemaComment(c, RELEASED_IN)],
  down: (c) => [schemaComment(c, '0.4.2')],
};
