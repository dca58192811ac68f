/**
 * sweep_adopt() v3 (migration 000012), copied from adopt.ts (000009, frozen) and changed:
 * - p_batch_size NULL (now the default) sizes each batch to a time target (worker_v3.ts);
 * - a family table the package owner may not read (no USAGE on its schema, no SELECT on it or on a
 *   partition, also when that changes while the batch runs) raises BG608 with the GRANT statements
 *   in the HINT, never a raw 42501; row-level security that applies to the package owner raises
 *   BG609 (was the generic BG607); a family table that no longer exists names move_family in the HINT.
 *
 * sweep_adopt(): one batch of the adoption sweep over a family table, in the caller's transaction.
 *
 * Keyset over the code column (as text, in the column's collation, so an index on it serves the
 * scan): GROUP BY code ORDER BY code LIMIT batch, so the copies of a duplicated code always fall in
 * one batch. Each code with no registry row is either adopted (birth_registry BORN without a permit
 * + a BORN registry_changelog row whose detail says adopted, by whom, in which run; the handoff then
 * hands it on like any birth) or written as a finding: empty, longer than 256 characters, present
 * more than once, not matching the family pattern. A RETIRED code still in the table is a finding
 * too. NULL codes cannot be reached by a keyset: the last batch counts them into one finding row.
 * A dry run writes the findings and counts what would be adopted, and writes no registry rows.
 *
 * Security: the family table is user-owned and read with the package's rights, so every batch
 * reads it only through family_read_source() (generator/security/family_read.ts), the one reviewed
 * gate shared with the drift monitor and the retire check: at every call the relation must be an
 * ordinary table (or a partitioned table of ordinary leaves), the code column must resolve to
 * text, varchar or name, no row-level security may apply; everything read is locked and checked
 * again, and read as `CAST(... AS base type)` FROM ONLY, compared with pg_catalog operators. An
 * unsafe table raises BG602 (kind), BG603 (code column) or BG607 (anything else) before a row is
 * read: no cast, operator, rule, policy or domain CHECK of the table owner ever runs.
 *
 * Performance: every statement of a batch is index-driven and touches only the batch's codes: the
 * keyset (an index on the code column in the default collation serves it, GroupAggregate stops at
 * the LIMIT), one probe per code into birth_registry's unique (entity_code, collection_name) index
 * (a LATERAL ... LIMIT 1 probe, never a hash join over the whole registry), and one INSERT ...
 * SELECT for the registry rows chained into one for their changelog rows.
 */
import { batchTemplate } from './adopt.js';
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { PINNED_SEARCH_PATH, lit, sqlText } from '../lib/sql.js';
import { ACTOR, CODE_SHOWN, raiseAt } from './common.js';
import { ADAPTIVE_MAX, SWEEP_RESULT, batchSizeAssignments, checkArgsV3, closingFindings, takeCursorV3 } from './worker_v3.js';

/** pg_collation oid of the database default collation (DEFAULT_COLLATION_OID). */
const DEFAULT_COLLATION_OID = 100;

/**
 * BG608: the package owner may not read the family table. DETAIL names the family, the table and
 * what was refused; the HINT ends with the GRANT statements the package owner lacks (USAGE on each
 * schema, SELECT on the table and on every partition), computed now. `why` is a SQL expression.
 */
function noAccess(c: Ctx, pad: number, why: string): string {
  return sqlText`
    SELECT pg_catalog.string_agg(g.stmt, ' ' ORDER BY g.ord, g.stmt) INTO v_fix
      FROM (SELECT DISTINCT 1 AS ord, pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I;', n.nspname, current_user) AS stmt
              FROM (SELECT v_family.relid AS relid UNION SELECT t.relid FROM pg_catalog.pg_partition_tree(v_family.relid) AS t) AS r
              JOIN pg_catalog.pg_class AS k ON k.oid OPERATOR(pg_catalog.=) r.relid
              JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) k.relnamespace
             WHERE NOT pg_catalog.has_schema_privilege(n.oid, 'USAGE')
            UNION
            SELECT 2, pg_catalog.format('GRANT SELECT ON %I.%I TO %I;', n.nspname, k.relname, current_user)
              FROM (SELECT v_family.relid AS relid UNION SELECT t.relid FROM pg_catalog.pg_partition_tree(v_family.relid) AS t) AS r
              JOIN pg_catalog.pg_class AS k ON k.oid OPERATOR(pg_catalog.=) r.relid
              JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) k.relnamespace
             WHERE NOT pg_catalog.has_table_privilege(k.oid, 'SELECT')) AS g;
    ${raiseAt(4, 'SWEEP_FAMILY_NO_ACCESS', `pg_catalog.format('family %s, table %s, package owner %I: %s', v_family.collection_name, v_family.table_text, current_user, ${why})`, undefined, `coalesce(v_fix, pg_catalog.format('GRANT SELECT ON %s TO %I;', v_family.table_text, current_user))`)}`.replaceAll('\n', `\n${' '.repeat(pad)}`);
}

