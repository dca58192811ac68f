import type { ErrorDef } from './types.js';

/** Drift monitor and operator tooling: BG300–BG399. */
export const driftErrors = [
  {
    code: 'BG300',
    name: 'DRIFT_FINDINGS',
    message: 'the drift monitor has findings at or above the requested severity',
    hint: 'Read the v_drift_report view (or run `birthgate status`), repair each finding as its remedy column says, then retry.',
  },
  {
    code: 'BG301',
    name: 'DRIFT_INVALID_SEVERITY',
    message: 'unknown drift severity',
    hint: 'Use one of info, warning, critical.',
  },
  {
    code: 'BG302',
    name: 'DRIFT_UNKNOWN_FAMILY',
    message: 'unknown family',
    hint: 'Pass a collection_name that is registered in birth_family, or NULL for every family.',
  },
  {
    code: 'BG310',
    name: 'PACKET_STATE_MISMATCH',
    message: 'the database is not in the state this operator packet was made for',
    hint: 'Do not edit the packet: regenerate it against this database with `birthgate packet`, review it, and apply the new one.',
  },
] as const satisfies readonly ErrorDef[];
