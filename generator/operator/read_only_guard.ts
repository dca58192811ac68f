/**
 * Migration 000027: the package functions a cron job, a worker or an issuer calls that write refuse
 * up front, with a BG SQLSTATE, when the transaction cannot write (BEGIN READ ONLY,
 * default_transaction_read_only = on, a hot standby), instead of failing with PostgreSQL's raw
 * 25006 from some inner statement, or (transaction_read_only set on after the transaction had
 * written) going on as if it could write.
 *
 * One small helper, assert_writable(caller, lane), is called first thing; the new definitions are
 * derived from the current ones (replaceOnce), never copied by hand. The Down restores the current
 * ones unchanged.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { lit, orReplace, replaceOnce, sqlText } from '../lib/sql.js';
import { raiseAt } from '../errors/index.js';
import { consumeFunctionV2 } from '../handoff/snapshot_cursor_v2.js';
import { releasePendingFunction, setEventTypeActiveFunction } from '../handoff/lanes.js';
import { activateFunction } from '../handoff/activation.js';
import { claimFunction, failFunction, redriveFunction, configureFunction } from '../outbox/functions.js';
import { ackFunctionV3, purgeFunctionV3 } from '../outbox/fast_claim_v3.js';
import { admissionFunctionsV2 } from '../admission/functions_v2.js';
import { moveFamilyV5 } from '../admission/live_tables_v5.js';
import { drainProcedureV2 } from '../handoff/snapshot_cursor_v2.js';
import { adoptFunctionV3 } from '../sweeps/adopt_v3.js';
import { backfillFunctionV3 } from '../sweeps/backfill_v3.js';

export type Lane = 'handoff' | 'outbox' | 'admission';

const GUARD = 'assert_writable';

export function assertWritableFunction(c: Ctx): string {
  const fn = c.q(GUARD);
  const why = 'v_why';
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}(p_caller text, p_lane text)
    RETURNS void
    LANGUAGE plpgsql
    STABLE
    AS $fn$
    DECLARE
        v_why text;
    BEGIN
        IF pg_catalog.pg_is_in_recovery() THEN
            v_why := 'the server is a hot standby in recovery (pg_is_in_recovery() = true): every transaction there is read-only';
        ELSIF pg_catalog.current_setting('transaction_read_only') OPERATOR(pg_catalog.=) 'on' THEN
            v_why := pg_catalog.format('the transaction is read-only (transaction_read_only = on; default_transaction_read_only = %s)',
                pg_catalog.current_setting('default_transaction_read_only'));
        ELSE
            RETURN;
        END IF;
        IF p_lane OPERATOR(pg_catalog.=) 'outbox' THEN
            ${raiseAt(12, 'OUTBOX_READ_ONLY', `pg_catalog.format('%s: %s', p_caller, ${why})`)}
        ELSIF p_lane OPERATOR(pg_catalog.=) 'admission' THEN
            ${raiseAt(12, 'ADMISSION_READ_ONLY', `pg_catalog.format('%s: %s', p_caller, ${why})`)}
        ELSE
            ${raiseAt(12, 'HANDOFF_READ_ONLY', `pg_catalog.format('%s: %s', p_caller, ${why})`)}
        END IF;
    END;
    $fn$;
    REVOKE ALL ON FUNCTION ${fn}(text, text) FROM PUBLIC;
    ${comment(
      'FUNCTION',
      `${fn}(text, text)`,
      'Called first thing by every package function that writes: raises BG222 (handoff, sweeps), BG511 (outbox) or BG165 (admission), with the caller and the reason (read-only transaction, hot standby) in DETAIL, when the transaction cannot write; otherwise does nothing. Checks the transaction_read_only setting, so a transaction set read-only after it had written is refused too. Not granted to anyone: the callers are SECURITY DEFINER.',
    )}`;
}

export const dropAssertWritable = (c: Ctx) => `DROP FUNCTION ${c.q(GUARD)}(text, text);`;

/** A definition as CREATE OR REPLACE (some current definitions already are). */
const asReplace = (sql: string) => (sql.includes('CREATE OR REPLACE FUNCTION ') ? sql : orReplace(sql));

