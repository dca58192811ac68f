/**
 * Drift monitor after a dump/restore (migration 000026).
 *
 * 1. Package triggers in canonical form. A trigger's hash is taken over pg_get_triggerdef(), the
 *    deparsed tree. pg_dump/pg_restore (and pg_upgrade, and anyone re-creating a trigger from its
 *    own definition) re-parse that text; for _100_permit_transition_guard the tree does not survive:
 *    its row comparison `(a, b, ...) IS DISTINCT FROM (c, d, ...)` is expanded by the parser into
 *    nested ORs, deparsed with their parentheses, and re-parsed flat. The trigger is re-created here
 *    with the flat OR its definition re-parses to (same meaning, column by column), so its deparsed
 *    text is a fixpoint and the baseline hash survives a restore. We re-create rather than
 *    normalise the hash: a normaliser that undoes the parser's flattening in text would have to be
 *    a parenthesis-aware rewriter in SQL and would make different trees hash equal, while a
 *    canonical definition keeps the hash exact. test/drift-restore.test.ts walks every trigger the
 *    package owns or attaches, re-creates it from pg_get_triggerdef and requires an unchanged report,
 *    so a future non-fixpoint trigger fails there.
 * 2. Attach records that no longer name the trigger. gate_trigger_attach holds trigger OIDs and row
 *    versions (xmin); after a restore (or the owner's DROP + CREATE TRIGGER) the gate is another
 *    trigger, its record names one that is gone, and an ALTER of the new one went unseen. Such a gate
 *    is now state `unrecorded` (v_drift_trigger_state), a critical trigger_unrecorded finding whose
 *    remedy is gate_attach_record(collection): it records the gates that are present, enabled and as
 *    expected and have no valid record (never refreshes a valid record, so it launders no
 *    alteration), and drops records of triggers that no longer exist. A record matches only its own
 *    trigger (OID, table and name), so an OID reused by another trigger is no record.
 * 3. PUBLIC may execute a SECURITY DEFINER package function (a restore into a cluster without the
 *    package roles leaves PostgreSQL's default EXECUTE for PUBLIC, because each of pg_dump's ACL
 *    entries fails as a whole): a critical function_public_execute finding (a plain function stays
 *    a warning). drift_baseline.execute_grantees records which roles may execute each function,
 *    so the remedy is the copyable REVOKE ... FROM PUBLIC and the GRANTs the source database had.
 *    EXECUTE for any role that is not one of the package's own, or WITH GRANT OPTION (a grantee who
 *    may pass it on), is a function_execute_grant finding (critical on a SECURITY DEFINER function),
 *    and a capture records only the package's roles in execute_grantees, so no capture (every
 *    migration runs one) turns such a grant into a legitimate one. Grant a login the package role.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment, commentTrigger } from '../lib/migration.js';
import { PINNED_SEARCH_PATH, lit, qi, replaceOnce, sqlText } from '../lib/sql.js';
import { raiseAt } from '../errors/index.js';
import { deliveryRole } from '../outbox/common.js';
import { ATTACH_TABLE, reportViewV3, triggerStateViewV3 } from './gate_alteration_v3.js';

const PERMIT_GUARD_COMMENT = "Only ISSUED -> CONSUMED | EXPIRED | REVOKED: final states never change, nor the permit's identity and terms.";

/** _100_permit_transition_guard with the WHEN clause the parser produces (flat OR): deparse/re-parse fixpoint. */
export function permitGuardTriggerCanonical(c: Ctx): string {
  const permit = c.q('birth_admission_permit');
  return sqlText`
    DROP TRIGGER IF EXISTS "_100_permit_transition_guard" ON ${permit};
    CREATE TRIGGER "_100_permit_transition_guard"
        BEFORE UPDATE ON ${permit}
        FOR EACH ROW
        WHEN (OLD.state <> 'ISSUED'
              OR OLD.permit_id IS DISTINCT FROM NEW.permit_id
              OR OLD.collection_name IS DISTINCT FROM NEW.collection_name
              OR OLD.entity_code IS DISTINCT FROM NEW.entity_code
              OR OLD.issued_at IS DISTINCT FROM NEW.issued_at
              OR OLD.issued_by IS DISTINCT FROM NEW.issued_by
              OR OLD.expires_at IS DISTINCT FROM NEW.expires_at)
        EXECUTE FUNCTION ${c.q('tg_birth_admission_permit_guard')}();
    ${commentTrigger('_100_permit_transition_guard', permit, PERMIT_GUARD_COMMENT)}`;
}

