import type { ErrorDef } from './types.js';

/** Live-scale sweeps (adoption, candidate-seed backfill, load guard): BG600–BG649. */
export const sweepErrors = [
  {
    code: 'BG600',
    name: 'SWEEP_INVALID_ARGUMENT',
    message: 'invalid argument to a sweep function',
    hint: 'p_batch_size must be between 1 and 100000, p_max_batches_per_minute NULL or 1..60000, p_max_batches NULL or at least 1, flags not NULL, thresholds not negative; see DETAIL for the value refused. Example: SELECT * FROM birthgate.sweep_adopt(\'my_family\', true, 5000);',
  },
  {
    code: 'BG601',
    name: 'SWEEP_UNKNOWN_FAMILY',
    message: 'unknown family',
    hint: 'Adopt a registered family: SELECT collection_name FROM birthgate.birth_family; register it first with SELECT birthgate.register_family(...).',
  },
  {
    code: 'BG602',
    name: 'SWEEP_FAMILY_NOT_TABLE',
    message: 'the family table is missing or not an ordinary table',
    hint: 'Nothing was read. Adoption reads only ordinary tables, or partitioned tables whose every partition is one (no view, ON SELECT rule, foreign table or materialized view): point the family at one, or check SELECT * FROM birthgate.v_drift_report;',
  },
  {
    code: 'BG603',
    name: 'SWEEP_CODE_COLUMN_UNSAFE',
    message: 'the family code column is missing or not of a type adoption reads',
    hint: 'Nothing was read. The code column must exist, not be generated, and be text, varchar or name (or a domain over one); fix the table, then re-register the family.',
  },
  {
    code: 'BG604',
    name: 'SWEEP_UNKNOWN_SWEEP',
    message: 'unknown sweep cursor',
    hint: 'Name an existing cursor: SELECT sweep_name FROM birthgate.v_sweep_status;',
  },
  {
    code: 'BG605',
    name: 'SWEEP_INVALID_SETTING',
    message: 'a load-guard setting cannot be read',
    hint: 'Fix or reset the setting named in DETAIL, e.g. ALTER DATABASE current SET birthgate.sweep_max_lock_wait = \'1s\'; or RESET it.',
  },
  {
    code: 'BG606',
    name: 'SWEEP_GAVE_UP',
    message: 'a sweep batch kept failing; the sweep stopped',
    hint: 'Read the error in DETAIL and SELECT last_error, error_count FROM birthgate.v_sweep_status; fix the cause, then run the sweep again: it resumes from its cursor.',
  },
  {
    code: 'BG607',
    name: 'SWEEP_FAMILY_UNSAFE',
    message: 'the family table cannot be read safely with the package rights',
    hint: 'Nothing was read. Adoption reads a family table as the package owner: undo what DETAIL names (row-level security the package owner is subject to, no SELECT for it, an index, CHECK, statistics or partition-key expression using functions outside pg_catalog, an inheritance child), then re-register the family.',
  },
] as const satisfies readonly ErrorDef[];
