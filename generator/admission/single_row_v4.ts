/**
 * The admission gate as of migration 000015: a single-row birth at the cost of its writes, and a
 * commit-time re-verification no session setting can switch off.
 *
 *  - tg_birth_register keeps its plans cached (plan_cache_mode = auto, set by its SET clause
 *    whatever the session says) and births one code with four point statements: is the code born,
 *    consume its live permit (the partial unique index on ISSUED permits: at most one), insert the
 *    registry row, insert the changelog row. Anything that does not go through cleanly (NULL,
 *    empty or mismatching code, a born code, no live permit, the bypass switch, two or more codes)
 *    takes the set-based statement of 000011, which names the problem exactly as before; that
 *    statement is planned at every execution (plan_cache_mode = force_custom_plan for it only, see
 *    the F5 note in statement_gate_v3.ts).
 *  - The re-verification at commit of the births the statement writer made while layer 2's per-row
 *    events were skipped (_900_birth_finalize armed) was queued by a WHEN clause through a
 *    transaction-local setting (<schema>.gate_verify_<collection> = 'pending'); a session could set it
 *    first and so skip the re-verification. Now the writer itself, a SECURITY DEFINER function,
 *    queues it after every INSERT statement (whatever the markers say) by inserting one row per
 *    transaction and collection into admission_verify, a package
 *    table no other role may write; its deferred constraint trigger (_900_admission_reverify) runs
 *    the re-verification at commit (or at SET CONSTRAINTS ... IMMEDIATE) and deletes the row. The
 *    WHEN clause of _900_birth_finalize keeps only the armed test, and _900 is AFTER INSERT only: a
 *    DELETE has its own deferred trigger _905_birth_finalize_delete without a WHEN clause (with the
 *    armed marker forged, a DELETE skipped layer 2 in 000011).
 *  - A transaction of a few births re-verifies them with cached point lookups and one presence probe
 *    per code; many births keep the set-based query (hash joins above 1,000), planned per execution.
 *    Planner settings are scoped by the functions' SET clauses (no manual save/restore).
 */
import type { Ctx } from '../lib/ctx.js';
import { comment, commentTrigger } from '../lib/migration.js';
import { lit, orReplace, qi, replaceOnce, sqlText } from '../lib/sql.js';
import { ACTOR, PINNED, at } from './common.js';
import { ALL_GATE_TRIGGERS, raiseQ, short } from './v2_common.js';
import { admissionFunctionsV2 } from './functions_v2.js';
import { admissionFunctionsV3 } from './functions_v3.js';
import { gateTriggersPresentFunction } from '../drift/trigger_state_v2.js';
import * as v3 from './statement_gate_v3.js';
import { planningRiskProbe } from './statement_gate.js';
import { armedSetting, baseTypeOf } from './v3_common.js';

/** The package table the writer queues the commit-time re-verification in. */
export const VERIFY_TABLE = 'admission_verify';
/** Its deferred constraint trigger. */
export const REVERIFY_TRIGGER = '_900_admission_reverify';
/** Layer 2 for a DELETE (since 000015): deferred, on every deleted row, no WHEN clause. */
export const FINALIZE_DELETE_TRIGGER = '_905_birth_finalize_delete';
/** Every trigger name a family table may carry from any version, 000015's included. */
export const ALL_GATE_TRIGGERS_V4 = [...ALL_GATE_TRIGGERS, FINALIZE_DELETE_TRIGGER] as const;
const nameArray = (names: readonly string[]) => `ARRAY[${names.map(lit).join(', ')}]::name[]`;

/** Replace every occurrence of `from` (at least `n`) in `sql`. */
function replaceAllN(sql: string, from: string, to: string, n: number): string {
  const parts = sql.split(from);
  if (parts.length - 1 !== n) throw new Error(`single_row_v4: expected ${n} of ${JSON.stringify(from.slice(0, 80))}, found ${parts.length - 1}`);
  return parts.join(to);
}

