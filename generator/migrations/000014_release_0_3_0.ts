/**
 * 000014 release 0.3.0: the schema comment names the release that 000011–000013 ship in
 * (admission fast path, sweeps at registry scale, outbox replay guard). No other change.
 */
import { comment, type Migration } from '../lib/migration.js';
import type { Ctx } from '../lib/ctx.js';

/** The release this migration ships in (frozen text: never the package version). */
const RELEASED_IN = '0.3.0';
const schemaComment = (c: Ctx, release: string) =>
  comment('SCHEMA', c.s, `birthgate ${release}: pre-birth admission control and the governance handoff.`);

export const release030: Migration = {
  id: '000014',
  slug: 'release_0_3_0',
  summary: 'release 0.3.0: the schema comment names the release',
  up: (c) => [schemaComment(c, RELEASED_IN)],
  down: (c) => [schemaComment(c, '0.2.0')],
};
