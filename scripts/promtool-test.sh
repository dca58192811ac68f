#!/usr/bin/env bash
# scripts/promtool-test.sh — lint the shipped alert rules (promtool check rules) and run their unit
# tests (promtool test rules: each alert fires on a synthetic series and resolves). Prints
# "promtool: N passed, M failed" (one per test group, plus the lint) and exits non-zero on a failure.
set -uo pipefail
cd "$(dirname "$0")/../prometheus"
command -v promtool >/dev/null || { echo "promtool-test: promtool is missing (make setup installs Debian's prometheus package)" >&2; echo "promtool: 0 passed, 1 failed"; exit 1; }
total=$(grep -c '^  - interval:' birthgate.rules.test.yml)
failed=0
promtool check rules birthgate.rules.yml || failed=$((failed + 1))
out=$(promtool test rules birthgate.rules.test.yml 2>&1); rc=$?
echo "$out"
if [ $rc -ne 0 ]; then
  n=$(grep -c 'alertname: .*time:' <<<"$out")
  [ "$n" -gt 0 ] || n=$total
  failed=$((failed + n))
fi
passed=$(( total + 1 - failed )); [ $passed -lt 0 ] && passed=0
echo "promtool: $passed passed, $failed failed"
[ $failed -eq 0 ]
