#!/usr/bin/env bash
# make bench: runs every benchmark in bench/*.ts (each prints its figures next to a baseline
# measured in the same run). BENCH=name runs one. Benchmarks are never part of make test.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?DATABASE_URL must be set (scripts/with-pg sets it)}"
shopt -s nullglob
for f in bench/*.ts; do
  name=$(basename "$f" .ts)
  if [ -n "${BENCH:-}" ] && [ "$BENCH" != "$name" ]; then continue; fi
  echo "== bench $name"
  node --import tsx "$f"
done
