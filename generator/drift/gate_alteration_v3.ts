/**
 * Drift, migration 000016: a gate trigger altered after the package attached it.
 *
 * The owner of a family table may disable a gate trigger for one statement and enable it again
 * (ALTER TABLE ... DISABLE/ENABLE TRIGGER), even inside a transaction that births objects: the
 * trigger then looks untouched, and only the consequence may show (a phantom). PostgreSQL writes a
 * new version of the trigger's pg_trigger row for every such change, with the altering
 * transaction's id as its xmin. The package now records, when it attaches the gates, the xmin of
 * every gate trigger row (gate_trigger_attach, a package table no other role may write);
 * v_drift_trigger_state reports a gate whose row has another xmin now as `altered` (a critical
 * trigger_altered finding of v_drift_report), until the gates are attached again.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { lit, qi, replaceOnce, sqlText } from '../lib/sql.js';
import { ALL_GATE_TRIGGERS_V4, attachGatesV4 } from '../admission/single_row_v4.js';
import { triggerStateView } from './trigger_state_v2.js';
import { reportViewV2 } from '../security/drift_report_v2.js';

export const ATTACH_TABLE = 'gate_trigger_attach';


const gateNames = `ARRAY[${ALL_GATE_TRIGGERS_V4.map(lit).join(', ')}]::name[]`;

export function attachTable(c: Ctx): string {
  const t = c.q(ATTACH_TABLE);
  return sqlText`
    CREATE TABLE ${t} (
        trigger_oid oid PRIMARY KEY,
        table_oid oid NOT NULL,
        trigger_name name NOT NULL,
        collection_name text NOT NULL,
        attached_xmin xid NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
    );
    CREATE INDEX gate_trigger_attach_table_idx ON ${t} (table_oid);
    REVOKE ALL ON TABLE ${t} FROM PUBLIC;
    GRANT SELECT ON TABLE ${t} TO ${qi(c.roles.admin)}, ${qi(c.roles.reader)};
    ${comment('TABLE', t, 'The pg_trigger row version (xmin) of every gate trigger as the package attached it (since 000016; birth_family_attach_gates records it, the migration recorded the gates it found). A gate whose pg_trigger row has another xmin now was altered afterwards (ALTER TABLE ... DISABLE/ENABLE TRIGGER, even for a moment): v_drift_trigger_state reports it as altered. Written only by package functions.')}
    -- the gates attached before this migration, as they are now
    INSERT INTO ${t} (trigger_oid, table_oid, trigger_name, collection_name, attached_xmin)
    SELECT t.oid, t.tgrelid, t.tgname, f.collection_name, t.xmin
      FROM pg_catalog.pg_trigger t
      JOIN ${c.q('birth_family')} f ON f.table_name::pg_catalog.oid = t.tgrelid
     WHERE NOT t.tgisinternal AND t.tgname = ANY (${gateNames});`;
}

/** Records the xmin of the family's gate triggers: every row after attaching, missing rows otherwise. */
const record = (c: Ctx, onConflict: string) => `INSERT INTO ${c.q(ATTACH_TABLE)} (trigger_oid, table_oid, trigger_name, collection_name, attached_xmin)
        SELECT t.oid, t.tgrelid, t.tgname, p_collection, t.xmin FROM pg_catalog.pg_trigger t
         WHERE t.tgrelid = v_family.table_name AND NOT t.tgisinternal AND t.tgname = ANY (${gateNames})
        ON CONFLICT (trigger_oid) ${onConflict};`;

/** birth_family_attach_gates as of 000016: records what it attached in gate_trigger_attach. */
export function attachGatesV5(c: Ctx): string {
  let sql = attachGatesV4(c);
  sql = replaceOnce(
    sql,
    '        RETURN false;\n    END IF;',
    `        -- (a gate attached before its row was recorded: record it as it is; never refresh a record
        -- here, or re-registering would launder an alteration)
        ${record(c, 'DO NOTHING')}
        RETURN false;
    END IF;`,
  );
  return replaceOnce(
    sql,
    '    END LOOP;\n    RETURN true;\nEND;',
    `    END LOOP;
    DELETE FROM ${c.q(ATTACH_TABLE)} a WHERE a.table_oid = v_family.table_name
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.oid = a.trigger_oid);
    ${record(c, 'DO UPDATE SET attached_xmin = excluded.attached_xmin, trigger_name = excluded.trigger_name, collection_name = excluded.collection_name, recorded_at = excluded.recorded_at')}
    RETURN true;
END;`,
  );
}

