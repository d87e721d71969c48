#!/usr/bin/env bash
# Measures `objectd serve` and `objectd dev-cluster` (6 nodes in 3 sites,
# mutual TLS) one after the other on this machine with `objectd bench`, so
# the two sets of figures come from the same run. Extra arguments go to
# `objectd bench` (default: the large-object phase, 64 MiB objects).
# ROUNDS=N (default 1) alternates the two N times: on a virtual machine whose
# host takes freed memory back, whichever runs first after a pause pays for
# touching it again, so one round can favour either side.
#
#   bash scripts/bench-cluster.sh                       # large objects only
#   bash scripts/bench-cluster.sh --phases large,small  # more phases
#   ROUNDS=3 bash scripts/bench-cluster.sh              # alternated, three times
set -euo pipefail
cd "$(dirname "$0")/.."
OBJECTD="${OBJECTD:-.venv/bin/objectd}"
[ -x "$OBJECTD" ] || OBJECTD="$(command -v objectd)"
ROUNDS="${ROUNDS:-1}"
ARGS=("$@")
[ "${#ARGS[@]}" -gt 0 ] || ARGS=(--phases large)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/objectd-bench.XXXXXX")"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

export OBJECTD_ROOT_ACCESS_KEY=bench OBJECTD_ROOT_SECRET_KEY=bench-secret
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret

wait_for() {  # wait_for FILE PATTERN: until the log shows PATTERN
    for _ in $(seq 600); do
        grep -q "$2" "$1" && return 0
        sleep 0.1
    done
    echo "did not start: $1" >&2
    cat "$1" >&2
    return 1
}

measure() {  # measure ROUND: one run of each, in fresh folders
    local round="$1"
    echo "== objectd serve (6 drive folders, 4+2) =="
    "$OBJECTD" serve "$WORK/serve-$round" --address 127.0.0.1:9310 --log-level WARNING >"$WORK/serve-$round.log" 2>&1 &
    PIDS+=("$!")
    wait_for "$WORK/serve-$round.log" "serving S3 at"
    "$OBJECTD" bench --endpoint http://127.0.0.1:9310 --server-pid "${PIDS[0]}" --markdown "${ARGS[@]}"
    kill -TERM "${PIDS[0]}"
    wait "${PIDS[0]}" || true
    PIDS=()

    echo
    echo "== objectd dev-cluster (6 nodes in 3 sites, mutual TLS, 4+2, one gateway) =="
    "$OBJECTD" dev-cluster --nodes 6 --sites 3 --data "$WORK/cluster-$round" --address 127.0.0.1:9320 >"$WORK/cluster-$round.log" 2>&1 &
    PIDS+=("$!")
    wait_for "$WORK/cluster-$round.log" "dev cluster ready"
    # CPU of the gateway and of every node counts.
    SERVER_PIDS=()
    while read -r pid; do SERVER_PIDS+=(--server-pid "$pid"); done \
        < <(sed -n 's/^dev cluster: .* pid \([0-9]*\) at .*/\1/p' "$WORK/cluster-$round.log")
    "$OBJECTD" bench --endpoint http://127.0.0.1:9320 "${SERVER_PIDS[@]}" --markdown "${ARGS[@]}"
    kill -TERM "${PIDS[0]}"
    wait "${PIDS[0]}" || true
    PIDS=()
    rm -rf "$WORK/serve-$round" "$WORK/cluster-$round"
}

for round in $(seq "$ROUNDS"); do
    [ "$ROUNDS" -eq 1 ] || echo "#### round $round of $ROUNDS"
    measure "$round"
done
