/** Flag parsing for the operator commands: node:util parseArgs, then zod; any problem is exit 2. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { z } from 'zod';
import { CliError } from '../cli/io.js';

export function parseFlags<S extends z.ZodType>(
  command: string,
  usage: string,
  argv: string[],
  options: NonNullable<ParseArgsConfig['options']>,
  schema: S,
): z.infer<S> {
  let values: Record<string, unknown>;
  try {
    const parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
    values = parsed.values as Record<string, unknown>;
  } catch (e) {
    throw new CliError(`${command}: ${(e as Error).message}\n${usage}`, 2);
  }
  const result = schema.safeParse(values);
  if (!result.success) {
    const why = result.error.issues.map((i) => `--${i.path.join('.') || 'value'}: ${i.message}`).join('; ');
    throw new CliError(`${command}: ${why}\n${usage}`, 2);
  }
  return result.data;
}
