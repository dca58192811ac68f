/**
 * 000011 admission fast path (issue 8, follow-up): admission at bulk speed, and a writer whose plan
 * cannot go bad.
 *  - tg_birth_register (and the other gate functions) plan their statements at every execution
 *    (force_custom_plan instead of 000006's force_generic_plan: a generic plan made while the
 *    registry was small never finished a later bulk INSERT in the same session).
 *  - _900_birth_finalize gets a WHEN clause that queues no commit-time event per row while the
 *    statement writer is certain to check the statement (armed by tg_birth_gate for the first row
 *    of each INSERT statement in enforce mode); one event per transaction and collection then
 *    re-verifies the writer's births set-based at commit.
 *  - The code column may be a domain at any depth over text, varchar or name (gates,
 *    register_family and move_family now agree with family_read_source).
 * Every registered family gets the new trigger set on the way up and the 000006 set back on the
 * way down. SQL: generator/admission/statement_gate_v3.ts, functions_v3.ts.
 */
import type { Ctx } from '../lib/ctx.js';
import type { Migration } from '../lib/migration.js';
import { sqlText } from '../lib/sql.js';
import { recaptureDriftBaseline } from '../drift/monitor.js';
import * as v2 from '../admission/statement_gate.js';
import * as v3 from '../admission/statement_gate_v3.js';
import { admissionFunctionsV2 } from '../admission/functions_v2.js';
import { admissionFunctionsV3 } from '../admission/functions_v3.js';

const orReplace = (sql: string) => sql.replace(/^CREATE FUNCTION/, 'CREATE OR REPLACE FUNCTION');

/** Every family whose table exists gets the trigger set of the attach function now installed. */
export function reattachAll(c: Ctx, what: string): string {
  return sqlText`
    DO $reattach$
    DECLARE
        v_family record;
    BEGIN
        FOR v_family IN
            SELECT f.collection_name FROM ${c.q('birth_family')} f
             WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class k WHERE k.oid = f.table_name)
             ORDER BY f.collection_name
        LOOP
            PERFORM ${c.q('birth_family_attach_gates')}(v_family.collection_name);
            RAISE NOTICE 'birthgate: collection % now carries ${what}', v_family.collection_name;
        END LOOP;
    END
    $reattach$;`;
}

export const admissionFastPath: Migration = {
  id: '000011',
  slug: 'admission_fast_path',
  summary: 'admission fast path: writer planned per execution, no per-row commit-time check for rows the statement writer checked, code domains at any depth',
  up: (c) => [
    v3.triggerDefsFunction(c),
    v3.gateCheckFunction(c),
    v3.registerTriggerFunction(c),
    v3.finalizeCheckFunction(c),
    ...admissionFunctionsV3(c),
    reattachAll(c, 'the 000011 gate triggers (WHEN clauses of _100_birth_gate and _900_birth_finalize)'),
    recaptureDriftBaseline(c),
  ],
  down: (c) => {
    const old = admissionFunctionsV2(c); // lock, attach, register, move, ...
    return [
      orReplace(v2.triggerDefsFunction(c)),
      v2.gateCheckFunction(c),
      orReplace(v2.registerTriggerFunction(c)),
      v2.finalizeCheckFunction(c),
      orReplace(old[2]!),
      orReplace(old[3]!),
      reattachAll(c, 'the 000006 gate triggers again'),
      recaptureDriftBaseline(c),
    ];
  },
};
