#!/usr/bin/env bash
# scripts/isolation.sh [SPEC...]
# Runs the isolation tester specs (default: every isolation/specs/*.spec) with pg_isolation_regress
# against a fresh database on the server DATABASE_URL points at: creates it, applies every
# migration, runs the specs, compares with isolation/expected/*.out, drops the database.
# Exit code: pg_isolation_regress's (0 when every spec matches its expected output).
set -uo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?DATABASE_URL must be set (scripts/with-pg sets it)}"
regress=""
for d in ${PG_BINDIR:+"$PG_BINDIR/../lib/pgxs/src/test/isolation"} $(ls -d /usr/lib/postgresql/*/lib/pgxs/src/test/isolation 2>/dev/null | sort -t/ -k5 -n -r); do
  if [ -x "$d/pg_isolation_regress" ]; then regress="$d/pg_isolation_regress"; break; fi
done
if [ -z "$regress" ]; then echo "isolation.sh: pg_isolation_regress not found (Debian: postgresql-server-dev-NN)" >&2; exit 1; fi
db="bg_iso_$$"
out=$(mktemp -d)
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db" "$DATABASE_URL" || exit 1
trap 'psql -X -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" "$DATABASE_URL" >/dev/null 2>&1; rm -rf "$out"' EXIT
eval "$(node scripts/pg-env.mjs "$DATABASE_URL" "$db")" || exit 1
DATABASE_URL="$(node -e 'const u=new URL(process.argv[1]);u.pathname="/"+process.argv[2];console.log(u.toString())' "$DATABASE_URL" "$db")" \
  node bin/birthgate.mjs migrate up >/dev/null || exit 1
if [ $# -eq 0 ]; then
  set -- $(ls isolation/specs/*.spec | xargs -n1 basename | sed 's/\.spec$//')
fi
"$regress" --use-existing --host="$PGHOST" --port="$PGPORT" --user="${PGUSER:-postgres}" --dbname="$db" \
  --inputdir=isolation --outputdir="$out" "$@"
rc=$?
if [ $rc -ne 0 ] && [ -f "$out/regression.diffs" ]; then cat "$out/regression.diffs"; fi
exit $rc
