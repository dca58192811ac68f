/**
 * Accounting of the handoff and the outbox, third round (000021). Nothing was lost or delivered
 * twice beyond what the documentation allows; two figures an operator reads were wrong.
 *
 * 1. handoff_holding_xact (000005) looked for a prepared transaction that holds births back by
 *    matching its locks' virtualtransaction with '-1/<xid>', a form PostgreSQL does not use (the
 *    lock keeps the virtual transaction id of the session that prepared it): v_handoff_status showed
 *    NULL in every holding_* column while a prepared transaction held rows back. The prepared
 *    transaction is now found through its own transactionid lock (same virtual transaction, no
 *    backend) and pg_prepared_xacts.
 * 2. tg_outbox_replay_guard (000013) counted replay_unverified for every emission at or below the
 *    purged receipts that it let through, also when the insert then did nothing (ON CONFLICT: the
 *    lane already held the event, e.g. a second replay) and when release_pending only moved a
 *    captured event (counted when it was captured). Now it counts an event that is really emitted
 *    again: not already in either lane, not a move out of event_pending.
 */
import type { Ctx } from '../lib/ctx.js';
import { functionDefinitionOnly, orReplace, replaceOnce } from '../lib/sql.js';
import { holdingFunctionV2 } from './snapshot_cursor_v2.js';
import { replayGuardFunction } from '../outbox/fast_claim_v3.js';

export function holdingFunctionV3(c: Ctx): string {
  return replaceOnce(
    holdingFunctionV2(c),
    `        FROM pg_catalog.pg_locks AS l
        JOIN pg_catalog.pg_prepared_xacts AS p
          ON l.virtualtransaction OPERATOR(pg_catalog.=) ('-1/' OPERATOR(pg_catalog.||) p.transaction::text)
`,
    `        FROM pg_catalog.pg_locks AS l
        -- a prepared transaction keeps its locks under the virtual transaction of the session that
        -- prepared it, without a backend (pid NULL); its transactionid lock names its xid
        JOIN pg_catalog.pg_locks AS t
          ON t.locktype OPERATOR(pg_catalog.=) 'transactionid' AND t.pid IS NULL
         AND t.virtualtransaction OPERATOR(pg_catalog.=) l.virtualtransaction
        JOIN pg_catalog.pg_prepared_xacts AS p
          ON p.transaction OPERATOR(pg_catalog.=) t.transactionid
         AND p.database OPERATOR(pg_catalog.=) pg_catalog.current_database()
`,
  );
}

const GUARD = (c: Ctx) => functionDefinitionOnly(replayGuardFunction(c), c.q('tg_outbox_replay_guard'));

export function replayGuardV4(c: Ctx): string {
  const key = (t: string) =>
    `EXISTS (SELECT 1 FROM ${c.q(t)} AS e WHERE e.event_type OPERATOR(pg_catalog.=) NEW.event_type AND e.object_key OPERATOR(pg_catalog.=) NEW.object_key AND e.born_at OPERATOR(pg_catalog.=) NEW.born_at)`;
  const sql = orReplace(GUARD(c));
  const at = sql.indexOf('    IF NEW.source_change_id OPERATOR(pg_catalog.<=) v_through AND ');
  const end = sql.indexOf(' THEN\n', at);
  if (at < 0 || end < 0) throw new Error('accounting_v3: replay_unverified test not found');
  return `${sql.slice(0, end)}
       -- counted once per event really emitted again: not a move out of event_pending (counted when
       -- it was captured), not an emission the lane already holds (its insert does nothing)
       AND NOT (TG_TABLE_NAME OPERATOR(pg_catalog.=) 'event_outbox' AND COALESCE((pg_catalog.to_jsonb(NEW) OPERATOR(pg_catalog.->>) 'released_from_pending')::boolean, false))
       AND NOT ${key('event_outbox')}
       AND NOT ${key('event_pending')}${sql.slice(end)}`;
}

/** Down: 000013's guard. */
export const replayGuardV3Replacing = (c: Ctx) => orReplace(GUARD(c));
