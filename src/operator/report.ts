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

/** One handoff cursor, snake_case, numbers as numbers (ages in seconds; null when not applicable). */
export interface HandoffState {
  consumer: string;
  position_txid: number;
  position_change_id: number;
  heartbeat_at: string | null;
  heartbeat_age_seconds: number | null;
  stale_after_seconds: number;
  stale: boolean;
  /** Changelog rows past the cursor the consumer can take now (below the horizon). */
  rows_waiting: number;
  /** Changelog rows past the cursor held back by an older open transaction. */
  rows_held_back: number;
  oldest_held_back_at: string | null;
  oldest_held_back_age_seconds: number | null;
  /** The open transaction holding the horizon back, when one does. */
  holding_pid: number | null;
  holding_xact_age_seconds: number | null;
  holding_application_name: string | null;
  rows_consumed: number;
  batches_run: number;
  /** BORN objects with no candidate row (v_handoff_lag). */
  unreconciled_objects: number;
}

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const iso = (v: unknown): string | null => (v instanceof Date ? v.toISOString() : v === null || v === undefined ? null : String(v));

/** The rows of v_handoff_status (000003 and later); [] before the handoff is installed. */
export async function readHandoff(client: pg.Client, schema: string): Promise<HandoffState[]> {
  if (!(await relationExists(client, schema, 'v_handoff_status'))) return [];
  const s = q(schema);
  const secs = (col: string) => `extract(epoch FROM ${col})::float8`;
  const rows = await client.query(`
    SELECT st.consumer_name, st.position_txid::text AS position_txid, st.position_change_id,
           st.heartbeat_at, round(${secs('st.heartbeat_age')})::float8 AS heartbeat_age_seconds,
           ${secs('st.stale_after')} AS stale_after_seconds, st.stale,
           st.rows_waiting, st.rows_held_back, st.oldest_held_back_at,
           round(${secs('st.oldest_held_back_age')})::float8 AS oldest_held_back_age_seconds,
           st.holding_pid, round(${secs('st.holding_xact_age')})::float8 AS holding_xact_age_seconds, st.holding_application_name,
           st.rows_consumed, st.batches_run
      FROM ${s}.v_handoff_status st ORDER BY st.consumer_name`);
  const unreconciled = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${s}.v_handoff_lag`)).rows[0]!.n);
  return rows.rows.map((r: Record<string, unknown>) => ({
    consumer: String(r.consumer_name),
    position_txid: num(r.position_txid),
    position_change_id: num(r.position_change_id),
    heartbeat_at: iso(r.heartbeat_at),
    heartbeat_age_seconds: numOrNull(r.heartbeat_age_seconds),
    stale_after_seconds: num(r.stale_after_seconds),
    stale: r.stale === true,
    rows_waiting: num(r.rows_waiting),
    rows_held_back: num(r.rows_held_back),
    oldest_held_back_at: iso(r.oldest_held_back_at),
    oldest_held_back_age_seconds: numOrNull(r.oldest_held_back_age_seconds),
    holding_pid: numOrNull(r.holding_pid),
    holding_xact_age_seconds: numOrNull(r.holding_xact_age_seconds),
    holding_application_name: r.holding_application_name === null || r.holding_application_name === undefined ? null : String(r.holding_application_name),
    rows_consumed: num(r.rows_consumed),
    batches_run: num(r.batches_run),
    unreconciled_objects: unreconciled,
  }));
}