/** A current definition with the guard as its first statement, as CREATE OR REPLACE. */
export function withWritableGuard(c: Ctx, definition: string, caller: string, lane: Lane): string {
  const replaced = asReplace(definition);
  // the body's first BEGIN line after its one AS $tag$ opens the top-level block (a DECLARE section holds none)
  const as = /\n *AS \$[a-z]*\$\n/g;
  const heads = [...replaced.matchAll(as)];
  if (heads.length !== 1) throw new Error(`derived definition of ${caller}: expected exactly one AS $tag$ line`);
  const from = heads[0]!.index! + heads[0]![0].length;
  const m = /(^|\n)( *)BEGIN\n/.exec(replaced.slice(from));
  if (!m) throw new Error(`derived definition of ${caller}: no BEGIN`);
  const at = from + m.index + m[0].length;
  const pad = ' '.repeat(m[2]!.length + 4);
  return replaced.slice(0, at) + `${pad}PERFORM ${c.q(GUARD)}(${lit(caller)}, ${lit(lane)});\n` + replaced.slice(at);
}

/** The current definition of every guarded function (the Down restores these), keyed by name, with its lane. */
export function currentWriters(c: Ctx): { name: string; lane: Lane; sql: string }[] {
  const a = admissionFunctionsV2(c); // lock, attach, register, move, code limit, mode, issue, revoke, expire, retire
  const list: { name: string; lane: Lane; sql: string }[] = [
    { name: 'handoff_consume', lane: 'handoff', sql: consumeFunctionV2(c) },
    { name: 'set_event_type_active', lane: 'handoff', sql: setEventTypeActiveFunction(c) },
    { name: 'release_pending', lane: 'handoff', sql: releasePendingFunction(c) },
    { name: 'activate_candidates', lane: 'handoff', sql: activateFunction(c) },
    { name: 'sweep_adopt', lane: 'handoff', sql: adoptFunctionV3(c) },
    { name: 'sweep_backfill', lane: 'handoff', sql: backfillFunctionV3(c) },
    { name: 'outbox_claim', lane: 'outbox', sql: claimFunction(c) },
    { name: 'outbox_ack', lane: 'outbox', sql: ackFunctionV3(c) },
    { name: 'outbox_fail', lane: 'outbox', sql: failFunction(c) },
    { name: 'outbox_redrive', lane: 'outbox', sql: redriveFunction(c) },
    { name: 'outbox_purge', lane: 'outbox', sql: purgeFunctionV3(c) },
    { name: 'outbox_configure', lane: 'outbox', sql: configureFunction(c) },
    { name: 'move_family', lane: 'admission', sql: moveFamilyV5(c) },
    { name: 'set_family_code_limit', lane: 'admission', sql: a[4]! },
    { name: 'set_family_mode', lane: 'admission', sql: a[5]! },
    { name: 'issue_permit', lane: 'admission', sql: a[6]! },
    { name: 'revoke_permit', lane: 'admission', sql: a[7]! },
    { name: 'expire_permits', lane: 'admission', sql: a[8]! },
    { name: 'retire', lane: 'admission', sql: a[9]! },
  ];
  return list.map((w) => {
    if (!w.sql.includes(`FUNCTION ${c.q(w.name)}(`)) throw new Error(`read_only_guard: the definition given for ${w.name} is not its own`);
    return w;
  });
}

/** The current definitions, as CREATE OR REPLACE (the Down). */
export function writersRestored(c: Ctx): string[] {
  return currentWriters(c).map((w) => asReplace(w.sql));
}

