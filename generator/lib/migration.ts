import type { Ctx } from './ctx.js';
import { lit, qi } from './sql.js';

/**
 * One versioned migration. `up` and `down` return SQL blocks (statements or DO/function
 * bodies) that the generator joins into `migrations/<id>_<slug>.sql`.
 * A migration that has been released (listed in migrations.sha256) is frozen: change a
 * function by replacing it in a later migration, never by editing an earlier one.
 */
export interface Migration {
  readonly id: string;
  readonly slug: string;
  readonly summary: string;
  up(c: Ctx): string[];
  down(c: Ctx): string[];
}

export type CommentTarget = 'SCHEMA' | 'TABLE' | 'VIEW' | 'COLUMN' | 'FUNCTION' | 'PROCEDURE' | 'INDEX' | 'SEQUENCE';

/** COMMENT ON <kind> <name> IS '<text>'; — `name` is already quoted/qualified. */
export function comment(kind: CommentTarget, name: string, text: string): string {
  return `COMMENT ON ${kind} ${name} IS ${lit(text)};`;
}

/** COMMENT ON TRIGGER name ON table. */
export function commentTrigger(trigger: string, table: string, text: string): string {
  return `COMMENT ON TRIGGER ${qi(trigger)} ON ${table} IS ${lit(text)};`;
}

/** Column comments for one table, in declaration order. */
export function columnComments(c: Ctx, table: string, cols: Record<string, string>): string {
  return Object.entries(cols)
    .map(([col, text]) => comment('COLUMN', `${c.q(table)}.${qi(col)}`, text))
    .join('\n');
}
