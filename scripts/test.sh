#!/usr/bin/env bash
# make test: vitest (TypeScript, migrations, multi-session, CLI, metrics), pg_prove (pgTAP suites)
# and PostgreSQL's isolation tester (isolation/specs/*.spec) against the server DATABASE_URL points
# at, and promtool (the alert rules' unit tests);
# one green/red result from all four.
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

echo "== isolation"
# BIRTHGATE_TEST_ISOLATION_SPECS narrows the run (spec names; "none" skips it),
# BIRTHGATE_TEST_ISOLATION_DIR points it at another specs/ + expected/ directory
if [ "${BIRTHGATE_TEST_ISOLATION_SPECS:-}" = none ]; then
  echo "isolation: 0 passed, 0 failed (skipped)" | tee "$out/isolation.txt"; iso_rc=0
else
  # shellcheck disable=SC2086
  ISOLATION_DIR=${BIRTHGATE_TEST_ISOLATION_DIR:-isolation} scripts/isolation.sh ${BIRTHGATE_TEST_ISOLATION_SPECS:-} 2>&1 | tee "$out/isolation.txt"
  iso_rc=${PIPESTATUS[0]}
fi
read -r i_pass i_fail < <(sed -n 's/^isolation: \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p' "$out/isolation.txt" | tail -1)
i_pass=${i_pass:-0}; i_fail=${i_fail:-0}
if [ "$iso_rc" -ne 0 ] && [ "$i_fail" -eq 0 ]; then i_fail=1; fi

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
echo "isolation: $i_pass passed, $i_fail failed (exit $iso_rc)"
echo "promtool: $t_pass passed, $t_fail failed (exit $promtool_rc)"
if [ "$vitest_rc" -eq 0 ] && [ "$prove_rc" -eq 0 ] && [ "$iso_rc" -eq 0 ] && [ "$promtool_rc" -eq 0 ]; then status=0; else status=1; fi
echo "total: $(( v_pass + p_pass + i_pass + t_pass )) passed, $(( v_fail + p_fail + i_fail + t_fail )) failed"
exit $status
