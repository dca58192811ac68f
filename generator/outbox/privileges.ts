/**
 * Privileges of outbox delivery. Nothing is granted to PUBLIC; the tables are written only by
 * the SECURITY DEFINER functions.
 *   delivery : USAGE on the schema, EXECUTE on outbox_claim, outbox_ack, outbox_fail — nothing else
 *   admin    : every outbox function; SELECT on the new tables and views
 *   reader   : SELECT on event_dead_letter, outbox_receipt, outbox_config and the views
 * The delivery role is cluster-wide: created if missing, dropped on the way down unless another
 * database still uses it.
 */
import type { Ctx } from '../lib/ctx.js';
import { lit, qi, sqlText } from '../lib/sql.js';
import { deliveryRole, fnRef, signatures, type OutboxFunction } from './common.js';

const tables = ['event_dead_letter', 'outbox_receipt', 'outbox_config', 'outbox_counter'];
const views = ['v_outbox_status', 'v_outbox_findings'];
const workerApi: OutboxFunction[] = ['outbox_claim', 'outbox_ack', 'outbox_fail'];

export function createRole(c: Ctx): string {
  return sqlText`
    DO $roles$
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = ${lit(deliveryRole(c))}) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', ${lit(deliveryRole(c))});
        END IF;
    END
    $roles$;`;
}

export function dropRole(c: Ctx): string {
  return sqlText`
    REVOKE USAGE ON SCHEMA ${c.s} FROM ${qi(deliveryRole(c))};
    DO $roles$
    BEGIN
        EXECUTE format('DROP ROLE IF EXISTS %I', ${lit(deliveryRole(c))});
    EXCEPTION WHEN dependent_objects_still_exist THEN
        RAISE NOTICE 'role % kept: it still has privileges or members elsewhere in the cluster', ${lit(deliveryRole(c))};
    END
    $roles$;`;
}

export function grants(c: Ctx): string {
  const { admin, reader } = c.roles;
  const delivery = qi(deliveryRole(c));
  const all = Object.keys(signatures) as OutboxFunction[];
  return [
    ...tables.map((t) => `REVOKE ALL ON TABLE ${c.q(t)} FROM PUBLIC;`),
    ...views.map((v) => `REVOKE ALL ON TABLE ${c.q(v)} FROM PUBLIC;`),
    ...all.map((f) => `REVOKE ALL ON FUNCTION ${fnRef(c, f)} FROM PUBLIC;`),
    `GRANT USAGE ON SCHEMA ${c.s} TO ${delivery};`,
    `GRANT EXECUTE ON FUNCTION ${workerApi.map((f) => fnRef(c, f)).join(', ')} TO ${delivery};`,
    `GRANT EXECUTE ON FUNCTION ${all.map((f) => fnRef(c, f)).join(', ')} TO ${qi(admin)};`,
    `GRANT SELECT ON TABLE ${[...tables, ...views].map((t) => c.q(t)).join(', ')} TO ${qi(admin)};`,
    `GRANT SELECT ON TABLE ${['event_dead_letter', 'outbox_receipt', 'outbox_config', ...views].map((t) => c.q(t)).join(', ')} TO ${qi(reader)};`,
  ].join('\n');
}
