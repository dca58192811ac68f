/**
 * The 0.2 admission gate (migration 000006): layer 1 validates per row and writes per statement.
 *
 *   _100_birth_gate      BEFORE INSERT OR UPDATE OF <code> FOR EACH ROW      tg_birth_gate(collection, column)
 *       validates only, like a CHECK constraint on the proposed row: kill-switch rights, the code
 *       length limit (report and enforce), NULL/empty code and the pattern (enforce). Writes nothing.
 *   _110_birth_register  AFTER INSERT ... REFERENCING NEW TABLE FOR EACH STATEMENT   tg_birth_register(...)
 *       sees only the rows PostgreSQL really inserted (ON CONFLICT DO NOTHING/UPDATE rows that were
 *       not inserted are not in the transition table) and does the writes set-based: one statement
 *       checks every code against the registry and the live permits, consumes the permits, writes
 *       birth_registry and registry_changelog (and, in report mode, birth_gate_violation).
 *   _120_birth_recode    AFTER UPDATE OF <code> FOR EACH ROW                 tg_birth_register(...)
 *       a re-code (only a changed code counts) goes through the same statement with one code.
 *       A row trigger, because transition tables cannot be combined with a column list: a
 *       statement trigger with transition tables would copy every updated row of every UPDATE.
 *   _900_birth_finalize  CONSTRAINT, AFTER INSERT OR DELETE OR UPDATE OF <code>, DEFERRABLE
 *       INITIALLY DEFERRED FOR EACH ROW                                      tg_birth_finalize(...)
 *       layer 2 at commit, both directions: a row that brought a code is finalized (BORN in this
 *       transaction from a consumed permit), and an object born in this transaction still exists.
 *
 * Permit time is judged on one clock reading per statement (v_ts := clock_timestamp()): live means
 * expires_at > v_ts, and consumed_at = greatest(v_ts, issued_at), so the permit CHECKs hold for every
 * interleaving, including a permit issued after the inserting transaction (or statement) began.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { lit, sqlText } from '../lib/sql.js';
import { ACTOR, CODE_BASE_TYPE, PINNED, SAFE_CODE_TYPE, at, bypassSetting } from './common.js';
import { FINALIZE_RECODE_TRIGGER, FINALIZE_TRIGGER, GATE_TRIGGER, NEW_TABLE, markerSetting, RECODE_TRIGGER, REGISTER_TRIGGER, TRUNCATE_TRIGGER, raiseQ, short } from './v2_common.js';

/** The family row + its code column state, into v_family (v_collection, TG_RELID, TG_ARGV in scope). */
export function familyLookup(c: Ctx): string {
  return sqlText`
    SELECT f.collection_name, f.table_name, f.code_column, f.code_pattern, f.mode, f.code_max_length,
           a.attnum IS NOT NULL AS has_column, a.atttypid
      INTO v_family
      FROM ${c.q('birth_family')} f
      LEFT JOIN pg_attribute a ON a.attrelid = f.table_name AND a.attname = f.code_column AND a.attnum > 0 AND NOT a.attisdropped
     WHERE f.collection_name = v_collection;
    IF NOT FOUND OR v_family.table_name::oid <> TG_RELID
       OR (TG_NARGS > 1 AND TG_ARGV[1] IS DISTINCT FROM v_family.code_column::text) THEN
        ${raiseQ(c, 8, 'GATE_MISCONFIGURED', `format('trigger %I on %I.%I names collection %L (column %L), which is %s', TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection, TG_ARGV[1], CASE WHEN v_family.collection_name IS NULL THEN 'not registered' WHEN v_family.table_name::oid <> TG_RELID THEN format('registered for table %s', v_family.table_name) ELSE format('registered with code column %I', v_family.code_column) END)`, `format('Re-attach the gate triggers: SELECT ${c.schema}.register_family(%L, %L, %L, %L, %L);', v_family.collection_name, v_family.table_name::text, v_family.code_column, v_family.code_pattern, v_family.mode)`)}
    END IF;`;
}

