/**
 * Every fenced `sql` and `sh` example of README.md runs verbatim, in order, on the demo database
 * (a copy of the migrated template after demo/*.sql), unless the README marks it right above the
 * fence with `<!-- example: skip — <reason> -->`. Other fences (crontab, ini, yaml) are
 * configuration, not commands. Every link of the README points inside the repository.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { databasesDroppedAfterAll, type TestDb } from './helpers/db.js';
import { projectRoot } from '../src/paths.js';

export interface Example {
  lang: string;
  line: number;
  code: string;
  skip: string | null;
}

export function extractExamples(markdown: string): Example[] {
  const lines = markdown.split('\n');
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w+)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    let j = start - 1;
    while (j >= 0 && lines[j]!.trim() === '') j--;
    const mark = j >= 0 ? /^<!-- example: skip\s*[—-]\s*(.*?)\s*-->$/.exec(lines[j]!) : null;
    out.push({ lang: open[1]!, line: start + 1, code: body.join('\n'), skip: mark ? mark[1]! : null });
  }
  return out;
}

function run(cmd: string, args: string[], env: Record<string, string>, input?: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { cwd: projectRoot, env: { ...process.env, ...env }, maxBuffer: 64 << 20, timeout: 300_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}` });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');
const examples = extractExamples(readme);
const runnable = examples.filter((e) => (e.lang === 'sql' || e.lang === 'sh') && e.skip === null);
const databases = databasesDroppedAfterAll();

describe('README examples', () => {
  let demo: TestDb;
  beforeAll(async () => {
    demo = await databases.fresh();
    for (const f of readdirSync(join(projectRoot, 'demo')).filter((f) => f.endsWith('.sql')).sort()) {
      const r = await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', join('demo', f), demo.url], {});
      expect(r.code, `demo/${f}: ${r.out}`).toBe(0);
    }
  });

  it('every skipped example says why; there are runnable sql and sh examples', () => {
    for (const e of examples.filter((x) => x.skip !== null)) expect(e.skip!.length, `README line ${e.line}`).toBeGreaterThan(10);
    expect(runnable.filter((e) => e.lang === 'sql').length).toBeGreaterThan(3);
    expect(runnable.filter((e) => e.lang === 'sh').length).toBeGreaterThan(3);
  });

  it('every runnable example runs verbatim on the demo database, in README order', async () => {
    // never run what changes the machine rather than the demo database: such examples must be marked
    for (const e of runnable) expect(e.code, `README.md line ${e.line} must be marked skip`).not.toMatch(/npm (install|i) -g|\bsudo\b|apt-get|^\s*make /m);
    for (const e of runnable) {
      const t0 = Date.now();
      const r =
        e.lang === 'sql'
          ? await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-f', '-', demo.url], {}, e.code)
          : await run('bash', ['-euo', 'pipefail', '-c', e.code], { DATABASE_URL: demo.url });
      console.log(`README.md line ${e.line} (${e.lang}): exit ${r.code} in ${Date.now() - t0} ms`);
      expect(r.code, `README.md line ${e.line} (${e.lang}):\n${e.code}\n--- output:\n${r.out.slice(0, 4000)}`).toBe(0);
    }
  }, 600_000);

  it('links point inside the repository, at files that exist', () => {
    const links = [...readme.matchAll(/\]\(([^)]+)\)/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(2);
    for (const l of links) {
      expect(l, 'no links outside the repository').not.toMatch(/^(https?:|\.\.\/|\/)/);
      expect(existsSync(join(projectRoot, l.split('#')[0]!)), l).toBe(true);
    }
  });
});
