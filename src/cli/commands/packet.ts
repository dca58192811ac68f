/**
 * birthgate packet — write the operator apply packet for DATABASE_URL's pending migrations (or,
 * with --all, for a database without birthgate: no connection needed).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { connectionFromEnv } from '../../config.js';
import { connect } from '../../db.js';
import { parseFlags } from '../../operator/args.js';
import { migrationState, readMigrationFiles } from '../../operator/migrations.js';
import { migrationsDirFor } from '../../migrate.js';
import { buildPacket, writePacket } from '../../operator/packet.js';
import { COMMON_EXIT_CODES, CliError, printJson } from '../io.js';

export const usage = `birthgate packet [--out DIR] [--all] [--json]
  Writes the operator apply packet: apply.sql (pending migrations + bookkeeping rows, one
  transaction, guarded against a database in another state), rollback.sql (the Down sections in
  reverse order), verify.sql (read-only checks), manifest.json (checksums), SHA256SUMS, APPLY.md.
  --out DIR   where to write it (default ./birthgate-packet); must not already hold a packet
  --all       every migration, for a database without birthgate (no DATABASE_URL needed)
exit codes:
${COMMON_EXIT_CODES}
  (0: written, or nothing pending and nothing written; 2 also when DIR already holds a packet)`;

const Flags = z.object({
  out: z.string().min(1).default('birthgate-packet'),
  all: z.boolean().default(false),
  json: z.boolean().default(false),
});

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlags('packet', usage, argv, { out: { type: 'string' }, all: { type: 'boolean' }, json: { type: 'boolean' } }, Flags);
  const out = resolve(flags.out);
  if (existsSync(join(out, 'manifest.json'))) throw new CliError(`packet: ${out} already holds a packet; choose another --out`, 2);
  let base: string[] = [];
  const schemaName = process.env.BIRTHGATE_SCHEMA || 'birthgate';
  let migrations = readMigrationFiles(await migrationsDirFor(schemaName));
  let target: { database: string; host: string } | null = null;
  const schema = flags.all ? schemaName : connectionFromEnv().schema;
  if (!flags.all) {
    const cfg = connectionFromEnv();
    const client = await connect(cfg.databaseUrl, 'birthgate packet');
    try {
      const state = await migrationState(client, cfg.schema);
      if (state.unknown.length) throw new CliError(`packet: the database has migrations this checkout does not know: ${state.unknown.join(', ')}`, 1);
      if (state.outOfOrder.length) throw new CliError(`packet: pending migrations sort before the last applied one: ${state.outOfOrder.join(', ')}`, 1);
      base = state.applied;
      migrations = state.pending;
      const r = await client.query<{ db: string; host: string | null }>(`SELECT current_database() AS db, inet_server_addr()::text AS host`);
      const u = new URL(cfg.databaseUrl);
      target = { database: r.rows[0]!.db, host: r.rows[0]!.host ?? (u.searchParams.get('host') || u.hostname || 'local socket') };
    } finally {
      await client.end();
    }
  }
  if (migrations.length === 0) {
    if (flags.json) printJson({ ok: true, written: false, reason: 'nothing pending', base });
    else console.log('packet: nothing pending; no packet written');
    return 0;
  }
  const files = buildPacket({ schema, base, migrations, target });
  writePacket(out, files);
  if (flags.json) printJson({ ok: true, written: true, dir: out, base, migrations: migrations.map((m) => m.name), files: files.map((f) => f.path) });
  else {
    console.log(`packet: ${migrations.length} migration(s) (${migrations.map((m) => m.name).join(', ')}) written to ${out}`);
    for (const f of files) console.log(`  ${f.path}`);
    console.log(`next: cd ${out} && sha256sum -c SHA256SUMS; then follow APPLY.md`);
  }
  return 0;
}
