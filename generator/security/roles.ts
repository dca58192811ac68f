/**
 * Least-privilege roles (migration 000007).
 *
 * `<schema>_consumer` (NOLOGIN): runs the governance handoff and nothing else. Before 0.2 a cron job
 * needed `<schema>_admin`, which can also register families, change modes, bypass the gate and
 * retire. The consumer gets EXECUTE on handoff_consume and handoff_drain, SELECT on
 * v_handoff_status and the cursor/heartbeat row (handoff_cursor), and EXECUTE on the two helpers
 * v_handoff_status calls (a function in a view runs with the privileges of the caller).
 *
 * `birthgate status` for `<schema>_reader` (and `_admin`): USAGE on the migrations bookkeeping
 * schema and SELECT on its pgmigrations table (when it exists: the migrator and the install script
 * create it), and SELECT on handoff_cursor (the status command reads the heartbeat there).
 */
import type { Ctx } from '../lib/ctx.js';
import { lit, qi, sqlText } from '../lib/sql.js';

export const consumerFunctions = (c: Ctx) => [
  `FUNCTION ${c.q('handoff_consume')}(integer)`,
  `FUNCTION ${c.q('handoff_horizon')}()`,
  `FUNCTION ${c.q('handoff_holding_xact')}()`,
  `PROCEDURE ${c.q('handoff_drain')}(integer, integer)`,
];

export function createConsumerRole(c: Ctx): string {
  const { consumer } = c.roles;
  return sqlText`
    DO $roles$
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = ${lit(consumer)}) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', ${lit(consumer)});
        END IF;
    END
    $roles$;`;
}

export function consumerGrants(c: Ctx): string {
  const { consumer } = c.roles;
  return [
    `GRANT USAGE ON SCHEMA ${c.s} TO ${qi(consumer)};`,
    ...consumerFunctions(c).map((f) => `GRANT EXECUTE ON ${f} TO ${qi(consumer)};`),
    `GRANT SELECT ON ${c.q('v_handoff_status')}, ${c.q('handoff_cursor')} TO ${qi(consumer)};`,
  ].join('\n');
}

/** Status readers: the heartbeat row and the migrations bookkeeping. */
export function statusGrants(c: Ctx): string {
  const { admin, reader } = c.roles;
  const ms = c.migrationsSchema;
  return sqlText`
    GRANT SELECT ON ${c.q('handoff_cursor')} TO ${qi(admin)}, ${qi(reader)};
    DO $grants$
    BEGIN
        IF pg_catalog.to_regclass(${lit(`${qi(ms)}.${qi('pgmigrations')}`)}) IS NOT NULL THEN
            EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I, %I', ${lit(ms)}, ${lit(admin)}, ${lit(reader)});
            EXECUTE pg_catalog.format('GRANT SELECT ON %I.%I TO %I, %I', ${lit(ms)}, 'pgmigrations', ${lit(admin)}, ${lit(reader)});
        END IF;
    END
    $grants$;`;
}

export function revokeStatusGrants(c: Ctx): string {
  const { admin, reader } = c.roles;
  const ms = c.migrationsSchema;
  return sqlText`
    DO $grants$
    BEGIN
        IF pg_catalog.to_regclass(${lit(`${qi(ms)}.${qi('pgmigrations')}`)}) IS NOT NULL THEN
            EXECUTE pg_catalog.format('REVOKE SELECT ON %I.%I FROM %I, %I', ${lit(ms)}, 'pgmigrations', ${lit(admin)}, ${lit(reader)});
            EXECUTE pg_catalog.format('REVOKE USAGE ON SCHEMA %I FROM %I, %I', ${lit(ms)}, ${lit(admin)}, ${lit(reader)});
        END IF;
    END
    $grants$;
    REVOKE SELECT ON ${c.q('handoff_cursor')} FROM ${qi(admin)}, ${qi(reader)};`;
}

/** Down: take back what the consumer got here, then drop the role unless another database still uses it. */
export function dropConsumerRole(c: Ctx): string {
  const { consumer } = c.roles;
  return sqlText`
    REVOKE SELECT ON ${c.q('v_handoff_status')}, ${c.q('handoff_cursor')} FROM ${qi(consumer)};
    ${consumerFunctions(c)
      .map((f) => `REVOKE EXECUTE ON ${f} FROM ${qi(consumer)};`)
      .join('\n    ')}
    REVOKE USAGE ON SCHEMA ${c.s} FROM ${qi(consumer)};
    DO $roles$
    BEGIN
        EXECUTE pg_catalog.format('DROP ROLE IF EXISTS %I', ${lit(consumer)});
    EXCEPTION WHEN dependent_objects_still_exist THEN
        RAISE NOTICE 'role % kept: it still has privileges or members elsewhere in the cluster', ${lit(consumer)};
    END
    $roles$;`;
}
