#!/usr/bin/env bash
# bench/fleet: fleet mode's throughput and claim latency (issue 7; doc/fleet.md).
#
#   throughput  runs per minute with 1, 2 and 3 nodes on one PostgreSQL, 30
#               environments whose one step sleeps 1 s, every environment
#               re-triggered twice a second for DURATION seconds (default 60);
#               each node runs at most MAX_PARALLEL (default 4) runs at once, so
#               the work is bound by node capacity and should scale with nodes.
#   claim       created -> started (claimed) of the runs above, p50/p99: the
#               queueing delay under load; and of single triggers into an idle
#               fleet (IDLE_TRIGGERS, default 40), where another node's trigger
#               is seen by the claim poll (500 ms).
#
# Usage: bench/fleet/run.sh [BUILD_DIR]. Starts its own PostgreSQL (Debian's
# binaries, a temporary data directory, a free port; as `postgres` when root).
# Never fails on timing. Results also in bench/out/fleet.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
slipway=$build/slipway
duration=${DURATION:-60}
max_parallel=${MAX_PARALLEL:-4}
idle_triggers=${IDLE_TRIGGERS:-40}
envs=30
work=$(mktemp -d /tmp/slipway-bench-fleet-XXXXXX)
chmod 755 "$work"
pids=()
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  [[ -d "$work/pg" ]] && as_pg "$pg_bin/pg_ctl" -D "$work/pg" -m immediate -w stop >/dev/null 2>&1 || true
  [[ -n "${KEEP:-}" ]] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@slipway.invalid GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@slipway.invalid
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 400); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
out=$root/bench/out/fleet.txt
mkdir -p "$root/bench/out"
: > "$out"
say() { echo "$*" | tee -a "$out"; }
say "bench/fleet on $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"

# PostgreSQL of our own.
pg_port=$(free_port)
mkdir -p "$work/pg" && [[ $(id -u) == 0 ]] && chown postgres "$work/pg"
as_pg "$pg_bin/initdb" -D "$work/pg" -A trust -U slipway --no-sync -E UTF8 --locale=C >/dev/null
as_pg "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg/server.log" -w \
  -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
psql_() { psql -X -Atq -d "postgresql://slipway@127.0.0.1:$pg_port/$1" -c "$2"; }

# A code repository on git daemon.
mkdir -p "$work/remotes" "$work/code"
git -C "$work/code" init -q -b main && echo 1 > "$work/code/VERSION" && git -C "$work/code" add -A &&
  git -C "$work/code" commit -qm v1 && git -C "$work/code" tag v1
git clone -q --bare "$work/code" "$work/remotes/code.git"
gport=$(free_port)
git daemon --reuseaddr --listen=127.0.0.1 --port="$gport" --base-path="$work/remotes" --export-all "$work/remotes" \
  >/dev/null 2>&1 &
pids+=($!)
wait_port "$gport"

environments() {
  for e in $(seq 0 $((envs - 1))); do
    printf '  env-%s:\n    code: { url: "git://127.0.0.1:%s/code.git", ref: v1 }\n    steps:\n      - { name: work, run: "sleep 1" }\n' "$e" "$gport"
  done
}

# percentile FILE P: the P-th percentile of the numbers in FILE.
percentile() { sort -n "$1" | awk -v p="$2" '{a[NR]=$1} END {if (NR==0) {print "-"; exit} i=int(NR*p/100+0.999); if (i<1) i=1; print a[i]}'; }