/** birth_family_attach_gates (000006) knowing the 000015 trigger set (detaches _905 too, comments it). */
export function attachGatesV4(c: Ctx): string {
  let sql = orReplace(admissionFunctionsV2(c)[1]!);
  sql = replaceAllN(sql, nameArray(ALL_GATE_TRIGGERS), nameArray(ALL_GATE_TRIGGERS_V4), 2);
  return replaceOnce(
    sql,
    "WHEN '_910_birth_finalize_recode' THEN",
    `WHEN ${lit(FINALIZE_DELETE_TRIGGER)} THEN 'layer 2 at commit for a DELETE: an object born in this transaction may not vanish'
                        WHEN '_910_birth_finalize_recode' THEN`,
  );
}
export const attachGatesV2 = (c: Ctx) => orReplace(admissionFunctionsV2(c)[1]!);

/** move_family (000011) knowing the 000015 trigger set. */
export function moveFamilyV4(c: Ctx): string {
  return replaceAllN(admissionFunctionsV3(c)[1]!, nameArray(ALL_GATE_TRIGGERS), nameArray(ALL_GATE_TRIGGERS_V4), 1);
}

/** birth_gate_triggers_present (000006, read by v_drift_trigger_state) knowing the 000015 trigger set. */
export function gateTriggersPresentV4(c: Ctx): string {
  return replaceAllN(orReplace(gateTriggersPresentFunction(c)), nameArray(ALL_GATE_TRIGGERS), nameArray(ALL_GATE_TRIGGERS_V4), 1);
}
export const gateTriggersPresentV2 = (c: Ctx) => orReplace(gateTriggersPresentFunction(c));

/** Down: take the 000015 DELETE trigger off every table (the 000011 attach function does not know it). */
export function dropDeleteTriggers(c: Ctx): string {
  return sqlText`
    DO $drop905$
    DECLARE
        v_t record;
    BEGIN
        FOR v_t IN
            SELECT t.tgrelid::pg_catalog.regclass AS rel FROM pg_catalog.pg_trigger t
             WHERE t.tgname = ${lit(FINALIZE_DELETE_TRIGGER)} AND NOT t.tgisinternal
               AND t.tgfoid = ${lit(`${c.schema}.tg_birth_finalize()`)}::pg_catalog.regprocedure
        LOOP
            EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', ${lit(FINALIZE_DELETE_TRIGGER)}, v_t.rel);
        END LOOP;
    END
    $drop905$;`;
}

/** Up to this many births of one transaction and collection are re-verified with cached point lookups. */
const FEW_BIRTHS = 16;
/** Above this many, the set-based re-verification joins without nested loops (as the writer does). */
const BULK_BIRTHS = 1000;


/** Replace the COMMENT ON FUNCTION of `signature` in `sql` by `text`. */
function replaceComment(sql: string, signature: string, text: string): string {
  const head = `COMMENT ON FUNCTION ${signature} IS '`;
  const i = sql.indexOf(head);
  const j = sql.indexOf("';", i + head.length);
  if (i < 0 || j < 0 || sql.indexOf(head, i + 1) >= 0) throw new Error(`single_row_v4: expected one comment on ${signature}`);
  return sql.slice(0, i) + comment('FUNCTION', signature, text) + sql.slice(j + 2);
}

export function verifyTable(c: Ctx): string {
  const t = c.q(VERIFY_TABLE);
  return sqlText`
    CREATE TABLE ${t} (
        txid xid8 NOT NULL,
        collection_name text NOT NULL,
        PRIMARY KEY (txid, collection_name)
    );
    ALTER TABLE ${t} SET (autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_scale_factor = 0);
    REVOKE ALL ON TABLE ${t} FROM PUBLIC;
    ${comment('TABLE', t, 'Queue of commit-time re-verifications (since 000015): tg_birth_register inserts one row per transaction and collection after every INSERT statement it checked (ON CONFLICT DO NOTHING); the deferred constraint trigger _900_admission_reverify re-verifies that transaction\'s births at commit and deletes the row. Empty between transactions. Written only by package functions: no role has a privilege on it, so no session can skip the re-verification.')}`;
}

