/**
 * 000002 admission: birth admission control (issue 3). Permits (birth_admission_permit), the gates'
 * evidence (birth_gate_violation), the layer-1 BEFORE gate and the layer-2 DEFERRABLE finalize gate
 * attached per family by register_family, the kill switch, retire. The SQL lives in generator/admission/.
 */
import type { Ctx } from '../lib/ctx.js';
import type { Migration } from '../lib/migration.js';
import { lit, sqlText } from '../lib/sql.js';
import { FINALIZE_TRIGGER, GATE_TRIGGER, raiseAt } from '../admission/common.js';
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

/**
 * Down: permits and violations are audit evidence that no later up can restore. With any such
 * rows the down migration refuses (BG151) unless <schema>.down_discard_admission_data = on; then
 * it clears birth_registry.permit_id (the permits it named are about to be dropped) and goes on.
 */
function downGuard(c: Ctx): string {
  const setting = `${c.schema}.down_discard_admission_data`;
  return sqlText`
    DO $guard$
    DECLARE
        v_permits bigint;
        v_violations bigint;
        v_linked bigint;
    BEGIN
        SELECT count(*) INTO v_permits FROM ${c.q('birth_admission_permit')};
        SELECT count(*) INTO v_violations FROM ${c.q('birth_gate_violation')};
        SELECT count(*) INTO v_linked FROM ${c.q('birth_registry')} WHERE permit_id IS NOT NULL;
        IF v_permits + v_violations = 0 THEN
            RETURN;
        END IF;
        IF COALESCE(pg_catalog.current_setting(${lit(setting)}, true), '') <> 'on' THEN
            ${raiseAt(12, 'ADMISSION_DOWN_DATA_LOSS', `pg_catalog.format('%s permits and %s gate violations would be dropped, %s registry rows name a permit; to go ahead set %s = on', v_permits, v_violations, v_linked, ${lit(setting)})`)}
        END IF;
        UPDATE ${c.q('birth_registry')} SET permit_id = NULL WHERE permit_id IS NOT NULL;
        RAISE NOTICE 'birthgate: discarding % permits and % gate violations; permit_id cleared on % registry rows', v_permits, v_violations, v_linked;
    END
    $guard$;`;
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
    downGuard(c),
    detachGates(c),
    ...revokeGrants(c),
    ...functionRefs(c)
      .filter((f) => !/tg_birth_admission_permit_guard|tg_birth_gate_violation_append_only/.test(f))
      .map((f) => `DROP FUNCTION ${f};`),
    ...dropAdmissionTables(c),
  ],
};