/** The same trigger as 000002 created it (row comparison; the Down of 000026). */
export function permitGuardTriggerV1(c: Ctx): string {
  const permit = c.q('birth_admission_permit');
  return sqlText`
    DROP TRIGGER IF EXISTS "_100_permit_transition_guard" ON ${permit};
    CREATE TRIGGER "_100_permit_transition_guard"
        BEFORE UPDATE ON ${permit}
        FOR EACH ROW
        WHEN (OLD.state <> 'ISSUED'
              OR (OLD.permit_id, OLD.collection_name, OLD.entity_code, OLD.issued_at, OLD.issued_by, OLD.expires_at)
                 IS DISTINCT FROM (NEW.permit_id, NEW.collection_name, NEW.entity_code, NEW.issued_at, NEW.issued_by, NEW.expires_at))
        EXECUTE FUNCTION ${c.q('tg_birth_admission_permit_guard')}();
    ${commentTrigger('_100_permit_transition_guard', permit, PERMIT_GUARD_COMMENT)}`;
}

/**
 * Who may execute each package function, captured with the baseline. The views of 000004-000016
 * read drift_baseline with `SELECT *`; triggerStateViewV4 names its columns, so the Down can drop
 * this column again once v_drift_report no longer uses it (before it restores the older view).
 */
export function baselineGranteesColumn(c: Ctx): string {
  const t = c.q('drift_baseline');
  return sqlText`
    ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS "execute_grantees" text[];
    ${comment('COLUMN', `${t}."execute_grantees"`, 'For a function: the package roles (by name) that may EXECUTE it, sorted (since 000026); a grant to any other role is never recorded (it is a function_execute_grant finding). When PUBLIC may execute the function at capture time (a restore into a cluster without the package roles), the roles recorded before are kept. The remedy of a function_public_execute finding grants to them. NULL for a trigger.')}`;
}

export const dropBaselineGranteesColumn = (c: Ctx) => `ALTER TABLE ${c.q('drift_baseline')} DROP COLUMN IF EXISTS "execute_grantees";`;

/** drift_capture_baseline as of 000026: also records execute_grantees. */
export function captureBaselineV2(c: Ctx): string {
  const fn = c.q('drift_capture_baseline');
  const b = c.q('drift_baseline');
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}()
    RETURNS integer
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    AS $fn$
    DECLARE
        v_count integer;
        v_previous jsonb;
    BEGIN
        -- one capture at a time; readers of the views are not blocked
        LOCK TABLE ${b} IN SHARE ROW EXCLUSIVE MODE;
        -- the roles recorded before: kept for a function PUBLIC may execute now (a restore without
        -- the package roles), so the remedy still names the grants the package made
        SELECT pg_catalog.jsonb_object_agg(x.identity, pg_catalog.to_jsonb(x.execute_grantees))
          INTO v_previous
          FROM ${b} x
         WHERE x.object_kind = 'function' AND x.execute_grantees IS NOT NULL;
        DELETE FROM ${b};
        INSERT INTO ${b} (object_kind, identity, scope, definition_hash, definition, execute_grantees)
        SELECT 'function', f.identity, 'package', f.definition_hash, f.definition,
               CASE WHEN f.public_execute AND v_previous -> f.identity IS NOT NULL
                    THEN ARRAY(SELECT pg_catalog.jsonb_array_elements_text(v_previous -> f.identity))
                    ELSE ARRAY(SELECT DISTINCT r.rolname::text
                                 FROM pg_catalog.pg_proc p
                                CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
                                 JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
                                WHERE p.oid = f.function_oid AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
                                  AND r.rolname = ANY (${packageRolesArray(c)})
                                ORDER BY 1) END
          FROM ${c.q('drift_current_functions')}() f
        UNION ALL
        SELECT 'trigger', t.identity, t.scope, t.definition_hash, t.definition, NULL
          FROM ${c.q('drift_current_triggers')}() t;
        GET DIAGNOSTICS v_count = ROW_COUNT;
        RETURN v_count;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}()`, 'Records the current hashes of every package function and trigger as the drift baseline (replacing the previous one), with the roles that may execute each function, and returns how many objects it recorded. Every migration that changes an owned function ends with it; a DBA calls it only to accept a reviewed change.')}`;
}

