/**
 * Kysely's schema builder, used only as a DDL compiler (no connection): tables and indexes are
 * declared with it and compiled to PostgreSQL text, then laid out one column per line.
 */
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type Compilable,
} from 'kysely';

export const ddl = new Kysely<unknown>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/** Split `s` on commas at parenthesis depth `depth` (ignoring quoted text). */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let cur = '';
  for (const ch of s) {
    if (quote) {
      if (ch === quote) quote = null;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    if (ch === ',' && depth === 0 && !quote) {
      parts.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) parts.push(cur.trim());
  return parts;
}

const KEYWORDS =
  /\b(create table|create unique index|create index|if not exists|generated always as identity|generated always as|primary key|not null|default|references|constraint|check|unique|foreign key|stored|on delete cascade|on delete restrict|on delete set null|on|using|where|is null|is not null|nulls not distinct)\b/g;

function upper(sqlText: string): string {
  // Uppercase keywords outside quoted text only.
  return sqlText
    .split(/('(?:[^']|'')*'|"(?:[^"]|"")*")/)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(KEYWORDS, (k) => k.toUpperCase())))
    .join('');
}

/** Compile a Kysely DDL builder; CREATE TABLE bodies get one column/constraint per line. */
export function compileDdl(builder: Compilable): string {
  const text = builder.compile().sql;
  const open = text.indexOf('(');
  if (!/^create table/i.test(text) || open < 0) return `${upper(text)};`;
  const head = text.slice(0, open).trim();
  const body = text.slice(open + 1, text.lastIndexOf(')'));
  const lines = splitTopLevel(body).map((p) => `    ${upper(p)}`);
  return `${upper(head)} (\n${lines.join(',\n')}\n);`;
}
