import type { ErrorDef } from './types.js';

/**
 * Sweeps, migration 000012: a family table the package owner is not allowed to read, or reads only
 * through row-level security. Both were a raw 42501 (or a generic BG607) before; each now names the
 * table in DETAIL and ends its HINT with the statements that fix it.
 */
export const sweepV3Errors = [
  {
    code: 'BG608',
    name: 'SWEEP_FAMILY_NO_ACCESS',
    message: 'the package owner may not read the family table',
    hint: 'Nothing was read or written. Adoption reads the family table with the package owner\'s rights: it needs USAGE on the table\'s schema and SELECT on the table (and on every partition). As the table owner or a superuser, run:',
  },
  {
    code: 'BG609',
    name: 'SWEEP_FAMILY_ROW_SECURITY',
    message: 'row-level security of the family table applies to the package owner',
    hint: 'Nothing was read or written. Adoption must see every row and must not run the table\'s policies as the package owner. Either let the package owner bypass row-level security, or switch it off on the table for the adoption only (and back on afterwards):',
  },
] as const satisfies readonly ErrorDef[];
