#!/usr/bin/env bash
# scripts/pgtap.sh [FILE...]
# Runs the pgTAP suites (default: pgtap/*.sql) with pg_prove against a fresh database on the
# server DATABASE_URL points at: creates it, applies every migration, installs pgtap + dblink and
# the test helpers, runs pg_prove, drops the database. Exit code: pg_prove's.
set -uo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?DATABASE_URL must be set (scripts/with-pg sets it)}"
db="bg_pgtap_$$"
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db" "$DATABASE_URL" || exit 1
trap 'psql -X -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" "$DATABASE_URL" >/dev/null 2>&1' EXIT
eval "$(node scripts/pg-env.mjs "$DATABASE_URL" "$db")" || exit 1
DATABASE_URL="$(node -e 'const u=new URL(process.argv[1]);u.pathname="/"+process.argv[2];console.log(u.toString())' "$DATABASE_URL" "$db")" \
  node bin/birthgate.mjs migrate up >/dev/null || exit 1
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION IF NOT EXISTS pgtap; CREATE EXTENSION IF NOT EXISTS dblink;' >/dev/null || exit 1
psql -X -q -v ON_ERROR_STOP=1 -f pgtap/setup/helpers.sql >/dev/null || exit 1
if [ $# -eq 0 ]; then set -- pgtap/*.sql; fi
pg_prove --ext .sql --failures "$@"
