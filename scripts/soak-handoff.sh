#!/usr/bin/env bash
# make soak-handoff N=20: runs test/handoff-random.test.ts N times in a row, each with a new random
# seed (printed), while other test files load the same server in the background (the suite's usual
# company) and the test itself holds a long writer open in another database. Not part of make test.
# Exit 0 only when every run passed; a failing seed reproduces with HANDOFF_SEED=<seed>.
set -uo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?DATABASE_URL must be set (scripts/with-pg sets it)}"
n=${N:-20}
load_files=${SOAK_LOAD_FILES:-test/admission.test.ts test/handoff-drain.test.ts test/migrations.test.ts}
log=$(mktemp -d)
trap 'kill "$load_pid" 2>/dev/null; wait "$load_pid" 2>/dev/null; rm -rf "$log"' EXIT

# background load: the other test files, over and over, until the soak ends
# shellcheck disable=SC2086
( while :; do npx --no-install vitest run $load_files >/dev/null 2>&1; done ) &
load_pid=$!
sleep 5 # two vitest processes starting in the same instant can trip over each other's startup

pass=0; fail=0; failed_seeds=()
for i in $(seq 1 "$n"); do
  seed=$(node -e 'console.log(require("crypto").randomInt(2 ** 31))')
  if HANDOFF_SEED=$seed npx --no-install vitest run test/handoff-random.test.ts >"$log/run.txt" 2>&1; then
    pass=$((pass + 1))
    summary=$(grep -o 'handoff-random: [0-9]* committed births.*' "$log/run.txt" | head -1)
    echo "soak-handoff: run $i/$n seed $seed: pass ($summary)"
  else
    fail=$((fail + 1)); failed_seeds+=("$seed")
    echo "soak-handoff: run $i/$n seed $seed: FAIL"
    tail -40 "$log/run.txt"
  fi
done
echo "soak-handoff: $pass passed, $fail failed of $n runs${failed_seeds:+ (failing seeds: ${failed_seeds[*]})}"
[ "$fail" -eq 0 ]
