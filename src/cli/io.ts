/**
 * Shared output helpers for CLI commands: exit codes, JSON mode, terminal progress, errors
 * classified (usage, configuration, connection, database, not installed, interrupted) and printed
 * with SQLSTATE/DETAIL/HINT for a human or as one JSON line for a machine.
 */

/** Exit codes shared by every command (a command's help lists the ones it uses). */
export const EXIT = {
  OK: 0,
  /** the database could not be reached or an SQL statement failed */
  FAILURE: 1,
  /** bad flags, arguments or configuration (DATABASE_URL, BIRTHGATE_SCHEMA) */
  USAGE: 2,
  /** a check found something (status --fail-on, rehearse) */
  FINDINGS: 3,
  /** interrupted by SIGINT (128 + 2) */
  SIGINT: 130,
  /** interrupted by SIGTERM (128 + 15) */
  SIGTERM: 143,
} as const;

export const COMMON_EXIT_CODES = `  0    ok
  1    failure: the database could not be reached, or a statement failed (SQLSTATE, DETAIL, HINT printed)
  2    bad flags, arguments or configuration (DATABASE_URL, BIRTHGATE_SCHEMA)
  130  interrupted by SIGINT, 143 by SIGTERM`;

export type ErrorClass = 'usage' | 'config' | 'connection' | 'database' | 'not_installed' | 'interrupted' | 'failure' | 'internal';

