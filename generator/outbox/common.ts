/** Shared bits of the outbox delivery modules (issue 14). */
import type { Ctx } from '../lib/ctx.js';

/** The role delivery workers log in through (a member of it): the pull API and nothing else. */
export const deliveryRole = (c: Ctx) => `${c.schema}_delivery`;

/** Upper bound of outbox_claim(p_limit). */
export const MAX_CLAIM = 10_000;
/** Upper bound of the id arrays taken by outbox_ack and outbox_redrive. */
export const MAX_IDS = 10_000;
/** Upper bound of outbox_purge(p_limit). */
export const MAX_PURGE = 1_000_000;
/** Longest worker name. */
export const MAX_WORKER = 128;
/** Error texts are kept up to this many characters (a longer one is cut and says so). */
export const MAX_ERROR_TEXT = 4000;
/** Longest visibility timeout a claim may ask for. */
export const MAX_VISIBILITY = '1 day';

/** Function signatures (for GRANT / REVOKE / DROP / COMMENT). */
export const signatures = {
  outbox_claim: '(text, integer, interval)',
  outbox_ack: '(bigint[], text)',
  outbox_fail: '(bigint, text, text)',
  outbox_redrive: '(bigint[])',
  outbox_purge: '(integer)',
  outbox_configure: '(integer, interval, interval, interval, interval)',
} as const;
export type OutboxFunction = keyof typeof signatures;

export const fnRef = (c: Ctx, name: OutboxFunction) => `${c.q(name)}${signatures[name]}`;

export { raiseAt } from '../errors/index.js';
