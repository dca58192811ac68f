/**
 * Small, dependency-free helpers for writing SQL text.
 * Every identifier that reaches SQL goes through `qi`, every literal through `lit`.
 */

/** Quote an identifier the way PostgreSQL's quote_ident() does (always quoting is simpler to review). */
export function qi(name: string): string {
  if (name.length === 0 || name.length > 63) throw new Error(`invalid identifier length: ${JSON.stringify(name)}`);
  return `"${name.replaceAll('"', '""')}"`;
}

/** The SET clause of every package function: a pinned search_path (mandatory with SECURITY DEFINER). */
export const PINNED_SEARCH_PATH = 'SET search_path = pg_catalog, pg_temp';

/** Quote a string literal (standard_conforming_strings = on). */
export function lit(value: string): string {
  if (value.includes('\0')) throw new Error('NUL byte in literal');
  return `'${value.replaceAll("'", "''")}'`;
}

/** SQL ARRAY/IN list of literals: ('a', 'b'). */
export function litList(values: readonly string[]): string {
  return `(${values.map(lit).join(', ')})`;
}

/**
 * Tagged template that strips the common leading indentation and the first/last blank line,
 * so plpgsql bodies can be written indented inside TypeScript and come out flush-left.
 */
export function sqlText(strings: TemplateStringsArray, ...values: unknown[]): string {
  let raw = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) raw += String(values[i]) + (strings[i + 1] ?? '');
  const lines = raw.replace(/^\n/, '').replace(/\n\s*$/, '').split('\n');
  const indents = lines.filter((l) => l.trim().length > 0).map((l) => /^ */.exec(l)![0].length);
  const cut = indents.length > 0 ? Math.min(...indents) : 0;
  return lines.map((l) => l.slice(cut).trimEnd()).join('\n');
}

/** Indent every non-empty line of a block by n spaces (for splicing blocks into bodies). */
export function indent(text: string, n: number): string {
  const pad = ' '.repeat(n);
  return text
    .split('\n')
    .map((l) => (l.length > 0 ? pad + l : l))
    .join('\n');
}

/**
 * Replace `from` by `to` exactly once in `sql`: a definition derived from an earlier one must not
 * drift silently when the earlier one changes (the generator stops instead).
 */
export function replaceOnce(sql: string, from: string, to: string): string {
  const i = sql.indexOf(from);
  if (i < 0 || sql.indexOf(from, i + 1) >= 0) throw new Error(`derived definition: expected exactly one ${JSON.stringify(from.slice(0, 80))}`);
  return sql.slice(0, i) + to + sql.slice(i + from.length);
}

/** CREATE FUNCTION ... -> CREATE OR REPLACE FUNCTION ... (a definition of an earlier migration, replaced). */
export const orReplace = (sql: string) => replaceOnce(sql, 'CREATE FUNCTION ', 'CREATE OR REPLACE FUNCTION ');

/** The CREATE FUNCTION statement of a generated definition of `fn` (what precedes its REVOKE ALL ... FROM PUBLIC). */
export function functionDefinitionOnly(sql: string, fn: string): string {
  const end = sql.indexOf(`\nREVOKE ALL ON FUNCTION ${fn}() FROM PUBLIC;`);
  if (end < 0) throw new Error(`derived definition: no REVOKE for ${fn}`);
  return sql.slice(0, end);
}