/** v_drift_trigger_state as of 000026: a gate without a record of its own trigger is `unrecorded`. */
export function triggerStateViewV4(c: Ctx): string {
  let sql = triggerStateViewV3(c);
  // name the baseline's columns (not *), so that a later column of drift_baseline is no dependency
  sql = replaceOnce(
    sql,
    `FULL JOIN (SELECT * FROM ${c.q('drift_baseline')} WHERE object_kind = 'trigger' AND scope = 'package') b`,
    `FULL JOIN (SELECT identity, definition_hash, definition FROM ${c.q('drift_baseline')} WHERE object_kind = 'trigger' AND scope = 'package') b`,
  );
  // a record names its trigger by OID, table and name: an OID reused by another trigger is no record
  sql = replaceOnce(
    sql,
    `      LEFT JOIN ${c.q(ATTACH_TABLE)} ga ON ga.trigger_oid = g.trigger_oid\n`,
    `      LEFT JOIN ${c.q(ATTACH_TABLE)} ga ON ga.trigger_oid = g.trigger_oid AND ga.table_oid = g.table_oid AND ga.trigger_name = g.trigger_name\n`,
  );
  sql = replaceOnce(
    sql,
    '                    AND ga.trigger_oid IS NOT NULL, false) AS altered\n',
    `                    AND ga.trigger_oid IS NOT NULL, false) AS altered,
           g.trigger_oid IS NOT NULL AND q.table_ident IS NOT NULL AND ga.trigger_oid IS NULL AS unrecorded\n`,
  );
  sql = replaceOnce(sql, '           b.definition_hash,\n           false\n      FROM (SELECT * FROM cur WHERE', '           b.definition_hash,\n           false,\n           false\n      FROM (SELECT * FROM cur WHERE');
  sql = replaceOnce(sql, "            WHEN x.altered THEN 'altered'\n", "            WHEN x.altered THEN 'altered'\n            WHEN x.unrecorded THEN 'unrecorded'\n");
  return sql + '\n' + comment(
    'VIEW',
    c.q('v_drift_trigger_state'),
    'Each trigger the package needs: per family its gate triggers (expected definitions from birth_gate_trigger_definitions: seven since 000015), the same on every table a collection was moved off (birth_family_move) while that table exists and no family governs it (state missing: it lost its gates), and the triggers on package tables (expected = baseline). present, enabled (tgenabled O or A; D = disabled, R = replica only), hashes, drifted, state; state altered (since 000016): enabled and as expected, but its pg_trigger row changed after the package attached it (gate_trigger_attach), e.g. disabled and enabled again; state unrecorded (since 000026): enabled and as expected, but gate_trigger_attach has no record of this very trigger (OID, table, name): the database was restored from a dump or upgraded, or the trigger was dropped and created again; record it with gate_attach_record().',
  );
}

