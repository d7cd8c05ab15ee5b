#!/bin/sh
# Per-entry overhead of `slipway buildspec run` (doc/buildspec.md "Performance").
#
# Runs a buildspec of N trivial entries (`echo entry I`) under /bin/sh and
# with env.shell: bash, and compares the time per entry with a bash loop
# running the same N commands: inline (no process per command), and with one
# `/bin/sh -c` per command (the cost of a fresh process, which the process
# model of CodeBuild requires). Prints the figures; never fails on timing.
#
# usage: bench/buildspec/run.sh BUILD_DIR     (N=200 and RUNS=5 by default)
set -eu
BUILD_DIR=${1:?usage: bench/buildspec/run.sh BUILD_DIR}
SLIPWAY=$(cd "$BUILD_DIR" && pwd)/slipway
N=${N:-200}
RUNS=${RUNS:-5}
TARGET_MS=5
[ -x "$SLIPWAY" ] || { echo "bench/buildspec: no slipway binary in $BUILD_DIR" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/slipway-bench-buildspec-XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/src"

write_buildspec() {  # $1 file, $2 extra env lines
  {
    echo 'version: 0.2'
    printf '%s' "$2"
    echo 'phases:'
    echo '  build:'
    echo '    commands:'
    i=1
    while [ "$i" -le "$N" ]; do
      echo "      - echo entry $i"
      i=$((i + 1))
    done
  } >"$1"
}
write_buildspec "$tmp/sh.yml" ''
write_buildspec "$tmp/bash.yml" 'env:
  shell: bash
'

now_ns() { date +%s%N; }

# best_ms COMMAND...: the fastest of RUNS runs, in milliseconds (3 decimals).
best_ms() {
  best=''
  r=0
  while [ "$r" -lt "$RUNS" ]; do
    start=$(now_ns)
    "$@" >/dev/null 2>&1 || { echo "bench/buildspec: command failed: $*" >&2; exit 1; }
    end=$(now_ns)
    elapsed=$((end - start))
    if [ -z "$best" ] || [ "$elapsed" -lt "$best" ]; then best=$elapsed; fi
    r=$((r + 1))
  done
  awk -v ns="$best" 'BEGIN { printf "%.3f", ns / 1e6 }'
}

run_sh() { "$SLIPWAY" buildspec run "$tmp/sh.yml" --src "$tmp/src"; }
run_bash() { "$SLIPWAY" buildspec run "$tmp/bash.yml" --src "$tmp/src"; }
loop_inline() { bash -c 'i=1; while [ $i -le '"$N"' ]; do echo entry $i; i=$((i+1)); done'; }
loop_fork() { bash -c 'i=1; while [ $i -le '"$N"' ]; do /bin/sh -c "echo entry $i"; i=$((i+1)); done'; }
empty_spec() {
  printf 'version: 0.2\nphases:\n  build:\n    commands: []\n' >"$tmp/empty.yml"
  "$SLIPWAY" buildspec run "$tmp/empty.yml" --src "$tmp/src"
}

t_empty=$(best_ms empty_spec)
t_sh=$(best_ms run_sh)
t_bash=$(best_ms run_bash)
t_inline=$(best_ms loop_inline)
t_fork=$(best_ms loop_fork)

awk -v n="$N" -v runs="$RUNS" -v e="$t_empty" -v sh="$t_sh" -v bs="$t_bash" -v il="$t_inline" -v fk="$t_fork" \
  -v target="$TARGET_MS" -v load="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')" -v cores="$(nproc)" '
BEGIN {
  per_sh = (sh - e) / n; per_bash = (bs - e) / n; per_il = il / n; per_fk = fk / n
  printf "buildspec per-entry benchmark: %d entries, best of %d runs, %d cores, load %s\n", n, runs, cores, load
  printf "  slipway buildspec run, /bin/sh     %8.3f ms per entry (%.0f ms total, %.0f ms fixed cost subtracted)\n", per_sh, sh, e
  printf "  slipway buildspec run, shell: bash %8.3f ms per entry (%.0f ms total)\n", per_bash, bs
  printf "  bash loop, commands inline         %8.3f ms per command (%.0f ms total)\n", per_il, il
  printf "  bash loop, one /bin/sh -c each     %8.3f ms per command (%.0f ms total)\n", per_fk, fk
  printf "  overhead per entry vs inline loop  %8.3f ms (/bin/sh), %.3f ms (bash)   target <= %d ms\n", per_sh - per_il, per_bash - per_il, target
  printf "  overhead per entry vs sh -c loop   %8.3f ms (/bin/sh), %.3f ms (bash)\n", per_sh - per_fk, per_bash - per_fk
}'
