import type { ErrorDef } from './types.js';

export const substrateErrors = [
  {
    code: 'BG001',
    name: 'CHANGELOG_APPEND_ONLY',
    message: 'registry_changelog is append-only',
    hint: 'Record a correction as a new changelog row (e.g. retire()); never UPDATE, DELETE or TRUNCATE the changelog.',
  },
  {
    code: 'BG003',
    name: 'INSTALL_SCHEMA_EXISTS',
    message: 'the package schema already exists',
    hint: 'Upgrade an existing installation with the migrator (birthgate migrate up), or drop the schema first.',
  },
] as const satisfies readonly ErrorDef[];
