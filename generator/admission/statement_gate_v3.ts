/**
 * The admission gate as of migration 000011 (copied from statement_gate.ts, which 000006 keeps
 * using byte for byte). What changes:
 *
 *  - The writer (tg_birth_register) plans its statements at every execution
 *    (plan_cache_mode = force_custom_plan; 000006 forced generic plans): a cached plan made while the
 *    registry was small, for an unnest() of an estimated 10 codes, joined a later 100,000-row
 *    statement with nested loops that never finished. The row gate and layer 2 keep cached plans
 *    (point lookups by unique key and catalog probes, whose shape does not depend on sizes; planning
 *    them per call doubled the single-row cost); the set-based re-verification of layer 2 is
 *    dynamic SQL, planned at every execution.
 *  - Layer 2 no longer queues an INSERT event per row when the statement writer is certain to run:
 *    the first row of each INSERT statement calls tg_birth_gate (the WHEN clause of _100_birth_gate
 *    lets it through), which arms <schema>.gate_armed = '<statement_timestamp> <collection>' when
 *    the family is in enforce mode and _110_birth_register is attached as the writer and enabled for
 *    the current session_replication_role. The WHEN clause of _900_birth_finalize (now AFTER INSERT
 *    only) queues no event while it is armed; the writer disarms it when it runs (so a later
 *    statement of the same top-level call arms again). DELETE has its own deferred trigger
 *    (_905_birth_finalize_delete, always queued): a DELETE inside an armed statement (a
 *    data-modifying CTE, a nested statement) is still checked at commit. Setting the marker by hand
 *    skips nothing the writer does not check: only a role that can disable the writer (the table
 *    owner) could make the two disagree.
 *  - The code column may be a domain at any depth over text, varchar or name (family_read_source
 *    already accepted that); comparisons cast to the base type, never to a domain.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { lit, sqlText } from '../lib/sql.js';
import { ACTOR, PINNED, at, bypassSetting } from './common.js';
import { FINALIZE_RECODE_TRIGGER, FINALIZE_TRIGGER, GATE_TRIGGER, NEW_TABLE, markerSetting, RECODE_TRIGGER, REGISTER_TRIGGER, TRUNCATE_TRIGGER, raiseQ, short } from './v2_common.js';
import { enforceStatement, familyLookup, killSwitch, planningRiskProbe, READ_CODE, recodeWhen, reportStatement, tooLong, truncateCheck } from './statement_gate.js';
import { armedSetting, baseTypeOf, markerValue, verifyPrefix } from './v3_common.js';

/** Above this many codes in one statement (or births in one transaction), the writer and layer 2's re-verification join without nested loops. */
const BULK_CODES = 1000;

/**
 * The code column must exist and be text, varchar, name (no catalog read: the usual case) or a
 * domain over one of them at any depth (one recursive pg_type lookup); anything else is refused
 * before it is read.
 */
function columnCheck(c: Ctx): string {
  return sqlText`
    v_safe := v_family.atttypid IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.name'::pg_catalog.regtype);
    IF v_family.has_column AND NOT v_safe THEN
        v_safe := ${baseTypeOf('v_family.atttypid')} IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.name'::pg_catalog.regtype);
    END IF;
    IF NOT v_family.has_column OR NOT COALESCE(v_safe, false) THEN
        ${raiseQ(c, 8, 'GATE_MISCONFIGURED', `format('column %I of %I.%I (family %s) is %s', v_family.code_column, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection, CASE WHEN NOT v_family.has_column THEN 'missing' ELSE 'not of a type the gate reads (text, varchar, name, or a domain over one)' END)`)}
    END IF;`;
}

/**
 * SQL condition: the statement writer of this table (_110_birth_register, AFTER INSERT FOR EACH
 * STATEMENT with a transition table, calling tg_birth_register) fires now, given its enabled state
 * and the current session_replication_role. Reads pg_trigger (TG_RELID in scope).
 */
function writerCertain(c: Ctx): string {
  return `EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                         WHERE t.tgrelid = TG_RELID AND t.tgname = ${lit(REGISTER_TRIGGER)} AND t.tgtype = 4 AND t.tgnewtable IS NOT NULL
                           AND t.tgfoid = ${lit(`${c.schema}.tg_birth_register()`)}::pg_catalog.regprocedure
                           AND CASE t.tgenabled WHEN 'O' THEN pg_catalog.current_setting('session_replication_role') <> 'replica'
                                                WHEN 'R' THEN pg_catalog.current_setting('session_replication_role') = 'replica'
                                                WHEN 'A' THEN true ELSE false END)`;
}

