/**
 * Connection and schema configuration, validated with zod. Every command reads it the same way:
 * DATABASE_URL (required) and BIRTHGATE_SCHEMA (default `birthgate`).
 */
import { z } from 'zod';

export const ConnectionConfig = z.object({
  databaseUrl: z
    .string({ error: 'DATABASE_URL is not set' })
    .min(1, 'DATABASE_URL is empty')
    .refine((v) => /^postgres(ql)?:\/\//.test(v), 'DATABASE_URL must be a postgres:// or postgresql:// URL'),
  schema: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,40}$/, 'BIRTHGATE_SCHEMA must be a plain lower-case identifier')
    .default('birthgate'),
});
export type ConnectionConfig = z.infer<typeof ConnectionConfig>;

export function connectionFromEnv(env: NodeJS.ProcessEnv = process.env): ConnectionConfig {
  return ConnectionConfig.parse({ databaseUrl: env.DATABASE_URL, schema: env.BIRTHGATE_SCHEMA || undefined });
}
