/**
 * migrations.sha256 — the checksum manifest of released migrations. Append-only:
 *
 *   <sha256>  migrations/000001_substrate.sql
 *       the file as released (sha256sum format; never rewritten)
 *   amended <sha256>  migrations/000003_handoff.sql  was <sha256>  in <version>: <why>
 *       a recorded amendment of a released migration: its text changed on purpose from the
 *       checksum after "was" to the first one, in that version, for the reason given
 *   # ...
 *       a comment
 *
 * A released file must match its latest checksum: the released one, or the last amendment's.
 * Amendments chain (each "was" is the checksum before it), so an edit nobody recorded still fails.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const MANIFEST = 'migrations.sha256';

export interface Amendment {
  path: string;
  from: string;
  to: string;
  version: string;
  reason: string;
  line: number;
}

export interface Manifest {
  /** Every released migration and the checksum it must have now (after its amendments). */
  current: Map<string, string>;
  /** The checksum each migration was first released with. */
  released: Map<string, string>;
  amendments: Amendment[];
  /** Lines that are malformed or do not chain. */
  problems: string[];
}

const RELEASED = /^([0-9a-f]{64}) {2}(\S+)$/;
const AMENDED = /^amended ([0-9a-f]{64}) {2}(\S+) {2}was ([0-9a-f]{64}) {2}in (\S+): (\S.*)$/;

export function parseManifest(text: string): Manifest {
  const m: Manifest = { current: new Map(), released: new Map(), amendments: [], problems: [] };
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    const n = i + 1;
    if (line === '' || line.startsWith('#')) return;
    let hit = RELEASED.exec(line);
    if (hit) {
      const [, sum, path] = hit as unknown as [string, string, string];
      if (m.released.has(path)) m.problems.push(`${MANIFEST}:${n}: ${path} is released twice (record a change as an "amended" line)`);
      else {
        m.released.set(path, sum);
        m.current.set(path, sum);
      }
      return;
    }
    hit = AMENDED.exec(line);
    if (hit) {
      const [, to, path, from, version, reason] = hit as unknown as [string, string, string, string, string, string];
      const a: Amendment = { path, from, to, version, reason, line: n };
      if (!m.current.has(path)) m.problems.push(`${MANIFEST}:${n}: amendment of ${path}, which is not released above it`);
      else if (m.current.get(path) !== from) {
        m.problems.push(`${MANIFEST}:${n}: amendment of ${path} says it was ${from.slice(0, 12)}…, but its checksum before was ${m.current.get(path)!.slice(0, 12)}…`);
      } else if (from === to) m.problems.push(`${MANIFEST}:${n}: amendment of ${path} changes nothing`);
      else {
        m.amendments.push(a);
        m.current.set(path, to);
      }
      return;
    }
    m.problems.push(`${MANIFEST}:${n}: not a checksum line, an "amended" line or a comment: ${line.slice(0, 80)}`);
  });
  return m;
}

export function readManifestFile(root: string): Manifest {
  const path = join(root, MANIFEST);
  return parseManifest(existsSync(path) ? readFileSync(path, 'utf8') : '');
}