/** v_drift_report as of 000026: trigger_unrecorded (critical); function_public_execute critical for SECURITY DEFINER. */
export function reportViewV4(c: Ctx): string {
  let sql = reportViewV3(c);
  sql = replaceOnce(
    sql,
    "               WHEN 'altered' THEN ",
    `               WHEN 'unrecorded' THEN pg_catalog.format('trigger %s on %s (family %s, mode %s) is not the trigger the package attached: gate_trigger_attach has no record of it (the database was restored from a dump or upgraded, or the trigger was dropped and created again), so an alteration of it (DISABLE/ENABLE) cannot be seen', t.trigger_name, t.table_name, t.collection_name, t.family_mode)
               WHEN 'altered' THEN `,
  );
  sql = replaceOnce(
    sql,
    "               WHEN t.scope = 'family' THEN pg_catalog.format('Re-attach",
    `               WHEN t.state = 'unrecorded' THEN pg_catalog.format('Check that nobody re-created it on purpose (compare current_definition in ${c.schema}.v_drift_trigger_state), then record the gates of the family as they are: SELECT ${c.schema}.gate_attach_record(%L);', t.collection_name)
               WHEN t.scope = 'family' THEN pg_catalog.format('Re-attach`,
  );
  sql = replaceOnce(sql, "'unexpected', 'altered')", "'unexpected', 'altered', 'unrecorded')");
  sql = replaceOnce(
    sql,
    `    SELECT 'warning', 'function_public_execute', 'function', v.identity,
           pg_catalog.format('PUBLIC may execute %s (the package grants nothing to PUBLIC)', v.identity),
           pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC; then grant EXECUTE to the package role that needs it', v.identity),
           '{}'::jsonb
      FROM ${c.q('v_drift_function_hash')} v
     WHERE v.public_execute
`,
    `    SELECT CASE WHEN p.prosecdef THEN 'critical' ELSE 'warning' END, 'function_public_execute', 'function', f.identity,
           CASE WHEN p.prosecdef
                THEN pg_catalog.format('PUBLIC may execute %s, a SECURITY DEFINER function: any role that may use schema %s runs it with the rights of its owner %s (the package grants nothing to PUBLIC; a restore into a cluster without the package roles leaves this)%s',
                                       f.identity, ${lit(c.schema)}, p.proowner::pg_catalog.regrole, g.missing_note)
                ELSE pg_catalog.format('PUBLIC may execute %s (the package grants nothing to PUBLIC)%s', f.identity, g.missing_note) END,
           pg_catalog.format('REVOKE ALL ON ROUTINE %s FROM PUBLIC;%s', f.identity,
                             CASE WHEN g.grants <> '' THEN g.grants
                                  ELSE ' then GRANT EXECUTE to the package role that needs it (see the role table in the README)' END),
           jsonb_build_object('security_definer', p.prosecdef, 'execute_grantees', to_jsonb(b.execute_grantees), 'missing_roles', to_jsonb(g.missing))
      FROM ${c.q('drift_current_functions')}() f
      JOIN pg_catalog.pg_proc p ON p.oid = f.function_oid
      LEFT JOIN ${c.q('drift_baseline')} b ON b.object_kind = 'function' AND b.identity = f.identity
     CROSS JOIN LATERAL (
           SELECT coalesce(pg_catalog.string_agg(pg_catalog.format(' GRANT EXECUTE ON ROUTINE %s TO %I;', f.identity, r.role), '' ORDER BY r.role), '') AS grants,
                  pg_catalog.array_agg(r.role ORDER BY r.role) FILTER (WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles x WHERE x.rolname = r.role)) AS missing,
                  coalesce('; roles missing in this cluster, create them first: '
                           || pg_catalog.string_agg(r.role, ', ' ORDER BY r.role) FILTER (WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles x WHERE x.rolname = r.role)), '') AS missing_note
             FROM pg_catalog.unnest(b.execute_grantees) AS r(role)) g
     WHERE f.public_execute
    UNION ALL
    -- EXECUTE for a role that is not one of the package's own, or WITH GRANT OPTION (since 000026):
    -- on a SECURITY DEFINER function that role runs it with the owner's rights
    SELECT CASE WHEN p.prosecdef THEN 'critical' ELSE 'warning' END, 'function_execute_grant', 'function', f.identity,
           pg_catalog.format('%s may execute %s%s%s, which the package does not grant (it grants EXECUTE only to its roles %s, each only the functions of its role table, without grant option)',
                             a.grantee::pg_catalog.regrole, f.identity,
                             CASE WHEN p.prosecdef THEN ', a SECURITY DEFINER function running with the rights of its owner ' || p.proowner::pg_catalog.regrole::text ELSE '' END,
                             CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION (it may grant it to anyone)' ELSE '' END,
                             ${lit(packageRoles(c).join(', '))}),
           CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = a.grantee AND r.rolname = ANY (${packageRolesArray(c)}))
                THEN pg_catalog.format('REVOKE GRANT OPTION FOR EXECUTE ON ROUTINE %s FROM %s CASCADE;', f.identity, a.grantee::pg_catalog.regrole)
                ELSE pg_catalog.format('REVOKE EXECUTE ON ROUTINE %s FROM %s CASCADE; then grant the role the package role it needs instead (GRANT %I TO %s;)', f.identity, a.grantee::pg_catalog.regrole, ${lit(c.roles.admin)}, a.grantee::pg_catalog.regrole) END,
           jsonb_build_object('security_definer', p.prosecdef, 'grantee', a.grantee::pg_catalog.regrole::text, 'grant_option', a.is_grantable,
                              'grantor', a.grantor::pg_catalog.regrole::text)
      FROM ${c.q('drift_current_functions')}() f
      JOIN pg_catalog.pg_proc p ON p.oid = f.function_oid
     CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
      LEFT JOIN ${c.q('drift_baseline')} gb ON gb.object_kind = 'function' AND gb.identity = f.identity
     WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner AND a.grantee <> 0
       AND (a.is_grantable
            OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = a.grantee AND r.rolname = ANY (${packageRolesArray(c)}))
            -- a package role the function was not granted to when the baseline was taken (the reader
            -- granted set_family_mode would be an administrator)
            OR (gb.execute_grantees IS NOT NULL
                AND NOT (SELECT r.rolname::text FROM pg_catalog.pg_roles r WHERE r.oid = a.grantee) = ANY (gb.execute_grantees)))
`,
  );
  return sql;
}

