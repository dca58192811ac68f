/**
 * register_family under concurrency (000024). Two sessions registering the same new collection at
 * once: the second's INSERT waited for the first's new birth_family row and then failed with a raw
 * 23505 (duplicate key), although register_family is idempotent; the same for two collections
 * registered onto one table at once (birth_family_table_name_key) instead of BG106. The checks and
 * the write now run in a retry loop: a unique violation means a concurrent registration committed
 * first (the INSERT waited for it), so the next round reads birth_family again and takes the path a
 * later call would take: re-registration (idempotent), BG106 or BG153. No lock is held beyond the
 * rows written, so registrations of other collections never wait for each other.
 */
import type { Ctx } from '../lib/ctx.js';
import { registerFamilyV4 } from './live_tables_v5.js';

const indent = (s: string, n: number) => s.replace(/^(?=.)/gm, ' '.repeat(n));

export function registerFamilyV5(c: Ctx): string {
  const sql = registerFamilyV4(c);
  const family = c.q('birth_family');
  const start = sql.indexOf(`    SELECT f.collection_name INTO v_other FROM ${family} f WHERE f.table_name = p_table AND f.collection_name <> p_collection;\n`);
  const mid = sql.indexOf(`    IF NOT FOUND THEN\n        INSERT INTO ${family} (`, start);
  const end = sql.indexOf(`    PERFORM ${c.q('birth_family_attach_gates')}(p_collection);\n`, mid);
  if (start < 0 || mid < start || end < mid || sql.indexOf('INTO v_other FROM', end) >= 0) throw new Error('register_serialized_v6: register_family body not found');
  const checks = sql.slice(start, mid);
  const write = sql.slice(mid, end);
  return `${sql.slice(0, start)}    -- a concurrent registration of this collection or onto this table may commit while this one runs:
    -- its row makes the INSERT below wait and then fail with a unique violation; look again (since 000024)
    FOR v_try IN 1..3 LOOP
${indent(checks, 4)}        BEGIN
${indent(write, 8)}            EXIT;
        EXCEPTION WHEN unique_violation THEN
            IF v_try = 3 THEN
                RAISE;
            END IF;
        END;
    END LOOP;
${sql.slice(end)}`;
}
