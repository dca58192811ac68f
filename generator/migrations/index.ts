/** The ordered list of migrations. Append only; never reorder or remove a released one. */
import type { Migration } from '../lib/migration.js';
import { substrate } from './000001_substrate.js';
import { admission } from './000002_admission.js';
import { handoff } from './000003_handoff.js';
import { drift } from './000004_drift.js';
import { operatorMetrics } from './000010_operator_metrics.js';

export const migrations: readonly Migration[] = [substrate, admission, handoff, drift, operatorMetrics];
