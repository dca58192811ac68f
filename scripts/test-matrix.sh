#!/usr/bin/env bash
# make test-matrix: on every supported PostgreSQL major (MATRIX="14 15 16 17 18" by default), one
# throwaway cluster each (scripts/with-pg --pg N), one after the other:
#   - the install script (sql/birthgate--<version>.sql) with psql into an empty database, then the
#     migrator on top of it (nothing pending), down to zero and up again;
#   - every pgTAP suite (scripts/pgtap.sh: a fresh database, every migration, pg_prove).
# Prints one line per major ("pg14: N passed, M failed ...") and exits non-zero if any failed.
# Logs: $MATRIX_LOGS (default: a temporary directory, kept when something failed).
set -uo pipefail
cd "$(dirname "$0")/.."
majors=${MATRIX:-14 15 16 17 18}
logs=${MATRIX_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/birthgate-matrix.XXXXXX")}
mkdir -p "$logs"
if [ -n "${DATABASE_URL:-}" ]; then
  echo "test-matrix: starts its own cluster per major; unset DATABASE_URL" >&2
  exit 2
fi

# Runs inside with-pg: install script, migrator up/down/up. Prints "ok" or the failure.
install_check() {
  local db="bg_matrix_install_$$" url script
  script=$(ls sql/birthgate--*.sql | sort -V | tail -1)
  psql -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db" "$DATABASE_URL" || return 1
  url=$(node -e 'const u=new URL(process.argv[1]);u.pathname="/"+process.argv[2];console.log(u.toString())' "$DATABASE_URL" "$db")
  local rc=0
  psql -X -q -v ON_ERROR_STOP=1 -f "$script" "$url" >/dev/null \
    && DATABASE_URL="$url" node bin/birthgate.mjs migrate up >/dev/null \
    && DATABASE_URL="$url" node bin/birthgate.mjs migrate down --all >/dev/null \
    && DATABASE_URL="$url" node bin/birthgate.mjs migrate up >/dev/null || rc=1
  psql -X -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" "$DATABASE_URL" >/dev/null 2>&1
  return $rc
}
export -f install_check

summary=()
failed=0
for m in $majors; do
  log="$logs/pg$m.log"
  echo "== pg$m" >&2
  scripts/with-pg --pg "$m" -- bash -c '
    echo "server: $(psql -X -A -t -c "SHOW server_version" | awk "{print \$1}")"
    if install_check; then echo "install: ok"; else echo "install: FAILED"; fi
    scripts/pgtap.sh' >"$log" 2>&1
  rc=$?
  version=$(sed -n 's/^server: //p' "$log" | head -1)
  install=$(sed -n 's/^install: //p' "$log" | head -1)
  total=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' "$log" | tail -1)
  fail=$(sed -n 's/^Failed \([0-9]*\)\/[0-9]* subtests.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  total=${total:-0}
  if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi   # pg_prove or the cluster failed outright
  pass=$(( total - fail )); [ $pass -lt 0 ] && pass=0
  line="pg$m: $pass passed, $fail failed (PostgreSQL ${version:-?}; install script, migrate down to zero and up again: ${install:-not run})"
  if [ "$rc" -ne 0 ] || [ "$fail" -ne 0 ] || [ "$install" != ok ]; then
    failed=1
    line="$line -- see $log"
    grep -E '^(not ok|#|psql:|ERROR|with-pg:)' "$log" | head -20 >&2
  fi
  summary+=("$line")
  echo "$line" >&2
done

echo
printf '%s\n' "${summary[@]}"
if [ $failed -eq 0 ]; then
  [ -z "${MATRIX_LOGS:-}" ] && rm -rf "$logs"
  echo "test-matrix: every major passed"
else
  echo "test-matrix: FAILED (logs in $logs)"
fi
exit $failed