export function gateCheckFunction(c: Ctx): string {
  const fn = c.q('tg_birth_gate');
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}()
    RETURNS trigger
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED}
    AS $fn$
    DECLARE
        v_collection text := TG_ARGV[0];
        v_family record;
        v_safe boolean;
        v_code text;
        v_old_code text;
        v_actor name;
        v_switch text;
        v_bypassed boolean := false;
        v_marker text;
    BEGIN
        ${at(8, familyLookup(c))}
        -- the statement marker: the WHEN clause of _100_birth_gate calls this function for the first
        -- row of each statement (and otherwise only for a row it might refuse). It tells layer 2,
        -- should it fire at the end of this very statement (SET CONSTRAINTS ... IMMEDIATE), that the
        -- statement-level writer has yet to run. For an INSERT in enforce mode whose writer is
        -- attached and enabled now, it also arms the second marker, which keeps the WHEN clause of
        -- _900_birth_finalize from queuing a commit-time event per row: the writer checks every row
        -- of the statement at its end. Both are only trusted together with the writer trigger, so
        -- setting them by hand skips nothing the writer does not check.
        v_marker := ${markerValue('v_collection')};
        IF pg_catalog.current_setting(${lit(markerSetting(c))}, true) IS DISTINCT FROM v_marker THEN
            PERFORM pg_catalog.set_config(${lit(markerSetting(c))}, v_marker, true);
            PERFORM pg_catalog.set_config(${lit(armedSetting(c))},
                CASE WHEN TG_OP = 'INSERT' AND v_family.mode = 'enforce' AND ${writerCertain(c)} THEN v_marker ELSE '' END, true);
        END IF;
        IF v_family.mode = 'off' THEN
            RETURN NEW;
        END IF;
        ${at(8, columnCheck(c))}
        ${at(8, READ_CODE)}
        IF TG_OP = 'UPDATE' AND v_code IS NOT DISTINCT FROM v_old_code THEN
            RETURN NEW;  -- the code did not change
        END IF;
        ${at(8, killSwitch(c, 'v_code'))}
        IF pg_catalog.length(v_code) > v_family.code_max_length THEN
            ${tooLong(c, 12, 'v_code')}
        END IF;
        IF v_family.mode = 'enforce' AND NOT v_bypassed THEN
            IF v_code IS NULL OR v_code = '' THEN
                ${raiseQ(c, 16, 'GATE_NULL_CODE', `format('collection %s, column %I of %I.%I is %s', v_collection, v_family.code_column, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN v_code IS NULL THEN 'NULL' ELSE 'empty' END)`, `format('Set %I to a permitted code: SELECT ${c.schema}.issue_permit(%L, ''<code>'');', v_family.code_column, v_collection)`)}
            ELSIF v_code !~ v_family.code_pattern THEN
                ${raiseQ(c, 16, 'GATE_PATTERN_MISMATCH', `format('collection %s, code %L does not match %L (table %I.%I)', v_collection, ${short('v_code')}, v_family.code_pattern, TG_TABLE_SCHEMA, TG_TABLE_NAME)`, `format('Use a code that matches %L (SELECT code_pattern FROM ${c.schema}.birth_family WHERE collection_name = %L), or correct the pattern with SELECT ${c.schema}.register_family(%L, %L, %L, ''<pattern>'', %L);', v_family.code_pattern, v_collection, v_collection, v_family.table_name::text, v_family.code_column, v_family.mode)`)}
            END IF;
        END IF;
        RETURN NEW;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}()`, `Layer 1 birth gate, validation half (trigger _100_birth_gate, BEFORE INSERT OR UPDATE OF the code column, FOR EACH ROW; arguments: collection, code column). Checks the proposed row like a CHECK constraint and writes nothing: the kill switch (${bypassSetting(c)} = on only for members of ${c.roles.admin}, else BG126), the family code length limit (BG152, report and enforce), NULL/empty code (BG124) and the pattern (BG123) in enforce. Permits, the registry and the changelog are handled by tg_birth_register for the rows actually written.`)}`;
}

