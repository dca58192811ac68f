/**
 * 000001 substrate: the schema and the tables every capability builds on.
 * Tables: birth_family, birth_registry, registry_changelog (append-only, xid8-stamped),
 * event_type_registry (+ handoff.object_born, inactive), event_pending, event_outbox,
 * governance_candidate_state, governance_build_authorization (the OSPA ledger), handoff_cursor.
 */
import { sql } from 'kysely';
import type { Ctx } from '../lib/ctx.js';
import { compileDdl, ddl } from '../lib/ddl.js';
import { columnComments, comment, commentTrigger, type Migration } from '../lib/migration.js';
import { PINNED_SEARCH_PATH, lit, qi, sqlText } from '../lib/sql.js';
import { checkIn } from '../vocab.js';
import { raise } from '../errors/index.js';

const raw = (text: string) => sql.raw(text);

/** The release this migration shipped in: its text is frozen, whatever the package version is now. */
const RELEASED_IN = '0.1.0';

function tables(c: Ctx): string[] {
  const t = ddl.schema.withSchema(c.schema);
  const objectKey = raw(`collection_name || ':' || entity_code`);
  return [
    compileDdl(
      t
        .createTable('birth_family')
        .addColumn('collection_name', 'text', (col) =>
          col.primaryKey().check(raw(`collection_name ~ '^[a-z][a-z0-9_]{0,62}$'`)),
        )
        .addColumn('table_name', raw('regclass'), (col) => col.notNull().unique())
        .addColumn('code_column', raw('name'), (col) => col.notNull())
        .addColumn('code_pattern', 'text', (col) => col.notNull().check(raw(`code_pattern <> ''`)))
        .addColumn('mode', 'text', (col) => col.notNull().defaultTo('report').check(raw(checkIn('mode', 'familyMode'))))
        .addColumn('registered_at', 'timestamptz', (col) => col.notNull().defaultTo(raw('now()')))
        .addColumn('registered_by', raw('name'), (col) => col.notNull().defaultTo(raw('current_user')))
        .addColumn('mode_changed_at', 'timestamptz', (col) => col.notNull().defaultTo(raw('now()')))
        .addColumn('mode_changed_by', raw('name'), (col) => col.notNull().defaultTo(raw('current_user'))),
    ),
    compileDdl(
      t
        .createTable('birth_registry')
        .addColumn('registry_id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
        .addColumn('collection_name', 'text', (col) =>
          col.notNull().references(`${c.schema}.birth_family.collection_name`).onDelete('restrict'),
        )
        .addColumn('entity_code', 'text', (col) => col.notNull().check(raw(`entity_code <> ''`)))
        .addColumn('object_key', 'text', (col) => col.notNull().generatedAlwaysAs(objectKey).stored())
        .addColumn('status', 'text', (col) => col.notNull().defaultTo('BORN').check(raw(checkIn('status', 'registryStatus'))))
        .addColumn('permit_id', 'bigint')
        .addColumn('born_at', 'timestamptz', (col) => col.notNull().defaultTo(raw('now()')))
        .addColumn('born_by', raw('name'), (col) => col.notNull().defaultTo(raw('current_user')))
        .addColumn('born_txid', raw('xid8'), (col) => col.notNull().defaultTo(raw('pg_current_xact_id()')))
        .addColumn('retired_at', 'timestamptz')
        .addColumn('retired_by', raw('name'))
        .addColumn('retire_reason', 'text')
        .addUniqueConstraint('birth_registry_entity_code_collection_name_key', ['entity_code', 'collection_name'])
        .addCheckConstraint(
          'birth_registry_retired_consistent',
          raw(`(status = 'RETIRED') = (retired_at IS NOT NULL AND retired_by IS NOT NULL AND retire_reason IS NOT NULL)`),
        ),
    ),
    compileDdl(t.createIndex('birth_registry_object_key_idx').on('birth_registry').column('object_key').unique()),
    compileDdl(
      t
        .createTable('registry_changelog')
        .addColumn('change_id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
        .addColumn('txid', raw('xid8'), (col) => col.notNull().defaultTo(raw('pg_current_xact_id()')))
        .addColumn('op', 'text', (col) => col.notNull().check(raw(checkIn('op', 'changelogOp'))))
        .addColumn('collection_name', 'text', (col) => col.notNull())
        .addColumn('entity_code', 'text', (col) => col.notNull())
        .addColumn('object_key', 'text', (col) => col.notNull().generatedAlwaysAs(objectKey).stored())
        .addColumn('registry_id', 'bigint', (col) => col.notNull())
        .addColumn('born_at', 'timestamptz', (col) => col.notNull())
        .addColumn('changed_at', 'timestamptz', (col) => col.notNull().defaultTo(raw('clock_timestamp()')))
        .addColumn('actor', raw('name'), (col) => col.notNull().defaultTo(raw('current_user')))
        .addColumn('detail', 'jsonb', (col) => col.notNull().defaultTo(raw(`'{}'::jsonb`))),
    ),
    compileDdl(t.createIndex('registry_changelog_txid_change_id_idx').on('registry_changelog').columns(['txid', 'change_id'])),
    compileDdl(t.createIndex('registry_changelog_object_key_idx').on('registry_changelog').column('object_key')),
    compileDdl(
      t
        .createTable('event_type_registry')
        .addColumn('event_type', 'text', (col) => col.primaryKey().check(raw(`event_type ~ '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$'`)))
        .addColumn('active', 'boolean', (col) => col.notNull().defaultTo(false))
        .addColumn('description', 'text', (col) => col.notNull())
        .addColumn('registered_at', 'timestamptz', (col) => col.notNull().defaultTo(raw('now()')))
        .addColumn('active_changed_at', 'timestamptz')
        .addColumn('active_changed_by', raw('name')),
    ),
    ...['event_pending', 'event_outbox'].flatMap((name) => {
      const id = name === 'event_pending' ? 'pending_id' : 'outbox_id';
      let b = t
        .createTable(name)
        .addColumn(id, 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
        .addColumn('event_type', 'text', (col) =>
          col.notNull().references(`${c.schema}.event_type_registry.event_type`).onDelete('restrict'),
        )
        .addColumn('object_key', 'text', (col) => col.notNull())
        .addColumn('born_at', 'timestamptz', (col) => col.notNull())
        .addColumn('payload', 'jsonb', (col) => col.notNull())
        .addColumn('source_change_id', 'bigint', (col) => col.notNull())
        .addColumn(name === 'event_pending' ? 'captured_at' : 'emitted_at', 'timestamptz', (col) =>
          col.notNull().defaultTo(raw('now()')),
        );
      if (name === 'event_outbox') {
        b = b
          .addColumn('released_from_pending', 'boolean', (col) => col.notNull().defaultTo(false))
          .addColumn('delivered_at', 'timestamptz')
          .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0).check(raw('attempts >= 0')))
          .addColumn('last_error', 'text');
      }
      b = b.addUniqueConstraint(`${name}_event_type_object_key_born_at_key`, ['event_type', 'object_key', 'born_at']);
      return [compileDdl(b)];
    }),
    compileDdl(
      t
        .createIndex('event_outbox_undelivered_idx')
        .on('event_outbox')
        .column('outbox_id')
        .where(raw('delivered_at'), 'is', null),
    ),
    compileDdl(
      t
        .createTable('governance_candidate_state')
        .addColumn('object_key', 'text', (col) => col.primaryKey())
        .addColumn('collection_name', 'text', (col) => col.notNull())
        .addColumn('entity_code', 'text', (col) => col.notNull())
        .addColumn('registry_status', 'text', (col) => col.notNull().check(raw(checkIn('registry_status', 'registryStatus'))))
        .addColumn('born_at', 'timestamptz', (col) => col.notNull())
        .addColumn('dirty', 'boolean', (col) => col.notNull().defaultTo(true))
        .addColumn('marked_at', 'timestamptz', (col) => col.notNull())
        .addColumn('source_change_id', 'bigint', (col) => col.notNull())
        .addColumn('source_txid', raw('xid8'), (col) => col.notNull())
        .addColumn('activation_state', 'text', (col) =>
          col.notNull().defaultTo('CAPTURED').check(raw(checkIn('activation_state', 'activationState'))),
        )
        .addColumn('activated_at', 'timestamptz')
        .addColumn('activated_by', raw('name'))
        .addCheckConstraint(
          'governance_candidate_state_activation_consistent',
          raw(`(activation_state = 'ACTIVATED') = (activated_at IS NOT NULL AND activated_by IS NOT NULL)`),
        ),
    ),
    compileDdl(
      t
        .createIndex('governance_candidate_state_dirty_idx')
        .on('governance_candidate_state')
        .column('object_key')
        .where(raw('dirty'), '=', true),
    ),
    compileDdl(
      t
        .createTable('governance_build_authorization')
        .addColumn('authorization_id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
        .addColumn('scope', 'text', (col) => col.notNull().defaultTo('global').check(raw(`scope <> ''`)))
        .addColumn('reference', 'text', (col) => col.notNull().check(raw(`reference <> ''`)))
        .addColumn('authorized_by', raw('name'), (col) => col.notNull().defaultTo(raw('current_user')))
        .addColumn('authorized_at', 'timestamptz', (col) => col.notNull().defaultTo(raw('now()')))
        .addColumn('note', 'text'),
    ),
    compileDdl(
      t
        .createTable('handoff_cursor')
        .addColumn('consumer_name', 'text', (col) => col.primaryKey().check(raw(`consumer_name ~ '^[a-z][a-z0-9_]*$'`)))
        .addColumn('position_txid', raw('xid8'), (col) => col.notNull().defaultTo(raw(`'0'::xid8`)))
        .addColumn('position_change_id', 'bigint', (col) => col.notNull().defaultTo(0).check(raw('position_change_id >= 0')))
        .addColumn('heartbeat_at', 'timestamptz')
        .addColumn('stale_after', raw('interval'), (col) =>
          col.notNull().defaultTo(raw(`'15 minutes'::interval`)).check(raw(`stale_after > '0'::interval`)),
        )
        .addColumn('rows_consumed', 'bigint', (col) => col.notNull().defaultTo(0))
        .addColumn('batches_run', 'bigint', (col) => col.notNull().defaultTo(0))
        .addColumn('last_batch_rows', 'integer', (col) => col.notNull().defaultTo(0))
        .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(raw('now()'))),
    ),
  ];
}

function changelogAppendOnly(c: Ctx): string {
  const fn = c.q('tg_registry_changelog_append_only');
  return sqlText`
    CREATE FUNCTION ${fn}()
    RETURNS trigger
    LANGUAGE plpgsql
    ${PINNED_SEARCH_PATH}
    AS $fn$
    BEGIN
        ${raise('CHANGELOG_APPEND_ONLY', `format('%s on %I.%I refused (change_id %s)', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME, CASE WHEN TG_LEVEL = 'ROW' THEN OLD.change_id::text ELSE 'all' END)`).replaceAll('\n', '\n        ')}
    END;
    $fn$;
    REVOKE ALL ON FUNCTION ${fn}() FROM PUBLIC;
    ${comment('FUNCTION', `${fn}()`, 'Trigger function: refuses UPDATE, DELETE and TRUNCATE on registry_changelog (append-only tail).')}
    CREATE TRIGGER "_100_append_only"
        BEFORE UPDATE OR DELETE ON ${c.q('registry_changelog')}
        FOR EACH ROW EXECUTE FUNCTION ${fn}();
    ${commentTrigger('_100_append_only', c.q('registry_changelog'), 'Keeps registry_changelog append-only: no row is ever updated or deleted.')}
    CREATE TRIGGER "_101_append_only_truncate"
        BEFORE TRUNCATE ON ${c.q('registry_changelog')}
        FOR EACH STATEMENT EXECUTE FUNCTION ${fn}();
    ${commentTrigger('_101_append_only_truncate', c.q('registry_changelog'), 'Keeps registry_changelog append-only: TRUNCATE is refused.')}`;
}

function comments(c: Ctx): string[] {
  return [
    comment('SCHEMA', c.s, `birthgate ${RELEASED_IN}: pre-birth admission control and the governance handoff.`),
    comment('TABLE', c.q('birth_family'), 'One row per governed collection: its table, code column, per-family code pattern and gate mode (off | report | enforce).'),
    columnComments(c, 'birth_family', {
      collection_name: 'Stable collection name; the first half of every object key.',
      table_name: 'The governed table; the gate triggers are attached to it.',
      code_column: 'Column of table_name that holds the entity code.',
      code_pattern: 'POSIX regular expression every entity code of this family must match (per family, not global).',
      mode: 'off: no gate; report: admit and record a violation; enforce: reject.',
    }),
    comment('TABLE', c.q('birth_registry'), 'One row per object ever born; UNIQUE (entity_code, collection_name). Status BORN -> RETIRED.'),
    columnComments(c, 'birth_registry', {
      object_key: "collection_name || ':' || entity_code; the key the handoff and governance use.",
      status: 'BORN, or RETIRED after retire() passed retire_gate_check().',
      permit_id: 'The admission permit consumed by this birth (NULL only for report-mode or bypassed births).',
      born_txid: 'xid8 of the transaction that recorded the birth.',
    }),
    comment('TABLE', c.q('registry_changelog'), 'Append-only tail of BORN/RETIRED changes; the handoff consumer reads it in (txid, change_id) order.'),
    columnComments(c, 'registry_changelog', {
      change_id: 'Monotonic id; NOT a safe cursor on its own: ids are taken before commit and transactions commit out of order.',
      txid: 'xid8 of the writing transaction (pg_current_xact_id()); the consumer only reads rows whose txid is below the snapshot xmin.',
      born_at: 'born_at of the object; with event_type and object_key it identifies the handoff event.',
      changed_at: 'When the change was written (clock_timestamp()).',
    }),
    comment('TABLE', c.q('event_type_registry'), 'Event types and their active flag; inactive types are captured to event_pending, active ones emitted to event_outbox.'),
    comment('TABLE', c.q('event_pending'), 'Captured events of inactive types; UNIQUE (event_type, object_key, born_at). release_pending() moves them to event_outbox.'),
    comment('TABLE', c.q('event_outbox'), 'Delivery lane for events of active types; UNIQUE (event_type, object_key, born_at).'),
    columnComments(c, 'event_outbox', {
      released_from_pending: 'true when the event was captured while its type was inactive and later released.',
      delivered_at: 'Set by the delivery worker once the event has been handed on.',
    }),
    comment('TABLE', c.q('governance_candidate_state'), 'One row per object key: the governance intake state (dirty mark, last change applied, activation).'),
    columnComments(c, 'governance_candidate_state', {
      dirty: 'true when a change has been handed off and governance has not yet looked at it.',
      marked_at: 'changed_at of the changelog row that marked the candidate (replays leave it unchanged).',
      source_change_id: 'The last registry_changelog row applied; older replays never overwrite a newer one.',
      activation_state: 'CAPTURED until activate_candidates() activates it (needs OSPA >= 1 and a fresh heartbeat).',
    }),
    comment('TABLE', c.q('governance_build_authorization'), 'The OSPA ledger: governed activation stays closed until it has at least one row.'),
    comment('TABLE', c.q('handoff_cursor'), 'The handoff consumer position ((txid, change_id), exclusive) and heartbeat.'),
    columnComments(c, 'handoff_cursor', {
      position_txid: 'txid of the last changelog row consumed.',
      position_change_id: 'change_id of the last changelog row consumed.',
      heartbeat_at: 'Advanced by every consumer run; older than stale_after means the handoff is stale.',
      stale_after: 'Heartbeat age past which the handoff counts as stale (activation fails closed).',
    }),
  ];
}

/**
 * The three group roles (NOLOGIN; a DBA grants membership to real users):
 * admin administers families and runs the consumer, issuer issues permits, reader reads.
 * Roles are cluster-wide: created if missing, and on the way down dropped only when no other
 * database still uses them.
 */
function roles(c: Ctx): string {
  const { admin, issuer, reader } = c.roles;
  return sqlText`
    DO $roles$
    DECLARE
        v_role text;
    BEGIN
        FOREACH v_role IN ARRAY ARRAY[${lit(admin)}, ${lit(issuer)}, ${lit(reader)}] LOOP
            IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = v_role) THEN
                EXECUTE format('CREATE ROLE %I NOLOGIN', v_role);
            END IF;
        END LOOP;
    END
    $roles$;
    GRANT USAGE ON SCHEMA ${c.s} TO ${qi(admin)}, ${qi(issuer)}, ${qi(reader)};`;
}

function dropRoles(c: Ctx): string {
  const { admin, issuer, reader } = c.roles;
  return sqlText`
    DO $roles$
    DECLARE
        v_role text;
    BEGIN
        FOREACH v_role IN ARRAY ARRAY[${lit(admin)}, ${lit(issuer)}, ${lit(reader)}] LOOP
            BEGIN
                EXECUTE format('DROP ROLE IF EXISTS %I', v_role);
            EXCEPTION WHEN dependent_objects_still_exist THEN
                RAISE NOTICE 'role % kept: it still has privileges or members elsewhere in the cluster', v_role;
            END;
        END LOOP;
    END
    $roles$;`;
}

export const substrate: Migration = {
  id: '000001',
  slug: 'substrate',
  summary: 'schema, registry, changelog, event lanes, candidate state, OSPA ledger, handoff cursor',
  up: (c) => [
    `CREATE SCHEMA ${c.s};`,
    `REVOKE ALL ON SCHEMA ${c.s} FROM PUBLIC;`,
    ...tables(c),
    changelogAppendOnly(c),
    sqlText`
      INSERT INTO ${c.q('event_type_registry')} (event_type, active, description)
      VALUES (${lit('handoff.object_born')}, false, ${lit('An object was born; handed to governance by the handoff consumer.')});
      INSERT INTO ${c.q('handoff_cursor')} (consumer_name) VALUES (${lit('governance_handoff')});`,
    roles(c),
    ...comments(c),
  ],
  down: (c) => [
    ...[
      'handoff_cursor',
      'governance_build_authorization',
      'governance_candidate_state',
      'event_outbox',
      'event_pending',
      'event_type_registry',
      'registry_changelog',
      'birth_registry',
      'birth_family',
    ].map((name) => `DROP TABLE ${c.q(name)};`),
    `DROP FUNCTION ${c.q('tg_registry_changelog_append_only')}();`,
    `DROP SCHEMA ${c.s};`,
    dropRoles(c),
  ],
};
