import type { ErrorDef } from './types.js';

/** Security hardening (reading family tables with the package's rights): BG320–BG369. */
export const securityErrors = [
  {
    code: 'BG320',
    name: 'RETIRE_CODE_TOO_LONG',
    message: 'the entity code is longer than the family allows',
    hint: 'Pass the code exactly as it was born (at most the family\'s code_max_length characters, 256 unless set); list the born codes with SELECT entity_code FROM birth_registry WHERE collection_name = ...;',
  },
  {
    code: 'BG321',
    name: 'FAMILY_TABLE_UNSAFE',
    message: 'the family table cannot be read safely with the package rights',
    hint: 'Nothing was read. Undo what DETAIL names: an ordinary (or partitioned) table whose code column is text, varchar or name (no generated column, no foreign partition, no row-level security the package owner is subject to, no index, CHECK, statistics or partition-key expression using functions outside pg_catalog, no inheritance child), then re-register the family.',
  },
] as const satisfies readonly ErrorDef[];