/** The row that queues this transaction's re-verification for v_collection (one per transaction and collection). */
const QUEUE = (c: Ctx) =>
  `INSERT INTO ${c.q(VERIFY_TABLE)} (txid, collection_name) VALUES (pg_catalog.pg_current_xact_id(), v_collection) ON CONFLICT DO NOTHING;`;

/**
 * Where the writer leaves a statement after writing births: queue the re-verification first. Every
 * statement-level run queues it (whatever the markers say: they are settings a session can change);
 * a re-code (row level) has its own per-row event (_910_birth_finalize_recode).
 */
const queueThenReturn = (c: Ctx, pad: number) => {
  const p = ' '.repeat(pad);
  return `IF TG_LEVEL = 'STATEMENT' THEN\n${p}    ${QUEUE(c)}\n${p}END IF;\n${p}RETURN NULL;`;
};

export function registerTriggerFunctionV4(c: Ctx): string {
  const permit = c.q('birth_admission_permit');
  const registry = c.q('birth_registry');
  let sql = v3.registerTriggerFunction(c);
  sql = replaceOnce(sql, 'SET plan_cache_mode = force_custom_plan', 'SET plan_cache_mode = auto\n    SET enable_seqscan = off');
  sql = replaceOnce(sql, '    v_last record;\n', [
    '    v_last record;',
    '    v_permit_id bigint;',
    '    v_registry_id bigint;',
    '    v_born_at timestamptz;',
    '    v_consumed boolean;',
    '',
  ].join('\n'));
  const fast = sqlText`
    -- one code, nothing to report: four point statements with cached plans (the common case of an
    -- application writing one row). Anything else, and any check that fails here, takes the
    -- set-based statement below, which names the problem.
    IF NOT v_bypassed AND pg_catalog.cardinality(v_codes) = 1 AND v_family.mode IN ('enforce', 'report') THEN
        v_code := v_codes[1];
        IF v_code <> '' AND v_code ~ v_family.code_pattern THEN
            -- the live permit, if the code is not born (the same check the set-based statement makes)
            SELECT p.permit_id INTO v_permit_id FROM ${permit} p
             WHERE p.collection_name = v_collection AND p.entity_code = v_code AND p.state = 'ISSUED' AND p.expires_at > v_ts
               AND NOT EXISTS (SELECT 1 FROM ${registry} r WHERE r.collection_name = v_collection AND r.entity_code = v_code);
            IF FOUND THEN
                -- consume the version seen (a concurrent consumer makes this wait, then find nothing)
                UPDATE ${permit} p
                   SET state = 'CONSUMED', consumed_at = GREATEST(v_ts, p.issued_at), consumed_by = v_actor
                 WHERE p.permit_id = v_permit_id AND p.state = 'ISSUED' AND p.expires_at > v_ts;
                v_consumed := FOUND;
                IF v_consumed THEN
                    INSERT INTO ${registry} (collection_name, entity_code, permit_id, born_by)
                    VALUES (v_collection, v_code, v_permit_id, v_actor)
                    ON CONFLICT (entity_code, collection_name) DO NOTHING
                    RETURNING registry_id, born_at INTO v_registry_id, v_born_at;
                END IF;
                IF v_registry_id IS NULL THEN
                    -- lost to a concurrent transaction (the permit or the code): refuse, as the set-based
                    -- statement does (a consume made here rolls back with the statement)
                    v_bad_code := v_code;
                    ${raiseQ(c, 20, 'GATE_PERMIT_CONTENDED', `format('collection %s, table %I.%I: %s of 1 code(s) consumed a permit, 0 were born; e.g. code %L was taken by a concurrent transaction', v_collection, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN v_consumed THEN 1 ELSE 0 END, ${short('v_bad_code')})`)}
                END IF;
                INSERT INTO ${c.q('registry_changelog')} (op, collection_name, entity_code, registry_id, born_at, actor, detail)
                VALUES ('BORN', v_collection, v_code, v_registry_id, v_born_at, v_actor,
                        pg_catalog.jsonb_build_object('permit_id', v_permit_id, 'table', v_table, 'operation', TG_OP,
                                                      'mode', v_family.mode, 'bypass', false));
                ${queueThenReturn(c, 16)}
            END IF;
        END IF;
    END IF;
    -- the set-based statement: planned at every execution, whatever the sizes were when a plan was
    -- last cached, and free to scan whole tables for hash joins (both restored on exit by the SET
    -- clauses, which keep the point statements above on index probes even if their plans were
    -- cached while the tables were small)
    PERFORM pg_catalog.set_config('plan_cache_mode', 'force_custom_plan', true);
    PERFORM pg_catalog.set_config('enable_seqscan', 'on', true);`;
  sql = replaceOnce(
    sql,
    "    IF v_family.mode = 'report' OR v_bypassed THEN\n",
    `${fast.replace(/^/gm, '    ').replace(/^ +$/gm, '')}\n\n    IF v_family.mode = 'report' OR v_bypassed THEN\n`,
  );
  // the report statement's end, then the enforce statement's
  sql = replaceOnce(sql, '        RETURN NULL;\n    END IF;\n\n    WITH codes AS (', `        ${queueThenReturn(c, 8)}\n    END IF;\n\n    WITH codes AS (`);
  sql = replaceOnce(sql, '    END IF;\n    RETURN NULL;\nEND;\n$fn$;', `    END IF;\n    ${queueThenReturn(c, 4)}\nEND;\n$fn$;`);
  return replaceComment(
    sql,
    `${c.q('tg_birth_register')}()`,
    'Layer 1 birth gate, writing half (trigger _110_birth_register: AFTER INSERT FOR EACH STATEMENT with the NEW TABLE transition table; trigger _120_birth_recode: AFTER UPDATE OF the code column FOR EACH ROW; arguments: collection, code column). Sees only rows PostgreSQL really wrote, so ON CONFLICT rows that were not inserted never consume a permit. One code that passes every check is born with four point statements (cached plans); otherwise one set-based statement (planned per execution) checks every code (already born, duplicated in the statement, no live permit), consumes the permits, writes birth_registry and the BORN registry_changelog rows. enforce: any failing code refuses the whole statement (BG120-BG125, BG152, BG158 when a concurrent transaction won the permit or the code) and nothing is written; report (or an authorised bypass): every row is admitted, births are registered and what was seen goes to birth_gate_violation. After every INSERT statement that reached it, it queues the commit-time re-verification of the transaction\'s births (admission_verify, since 000015).',
  );
}