export function registerTriggerFunction(c: Ctx): string {
  const fn = c.q('tg_birth_register');
  const permit = c.q('birth_admission_permit');
  const notBorn = `(SELECT x.code FROM pg_catalog.unnest(v_codes) AS x(code) WHERE NOT EXISTS (SELECT 1 FROM ${c.q('birth_registry')} r WHERE r.collection_name = v_collection AND r.entity_code = x.code AND r.born_txid = pg_catalog.pg_current_xact_id()) LIMIT 1)`;
  const permitHint = `format('Issue a permit first: SELECT ${c.schema}.issue_permit(%L, %L); then write the row within its lifetime.', v_collection, ${short('v_bad_code')})`;
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}()
    RETURNS trigger
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED}
    SET plan_cache_mode = force_custom_plan
    SET enable_nestloop = on
    AS $fn$
    DECLARE
        v_collection text := TG_ARGV[0];
        v_family record;
        v_safe boolean;
        v_code text;
        v_old_code text;
        v_codes text[];
        v_longest integer;
        v_actor name;
        v_switch text;
        v_bypassed boolean := false;
        v_ts timestamptz;
        v_table text := pg_catalog.format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME);
        v_res record;
        v_bad_code text;
        v_last record;
    BEGIN
        ${at(8, familyLookup(c))}
        IF TG_LEVEL = 'STATEMENT' AND (pg_catalog.current_setting(${lit(markerSetting(c))}, true) <> ''
                                       OR pg_catalog.current_setting(${lit(armedSetting(c))}, true) <> '') THEN
            -- the writer runs now: layer 2 no longer waits for it, and a later statement of the same
            -- top-level call arms again (see tg_birth_gate)
            PERFORM pg_catalog.set_config(${lit(markerSetting(c))}, '', true);
            PERFORM pg_catalog.set_config(${lit(armedSetting(c))}, '', true);
        END IF;
        IF v_family.mode = 'off' THEN
            RETURN NULL;
        END IF;
        ${at(8, columnCheck(c))}
        IF TG_LEVEL = 'STATEMENT' THEN
            -- the rows really inserted (an ON CONFLICT row that was not inserted is not here)
            -- (with the longest code, so that the length check below needs no pass of its own)
            EXECUTE pg_catalog.format('SELECT pg_catalog.array_agg(t.c), pg_catalog.max(pg_catalog.length(t.c)) FROM (SELECT (n.%I)::text AS c FROM ${NEW_TABLE} n) t', v_family.code_column)
               INTO v_codes, v_longest;
            IF v_codes IS NULL THEN
                RETURN NULL;
            END IF;
        ELSE
            -- a re-code: only a changed code counts
            ${at(12, READ_CODE)}
            IF v_code IS NOT DISTINCT FROM v_old_code THEN
                RETURN NULL;
            END IF;
            v_codes := ARRAY[v_code];
            v_longest := pg_catalog.length(v_code);
        END IF;
        ${at(8, killSwitch(c, 'v_codes[1]'))}
        v_actor := ${ACTOR};
        IF v_longest > v_family.code_max_length THEN
            SELECT x.code INTO v_bad_code FROM pg_catalog.unnest(v_codes) AS x(code)
             WHERE pg_catalog.length(x.code) > v_family.code_max_length LIMIT 1;
            ${tooLong(c, 12, 'v_bad_code')}
        END IF;
        v_ts := pg_catalog.clock_timestamp();
        -- a statement of many codes joins them with hash joins: linear whatever the statistics say.
        -- Permits issued, or rows born, in this transaction or since the last ANALYZE can make the
        -- planner take the registry and the permits for nearly empty, and a nested loop over them
        -- is then quadratic (20,000 codes against 40,000 fresh permits: minutes instead of a
        -- second). A few codes keep index probes. The setting is scoped to this function (its SET
        -- clause restores it on exit).
        IF pg_catalog.cardinality(v_codes) > ${BULK_CODES} THEN
            PERFORM pg_catalog.set_config('enable_nestloop', 'off', true);
        END IF;

        IF v_family.mode = 'report' OR v_bypassed THEN
            ${at(12, reportStatement(c))}
            RETURN NULL;
        END IF;

        ${at(8, enforceStatement(c))}
        IF v_res.bad_found THEN
            v_bad_code := v_res.bad_code;
            IF v_res.bad_reason = 1 THEN
                ${raiseQ(c, 16, 'GATE_NULL_CODE', `format('collection %s, column %I of %I.%I is %s', v_collection, v_family.code_column, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN v_bad_code IS NULL THEN 'NULL' ELSE 'empty' END)`)}
            ELSIF v_res.bad_reason = 2 THEN
                ${tooLong(c, 16, 'v_bad_code')}
            ELSIF v_res.bad_reason = 3 THEN
                ${raiseQ(c, 16, 'GATE_PATTERN_MISMATCH', `format('collection %s, code %L does not match %L (table %I.%I)', v_collection, ${short('v_bad_code')}, v_family.code_pattern, TG_TABLE_SCHEMA, TG_TABLE_NAME)`)}
            ELSIF v_res.bad_reason = 4 THEN
                ${raiseQ(c, 16, 'GATE_ALREADY_BORN', `CASE WHEN v_res.bad_prior_id IS NOT NULL THEN format('collection %s, code %L is already in the registry (registry_id %s, %s); table %I.%I, %s', v_collection, ${short('v_bad_code')}, v_res.bad_prior_id, v_res.bad_prior_status, TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP) ELSE format('collection %s, code %L appears %s times in one %s on %I.%I', v_collection, ${short('v_bad_code')}, v_res.bad_n, TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME) END`, `format('A code is born once. Upsert the existing object (INSERT ... ON CONFLICT ... DO UPDATE), or use a new code with its own permit: SELECT ${c.schema}.issue_permit(%L, ''<new code>'');', v_collection)`)}
            END IF;
            SELECT p.permit_id, p.state, p.expires_at, p.revoke_reason, p.consumed_at INTO v_last
              FROM ${permit} p WHERE p.collection_name = v_collection AND p.entity_code = v_bad_code
             ORDER BY p.permit_id DESC LIMIT 1;
            IF v_last.state IN ('ISSUED', 'EXPIRED') THEN
                ${raiseQ(c, 16, 'GATE_PERMIT_EXPIRED', `format('collection %s, code %L: permit %s expired at %s (judged at %s); table %I.%I', v_collection, ${short('v_bad_code')}, v_last.permit_id, v_last.expires_at, v_ts, TG_TABLE_SCHEMA, TG_TABLE_NAME)`, `format('Issue a new permit and retry within its lifetime: SELECT ${c.schema}.issue_permit(%L, %L, interval ''24 hours'');', v_collection, ${short('v_bad_code')})`)}
            ELSIF v_last.state = 'REVOKED' THEN
                ${raiseQ(c, 16, 'GATE_PERMIT_REVOKED', `format('collection %s, code %L: permit %s was revoked (%s); table %I.%I', v_collection, ${short('v_bad_code')}, v_last.permit_id, pg_catalog.left(v_last.revoke_reason, 200), TG_TABLE_SCHEMA, TG_TABLE_NAME)`, `format('Find out why (SELECT revoke_reason FROM ${c.schema}.birth_admission_permit WHERE permit_id = %s); only if the birth is still wanted: SELECT ${c.schema}.issue_permit(%L, %L);', v_last.permit_id, v_collection, ${short('v_bad_code')})`)}
            ELSE
                ${raiseQ(c, 16, 'GATE_NO_PERMIT', `format('collection %s, code %L, table %I.%I: %s', v_collection, ${short('v_bad_code')}, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN v_last.permit_id IS NULL THEN 'no permit was ever issued for this code' ELSE format('the latest permit for it (%s) is %s', v_last.permit_id, v_last.state) END)`, permitHint)}
            END IF;
        END IF;
        IF v_res.consumed < v_res.codes OR v_res.born < v_res.consumed THEN
            -- lost a race between the check and the writes: refuse the statement (its writes roll back)
            v_bad_code := ${notBorn};
            ${raiseQ(c, 12, 'GATE_PERMIT_CONTENDED', `format('collection %s, table %I.%I: %s of %s code(s) consumed a permit, %s were born; e.g. code %L was taken by a concurrent transaction', v_collection, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_res.consumed, v_res.codes, v_res.born, ${short('v_bad_code')})`)}
        END IF;
        RETURN NULL;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}()`, 'Layer 1 birth gate, writing half (trigger _110_birth_register: AFTER INSERT FOR EACH STATEMENT with the NEW TABLE transition table; trigger _120_birth_recode: AFTER UPDATE OF the code column FOR EACH ROW; arguments: collection, code column). Sees only rows PostgreSQL really wrote, so ON CONFLICT rows that were not inserted never consume a permit. In one set-based statement it checks every code (already born, duplicated in the statement, no live permit), consumes the permits, writes birth_registry and the BORN registry_changelog rows. enforce: any failing code refuses the whole statement (BG120-BG125, BG152, BG158 when a concurrent transaction won the permit) and nothing is written; report (or an authorised bypass): every row is admitted, births are registered and what was seen goes to birth_gate_violation.')}`;
}

