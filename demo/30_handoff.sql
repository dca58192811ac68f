-- demo 30 handoff: objects born through the gate reach governance by the pull-based handoff.
-- Births show up in v_handoff_lag until a consumer run (here CALL handoff_drain, as cron would,
-- or `birthgate consume --until-empty`) marks their candidates dirty and captures
-- handoff.object_born in event_pending (the type is inactive); lag is 0 afterwards (the cursor is
-- a snapshot position: an open transaction elsewhere never holds births back), a replay changes nothing, and governed activation is refused while the OSPA ledger is empty.
-- Re-runnable: the pilot family is registered idempotently and each run births fresh codes;
-- the event type is switched back to inactive at the end.

\echo '=== the starting point of the pilot: handoff.object_born inactive, OSPA ledger empty'
SELECT event_type, active FROM birthgate.event_type_registry;
SELECT count(*) AS ospa_rows FROM birthgate.governance_build_authorization;

\echo '=== the pilot family (registered by demo 20 if it ran; a no-op then)'
CREATE SCHEMA IF NOT EXISTS pilot;
CREATE TABLE IF NOT EXISTS pilot.dot_tools (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code text, name text);
SELECT birthgate.register_family('dot_tools', 'pilot.dot_tools', 'code', '^DOT-[0-9]+$', 'enforce');

\echo '=== three births through the gate, with fresh codes: permit first, then the row'
SELECT 2001 + count(*) AS first FROM birthgate.birth_registry WHERE collection_name = 'dot_tools' \gset
SELECT birthgate.issue_permit('dot_tools', 'DOT-' || n, interval '1 hour') AS permit_id
  FROM generate_series(:first, :first + 2) AS n;
INSERT INTO pilot.dot_tools (code, name)
SELECT 'DOT-' || n, 'handoff demo tool ' || n FROM generate_series(:first, :first + 2) AS n
RETURNING id, code;

\echo '=== birth did not wait for governance: the objects are BORN, and not yet handed off (lag > 0)'
SELECT count(*) AS handoff_lag FROM birthgate.v_handoff_lag;
SELECT object_key, born_at, born_txid FROM birthgate.v_handoff_lag ORDER BY registry_id;
SELECT position_snapshot, heartbeat_at, stale, rows_waiting, lag_seconds > 0 AS lagging, rows_held_back
  FROM birthgate.v_handoff_status;

\echo '=== a consumer run (cron: CALL handoff_drain, or birthgate consume --until-empty): one COMMIT per batch of 2'
CALL birthgate.handoff_drain(2);

\echo '=== lag is 0 and the heartbeat is fresh'
SELECT count(*) AS handoff_lag FROM birthgate.v_handoff_lag;
SELECT position_snapshot, position_txid, position_change_id, heartbeat_age < interval '1 minute' AS heartbeat_recent, stale,
       rows_waiting, lag_seconds, rows_held_back, rows_consumed, batches_run
  FROM birthgate.v_handoff_status;

\echo '=== every new object has a dirty CAPTURED candidate (marked_at = the changelog row''s changed_at) ...'
SELECT g.object_key, g.registry_status, g.dirty, g.activation_state, g.marked_at = l.changed_at AS marked_at_is_changed_at
  FROM birthgate.governance_candidate_state g
  JOIN birthgate.registry_changelog l ON l.change_id = g.source_change_id
 WHERE g.collection_name = 'dot_tools' AND g.entity_code IN ('DOT-' || :first, 'DOT-' || :first + 1, 'DOT-' || :first + 2)
 ORDER BY g.object_key;
\echo '=== ... and its handoff.object_born event is captured in event_pending (type inactive), nothing in the outbox'
SELECT p.event_type, p.object_key, p.source_change_id, p.payload ->> 'txid' AS txid, p.captured_at
  FROM birthgate.event_pending p
 WHERE p.object_key IN ('dot_tools:DOT-' || :first, 'dot_tools:DOT-' || :first + 1, 'dot_tools:DOT-' || :first + 2)
 ORDER BY p.pending_id;
SELECT count(*) AS outbox_events_for_these FROM birthgate.event_outbox
 WHERE object_key IN ('dot_tools:DOT-' || :first, 'dot_tools:DOT-' || :first + 1, 'dot_tools:DOT-' || :first + 2);

\echo '=== replaying from zero (handoff_rewind) is harmless: nothing is written twice'
SELECT count(*) AS candidates_before, (SELECT count(*) FROM birthgate.event_pending) + (SELECT count(*) FROM birthgate.event_outbox) AS events_before
  FROM birthgate.governance_candidate_state \gset
SELECT birthgate.handoff_rewind('0') AS rows_to_replay;
CALL birthgate.handoff_drain(5000);
SELECT count(*) = :candidates_before AS same_candidates,
       (SELECT count(*) FROM birthgate.event_pending) + (SELECT count(*) FROM birthgate.event_outbox) = :events_before AS same_events
  FROM birthgate.governance_candidate_state;

\echo '=== governed activation is refused while OSPA = 0 (fail-closed); the SQLSTATE, DETAIL and HINT:'
DO $demo$
DECLARE
    v_detail text;
    v_hint text;
BEGIN
    PERFORM birthgate.activate_candidates(10);
    RAISE NOTICE 'activation ran (the OSPA ledger is not empty in this database)';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
    RAISE NOTICE E'activation refused: SQLSTATE %\n  MESSAGE: %\n  DETAIL:  %\n  HINT:    %', SQLSTATE, SQLERRM, v_detail, v_hint;
END
$demo$;
SELECT activation_state, count(*) FROM birthgate.governance_candidate_state WHERE collection_name = 'dot_tools' GROUP BY 1;

\echo '=== switching the type active releases the captured events to the outbox exactly once'
SELECT birthgate.set_event_type_active('handoff.object_born', true) AS was_active;
SELECT birthgate.release_pending('handoff.object_born') AS released;
SELECT birthgate.release_pending('handoff.object_born') AS released_again;
SELECT object_key, released_from_pending, emitted_at FROM birthgate.event_outbox
 WHERE object_key IN ('dot_tools:DOT-' || :first, 'dot_tools:DOT-' || :first + 1, 'dot_tools:DOT-' || :first + 2)
 ORDER BY outbox_id;
\echo '=== (back to the pilot''s inactive state, so the next run captures again)'
SELECT birthgate.set_event_type_active('handoff.object_born', false) AS was_active;
