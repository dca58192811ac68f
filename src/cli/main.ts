/**
 * birthgate — command-line entry point (compiled to dist/src/cli/main.js; bin/birthgate.mjs runs it).
 *
 * Every command is registered in `commands` below, and only there: a module under ./commands/
 * that exports `usage` (its help text, with its exit codes) and `run(argv) => exit code`.
 * This file owns what is common: --version, help, the one JSON line on every failure with
 * --json, the classification of errors, and SIGINT/SIGTERM (non-zero exit).
 */
import { packageVersion } from '../paths.js';
import {
  COMMON_EXIT_CODES,
  EXIT,
  describeError,
  errorText,
  exitCodeOf,
  interruptedBy,
  isCooperative,
  printJson,
  recordSignal,
  signalExitCode,
  type ErrorInfo,
} from './io.js';

export interface Command {
  usage: string;
  run(argv: string[]): Promise<number>;
}

interface CommandSpec {
  /** One line for the top-level help: what the command does. */
  summary: string;
  load: () => Promise<Command>;
}

/** The command registry: one entry per command, in the order the help lists them. */
export const commands: Record<string, CommandSpec> = {
  migrate: { summary: 'apply (up), roll back (down) or list (status) the schema migrations', load: () => import('./commands/migrate.js') },
  status: { summary: 'health probe: migrations, handoff heartbeat and lag, drift findings (exit 3 on findings)', load: () => import('./commands/status.js') },
  metrics: { summary: 'operator metrics in the Prometheus text format, from v_metrics (stdout, or --textfile for node_exporter)', load: () => import('./commands/metrics.js') },
  consume: { summary: 'run the governance handoff consumer (for cron, systemd timers, Kubernetes CronJobs)', load: () => import('./commands/consume.js') },
  rehearse: { summary: 'apply pending migrations in one transaction, check, ROLLBACK: proves what would change', load: () => import('./commands/rehearse.js') },
  packet: { summary: 'write an operator apply packet (apply.sql, rollback.sql, verify.sql, checksums)', load: () => import('./commands/packet.js') },
  adopt: { summary: 'adopt the existing rows of a family table (resumable sweep; --dry-run lists what would be adopted and what cannot)', load: () => import('./commands/adopt.js') },
  backfill: { summary: 'seed governance_candidate_state for objects born before the handoff existed (resumable sweep)', load: () => import('./commands/backfill.js') },
  outbox: { summary: 'outbox delivery operations: status, dead-letters, redrive, purge', load: () => import('./commands/outbox.js') },
};

export function help(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  return [
    `birthgate ${packageVersion} — pre-birth admission control and the governance handoff, inside PostgreSQL`,
    '',
    'usage: birthgate <command> [options]',
    '       birthgate <command> --help     a command\'s options and exit codes',
    '       birthgate --version',
    '',
    'commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'environment:',
    '  DATABASE_URL      postgres:// or postgresql:// URL of the database (required by every command that connects)',
    '  BIRTHGATE_SCHEMA  the package schema (default birthgate)',
    '',
    'every command accepts --json: exactly one JSON line on stdout, also on every failure',
    '{"ok":false,"exit_code":N,"error":{"class","message","sqlstate","detail","hint","node_code"}}',
    '',
    'exit codes (each command\'s --help adds its own):',
    COMMON_EXIT_CODES,
  ].join('\n');
}

const json = process.argv.slice(2).includes('--json');
let finished = false;

function fail(info: ErrorInfo, exit: number, prefix = 'birthgate'): void {
  if (finished) return;
  finished = true;
  if (json) printJson({ ok: false, exit_code: exit, error: info });
  console.error(errorText(prefix, info));
  process.exitCode = exit;
}

function onSignal(signal: NodeJS.Signals): void {
  const first = interruptedBy() === null;
  recordSignal(signal);
  if (first && isCooperative()) return; // the command stops after the work in flight and reports it
  fail({ class: 'interrupted', message: `interrupted by ${signal}` }, signalExitCode(signal));
  process.exit(signalExitCode(signal));
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    if (json) printJson({ ok: true, version: packageVersion });
    else console.log(`birthgate ${packageVersion}`);
    return EXIT.OK;
  }
  if (!name || name === '--json' || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    const spec = topic ? commands[topic] : undefined;
    if (spec) {
      console.log((await spec.load()).usage);
      return EXIT.OK;
    }
    if (!name || name === '--json') {
      // no command: a usage error, but the help is what a person needs
      console.error(help());
      throw usage('no command given');
    }
    console.log(help());
    return EXIT.OK;
  }
  const spec = commands[name];
  if (!spec) throw usage(`unknown command '${name.slice(0, 100)}' (commands: ${Object.keys(commands).join(', ')})`);
  const cmd = await spec.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(cmd.usage);
    return EXIT.OK;
  }
  return cmd.run(rest);
}

function usage(message: string) {
  const e = new Error(message) as Error & { usage: true };
  e.usage = true;
  return e;
}

process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

/**
 * Once the command has returned and printed its result, nothing of it may keep the process alive: a
 * cron job must not pile up processes because a socket or timer was left open on some path. The
 * timer is unref'd, so it only fires when something else still holds the event loop.
 */
function exitSoon(): void {
  setTimeout(() => process.exit(), 3000).unref();
}

main(process.argv.slice(2)).then(
  (code) => {
    finished = true;
    process.exitCode = code;
    exitSoon();
  },
  async (e: unknown) => {
    let info: ErrorInfo;
    let exit: number;
    if ((e as { usage?: boolean })?.usage) {
      info = { class: 'usage', message: (e as Error).message, hint: "run 'birthgate --help' for the commands" };
      exit = EXIT.USAGE;
    } else if ((e as { name?: string })?.name === 'ZodError') {
      const issues = (e as { issues: { path: PropertyKey[]; message: string }[] }).issues;
      info = { class: 'config', message: `invalid configuration: ${issues.map((i) => i.message).join('; ')}` };
      exit = EXIT.USAGE;
    } else {
      info = describeError(e);
      exit = exitCodeOf(e, info);
      if (info.class === 'internal' && process.env.BIRTHGATE_DEBUG) console.error(e);
    }
    const signal = interruptedBy();
    if (signal && info.class !== 'usage') {
      info = { ...info, class: 'interrupted', message: `interrupted by ${signal}: ${info.message}` };
      exit = signalExitCode(signal);
    }
    fail(info, exit);
    exitSoon();
  },
);
