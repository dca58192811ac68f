/**
 * handoff_drain v2 (migration 000007). A procedure that COMMITs can be neither SECURITY DEFINER nor
 * carry a SET clause, so it runs with the caller's search_path: a function or operator that a table
 * owner put into a schema on that path (public, on PostgreSQL 14 writable by everyone) could win
 * the overload resolution (e.g. an exact `*`(numeric, integer) over the built-in numeric * numeric
 * with an implicit cast) and run as the cron role (CVE-2018-1058). v2 pins its own search_path
 * with set_config(..., true) at the top and again after every COMMIT (a local setting ends with
 * the transaction), and calls only schema-qualified functions, so nothing is resolved through the
 * caller's path. Behaviour is otherwise that of 000003.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { sqlText } from '../lib/sql.js';
import { MAX_BATCH } from '../handoff/common.js';
import { raiseAt } from '../errors/index.js';

const PIN = `PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);`;

export function drainProcedureV2(c: Ctx): string {
  const pr = c.q('handoff_drain');
  return sqlText`
    CREATE OR REPLACE PROCEDURE ${pr}(p_batch_size integer DEFAULT 5000, p_max_batches integer DEFAULT NULL)
    LANGUAGE plpgsql
    AS $pr$
    DECLARE
        v_started timestamptz;
        v_batch_started timestamptz;
        v_batches integer := 0;
        v_total bigint := 0;
        v_emitted bigint := 0;
        v_captured bigint := 0;
        v_consumed integer;
        v_e integer;
        v_c integer;
        v_lag bigint;
    BEGIN
        -- pin the search_path first: the caller's path must not resolve anything below
        ${PIN}
        v_started := pg_catalog.clock_timestamp();
        IF p_batch_size IS NULL OR p_batch_size OPERATOR(pg_catalog.<) 1 OR p_batch_size OPERATOR(pg_catalog.>) ${MAX_BATCH} THEN
            ${raiseAt(12, 'HANDOFF_INVALID_ARGUMENT', `pg_catalog.format('handoff_drain(p_batch_size => %s): must be between 1 and ${MAX_BATCH}', COALESCE(p_batch_size::pg_catalog.text, 'NULL'))`)}
        END IF;
        IF p_max_batches IS NOT NULL AND p_max_batches OPERATOR(pg_catalog.<) 1 THEN
            ${raiseAt(12, 'HANDOFF_INVALID_ARGUMENT', `pg_catalog.format('handoff_drain(p_max_batches => %s): must be NULL (no limit) or at least 1', p_max_batches)`)}
        END IF;
        LOOP
            EXIT WHEN p_max_batches IS NOT NULL AND v_batches OPERATOR(pg_catalog.>=) p_max_batches;
            v_batch_started := pg_catalog.clock_timestamp();
            SELECT r.consumed, r.emitted, r.captured, r.lag
            INTO v_consumed, v_e, v_c, v_lag
            FROM ${c.q('handoff_consume')}(p_batch_size) AS r;
            COMMIT;
            -- a new transaction: the local setting ended with the old one
            ${PIN}
            IF v_lag IS NULL THEN
                RAISE NOTICE 'handoff_drain: another consumer holds the cursor; stopping after % batches, % rows', v_batches, v_total;
                EXIT;
            END IF;
            v_batches := v_batches OPERATOR(pg_catalog.+) 1;
            v_total := v_total OPERATOR(pg_catalog.+) v_consumed;
            v_emitted := v_emitted OPERATOR(pg_catalog.+) v_e;
            v_captured := v_captured OPERATOR(pg_catalog.+) v_c;
            RAISE NOTICE 'handoff_drain: batch % consumed % rows (% emitted, % captured) in % ms; total % rows; lag %; elapsed %',
                v_batches, v_consumed, v_e, v_c,
                pg_catalog.round(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) v_batch_started)::pg_catalog.numeric OPERATOR(pg_catalog.*) 1000::pg_catalog.numeric, 1),
                v_total, v_lag, pg_catalog.date_trunc('millisecond', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) v_started);
            EXIT WHEN v_consumed OPERATOR(pg_catalog.<) p_batch_size;
        END LOOP;
        RAISE NOTICE 'handoff_drain: done: % batches, % rows, % emitted, % captured, elapsed %',
            v_batches, v_total, v_emitted, v_captured, pg_catalog.date_trunc('millisecond', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) v_started);
    END;
    $pr$;
    ${comment(
      'PROCEDURE',
      `${pr}(integer, integer)`,
      'Drains the handoff backlog for cron jobs: calls handoff_consume(p_batch_size) and COMMITs after every batch, until a batch comes back short (nothing left below the horizon) or p_max_batches batches ran; RAISE NOTICE per batch (batch n, rows, total, lag, elapsed). CALL it outside an explicit transaction block (it commits). Security invoker without a SET clause because a procedure that commits cannot have either; it pins search_path = pg_catalog, pg_temp with set_config(..., true) at the top and after every COMMIT, and every name in it is schema-qualified, so nothing on the caller\'s search_path is ever resolved.',
    )}`;
}
