/**
 * Running the CLI as a child process (node bin/birthgate.mjs ...), the way a cron job does, for the
 * tests that check its exit codes and output.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { expect } from 'vitest';

export const root = resolve(import.meta.dirname, '..', '..');

export interface CliRun {
  /** the exit code; null when the process ended by a signal */
  code: number | null;
  signal: string | null;
  /** true when the deadline had to send it SIGTERM (whatever it did then) */
  killed: boolean;
  stdout: string;
  stderr: string;
}

/**
 * Runs `cmd args` (by default node bin/birthgate.mjs) in the repository root. `env` is added to the
 * environment; a key whose value is undefined is removed from it.
 */
export function runCommand(cmd: string, args: string[], env: Record<string, string | undefined> = {}, timeout = 60_000): Promise<CliRun> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  return new Promise((done) => {
    execFile(cmd, args, { cwd: root, env: childEnv, timeout, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: unknown; signal?: string | null; killed?: boolean }) | null;
      done({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, killed: e?.killed ?? false, stdout, stderr });
    });
  });
}

/** `birthgate <args>` as a child process. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, timeout = 60_000): Promise<CliRun> {
  return runCommand(process.execPath, ['bin/birthgate.mjs', ...args], env, timeout);
}

/** The one JSON line --json prints on stdout (fails the test when there is not exactly one). */
export function oneJsonLine(stdout: string): Record<string, any> {
  const lines = stdout.split('\n').filter((l) => l.length > 0);
  expect(lines, `stdout must be exactly one JSON line, got ${JSON.stringify(stdout)}`).toHaveLength(1);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}
