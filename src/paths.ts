import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';

/** Project root (the directory holding package.json). */
export const projectRoot = resolve(import.meta.dirname, '..');
export const migrationsDir = resolve(projectRoot, 'migrations');
export const packageVersion: string = (
  JSON.parse(readFileSync(resolve(projectRoot, 'package.json'), 'utf8')) as { version: string }
).version;
