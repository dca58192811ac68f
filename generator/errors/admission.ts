/**
 * Admission control errors (issue 3), SQLSTATE range BG100–BG199.
 * BG10x families, BG11x permits, BG12x layer-1 gate, BG13x layer-2 gate, BG14x retire, BG15x audit trail and down migration.
 */
import type { ErrorDef } from './types.js';

export const admissionErrors = [
  // --- families -------------------------------------------------------------------------
  {
    code: 'BG100',
    name: 'FAMILY_UNKNOWN',
    message: 'unknown family',
    hint: 'Register the table first with register_family(collection, table, code_column, code_pattern, mode), or pass the name of a registered collection (SELECT collection_name FROM birth_family).',
  },
  {
    code: 'BG101',
    name: 'FAMILY_COLLECTION_INVALID',
    message: 'invalid collection name',
    hint: 'A collection name is a plain lower-case identifier: ^[a-z][a-z0-9_]{0,62}$ (e.g. dot_tools).',
  },
  {
    code: 'BG102',
    name: 'FAMILY_TABLE_INVALID',
    message: 'the table cannot be governed',
    hint: 'Register an existing ordinary table (not a view, partitioned table, foreign or temporary table, nor a table of the package schema).',
  },
  {
    code: 'BG103',
    name: 'FAMILY_CODE_COLUMN_INVALID',
    message: 'invalid code column',
    hint: 'Name an existing, non-generated column of the table whose type is text-like (text, varchar, char, name or a domain over them).',
  },
  {
    code: 'BG104',
    name: 'FAMILY_PATTERN_INVALID',
    message: 'invalid code pattern',
    hint: 'Give a non-empty POSIX regular expression that PostgreSQL accepts (anchor it, e.g. ^[A-Z]+-[0-9]+$).',
  },
  {
    code: 'BG105',
    name: 'FAMILY_MODE_INVALID',
    message: 'invalid family mode',
    hint: 'Use one of off, report, enforce.',
  },
  {
    code: 'BG106',
    name: 'FAMILY_TABLE_TAKEN',
    message: 'the table is already registered under another collection',
    hint: 'A table belongs to one family: re-register it under its existing collection name, or pick another table.',
  },
  {
    code: 'BG107',
    name: 'FAMILY_TABLE_NOT_OWNED',
    message: 'only the owner of a table can register it as a family',
    hint: 'Call register_family as the table owner (or a member of the owning role), or ask the owner to do it.',
  },
  // --- permits --------------------------------------------------------------------------
  {
    code: 'BG110',
    name: 'PERMIT_ALREADY_LIVE',
    message: 'a live permit already exists for this code',
    hint: 'Use the live permit (see DETAIL), or revoke it with revoke_permit(permit_id, reason) before issuing another.',
  },
  {
    code: 'BG111',
    name: 'PERMIT_NOT_FOUND',
    message: 'no such permit',
    hint: 'Pass the permit_id of an existing permit (SELECT permit_id, state FROM birth_admission_permit WHERE ...).',
  },
  {
    code: 'BG112',
    name: 'PERMIT_NOT_ISSUED',
    message: 'the permit is not live (ISSUED); CONSUMED, EXPIRED and REVOKED are final',
    hint: 'Only an ISSUED permit can be consumed, revoked or expired; issue a new permit if the code still needs one.',
  },
  {
    code: 'BG113',
    name: 'PERMIT_TTL_INVALID',
    message: 'invalid permit lifetime',
    hint: "Give a positive interval, e.g. issue_permit(collection, code, interval '24 hours').",
  },
  {
    code: 'BG114',
    name: 'PERMIT_CODE_INVALID',
    message: 'the code does not satisfy the family code rule',
    hint: 'Issue permits only for non-empty codes that match the family code_pattern (SELECT code_pattern FROM birth_family WHERE collection_name = ...).',
  },
  {
    code: 'BG115',
    name: 'PERMIT_ALREADY_BORN',
    message: 'the code is already in the birth registry',
    hint: 'A code is born once; an object that already exists needs no permit. Pick a new code.',
  },
  {
    code: 'BG116',
    name: 'PERMIT_IMMUTABLE',
    message: 'permits are changed only by their lifecycle transitions',
    hint: 'Use issue_permit, revoke_permit and expire_permits; a permit is never deleted and its identity (collection, code, issue) never changes.',
  },
  {
    code: 'BG117',
    name: 'REASON_REQUIRED',
    message: 'a reason is required',
    hint: 'Give a non-empty reason; it is kept for the audit trail.',
  },
  // --- layer 1: BEFORE gate -------------------------------------------------------------
  {
    code: 'BG120',
    name: 'GATE_NO_PERMIT',
    message: 'birth refused: no live admission permit for this code',
    hint: "Issue a permit first: SELECT issue_permit(collection, code); then insert the row within the permit's lifetime.",
  },
  {
    code: 'BG121',
    name: 'GATE_PERMIT_EXPIRED',
    message: 'birth refused: the admission permit for this code has expired',
    hint: 'Issue a new permit with issue_permit(collection, code, ttl) and retry within its lifetime.',
  },
  {
    code: 'BG122',
    name: 'GATE_PERMIT_REVOKED',
    message: 'birth refused: the admission permit for this code was revoked',
    hint: 'Find out why it was revoked (revoke_reason in birth_admission_permit); issue a new permit only if the birth is still wanted.',
  },
  {
    code: 'BG123',
    name: 'GATE_PATTERN_MISMATCH',
    message: 'birth refused: the code does not match the family code pattern',
    hint: 'Use a code that matches the family code_pattern (see DETAIL), or have an admin correct the pattern with register_family.',
  },
  {
    code: 'BG124',
    name: 'GATE_NULL_CODE',
    message: 'birth refused: the code is NULL or empty',
    hint: 'Every governed row needs a code: set the code column to a permitted code.',
  },
  {
    code: 'BG125',
    name: 'GATE_ALREADY_BORN',
    message: 'birth refused: the code is already in the birth registry',
    hint: 'A code is born once: the object already exists (or existed). Use a new code with its own permit.',
  },
  {
    code: 'BG126',
    name: 'GATE_BYPASS_REFUSED',
    message: 'the birth gate kill switch is reserved to birthgate administrators',
    hint: 'RESET the bypass setting. In an emergency, a member of the admin role sets it with SET LOCAL inside the transaction that needs it; every bypassed birth is recorded.',
  },
  {
    code: 'BG127',
    name: 'GATE_BYPASS_SETTING_INVALID',
    message: 'invalid value for the birth gate kill switch',
    hint: 'The bypass setting is on or off (empty means off).',
  },
  {
    code: 'BG128',
    name: 'GATE_MISCONFIGURED',
    message: 'the birth gate trigger does not match its family registration',
    hint: 'Re-attach the triggers with register_family(...) for this collection (see DETAIL), or remove the stray trigger.',
  },
  // --- layer 2: DEFERRABLE finalize gate ------------------------------------------------
  {
    code: 'BG130',
    name: 'GATE_UNFINALIZED',
    message: 'commit refused: an object of an enforce family is not finalized (no BORN registry row from a consumed permit)',
    hint: 'Before commit, birth the code through a permit (or restore the code/registry row that was changed); check that the BEFORE gate trigger is enabled.',
  },
  // --- retire ---------------------------------------------------------------------------
  {
    code: 'BG140',
    name: 'RETIRE_NOT_BORN',
    message: 'only a BORN object can be retired',
    hint: 'Check the registry row (SELECT status FROM birth_registry WHERE ...): unknown codes cannot be retired and RETIRED is final.',
  },
  {
    code: 'BG141',
    name: 'RETIRE_REFUSED',
    message: 'retire refused by retire_gate_check',
    hint: 'retire() only retires phantoms: remove the object from its table first (or fix its code), then retry; see retire_gate_check(collection, code).',
  },
  {
    code: 'BG142',
    name: 'RETIRE_ISOLATION',
    message: 'retire needs READ COMMITTED isolation',
    hint: 'Call retire() in a READ COMMITTED transaction, so its phantom check sees every row committed before its table lock.',
  },
  // --- audit trail ----------------------------------------------------------------------
  {
    code: 'BG150',
    name: 'VIOLATION_APPEND_ONLY',
    message: 'birth_gate_violation is append-only',
    hint: 'Violations are audit evidence: never UPDATE, DELETE or TRUNCATE them.',
  },
  {
    code: 'BG151',
    name: 'ADMISSION_DOWN_DATA_LOSS',
    message: 'the admission down migration would discard permits and gate violations',
    hint: 'Export birth_admission_permit and birth_gate_violation first; then run the down migration with the setting named in DETAIL set to on (e.g. ALTER DATABASE ... SET it, or options=-c... in the connection URL). birth_registry.permit_id references are cleared.',
  },
] as const satisfies readonly ErrorDef[];
