import type { ErrorDef } from './types.js';

export const substrateErrors = [
  {
    code: 'BG001',
    name: 'CHANGELOG_APPEND_ONLY',
    message: 'registry_changelog is append-only',
    hint: 'Record a correction as a new changelog row (e.g. retire()); never UPDATE, DELETE or TRUNCATE the changelog.',
  },
  {
    code: 'BG002',
    name: 'INVALID_ARGUMENT',
    message: 'invalid argument',
    hint: 'Check the DETAIL for the argument and the value that was refused.',
  },
] as const satisfies readonly ErrorDef[];
