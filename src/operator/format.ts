/** Plain-text rendering for terminals: aligned tables, wrapped to the terminal width. */
export function table(headers: string[], rows: string[][], width = process.stdout.isTTY ? process.stdout.columns || 160 : 100_000): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  // let the last column take what is left, wrapped
  const fixed = widths.slice(0, -1).reduce((a, b) => a + b + 2, 0);
  const last = Math.max(30, width - fixed);
  const out: string[] = [];
  for (const [n, r] of all.entries()) {
    const cells = r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]!) : c));
    const lastCell = cells.pop() ?? '';
    const chunks = wrap(lastCell, last);
    out.push(`${cells.join('  ')}${cells.length ? '  ' : ''}${chunks[0] ?? ''}`.trimEnd());
    for (const ch of chunks.slice(1)) out.push(`${' '.repeat(fixed)}${ch}`);
    if (n === 0) out.push(widths.map((w, i) => '-'.repeat(i < widths.length - 1 ? w : Math.min(w, last))).join('  '));
  }
  return out.join('\n');
}

export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const word of text.split(/\s+/)) {
    if (cur && cur.length + 1 + word.length > width) {
      lines.push(cur);
      cur = word;
    } else cur = cur ? `${cur} ${word}` : word;
  }
  if (cur) lines.push(cur);
  return lines.length ? lines : [''];
}

export function age(seconds: number | null): string {
  if (seconds === null) return 'never';
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}