/** tg_birth_finalize without the re-verification (now tg_admission_reverify's). */
export function finalizeCheckFunctionV4(c: Ctx): string {
  let sql = v3.finalizeCheckFunction(c);
  sql = replaceOnce(sql, '    v_bad record;\n    v_seqscan text;\n    v_nestloop text;\n', '');
  const from = sql.indexOf('    -- the set-based re-verification of what the statement writer bore');
  const to = sql.indexOf('    -- (a) the other direction');
  if (from < 0 || to < from || sql.indexOf('-- the set-based re-verification', from + 8) >= 0) throw new Error('single_row_v4: re-verification block of tg_birth_finalize not found');
  sql = sql.slice(0, from) + sql.slice(to);
  return replaceComment(
    sql,
    `${c.q('tg_birth_finalize')}()`,
    'Layer 2 finalize gate (deferred constraint trigger _900_birth_finalize: AFTER INSERT OR DELETE, WHEN the statement writer is not certain to check the statement; _910_birth_finalize_recode: AFTER UPDATE changing the code column; arguments: collection, code column). At commit (or SET CONSTRAINTS ... IMMEDIATE), both directions: every row version that brought a code in this transaction must be finalized (a BORN registry row for it, born in this transaction, from a CONSUMED permit for it), and every object born in this transaction must still exist (a deleted or re-coded row leaves a birth without an object). enforce: BG130 / BG157 (unless layer 1 recorded an authorised BYPASS); report: one UNFINALIZED row (detail.finding BORN_WITHOUT_OBJECT for the second case) unless layer 1 already recorded the code; off: nothing. The births of statements it skipped are re-verified by tg_admission_reverify (since 000015).',
  );
}

