/** Deliberate errors of the governance handoff (issue 4): BG200–BG299. */
import type { ErrorDef } from './types.js';

export const handoffErrors = [
  {
    code: 'BG200',
    name: 'HANDOFF_INVALID_ARGUMENT',
    message: 'invalid argument to a handoff function',
    hint: 'p_batch_size must be between 1 and 100000, p_max_batches NULL or at least 1, p_limit between 1 and 1000000; see DETAIL for the value refused.',
  },
  {
    code: 'BG201',
    name: 'HANDOFF_CURSOR_MISSING',
    message: 'the handoff cursor row is missing',
    hint: "Re-create it: INSERT INTO handoff_cursor (consumer_name) VALUES ('governance_handoff'); replaying from zero is harmless (upserts by object key, events deduplicated).",
  },
  {
    code: 'BG202',
    name: 'EVENT_TYPE_UNKNOWN',
    message: 'event type is not registered',
    hint: 'Register the type in event_type_registry first (register-before-emit); check the spelling in DETAIL.',
  },
  {
    code: 'BG203',
    name: 'EVENT_TYPE_INACTIVE',
    message: 'event type is not active: its captured events stay in event_pending',
    hint: 'Activate the type first (set_event_type_active(type, true)), then call release_pending(type) again.',
  },
  {
    code: 'BG210',
    name: 'ACTIVATION_NOT_AUTHORIZED',
    message: 'governed activation refused: the OSPA ledger (governance_build_authorization) is empty',
    hint: 'Activation needs at least one human-recorded row in governance_build_authorization; capture continues meanwhile and births are never blocked.',
  },
  {
    code: 'BG211',
    name: 'ACTIVATION_HEARTBEAT_STALE',
    message: 'governed activation refused: the handoff heartbeat is missing or stale',
    hint: 'Run the consumer (birthgate consume, or CALL handoff_drain()) and check its schedule; activation fails closed until the heartbeat is younger than handoff_cursor.stale_after.',
  },
] as const satisfies readonly ErrorDef[];