/** What every failure prints: `class` says which kind; `sqlstate` only for PostgreSQL errors, `node_code` for system errors. */
export interface ErrorInfo {
  class: ErrorClass;
  message: string;
  sqlstate?: string;
  detail?: string;
  hint?: string;
  node_code?: string;
}

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.FAILURE,
    readonly errorClass: ErrorClass = exitCode === EXIT.USAGE ? 'usage' : 'failure',
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** A usage error (exit 2): a short message; the text output points at the command's --help. */
export function usageError(command: string, message: string): CliError {
  return new CliError(`${command}: ${message}`, EXIT.USAGE, 'usage', `run 'birthgate ${command} --help' for the options`);
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

const SQLSTATE = /^[0-9A-Z]{5}$/;

function schemaName(): string {
  return process.env.BIRTHGATE_SCHEMA || 'birthgate';
}

/**
 * What to do about the server errors an operator meets when a cron job, a timer or a shell runs a
 * command, and which PostgreSQL reports without a HINT. A HINT from the server always wins.
 */
export const OPERATOR_HINTS: Readonly<Record<string, string>> = {
  '57014':
    'The statement was canceled: statement_timeout (check SHOW statement_timeout; a role or database setting applies to cron jobs too), or pg_cancel_backend. Nothing of the canceled transaction was kept; run it again, with a larger statement_timeout for this role (ALTER ROLE ... SET statement_timeout = ...) or a smaller batch.',
  '55P03':
    'A lock could not be taken within lock_timeout (SHOW lock_timeout). Nothing was changed; run it again later, or find the holder in pg_stat_activity / pg_locks.',
  '25P03':
    'The session stayed idle inside a transaction longer than idle_in_transaction_session_timeout and was closed. Nothing of that transaction was kept; run it again.',
  '25006':
    'This command writes, but the transaction or server is read-only (default_transaction_read_only, or a hot standby). Point DATABASE_URL at the primary, or run it with default_transaction_read_only = off.',
  '40001':
    'A serialization failure: another session changed the same rows. Nothing was changed; run it again (a cron job simply retries at its next run). Run the package functions under READ COMMITTED, the default.',
  '40P01': 'A deadlock with another session was broken by canceling this command. Nothing was changed; run it again.',
  '53300': 'The server has no free connection slot (max_connections, or the role\'s CONNECTION LIMIT). Run it again later, or use a pooler.',
  '57P01': 'The server shut down or terminated this session (pg_terminate_backend). Nothing of the open transaction was kept; run it again.',
  '57P03': 'The server is starting up or shutting down. Run it again once it accepts connections.',
  '28P01': 'The password in DATABASE_URL (or PGPASSWORD / ~/.pgpass) was not accepted for that role.',
  '28000': 'The server refused this role or host (pg_hba.conf, or the role lacks LOGIN). Check the user in DATABASE_URL.',
  '3D000': 'The database named in DATABASE_URL does not exist on that server. Check its path part (postgresql://user@host/DATABASE).',
  '42501':
    'The role in DATABASE_URL lacks a privilege for this command: grant it the package role the README names for it (GRANT birthgate_admin / birthgate_delivery / birthgate_reader TO ...;).',
};

/** Classify any thrown value: a PostgreSQL error (it carries a severity and a five-character SQLSTATE), a system error, or ours. */
export function describeError(e: unknown): ErrorInfo {
  if (e instanceof CliError) {
    const out: ErrorInfo = { class: e.errorClass, message: e.message };
    if (e.hint) out.hint = e.hint;
    return out;
  }
  const err = (e ?? {}) as {
    message?: string;
    code?: unknown;
    detail?: string;
    hint?: string;
    severity?: unknown;
    syscall?: string;
    errors?: unknown[];
    cmd?: string;
    stderr?: unknown;
  };
  let message = redact(typeof err.message === 'string' && err.message ? err.message : String(e));
  if (typeof err.cmd === 'string') {
    // a child process (pg_dump) failed: its stderr says why; its command line may hold a password
    const why = redact(String(err.stderr ?? '').trim()).split('\n').slice(0, 2).join(' ') || `${err.cmd.split(' ')[0]} failed`;
    const refused = /connection to server|could not connect|Connection refused|No such file or directory/i.test(why);
    return { class: refused ? 'connection' : 'failure', message: why };
  }
  const code = typeof err.code === 'string' ? err.code : undefined;
  if (code && SQLSTATE.test(code) && typeof err.severity === 'string') {
    const out: ErrorInfo = { class: 'database', message, sqlstate: code };
    if (err.detail) out.detail = err.detail;
    if (err.hint) out.hint = err.hint;
    const s = schemaName();
    if (!out.hint && OPERATOR_HINTS[code]) out.hint = OPERATOR_HINTS[code];
    // the server refused the connection itself (login, database, slots, start-up): not a statement that failed
    if (/^(08|28)/.test(code) || code === '3D000' || code === '53300' || code === '57P03') out.class = 'connection';
    if (code === '3F000' || ((code === '42P01' || code === '42883') && message.includes(s))) {
      out.class = 'not_installed';
      out.hint ??= `birthgate is not installed (or not up to date) in schema ${s} of this database: check with \`birthgate migrate status\`, install with \`birthgate migrate up\``;
    }
    return out;
  }
  if (code || err.syscall) {
    // node system errors (ECONNREFUSED, ENOENT, ...) and pg's connection errors: not SQLSTATEs
    if (!err.message && Array.isArray(err.errors) && err.errors.length) {
      message = err.errors.map((x) => (x as Error).message).join('; ');
    }
    const out: ErrorInfo = { class: 'connection', message };
    if (code) out.node_code = code;
    if (code && /^(ECONNREFUSED|ENOENT|EHOSTUNREACH|ENOTFOUND|ETIMEDOUT|ECONNRESET|EAI_AGAIN)$/.test(code)) {
      out.hint = 'Is the server running and accepting connections there? Check the host, port or socket directory in DATABASE_URL.';
    }
    return out;
  }
  if (/SASL|client password must be a string|password authentication/i.test(message)) {
    return {
      class: 'connection',
      message,
      hint: 'The server asks this role for a password and DATABASE_URL gives none (or a wrong one): put it in the URL (postgresql://user:PASSWORD@host/db, percent-encoded), in PGPASSWORD, or in ~/.pgpass.',
    };
  }
  if (/Connection terminated unexpectedly/i.test(message)) {
    return {
      class: 'connection',
      message,
      hint: 'The server (or something between: a proxy, a firewall, TLS settings) closed the connection before it was set up. Check the host, port and sslmode in DATABASE_URL and the server log.',
    };
  }
  if (/Connection refused|Connection terminated|timeout expired|self[- ]signed|SSL/i.test(message)) {
    return { class: 'connection', message };
  }
  return { class: 'internal', message };
}

/** Hide the password of any connection URL in a message. */
export function redact(text: string): string {
  return text.replace(/(postgres(?:ql)?:\/\/[^:/@\s]*):[^@\s]*@/g, '$1:***@');
}

/** The lines a human reads on stderr. */
export function errorText(prefix: string, info: ErrorInfo): string {
  const tag = info.sqlstate ? ` [SQLSTATE ${info.sqlstate}]` : info.node_code ? ` [${info.node_code}]` : '';
  const lines = [`${prefix}: ${info.message}${tag}`];
  if (info.detail) lines.push(`DETAIL: ${info.detail}`);
  if (info.hint) lines.push(`HINT: ${info.hint}`);
  return lines.join('\n');
}

/** The exit code of a failure class when the thrower did not say. */
export function exitCodeOf(e: unknown, info: ErrorInfo): number {
  if (e instanceof CliError) return e.exitCode;
  return info.class === 'usage' || info.class === 'config' ? EXIT.USAGE : EXIT.FAILURE;
}

// --- interruption -------------------------------------------------------------------------

let received: NodeJS.Signals | null = null;
let cooperative = false;

/** The signal that interrupted the run, if any. */
export function interruptedBy(): NodeJS.Signals | null {
  return received;
}
export function recordSignal(signal: NodeJS.Signals): void {
  const first = received === null;
  received ??= signal;
  if (first && cooperative) {
    // say so at once: the batch in flight may take a while (a lock wait, a long statement)
    progressDone();
    process.stderr.write(`birthgate: ${signal} received: stopping after the batch in flight (send it again to stop at once)\n`);
  }
}
/**
 * A command that stops cleanly on its own (finishes the batch in flight) calls this; the first
 * SIGINT/SIGTERM then only sets interruptedBy(), a second one ends the process at once.
 */
export function handleInterruptsCooperatively(): void {
  cooperative = true;
}
export function isCooperative(): boolean {
  return cooperative;
}
export function signalExitCode(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? EXIT.SIGINT : EXIT.SIGTERM;
}

/**
 * A failure that a command reports itself, next to its own progress fields: the error classified,
 * its exit code, and, when SIGINT/SIGTERM came first, reported as interrupted (exit 130/143) as the
 * shared handler in main.ts would.
 */
export function failureOf(e: unknown): { error: ErrorInfo; exit: number } {
  let error = describeError(e);
  let exit = exitCodeOf(e, error);
  const signal = interruptedBy();
  if (signal && error.class !== 'usage' && error.class !== 'config') {
    error = { ...error, class: 'interrupted', message: `interrupted by ${signal}: ${error.message}` };
    exit = signalExitCode(signal);
  }
  return { error, exit };
}
