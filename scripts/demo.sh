#!/usr/bin/env bash
# make demo: a short narrated walkthrough. Installs birthgate into the database birthgate_demo,
# then runs demo/*.sql step by step: the terminal shows what each step shows and its results;
# the full output (every statement, every row, the catalogue listing) goes to .demo/demo.log.
# Errors the demo provokes on purpose are printed as "expected error"; any other error stops it
# (psql ON_ERROR_STOP), and the last lines of the log are shown. The cluster stays running.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?DATABASE_URL must be set}"
db=birthgate_demo
log_dir=${DEMO_LOG_DIR:-.demo}
mkdir -p "$log_dir"
log="$log_dir/demo.log"
: > "$log"
width=${DEMO_WIDTH:-120}
export PSQL_PAGER='' PAGER=''
psql_opts=(-X -q -v ON_ERROR_STOP=1 -P pager=off -P format=wrapped -P columns="$width")

shopt -s nullglob
demos=(demo/*.sql)
total=$(( ${#demos[@]} + 3 ))
step() { printf '\n\033[1m[%s] %s\033[0m\n' "$1" "$2"; printf '\n==== [%s] %s\n' "$1" "$2" >> "$log"; }
say() { printf '    %s\n' "$@"; }
# terminal view of psql output: expected errors labelled, long lines cut (the log keeps them whole)
show() {
  sed -u -e 's/^psql:[^ ]*: ERROR:  /  EXPECTED ERROR (provoked on purpose): /' -e 's/^ERROR:  /  EXPECTED ERROR (provoked on purpose): /' \
         -e 's/^psql:[^ ]*: NOTICE:  /  notice: /' -e 's/^DETAIL:  /  detail: /' -e 's/^HINT:  /  hint: /' \
         -e '/^CONTEXT:  /d' -e 's/^=== \(.*\)$/\n  >> \1/' |
    cut -c1-"$width"
}
fail() {
  echo
  echo "demo: a step failed unexpectedly. The last lines of $log:" >&2
  tail -n 20 "$log" >&2
  exit 1
}

step "1/$total" "a database for the demo: $db"
if [ "$(psql -X -Atc "SELECT count(*) FROM pg_database WHERE datname = '$db'" "$DATABASE_URL")" = 0 ]; then
  psql -X -q -c "CREATE DATABASE $db" "$DATABASE_URL" >> "$log" 2>&1 || fail
  say "created"
else
  say "exists already: the walkthrough is re-runnable and continues from its state"
fi
url="$(node -e 'const u=new URL(process.argv[1]);u.pathname="/"+process.argv[2];console.log(u.toString())' "$DATABASE_URL" "$db")"

step "2/$total" "install: birthgate migrate up (each migration in its own transaction)"
DATABASE_URL="$url" node bin/birthgate.mjs migrate status >> "$log" 2>&1 || true
DATABASE_URL="$url" node bin/birthgate.mjs migrate up 2>&1 | tee -a "$log" | sed -un 's/^### MIGRATION \(.*\) (UP) ###$/    applying \1 .../p; s/^migrate up: /    done: /p; s/^migrate up: nothing to do/    nothing to do: already installed/p'
[ "${PIPESTATUS[0]}" -eq 0 ] || fail
psql "${psql_opts[@]}" -c '\dt+ birthgate.*' -c '\df birthgate.*' -c '\dv birthgate.*' "$url" >> "$log" 2>&1 || fail
say "tables, functions and views of schema birthgate: listed in $log"

n=3
for f in "${demos[@]}"; do
  # the file's header comment is the narration: first line the title, the rest what it shows
  step "$n/$total" "$(head -n 1 "$f" | sed 's/^-- *//') ($f)"
  awk 'NR > 1 && /^-- / { sub(/^-- /, "    "); print; next } NR > 1 { exit }' "$f"
  { psql "${psql_opts[@]}" -f "$f" "$url" 2>&1; echo "psql exit $?"; } | tee -a "$log" | grep -v '^psql exit' | show || true
  tail -n 1 "$log" | grep -q '^psql exit 0$' || fail
  n=$((n + 1))
done

step "$total/$total" "the operator's view: birthgate status (a probe, exit 3 on findings) and birthgate metrics (Prometheus)"
say "the same numbers as v_handoff_status, v_drift_report and v_metrics; 'birthgate metrics --textfile' feeds node_exporter"
{ DATABASE_URL="$url" node bin/birthgate.mjs status 2>&1 || true; } | tee -a "$log" | cut -c1-"$width"
echo
DATABASE_URL="$url" node bin/birthgate.mjs metrics 2>&1 | tee -a "$log" | grep -E '^birthgate_(handoff_(lag_rows|rows_waiting|rows_held_back|heartbeat_age_seconds)|event_pending_depth|permits|drift_findings)' | cut -c1-"$width" || fail

eval "$(node scripts/pg-env.mjs "$url")"
echo
echo "Done. The full output is in $log."
echo "The demo database is still running. Connect with:"
echo "  psql '$url'"
echo "  DATABASE_URL='$url' node bin/birthgate.mjs status"
echo "Stop it with: make demo-stop   (remove it with: make clean)"
