/** Shared output helpers for CLI commands: JSON mode, terminal progress, errors with SQLSTATE. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** A progress line on a terminal (stderr, rewritten in place); silent when not a TTY. */
export function progress(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${text}`);
}
export function progressDone(): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
}

/** Format a pg error with its SQLSTATE, DETAIL and HINT for a human. */
export function describeError(e: unknown): { message: string; code?: string; detail?: string; hint?: string } {
  const err = e as { message?: string; code?: string; detail?: string; hint?: string };
  const out: { message: string; code?: string; detail?: string; hint?: string } = { message: err?.message ?? String(e) };
  if (err?.code) out.code = err.code;
  if (err?.detail) out.detail = err.detail;
  if (err?.hint) out.hint = err.hint;
  return out;
}
