#!/usr/bin/env node
// birthgate CLI launcher: runs the JavaScript compiled from src/ by `npm run build` (tsc) into dist/.
// No TypeScript at run time: nothing is compiled or cached, so it also runs on a read-only filesystem.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
const entryPath = fileURLToPath(entry);
const root = fileURLToPath(new URL('..', import.meta.url));

if (!existsSync(entryPath)) {
  const message = `birthgate is not built: ${entryPath} is missing; run \`npm run build\` (or \`make build\`) in ${root}`;
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ ok: false, exit_code: 1, error: { class: 'internal', message } })}\n`);
  }
  process.stderr.write(`birthgate: ${message}\n`);
  process.exit(1);
}

// In a source checkout (src/ present), warn when a source file is newer than the build.
const src = fileURLToPath(new URL('../src', import.meta.url));
if (existsSync(src) && !process.env.BIRTHGATE_NO_STALE_CHECK) {
  const built = statSync(entryPath).mtimeMs;
  const newer = (dir) =>
    readdirSync(dir, { withFileTypes: true }).some((d) =>
      d.isDirectory() ? newer(`${dir}/${d.name}`) : d.name.endsWith('.ts') && statSync(`${dir}/${d.name}`).mtimeMs > built,
    );
  if (newer(src)) process.stderr.write('birthgate: warning: src/ is newer than dist/; run `npm run build` (or `make build`)\n');
}

await import(entry.href);