export function finalizeCheckFunction(c: Ctx): string {
  const fn = c.q('tg_birth_finalize');
  const violation = c.q('birth_gate_violation');
  const registry = c.q('birth_registry');
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}()
    RETURNS trigger
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED}
    SET row_security = off
    AS $fn$
    DECLARE
        v_collection text := TG_ARGV[0];
        v_family record;
        v_safe boolean;
        v_reg record;
        v_gone record;
        v_code text;
        v_old_code text;
        v_type text;
        v_present boolean;
        v_seen text[];
        v_unsafe text;
        v_actor name;
        v_switch text;
        v_bypassed boolean := false;
        v_born record;
        v_bad record;
        v_seqscan text;
        v_nestloop text;
    BEGIN
        ${at(8, familyLookup(c))}
        IF v_family.mode = 'off' THEN
            RETURN NULL;
        END IF;
        IF TG_OP = 'TRUNCATE' THEN
            ${at(12, truncateCheck(c))}
            RETURN NULL;
        END IF;
        ${at(8, columnCheck(c))}
        ${at(8, READ_CODE)}
        IF TG_OP = 'UPDATE' AND v_code IS NOT DISTINCT FROM v_old_code THEN
            RETURN NULL;  -- the code did not change
        END IF;

        -- the checks below plan queries over the family table as the package owner: first make sure
        -- that planning runs no code of its owner (index expressions and predicates, CHECK
        -- constraints, statistics expressions) and that no inheritance child escapes the gates.
        -- Checked at every call: a trigger of the owner may change the table between two events.
        -- (one cheap catalog probe first: only a table with such expressions, or in an inheritance
        -- tree, needs the full analysis)
        ${at(8, planningRiskProbe(c, 'TG_RELID'))}
        IF v_unsafe IS NOT NULL THEN
            IF v_family.mode = 'enforce' THEN
                ${raiseQ(c, 16, 'GATE_TABLE_OWNER_CODE', `format('collection %s, code %L (%s on %I.%I): %s', v_collection, ${short('COALESCE(v_code, v_old_code)')}, TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME, pg_catalog.left(v_unsafe, 300))`, `format('Remove what DETAIL names (DROP INDEX, DROP STATISTICS, ALTER TABLE ... DROP CONSTRAINT, or ALTER TABLE <child> NO INHERIT %I.%I), then retry the transaction; see SELECT * FROM ${c.schema}.v_drift_report WHERE collection_name = %L;', TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection)`)}
            END IF;
            -- report: recorded once per code and transaction; the table is not read
            v_code := COALESCE(v_code, v_old_code);
            IF NOT EXISTS (SELECT 1 FROM ${violation}
                            WHERE collection_name = v_collection AND entity_code IS NOT DISTINCT FROM v_code
                              AND txid = pg_catalog.pg_current_xact_id() AND detail ->> 'finding' = 'FAMILY_TABLE_UNSAFE') THEN
                INSERT INTO ${violation} (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
                VALUES ('UNFINALIZED', v_collection, v_code, pg_catalog.format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME),
                        CASE TG_OP WHEN 'UPDATE' THEN 'UPDATE' ELSE 'INSERT' END, v_family.mode, 2, ${ACTOR},
                        pg_catalog.jsonb_build_object('finding', 'FAMILY_TABLE_UNSAFE', 'reason', pg_catalog.left(v_unsafe, 300), 'trigger_operation', TG_OP));
            END IF;
            RETURN NULL;
        END IF;

        -- the set-based re-verification of what the statement writer bore in this transaction: the
        -- WHEN clause of _900_birth_finalize queues no event per row while the writer is certain to
        -- check the statement, but one per transaction and collection (setting <verify>_<collection>
        -- = 'pending'), which does this. Every code the writer bore here must still be BORN from a
        -- consumed permit while its object is there, and its object must still be there while it is
        -- BORN here (which also covers a DELETE inside an armed statement).
        IF TG_OP IN ('INSERT', 'DELETE') AND pg_catalog.current_setting(${lit(verifyPrefix(c))} || v_collection, true) = 'pending' THEN
            PERFORM pg_catalog.set_config(${lit(verifyPrefix(c))} || v_collection, '', true);
            v_type := pg_catalog.format_type(${baseTypeOf('v_family.atttypid')}, NULL);
            -- every probe below has an index (the family table's code index, if it has one): statistics
            -- taken while this transaction's rows were invisible to ANALYZE must not turn a probe into
            -- a sequential scan per code
            v_seqscan := pg_catalog.current_setting('enable_seqscan');
            v_nestloop := pg_catalog.current_setting('enable_nestloop');
            PERFORM pg_catalog.set_config('enable_seqscan', 'off', true);
            -- many births: hash joins (linear whatever the statistics say), see tg_birth_register
            IF (SELECT pg_catalog.count(*) FROM ${c.q('registry_changelog')} l
                 WHERE l.txid = pg_catalog.pg_current_xact_id() AND l.op = 'BORN' AND l.collection_name = v_collection) > ${BULK_CODES} THEN
                PERFORM pg_catalog.set_config('enable_nestloop', 'off', true);
            END IF;
            FOR v_bad IN EXECUTE pg_catalog.format($sweep$
                SELECT s.*
                  FROM (SELECT l.entity_code, l.change_id, r.registry_id, r.status, r.permit_id, r.born_txid, p.state AS permit_state,
                               EXISTS (SELECT 1 FROM ONLY %I.%I t WHERE t.%I OPERATOR(pg_catalog.=) CAST(l.entity_code AS %s)) AS present,
                               COALESCE(r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id(), false) AS born_here,
                               COALESCE(r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id() AND p.state = 'CONSUMED'
                                        AND p.collection_name = r.collection_name AND p.entity_code = r.entity_code, false) AS finalized
                          FROM ${c.q('registry_changelog')} l
                          LEFT JOIN ${registry} r ON r.collection_name = l.collection_name AND r.entity_code = l.entity_code
                          LEFT JOIN ${c.q('birth_admission_permit')} p ON p.permit_id = r.permit_id
                         WHERE l.txid = pg_catalog.pg_current_xact_id() AND l.op = 'BORN' AND l.collection_name = $1
                           AND l.detail ? 'mode'
                        OFFSET 0) s  -- (each EXISTS evaluated once per code)
                 WHERE (s.present AND NOT s.finalized) OR (NOT s.present AND s.born_here)
                 ORDER BY s.change_id
                $sweep$, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_family.code_column, v_type)
              USING v_collection
            LOOP
                SELECT pg_catalog.array_agg(DISTINCT kind) INTO v_seen FROM ${violation}
                 WHERE collection_name = v_collection AND entity_code = v_bad.entity_code AND txid = pg_catalog.pg_current_xact_id()
                   AND (layer = 1 OR (NOT v_bad.present AND detail ->> 'finding' = 'BORN_WITHOUT_OBJECT'));
                IF v_family.mode = 'enforce' AND NOT ('BYPASS' = ANY (COALESCE(v_seen, '{}'))) THEN
                    IF v_bad.present THEN
                        ${raiseQ(c, 24, 'GATE_UNFINALIZED', `format('collection %s, code %L (on %I.%I, re-verified at commit): %s', v_collection, ${short('v_bad.entity_code')}, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN v_bad.registry_id IS NULL THEN 'no birth_registry row' WHEN v_bad.status <> 'BORN' THEN format('registry row %s is %s', v_bad.registry_id, v_bad.status) WHEN v_bad.born_txid <> pg_catalog.pg_current_xact_id() THEN format('registry row %s was born by another transaction (%s)', v_bad.registry_id, v_bad.born_txid) WHEN v_bad.permit_id IS NULL THEN format('registry row %s consumed no permit', v_bad.registry_id) ELSE format('registry row %s names permit %s, which is %s or not for this code', v_bad.registry_id, v_bad.permit_id, v_bad.permit_state) END)`, `format('Before commit, birth the code through a permit (SELECT ${c.schema}.issue_permit(%L, ''<code>''), then write the row), or restore the row/registry entry that changed; check that the gate triggers of %I.%I are enabled (SELECT * FROM ${c.schema}.v_drift_trigger_state WHERE collection_name = %L).', v_collection, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection)`)}
                    END IF;
                    ${raiseQ(c, 20, 'GATE_BORN_WITHOUT_OBJECT', `format('collection %s, code %L: registry row %s was born in this transaction, but no row of %I.%I has that code at commit (found by the re-verification of this transaction''s births)', v_collection, ${short('v_bad.entity_code')}, v_bad.registry_id, TG_TABLE_SCHEMA, TG_TABLE_NAME)`, `format('Keep the object, or retire the code before commit: SELECT ${c.schema}.retire(%L, %L, ''<reason>'');', v_collection, ${short('v_bad.entity_code')})`)}
                END IF;
                IF v_family.mode = 'report' AND v_seen IS NULL THEN
                    INSERT INTO ${violation} (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
                    VALUES ('UNFINALIZED', v_collection, v_bad.entity_code, pg_catalog.format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME), 'INSERT', v_family.mode, 2, ${ACTOR},
                            CASE WHEN v_bad.present
                                 THEN pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                                          'registry_id', v_bad.registry_id, 'status', v_bad.status, 'permit_id', v_bad.permit_id,
                                          'permit_state', v_bad.permit_state, 'born_txid', v_bad.born_txid::text, 'reverified', true))
                                 ELSE pg_catalog.jsonb_build_object('finding', 'BORN_WITHOUT_OBJECT', 'registry_id', v_bad.registry_id,
                                                                    'removed_by', 'unknown', 'reverified', true) END);
                END IF;
            END LOOP;
            PERFORM pg_catalog.set_config('enable_seqscan', v_seqscan, true);
            PERFORM pg_catalog.set_config('enable_nestloop', v_nestloop, true);
        END IF;

        -- (a) the other direction: a code that left a row (DELETE, re-code) and was born in this
        --     transaction must still exist in the table at commit
        IF TG_OP IN ('DELETE', 'UPDATE') AND v_old_code IS NOT NULL AND v_old_code <> '' THEN
            SELECT r.registry_id, r.born_txid,
                   (SELECT l.detail ->> 'operation' FROM ${c.q('registry_changelog')} l
                     WHERE l.registry_id = r.registry_id AND l.op = 'BORN' AND l.txid = r.born_txid LIMIT 1) AS birth_operation
              INTO v_gone
              FROM ${registry} r
             WHERE r.collection_name = v_collection AND r.entity_code = v_old_code
               AND r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id();
            IF FOUND THEN
                v_type := pg_catalog.format_type(${baseTypeOf('v_family.atttypid')}, NULL);
                EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM ONLY %I.%I WHERE %I OPERATOR(pg_catalog.=) CAST($1 AS %s))',
                                          TG_TABLE_SCHEMA, TG_TABLE_NAME, v_family.code_column, v_type)
                   INTO v_present USING v_old_code;
                IF NOT v_present THEN
                    SELECT pg_catalog.array_agg(DISTINCT kind) INTO v_seen FROM ${violation}
                     WHERE collection_name = v_collection AND entity_code = v_old_code AND txid = pg_catalog.pg_current_xact_id()
                       AND (layer = 1 OR detail ->> 'finding' = 'BORN_WITHOUT_OBJECT');
                    IF v_family.mode = 'enforce' AND NOT ('BYPASS' = ANY (COALESCE(v_seen, '{}'))) THEN
                        ${raiseQ(c, 24, 'GATE_BORN_WITHOUT_OBJECT', `format('collection %s, code %L: registry row %s was born in this transaction, but no row of %I.%I has that code at commit (%s)', v_collection, ${short('v_old_code')}, v_gone.registry_id, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE TG_OP WHEN 'DELETE' THEN 'the row was deleted' ELSE 'the row was re-coded' END)`, `format('Keep the object, or retire the code before commit: SELECT ${c.schema}.retire(%L, %L, ''<reason>'');', v_collection, ${short('v_old_code')})`)}
                    END IF;
                    IF v_family.mode = 'report' AND v_seen IS NULL THEN
                        INSERT INTO ${violation} (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
                        VALUES ('UNFINALIZED', v_collection, v_old_code, pg_catalog.format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME),
                                COALESCE(v_gone.birth_operation, 'INSERT'), v_family.mode, 2, ${ACTOR},
                                pg_catalog.jsonb_build_object('finding', 'BORN_WITHOUT_OBJECT', 'registry_id', v_gone.registry_id,
                                                              'removed_by', TG_OP));
                    END IF;
                END IF;
            END IF;
        END IF;
        IF TG_OP = 'DELETE' THEN
            RETURN NULL;
        END IF;

        -- (b) finalized <=> a BORN registry row for this code, born in this transaction, from a CONSUMED permit for it
        SELECT r.registry_id, r.status, r.permit_id, r.born_txid, p.state AS permit_state,
               (r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id() AND p.state = 'CONSUMED'
                AND p.collection_name = r.collection_name AND p.entity_code = r.entity_code) AS finalized
          INTO v_reg
          FROM ${registry} r
          LEFT JOIN ${c.q('birth_admission_permit')} p ON p.permit_id = r.permit_id
         WHERE r.collection_name = v_collection AND r.entity_code = v_code;
        IF v_reg.finalized THEN
            RETURN NULL;
        END IF;

        -- not finalized, but fired at the end of the inserting statement itself (SET CONSTRAINTS
        -- ... IMMEDIATE): the statement-level writer fires right after this event and refuses the
        -- statement if any row is unborn, provided it is enabled
        IF TG_OP = 'INSERT' AND pg_catalog.current_setting(${lit(markerSetting(c))}, true) = ${markerValue('v_collection')}
           AND ${writerCertain(c)} THEN
            RETURN NULL;
        END IF;

        -- not finalized. A version whose code is no longer in the table (deleted or re-coded before
        -- commit) is judged by (a) instead; NULL/empty codes always count (fail closed).
        IF v_code IS NOT NULL AND v_code <> '' THEN
            v_type := pg_catalog.format_type(${baseTypeOf('v_family.atttypid')}, NULL);
            EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM ONLY %I.%I WHERE %I OPERATOR(pg_catalog.=) CAST($1 AS %s))',
                                      TG_TABLE_SCHEMA, TG_TABLE_NAME, v_family.code_column, v_type)
               INTO v_present USING v_code;
            IF NOT v_present THEN
                RETURN NULL;
            END IF;
        END IF;

        -- did layer 1 see this code in this transaction (bypass, report finding)?
        IF v_code IS NULL THEN
            SELECT pg_catalog.array_agg(DISTINCT kind) INTO v_seen FROM ${violation}
             WHERE collection_name = v_collection AND entity_code IS NULL AND txid = pg_catalog.pg_current_xact_id() AND layer = 1;
        ELSE
            SELECT pg_catalog.array_agg(DISTINCT kind) INTO v_seen FROM ${violation}
             WHERE collection_name = v_collection AND entity_code = v_code AND txid = pg_catalog.pg_current_xact_id() AND layer = 1;
        END IF;

        IF v_family.mode = 'enforce' THEN
            IF 'BYPASS' = ANY (v_seen) THEN
                RETURN NULL;  -- an authorised, recorded bypass
            END IF;
            ${raiseQ(c, 12, 'GATE_UNFINALIZED', `format('collection %s, code %L (%s on %I.%I): %s', v_collection, ${short('v_code')}, TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN v_code IS NULL OR v_code = '' THEN 'the code is NULL or empty' WHEN v_reg.registry_id IS NULL THEN 'no birth_registry row' WHEN v_reg.status <> 'BORN' THEN format('registry row %s is %s', v_reg.registry_id, v_reg.status) WHEN v_reg.born_txid <> pg_catalog.pg_current_xact_id() THEN format('registry row %s was born by another transaction (%s): this row duplicates an existing object', v_reg.registry_id, v_reg.born_txid) WHEN v_reg.permit_id IS NULL THEN format('registry row %s consumed no permit', v_reg.registry_id) ELSE format('registry row %s names permit %s, which is %s or not for this code', v_reg.registry_id, v_reg.permit_id, v_reg.permit_state) END)`, `format('Before commit, birth the code through a permit (SELECT ${c.schema}.issue_permit(%L, ''<code>''), then write the row), or restore the row/registry entry that changed; check that the gate triggers of %I.%I are enabled (SELECT * FROM ${c.schema}.v_drift_trigger_state WHERE collection_name = %L).', v_collection, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection)`)}
        END IF;

        IF v_seen IS NULL THEN
            INSERT INTO ${violation} (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
            VALUES ('UNFINALIZED', v_collection, v_code, pg_catalog.format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME), TG_OP, v_family.mode, 2, ${ACTOR},
                    pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                        'registry_id', v_reg.registry_id, 'status', v_reg.status, 'permit_id', v_reg.permit_id,
                        'permit_state', v_reg.permit_state, 'born_txid', v_reg.born_txid::text,
                        'old_code', v_old_code)));
        END IF;
        RETURN NULL;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}()`, 'Layer 2 finalize gate (deferred constraint trigger _900_birth_finalize: AFTER INSERT OR DELETE OR UPDATE OF the code column; arguments: collection, code column). At commit (or SET CONSTRAINTS ... IMMEDIATE), both directions: every row version that brought a code in this transaction must be finalized (a BORN registry row for it, born in this transaction, from a CONSUMED permit for it), and every object born in this transaction must still exist (a deleted or re-coded row leaves a birth without an object). enforce: BG130 / BG157 (unless layer 1 recorded an authorised BYPASS); report: one UNFINALIZED row (detail.finding BORN_WITHOUT_OBJECT for the second case) unless layer 1 already recorded the code; off: nothing.')}`;
}

