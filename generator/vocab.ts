/**
 * The vocabularies of the public contract: one source, emitted both to SQL CHECK constraints
 * (through `checkIn`) and to TypeScript types + zod schemas (src/generated/vocab.ts).
 */
import { litList } from './lib/sql.js';

export const vocab = {
  /** Per-family gate mode. */
  familyMode: ['off', 'report', 'enforce'],
  /** Admission permit lifecycle: ISSUED -> CONSUMED | EXPIRED | REVOKED. */
  permitState: ['ISSUED', 'CONSUMED', 'EXPIRED', 'REVOKED'],
  /** birth_registry.status: BORN -> RETIRED. */
  registryStatus: ['BORN', 'RETIRED'],
  /** registry_changelog.op. */
  changelogOp: ['BORN', 'RETIRED'],
  /** Event types the package registers. */
  eventType: ['handoff.object_born'],
  /** governance_candidate_state.activation_state: CAPTURED -> ACTIVATED. */
  activationState: ['CAPTURED', 'ACTIVATED'],
  /** What a birth_gate_violation row records. */
  violationKind: [
    'NO_PERMIT',
    'PERMIT_EXPIRED',
    'PERMIT_REVOKED',
    'PATTERN_MISMATCH',
    'NULL_CODE',
    'BYPASS',
    'UNFINALIZED',
  ],
  /** Severity of a drift finding, lowest first. */
  severity: ['info', 'warning', 'critical'],
} as const satisfies Record<string, readonly string[]>;

export type VocabName = keyof typeof vocab;

/** `column IN ('a', 'b')` — the CHECK body for a vocabulary. */
export function checkIn(column: string, name: VocabName): string {
  return `${column} IN ${litList(vocab[name])}`;
}

/** Initial transitions allowed by the state machines (documentation + TS). */
export const transitions = {
  permitState: { ISSUED: ['CONSUMED', 'EXPIRED', 'REVOKED'], CONSUMED: [], EXPIRED: [], REVOKED: [] },
  registryStatus: { BORN: ['RETIRED'], RETIRED: [] },
  activationState: { CAPTURED: ['ACTIVATED'], ACTIVATED: [] },
} as const;