for nodes in 1 2 3; do
  db=fleet$nodes
  psql_ postgres "CREATE DATABASE $db"
  url="postgresql://slipway@127.0.0.1:$pg_port/$db"
  ports=()
  node_pids=()
  for n in $(seq 1 "$nodes"); do
    d=$work/$db/node-$n && mkdir -p "$d"
    p=$(free_port) && ports+=("$p")
    { printf 'state_dir: state\ndatabase: %s\nmax_parallel: %s\nserver:\n  listen: 127.0.0.1:%s\nenvironments:\n' \
        "$url" "$max_parallel" "$p"; environments; } > "$d/slipway.yaml"
    [[ $n == 1 ]] && token=$(cd "$d" && "$slipway" token create --role operator --name bench 2>/dev/null)
    (cd "$d" && exec "$slipway" serve -c slipway.yaml >"$d/serve.log" 2>&1) &
    node_pids+=($!) && pids+=($!)
  done
  for p in "${ports[@]}"; do wait_port "$p" || { echo "a node did not start"; exit 1; }; done

  # Idle claim latency: one trigger at a time, to each node in turn, never two at once.
  for i in $(seq 1 "$idle_triggers"); do
    p=${ports[$(( i % nodes ))]}
    id=$(curl -s -X POST -d "{}" -H "Authorization: Bearer $token" "http://127.0.0.1:$p/api/v1/environments/env-$((i % envs))/trigger" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])')
    for _ in $(seq 100); do
      s=$(psql_ "$db" "SELECT status FROM runs WHERE id = $id")
      [[ $s != queued ]] && break
      sleep 0.02
    done
  done
  # Wait for the idle runs to end, then remember where the load starts.
  for _ in $(seq 300); do [[ $(psql_ "$db" "SELECT count(*) FROM runs WHERE status IN ('queued','running')") == 0 ]] && break; sleep 0.1; done
  psql_ "$db" "SELECT started_ms - created_ms FROM runs" > "$work/idle-$nodes"
  first_load_id=$(psql_ "$db" "SELECT coalesce(max(id), 0) FROM runs")

  # Load: every environment re-triggered twice a second (they coalesce while queued).
  start_ms=$(date +%s%3N)
  end=$(( $(date +%s) + duration ))
  while [[ $(date +%s) -lt $end ]]; do
    curls=()
    for e in $(seq 0 $((envs - 1))); do
      p=${ports[$(( e % nodes ))]}
      curl -s -o /dev/null -X POST -d "{}" -H "Authorization: Bearer $token" "http://127.0.0.1:$p/api/v1/environments/env-$e/trigger" &
      curls+=($!)
    done
    wait "${curls[@]}"
    sleep 0.5
  done
  end_ms=$(date +%s%3N)
  finished=$(psql_ "$db" "SELECT count(*) FROM runs WHERE id > $first_load_id AND status = 'succeeded' AND finished_ms BETWEEN $start_ms AND $end_ms")
  failed=$(psql_ "$db" "SELECT count(*) FROM runs WHERE id > $first_load_id AND status NOT IN ('succeeded','queued','running')")
  psql_ "$db" "SELECT started_ms - created_ms FROM runs WHERE id > $first_load_id AND started_ms > 0" > "$work/load-$nodes"
  per_min=$(echo "scale=1; $finished * 60000 / ($end_ms - $start_ms)" | bc)
  per_node=$(for n in $(seq 1 "$nodes"); do grep -c "started on this node" "$work/$db/node-$n/serve.log" || true; done | paste -sd/)
  say "$nodes node(s): $per_min runs/min ($finished succeeded in $(( (end_ms - start_ms) / 1000 )) s, $failed failed; runs started per node $per_node); ideal $(( nodes * max_parallel * 60 )) runs/min of 1 s steps at $max_parallel per node"
  say "  claim latency idle: p50 $(percentile "$work/idle-$nodes" 50) ms, p99 $(percentile "$work/idle-$nodes" 99) ms; under load (queueing included): p50 $(percentile "$work/load-$nodes" 50) ms, p99 $(percentile "$work/load-$nodes" 99) ms"
  for p in "${node_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${node_pids[@]}"; do wait "$p" 2>/dev/null || true; done
done
say "baseline: 1 node is the single-machine figure; each added node should add $(( max_parallel * 60 )) runs/min until PostgreSQL or the 2 shared cores saturate"