export function adoptFunctionV3(c: Ctx): string {
  const fn = c.q('sweep_adopt');
  const cur = c.q('sweep_cursor');
  const fnd = c.q('sweep_finding');
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}(p_collection text, p_dry_run boolean DEFAULT false, p_batch_size integer DEFAULT NULL,
                                   p_max_batches_per_minute integer DEFAULT NULL, p_load_guard boolean DEFAULT true)
    RETURNS TABLE (${SWEEP_RESULT})
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    SET row_security = off
    AS $fn$
    DECLARE
        v_t0 timestamptz := pg_catalog.clock_timestamp();
        v_actor name := ${ACTOR};
        v_kind text;
        v_name text;
        v_collection text;
        v_family record;
        v_src record;
        v_relkind "char";
        v_cur ${cur};
        v_guard record;
        v_estimate bigint;
        v_scanned integer;
        v_applied integer;
        v_findings integer;
        v_last text;
        v_nulls bigint;
        v_done boolean;
        v_ms numeric;
        v_batch integer;
        v_target numeric;
        v_carry boolean;
        v_indexed boolean;
        v_nocode_index integer := 0;
        v_denied text;
        v_fix text;
    BEGIN
        ${checkArgsV3(c, 'sweep_adopt', 8)}
        IF p_dry_run IS NULL THEN
            ${raiseAt(12, 'SWEEP_INVALID_ARGUMENT', `'sweep_adopt(p_dry_run => NULL): must be true or false'`)}
        END IF;

        SELECT f.collection_name, f.code_column, f.code_pattern, f.mode, f.code_max_length, f.table_name::pg_catalog.oid AS relid,
               f.table_name::pg_catalog.text AS table_text
          INTO v_family
          FROM ${c.q('birth_family')} AS f
         WHERE f.collection_name OPERATOR(pg_catalog.=) p_collection;
        IF NOT FOUND THEN
            ${raiseAt(12, 'SWEEP_UNKNOWN_FAMILY', `pg_catalog.format('collection %L is not in ${c.schema}.birth_family', pg_catalog.left(p_collection, ${CODE_SHOWN}))`)}
        END IF;

        -- the family table is read only through the shared gate, at every call: it checks, locks
        -- and checks again, and returns the one SELECT of the code that runs no code of its owner.
        -- Locking needs USAGE on the schema (and SELECT on a partitioned parent), which the gate does
        -- not check first: a refusal there is BG608, not a raw 42501.
        BEGIN
            SELECT s.state, s.reason, s.relation, s.source INTO v_src
              FROM ${c.q('family_read_source')}(v_family.relid, v_family.code_column) AS s;
        EXCEPTION WHEN insufficient_privilege THEN
            v_denied := SQLERRM;
        END;
        IF v_denied IS NOT NULL THEN
            ${noAccess(c, 12, 'v_denied')}
        END IF;
        IF v_src.state OPERATOR(pg_catalog.=) 'unsafe' AND v_src.reason LIKE '%may not read%' THEN
            ${noAccess(c, 12, 'v_src.reason')}
        ELSIF v_src.state OPERATOR(pg_catalog.=) 'unsafe' AND v_src.reason LIKE '%has row-level security enabled%' THEN
            SELECT pg_catalog.format('As a superuser: ALTER ROLE %I BYPASSRLS; or, for the adoption only: %s then afterwards: %s', current_user,
                                     pg_catalog.string_agg(pg_catalog.format('ALTER TABLE %I.%I DISABLE ROW LEVEL SECURITY;', n.nspname, k.relname), ' ' ORDER BY n.nspname, k.relname),
                                     pg_catalog.string_agg(pg_catalog.format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY;', n.nspname, k.relname), ' ' ORDER BY n.nspname, k.relname))
              INTO v_fix
              FROM (SELECT v_family.relid AS relid UNION SELECT t.relid FROM pg_catalog.pg_partition_tree(v_family.relid) AS t) AS r
              JOIN pg_catalog.pg_class AS k ON k.oid OPERATOR(pg_catalog.=) r.relid
              JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) k.relnamespace
             WHERE k.relrowsecurity;
            ${raiseAt(12, 'SWEEP_FAMILY_ROW_SECURITY', `pg_catalog.format('family %s: %s', v_family.collection_name, v_src.reason)`, undefined, `coalesce(v_fix, pg_catalog.format('As a superuser: ALTER ROLE %I BYPASSRLS;', current_user))`)}
        ELSIF v_src.state OPERATOR(pg_catalog.=) 'missing' THEN
            ${raiseAt(12, 'SWEEP_FAMILY_NOT_TABLE', `pg_catalog.format('family %s: %s', v_family.collection_name, v_src.reason)`, undefined, `pg_catalog.format('The table is gone; point the family at the table that holds its objects now: SELECT %I.move_family(%L, %L, %L);', ${lit(c.schema)}, v_family.collection_name, '<schema.table>', 'the table was replaced')`)}
        ELSIF v_src.state OPERATOR(pg_catalog.<>) 'ok' THEN
            SELECT k.relkind INTO v_relkind FROM pg_catalog.pg_class AS k WHERE k.oid OPERATOR(pg_catalog.=) v_family.relid;
            IF v_relkind NOT IN ('r', 'p')
               OR EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree(v_family.relid) AS l
                            JOIN pg_catalog.pg_class AS k ON k.oid OPERATOR(pg_catalog.=) l.relid
                           WHERE l.isleaf AND k.relkind OPERATOR(pg_catalog.<>) 'r') THEN
                ${raiseAt(16, 'SWEEP_FAMILY_NOT_TABLE', `pg_catalog.format('family %s: %s', v_family.collection_name, v_src.reason)`, undefined, `pg_catalog.format('Then: SELECT %I.register_family(%L, %L, %L, %L, %L);', ${lit(c.schema)}, v_family.collection_name, coalesce(v_src.relation, v_family.table_text), v_family.code_column, v_family.code_pattern, v_family.mode)`)}
            ELSIF v_src.reason LIKE 'code column %' THEN
                ${raiseAt(16, 'SWEEP_CODE_COLUMN_UNSAFE', `pg_catalog.format('family %s: %s', v_family.collection_name, v_src.reason)`, undefined, `pg_catalog.format('Then: SELECT %I.register_family(%L, %L, %L, %L, %L);', ${lit(c.schema)}, v_family.collection_name, v_src.relation, v_family.code_column, v_family.code_pattern, v_family.mode)`)}
            ELSE
                ${raiseAt(16, 'SWEEP_FAMILY_UNSAFE', `pg_catalog.format('family %s: %s', v_family.collection_name, v_src.reason)`, undefined, `pg_catalog.format('Then: SELECT %I.register_family(%L, %L, %L, %L, %L);', ${lit(c.schema)}, v_family.collection_name, v_src.relation, v_family.code_column, v_family.code_pattern, v_family.mode)`)}
            END IF;
        END IF;

        v_kind := CASE WHEN p_dry_run THEN 'adopt_dry_run' ELSE 'adopt' END;
        v_collection := v_family.collection_name;
        v_name := v_kind || ':' || v_collection;
        -- rows estimate: the table's, or the sum over the leaves of a partitioned one
        SELECT CASE WHEN pg_catalog.bool_or(k.reltuples < 0) THEN NULL ELSE pg_catalog.sum(k.reltuples)::bigint END INTO v_estimate
          FROM pg_catalog.pg_class AS k
         WHERE k.oid OPERATOR(pg_catalog.=) v_family.relid AND k.relkind OPERATOR(pg_catalog.=) 'r'
            OR k.oid IN (SELECT l.relid FROM pg_catalog.pg_partition_tree(v_family.relid) AS l WHERE l.isleaf);

        ${takeCursorV3(c, 8)}

        -- without a btree index on the code column (default collation, text operators) in every
        -- relation read, each batch sorts the whole table whatever its size: an adaptive run then
        -- takes the largest batches, and the first batch of the run says so in a finding
        SELECT coalesce(pg_catalog.bool_and(EXISTS (
                   SELECT 1
                     FROM pg_catalog.pg_index AS i
                     JOIN pg_catalog.pg_opclass AS opc ON opc.oid OPERATOR(pg_catalog.=) i.indclass[0]
                     JOIN pg_catalog.pg_am AS am ON am.oid OPERATOR(pg_catalog.=) opc.opcmethod
                    WHERE i.indrelid OPERATOR(pg_catalog.=) k.oid AND i.indisvalid AND i.indpred IS NULL
                      AND i.indkey[0] OPERATOR(pg_catalog.=) a.attnum
                      AND i.indcollation[0] OPERATOR(pg_catalog.=) ${DEFAULT_COLLATION_OID}::pg_catalog.oid
                      AND am.amname OPERATOR(pg_catalog.=) 'btree'
                      AND opc.opcintype OPERATOR(pg_catalog.=) 'pg_catalog.text'::pg_catalog.regtype)), false)
          INTO v_indexed
          FROM pg_catalog.pg_class AS k
          JOIN pg_catalog.pg_attribute AS a ON a.attrelid OPERATOR(pg_catalog.=) k.oid AND a.attname OPERATOR(pg_catalog.=) v_family.code_column
         WHERE k.relkind OPERATOR(pg_catalog.=) 'r'
           AND (k.oid OPERATOR(pg_catalog.=) v_family.relid
                OR k.oid IN (SELECT l.relid FROM pg_catalog.pg_partition_tree(v_family.relid) AS l WHERE l.isleaf));
        IF NOT v_indexed AND p_batch_size IS NULL THEN
            v_batch := ${ADAPTIVE_MAX};
            v_target := NULL;
        END IF;
        IF NOT v_indexed AND v_cur.batches_done OPERATOR(pg_catalog.=) 0 THEN
            INSERT INTO ${fnd} (sweep_name, run_id, kind, collection_name, occurrences, detail)
            VALUES (v_name, v_cur.run_id, 'no_code_index', v_collection, 1,
                    pg_catalog.jsonb_build_object('table', v_family.table_text, 'column', v_family.code_column,
                        'note', 'no btree index on the code column (default collation): every batch sorts the whole table',
                        'remedy', pg_catalog.format('CREATE INDEX CONCURRENTLY ON %s (%I);', v_family.table_text, v_family.code_column)));
            v_nocode_index := 1;
        END IF;

        -- the batch: one statement over its codes, reading the family table only through v_src.source.
        -- A privilege revoked since the gate checked it (GRANT/REVOKE take no lock) is BG608 too.
        BEGIN
            IF p_dry_run THEN
                EXECUTE pg_catalog.format(${lit(batchTemplate(c, true))}, v_src.source,
                                          CASE WHEN v_cur.position_code IS NULL THEN 'IS NOT NULL' ELSE 'OPERATOR(pg_catalog.>) $1' END)
                   INTO v_scanned, v_applied, v_findings, v_last
                  USING v_cur.position_code, v_batch, v_collection, v_family.code_pattern, v_actor, v_cur.run_id, v_name,
                        v_family.table_text, v_family.mode, v_family.code_max_length;
            ELSE
                EXECUTE pg_catalog.format(${lit(batchTemplate(c, false))}, v_src.source,
                                          CASE WHEN v_cur.position_code IS NULL THEN 'IS NOT NULL' ELSE 'OPERATOR(pg_catalog.>) $1' END)
                   INTO v_scanned, v_applied, v_findings, v_last
                  USING v_cur.position_code, v_batch, v_collection, v_family.code_pattern, v_actor, v_cur.run_id, v_name,
                        v_family.table_text, v_family.mode, v_family.code_max_length;
            END IF;
            v_done := v_scanned < v_batch;
            v_findings := v_findings + v_nocode_index;

            -- the end of the keyset: NULL codes (unreachable by it) become one finding row
            IF v_done THEN
                EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM (%s) AS t WHERE t.code IS NULL', v_src.source)
                   INTO v_nulls;
                IF v_nulls > 0 THEN
                    INSERT INTO ${fnd} (sweep_name, run_id, kind, collection_name, occurrences, detail)
                    VALUES (v_name, v_cur.run_id, 'null_code', v_collection, v_nulls,
                            pg_catalog.jsonb_build_object('table', v_family.table_text, 'column', v_family.code_column));
                    v_findings := v_findings + 1;
                END IF;
            END IF;
        EXCEPTION WHEN insufficient_privilege THEN
            v_denied := SQLERRM;
        END;
        IF v_denied IS NOT NULL THEN
            ${noAccess(c, 12, 'v_denied')}
        END IF;

        v_ms := pg_catalog.round((EXTRACT(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) v_t0) * 1000)::numeric, 1);
        UPDATE ${cur} AS sc
           SET position_code = coalesce(v_last, sc.position_code),
               ${batchSizeAssignments},
               batches_done = sc.batches_done + 1,
               rows_done = sc.rows_done + v_scanned,
               rows_applied = sc.rows_applied + v_applied,
               findings = sc.findings + v_findings,
               rows_total_estimated = GREATEST(sc.rows_total_estimated, sc.rows_done + v_scanned),
               finished_at = CASE WHEN v_done THEN pg_catalog.clock_timestamp() END,
               last_batch_at = v_t0, last_batch_ms = v_ms, max_batch_ms = GREATEST(sc.max_batch_ms, v_ms),
               paused_reason = NULL, paused_until = NULL,
               heartbeat_at = pg_catalog.clock_timestamp(), updated_at = pg_catalog.clock_timestamp()
         WHERE sc.sweep_name OPERATOR(pg_catalog.=) v_name
        RETURNING sc.* INTO v_cur;
        IF v_done THEN
            ${closingFindings(c, 12)}
        END IF;

        RETURN QUERY SELECT CASE WHEN v_done THEN 'finished' ELSE 'batch' END, v_name, v_cur.run_id, v_scanned, v_applied, v_findings,
                            v_cur.rows_done, v_cur.rows_total_estimated, v_cur.batches_done, v_cur.batches_total_estimated,
                            NULL::text, NULL::timestamptz;
    END;
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}(text, boolean, integer, integer, boolean)`,
      `One batch of the adoption sweep of a family table, in the caller's transaction (commit after each; sweep_adopt_run and the CLI do). Keyset over the code column (an index on it keeps each batch short): every code with no registry row is adopted (birth_registry BORN, no permit; a BORN changelog row whose detail says adopted, adopted_by, run_id; the handoff then hands it on) or written to sweep_finding: empty_code, oversize_code (longer than the family's code_max_length), duplicate_code, pattern_mismatch, retired_present, and at the end null_code (one row, with the count). p_dry_run: findings and would-adopt counts only. Returns status batch | finished | paused (rate limit p_max_batches_per_minute or sweep_load_guard(); see paused_reason/paused_until) | skipped (another worker holds the cursor), and the progress. A call on a finished cursor starts a new run (a re-run adopts only what is new). Reads the family table only through family_read_source, at every call (an ordinary or partitioned table, a code column of text/varchar/name or a domain over one, no row-level security; locked and re-checked): BG602 / BG603 / BG607 instead of running any code of the table owner (row_security off, pg_catalog operators); BG608 (with the GRANT statements in the HINT) when the package owner may not read the table, its schema or a partition, BG609 when row-level security applies to the package owner: never a raw permission error. p_batch_size NULL (the default): each batch is sized to take about ${c.schema}.sweep_batch_target (default 80 ms), the size kept in sweep_cursor.batch_size; without a btree index on the code column every batch sorts the whole table, so an adaptive run takes ${ADAPTIVE_MAX}-row batches and its first batch writes a no_code_index finding with the CREATE INDEX statement.`,
    )}`;
}
