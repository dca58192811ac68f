/**
 * Deliberate errors of the package functions called where they cannot work: a read-only
 * transaction or a hot standby (one code per lane, each hint written for the role that calls it).
 * Codes: BG222 (handoff and sweeps), BG511 (outbox delivery), BG165 (admission).
 */
import type { ErrorDef } from './types.js';

export const operatorContextErrors = [
  {
    code: 'BG165',
    name: 'ADMISSION_READ_ONLY',
    message: 'the admission function writes, but this transaction cannot write',
    hint: 'Nothing was changed. Run it on the primary (not a hot standby) in a read-write transaction: SET TRANSACTION READ WRITE; as the first statement of the transaction, or SET default_transaction_read_only = off; for the session (ALTER ROLE ... SET default_transaction_read_only = off; for the issuing role), then call it again.',
  },
  {
    code: 'BG222',
    name: 'HANDOFF_READ_ONLY',
    message: 'the handoff writes, but this transaction cannot write',
    hint: 'Nothing was changed and nothing is lost: the next run on a writable server hands every row off. Point the cron job (DATABASE_URL of birthgate consume, or pg_cron) at the primary, not a hot standby, in a read-write transaction: SET TRANSACTION READ WRITE; or SET default_transaction_read_only = off; then SELECT * FROM birthgate.handoff_consume();',
  },
  {
    code: 'BG511',
    name: 'OUTBOX_READ_ONLY',
    message: 'outbox delivery writes, but this transaction cannot write',
    hint: 'Nothing was claimed, acknowledged or changed. Connect the delivery worker to the primary, not a hot standby, in read-write transactions: SET TRANSACTION READ WRITE; or SET default_transaction_read_only = off; (ALTER ROLE ... SET default_transaction_read_only = off; for the worker\'s login), then call it again.',
  },
] as const satisfies readonly ErrorDef[];
