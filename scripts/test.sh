#!/usr/bin/env bash
# make test: vitest (TypeScript, migrations, multi-session, CLI, metrics) and pg_prove (pgTAP
# suites) against the server DATABASE_URL points at, and promtool (the alert rules' unit tests);
# one green/red result from all three.
set -uo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?DATABASE_URL must be set (scripts/with-pg sets it)}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== vitest"
# BIRTHGATE_TEST_VITEST_ARGS / BIRTHGATE_TEST_PGTAP_FILES narrow the run (used by the test that
# proves both results reach this script's exit code).
# shellcheck disable=SC2086
npx --no-install vitest run ${BIRTHGATE_TEST_VITEST_ARGS:-} --reporter=default --reporter=json --outputFile.json="$out/vitest.json"
vitest_rc=$?
echo "== pg_prove"
# shellcheck disable=SC2086
scripts/pgtap.sh ${BIRTHGATE_TEST_PGTAP_FILES:-} 2>&1 | tee "$out/prove.txt"
prove_rc=${PIPESTATUS[0]}

echo "== promtool"
if [ -n "${BIRTHGATE_TEST_SKIP_PROMTOOL:-}" ]; then
  echo "promtool: 0 passed, 0 failed" > "$out/promtool.txt"; promtool_rc=0
else
  scripts/promtool-test.sh 2>&1 | tee "$out/promtool.txt"
  promtool_rc=${PIPESTATUS[0]}
fi
read -r t_pass t_fail < <(sed -n 's/^promtool: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$out/promtool.txt" | tail -1)
t_pass=${t_pass:-0}; t_fail=${t_fail:-0}
if [ "$promtool_rc" -ne 0 ] && [ "$t_fail" -eq 0 ]; then t_fail=1; fi

read -r v_pass v_fail < <(node -e '
  try { const r = require(process.argv[1]); console.log(r.numPassedTests, r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0)); }
  catch { console.log("0 1"); }' "$out/vitest.json")
p_total=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' "$out/prove.txt" | tail -1)
p_fail=$(sed -n 's/^Failed \([0-9]*\)\/[0-9]* subtests.*/\1/p' "$out/prove.txt" | awk '{s+=$1} END {print s+0}')
p_total=${p_total:-0}
if [ "$prove_rc" -ne 0 ] && [ "$p_fail" -eq 0 ]; then p_fail=1; fi
p_pass=$(( p_total - p_fail )); [ $p_pass -lt 0 ] && p_pass=0
echo
echo "vitest:   $v_pass passed, $v_fail failed (exit $vitest_rc)"
echo "pg_prove: $p_pass passed, $p_fail failed (exit $prove_rc)"
echo "promtool: $t_pass passed, $t_fail failed (exit $promtool_rc)"
if [ "$vitest_rc" -eq 0 ] && [ "$prove_rc" -eq 0 ] && [ "$promtool_rc" -eq 0 ]; then status=0; else status=1; fi
echo "total: $(( v_pass + p_pass + t_pass )) passed, $(( v_fail + p_fail + t_fail )) failed"
exit $status