/**
 * The code column must exist and be text, varchar, name (no catalog read: the usual case) or a
 * domain directly over one of them (one pg_type lookup); anything else is refused before it is read.
 */
function columnCheck(c: Ctx): string {
  return sqlText`
    v_safe := v_family.atttypid IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.name'::pg_catalog.regtype);
    IF v_family.has_column AND NOT v_safe THEN
        SELECT ${SAFE_CODE_TYPE} INTO v_safe FROM pg_type t WHERE t.oid = v_family.atttypid;
    END IF;
    IF NOT v_family.has_column OR NOT COALESCE(v_safe, false) THEN
        ${raiseQ(c, 8, 'GATE_MISCONFIGURED', `format('column %I of %I.%I (family %s) is %s', v_family.code_column, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection, CASE WHEN NOT v_family.has_column THEN 'missing' ELSE 'not of a type the gate reads (text, varchar, name, or a domain over one)' END)`)}
    END IF;`;
}

/**
 * v_unsafe := why planning a query over the relation `rel` (an oid expression) as the package owner
 * could run code of its owner, or NULL: one cheap catalog probe first, the full analysis
 * (family_relation_unsafe) only for a table with index expressions or predicates, CHECK
 * constraints, statistics objects, or in an inheritance tree.
 */
export function planningRiskProbe(c: Ctx, rel: string): string {
  return sqlText`
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = ${rel} AND (i.indexprs IS NOT NULL OR i.indpred IS NOT NULL))
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid = ${rel} AND k.contype = 'c')
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_statistic_ext x WHERE x.stxrelid = ${rel})
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhparent = ${rel})
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhrelid = ${rel}) THEN
        v_unsafe := ${c.q('family_relation_unsafe')}(${rel});
    END IF;`;
}

/** Reads the code of NEW (and OLD) by name, as text, converting no other column. */
export const READ_CODE = sqlText`
  IF TG_OP = 'UPDATE' THEN
      EXECUTE pg_catalog.format('SELECT ($1).%1$I::text, ($2).%1$I::text', v_family.code_column) INTO v_code, v_old_code USING NEW, OLD;
  ELSIF TG_OP = 'INSERT' THEN
      EXECUTE pg_catalog.format('SELECT ($1).%I::text', v_family.code_column) INTO v_code USING NEW;
  ELSE
      EXECUTE pg_catalog.format('SELECT ($1).%I::text', v_family.code_column) INTO v_old_code USING OLD;
  END IF;`;

export function killSwitch(c: Ctx, codeExpr: string): string {
  return sqlText`
    v_switch := pg_catalog.lower(COALESCE(pg_catalog.current_setting(${lit(bypassSetting(c))}, true), ''));
    IF v_switch = 'on' THEN
        v_actor := ${ACTOR};
        IF NOT pg_catalog.pg_has_role(v_actor, ${lit(c.roles.admin)}, 'USAGE') THEN
            ${raiseQ(c, 12, 'GATE_BYPASS_REFUSED', `format('%s = on, set by role %I (session user %I), who is not a member of %I; collection %s, code %L', ${lit(bypassSetting(c))}, v_actor, session_user, ${lit(c.roles.admin)}, v_collection, ${short(codeExpr)})`, `${lit(`RESET ${bypassSetting(c)}; (only a member of ${c.roles.admin} may bypass the gate, with SET LOCAL ${bypassSetting(c)} = on)`)}`)}
        END IF;
        v_bypassed := true;
    ELSIF v_switch NOT IN ('', 'off') THEN
        ${raiseQ(c, 8, 'GATE_BYPASS_SETTING_INVALID', `format('%s = %L', ${lit(bypassSetting(c))}, pg_catalog.left(pg_catalog.current_setting(${lit(bypassSetting(c))}, true), 100))`, lit(`RESET ${bypassSetting(c)};`))}
    END IF;`;
}

