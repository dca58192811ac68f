/** The sweep worker cursors (sweep_cursor), the findings (sweep_finding) and the run id sequence. */
import type { Ctx } from '../lib/ctx.js';
import { columnComments, comment } from '../lib/migration.js';
import { litList, sqlText } from '../lib/sql.js';
import { FINDING_KINDS, SWEEP_KINDS } from './common.js';

export function sweepTables(c: Ctx): string[] {
  const cur = c.q('sweep_cursor');
  const fnd = c.q('sweep_finding');
  return [
    `CREATE SEQUENCE ${c.q('sweep_run_id_seq')} AS bigint;`,
    sqlText`
      CREATE TABLE ${cur} (
          sweep_name text PRIMARY KEY CHECK (sweep_name ~ '^(adopt|adopt_dry_run|backfill|consume)(:[a-z][a-z0-9_]{0,62})?$'),
          kind text NOT NULL CHECK (kind IN ${litList(SWEEP_KINDS)}),
          collection_name text REFERENCES ${c.q('birth_family')} (collection_name) ON DELETE CASCADE,
          run_id bigint NOT NULL DEFAULT 0,
          run_started_at timestamptz,
          run_started_by name,
          finished_at timestamptz,
          position_code text,
          position_id bigint,
          batch_size integer,
          batches_done bigint NOT NULL DEFAULT 0,
          batches_total_estimated bigint,
          rows_done bigint NOT NULL DEFAULT 0,
          rows_total_estimated bigint,
          rows_applied bigint NOT NULL DEFAULT 0,
          rows_skipped bigint NOT NULL DEFAULT 0,
          findings bigint NOT NULL DEFAULT 0,
          error_count bigint NOT NULL DEFAULT 0,
          last_error text,
          last_error_at timestamptz,
          dead_lettered bigint NOT NULL DEFAULT 0,
          heartbeat_at timestamptz,
          stale_after interval NOT NULL DEFAULT '15 minutes'::interval CHECK (stale_after > '0'::interval),
          last_batch_at timestamptz,
          last_batch_ms numeric,
          max_batch_ms numeric,
          paused_reason text,
          paused_until timestamptz,
          pauses_rate_limit bigint NOT NULL DEFAULT 0,
          pauses_load bigint NOT NULL DEFAULT 0,
          updated_at timestamptz NOT NULL DEFAULT now(),
          CONSTRAINT sweep_cursor_collection_consistent CHECK ((kind IN ('adopt', 'adopt_dry_run')) = (collection_name IS NOT NULL))
      );`,
    sqlText`
      CREATE TABLE ${fnd} (
          finding_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          sweep_name text NOT NULL REFERENCES ${cur} (sweep_name) ON DELETE CASCADE,
          run_id bigint NOT NULL,
          kind text NOT NULL CHECK (kind IN ${litList(FINDING_KINDS)}),
          collection_name text,
          entity_code text,
          code_length integer,
          code_md5 text,
          occurrences bigint NOT NULL DEFAULT 1 CHECK (occurrences >= 0),
          detail jsonb NOT NULL DEFAULT '{}'::jsonb,
          found_at timestamptz NOT NULL DEFAULT now()
      );`,
    `CREATE UNIQUE INDEX sweep_finding_code_key ON ${fnd} (sweep_name, run_id, kind, code_md5) WHERE code_md5 IS NOT NULL;`,
    `CREATE INDEX sweep_finding_sweep_kind_idx ON ${fnd} (sweep_name, kind, finding_id);`,
    comment('TABLE', cur, 'One row per sweep worker cursor (adopt:<collection>, adopt_dry_run:<collection>, backfill; consume records the consumer CLI pauses): run, keyset position, batches done / estimated total, rows done / applied / skipped, errors, dead-lettered keys, heartbeat, rate-limit and load-guard pauses. One worker per cursor (FOR UPDATE SKIP LOCKED).'),
    columnComments(c, 'sweep_cursor', {
      run_id: 'Current run (from sweep_run_id_seq); 0 = never run. A call on a finished cursor starts a new run.',
      position_code: 'Adoption keyset: the last code (as text, in the column collation) swept in this run.',
      position_id: 'Backfill keyset: the last birth_registry.registry_id swept in this run.',
      batches_total_estimated: 'Estimated batches for the whole run (pg_class.reltuples / batch size at run start).',
      rows_applied: 'Objects adopted (registry + changelog rows written; for a dry run: objects that would be) or candidates seeded.',
      rows_skipped: 'Backfill: registry rows left alone (already handed off, or RETIRED).',
      findings: 'Finding rows written in this run (sweep_finding).',
      dead_lettered: 'Keys skipped after repeated failures. The sweeps never skip a key: a batch that keeps failing stops the run (BG606 from the procedures, exit 1 from the CLI) with the error in last_error, so this stays 0; kept for the shape shared with the other worker cursors.',
      paused_reason: 'Why the last call did not run a batch (rate_limit or load guard); NULL once a batch ran.',
      paused_until: 'When the worker may try again.',
    }),
    comment('TABLE', fnd, 'What the sweeps could not do or deferred ("no silent caps"): one row per code that cannot be adopted (NULL/empty code as one row with occurrences, pattern mismatch, duplicate, oversize, retired), per dead-lettered key, and one summary row per bound that left work undone (deferred, rate_limited, load_paused, slow_batch). Kept for the latest run of each sweep.'),
    columnComments(c, 'sweep_finding', {
      entity_code: `The code (at most its first 256 characters; code_length and code_md5 identify longer ones); NULL for summary rows and NULL codes.`,
      occurrences: 'Rows of the family table with this code (duplicates), or the amount a summary row counts.',
    }),
  ];
}

export function dropSweepTables(c: Ctx): string[] {
  return [`DROP TABLE ${c.q('sweep_finding')};`, `DROP TABLE ${c.q('sweep_cursor')};`, `DROP SEQUENCE ${c.q('sweep_run_id_seq')};`];
}
