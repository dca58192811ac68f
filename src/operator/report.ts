/** Reading the drift report and the handoff state for `status` and `rehearse`. */
import type pg from 'pg';
import { severityValues, type Severity } from '../generated/vocab.js';

export type SeverityName = Severity;

export interface Finding {
  severity: SeverityName;
  kind: string;
  object_type: string;
  object_name: string;
  message: string;
  remedy: string;
  detail: Record<string, unknown>;
}

export function severityRank(s: string): number {
  return severityValues.indexOf(s as SeverityName) + 1;
}

const q = (ident: string) => `"${ident.replaceAll('"', '""')}"`;

export async function relationExists(client: pg.Client, schema: string, name: string): Promise<boolean> {
  const r = await client.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [`${q(schema)}.${q(name)}`]);
  return r.rows[0]!.ok;
}

/** The rows of v_drift_report, worst first; null when the drift monitor is not installed. */
export async function readFindings(client: pg.Client, schema: string): Promise<Finding[] | null> {
  if (!(await relationExists(client, schema, 'v_drift_report'))) return null;
  const r = await client.query<Finding>(
    `SELECT severity, kind, object_type, object_name, message, remedy, detail FROM ${q(schema)}.v_drift_report
      ORDER BY severity_rank DESC, kind, object_name`,
  );
  return r.rows;
}

export interface HandoffState {
  consumer: string;
  heartbeatAt: string | null;
  heartbeatAgeSeconds: number | null;
  staleAfter: string;
  stale: boolean;
  positionTxid: string;
  positionChangeId: string;
  /** Changelog rows past the cursor. */
  waiting: number;
  /** BORN objects with no candidate row (v_handoff_lag), when that view exists. */
  lag: number | null;
  /** The row of v_handoff_status, when that view exists (000003). */
  status: Record<string, unknown> | null;
}

export async function readHandoff(client: pg.Client, schema: string): Promise<HandoffState[]> {
  if (!(await relationExists(client, schema, 'handoff_cursor'))) return [];
  const s = q(schema);
  const rows = await client.query<{
    consumer_name: string;
    heartbeat_at: Date | null;
    age: number | null;
    stale_after: string;
    stale: boolean;
    position_txid: string;
    position_change_id: string;
    waiting: string;
  }>(`
    SELECT h.consumer_name, h.heartbeat_at,
           extract(epoch FROM now() - h.heartbeat_at)::float8 AS age,
           h.stale_after::text AS stale_after,
           coalesce(h.heartbeat_at < now() - h.stale_after, h.heartbeat_at IS NULL) AS stale,
           h.position_txid::text AS position_txid, h.position_change_id::text AS position_change_id,
           (SELECT count(*) FROM ${s}.registry_changelog l WHERE (l.txid, l.change_id) > (h.position_txid, h.position_change_id)) AS waiting
      FROM ${s}.handoff_cursor h ORDER BY h.consumer_name`);
  let lag: number | null = null;
  if (await relationExists(client, schema, 'v_handoff_lag')) {
    lag = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${s}.v_handoff_lag`)).rows[0]!.n);
  }
  let status: Record<string, unknown>[] = [];
  if (await relationExists(client, schema, 'v_handoff_status')) {
    status = (await client.query(`SELECT * FROM ${s}.v_handoff_status`)).rows as Record<string, unknown>[];
  }
  // rows not yet handed off: exact from v_handoff_status (snapshot cursor, 000005+) when it says so;
  // the (txid, change_id) count is the 0.1.0 reading
  const waitingOf = (h: { consumer_name: string; waiting: string }, st: Record<string, unknown>[]) => {
    const row = st.find((r) => r.consumer_name === h.consumer_name);
    return row && row.position_snapshot !== undefined && row.rows_waiting != null ? Number(row.rows_waiting) : Number(h.waiting);
  };
  return rows.rows.map((h) => ({
    consumer: h.consumer_name,
    heartbeatAt: h.heartbeat_at ? h.heartbeat_at.toISOString() : null,
    heartbeatAgeSeconds: h.age === null ? null : Math.round(h.age),
    staleAfter: h.stale_after,
    stale: h.stale,
    positionTxid: h.position_txid,
    positionChangeId: h.position_change_id,
    waiting: waitingOf(h, status),
    lag,
    status: status.find((r) => r.consumer_name === h.consumer_name) ?? (status.length === 1 ? status[0]! : null),
  }));
}
