/**
 * `npm run generate [-- --schema NAME] [--out DIR]`
 * Writes the generated migrations, the install script and the TypeScript vocabularies/errors.
 * Generated files that no longer correspond to a source (e.g. an old install script) are listed
 * but never deleted silently: released migrations are frozen and must stay.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generate } from './generate.js';
import { DEFAULT_SCHEMA } from './lib/ctx.js';

const root = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    schema: { type: 'string', default: DEFAULT_SCHEMA },
    out: { type: 'string', default: root },
    quiet: { type: 'boolean', default: false },
  },
});
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
const files = generate({ schema: values.schema!, version });
const out = resolve(values.out!);
let changed = 0;
for (const [rel, content] of files) {
  const path = join(out, rel);
  const before = existsSync(path) ? readFileSync(path, 'utf8') : null;
  if (before === content) continue;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  changed++;
  if (!values.quiet) console.log(`${before === null ? 'created' : 'updated'} ${rel}`);
}
if (!values.quiet) console.log(`generate: ${files.size} files for schema ${values.schema} (${changed} written) in ${out}`);
