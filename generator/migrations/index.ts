/** The ordered list of migrations. Append only; never reorder or remove a released one. */
import type { Migration } from '../lib/migration.js';
import { substrate } from './000001_substrate.js';
import { admission } from './000002_admission.js';
import { handoff } from './000003_handoff.js';
import { drift } from './000004_drift.js';
import { handoffSnapshotCursor } from './000005_handoff_snapshot_cursor.js';
import { admissionStatementGate } from './000006_admission_statement_gate.js';
import { securityLeastPrivilege } from './000007_security_least_privilege.js';
import { outboxDelivery } from './000008_outbox_delivery.js';
import { sweeps } from './000009_sweeps_adopt_backfill.js';
import { operatorMetrics } from './000010_operator_metrics.js';
import { admissionFastPath } from './000011_admission_fast_path.js';
import { sweepsFastBackfill } from './000012_sweeps_fast_backfill.js';
import { outboxFastClaim } from './000013_outbox_fast_claim.js';
import { release030 } from './000014_release_0_3_0.js';
import { admissionSingleRow } from './000015_admission_single_row.js';
import { driftGateAlteration } from './000016_drift_gate_alteration.js';
import { release040 } from './000017_release_0_4_0.js';
import { admissionDroppedFamily } from './000018_admission_dropped_family.js';
import { driftReaderRights } from './000019_drift_reader_rights.js';
import { admissionLiveTables } from './000020_admission_live_tables.js';
import { handoffOutboxAccounting } from './000021_handoff_outbox_accounting.js';
import { admissionRowSecurity } from './000022_admission_row_security.js';
import { release041 } from './000023_release_0_4_1.js';
import { admissionRegisterSerialized } from './000024_admission_register_serialized.js';
import { release042 } from './000025_release_0_4_2.js';
import { driftRestore } from './000026_drift_restore.js';
import { operatorErrors } from './000027_operator_errors.js';
import { release043 } from './000028_release_0_4_3.js';

export const migrations: readonly Migration[] = [
  substrate,
  admission,
  handoff,
  drift,
  handoffSnapshotCursor,
  admissionStatementGate,
  securityLeastPrivilege,
  outboxDelivery,
  sweeps,
  operatorMetrics,
  admissionFastPath,
  sweepsFastBackfill,
  outboxFastClaim,
  release030,
  admissionSingleRow,
  driftGateAlteration,
  release040,
  admissionDroppedFamily,
  driftReaderRights,
  admissionLiveTables,
  handoffOutboxAccounting,
  admissionRowSecurity,
  release041,
  admissionRegisterSerialized,
  release042,
  driftRestore,
  operatorErrors,
  release043,
];
