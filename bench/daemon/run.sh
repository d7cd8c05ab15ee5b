#!/usr/bin/env bash
# bench/daemon: the always-on engine's figures beside their targets and
# baselines, measured in one run (issue 5; doc/daemon.md "Performance").
#
#   latency  webhook POST -> the first step's process start, p50/p99 over N
#            triggers (default 200), beside Debian's `webhook` tool running a
#            script (the floor for "HTTP in, process out"). Targets p50 <= 20 ms,
#            p99 <= 100 ms.
#   polling  1,000 environments over 20 settings repositories at a 10 s
#            interval: ls-remote calls per cycle (must be 20), daemon CPU
#            (<= 5 % of one core), RSS (<= 50 MB).
#   idle     RSS with 10 environments (<= 15 MB).
#   fan-out  a step printing 1 GiB with two live SSE readers: throughput
#            (>= 80 % of `cat` into a file), daemon RSS (<= 30 MB).
#
# Usage: bench/daemon/run.sh [BUILD_DIR]   (env: TRIGGERS=200, POLL_SECONDS=60,
# FANOUT_BYTES=1073741824, FANOUT_ROUNDS=3, SKIP="latency polling idle fanout" to skip parts)
# Never fails on timing. Results also in bench/out/daemon.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../lib.sh
source "$here/../lib.sh"
build=$(cd "${1:-$root/build}" && pwd)
slipway=$build/slipway
triggers=${TRIGGERS:-200}
poll_seconds=${POLL_SECONDS:-60}
fanout_bytes=${FANOUT_BYTES:-1073741824}
skip=${SKIP:-}
work=$(mktemp -d /tmp/slipway-bench-daemon-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  [[ -n "${KEEP:-}" ]] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@slipway.invalid GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@slipway.invalid
git() { command git -c init.defaultBranch=main "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
# utime+stime of the process itself, and of its waited-for children (git), in clock ticks.
cpu_self() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cpu_children() { awk '{print $16 + $17}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
out=$root/bench/out/daemon.txt
mkdir -p "$root/bench/out"
: > "$out"
say() { echo "$*" | tee -a "$out"; }

mkdir -p "$work/remotes"
gport=$(free_port)
command git daemon --reuseaddr --listen=127.0.0.1 --port="$gport" --base-path="$work/remotes" --export-all \
  "$work/remotes" >/dev/null 2>&1 &
pids+=($!)
wait_port "$gport"
url() { echo "git://127.0.0.1:$gport/$1"; }

# serve DIR: starts slipway serve in DIR, sets $serve_pid, waits for /healthz.
serve() {
  (cd "$1" && exec "$slipway" serve -c slipway.yaml >"$1/serve.log" 2>&1) &
  serve_pid=$!
  pids+=("$serve_pid")
  local port
  port=$(awk -F: '/listen:/ {print $NF}' "$1/slipway.yaml")
  wait_port "$port" || { echo "slipway serve did not start:"; cat "$1/serve.log"; exit 1; }
}
stop() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

say "bench/daemon on $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"

# --- latency ------------------------------------------------------------------
if [[ " $skip " != *" latency "* ]]; then
  d=$work/latency && mkdir -p "$d/out" "$d/settings"
  (cd "$d/settings" && git init -q && mkdir -p environments/bench && echo 0 > environments/bench/n &&
    git add -A && git commit -qm 0)
  for i in $(seq "$triggers"); do
    (cd "$d/settings" && echo "$i" > environments/bench/n && git commit -qam "$i" && git rev-parse HEAD) >> "$d/commits"
  done
  git init -q --bare "$work/remotes/latency.git"
  git -C "$d/settings" push -q "$work/remotes/latency.git" "$(git -C "$d/settings" rev-list --max-parents=0 HEAD):refs/heads/main"
  echo "bench-secret" > "$d/secret"
  port=$(free_port)
  cat > "$d/slipway.yaml" <<YAML
state_dir: state
server:
  listen: 127.0.0.1:$port
  webhooks:
    generic: { secret_file: secret }
environments:
  bench:
    settings: { url: $(url latency.git), path: environments/bench }
    env: { OUT: $d/out }
    triggers:
      push: { poll: 0, paths: any }
    steps:
      - { name: mark, run: 'date +%s%N > "\$OUT/\$SLIPWAY_RUN_ID"' }
YAML
  token=$(cd "$d" && "$slipway" token create --role viewer --name bench 2>/dev/null)
  # The second floor: `git fetch` of the one new commit a push brings.
  git init -q --bare "$work/remotes/latency-fetch.git"
  git -C "$d/settings" push -q "$work/remotes/latency-fetch.git" "$(git -C "$d/settings" rev-list --max-parents=0 HEAD):refs/heads/main"
  # The first floor: Debian's `webhook` running a script.
  tool_url=- w=$work/webhook-tool
  if command -v webhook >/dev/null; then
    mkdir -p "$w/out"
    printf '#!/bin/sh\ndate +%%s%%N > "%s/$1"\n' "$w/out" > "$w/mark.sh" && chmod +x "$w/mark.sh"
    cat > "$w/hooks.json" <<JSON
[{"id": "bench", "execute-command": "$w/mark.sh", "command-working-directory": "$w",
  "pass-arguments-to-command": [{"source": "payload", "name": "id"}]}]
JSON
    wport=$(free_port)
    webhook -hooks "$w/hooks.json" -ip 127.0.0.1 -port "$wport" >"$w/webhook.log" 2>&1 &
    pids+=($!)
    wait_port "$wport"
    tool_url="http://127.0.0.1:$wport/hooks/bench"
  fi
  serve "$d"
  # Each trigger through Slipway, then through both floors, back to back.
  lat=$(python3 "$here/latency.py" "http://127.0.0.1:$port/hooks/generic" bench-secret "$(url latency.git)" \
    "$d/commits" "$d/out" "$triggers" "$token" "$d/settings" "$work/remotes/latency.git" \
    "$(url latency-fetch.git)" "$work/remotes/latency-fetch.git" "$d/fetch-mirror.git" "$tool_url" "$w/out")
  stop "$serve_pid"
  part() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }' <<<"$lat"; }
  say ""
  say "trigger latency, webhook POST -> first step process start, $triggers triggers, paired (ms):"
  say "  slipway serve   $(part slipway)      target p50 <= 20, p99 <= 100"
  say "  webhook tool    $(part tool)      (Debian 'webhook' running a script: the floor for HTTP in, process out)"
  say "  git fetch       $(part fetch)      (push, then git fetch of that one commit: the floor for getting it)"
  say "  slipway's own   $(part own)      (per trigger: slipway minus both floors, measured right after it)"
  say "  (queue_*: POST -> run claimed by the dispatcher, which includes fetching the announced commit; the rest is"
  say "   the run: store writes, resolving the head and pin, writing out the settings folder, starting the step)"
  [[ "$tool_url" == - ]] && say "  (webhook not installed: apt-get install webhook)"
fi

# --- polling ------------------------------------------------------------------
if [[ " $skip " != *" polling "* ]]; then
  d=$work/polling && mkdir -p "$d"
  envs=""
  seed=""
  for r in $(seq 0 19); do
    s=$d/src-$r && mkdir -p "$s" && (cd "$s" && git init -q)
    for e in $(seq "$r" 20 999); do
      mkdir -p "$s/environments/env$e" && echo "env: $e" > "$s/environments/env$e/settings.yaml"
    done
    (cd "$s" && git add -A && git commit -qm init)
    git clone -q --bare "$s" "$work/remotes/settings-$r.git"
    head=$(git -C "$s" rev-parse HEAD)
    for e in $(seq "$r" 20 999); do
      envs+="  env$e:
    settings: { url: $(url settings-$r.git), path: environments/env$e }
    triggers: { push: { poll: 10s } }
    steps: [ { name: deploy, run: 'true' } ]
"
      seed+="INSERT INTO environment_state (environment, paused, held_run_id, paused_by, paused_ms, evaluated_commit, schedule_ms) VALUES ('env$e', 0, 0, '', 0, '$head', 0);"
    done
  done
  port=$(free_port)
  printf 'state_dir: state\nserver:\n  listen: 127.0.0.1:%s\nenvironments:\n%s' "$port" "$envs" > "$d/slipway.yaml"
  token=$(cd "$d" && "$slipway" token create --role viewer --name bench 2>/dev/null)
  # Every environment has already evaluated its head: the steady state, where
  # a cycle finds nothing new (the first poll would otherwise queue 1,000
  # first deployments).
  printf 'BEGIN; %s COMMIT;' "$seed" | sqlite3 "$d/state/slipway.db"
  serve "$d"
  sleep 15  # the first cycle and start-up
  polls() { curl -s "http://127.0.0.1:$port/metrics" | awk '/^slipway_polls_total/ {s += $2} END {print s + 0}'; }
  p0=$(polls); c0=$(cpu_self "$serve_pid"); k0=$(cpu_children "$serve_pid"); t0=$(date +%s.%N)
  sleep "$poll_seconds"
  p1=$(polls); c1=$(cpu_self "$serve_pid"); k1=$(cpu_children "$serve_pid"); t1=$(date +%s.%N)
  rss=$(rss_kb "$serve_pid"); hwm=$(hwm_kb "$serve_pid")
  runs=$(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/runs?limit=5" |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["runs"]))')
  stop "$serve_pid"
  read -r per_cycle self_pct child_pct < <(python3 -c "
el = $t1 - $t0
print('%.1f %.2f %.2f' % (($p1 - $p0) / (el / 10.0), 100.0 * ($c1 - $c0) / $hz / el, 100.0 * ($k1 - $k0) / $hz / el))")
  say ""
  say "polling, 1,000 environments over 20 repositories every 10 s, measured over ${poll_seconds} s:"
  say "  ls-remote calls per cycle   $per_cycle      target 20"
  say "  daemon CPU                  ${self_pct} % of one core (its git children: ${child_pct} %)      target <= 5 %"
  say "  daemon RSS                  $((rss / 1024)) MB (peak $((hwm / 1024)) MB)      target <= 50 MB"
  say "  runs started                $runs      (expected 0: nothing changed)"
fi

# --- idle ---------------------------------------------------------------------
if [[ " $skip " != *" idle "* ]]; then
  d=$work/idle && mkdir -p "$d/src"
  (cd "$d/src" && git init -q && for e in $(seq 0 9); do mkdir -p environments/env$e; echo $e > environments/env$e/f; done &&
    git add -A && git commit -qm init)
  git clone -q --bare "$d/src" "$work/remotes/idle.git"
  port=$(free_port)
  {
    printf 'state_dir: state\nserver:\n  listen: 127.0.0.1:%s\nenvironments:\n' "$port"
    for e in $(seq 0 9); do
      printf '  env%s:\n    settings: { url: %s, path: environments/env%s }\n    triggers: { push: { poll: 60s } }\n    steps: [ { name: deploy, run: "true" } ]\n' \
        "$e" "$(url idle.git)" "$e"
    done
  } > "$d/slipway.yaml"
  head=$(git -C "$d/src" rev-parse HEAD)
  (cd "$d" && "$slipway" token create --role viewer --name bench >/dev/null 2>&1)
  sqlite3 "$d/state/slipway.db" "BEGIN; $(for e in $(seq 0 9); do echo "INSERT INTO environment_state (environment, paused, held_run_id, paused_by, paused_ms, evaluated_commit, schedule_ms) VALUES ('env$e', 0, 0, '', 0, '$head', 0);"; done) COMMIT;"
  serve "$d"
  sleep 10
  rss=$(rss_kb "$serve_pid")
  anon=$(awk '/^RssAnon/ {print $2}' "/proc/$serve_pid/status")
  pss=$(awk '/^Pss:/ {print $2}' "/proc/$serve_pid/smaps_rollup")
  threads=$(ls "/proc/$serve_pid/task" | wc -l)
  stop "$serve_pid"
  # The floor: the same binary and shared libraries, loaded and doing nothing.
  floor=$( { /usr/bin/time -f %M "$slipway" --version >/dev/null; } 2>&1 | tail -1)
  mb() { echo "$(($1 / 1024)).$(( ($1 % 1024) * 10 / 1024 ))"; }
  say ""
  say "idle, 10 environments polled every 60 s, after 10 s:"
  say "  daemon RSS   $(mb "$rss") MB ($threads threads; anonymous $(mb "$anon") MB, PSS $(mb "$pss") MB)      target <= 15 MB"
  say "  floor        $(mb "$floor") MB: 'slipway --version', the same binary and libraries loaded, doing nothing"
fi

# --- log fan-out --------------------------------------------------------------
if [[ " $skip " != *" fanout "* ]]; then
  d=$work/fanout && mkdir -p "$d/src/environments/fanout"
  line=$(printf 'x%.0s' $(seq 99))  # 99 characters + newline: 100-byte lines
  gen="yes $line | head -c $fanout_bytes"
  (cd "$d/src" && git init -q && echo x > environments/fanout/f && git add -A && git commit -qm init)
  git clone -q --bare "$d/src" "$work/remotes/fanout.git"
  # The floor: the same output through cat into a file, measured before each
  # slipway run (the machine's load moves it by 2x); the median is the baseline.
  cat_s=()
  # Every measured run starts from the same memory: earlier runs' files
  # deleted and, where allowed (root), the page cache dropped. On this kind of
  # VM, writing a gigabyte into fresh page cache costs far more once earlier
  # runs' gigabytes fill memory (the same step ran at 148 and 388 MB/s).
  fresh_memory() {
    rm -f "$d/cat.out" "$d"/reader-*.out "$d"/state/logs/fanout/*.log
    settle
  }
  cat_once() {
    local c0 c1
    fresh_memory
    c0=$(date +%s.%N); sh -c "$gen | cat > '$d/cat.out'"; c1=$(date +%s.%N)
    cat_s+=("$(python3 -c "print($c1 - $c0)")")
    rm -f "$d/cat.out"
  }
  port=$(free_port)
  cat > "$d/slipway.yaml" <<YAML
state_dir: state
keep_workspaces: 0
server:
  listen: 127.0.0.1:$port
environments:
  fanout:
    settings: { url: $(url fanout.git), path: environments/fanout }
    steps:
      - { name: print, run: "$gen" }
YAML
  token=$(cd "$d" && "$slipway" token create --role operator --name bench 2>/dev/null)
  auth="Authorization: Bearer $token"
  # fanout_run READERS RUN_ID [PREFIX]: one run with that many live readers,
  # each started through PREFIX (a scheduling class); sets step_ms, readers_s,
  # got, ended. The wait polls once a second with curl and grep only: a
  # poller that starts python every 200 ms costs the step a tenth of a core.
  fanout_run() {
    local n=$1 id=$2 prefix=${3:-} r0 r1 i
    local -a readers=()
    fresh_memory
    curl -s -d '' -H "$auth" "http://127.0.0.1:$port/api/v1/environments/fanout/trigger" >/dev/null
    r0=$(date +%s.%N)
    for ((i = 1; i <= n; i++)); do
      $prefix curl -sN -H "$auth" "http://127.0.0.1:$port/api/v1/runs/$id/log?follow=1" -o "$d/reader-$i.out" &
      readers+=($!)
    done
    while curl -s -H "$auth" "http://127.0.0.1:$port/api/v1/runs/$id" | grep -qE '"status": ?"(queued|running)"'; do
      sleep 1
    done
    ((${#readers[@]})) && wait "${readers[@]}"
    r1=$(date +%s.%N)
    readers_s=$(python3 -c "print('%.1f' % ($r1 - $r0))")
    step_ms=$(curl -s -H "$auth" "http://127.0.0.1:$port/api/v1/runs/$id" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["steps"][0]["duration_ms"])')
    log_bytes=$(stat -c %s "$d/state/logs/fanout/$id.log")
    got=0 ended=0
    if ((n > 0)); then
      got=$(grep -c '^data: ' "$d/reader-1.out" || true)
      ended=$(grep -c '^event: end' "$d/reader-$n.out" || true)
      rm -f "$d"/reader-*.out
    fi
  }
  serve "$d"
  # Rounds of: cat, no reader, cat, readers at nice 10, cat, readers in
  # SCHED_IDLE (each slipway run beside the cat just before it), then cat.
  # Medians over the rounds: one run's figure moves by 15 % with the machine.
  rounds=${FANOUT_ROUNDS:-3}
  alone_ms=() nice_ms=() idle_ms=() readers_report=()
  id=0
  for ((round = 1; round <= rounds; round++)); do
    cat_once; fanout_run 0 $((++id)); alone_ms+=("$step_ms")
    cat_once; fanout_run 2 $((++id)) "nice -n 10"; nice_ms+=("$step_ms")
    readers_report+=("nice 10: ${readers_s} s, reader 1 got $got lines, reader 2 end event $ended")
    cat_once; fanout_run 2 $((++id)) "chrt --idle 0"; idle_ms+=("$step_ms")
    readers_report+=("idle: ${readers_s} s, reader 1 got $got lines, reader 2 end event $ended")
  done
  cat_once
  peak=$(hwm_kb "$serve_pid")
  stop "$serve_pid"
  list() { local IFS=,; echo "$*"; }
  fanout_report=$(python3 -c "
import statistics
b = $fanout_bytes / 1048576.0
cat = [b / t for t in [$(list "${cat_s[@]}")]]
floor = statistics.median(cat)
print('  cat into a file          %.0f MB/s (median of %d, one before each slipway run and one at the end: %s)'
      % (floor, len(cat), ', '.join('%.0f' % c for c in cat)))
for name, ms, note in (('no reader', [$(list "${alone_ms[@]}")], ''),
                       ('2 readers', [$(list "${nice_ms[@]}")], '      target >= 80 %   (readers: curl at nice 10)'),
                       ('2 readers', [$(list "${idle_ms[@]}")],
                        '      target >= 80 %   (readers: curl in SCHED_IDLE, standing for browsers on other machines)')):
    mbs = [b / (m / 1000.0) for m in ms]
    print('  slipway step, %s  %.0f MB/s = %.0f %% of cat (runs: %s)%s'
          % (name, statistics.median(mbs), 100.0 * statistics.median(mbs) / floor,
             ', '.join('%.0f' % (100.0 * x / floor) for x in mbs), note))
")
  say ""
  dropped="page cache dropped before each run"
  [[ -w /proc/sys/vm/drop_caches ]] || dropped="page cache NOT dropped (not root): figures move more"
  say "log fan-out, a step printing $((fanout_bytes / 1048576)) MiB of 100-byte lines, two live SSE readers, $rounds rounds ($dropped):"
  say "$fanout_report"
  say "  daemon peak RSS          $((peak / 1024)) MB (VmHWM)      target <= 30 MB"
  say "  readers (of $((fanout_bytes / 100)) lines), time from the trigger to the end event:"
  for r in "${readers_report[@]}"; do say "    $r"; done
  say "  log file                 $((log_bytes / 1048576)) MiB (stamped lines)"
fi
