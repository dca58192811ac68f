#!/usr/bin/env bash
# make demo: installs birthgate into the demo database and walks through demo/*.sql, printing
# every statement and its result. The cluster stays running afterwards (see the last lines).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?DATABASE_URL must be set}"
db=birthgate_demo
if [ "$(psql -X -Atc "SELECT count(*) FROM pg_database WHERE datname = '$db'" "$DATABASE_URL")" = 0 ]; then
  psql -X -q -c "CREATE DATABASE $db" "$DATABASE_URL"
fi
url="$(node -e 'const u=new URL(process.argv[1]);u.pathname="/"+process.argv[2];console.log(u.toString())' "$DATABASE_URL" "$db")"
echo "== migrations"
DATABASE_URL="$url" node bin/birthgate.mjs migrate up
echo
echo "== what exists"
psql -X -P pager=off -c '\dt+ birthgate.*' -c '\df birthgate.*' -c '\dv birthgate.*' "$url"
shopt -s nullglob
for f in demo/*.sql; do
  echo
  echo "== $f"
  psql -X -P pager=off -v ON_ERROR_STOP=1 --echo-queries -f "$f" "$url"
done
eval "$(node scripts/pg-env.mjs "$url")"
echo
echo "The demo database is still running. Connect with:"
echo "  psql '$url'"
echo "Stop it with: make demo-stop   (remove it with: make clean)"