/** The guarded definitions (the Up); `override` changes some further (consumeFunctionV3, operatorDetails). */
export function writersGuarded(c: Ctx, override: Partial<Record<string, (guarded: string) => string>> = {}): string[] {
  return currentWriters(c).map((w) => {
    const guarded = withWritableGuard(c, w.sql, w.name, w.lane);
    const f = override[w.name];
    return f ? f(guarded) : guarded;
  });
}

/**
 * handoff_consume under REPEATABLE READ or SERIALIZABLE, after another consumer advanced the cursor
 * since this transaction's snapshot: locking the cursor row raises 40001. That is the same situation
 * as a cursor locked by a running consumer, so it ends the same way: zeros with lag NULL ("another
 * consumer holds the cursor"), nothing changed, nothing lost (the rows wait for the next run).
 * Under READ COMMITTED (the default) nothing changes: the probe runs only at the other levels.
 */
export function consumeFunctionV3(c: Ctx, guarded: string): string {
  const anchor = '    --    ("another consumer holds the cursor"), so overlapping cron runs never pile up.\n';
  const probe = sqlText`
    --    Under REPEATABLE READ / SERIALIZABLE a cursor row another consumer updated after this
    --    transaction's snapshot cannot be locked (40001): that consumer did this batch's work, so
    --    this call ends like one that found the cursor locked (zeros, lag NULL), changing nothing.
    IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
        BEGIN
            PERFORM 1
            FROM ${c.q('handoff_cursor')} AS hc
            WHERE hc.consumer_name = v_consumer
            FOR UPDATE SKIP LOCKED;
            -- locked by another consumer now: end as the locked path below would, at once (locking
            -- again after that consumer committed would raise 40001 under this isolation level)
            IF NOT FOUND AND EXISTS (SELECT 1 FROM ${c.q('handoff_cursor')} AS hc WHERE hc.consumer_name = v_consumer) THEN
                RETURN QUERY SELECT 0, 0, 0, NULL::bigint;
                RETURN;
            END IF;
        EXCEPTION WHEN serialization_failure THEN
            RETURN QUERY SELECT 0, 0, 0, NULL::bigint;
            RETURN;
        END;
    END IF;
  `;
  const body = replaceOnce(guarded, anchor, anchor + probe.split('\n').map((l) => (l.length > 0 ? '    ' + l : l)).join('\n') + '\n');
  return replaceOnce(
    body,
    "lag NULL (another consumer holds the cursor).'",
    "lag NULL (another consumer holds the cursor); so does a call under REPEATABLE READ or SERIALIZABLE when another consumer advanced the cursor after its snapshot (instead of 40001). Refused with BG222 when the transaction cannot write (read-only, hot standby).'",
  );
}

/**
 * The HINT of the raise that follows `marker` (an ERRCODE = '...' or a DETAIL text occurring exactly
 * once), replaced: a registered hint written for several functions, made to fit this one.
 */
export function rehint(sql: string, marker: string, hint: string): string {
  const at = sql.indexOf(marker);
  if (at < 0 || sql.indexOf(marker, at + 1) >= 0) throw new Error(`rehint: expected exactly one ${JSON.stringify(marker.slice(0, 80))}`);
  const h = sql.indexOf('HINT = ', at);
  const eol = sql.indexOf('\n', h);
  if (h < 0 || eol < 0 || sql.slice(at, h).includes('RAISE EXCEPTION')) throw new Error(`rehint: no HINT after ${JSON.stringify(marker.slice(0, 80))}`);
  return sql.slice(0, h) + `HINT = ${lit(hint)};` + sql.slice(eol);
}

/** A NULL argument formatted with %s reads NULL in DETAIL (format() prints an empty string). */
const nul = (expr: string) => `coalesce((${expr})::text, 'NULL')`;

/**
 * Per function: DETAILs that showed a NULL argument as an empty string, and hints registered for
 * several functions (or pointing at what the caller's role cannot read) made to fit.
 */
