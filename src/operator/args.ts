/** Flag parsing for the CLI commands: node:util parseArgs, then zod; any problem is a short usage error (exit 2). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { z } from 'zod';
import { usageError } from '../cli/io.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * node's parseArgs refuses `--count -1` (a value that starts with a dash) with three lines of
 * parser text; join such a value to its flag (`--count=-1`) so the range check can say what is wrong.
 */
export function joinDashValues(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    const opt = a.startsWith('--') ? options[a.slice(2)] : undefined;
    if (opt?.type === 'string' && next !== undefined && /^-[0-9.]/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** parseArgs with short, one-line messages. */
export function parseCli(command: string, argv: string[], options: Options, allowPositionals = false) {
  try {
    return parseArgs({ args: joinDashValues(argv, options), options, strict: true, allowPositionals });
  } catch (e) {
    // node's advice on positionals that start with '-' ("To specify a positional argument …") is noise here
    const first = (e as Error).message.split('\n')[0]!.replace(/\. To specify a positional argument.*$/, '');
    throw usageError(command, first.slice(0, 200));
  }
}

/** Zod issues as `--flag: message (got "value")`, one line. */
export function zodFlagMessage(error: z.ZodError, values: Record<string, unknown>): string {
  return error.issues
    .map((i) => {
      const key = String(i.path[0] ?? 'value');
      const got = values[key];
      const shown = typeof got === 'string' ? ` (got ${JSON.stringify(got.slice(0, 100))})` : '';
      return `${i.message.startsWith('--') ? '' : `--${key}: `}${i.message}${shown}`;
    })
    .join('; ');
}

export function parseFlags<S extends z.ZodType>(command: string, _usage: string, argv: string[], options: Options, schema: S): z.infer<S> {
  const values = parseCli(command, argv, options).values as Record<string, unknown>;
  const result = schema.safeParse(values);
  if (!result.success) throw usageError(command, zodFlagMessage(result.error, values));
  return result.data;
}
