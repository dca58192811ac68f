/**
 * sweep_load_guard(): should a sweep (or the consumer) pause now, and why. Two signals:
 * sessions of this database waiting for a lock while they hold or want a lock on a governed
 * table (the package tables and every family table) for longer than a threshold, and the
 * replication lag of the standbys (pg_stat_replication). Thresholds: arguments, else settings
 * <schema>.sweep_max_lock_waiters / _max_lock_wait / _max_replication_lag, else defaults.
 */
import type { Ctx } from '../lib/ctx.js';
import { comment } from '../lib/migration.js';
import { PINNED_SEARCH_PATH, lit, sqlText } from '../lib/sql.js';
import { GOVERNED_TABLES, guardSettings, raiseAt } from './common.js';

export function loadGuardFunction(c: Ctx): string {
  const fn = c.q('sweep_load_guard');
  const s = guardSettings(c);
  const setting = (name: string) => `NULLIF(pg_catalog.current_setting(${lit(name)}, true), '')`;
  const governed = GOVERNED_TABLES.map((t) => `pg_catalog.to_regclass(${lit(`${c.schema}.${t}`)})`).join(',\n                                    ');
  return sqlText`
    CREATE OR REPLACE FUNCTION ${fn}(p_max_lock_waiters integer DEFAULT NULL, p_max_lock_wait interval DEFAULT NULL, p_max_replication_lag interval DEFAULT NULL)
    RETURNS TABLE (pause boolean, reason text, lock_waiters integer, longest_lock_wait interval, replication_lag interval,
                   max_lock_waiters integer, max_lock_wait interval, max_replication_lag interval)
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    ${PINNED_SEARCH_PATH}
    AS $fn$
    DECLARE
        v_setting text;
        v_waiters integer;
        v_longest interval;
        v_lag interval;
        v_reasons text[] := '{}';
    BEGIN
        BEGIN
            v_setting := ${lit(s.maxLockWaiters.name)};
            max_lock_waiters := coalesce(p_max_lock_waiters, ${setting(s.maxLockWaiters.name)}::integer, ${s.maxLockWaiters.default});
            v_setting := ${lit(s.maxLockWait.name)};
            max_lock_wait := coalesce(p_max_lock_wait, ${setting(s.maxLockWait.name)}::interval, ${lit(s.maxLockWait.default)}::interval);
            v_setting := ${lit(s.maxReplicationLag.name)};
            max_replication_lag := coalesce(p_max_replication_lag, ${setting(s.maxReplicationLag.name)}::interval, ${lit(s.maxReplicationLag.default)}::interval);
        EXCEPTION WHEN invalid_text_representation OR invalid_datetime_format OR datetime_field_overflow OR numeric_value_out_of_range THEN
            ${raiseAt(12, 'SWEEP_INVALID_SETTING', `pg_catalog.format('%s = %L: %s', v_setting, pg_catalog.left(pg_catalog.current_setting(v_setting, true), 100), SQLERRM)`)}
        END;
        IF max_lock_waiters < 0 OR max_lock_wait < '0'::interval OR max_replication_lag < '0'::interval THEN
            ${raiseAt(12, 'SWEEP_INVALID_ARGUMENT', `pg_catalog.format('sweep_load_guard: max_lock_waiters %s, max_lock_wait %s, max_replication_lag %s: none may be negative', max_lock_waiters, max_lock_wait, max_replication_lag)`)}
        END IF;

        -- sessions of this database that wait for a lock while holding or wanting one on a governed table
        WITH governed AS (
            SELECT g.oid
              FROM pg_catalog.unnest(ARRAY[${governed}]::pg_catalog.oid[]) AS g (oid)
             WHERE g.oid IS NOT NULL
            UNION
            SELECT f.table_name::pg_catalog.oid FROM ${c.q('birth_family')} AS f
        ),
        waiting AS (
            SELECT w.pid, pg_catalog.max(pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) coalesce(w.waitstart, pg_catalog.clock_timestamp())) AS waited
              FROM pg_catalog.pg_locks AS w
             WHERE NOT w.granted
               AND w.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
               AND EXISTS (SELECT 1
                             FROM pg_catalog.pg_locks AS h
                             JOIN governed ON governed.oid OPERATOR(pg_catalog.=) h.relation
                            WHERE h.pid OPERATOR(pg_catalog.=) w.pid
                              AND h.locktype OPERATOR(pg_catalog.=) 'relation'
                              AND h.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()))
             GROUP BY w.pid
        )
        SELECT pg_catalog.count(*) FILTER (WHERE waiting.waited OPERATOR(pg_catalog.>) max_lock_wait)::integer, pg_catalog.max(waiting.waited)
          INTO v_waiters, v_longest
          FROM waiting;

        SELECT pg_catalog.max(GREATEST(r.write_lag, r.flush_lag, r.replay_lag))
          INTO v_lag
          FROM pg_catalog.pg_stat_replication AS r;

        IF v_waiters > max_lock_waiters THEN
            v_reasons := v_reasons || pg_catalog.format('lock waits: %s session(s) waiting longer than %s on governed tables (longest %s; threshold %s session(s))',
                                                        v_waiters, max_lock_wait, pg_catalog.date_trunc('millisecond', v_longest), max_lock_waiters);
        END IF;
        IF v_lag > max_replication_lag THEN
            v_reasons := v_reasons || pg_catalog.format('replication lag %s exceeds %s', pg_catalog.date_trunc('millisecond', v_lag), max_replication_lag);
        END IF;
        pause := pg_catalog.cardinality(v_reasons) > 0;
        reason := CASE WHEN pause THEN pg_catalog.array_to_string(v_reasons, '; ') END;
        lock_waiters := v_waiters;
        longest_lock_wait := v_longest;
        replication_lag := v_lag;
        RETURN NEXT;
    END;
    $fn$;
    ${comment(
      'FUNCTION',
      `${fn}(integer, interval, interval)`,
      `The server-load guard of the sweeps and the consumer CLI: pause = true (with reason) when more than max_lock_waiters sessions of this database have waited longer than max_lock_wait for a lock while holding or wanting a lock on a governed table (package tables and family tables), or when a standby's replication lag (pg_stat_replication, greatest of write/flush/replay lag) exceeds max_replication_lag. NULL arguments fall back to the settings ${s.maxLockWaiters.name} (default ${s.maxLockWaiters.default}), ${s.maxLockWait.name} (default ${s.maxLockWait.default}), ${s.maxReplicationLag.name} (default ${s.maxReplicationLag.default}). Reads only catalogs and statistics views.`,
    )}`;
}
