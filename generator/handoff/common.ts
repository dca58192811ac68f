/** Shared bits of the handoff generator modules (issue 4). */

/** The one cursor row the consumer advances (seeded by 000001). */
export const CONSUMER = 'governance_handoff';
/** The event every BORN changelog row becomes. */
export const BORN_EVENT = 'handoff.object_born';
/** Upper bound for p_batch_size: the seeds budget 2k–5k rows per batch, each batch well inside 5 s. */
export const MAX_BATCH = 100_000;
/** Upper bound for activate_candidates(p_limit). */
export const MAX_ACTIVATE = 1_000_000;

export { raiseAt } from '../errors/index.js';