/**
 * The WHEN clause of _100_birth_gate, as pg_get_triggerdef() prints it. Its first arm sets the
 * statement marker (see tg_birth_gate) once per statement and is always false; the others call the
 * gate function only for a row it might refuse: NULL, empty, longer than the family limit, not
 * matching the family pattern, or the kill switch set. A valid row so costs an expression, like a
 * CHECK; the registration and the column type are checked per statement by the writer (INSERT) or
 * per row by the re-code trigger (UPDATE), and at commit by layer 2. `fam.x` is the code column as
 * text (new.<col> when its type is text, else (new.<col>)::text; the column type cannot change while
 * the trigger names the column), `fam.pattern_literal` the family pattern as a quoted literal.
 */
function gateWhen(c: Ctx): string {
  const fmt = `WHEN (((current_setting(%5$s::text, true) IS DISTINCT FROM ((statement_timestamp())::text || %6$s::text)) OR (%1$s IS NULL) OR (%1$s = ''::text) OR (length(%1$s) > %2$s) OR ((%1$s COLLATE "default") !~ %3$s::text) OR (COALESCE(current_setting(%4$s::text, true), ''::text) <> ''::text))) `;
  return `pg_catalog.format(${lit(fmt)}, fam.x, fam.code_max_length, fam.pattern_literal, ${lit(lit(bypassSetting(c)))}, ${lit(lit(markerSetting(c)))}, fam.collection_literal)`;
}

