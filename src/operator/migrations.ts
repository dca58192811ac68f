/**
 * The operator's view of the migrations: the files on disk (node-pg-migrate SQL format, split the
 * way node-pg-migrate splits them), what the target database has applied, and what is pending.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { migrationsDir } from '../paths.js';
import { migrationsDirFor } from '../migrate.js';

export interface MigrationFile {
  /** node-pg-migrate's name: the file name without .sql. */
  name: string;
  path: string;
  text: string;
  sha256: string;
  up: string;
  down: string | null;
}

export const sha256 = (text: string | Buffer): string => createHash('sha256').update(text).digest('hex');

const marker = (direction: string) => new RegExp(`^\\s*--[\\s-]*${direction}\\s+migration`, 'im');

/** Split a migration file into its Up and Down sections exactly like node-pg-migrate does. */
export function splitMigration(text: string): { up: string; down: string | null } {
  const upAt = text.search(marker('up'));
  const downAt = text.search(marker('down'));
  const up = upAt >= 0 ? text.slice(upAt, downAt < upAt ? undefined : downAt) : text;
  const down = downAt >= 0 ? text.slice(downAt, upAt < downAt ? undefined : upAt) : null;
  return { up, down };
}

export function readMigrationFiles(dir = migrationsDir): MigrationFile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => {
      const path = join(dir, f);
      const text = readFileSync(path, 'utf8');
      return { name: f.replace(/\.sql$/, ''), path, text, sha256: sha256(text), ...splitMigration(text) };
    });
}

export interface MigrationState {
  /** The bookkeeping table, quoted and qualified. */
  table: string;
  tableExists: boolean;
  applied: string[];
  files: MigrationFile[];
  pending: MigrationFile[];
  /** Applied migrations with no file here (the database is ahead of this checkout). */
  unknown: string[];
  /** Pending files that sort before the last applied one (node-pg-migrate's checkOrder refuses these). */
  outOfOrder: string[];
}

export function migrationsTable(schema: string): string {
  return `"${schema}_migrations"."pgmigrations"`;
}

/** `dir` defaults to the migrations for `schema` (see migrationsDirFor). */
export async function migrationState(client: pg.Client, schema: string, dir?: string): Promise<MigrationState> {
  const files = readMigrationFiles(dir ?? (await migrationsDirFor(schema)));
  const table = migrationsTable(schema);
  const exists = await client.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [table]);
  const tableExists = exists.rows[0]!.ok;
  const applied = tableExists
    ? (await client.query<{ name: string }>(`SELECT name FROM ${table} ORDER BY run_on, id`)).rows.map((r) => r.name)
    : [];
  const done = new Set(applied);
  const names = new Set(files.map((f) => f.name));
  const pending = files.filter((f) => !done.has(f.name));
  const last = [...applied].sort().pop();
  return {
    table,
    tableExists,
    applied,
    files,
    pending,
    unknown: applied.filter((n) => !names.has(n)),
    outOfOrder: last ? pending.filter((f) => f.name < last).map((f) => f.name) : [],
  };
}
