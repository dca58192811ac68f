/**
 * birthgate metrics — the operator metrics in the Prometheus text exposition format, rendered by
 * the database (metrics_exposition() over v_metrics), so the CLI and SQL-only shops see the same
 * numbers. --textfile writes a node_exporter textfile-collector file atomically.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type pg from 'pg';
import { connectionFromEnv } from '../../config.js';
import { connect } from '../../db.js';
import { explainDenied } from '../denied.js';
import { parseCli } from '../../operator/args.js';
import { relationExists } from '../../operator/report.js';
import { COMMON_EXIT_CODES, CliError, EXIT, describeError, errorText, printJson, usageError } from '../io.js';

export const usage = `birthgate metrics [--textfile PATH] [--json]
  Prints the operator metrics in the Prometheus text exposition format (0.0.4): handoff lag rows
  and seconds, rows waiting and held back, the age of the transaction holding them, heartbeat age,
  consumer batches/rows totals, pending/outbox (and dead-letter) depth, permits by state,
  violations by kind, families by mode, drift findings by severity. The database renders them
  (SELECT <schema>.metrics_exposition(), from the view v_metrics), so SQL and CLI agree.
  --textfile PATH  write them to PATH for node_exporter's textfile collector instead of stdout:
                   written to a temporary file in the same directory, then renamed (atomic), with
                   birthgate_up 1 appended; if the database cannot be read, PATH gets birthgate_up 0
                   (so an alert fires) and the command exits 1. PATH must end in .prom.
  --json           one JSON line: {"ok":true,"metrics":[{"metric","type","help","labels","value"}]}
                   (a +Inf value, a consumer that never ran, is null)
exit codes:
${COMMON_EXIT_CODES}`;

interface MetricRow {
  metric: string;
  metric_type: string;
  help: string;
  labels: Record<string, string>;
  value: number;
}

async function ensureInstalled(client: pg.Client, schema: string): Promise<void> {
  if (!(await relationExists(client, schema, 'v_metrics'))) {
    throw new CliError(
      `metrics: ${schema}.v_metrics does not exist in this database`,
      EXIT.FAILURE,
      'not_installed',
      'birthgate is not installed or predates the metrics view: check with `birthgate migrate status`, then `birthgate migrate up`',
    );
  }
}

/** Write `text` to `path` atomically: temp file in the same directory, fsync, rename. */
export function writeAtomically(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    const fd = openSync(tmp, 'w', 0o644);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCli('metrics', argv, { textfile: { type: 'string' }, json: { type: 'boolean' } });
  const json = values.json === true;
  const textfile = typeof values.textfile === 'string' ? resolve(values.textfile) : null;
  if (textfile && !textfile.endsWith('.prom')) throw usageError('metrics', `--textfile must end in .prom (node_exporter reads only *.prom), got ${JSON.stringify(String(values.textfile).slice(0, 100))}`);
  if (textfile && json) throw usageError('metrics', '--textfile and --json exclude each other');
  const cfg = connectionFromEnv();
  let text: string;
  let rows: MetricRow[] = [];
  try {
    const client = await connect(cfg.databaseUrl, 'birthgate metrics');
    try {
      await client.query(`SET default_transaction_read_only = on; SET statement_timeout = '30s'; SET lock_timeout = '5s'`);
      await ensureInstalled(client, cfg.schema);
      const s = `"${cfg.schema}"`;
      if (json) {
        rows = (await client.query<MetricRow>(`SELECT metric, metric_type, help, labels, value FROM ${s}.v_metrics ORDER BY metric_order, labels::text`)).rows;
      }
      text = (await client.query<{ t: string }>(`SELECT ${s}.metrics_exposition() AS t`)).rows[0]!.t;
    } catch (e) {
      await explainDenied(client, e, 'metrics', cfg.schema);
      throw e;
    } finally {
      await client.end().catch(() => {});
    }
  } catch (e) {
    if (textfile) {
      // leave a file that says "down", so the alert on birthgate_up fires instead of stale numbers lingering
      try {
        writeAtomically(textfile, `# HELP birthgate_up 1 when birthgate metrics last read the database, 0 when it failed.\n# TYPE birthgate_up gauge\nbirthgate_up 0\n`);
      } catch (w) {
        console.error(errorText('birthgate metrics: cannot write the textfile either', describeError(w)));
      }
    }
    throw e;
  }
  if (json) {
    printJson({
      ok: true,
      metrics: rows.map((r) => ({ metric: r.metric, type: r.metric_type, help: r.help, labels: r.labels, value: Number.isFinite(r.value) ? r.value : null })),
    });
  } else if (textfile) {
    writeAtomically(textfile, `${text}# HELP birthgate_up 1 when birthgate metrics last read the database, 0 when it failed.\n# TYPE birthgate_up gauge\nbirthgate_up 1\n`);
  } else process.stdout.write(text);
  return EXIT.OK;
}