/** The WHEN clause of _900_birth_finalize (000015): queued unless the statement writer is certain to check the statement. */
export function triggerDefsFunctionV4(c: Ctx): string {
  let sql = v3.triggerDefsFunction(c);
  sql = replaceOnce(sql, "'CREATE CONSTRAINT TRIGGER %I AFTER INSERT OR DELETE ON %s DEFERRABLE", "'CREATE CONSTRAINT TRIGGER %I AFTER INSERT ON %s DEFERRABLE");
  sql = replaceOnce(
    sql,
    ') AS x(ord, trigger_name, definition)',
    `,
            (7, ${lit(FINALIZE_DELETE_TRIGGER)}, pg_catalog.format('CREATE CONSTRAINT TRIGGER %I AFTER DELETE ON %s DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION %s(%L, %L)',
                    ${lit(FINALIZE_DELETE_TRIGGER)}, p_table_ident, pg_catalog.format('%I.%I', ${lit(c.schema)}, 'tg_birth_finalize'), p_collection, p_code_column))
          ) AS x(ord, trigger_name, definition)`,
  );
  return replaceOnce(
    sql,
    `pg_catalog.format('WHEN (((current_setting(%1$s::text, true) IS DISTINCT FROM ((statement_timestamp())::text || %2$s::text)) OR ((current_setting(%3$s, true) IS DISTINCT FROM ''pending''::text) AND (set_config(%3$s, ''pending''::text, true) IS NOT NULL)))) ', ${lit(lit(armedSetting(c)))}, fam.collection_literal, fam.verify_literal)`,
    `pg_catalog.format('WHEN ((current_setting(%1$s::text, true) IS DISTINCT FROM ((statement_timestamp())::text || %2$s::text))) ', ${lit(lit(armedSetting(c)))}, fam.collection_literal)`,
  );
}

/**
 * tg_admission_reverify(): the deferred constraint trigger of admission_verify. Re-verifies every
 * birth the statement writer made in this transaction for NEW.collection_name: the registry row is
 * still BORN here from a CONSUMED permit for the code while its object is in the table, and the
 * object is still in the table while its registry row is BORN here.
 */
