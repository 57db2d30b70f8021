#!/usr/bin/env bash
# Run every molecule scenario in extensions/molecule (those with a
# molecule.yml), on MOLECULE_LANES sandboxes at once (default 2): the
# scenarios reset and seed the sandbox they run against, so each lane has its
# own (lane 1 is the checkout's .sandbox, lane N is .sandbox-laneN, chosen
# with POURTRAIT_SANDBOX_DIR, which sandboxctl and inventory/local read).
# Lane N's database is the Nth PostgreSQL major of MOLECULE_PG (default
# "15 17": lane 2 runs its scenarios against PostgreSQL 17, as new Supabase
# projects do; lanes past the list use the last). A scenario's output is
# printed in full when it fails, in one line when it passes. Exits non-zero
# when any scenario failed.
#   bash tests/molecule/run.sh [scenario ...]
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
ROOT=$PWD
LANES=${MOLECULE_LANES:-2}
read -r -a PG_MAJORS <<< "${MOLECULE_PG:-15 17}"
PY=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=python3

if [ $# -gt 0 ]; then
  scenarios=("$@")
else
  scenarios=()
  for dir in extensions/molecule/*/; do
    [ -f "$dir/molecule.yml" ] && scenarios+=("$(basename "$dir")")
  done
fi
[ ${#scenarios[@]} -gt 0 ] || { echo "no molecule scenarios found"; exit 1; }

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# A sandbox the developer already had up (make sandbox-up) stays up afterwards; one this run started is stopped,
# so that a test run leaves no server (nor its data directory in /tmp) behind.
was_up=0
POURTRAIT_SANDBOX_DIR="$ROOT/.sandbox" "$PY" tests/sandbox/sandboxctl.py status > /dev/null 2>&1 && was_up=1

lane_pg() {
  local i=$(($1 - 1))
  [ "$i" -lt ${#PG_MAJORS[@]} ] || i=$((${#PG_MAJORS[@]} - 1))
  echo "${PG_MAJORS[$i]}"
}

lane_dir() {
  if [ "$1" -eq 1 ]; then echo "$ROOT/.sandbox"; else echo "$ROOT/.sandbox-lane$1"; fi
}

run_lane() {
  local lane=$1; shift
  local dir; dir=$(lane_dir "$lane")
  local pg; pg=$(lane_pg "$lane")
  # the developer's own sandbox (lane 1, when it was up) keeps the major it runs
  local want=$pg
  [ "$lane" -eq 1 ] && [ "$was_up" -eq 1 ] && want=
  if ! POURTRAIT_SANDBOX_DIR="$dir" POURTRAIT_SANDBOX_PG="$want" "$PY" tests/sandbox/sandboxctl.py up \
      > "$logs/lane$lane.up" 2>&1; then
    echo "== lane $lane: the sandbox did not start"; cat "$logs/lane$lane.up"
    for s in "$@"; do echo "$s" >> "$logs/failed"; done
    return
  fi
  pg=$(POURTRAIT_SANDBOX_DIR="$dir" "$PY" tests/sandbox/sandboxctl.py status \
    | sed -n 's/^sandbox running: PostgreSQL \([0-9]*\) .*/\1/p')
  for s in "$@"; do
    local start=$SECONDS
    if (cd extensions && POURTRAIT_SANDBOX_DIR="$dir" molecule test -s "$s") > "$logs/$s.log" 2>&1; then
      echo "== molecule $s: passed in $((SECONDS - start)) s (lane $lane, PostgreSQL $pg)"
    else
      echo "== molecule $s: FAILED after $((SECONDS - start)) s (lane $lane, PostgreSQL $pg)"
      cat "$logs/$s.log"
      echo "$s" >> "$logs/failed"
    fi
  done
}

pids=()
for ((lane = 1; lane <= LANES; lane++)); do
  mine=()
  for ((i = lane - 1; i < ${#scenarios[@]}; i += LANES)); do mine+=("${scenarios[$i]}"); done
  [ ${#mine[@]} -gt 0 ] || continue
  run_lane "$lane" "${mine[@]}" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done

# The lanes' sandboxes are stopped; lane 1 (.sandbox) stays up when it was up before the run.
for ((lane = 1 + was_up; lane <= LANES; lane++)); do
  POURTRAIT_SANDBOX_DIR=$(lane_dir "$lane") "$PY" tests/sandbox/sandboxctl.py down > /dev/null 2>&1
done

if [ -s "$logs/failed" ]; then
  echo "molecule: $(wc -l < "$logs/failed") of ${#scenarios[@]} scenario(s) failed: $(tr '\n' ' ' < "$logs/failed")"
  exit 1
fi
echo "molecule: all ${#scenarios[@]} scenarios passed"
