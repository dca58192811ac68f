import { dirname, resolve } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';

/**
 * Project root: the nearest directory above this module holding package.json. The same code runs
 * from src/ (tsx, tests) and compiled from dist/src/ (the CLI), so the depth is not fixed.
 */
function findRoot(from: string): string {
  for (let d = from; ; d = dirname(d)) {
    if (existsSync(resolve(d, 'package.json')) && existsSync(resolve(d, 'migrations'))) return d;
    if (dirname(d) === d) return resolve(from, '..');
  }
}

export const projectRoot = findRoot(import.meta.dirname);
export const migrationsDir = resolve(projectRoot, 'migrations');
export const packageVersion: string = (
  JSON.parse(readFileSync(resolve(projectRoot, 'package.json'), 'utf8')) as { version: string }
).version;
