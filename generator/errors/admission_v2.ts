/**
 * Admission errors added in 0.2 by the statement-level gate (000006), SQLSTATE range BG152–BG199.
 * The BG100–BG151 codes stay valid and are reused by the new functions where the cause is the same.
 */
import type { ErrorDef } from './types.js';

export const admissionV2Errors = [
  {
    code: 'BG152',
    name: 'CODE_TOO_LONG',
    message: 'the code is longer than the family allows',
    hint: 'Use a shorter code, or raise the limit: SELECT set_family_code_limit(collection, max_length) (at most 600 characters).',
  },
  {
    code: 'BG153',
    name: 'FAMILY_MOVE_REFUSED',
    message: 'the collection is registered on another table; re-registering it elsewhere would un-govern that table',
    hint: 'To move a collection to another table on purpose, record the move: SELECT move_family(collection, new_table, reason).',
  },
  {
    code: 'BG154',
    name: 'FAMILY_MOVE_NOT_PERMITTED',
    message: 'a family move needs the owner (or TRIGGER privilege) of both tables',
    hint: 'Call move_family as a role that owns, or has TRIGGER on, both the current and the new table (GRANT TRIGGER ON TABLE ... TO ...).',
  },
  {
    code: 'BG155',
    name: 'PERMIT_TTL_OVERFLOW',
    message: 'the permit lifetime runs past the end of the timestamp range',
    hint: "Give a lifetime that ends within the timestamp range, e.g. issue_permit(collection, code, interval '30 days').",
  },
  {
    code: 'BG156',
    name: 'FAMILY_LOCK_TIMEOUT',
    message: 'the family table could not be locked in time to attach or detach the gate triggers',
    hint: 'Another session holds a lock on the table (see DETAIL); find it with SELECT pid, state, query FROM pg_catalog.pg_stat_activity WHERE pid = ANY (pg_catalog.pg_blocking_pids(<your pid>)) and retry when it is done.',
  },
  {
    code: 'BG157',
    name: 'GATE_BORN_WITHOUT_OBJECT',
    message: 'commit refused: an object born in this transaction no longer exists at commit',
    hint: 'Keep the row you inserted, or retire the code before commit: SELECT retire(collection, code, reason).',
  },
  {
    code: 'BG158',
    name: 'GATE_PERMIT_CONTENDED',
    message: 'birth refused: a concurrent transaction consumed the permit or bore the code first',
    hint: 'The code is (being) born by another transaction; check birth_registry, and use a new code with its own permit if this object is a different one.',
  },
  {
    code: 'BG159',
    name: 'FAMILY_CODE_LIMIT_INVALID',
    message: 'invalid code length limit',
    hint: 'Give a limit between 1 and 600 characters (the registry index holds at most about 2,700 bytes).',
  },
  {
    code: 'BG160',
    name: 'FAMILY_TABLE_OWNER_CODE',
    message: 'the table cannot be governed: planning a query over it would run code of its owner, or it has inheritance children',
    hint: 'Remove what DETAIL names (DROP INDEX / DROP STATISTICS / ALTER TABLE ... DROP CONSTRAINT / ALTER TABLE <child> NO INHERIT <table>), or use only pg_catalog functions there; then register again: SELECT register_family(collection, table, code_column, pattern, mode).',
  },
  {
    code: 'BG161',
    name: 'GATE_TABLE_OWNER_CODE',
    message: 'commit refused: the family table cannot be checked at commit without running code of its owner, or it has inheritance children',
    hint: 'Remove what DETAIL names (DROP INDEX / DROP STATISTICS / ALTER TABLE ... DROP CONSTRAINT / ALTER TABLE <child> NO INHERIT <table>), then retry the transaction; the drift report shows it: SELECT * FROM v_drift_report WHERE finding = \'family_table_unsafe\'.',
  },
  {
    code: 'BG162',
    name: 'GATE_TRUNCATE_BORN',
    message: 'TRUNCATE refused: the table holds objects born in this transaction',
    hint: 'Delete the rows you do not want instead (layer 2 then checks each of them), or commit the births first; or retire the codes before: SELECT retire(collection, code, reason).',
  },
  {
    code: 'BG163',
    name: 'GATE_FAMILY_PARTITION',
    message: 'write refused: the family table has become a partition, and rows routed through its parent would bypass the birth writer',
    hint: 'Detach it (ALTER TABLE <parent> DETACH PARTITION <family table>), or stop governing it first: SELECT set_family_mode(collection, \'report\'); a partitioned collection cannot be governed (register_family refuses partitions).',
  },
  {
    code: 'BG164',
    name: 'GATE_CODE_COLLATION',
    message: 'write refused: the code column has a nondeterministic collation, under which different codes compare equal',
    hint: 'Give the code column a deterministic collation (drop the gate triggers, ALTER TABLE ... ALTER COLUMN ... TYPE text COLLATE "default", then SELECT register_family(...) again), or stop governing it: SELECT set_family_mode(collection, \'report\').',
  },
] as const satisfies readonly ErrorDef[];
