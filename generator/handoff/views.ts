/** Reconciliation and health views of the handoff: v_handoff_lag and v_handoff_status. */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { sqlText } from '../lib/sql.js';

export function lagView(c: Ctx): string {
  const v = c.q('v_handoff_lag');
  return sqlText`
    CREATE VIEW ${v} AS
    SELECT r.registry_id,
           r.collection_name,
           r.entity_code,
           r.object_key,
           r.born_at,
           r.born_txid,
           clock_timestamp() - r.born_at AS waiting_for
    FROM ${c.q('birth_registry')} AS r
    WHERE r.status = 'BORN'
      AND NOT EXISTS (
          SELECT 1 FROM ${c.q('governance_candidate_state')} AS g WHERE g.object_key = r.object_key);
    ${comment(
      'VIEW',
      v,
      'Reconciliation: BORN registry objects that have no governance_candidate_state row yet. SELECT count(*) must trend to 0; a row that stays means the consumer is behind, stale, or the birth wrote no changelog row.',
    )}`;
}

// oldest_held_back_txid is picked by ORDER BY ... LIMIT 1, not min(xid8): PostgreSQL 14 has no
// min()/max() for xid8 (see consume.ts); the result is the same on every major.
export function statusView(c: Ctx): string {
  const v = c.q('v_handoff_status');
  return sqlText`
    CREATE VIEW ${v} AS
    SELECT hc.consumer_name,
           hc.position_txid,
           hc.position_change_id,
           hc.heartbeat_at,
           clock_timestamp() - hc.heartbeat_at AS heartbeat_age,
           hc.stale_after,
           (hc.heartbeat_at IS NULL OR clock_timestamp() - hc.heartbeat_at > hc.stale_after) AS stale,
           h.horizon_txid,
           w.rows_waiting,
           w.rows_held_back,
           w.oldest_held_back_txid,
           w.oldest_held_back_at,
           clock_timestamp() - w.oldest_held_back_at AS oldest_held_back_age,
           x.holding_txid,
           x.holding_pid,
           x.holding_xact_start,
           clock_timestamp() - x.holding_xact_start AS holding_xact_age,
           x.holding_application_name,
           x.holding_state,
           hc.rows_consumed,
           hc.batches_run,
           hc.last_batch_rows,
           hc.updated_at
    FROM ${c.q('handoff_cursor')} AS hc
    CROSS JOIN LATERAL (SELECT ${c.q('handoff_horizon')}() AS horizon_txid) AS h
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE l.txid < h.horizon_txid) AS rows_waiting,
               count(*) FILTER (WHERE l.txid >= h.horizon_txid) AS rows_held_back,
               (SELECT o.txid FROM ${c.q('registry_changelog')} AS o
                WHERE (o.txid, o.change_id) > (hc.position_txid, hc.position_change_id)
                  AND o.txid >= h.horizon_txid
                ORDER BY o.txid, o.change_id LIMIT 1) AS oldest_held_back_txid,
               min(l.changed_at) FILTER (WHERE l.txid >= h.horizon_txid) AS oldest_held_back_at
        FROM ${c.q('registry_changelog')} AS l
        WHERE (l.txid, l.change_id) > (hc.position_txid, hc.position_change_id)
    ) AS w
    LEFT JOIN LATERAL ${c.q('handoff_holding_xact')}() AS x ON true;
    ${comment(
      'VIEW',
      v,
      'Handoff health, one row per cursor: position (txid, change_id), heartbeat_at and its age, stale (no heartbeat or older than stale_after), the horizon, rows_waiting (committed past the cursor and consumable now), rows_held_back (committed past the cursor but at or above the horizon: an older transaction is still open), since when, and the open transaction holding the horizon (xid, pid, start, age, application). Ages are wall-clock (clock_timestamp()), also inside a long transaction.',
    )}`;
}
