/**
 * 000003 handoff: the governance handoff (issue 4) — a pull-based, set-based cursor consumer of
 * registry_changelog that marks governance candidates dirty and emits or captures
 * handoff.object_born, with its drain procedure, lane switching and release, governed activation
 * and the reconciliation / health views. No new tables (the substrate holds them), and nothing
 * on the birth path calls any of it.
 */
import type { Ctx } from '../lib/ctx.js';
import type { Migration } from '../lib/migration.js';
import { qi } from '../lib/sql.js';
import { activateFunction } from '../handoff/activation.js';
import { consumeFunction, drainProcedure, holdingFunction, horizonFunction } from '../handoff/consume.js';
import { releasePendingFunction, setEventTypeActiveFunction } from '../handoff/lanes.js';
import { lagView, statusView } from '../handoff/views.js';

/** Functions in creation order, with their argument lists (for GRANT / DROP). */
const functions = {
  handoff_horizon: '()',
  handoff_holding_xact: '()',
  handoff_consume: '(integer)',
  set_event_type_active: '(text, boolean)',
  release_pending: '(text)',
  activate_candidates: '(integer)',
} as const;

function grants(c: Ctx): string {
  const { admin, reader } = c.roles;
  const fn = (name: keyof typeof functions) => `${c.q(name)}${functions[name]}`;
  const revokes = (Object.keys(functions) as (keyof typeof functions)[]).map(
    (name) => `REVOKE ALL ON FUNCTION ${fn(name)} FROM PUBLIC;`,
  );
  return [
    ...revokes,
    `REVOKE ALL ON PROCEDURE ${c.q('handoff_drain')}(integer, integer) FROM PUBLIC;`,
    `GRANT EXECUTE ON FUNCTION ${fn('handoff_horizon')}, ${fn('handoff_holding_xact')} TO ${qi(admin)}, ${qi(reader)};`,
    `GRANT EXECUTE ON FUNCTION ${fn('handoff_consume')}, ${fn('set_event_type_active')}, ${fn('release_pending')}, ${fn('activate_candidates')} TO ${qi(admin)};`,
    `GRANT EXECUTE ON PROCEDURE ${c.q('handoff_drain')}(integer, integer) TO ${qi(admin)};`,
    `REVOKE ALL ON ${c.q('v_handoff_lag')}, ${c.q('v_handoff_status')} FROM PUBLIC;`,
    `GRANT SELECT ON ${c.q('v_handoff_lag')}, ${c.q('v_handoff_status')} TO ${qi(admin)}, ${qi(reader)};`,
  ].join('\n');
}

export const handoff: Migration = {
  id: '000003',
  slug: 'handoff',
  summary: 'governance handoff: set-based xid8-horizon cursor consumer, drain, lanes, governed activation, lag/status views',
  up: (c) => [
    horizonFunction(c),
    holdingFunction(c),
    consumeFunction(c),
    drainProcedure(c),
    setEventTypeActiveFunction(c),
    releasePendingFunction(c),
    activateFunction(c),
    lagView(c),
    statusView(c),
    grants(c),
  ],
  down: (c) => [
    `DROP VIEW ${c.q('v_handoff_status')};`,
    `DROP VIEW ${c.q('v_handoff_lag')};`,
    `DROP PROCEDURE ${c.q('handoff_drain')}(integer, integer);`,
    ...(Object.keys(functions) as (keyof typeof functions)[])
      .reverse()
      .map((name) => `DROP FUNCTION ${c.q(name)}${functions[name]};`),
  ],
};
