/**
 * 000017 release 0.4.0: the schema comment names the release that 000015–000016 ship in (admission:
 * single-row births on cached point statements, the re-verification queued by the writer, a DELETE
 * checked by its own layer-2 trigger). No other change.
 */
import { comment, type Migration } from '../lib/migration.js';
import type { Ctx } from '../lib/ctx.js';

/** The release this migration ships in (frozen text: never the package version). */
const RELEASED_IN = '0.4.0';
const schemaComment = (c: Ctx, release: string) =>
  comment('SCHEMA', c.s, `birthgate ${release}: pre-birth admission control and the governance handoff.`);

export const release040: Migration = {
  id: '000017',
  slug: 'release_0_4_0',
  summary: 'release 0.4.0: the schema comment names the release',
  up: (c) => [schemaComment(c, RELEASED_IN)],
  down: (c) => [schemaComment(c, '0.3.0')],
};
