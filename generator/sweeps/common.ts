/** Shared names and limits of the live-scale sweeps (issue 10): adoption, backfill, load guard. */
import type { Ctx } from '../lib/ctx.js';

export { raiseAt } from '../errors/index.js';
export { ACTOR, SAFE_CODE_TYPE } from '../admission/common.js';

/** Upper bound for p_batch_size (the seeds budget 2k–5k rows per batch, each well inside 5 s). */
export const MAX_BATCH = 100_000;
/** Upper bound for p_max_batches_per_minute. */
export const MAX_RATE = 60_000;
/** How many characters of an oversize code a finding stores (the limit itself is the family's code_max_length). */
export const MAX_CODE_LENGTH = 256;
/** How much of a user-supplied code a finding stores and an error DETAIL shows. */
export const CODE_SHOWN = 100;
/** How long a load-guard pause lasts before the guard is asked again. */
export const LOAD_PAUSE = '5 seconds';

/** Sweep kinds: a cursor per (kind, collection). `consume` records the consumer CLI's pauses. */
export const SWEEP_KINDS = ['adopt', 'adopt_dry_run', 'backfill', 'consume'] as const;

/** What a sweep_finding row says. */
export const FINDING_KINDS = [
  'null_code',
  'empty_code',
  'pattern_mismatch',
  'duplicate_code',
  'oversize_code',
  'retired_present',
  'retired_skipped',
  'dead_lettered',
  'deferred',
  'rate_limited',
  'load_paused',
  'slow_batch',
] as const;

/** Load-guard thresholds: settings read when the argument is NULL, with their defaults. */
export function guardSettings(c: Ctx) {
  return {
    maxLockWaiters: { name: `${c.schema}.sweep_max_lock_waiters`, default: '0' },
    maxLockWait: { name: `${c.schema}.sweep_max_lock_wait`, default: '1 second' },
    maxReplicationLag: { name: `${c.schema}.sweep_max_replication_lag`, default: '30 seconds' },
  };
}

/** The package tables the load guard watches (plus every family table). */
export const GOVERNED_TABLES = [
  'birth_family',
  'birth_registry',
  'registry_changelog',
  'birth_admission_permit',
  'governance_candidate_state',
  'event_pending',
  'event_outbox',
  'handoff_cursor',
] as const;

export const sweepName = (kind: string, collection: string) => `${kind}:${collection}`;