/**
 * The WHEN clause of _900_birth_finalize (AFTER INSERT OR DELETE), as pg_get_triggerdef() prints
 * it. An event is queued for every row unless the statement writer is certain to check this
 * statement (the marker tg_birth_gate arms for the first row of an INSERT statement, see there);
 * while it is, one event per transaction and collection is still queued (the verify setting turns
 * 'pending'): at commit it re-verifies set-based every birth the writer made in this transaction
 * (registry row still BORN from a consumed permit, object still there), which also covers a DELETE
 * inside an armed statement (a data-modifying CTE, a nested statement).
 */
function finalizeWhen(c: Ctx): string {
  const fmt = `WHEN (((current_setting(%1$s::text, true) IS DISTINCT FROM ((statement_timestamp())::text || %2$s::text)) OR ((current_setting(%3$s, true) IS DISTINCT FROM 'pending'::text) AND (set_config(%3$s, 'pending'::text, true) IS NOT NULL)))) `;
  return `pg_catalog.format(${lit(fmt)}, ${lit(lit(armedSetting(c)))}, fam.collection_literal, fam.verify_literal)`;
}

/**
 * Expected trigger definitions, exactly as pg_get_triggerdef() prints them with a pinned search_path.
 * _100_birth_gate carries the family's code rules (pattern, length limit) in its WHEN clause, so the
 * definition is read from birth_family: register_family and set_family_code_limit re-attach it when
 * they change them.
 */
