/**
 * birthgate — command-line entry point. Each command lives in ./commands/<name>.ts and exports
 * `usage` and `run(argv) => exit code`. Exit codes: 0 ok, 1 failure, 2 usage error, others as
 * documented per command.
 */
import { ZodError } from 'zod';
import { CliError, describeError } from './io.js';

type Command = { usage: string; run(argv: string[]): Promise<number> };
const commands: Record<string, () => Promise<Command>> = {
  migrate: () => import('./commands/migrate.js'),
  consume: () => import('./commands/consume.js'),
  status: () => import('./commands/status.js'),
  rehearse: () => import('./commands/rehearse.js'),
  packet: () => import('./commands/packet.js'),
  adopt: () => import('./commands/adopt.js'),
  backfill: () => import('./commands/backfill.js'),
  outbox: () => import('./commands/outbox.js'),
};

function help(): string {
  return `usage: birthgate <command> [options]\n\ncommands: ${Object.keys(commands).join(', ')}\nrun 'birthgate <command> --help' for a command's options.\nConnection: DATABASE_URL (required), BIRTHGATE_SCHEMA (default birthgate).`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    console.error(`birthgate: unknown command '${name}'\n${help()}`);
    return 2;
  }
  const cmd = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(cmd.usage);
    return 0;
  }
  return cmd.run(rest);
}

const json = process.argv.includes('--json');
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    let exit = 1;
    let err: ReturnType<typeof describeError>;
    if (e instanceof CliError) {
      exit = e.exitCode;
      err = { message: e.message };
    } else if (e instanceof ZodError) {
      exit = 2;
      err = { message: `invalid configuration: ${e.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ')}` };
    } else err = describeError(e);
    if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: err })}\n`);
    const lines = [`birthgate: ${err.message}${err.code ? ` [SQLSTATE ${err.code}]` : ''}`];
    if (err.detail) lines.push(`DETAIL: ${err.detail}`);
    if (err.hint) lines.push(`HINT: ${err.hint}`);
    console.error(lines.join('\n'));
    process.exitCode = exit;
  },
);