export function reverifyFunction(c: Ctx): string {
  const fn = c.q('tg_admission_reverify');
  const registry = c.q('birth_registry');
  const violation = c.q('birth_gate_violation');
  const changelog = c.q('registry_changelog');
  const permit = c.q('birth_admission_permit');
  const births = `l.txid = pg_catalog.pg_current_xact_id() AND l.op = 'BORN' AND l.collection_name = v_collection AND l.detail ? 'mode'`;
  const cols = `l.entity_code, l.change_id, r.registry_id, r.status, r.permit_id, r.born_txid, p.state AS permit_state,
                               COALESCE(r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id(), false) AS born_here,
                               COALESCE(r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id() AND p.state = 'CONSUMED'
                                        AND p.collection_name = r.collection_name AND p.entity_code = r.entity_code, false) AS finalized`;
  const joins = `FROM ${changelog} l
                          LEFT JOIN ${registry} r ON r.collection_name = l.collection_name AND r.entity_code = l.entity_code
                          LEFT JOIN ${permit} p ON p.permit_id = r.permit_id`;
  return sqlText`
    CREATE FUNCTION ${fn}()
    RETURNS trigger
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED}
    SET row_security = off
    SET enable_seqscan = off
    SET enable_nestloop = on
    AS $fn$
    DECLARE
        v_collection text := NEW.collection_name;
        v_family record;
        v_safe boolean;
        v_type text;
        v_unsafe text;
        v_n integer;
        v_cur refcursor;
        v_bad record;
        v_present boolean;
        v_probe text;
        v_seen text[];
        v_first text;
    BEGIN
        -- done for this transaction (a later armed statement queues another one)
        DELETE FROM ${c.q(VERIFY_TABLE)} WHERE txid = NEW.txid AND collection_name = v_collection;
        SELECT f.collection_name, f.table_name, f.code_column, f.mode, n.nspname, k.relname,
               a.attnum IS NOT NULL AS has_column, a.atttypid
          INTO v_family
          FROM ${c.q('birth_family')} f
          JOIN pg_catalog.pg_class k ON k.oid = f.table_name
          JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
          LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = f.table_name AND a.attname = f.code_column AND a.attnum > 0 AND NOT a.attisdropped
         WHERE f.collection_name = v_collection;
        IF NOT FOUND OR v_family.mode = 'off' OR NEW.txid <> pg_catalog.pg_current_xact_id() THEN
            RETURN NULL;  -- the family is gone, moved off, or the row is not this transaction's
        END IF;
        SELECT pg_catalog.count(*) INTO v_n FROM (SELECT 1 FROM ${changelog} l WHERE ${births} LIMIT ${BULK_BIRTHS + 1}) x;
        IF v_n = 0 THEN
            RETURN NULL;
        END IF;

        -- the presence probe below plans a query over the family table as the package owner: it must
        -- run no code of the table's owner (see tg_birth_finalize), and read the code column as its
        -- base type. Checked first in every case, so that such a table is refused (enforce) or
        -- recorded (report) whether or not the probe is needed.
        ${at(8, planningRiskProbe(c, 'v_family.table_name'))}
        IF v_family.atttypid IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.name'::pg_catalog.regtype) THEN
            v_type := pg_catalog.format_type(v_family.atttypid, NULL);
        ELSIF v_family.has_column THEN
            v_type := pg_catalog.format_type(${baseTypeOf('v_family.atttypid')}, NULL);
        END IF;
        v_safe := v_type IN ('text', 'character varying', 'name');
        IF v_unsafe IS NOT NULL OR NOT COALESCE(v_safe, false) THEN
            v_unsafe := COALESCE(v_unsafe, pg_catalog.format('column %I is %s', v_family.code_column, COALESCE(v_type, 'missing')));
            SELECT l.entity_code INTO v_first FROM ${changelog} l WHERE ${births} ORDER BY l.change_id LIMIT 1;
            IF v_family.mode = 'enforce' THEN
                ${raiseQ(c, 16, 'GATE_TABLE_OWNER_CODE', `format('collection %s, code %L (INSERT on %I.%I): %s', v_collection, ${short('v_first')}, v_family.nspname, v_family.relname, pg_catalog.left(v_unsafe, 300))`, `format('Remove what DETAIL names (DROP INDEX, DROP STATISTICS, ALTER TABLE ... DROP CONSTRAINT, or ALTER TABLE <child> NO INHERIT %I.%I), then retry the transaction; see SELECT * FROM ${c.schema}.v_drift_report WHERE collection_name = %L;', v_family.nspname, v_family.relname, v_collection)`)}
            END IF;
            IF NOT EXISTS (SELECT 1 FROM ${violation}
                            WHERE collection_name = v_collection AND entity_code IS NOT DISTINCT FROM v_first
                              AND txid = pg_catalog.pg_current_xact_id() AND detail ->> 'finding' = 'FAMILY_TABLE_UNSAFE') THEN
                INSERT INTO ${violation} (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
                VALUES ('UNFINALIZED', v_collection, v_first, pg_catalog.format('%I.%I', v_family.nspname, v_family.relname),
                        'INSERT', v_family.mode, 2, ${ACTOR},
                        pg_catalog.jsonb_build_object('finding', 'FAMILY_TABLE_UNSAFE', 'reason', pg_catalog.left(v_unsafe, 300), 'reverified', true));
            END IF;
            RETURN NULL;
        END IF;
        -- the common case, without reading the family table: nothing was deleted from it or updated
        -- in this transaction (the statistics counters count every attempt, also in rolled-back
        -- subtransactions, while track_counts is on; a TRUNCATE is judged by _130_birth_truncate), so
        -- every object born here is still there with its code, and every birth is still BORN here
        -- from a CONSUMED permit for its code
        IF v_n <= ${FEW_BIRTHS} AND pg_catalog.current_setting('track_counts') = 'on'
           AND pg_catalog.pg_stat_get_xact_tuples_deleted(v_family.table_name) = 0
           AND pg_catalog.pg_stat_get_xact_tuples_updated(v_family.table_name) = 0
           AND NOT EXISTS (SELECT 1 ${joins}
                            WHERE ${births}
                              AND NOT COALESCE(r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id() AND p.state = 'CONSUMED'
                                               AND p.collection_name = r.collection_name AND p.entity_code = r.entity_code, false)) THEN
            RETURN NULL;
        END IF;

        v_probe := pg_catalog.format('SELECT EXISTS (SELECT 1 FROM ONLY %I.%I t WHERE t.%I OPERATOR(pg_catalog.=) CAST($1 AS %s))',
                                     v_family.nspname, v_family.relname, v_family.code_column, v_type);

        IF v_n <= ${FEW_BIRTHS} THEN
            -- a few births: point lookups with cached plans (index probes: enable_seqscan is off while
            -- they are planned), one presence probe per code below
            OPEN v_cur FOR
                SELECT ${cols}, NULL::boolean AS present
                  ${joins}
                 WHERE ${births}
                 ORDER BY l.change_id;
        ELSE
            -- many: one set-based query, planned now; hash joins above ${BULK_BIRTHS} births (linear
            -- whatever the statistics say, see tg_birth_register)
            IF v_n > ${BULK_BIRTHS} THEN
                PERFORM pg_catalog.set_config('enable_nestloop', 'off', true);
            END IF;
            OPEN v_cur FOR EXECUTE pg_catalog.format($q$
                SELECT s.*
                  FROM (SELECT ${cols},
                               EXISTS (SELECT 1 FROM ONLY %I.%I t WHERE t.%I OPERATOR(pg_catalog.=) CAST(l.entity_code AS %s)) AS present
                          ${joins}
                         WHERE ${births.replaceAll('v_collection', '$1')}
                        OFFSET 0) s  -- (each EXISTS evaluated once per code)
                 WHERE (s.present AND NOT s.finalized) OR (NOT s.present AND s.born_here)
                 ORDER BY s.change_id
                $q$, v_family.nspname, v_family.relname, v_family.code_column, v_type)
              USING v_collection;
        END IF;
        LOOP
            FETCH v_cur INTO v_bad;
            EXIT WHEN NOT FOUND;
            v_present := v_bad.present;
            IF v_present IS NULL THEN
                EXECUTE v_probe INTO v_present USING v_bad.entity_code;
            END IF;
            CONTINUE WHEN NOT ((v_present AND NOT v_bad.finalized) OR (NOT v_present AND v_bad.born_here));
            SELECT pg_catalog.array_agg(DISTINCT kind) INTO v_seen FROM ${violation}
             WHERE collection_name = v_collection AND entity_code = v_bad.entity_code AND txid = pg_catalog.pg_current_xact_id()
               AND (layer = 1 OR (NOT v_present AND detail ->> 'finding' = 'BORN_WITHOUT_OBJECT'));
            IF v_family.mode = 'enforce' AND NOT ('BYPASS' = ANY (COALESCE(v_seen, '{}'))) THEN
                IF v_present THEN
                    ${raiseQ(c, 20, 'GATE_UNFINALIZED', `format('collection %s, code %L (on %I.%I, re-verified at commit): %s', v_collection, ${short('v_bad.entity_code')}, v_family.nspname, v_family.relname, CASE WHEN v_bad.registry_id IS NULL THEN 'no birth_registry row' WHEN v_bad.status <> 'BORN' THEN format('registry row %s is %s', v_bad.registry_id, v_bad.status) WHEN v_bad.born_txid <> pg_catalog.pg_current_xact_id() THEN format('registry row %s was born by another transaction (%s)', v_bad.registry_id, v_bad.born_txid) WHEN v_bad.permit_id IS NULL THEN format('registry row %s consumed no permit', v_bad.registry_id) ELSE format('registry row %s names permit %s, which is %s or not for this code', v_bad.registry_id, v_bad.permit_id, v_bad.permit_state) END)`, `format('Before commit, birth the code through a permit (SELECT ${c.schema}.issue_permit(%L, ''<code>''), then write the row), or restore the row/registry entry that changed; check that the gate triggers of %I.%I are enabled (SELECT * FROM ${c.schema}.v_drift_trigger_state WHERE collection_name = %L).', v_collection, v_family.nspname, v_family.relname, v_collection)`)}
                END IF;
                ${raiseQ(c, 16, 'GATE_BORN_WITHOUT_OBJECT', `format('collection %s, code %L: registry row %s was born in this transaction, but no row of %I.%I has that code at commit (found by the re-verification of this transaction''s births)', v_collection, ${short('v_bad.entity_code')}, v_bad.registry_id, v_family.nspname, v_family.relname)`, `format('Keep the object, or retire the code before commit: SELECT ${c.schema}.retire(%L, %L, ''<reason>'');', v_collection, ${short('v_bad.entity_code')})`)}
            END IF;
            IF v_family.mode = 'report' AND v_seen IS NULL THEN
                INSERT INTO ${violation} (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
                VALUES ('UNFINALIZED', v_collection, v_bad.entity_code, pg_catalog.format('%I.%I', v_family.nspname, v_family.relname), 'INSERT', v_family.mode, 2, ${ACTOR},
                        CASE WHEN v_present
                             THEN pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                                      'registry_id', v_bad.registry_id, 'status', v_bad.status, 'permit_id', v_bad.permit_id,
                                      'permit_state', v_bad.permit_state, 'born_txid', v_bad.born_txid::text, 'reverified', true))
                             ELSE pg_catalog.jsonb_build_object('finding', 'BORN_WITHOUT_OBJECT', 'registry_id', v_bad.registry_id,
                                                                'removed_by', 'unknown', 'reverified', true) END);
            END IF;
        END LOOP;
        CLOSE v_cur;
        RETURN NULL;
    END;
    $fn$;
    REVOKE ALL ON FUNCTION ${fn}() FROM PUBLIC;
    CREATE CONSTRAINT TRIGGER ${qi(REVERIFY_TRIGGER)} AFTER INSERT ON ${c.q(VERIFY_TABLE)}
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ${fn}();
    ${comment('FUNCTION', `${fn}()`, `Layer 2 re-verification (deferred constraint trigger ${REVERIFY_TRIGGER} on admission_verify, queued by tg_birth_register once per transaction and collection). At commit (or SET CONSTRAINTS ... IMMEDIATE) every birth the statement writer made in this transaction must still be BORN from a CONSUMED permit for its code while its object is in the family table, and its object must still be there while it is BORN here. enforce: BG130 / BG157 (unless layer 1 recorded an authorised BYPASS); report: one UNFINALIZED row per code (detail.reverified); off: nothing. A family table that would run its owner's code when planned: BG161 (enforce) or a FAMILY_TABLE_UNSAFE row (report). Up to ${FEW_BIRTHS} births: cached point lookups and one presence probe each; more: one set-based query planned per execution (hash joins above ${BULK_BIRTHS}).`)}
    ${commentTrigger(REVERIFY_TRIGGER, c.q(VERIFY_TABLE), 'Runs tg_admission_reverify at commit for the transaction and collection of the queued row.')}`;
}

export function dropReverify(c: Ctx): string {
  return sqlText`
    DROP TRIGGER ${qi(REVERIFY_TRIGGER)} ON ${c.q(VERIFY_TABLE)};
    DROP FUNCTION ${c.q('tg_admission_reverify')}();
    DROP TABLE ${c.q(VERIFY_TABLE)};`;
}
