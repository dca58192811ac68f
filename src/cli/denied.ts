/**
 * A 42501 (insufficient privilege) met by a read-only monitoring command (status, metrics) names the
 * object it could not read and the exact GRANT that fixes it for the login that ran it: the generic
 * operator hint only lists the package roles.
 */
import type pg from 'pg';

const DENIED = /permission denied for (?:view|table|relation|function|procedure|schema|sequence) ("?[^\s"]+"?)/;

export async function explainDenied(client: pg.Client, e: unknown, command: string, schema: string): Promise<void> {
  const err = e as { code?: unknown; message?: unknown; hint?: string };
  if (err?.code !== '42501' || err.hint || typeof err.message !== 'string') return;
  const m = DENIED.exec(err.message);
  if (!m) return;
  const who = await client
    .query<{ u: string; roles: string | null }>(
      `SELECT current_user AS u,
              (SELECT string_agg(r.rolname, ', ' ORDER BY r.rolname) FROM pg_catalog.pg_roles AS r
               WHERE r.rolname LIKE $1 AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')) AS roles`,
      [`${schema.replaceAll('_', '\\_')}\\_%`],
    )
    .then((r) => r.rows[0])
    .catch(() => undefined);
  if (!who) return;
  const object = m[1]!.includes('.') ? m[1]! : `${schema}.${m[1]}`;
  const quoted = /^[a-z_][a-z0-9_$]*$/.test(who.u) ? who.u : `"${who.u.replaceAll('"', '""')}"`;
  err.hint =
    `birthgate ${command} reads ${object}, which the login ${who.u} may not read (its package roles: ${who.roles ?? 'none'}). ` +
    `${command} needs the monitoring role: GRANT ${schema}_reader TO ${quoted};`;
}
