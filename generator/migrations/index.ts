/** The ordered list of migrations. Append only; never reorder or remove a released one. */
import type { Migration } from '../lib/migration.js';
import { substrate } from './000001_substrate.js';

export const migrations: readonly Migration[] = [substrate];
