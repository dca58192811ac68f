#!/usr/bin/env bash
# scripts/isolation.sh [NAME...]
# Runs PostgreSQL's isolation tester on every isolation/specs/*.spec (or the NAMEs given; another
# directory with ISOLATION_DIR), against
# a fresh database on the server DATABASE_URL points at: creates it, applies every migration, runs
# pg_isolation_regress --use-existing, drops it. Each spec's output is compared with
# isolation/expected/<name>.out. Prints "isolation: N passed, M failed" last; exit 0 only when all
# passed. Needs pg_isolation_regress/isolationtester (PostgreSQL server dev files; Debian ships
# them with postgresql-NN under lib/pgxs/src/test/isolation/); PG_ISOLATION_REGRESS overrides.
set -uo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?DATABASE_URL must be set (scripts/with-pg sets it)}"

find_regress() {
  if [ -n "${PG_ISOLATION_REGRESS:-}" ]; then echo "$PG_ISOLATION_REGRESS"; return; fi
  local d
  if command -v pg_config >/dev/null 2>&1; then
    d="$(pg_config --pkglibdir)/pgxs/src/test/isolation/pg_isolation_regress"
    if [ -x "$d" ]; then echo "$d"; return; fi
  fi
  for d in $(ls -d /usr/lib/postgresql/*/lib/pgxs/src/test/isolation/pg_isolation_regress 2>/dev/null | sort -t/ -k5 -n -r); do
    if [ -x "$d" ]; then echo "$d"; return; fi
  done
  return 1
}
regress=$(find_regress) || {
  echo "isolation: pg_isolation_regress not found (install the PostgreSQL server package, or set PG_ISOLATION_REGRESS)" >&2
  echo "isolation: 0 passed, 1 failed"
  exit 1
}

# ISOLATION_DIR: the directory holding specs/ and expected/ (default isolation)
dir=${ISOLATION_DIR:-isolation}
if [ $# -eq 0 ]; then
  set --
  for f in "$dir"/specs/*.spec; do [ -e "$f" ] && set -- "$@" "$(basename "$f" .spec)"; done
fi
if [ $# -eq 0 ]; then echo "isolation: 0 passed, 0 failed (no specs)"; exit 0; fi

db="bg_isolation_$$"
out=$(mktemp -d)
# the postgres OS user may run the server; the tester itself runs as us and writes to $out
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db" "$DATABASE_URL" || { echo "isolation: 0 passed, 1 failed"; exit 1; }
cleanup() {
  psql -X -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" "$DATABASE_URL" >/dev/null 2>&1
  rm -rf "$out"
}
trap cleanup EXIT
DATABASE_URL="$(node -e 'const u=new URL(process.argv[1]);u.pathname="/"+process.argv[2];console.log(u.toString())' "$DATABASE_URL" "$db")" \
  node bin/birthgate.mjs migrate up >"$out/migrate.log" 2>&1 || { cat "$out/migrate.log"; echo "isolation: 0 passed, 1 failed (migrate)"; exit 1; }
eval "$(node scripts/pg-env.mjs "$DATABASE_URL" "$db")" || exit 1

args=(--use-existing --dbname="$db" --inputdir="$dir" --outputdir="$out")
[ -n "${PGHOST:-}" ] && args+=(--host="$PGHOST")
[ -n "${PGPORT:-}" ] && args+=(--port="$PGPORT")
[ -n "${PGUSER:-}" ] && args+=(--user="$PGUSER")
"$regress" "${args[@]}" "$@" 2>&1 | tee "$out/log.txt"
rc=${PIPESTATUS[0]}
# PostgreSQL 15 prints "test NAME ... ok"; 16+ prints TAP ("ok N - NAME")
pass=$(grep -Ec '(\.\.\. ok|^ok [0-9]+ )' "$out/log.txt")
fail=$(grep -Ec '(\.\.\. FAILED|^not ok [0-9]+ )' "$out/log.txt")
if [ -s "$out/regression.diffs" ]; then
  echo "== isolation: differences (expected vs actual)"
  cat "$out/regression.diffs"
fi
# ISOLATION_KEEP=DIR keeps the actual outputs (e.g. to review a new spec's first output)
if [ -n "${ISOLATION_KEEP:-}" ]; then mkdir -p "$ISOLATION_KEEP" && cp "$out"/results/*.out "$ISOLATION_KEEP"/ 2>/dev/null; fi
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
echo "isolation: $pass passed, $fail failed"
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ]