/** The roles the package creates and grants EXECUTE to: the only legitimate grantees of its functions. */
export function packageRoles(c: Ctx): string[] {
  return [c.roles.admin, c.roles.issuer, c.roles.reader, c.roles.consumer, deliveryRole(c)];
}
const packageRolesArray = (c: Ctx) => `ARRAY[${packageRoles(c).map(lit).join(', ')}]::pg_catalog.name[]`;

/** gate_attach_record(): records the gates a family has now, where no valid record exists. */
export function gateAttachRecord(c: Ctx): string {
  const fn = c.q('gate_attach_record');
  const a = c.q(ATTACH_TABLE);
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}(p_collection text DEFAULT NULL)
    RETURNS integer
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    AS $fn$
    DECLARE
        v_count integer;
    BEGIN
        IF p_collection IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM ${c.q('birth_family')} f WHERE f.collection_name OPERATOR(pg_catalog.=) p_collection) THEN
            ${raiseAt(12, 'DRIFT_UNKNOWN_FAMILY', `pg_catalog.format('collection %L is not registered', pg_catalog.left(p_collection, 100))`, undefined, `pg_catalog.format('SELECT collection_name FROM %I.birth_family; then SELECT %I.gate_attach_record(NULL);', ${lit(c.schema)}, ${lit(c.schema)})`)}
        END IF;
        -- one recorder at a time, and no attach in between
        LOCK TABLE ${a} IN SHARE ROW EXCLUSIVE MODE;
        -- records of triggers that are gone (a restore, DROP TRIGGER) or whose OID is another trigger
        -- now, of every family: after a restore a stale record of another family may hold the OID of
        -- a gate of this one, and would keep it from being recorded (a stale record protects nothing:
        -- the gate it named is gone)
        DELETE FROM ${a} r
         WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                            WHERE t.oid = r.trigger_oid AND t.tgrelid = r.table_oid AND t.tgname = r.trigger_name);
        -- the gates that are present, enabled and as expected, without a record of their own
        INSERT INTO ${a} (trigger_oid, table_oid, trigger_name, collection_name, attached_xmin)
        SELECT t.oid, t.tgrelid, t.tgname, s.collection_name, t.xmin
          FROM ${c.q('v_drift_trigger_state')} s
          JOIN pg_catalog.pg_trigger t ON t.tgrelid = pg_catalog.to_regclass(s.table_name) AND t.tgname = s.trigger_name
         WHERE s.scope = 'family' AND s.state = 'unrecorded'
           AND (p_collection IS NULL OR s.collection_name OPERATOR(pg_catalog.=) p_collection)
        ON CONFLICT (trigger_oid) DO NOTHING;
        GET DIAGNOSTICS v_count = ROW_COUNT;
        RETURN v_count;
    END;
    $fn$;
    ${comment('FUNCTION', `${fn}(text)`, 'After a restore from a dump (or a pg_upgrade, or a gate dropped and created again): records in gate_trigger_attach the gate triggers of one family (NULL: every family) that are present, enabled and as expected but have no record of their own (state unrecorded), and deletes records of triggers that no longer exist. Never refreshes a valid record (an altered gate stays a finding). Returns how many gates it recorded. BG302 for an unknown family.')}
    REVOKE ALL ON FUNCTION ${fn}(text) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION ${fn}(text) TO ${qi(c.roles.admin)};`;
}

export const dropGateAttachRecord = (c: Ctx) => `DROP FUNCTION IF EXISTS ${c.q('gate_attach_record')}(text);`;
