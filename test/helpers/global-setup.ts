/**
 * vitest global setup: one template database migrated once per run; each test file copies it
 * (CREATE DATABASE ... TEMPLATE) through freshDatabase() in ./db.ts.
 */
import type { TestProject } from 'vitest/node';
import pg from 'pg';
import { migrate } from '../../src/migrate.js';
import { withDatabase } from '../../src/db.js';
import { ensureBuilt } from './build.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDb: string;
  }
}

export default async function setup(project: TestProject) {
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) throw new Error('DATABASE_URL is not set: run the tests through `make test` (it starts a throwaway PostgreSQL)');
  ensureBuilt(); // the CLI tests run the compiled bin/birthgate.mjs
  const templateDb = `bg_tpl_${process.pid}`;
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${templateDb}`);
  await admin.query(`CREATE DATABASE ${templateDb}`);
  await migrate({ databaseUrl: withDatabase(adminUrl, templateDb), direction: 'up' });
  await admin.end();
  project.provide('adminUrl', adminUrl);
  project.provide('templateDb', templateDb);
  return async () => {
    const c = new pg.Client(adminUrl);
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${templateDb} WITH (FORCE)`);
    await c.end();
  };
}
