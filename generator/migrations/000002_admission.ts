/**
 * 000002 admission: birth admission control (issue 3). Permits (birth_admission_permit), the gates'
 * evidence (birth_gate_violation), the layer-1 BEFORE gate and the layer-2 DEFERRABLE finalize gate
 * attached per family by register_family, the kill switch, retire. The SQL lives in generator/admission/.
 */
import type { Ctx } from '../lib/ctx.js';
import type { Migration } from '../lib/migration.js';
import { lit, sqlText } from '../lib/sql.js';
import { FINALIZE_TRIGGER, GATE_TRIGGER } from '../admission/common.js';
import { admissionFunctions } from '../admission/functions.js';
import { finalizeFunction, gateFunction } from '../admission/gate.js';
import { functionRefs, grants, revokeGrants } from '../admission/privileges.js';
import { admissionGuards, admissionTableComments, admissionTables, dropAdmissionTables } from '../admission/tables.js';

/** Down: take the gate triggers off every registered family table that still exists. */
function detachGates(c: Ctx): string {
  return sqlText`
    DO $detach$
    DECLARE
        v_family record;
    BEGIN
        FOR v_family IN
            SELECT f.collection_name, format('%I.%I', n.nspname, k.relname) AS table_ident
              FROM ${c.q('birth_family')} f
              JOIN pg_catalog.pg_class k ON k.oid = f.table_name
              JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
        LOOP
            EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %s', ${lit(GATE_TRIGGER)}, v_family.table_ident);
            EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %s', ${lit(FINALIZE_TRIGGER)}, v_family.table_ident);
            RAISE NOTICE 'birthgate: gate triggers removed from % (collection %): the family is no longer governed', v_family.table_ident, v_family.collection_name;
        END LOOP;
    END
    $detach$;`;
}

export const admission: Migration = {
  id: '000002',
  slug: 'admission',
  summary: 'admission control: permits, layer-1 BEFORE gate, layer-2 deferred finalize gate, per-family code rules, kill switch, retire',
  up: (c) => [
    ...admissionTables(c),
    ...admissionGuards(c),
    gateFunction(c),
    finalizeFunction(c),
    ...admissionFunctions(c),
    ...admissionTableComments(c),
    ...grants(c),
  ],
  down: (c) => [
    detachGates(c),
    ...revokeGrants(c),
    ...functionRefs(c)
      .filter((f) => !/tg_birth_admission_permit_guard|tg_birth_gate_violation_append_only/.test(f))
      .map((f) => `DROP FUNCTION ${f};`),
    ...dropAdmissionTables(c),
  ],
};
