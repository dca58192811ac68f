/**
 * Test databases: every test file gets its own copy of the migrated template (fast, isolated),
 * or an empty database for tests that migrate themselves. Real PostgreSQL, never a mock.
 */
import { afterAll, inject } from 'vitest';
import pg from 'pg';
import { withDatabase } from '../../src/db.js';

let counter = 0;

export function adminUrl(): string {
  return inject('adminUrl');
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client(adminUrl());
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export interface TestDb {
  name: string;
  url: string;
  /** A new connected client (closed by drop()). */
  client(): Promise<pg.Client>;
  drop(): Promise<void>;
}

async function create(template: string | null): Promise<TestDb> {
  const name = `bg_t_${process.pid}_${++counter}_${Math.random().toString(36).slice(2, 8)}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`));
  const url = withDatabase(adminUrl(), name);
  const clients: pg.Client[] = [];
  return {
    name,
    url,
    async client() {
      const c = new pg.Client(url);
      await c.connect();
      clients.push(c);
      return c;
    },
    async drop() {
      await Promise.allSettled(clients.map((c) => c.end()));
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/** A copy of the migrated template database. */
export function freshDatabase(): Promise<TestDb> {
  return create(inject('templateDb'));
}

/** An empty database (nothing installed). */
export function emptyDatabase(): Promise<TestDb> {
  return create(null);
}

/**
 * For a test file's top level: databases made through the returned functions are all dropped
 * after the file's tests (afterAll), whichever test created them.
 */
export function databasesDroppedAfterAll(): { empty(): Promise<TestDb>; fresh(): Promise<TestDb> } {
  const made: TestDb[] = [];
  afterAll(async () => {
    await Promise.all(made.map((d) => d.drop()));
  });
  const keep = async (p: Promise<TestDb>) => {
    const d = await p;
    made.push(d);
    return d;
  };
  return { empty: () => keep(emptyDatabase()), fresh: () => keep(freshDatabase()) };
}
