/** Deliberate errors of the snapshot cursor of the governance handoff (issue 9): BG220–BG249. */
import type { ErrorDef } from './types.js';

export const handoffCursorErrors = [
  {
    code: 'BG220',
    name: 'HANDOFF_POSITION_AHEAD',
    message: 'the handoff cursor position is ahead of the current snapshot',
    hint: "The stored position_snapshot was not written by the consumer (a restore or a hand edit). Rewind it to a known-good earlier snapshot: UPDATE birthgate.handoff_cursor SET position_snapshot = '1:1:', window_snapshot = NULL, window_after_txid = NULL, window_after_change_id = NULL, window_rows = NULL, window_done = NULL; replaying is harmless.",
  },
  {
    code: 'BG221',
    name: 'HANDOFF_REWIND_FORWARD',
    message: 'handoff_rewind refused: the point is past the last row taken of the open window',
    hint: "Rewind to a point at or before the last row taken: SELECT birthgate.handoff_rewind(position_txid, position_change_id) FROM birthgate.handoff_cursor, or an earlier (txid, change_id); SELECT birthgate.handoff_rewind('0') replays everything.",
  },
] as const satisfies readonly ErrorDef[];
