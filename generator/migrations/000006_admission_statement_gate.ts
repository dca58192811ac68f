/**
 * 000006 admission statement gate (issue 8): a birth only for a row that really exists, set-based.
 * Layer 1 splits into a validating BEFORE ROW trigger and a writing AFTER ... FOR EACH STATEMENT
 * trigger with a transition table (plus an AFTER UPDATE OF <code> row trigger for re-codes); layer 2
 * checks both directions at commit. Permit time is clock time, consistently. register_family refuses
 * to re-register a collection onto another table (move_family records an explicit move), locks under
 * a bounded lock_timeout; code length limit per family. Every registered family gets the new trigger
 * set on the way up and the 0.1.0 pair back on the way down. SQL: generator/admission/*_v2.ts,
 * statement_gate.ts, generator/drift/trigger_state_v2.ts.
 */
import type { Ctx } from '../lib/ctx.js';
import type { Migration } from '../lib/migration.js';
import { lit, qi, sqlText } from '../lib/sql.js';
import { raiseAt } from '../errors/index.js';
import { recaptureDriftBaseline, objectViews } from '../drift/monitor.js';
import { gateTriggersPresentFunction, triggerStateView } from '../drift/trigger_state_v2.js';
import { finalizeFunction, gateFunction, triggerComments } from '../admission/gate.js';
import { admissionFunctions } from '../admission/functions.js';
import { finalizeCheckFunction, gateCheckFunction, registerTriggerFunction, triggerDefsFunction } from '../admission/statement_gate.js';
import { admissionFunctionsV2, signaturesV2 } from '../admission/functions_v2.js';
import { tablesDown, tablesUp } from '../admission/tables_v2.js';
import { ALL_GATE_TRIGGERS, DEFAULT_CODE_LIMIT } from '../admission/v2_common.js';
import { familyRelationUnsafe } from '../admission/relation_safety.js';

const fnRef = (c: Ctx, sig: string) => `${c.s}.${qi(sig.slice(0, sig.indexOf('(')))}${sig.slice(sig.indexOf('('))}`;
const internal = [signaturesV2.attach, signaturesV2.lock, signaturesV2.defs, signaturesV2.register, 'birth_gate_triggers_present()'];
const adminApi = [signaturesV2.register_family6, signaturesV2.move_family, signaturesV2.set_family_code_limit];

function grantsUp(c: Ctx): string {
  return [
    ...[...internal, ...adminApi].map((f) => `REVOKE ALL ON FUNCTION ${fnRef(c, f)} FROM PUBLIC;`),
    ...adminApi.map((f) => `GRANT EXECUTE ON FUNCTION ${fnRef(c, f)} TO ${qi(c.roles.admin)};`),
    `GRANT EXECUTE ON FUNCTION ${fnRef(c, signaturesV2.defs)}, ${fnRef(c, 'birth_gate_triggers_present()')} TO ${qi(c.roles.admin)}, ${qi(c.roles.reader)};`,
  ].join('\n');
}