/** v_drift_trigger_state as of 000016: state `altered` for a gate whose pg_trigger row changed after it was attached. */
export function triggerStateViewV3(c: Ctx): string {
  let sql = triggerStateView(c, true);
  sql = replaceOnce(
    sql,
    '           b.definition_hash AS baseline_hash\n      FROM required q',
    `           b.definition_hash AS baseline_hash,
           COALESCE(g.trigger_oid IS NOT NULL
                    AND (SELECT tr.xmin FROM pg_catalog.pg_trigger tr WHERE tr.oid = g.trigger_oid) IS DISTINCT FROM ga.attached_xmin
                    AND ga.trigger_oid IS NOT NULL, false) AS altered
      FROM required q`,
  );
  sql = replaceOnce(
    sql,
    '      LEFT JOIN cur t ON t.trigger_oid = g.trigger_oid\n',
    `      LEFT JOIN cur t ON t.trigger_oid = g.trigger_oid
      LEFT JOIN ${c.q(ATTACH_TABLE)} ga ON ga.trigger_oid = g.trigger_oid\n`,
  );
  sql = replaceOnce(sql, '           b.definition_hash\n      FROM (SELECT * FROM cur WHERE', '           b.definition_hash,\n           false\n      FROM (SELECT * FROM cur WHERE');
  sql = replaceOnce(sql, "            WHEN x.current_hash <> x.expected_hash THEN 'drifted'\n", "            WHEN x.current_hash <> x.expected_hash THEN 'drifted'\n            WHEN x.altered THEN 'altered'\n");
  return sql + '\n' + comment(
    'VIEW',
    c.q('v_drift_trigger_state'),
    'Each trigger the package needs: per family its gate triggers (expected definitions from birth_gate_trigger_definitions: seven since 000015), the same on every table a collection was moved off (birth_family_move) while that table exists and no family governs it (state missing: it lost its gates), and the triggers on package tables (expected = baseline). present, enabled (tgenabled O or A; D = disabled, R = replica only), hashes, drifted, state; state altered (since 000016): enabled and as expected, but its pg_trigger row changed after the package attached it (gate_trigger_attach), e.g. disabled and enabled again.',
  );
}

/** v_drift_report as of 000016: a critical trigger_altered finding. */
/** v_drift_report as of 000007, replacing a later definition (the Down of 000016). */
export const reportViewV2Replacing = (c: Ctx) => replaceOnce(reportViewV2(c), 'CREATE VIEW ', 'CREATE OR REPLACE VIEW ');

export function reportViewV3(c: Ctx): string {
  let sql = reportViewV2Replacing(c);
  sql = replaceOnce(
    sql,
    "               WHEN 'drifted' THEN pg_catalog.format('trigger %s on %s differs from its expected definition', t.trigger_name, t.table_name)\n",
    `               WHEN 'drifted' THEN pg_catalog.format('trigger %s on %s differs from its expected definition', t.trigger_name, t.table_name)
               WHEN 'altered' THEN pg_catalog.format('trigger %s on %s was altered after the package attached it (its pg_trigger row changed, e.g. ALTER TABLE ... DISABLE TRIGGER and ENABLE again, possibly for one statement)%s: births in that window may not have been gated; see phantom_objects and unborn_objects', t.trigger_name, t.table_name,
                                    CASE WHEN t.scope = 'family' THEN pg_catalog.format(' (family %s, mode %s)', t.collection_name, t.family_mode) ELSE '' END)\n`,
  );
  sql = replaceOnce(sql, "     WHERE t.state IN ('missing', 'disabled', 'replica_only', 'drifted', 'unexpected')", "     WHERE t.state IN ('missing', 'disabled', 'replica_only', 'drifted', 'unexpected', 'altered')");
  return sql;
}

export function dropAttachTable(c: Ctx): string {
  return `DROP TABLE ${c.q(ATTACH_TABLE)};`;
}
