/**
 * Admission tables: birth_admission_permit (ISSUED -> CONSUMED | EXPIRED | REVOKED, at most one
 * live permit per (collection, code)) and birth_gate_violation (the gates' append-only evidence),
 * their guard triggers, and the FK birth_registry.permit_id -> birth_admission_permit.
 */
import { sql } from 'kysely';
import type { Ctx } from '../lib/ctx.js';
import { compileDdl, ddl } from '../lib/ddl.js';
import { columnComments, comment, commentTrigger } from '../lib/migration.js';
import { sqlText } from '../lib/sql.js';
import { checkIn } from '../vocab.js';
import { PINNED, raiseAt } from './common.js';

const raw = (text: string) => sql.raw(text);

export function admissionTables(c: Ctx): string[] {
  const t = ddl.schema.withSchema(c.schema);
  return [
    compileDdl(
      t
        .createTable('birth_admission_permit')
        .addColumn('permit_id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
        .addColumn('collection_name', 'text', (col) =>
          col.notNull().references(`${c.schema}.birth_family.collection_name`).onDelete('restrict'),
        )
        .addColumn('entity_code', 'text', (col) => col.notNull().check(raw(`entity_code <> ''`)))
        .addColumn('state', 'text', (col) => col.notNull().defaultTo('ISSUED').check(raw(checkIn('state', 'permitState'))))
        .addColumn('issued_at', 'timestamptz', (col) => col.notNull().defaultTo(raw('now()')))
        .addColumn('issued_by', raw('name'), (col) => col.notNull())
        .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
        .addColumn('consumed_at', 'timestamptz')
        .addColumn('consumed_by', raw('name'))
        .addColumn('revoked_at', 'timestamptz')
        .addColumn('revoked_by', raw('name'))
        .addColumn('revoke_reason', 'text')
        .addColumn('expired_at', 'timestamptz')
        .addCheckConstraint('birth_admission_permit_lifetime', raw('expires_at > issued_at'))
        .addCheckConstraint(
          'birth_admission_permit_consumed_consistent',
          raw(
            `num_nulls(consumed_at, consumed_by) = CASE WHEN state = 'CONSUMED' THEN 0 ELSE 2 END AND (consumed_at IS NULL OR (consumed_at >= issued_at AND consumed_at < expires_at))`,
          ),
        )
        .addCheckConstraint(
          'birth_admission_permit_revoked_consistent',
          raw(
            `num_nulls(revoked_at, revoked_by, revoke_reason) = CASE WHEN state = 'REVOKED' THEN 0 ELSE 3 END AND (revoked_at IS NULL OR revoked_at >= issued_at) AND (revoke_reason IS NULL OR btrim(revoke_reason) <> '')`,
          ),
        )
        .addCheckConstraint(
          'birth_admission_permit_expired_consistent',
          raw(`num_nulls(expired_at) = CASE WHEN state = 'EXPIRED' THEN 0 ELSE 1 END AND (expired_at IS NULL OR expired_at >= expires_at)`),
        ),
    ),
    compileDdl(
      t
        .createIndex('birth_admission_permit_live_key')
        .on('birth_admission_permit')
        .columns(['collection_name', 'entity_code'])
        .unique()
        .where(raw('state'), '=', 'ISSUED'),
    ),
    compileDdl(
      t.createIndex('birth_admission_permit_code_idx').on('birth_admission_permit').columns(['collection_name', 'entity_code', 'permit_id']),
    ),
    compileDdl(
      t
        .createIndex('birth_admission_permit_expiry_idx')
        .on('birth_admission_permit')
        .column('expires_at')
        .where(raw('state'), '=', 'ISSUED'),
    ),
    `ALTER TABLE ${c.q('birth_registry')}\n    ADD CONSTRAINT "birth_registry_permit_id_fkey" FOREIGN KEY ("permit_id")\n    REFERENCES ${c.q('birth_admission_permit')} ("permit_id") ON DELETE RESTRICT;`,
    compileDdl(
      t
        .createTable('birth_gate_violation')
        .addColumn('violation_id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
        .addColumn('kind', 'text', (col) => col.notNull().check(raw(checkIn('kind', 'violationKind'))))
        .addColumn('collection_name', 'text', (col) =>
          col.notNull().references(`${c.schema}.birth_family.collection_name`).onDelete('restrict'),
        )
        .addColumn('entity_code', 'text')
        .addColumn('table_name', 'text', (col) => col.notNull())
        .addColumn('operation', 'text', (col) => col.notNull().check(raw(`operation IN ('INSERT', 'UPDATE')`)))
        .addColumn('mode', 'text', (col) => col.notNull().check(raw(checkIn('mode', 'familyMode'))))
        .addColumn('layer', 'smallint', (col) => col.notNull().check(raw('layer IN (1, 2)')))
        .addColumn('actor', raw('name'), (col) => col.notNull())
        .addColumn('login_user', raw('name'), (col) => col.notNull().defaultTo(raw('session_user')))
        .addColumn('txid', raw('xid8'), (col) => col.notNull().defaultTo(raw('pg_current_xact_id()')))
        .addColumn('detail', 'jsonb', (col) => col.notNull().defaultTo(raw(`'{}'::jsonb`)))
        .addColumn('recorded_at', 'timestamptz', (col) => col.notNull().defaultTo(raw('clock_timestamp()')))
        .addCheckConstraint('birth_gate_violation_layer_kind', raw(`(layer = 2) = (kind = 'UNFINALIZED')`)),
    ),
    compileDdl(
      t
        .createIndex('birth_gate_violation_code_txid_idx')
        .on('birth_gate_violation')
        .columns(['collection_name', 'entity_code', 'txid']),
    ),
    compileDdl(t.createIndex('birth_gate_violation_recorded_at_idx').on('birth_gate_violation').column('recorded_at')),
  ];
}

/** Guards: a permit changes only by an ISSUED -> final transition and is never deleted; violations are append-only. */
export function admissionGuards(c: Ctx): string[] {
  const permit = c.q('birth_admission_permit');
  const violation = c.q('birth_gate_violation');
  const permitGuard = c.q('tg_birth_admission_permit_guard');
  const violationGuard = c.q('tg_birth_gate_violation_append_only');
  return [
    sqlText`
      CREATE FUNCTION ${permitGuard}()
      RETURNS trigger
      LANGUAGE plpgsql
      VOLATILE
      ${PINNED}
      AS $fn$
      BEGIN
          IF TG_OP = 'DELETE' THEN
              ${raiseAt(14, 'PERMIT_IMMUTABLE', `format('DELETE of permit %s (%s:%s, %s) refused', OLD.permit_id, OLD.collection_name, OLD.entity_code, OLD.state)`)}
          END IF;
          IF OLD.state <> 'ISSUED' THEN
              ${raiseAt(14, 'PERMIT_NOT_ISSUED', `format('permit %s (%s:%s) is %s; %s -> %s refused', OLD.permit_id, OLD.collection_name, OLD.entity_code, OLD.state, OLD.state, NEW.state)`)}
          END IF;
          ${raiseAt(10, 'PERMIT_IMMUTABLE', `format('permit %s: permit_id, collection_name, entity_code, issued_at, issued_by and expires_at never change (attempted %s)', OLD.permit_id, to_jsonb(NEW))`)}
      END;
      $fn$;
      ${comment('FUNCTION', `${permitGuard}()`, 'Trigger function: refuses DELETE of a permit, any change of a CONSUMED/EXPIRED/REVOKED permit, and any change of a permit\'s identity or terms; fires only for such changes (see the trigger WHEN clause).')}
      CREATE TRIGGER "_100_permit_transition_guard"
          BEFORE UPDATE ON ${permit}
          FOR EACH ROW
          WHEN (OLD.state <> 'ISSUED'
                OR (OLD.permit_id, OLD.collection_name, OLD.entity_code, OLD.issued_at, OLD.issued_by, OLD.expires_at)
                   IS DISTINCT FROM (NEW.permit_id, NEW.collection_name, NEW.entity_code, NEW.issued_at, NEW.issued_by, NEW.expires_at))
          EXECUTE FUNCTION ${permitGuard}();
      ${commentTrigger('_100_permit_transition_guard', permit, 'Only ISSUED -> CONSUMED | EXPIRED | REVOKED: final states never change, nor the permit\'s identity and terms.')}
      CREATE TRIGGER "_101_permit_no_delete"
          BEFORE DELETE ON ${permit}
          FOR EACH ROW EXECUTE FUNCTION ${permitGuard}();
      ${commentTrigger('_101_permit_no_delete', permit, 'Permits are audit evidence: a permit is never deleted.')}`,
    sqlText`
      CREATE FUNCTION ${violationGuard}()
      RETURNS trigger
      LANGUAGE plpgsql
      VOLATILE
      ${PINNED}
      AS $fn$
      BEGIN
          ${raiseAt(10, 'VIOLATION_APPEND_ONLY', `format('%s on %I.%I refused (violation_id %s)', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN TG_LEVEL = 'ROW' THEN OLD.violation_id::text ELSE 'all' END)`)}
      END;
      $fn$;
      ${comment('FUNCTION', `${violationGuard}()`, 'Trigger function: refuses UPDATE, DELETE and TRUNCATE on birth_gate_violation (append-only audit evidence).')}
      CREATE TRIGGER "_100_append_only"
          BEFORE UPDATE OR DELETE ON ${violation}
          FOR EACH ROW EXECUTE FUNCTION ${violationGuard}();
      ${commentTrigger('_100_append_only', violation, 'Keeps birth_gate_violation append-only: no row is ever updated or deleted.')}
      CREATE TRIGGER "_101_append_only_truncate"
          BEFORE TRUNCATE ON ${violation}
          FOR EACH STATEMENT EXECUTE FUNCTION ${violationGuard}();
      ${commentTrigger('_101_append_only_truncate', violation, 'Keeps birth_gate_violation append-only: TRUNCATE is refused.')}`,
  ];
}

export function admissionTableComments(c: Ctx): string[] {
  return [
    comment(
      'TABLE',
      c.q('birth_admission_permit'),
      'Admission permits: one per planned birth of (collection, code). ISSUED -> CONSUMED (by the birth gate) | EXPIRED (expire_permits, time) | REVOKED (revoke_permit). At most one ISSUED permit per (collection, code); empty at install.',
    ),
    columnComments(c, 'birth_admission_permit', {
      permit_id: 'Permit number; birth_registry.permit_id names the permit a birth consumed.',
      collection_name: 'The family the permit admits a birth into.',
      entity_code: 'The code the permit admits; it matched the family code_pattern when issued.',
      state: 'ISSUED (live), CONSUMED, EXPIRED or REVOKED; only ISSUED -> final transitions exist.',
      issued_at: 'When issue_permit created the permit.',
      issued_by: 'Role that issued it (SET ROLE role, else the session user).',
      expires_at: 'End of the permit lifetime: a birth needs expires_at > now().',
      consumed_at: 'When the birth gate consumed it (the birth transaction start time).',
      consumed_by: 'Role whose insert or update consumed it.',
      revoked_at: 'When revoke_permit revoked it.',
      revoked_by: 'Role that revoked it.',
      revoke_reason: 'Why it was revoked (required).',
      expired_at: 'When it was marked EXPIRED (expire_permits, or issue_permit replacing a lapsed permit).',
    }),
    comment(
      'TABLE',
      c.q('birth_gate_violation'),
      'Append-only evidence of what the gates saw and let through: report-mode findings (layer 1: NO_PERMIT, PERMIT_EXPIRED, PERMIT_REVOKED, PATTERN_MISMATCH, NULL_CODE), bypassed births (BYPASS) and objects the deferred gate found not finalized (UNFINALIZED, layer 2). In enforce mode a refusal is an error and leaves no row (the transaction rolls back).',
    ),
    columnComments(c, 'birth_gate_violation', {
      kind: 'What was seen; NO_PERMIT with detail.finding = ALREADY_BORN means the code was already in the registry.',
      entity_code: 'The code of the row as the gate saw it (NULL or empty for NULL_CODE).',
      table_name: 'The governed table (schema.table) the row was written to.',
      operation: 'INSERT, or UPDATE of the code column.',
      mode: 'The family mode when the gate ran.',
      layer: '1: the BEFORE gate (_100_birth_gate); 2: the deferred finalize gate (_900_birth_finalize).',
      actor: 'The role that wrote the row (SET ROLE role, else the session user).',
      login_user: 'The session user (the login behind actor).',
      txid: 'xid8 of the writing transaction.',
      detail: 'What the gate knew: finding, permit, registry row, bypass, the latest permit for the code.',
      recorded_at: 'When the row was recorded (clock_timestamp()).',
    }),
  ];
}

export const admissionTableNames = ['birth_gate_violation', 'birth_admission_permit'] as const;

export function dropAdmissionTables(c: Ctx): string[] {
  return [
    `ALTER TABLE ${c.q('birth_registry')} DROP CONSTRAINT "birth_registry_permit_id_fkey";`,
    ...admissionTableNames.map((n) => `DROP TABLE ${c.q(n)};`),
    `DROP FUNCTION ${c.q('tg_birth_gate_violation_append_only')}();`,
    `DROP FUNCTION ${c.q('tg_birth_admission_permit_guard')}();`,
  ];
}