export function operatorDetails(c: Ctx): Record<string, (guarded: string) => string> {
  const S = c.schema;
  return {
    handoff_consume: (g) =>
      rehint(consumeFunctionV3(c, g), "ERRCODE = 'BG200'", `Pass p_batch_size between 1 and 100000 (rows per batch, each batch one transaction): SELECT * FROM ${S}.handoff_consume(5000);`),
    set_event_type_active: (g) =>
      rehint(g, "ERRCODE = 'BG200'", `Pass p_active true (emit to event_outbox) or false (capture in event_pending): SELECT ${S}.set_event_type_active('handoff.object_born', true);`),
    activate_candidates: (g) =>
      rehint(g, "ERRCODE = 'BG200'", `Pass p_limit between 1 and 1000000 (candidates per call): SELECT ${S}.activate_candidates(1000);`),
    outbox_claim: (g) =>
      rehint(g, "ERRCODE = 'BG501'", `Claim between 1 and 10000 events per call: SELECT * FROM ${S}.outbox_claim('worker-1', 100);`),
    outbox_purge: (g) =>
      rehint(g, "ERRCODE = 'BG501'", `Purge between 1 and 1000000 delivered receipts per call: SELECT ${S}.outbox_purge(10000);`),
    outbox_ack: (g) =>
      rehint(g, "ERRCODE = 'BG504'", `Acknowledge only outbox_id values this worker received from ${S}.outbox_claim(); nothing was acknowledged by this call: drop the unknown ids (an event acknowledged longer ago than the outbox retention has been purged and needs nothing more) and acknowledge the rest again.`),
    outbox_fail: (g) =>
      rehint(
        rehint(g, "ERRCODE = 'BG504'", `Fail only outbox_id values this worker received from ${S}.outbox_claim(); an event acknowledged longer ago than the outbox retention has been purged: drop it, nothing more to deliver.`),
        "ERRCODE = 'BG503'",
        `Pass the outbox_id of an event this worker claimed: SELECT ${S}.outbox_fail(101, 'HTTP 503 from the webhook', 'worker-1');`,
      ),
    revoke_permit: (g) =>
      replaceOnce(
        replaceOnce(
          replaceOnce(g, "'permit_id %s', p_permit_id)", `'permit_id %s', ${nul('p_permit_id')})`),
          "'revoke_permit(%s, %L)', p_permit_id, p_reason)",
          `'revoke_permit(%s, %L)', ${nul('p_permit_id')}, p_reason)`,
        ),
        "''<reason>'');', p_permit_id)",
        "''<reason>'');', coalesce(p_permit_id::text, '<permit_id>'))",
      ),
    set_family_code_limit: (g) =>
      replaceOnce(g, "'code length limit %s for collection %s', p_max_length,", `'code length limit %s for collection %s', ${nul('p_max_length')},`),
    move_family: (g) =>
      replaceOnce(
        replaceOnce(g, "'move_family(%L, %s): %s', p_collection, p_table,", `'move_family(%L, %s): %s', p_collection, ${nul('p_table')},`),
        "'move_family(%L, %s, %L)', pg_catalog.left(p_collection, 100), p_table,",
        `'move_family(%L, %s, %L)', pg_catalog.left(p_collection, 100), ${nul('p_table')},`,
      ),
    retire: (g) => replaceOnce(replaceOnce(g, "format('%s:%s is %s', ", "format('%s:%L is %s', "), "format('%s:%s: %s', ", "format('%s:%L: %s', "),
  };
}

/** handoff_drain: its two BG200 raises get hints for the argument each refuses. */
export function drainProcedureV3(c: Ctx): string {
  const S = c.schema;
  return rehint(
    rehint(drainProcedureV2(c), "handoff_drain(p_batch_size => %s)", `Pass p_batch_size between 1 and 100000 (rows per committed batch): CALL ${S}.handoff_drain(5000);`),
    'handoff_drain(p_max_batches => %s)',
    `Pass p_max_batches NULL or at least 1 (NULL: until the backlog is drained): CALL ${S}.handoff_drain(5000, 100);`,
  );
}
export { drainProcedureV2 };