export function triggerDefsFunction(c: Ctx): string {
  const fn = c.q('birth_gate_trigger_definitions');
  const fq = (name: string) => `pg_catalog.format('%I.%I', ${lit(c.schema)}, ${lit(name)})`;
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}(p_collection text, p_table_ident text, p_code_column name)
    RETURNS TABLE (trigger_name name, definition text)
    LANGUAGE sql
    STABLE
    ${PINNED}
    AS $fn$
        WITH fam AS (
            SELECT f.code_max_length,
                   -- the literal exactly as pg_get_triggerdef prints it (standard_conforming_strings = on)
                   '''' OPERATOR(pg_catalog.||) pg_catalog.replace(f.code_pattern, '''', '''''') OPERATOR(pg_catalog.||) '''' AS pattern_literal,
                   '''' OPERATOR(pg_catalog.||) pg_catalog.replace(' ' OPERATOR(pg_catalog.||) f.collection_name, '''', '''''') OPERATOR(pg_catalog.||) '''' AS collection_literal,
                   '''' OPERATOR(pg_catalog.||) pg_catalog.replace(${lit(verifyPrefix(c))} OPERATOR(pg_catalog.||) f.collection_name, '''', '''''') OPERATOR(pg_catalog.||) '''::text' AS verify_literal,
                   t.is_text,
                   CASE WHEN t.is_text THEN pg_catalog.format('new.%I', p_code_column)
                        ELSE pg_catalog.format('(new.%I)::text', p_code_column) END AS x,
                   CASE WHEN t.is_text THEN pg_catalog.format('old.%I', p_code_column)
                        ELSE pg_catalog.format('(old.%I)::text', p_code_column) END AS ox
              FROM ${c.q('birth_family')} f
             CROSS JOIN LATERAL (
                   SELECT COALESCE((SELECT a.atttypid FROM pg_catalog.pg_attribute a
                                     WHERE a.attrelid = pg_catalog.to_regclass(p_table_ident) AND a.attname = p_code_column
                                       AND a.attnum > 0 AND NOT a.attisdropped) = 'pg_catalog.text'::pg_catalog.regtype, false) AS is_text) t
             WHERE f.collection_name = p_collection
        )
        SELECT x.trigger_name::name, x.definition
          FROM (VALUES
            (1, ${lit(GATE_TRIGGER)}, pg_catalog.format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE OF %I ON %s FOR EACH ROW %sEXECUTE FUNCTION %s(%L, %L)',
                    ${lit(GATE_TRIGGER)}, p_code_column, p_table_ident,
                    COALESCE((SELECT ${gateWhen(c)} FROM fam), ''), ${fq('tg_birth_gate')}, p_collection, p_code_column)),
            (2, ${lit(REGISTER_TRIGGER)}, pg_catalog.format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS %I FOR EACH STATEMENT EXECUTE FUNCTION %s(%L, %L)',
                    ${lit(REGISTER_TRIGGER)}, p_table_ident, ${lit(NEW_TABLE)}, ${fq('tg_birth_register')}, p_collection, p_code_column)),
            (3, ${lit(RECODE_TRIGGER)}, pg_catalog.format('CREATE TRIGGER %I AFTER UPDATE ON %s FOR EACH ROW %sEXECUTE FUNCTION %s(%L, %L)',
                    ${lit(RECODE_TRIGGER)}, p_table_ident,
                    COALESCE((SELECT ${recodeWhen()} FROM fam), ''), ${fq('tg_birth_register')}, p_collection, p_code_column)),
            (4, ${lit(TRUNCATE_TRIGGER)}, pg_catalog.format('CREATE TRIGGER %I BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %s(%L, %L)',
                    ${lit(TRUNCATE_TRIGGER)}, p_table_ident, ${fq('tg_birth_finalize')}, p_collection, p_code_column)),
            (5, ${lit(FINALIZE_TRIGGER)}, pg_catalog.format('CREATE CONSTRAINT TRIGGER %I AFTER INSERT OR DELETE ON %s DEFERRABLE INITIALLY DEFERRED FOR EACH ROW %sEXECUTE FUNCTION %s(%L, %L)',
                    ${lit(FINALIZE_TRIGGER)}, p_table_ident,
                    COALESCE((SELECT ${finalizeWhen(c)} FROM fam), ''), ${fq('tg_birth_finalize')}, p_collection, p_code_column)),
            (6, ${lit(FINALIZE_RECODE_TRIGGER)}, pg_catalog.format('CREATE CONSTRAINT TRIGGER %I AFTER UPDATE ON %s DEFERRABLE INITIALLY DEFERRED FOR EACH ROW %sEXECUTE FUNCTION %s(%L, %L)',
                    ${lit(FINALIZE_RECODE_TRIGGER)}, p_table_ident,
                    COALESCE((SELECT ${recodeWhen()} FROM fam), ''), ${fq('tg_birth_finalize')}, p_collection, p_code_column))
          ) AS x(ord, trigger_name, definition)
         ORDER BY x.ord
    $fn$;
    ${comment('FUNCTION', `${fn}(text, text, name)`, 'The gate triggers a family table needs (since 000006), as CREATE TRIGGER statements: register_family executes them and compares them with pg_get_triggerdef(); v_drift_trigger_state reports any difference. p_table_ident is the schema-qualified, quoted table name. _100_birth_gate carries the family code rules (length limit, pattern; read from birth_family) in a WHEN clause, so that a valid row calls no function after the first row of a statement.')}`;
}
