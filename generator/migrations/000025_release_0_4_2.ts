/**
 * 000025 release 0.4.2: the schema comment names the release that 000024 ships in (register_family
 * under concurrency: idempotent, BG106, never a raw 23505). No other change.
 */
import { comment, type Migration } from '../lib/migration.js';
import type { Ctx } from '../lib/ctx.js';

/** The release this migration ships in (frozen text: never the package version). */
const RELEASED_IN = '0.4.2';
const schemaComment = (c: Ctx, release: string) =>
  comment('SCHEMA', c.s, `birthgate ${release}: pre-birth admission control and the governance handoff.`);

export const release042: Migration = {
  id: '000025',
  slug: 'release_0_4_2',
  summary: 'release 0.4.2: the schema comment names the release',
  up: (c) => [schemaComment(c, RELEASED_IN)],
  down: (c) => [schemaComment(c, '0.4.1')],
};