/** Up: every family already registered gets the new trigger set (its old pair is detached). */
function reattachAll(c: Ctx): string {
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
            RAISE NOTICE 'birthgate: collection % now carries the statement-level gate triggers', v_family.collection_name;
        END LOOP;
    END
    $reattach$;`;
}

/** Down guard: moves and non-default limits are data the 0.1.0 schema cannot hold. */
function downGuard(c: Ctx): string {
  const setting = `${c.schema}.down_discard_admission_data`;
  return sqlText`
    DO $guard$
    DECLARE
        v_moves bigint;
        v_limits bigint;
    BEGIN
        SELECT pg_catalog.count(*) INTO v_moves FROM ${c.q('birth_family_move')};
        SELECT pg_catalog.count(*) INTO v_limits FROM ${c.q('birth_family')} WHERE code_max_length <> ${DEFAULT_CODE_LIMIT};
        IF v_moves + v_limits > 0 AND COALESCE(pg_catalog.current_setting(${lit(setting)}, true), '') <> 'on' THEN
            ${raiseAt(12, 'ADMISSION_DOWN_DATA_LOSS', `pg_catalog.format('%s recorded family moves (birth_family_move) and %s families with a non-default code length limit would be dropped; to go ahead set %s = on', v_moves, v_limits, ${lit(setting)})`)}
        END IF;
    END
    $guard$;`;
}

/** Down: the 0.1.0 trigger pair back on every family table that still exists. */
function restoreOldTriggers(c: Ctx): string {
  const tc = triggerComments();
  return sqlText`
    DO $restore$
    DECLARE
        v_family record;
        v_trigger name;
    BEGIN
        FOR v_family IN
            SELECT f.collection_name, f.code_column, n.nspname, k.relname, pg_catalog.format('%I.%I', n.nspname, k.relname) AS ident
              FROM ${c.q('birth_family')} f
              JOIN pg_catalog.pg_class k ON k.oid = f.table_name
              JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
             ORDER BY f.collection_name
        LOOP
            FOR v_trigger IN
                SELECT t.tgname FROM pg_catalog.pg_trigger t
                 WHERE t.tgrelid = (v_family.ident)::regclass AND NOT t.tgisinternal
                   AND t.tgname = ANY (ARRAY[${ALL_GATE_TRIGGERS.map(lit).join(', ')}]::name[])
            LOOP
                EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', v_trigger, v_family.ident);
            END LOOP;
            EXECUTE pg_catalog.format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE OF %I ON %I.%I FOR EACH ROW EXECUTE FUNCTION %I.%I(%L)',
                           '_100_birth_gate', v_family.code_column, v_family.nspname, v_family.relname, ${lit(c.schema)}, 'tg_birth_gate', v_family.collection_name);
            EXECUTE pg_catalog.format('CREATE CONSTRAINT TRIGGER %I AFTER INSERT OR UPDATE OF %I ON %I.%I DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION %I.%I(%L)',
                           '_900_birth_finalize', v_family.code_column, v_family.nspname, v_family.relname, ${lit(c.schema)}, 'tg_birth_finalize', v_family.collection_name);
            EXECUTE pg_catalog.format('COMMENT ON TRIGGER %I ON %I.%I IS %L', '_100_birth_gate', v_family.nspname, v_family.relname,
                           ${lit(tc.gate)} || pg_catalog.format(' Collection %s.', v_family.collection_name));
            EXECUTE pg_catalog.format('COMMENT ON TRIGGER %I ON %I.%I IS %L', '_900_birth_finalize', v_family.nspname, v_family.relname,
                           ${lit(tc.finalize)} || pg_catalog.format(' Collection %s.', v_family.collection_name));
            RAISE NOTICE 'birthgate: collection % carries the 0.1.0 gate triggers again', v_family.collection_name;
        END LOOP;
    END
    $restore$;`;
}

const orReplace = (sql: string) => sql.replace(/^CREATE FUNCTION/, 'CREATE OR REPLACE FUNCTION');

/** The 0.1.0 v_drift_trigger_state (from 000004's generator), as CREATE OR REPLACE VIEW. */
function oldTriggerStateView(c: Ctx): string {
  const all = objectViews(c);
  const at = all.indexOf(`CREATE VIEW ${c.q('v_drift_trigger_state')}`);
  if (at < 0) throw new Error('000006: cannot find v_drift_trigger_state in objectViews()');
  return all.slice(at).replace('CREATE VIEW', 'CREATE OR REPLACE VIEW');
}

export const admissionStatementGate: Migration = {
  id: '000006',
  slug: 'admission_statement_gate',
  summary: 'admission on live tables: validating BEFORE ROW gate, set-based AFTER STATEMENT births, two-way layer 2, recorded family moves, code length limits',
  up: (c) => [
    ...tablesUp(c),
    familyRelationUnsafe(c),
    triggerDefsFunction(c),
    gateCheckFunction(c),
    registerTriggerFunction(c),
    finalizeCheckFunction(c),
    ...admissionFunctionsV2(c),
    gateTriggersPresentFunction(c),
    triggerStateView(c, true),
    grantsUp(c),
    reattachAll(c),
    recaptureDriftBaseline(c),
  ],
  down: (c) => {
    const old = admissionFunctions(c); // register, set_mode, issue, revoke, expire, retire_gate_check, retire
    return [
      downGuard(c),
      orReplace(gateFunction(c)),
      orReplace(finalizeFunction(c)),
      ...[0, 1, 2, 3, 4, 6].map((i) => orReplace(old[i]!)),
      restoreOldTriggers(c),
      oldTriggerStateView(c),
      [
        `DROP FUNCTION ${c.q('birth_gate_triggers_present')}();`,
        `DROP FUNCTION ${fnRef(c, signaturesV2.move_family)};`,
        `DROP FUNCTION ${fnRef(c, signaturesV2.set_family_code_limit)};`,
        `DROP FUNCTION ${fnRef(c, signaturesV2.register_family6)};`,
        `DROP FUNCTION ${fnRef(c, signaturesV2.attach)};`,
        `DROP FUNCTION ${fnRef(c, signaturesV2.lock)};`,
        `DROP FUNCTION ${fnRef(c, signaturesV2.defs)};`,
        `DROP FUNCTION ${fnRef(c, signaturesV2.register)};`,
        `DROP FUNCTION ${c.q('family_relation_unsafe')}(oid);`,
      ].join('\n'),
      ...tablesDown(c),
      recaptureDriftBaseline(c),
    ];
  },
};