export function tooLong(c: Ctx, pad: number, codeExpr: string): string {
  return raiseQ(
    c,
    pad,
    'CODE_TOO_LONG',
    `format('collection %s, table %I.%I: code of %s characters (limit %s): %L', v_collection, TG_TABLE_SCHEMA, TG_TABLE_NAME, pg_catalog.length(${codeExpr}), v_family.code_max_length, ${short(codeExpr)})`,
    `format('Use a code of at most %s characters, or raise the limit: SELECT ${c.schema}.set_family_code_limit(%L, %s);', v_family.code_max_length, v_collection, LEAST(pg_catalog.length(${codeExpr}), 600))`,
  );
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
        -- the statement marker (the WHEN clause of _100_birth_gate sets it too, for the first row of
        -- each statement, and calls this function only for a row it might refuse): it tells layer 2,
        -- should it fire at the end of this very statement (SET CONSTRAINTS ... IMMEDIATE), that the
        -- statement-level writer has yet to run; layer 2 only trusts it while that writer trigger is
        -- enabled, so setting it by hand bypasses nothing
        v_marker := pg_catalog.statement_timestamp()::text;
        IF pg_catalog.current_setting(${lit(markerSetting(c))}, true) IS DISTINCT FROM v_marker THEN
            PERFORM pg_catalog.set_config(${lit(markerSetting(c))}, v_marker, true);
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

/** The enforce statement: check every code, then (only if all pass) consume, register, log. */
export function enforceStatement(c: Ctx): string {
  const permit = c.q('birth_admission_permit');
  const registry = c.q('birth_registry');
  return sqlText`
    WITH codes AS (
        SELECT x.code, pg_catalog.count(*) AS n FROM pg_catalog.unnest(v_codes) AS x(code) GROUP BY x.code
    ), chk AS MATERIALIZED (
        SELECT k.code, k.n, r.registry_id AS prior_id, r.status AS prior_status, p.permit_id AS live_id, p.ctid AS live_ctid
          FROM codes k
          LEFT JOIN ${registry} r ON r.collection_name = v_collection AND r.entity_code = k.code
          LEFT JOIN ${permit} p ON p.collection_name = v_collection AND p.entity_code = k.code
                                AND p.state = 'ISSUED' AND p.expires_at > v_ts
    ), bad AS (
        SELECT chk.*,
               CASE WHEN chk.code IS NULL OR chk.code = '' THEN 1
                    WHEN pg_catalog.length(chk.code) > v_family.code_max_length THEN 2
                    WHEN chk.code !~ v_family.code_pattern THEN 3
                    WHEN chk.n > 1 OR chk.prior_id IS NOT NULL THEN 4
                    ELSE 5 END AS reason
          FROM chk
         WHERE chk.code IS NULL OR chk.code = '' OR pg_catalog.length(chk.code) > v_family.code_max_length
            OR chk.code !~ v_family.code_pattern OR chk.n > 1 OR chk.prior_id IS NOT NULL OR chk.live_id IS NULL
         ORDER BY 6, 1
         LIMIT 1
    ), consumed AS (
        UPDATE ${permit} p
           SET state = 'CONSUMED', consumed_at = GREATEST(v_ts, p.issued_at), consumed_by = v_actor
          FROM chk
         WHERE p.ctid = chk.live_ctid AND p.permit_id = chk.live_id  -- the version seen (a concurrent change is re-checked)
           AND p.state = 'ISSUED' AND p.expires_at > v_ts
           AND NOT EXISTS (SELECT 1 FROM bad)
        RETURNING p.permit_id, p.entity_code
    ), born AS (
        INSERT INTO ${registry} (collection_name, entity_code, permit_id, born_by)
        SELECT v_collection, x.entity_code, x.permit_id, v_actor FROM consumed x
        ON CONFLICT (entity_code, collection_name) DO NOTHING
        RETURNING registry_id, entity_code, born_at, permit_id
    ), logged AS (
        INSERT INTO ${c.q('registry_changelog')} (op, collection_name, entity_code, registry_id, born_at, actor, detail)
        SELECT 'BORN', v_collection, b.entity_code, b.registry_id, b.born_at, v_actor,
               pg_catalog.jsonb_build_object('permit_id', b.permit_id, 'table', v_table, 'operation', TG_OP,
                                             'mode', 'enforce', 'bypass', false)
          FROM born b
        RETURNING 1
    )
    SELECT (SELECT pg_catalog.count(*) FROM chk) AS codes,
           (SELECT pg_catalog.count(*) FROM consumed) AS consumed,
           (SELECT pg_catalog.count(*) FROM born) AS born,
           bad.code AS bad_code, bad.n AS bad_n, bad.prior_id AS bad_prior_id, bad.prior_status AS bad_prior_status,
           bad.reason AS bad_reason, bad.code IS NOT NULL OR bad.reason IS NOT NULL AS bad_found
      INTO v_res
      FROM (SELECT 1) AS one
      LEFT JOIN bad ON true;`;
}

/** The report / bypass statement: admit every row, register what can be born, record what was seen. */
export function reportStatement(c: Ctx): string {
  const permit = c.q('birth_admission_permit');
  const registry = c.q('birth_registry');
  return sqlText`
    WITH src AS (
        SELECT x.code, x.ord FROM pg_catalog.unnest(v_codes) WITH ORDINALITY AS x(code, ord)
    ), codes AS (
        SELECT s.code, pg_catalog.count(*) AS n FROM src s WHERE s.code IS NOT NULL AND s.code <> '' GROUP BY s.code
    ), chk AS MATERIALIZED (
        SELECT k.code, k.n, r.registry_id AS prior_id, r.status AS prior_status, p.permit_id AS live_id, p.ctid AS live_ctid,
               k.code ~ v_family.code_pattern AS matches
          FROM codes k
          LEFT JOIN ${registry} r ON r.collection_name = v_collection AND r.entity_code = k.code
          LEFT JOIN ${permit} p ON p.collection_name = v_collection AND p.entity_code = k.code
                                AND p.state = 'ISSUED' AND p.expires_at > v_ts
    ), consumed AS (
        UPDATE ${permit} p
           SET state = 'CONSUMED', consumed_at = GREATEST(v_ts, p.issued_at), consumed_by = v_actor
          FROM chk
         WHERE p.ctid = chk.live_ctid AND p.permit_id = chk.live_id AND chk.prior_id IS NULL
           AND p.state = 'ISSUED' AND p.expires_at > v_ts
        RETURNING p.permit_id, p.entity_code
    ), born AS (
        INSERT INTO ${registry} (collection_name, entity_code, permit_id, born_by)
        SELECT v_collection, chk.code, x.permit_id, v_actor
          FROM chk LEFT JOIN consumed x ON x.entity_code = chk.code
         WHERE chk.prior_id IS NULL
        ON CONFLICT (entity_code, collection_name) DO NOTHING
        RETURNING registry_id, entity_code, born_at, permit_id
    ), logged AS (
        INSERT INTO ${c.q('registry_changelog')} (op, collection_name, entity_code, registry_id, born_at, actor, detail)
        SELECT 'BORN', v_collection, b.entity_code, b.registry_id, b.born_at, v_actor,
               pg_catalog.jsonb_build_object('permit_id', b.permit_id, 'table', v_table, 'operation', TG_OP,
                                             'mode', v_family.mode, 'bypass', v_bypassed)
          FROM born b
        RETURNING 1
    ), facts AS (
        SELECT s.code, s.ord,
               pg_catalog.row_number() OVER (PARTITION BY s.code ORDER BY s.ord) AS k,
               chk.prior_id, chk.prior_status, chk.matches, x.permit_id AS consumed_id, b.registry_id AS born_id
          FROM src s
          LEFT JOIN chk ON chk.code = s.code
          LEFT JOIN consumed x ON x.entity_code = s.code
          LEFT JOIN born b ON b.entity_code = s.code
    ), judged AS (
        SELECT f.*, lp.permit_id AS last_id, lp.state AS last_state, lp.expires_at AS last_expires, lp.revoke_reason AS last_reason,
               (CASE WHEN f.code IS NULL OR f.code = '' THEN ARRAY['NULL_CODE']
                     ELSE CASE WHEN f.matches THEN '{}'::text[] ELSE ARRAY['PATTERN_MISMATCH'] END
                          || CASE WHEN f.prior_id IS NOT NULL OR f.k > 1 OR f.born_id IS NULL THEN ARRAY['ALREADY_BORN']
                                  WHEN f.consumed_id IS NOT NULL THEN '{}'::text[]
                                  WHEN lp.state IN ('ISSUED', 'EXPIRED') THEN ARRAY['PERMIT_EXPIRED']
                                  WHEN lp.state = 'REVOKED' THEN ARRAY['PERMIT_REVOKED']
                                  ELSE ARRAY['NO_PERMIT'] END
                END)::text[] AS findings
          FROM facts f
          LEFT JOIN LATERAL (
                SELECT p.permit_id, p.state, p.expires_at, p.revoke_reason
                  FROM ${permit} p
                 WHERE f.consumed_id IS NULL AND f.born_id IS NOT NULL AND f.k = 1
                   AND p.collection_name = v_collection AND p.entity_code = f.code
                 ORDER BY p.permit_id DESC
                 LIMIT 1) lp ON true
    ), seen AS (
        SELECT j.*, pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                   'operation', TG_OP,
                   'code_pattern', v_family.code_pattern,
                   'permit_id', j.consumed_id,
                   'registry_id', CASE WHEN j.k = 1 THEN j.born_id END,
                   'registered', j.k = 1 AND j.born_id IS NOT NULL,
                   'prior_registry_id', j.prior_id,
                   'prior_status', j.prior_status,
                   'latest_permit', CASE WHEN j.last_id IS NOT NULL THEN pg_catalog.jsonb_build_object(
                       'permit_id', j.last_id, 'state', j.last_state, 'expires_at', j.last_expires, 'revoke_reason', j.last_reason) END,
                   'old_code', v_old_code,
                   'duplicate_in_statement', CASE WHEN j.k > 1 THEN true END)) AS detail
          FROM judged j
    ), recorded AS (
        INSERT INTO ${c.q('birth_gate_violation')} (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
        SELECT v.kind, v_collection, v.code, v_table, TG_OP, v_family.mode, 1, v_actor, v.detail
          FROM (SELECT 'BYPASS' AS kind, s.code, s.ord, 0::bigint AS fno,
                       s.detail || pg_catalog.jsonb_build_object('findings', pg_catalog.to_jsonb(s.findings)) AS detail
                  FROM seen s
                 WHERE v_bypassed
                UNION ALL
                SELECT CASE y.finding WHEN 'ALREADY_BORN' THEN 'NO_PERMIT' ELSE y.finding END, s.code, s.ord, y.fno,
                       s.detail || pg_catalog.jsonb_build_object('finding', y.finding)
                  FROM seen s
                 CROSS JOIN LATERAL pg_catalog.unnest(s.findings) WITH ORDINALITY AS y(finding, fno)
                 WHERE NOT v_bypassed) AS v
         ORDER BY v.ord, v.fno
        RETURNING 1
    )
    SELECT (SELECT pg_catalog.count(*) FROM born) AS born,
           (SELECT pg_catalog.count(*) FROM recorded) AS recorded
      INTO v_res;`;
}

export function registerTriggerFunction(c: Ctx): string {
  const fn = c.q('tg_birth_register');
  const permit = c.q('birth_admission_permit');
  const notBorn = `(SELECT x.code FROM pg_catalog.unnest(v_codes) AS x(code) WHERE NOT EXISTS (SELECT 1 FROM ${c.q('birth_registry')} r WHERE r.collection_name = v_collection AND r.entity_code = x.code AND r.born_txid = pg_catalog.pg_current_xact_id()) LIMIT 1)`;
  const permitHint = `format('Issue a permit first: SELECT ${c.schema}.issue_permit(%L, %L); then write the row within its lifetime.', v_collection, ${short('v_bad_code')})`;
  return sqlText`
    CREATE FUNCTION ${fn}()
    RETURNS trigger
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED}
    SET plan_cache_mode = force_generic_plan
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
        IF TG_LEVEL = 'STATEMENT' AND pg_catalog.current_setting(${lit(markerSetting(c))}, true) <> '' THEN
            -- the writer runs now: layer 2 no longer waits for it (see tg_birth_gate)
            PERFORM pg_catalog.set_config(${lit(markerSetting(c))}, '', true);
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

/**
 * TRUNCATE (trigger _130_birth_truncate, BEFORE TRUNCATE FOR EACH STATEMENT): it deletes every row
 * without row triggers, so layer 2 never sees the objects go. Like a DELETE, it may remove objects
 * born by earlier transactions (they become phantoms, which the drift monitor reports), but not an
 * object born in this transaction: enforce refuses the TRUNCATE (BG162) unless the kill switch is
 * on (authorised); report records one UNFINALIZED row per such code (finding BORN_WITHOUT_OBJECT,
 * removed_by TRUNCATE). Reads only birth_registry, never the family table.
 */
export function truncateCheck(c: Ctx): string {
  const registry = c.q('birth_registry');
  const violation = c.q('birth_gate_violation');
  return sqlText`
    ${killSwitch(c, 'NULL::text')}
    SELECT pg_catalog.count(*) AS n, (pg_catalog.array_agg(r.entity_code ORDER BY r.registry_id))[1] AS first_code,
           (pg_catalog.array_agg(r.registry_id ORDER BY r.registry_id))[1] AS first_id
      INTO v_born
      FROM ${registry} r
     WHERE r.collection_name = v_collection AND r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id();
    IF v_born.n > 0 AND v_family.mode = 'enforce' AND NOT v_bypassed THEN
        ${raiseQ(c, 8, 'GATE_TRUNCATE_BORN', `format('collection %s, table %I.%I: %s object(s) born in this transaction would be removed without a trace, e.g. code %L (registry row %s)', v_collection, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_born.n, ${short('v_born.first_code')}, v_born.first_id)`, `format('Delete the unwanted rows instead (DELETE FROM %I.%I WHERE ...; layer 2 then checks each one), or commit the births first and TRUNCATE in a later transaction; to drop a birth before commit: SELECT ${c.schema}.retire(%L, %L, ''<reason>'');', TG_TABLE_SCHEMA, TG_TABLE_NAME, v_collection, ${short('v_born.first_code')})`)}
    END IF;
    IF v_born.n > 0 THEN
        INSERT INTO ${violation} (kind, collection_name, entity_code, table_name, operation, mode, layer, actor, detail)
        SELECT 'UNFINALIZED', v_collection, r.entity_code, pg_catalog.format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME),
               COALESCE((SELECT l.detail ->> 'operation' FROM ${c.q('registry_changelog')} l
                          WHERE l.registry_id = r.registry_id AND l.op = 'BORN' AND l.txid = r.born_txid LIMIT 1), 'INSERT'), v_family.mode, 2, ${ACTOR},
               pg_catalog.jsonb_build_object('finding', 'BORN_WITHOUT_OBJECT', 'registry_id', r.registry_id, 'removed_by', 'TRUNCATE', 'bypass', v_bypassed)
          FROM ${registry} r
         WHERE r.collection_name = v_collection AND r.status = 'BORN' AND r.born_txid = pg_catalog.pg_current_xact_id()
         ORDER BY r.registry_id;
    END IF;`;
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
                SELECT ${CODE_BASE_TYPE} INTO v_type
                  FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                 WHERE a.attrelid = TG_RELID AND a.attname = v_family.code_column AND a.attnum > 0 AND NOT a.attisdropped;
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
        IF TG_OP = 'INSERT' AND pg_catalog.current_setting(${lit(markerSetting(c))}, true) = pg_catalog.statement_timestamp()::text
           AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                        WHERE t.tgrelid = TG_RELID AND t.tgname = ${lit(REGISTER_TRIGGER)}
                          AND t.tgfoid = ${lit(`${c.schema}.tg_birth_register()`)}::pg_catalog.regprocedure
                          AND CASE t.tgenabled WHEN 'O' THEN pg_catalog.current_setting('session_replication_role') <> 'replica'
                                               WHEN 'R' THEN pg_catalog.current_setting('session_replication_role') = 'replica'
                                               WHEN 'A' THEN true ELSE false END) THEN
            RETURN NULL;
        END IF;

        -- not finalized. A version whose code is no longer in the table (deleted or re-coded before
        -- commit) is judged by (a) instead; NULL/empty codes always count (fail closed).
        IF v_code IS NOT NULL AND v_code <> '' THEN
            SELECT ${CODE_BASE_TYPE} INTO v_type
              FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
             WHERE a.attrelid = TG_RELID AND a.attname = v_family.code_column AND a.attnum > 0 AND NOT a.attisdropped;
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
  const fmt = `WHEN ((((current_setting(%5$s::text, true) IS DISTINCT FROM (statement_timestamp())::text) AND (set_config(%5$s::text, (statement_timestamp())::text, true) IS NULL)) OR (%1$s IS NULL) OR (%1$s = ''::text) OR (length(%1$s) > %2$s) OR ((%1$s COLLATE "default") !~ %3$s::text) OR (COALESCE(current_setting(%4$s::text, true), ''::text) <> ''::text))) `;
  return `pg_catalog.format(${lit(fmt)}, fam.x, fam.code_max_length, fam.pattern_literal, ${lit(lit(bypassSetting(c)))}, ${lit(lit(markerSetting(c)))})`;
}

/**
 * The WHEN clause of _120_birth_recode, as pg_get_triggerdef() prints it: only an UPDATE that really
 * changes the code calls the writer (an upsert that sets the same code costs no function call). The
 * comparison uses the default collation, like the writer's own comparison of the two codes as text.
 */
export function recodeWhen(): string {
  return `pg_catalog.format('WHEN (((%1$s COLLATE "default") IS DISTINCT FROM (%2$s COLLATE "default"))) ', fam.ox, fam.x)`;
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
    CREATE FUNCTION ${fn}(p_collection text, p_table_ident text, p_code_column name)
    RETURNS TABLE (trigger_name name, definition text)
    LANGUAGE sql
    STABLE
    ${PINNED}
    AS $fn$
        WITH fam AS (
            SELECT f.code_max_length,
                   -- the literal exactly as pg_get_triggerdef prints it (standard_conforming_strings = on)
                   '''' OPERATOR(pg_catalog.||) pg_catalog.replace(f.code_pattern, '''', '''''') OPERATOR(pg_catalog.||) '''' AS pattern_literal,
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
            (5, ${lit(FINALIZE_TRIGGER)}, pg_catalog.format('CREATE CONSTRAINT TRIGGER %I AFTER INSERT OR DELETE ON %s DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION %s(%L, %L)',
                    ${lit(FINALIZE_TRIGGER)}, p_table_ident, ${fq('tg_birth_finalize')}, p_collection, p_code_column)),
            (6, ${lit(FINALIZE_RECODE_TRIGGER)}, pg_catalog.format('CREATE CONSTRAINT TRIGGER %I AFTER UPDATE ON %s DEFERRABLE INITIALLY DEFERRED FOR EACH ROW %sEXECUTE FUNCTION %s(%L, %L)',
                    ${lit(FINALIZE_RECODE_TRIGGER)}, p_table_ident,
                    COALESCE((SELECT ${recodeWhen()} FROM fam), ''), ${fq('tg_birth_finalize')}, p_collection, p_code_column))
          ) AS x(ord, trigger_name, definition)
         ORDER BY x.ord
    $fn$;
    ${comment('FUNCTION', `${fn}(text, text, name)`, 'The gate triggers a family table needs (since 000006), as CREATE TRIGGER statements: register_family executes them and compares them with pg_get_triggerdef(); v_drift_trigger_state reports any difference. p_table_ident is the schema-qualified, quoted table name. _100_birth_gate carries the family code rules (length limit, pattern; read from birth_family) in a WHEN clause, so that a valid row calls no function after the first row of a statement.')}`;
}
