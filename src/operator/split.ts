/**
 * Splits SQL text into statements at top-level semicolons, respecting -- and nested block
 * comments, '…' / E'…' strings, "…" identifiers and $tag$…$tag$ bodies. Used only to locate the
 * statement a failed rehearsal stopped at; the rehearsal itself runs each Up section whole, as the
 * migrator does.
 */
export interface Statement {
  text: string;
  /** 0-based offset of the statement in the input. */
  offset: number;
}

export function splitStatements(sql: string): Statement[] {
  const out: Statement[] = [];
  let start = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const ch = sql[i]!;
    const next = sql[i + 1];
    if (ch === '-' && next === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? n : nl + 1;
    } else if (ch === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') (depth++, (i += 2));
        else if (sql[i] === '*' && sql[i + 1] === '/') (depth--, (i += 2));
        else i++;
      }
    } else if (ch === "'") {
      const escapes = i > 0 && /[eE]/.test(sql[i - 1]!) && (i < 2 || !/[\w$]/.test(sql[i - 2]!));
      i++;
      while (i < n) {
        if (escapes && sql[i] === '\\') i += 2;
        else if (sql[i] === "'" && sql[i + 1] === "'") i += 2;
        else if (sql[i] === "'") {
          i++;
          break;
        } else i++;
      }
    } else if (ch === '"') {
      i++;
      while (i < n) {
        if (sql[i] === '"' && sql[i + 1] === '"') i += 2;
        else if (sql[i] === '"') {
          i++;
          break;
        } else i++;
      }
    } else if (ch === '$' && (i === 0 || !/[\w$]/.test(sql[i - 1]!))) {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 64));
      if (m) {
        const tag = m[0];
        const end = sql.indexOf(tag, i + tag.length);
        i = end < 0 ? n : end + tag.length;
      } else i++;
    } else if (ch === ';') {
      const text = sql.slice(start, i + 1);
      if (text.replace(/--[^\n]*/g, '').trim() !== ';') out.push({ text, offset: start });
      i++;
      start = i;
    } else i++;
  }
  const rest = sql.slice(start);
  if (rest.replace(/--[^\n]*/g, '').trim()) out.push({ text: rest, offset: start });
  return out;
}
