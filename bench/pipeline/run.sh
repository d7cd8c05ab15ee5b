#!/usr/bin/env bash
# bench/pipeline: what a deploy costs with Slipway beside the floor and the
# article's own way, measured side by side in one run (issue 2).
#
#   (a) floor    the four make steps alone in a ready directory
#   (b) article  bash: git clone --depth 1 of both repos, cp -rf, the four make steps
#                (each make step is its own `make` command, as in the article's
#                buildspec and in Slipway)
#   (c) cold     slipway run from an empty state directory
#   (d) warm     slipway run with mirrors present, settings changed to pin a newer tag
#
# On two code repositories: the demo's (small) and a generated large one
# (>= 20,000 files, >= 1,000 commits, >= 100 MB). Both repos are served by
# `git daemon` on 127.0.0.1. Prints the median of RUNS runs (default 5).
# Usage: bench/pipeline/run.sh [BUILD_DIR]   (results also in bench/out/pipeline.txt)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
slipway=$build/slipway
runs=${RUNS:-5}
# shellcheck source=../lib.sh
source "$here/../lib.sh"
work=$(mktemp -d /tmp/slipway-bench-pipeline-XXXXXX)
trap 'kill $daemon_pid 2>/dev/null || true; rm -rf "$work"' EXIT
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@slipway.invalid GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@slipway.invalid
git() { command git -c init.defaultBranch=main -c advice.detachedHead=false "$@"; }

now_ms() { date +%s%3N; }
# The four make steps as the article's buildspec runs them: four commands.
make_steps() {
  local t; for t in setup lint all-tests deploy; do make -s "$t" TARGET="$work/target" SLIPWAY_ENV=bench >/dev/null || return; done
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

mkdir -p "$work/remotes"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
command git daemon --reuseaddr --listen=127.0.0.1 --port="$port" --base-path="$work/remotes" --export-all "$work/remotes" &
daemon_pid=$!
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
url() { echo "git://127.0.0.1:$port/$1"; }

# --- the repositories -------------------------------------------------------
make_small() {
  mkdir -p "$work/small" && cd "$work/small" && git init -q
  printf 'VERSION := $(shell cat VERSION)\n.PHONY: setup lint all-tests deploy\nsetup:\n\t@echo setup $(VERSION)\nlint:\n\t@test -f settings.yaml\nall-tests:\n\t@echo tests passed\ndeploy:\n\t@mkdir -p $(TARGET) && echo $(VERSION) > $(TARGET)/$(SLIPWAY_ENV).txt\n' > Makefile
  echo 1.0.0 > VERSION; git add -A; git commit -qm v1; git tag v1.0.0
  echo 1.1.0 > VERSION; git add -A; git commit -qm v1.1; git tag -a -m v1.1.0 v1.1.0
  git clone -q --bare . "$work/remotes/small.git"
}
make_large() {
  git init -q --bare "$work/remotes/large.git"
  python3 "$here/make_large_repo.py" | git -C "$work/remotes/large.git" fast-import --quiet
  git -C "$work/remotes/large.git" repack -adq
}
make_settings() {  # $1 = tag
  rm -rf "$work/settings-work"; mkdir -p "$work/settings-work/environments/bench"; cd "$work/settings-work"; git init -q
  printf 'code:\n  ref: %s\n' "$1" > environments/bench/deploy.yaml
  echo "account: 1234" > environments/bench/settings.yaml
  git add -A; git commit -qm "pin $1"
  rm -rf "$work/remotes/settings.git"; git clone -q --bare . "$work/remotes/settings.git"
}
repin() {  # $1 = tag: a new settings commit, pushed
  cd "$work/settings-work"; printf 'code:\n  ref: %s\n' "$1" > environments/bench/deploy.yaml
  git commit -qam "pin $1"; git push -q "$work/remotes/settings.git" main
}
write_config() {  # $1 = code repo name, $2 = dir
  cat > "$2/slipway.yaml" <<YAML
state_dir: state
keep_workspaces: 1
environments:
  bench:
    settings: { url: $(url settings.git), path: environments/bench }
    code: { url: $(url "$1.git") }
    env: { TARGET: $2/target }
YAML
}

# --- the four measurements --------------------------------------------------
floor() {  # $1 = repo
  local d="$work/floor-$1"; rm -rf "$d"; git clone -q "$(url "$1.git")" "$d"; git -C "$d" checkout -q v1.1.0
  cp "$work/settings-work/environments/bench/settings.yaml" "$d/"
  for _ in $(seq "$runs"); do
    settle
    local t0; t0=$(now_ms)
    (cd "$d" && make_steps)
    echo $(( $(now_ms) - t0 ))
  done | median
}
article() {  # $1 = repo: the article's buildspec as a bash script
  for _ in $(seq "$runs"); do
    local d="$work/article"; rm -rf "$d"; mkdir -p "$d"; settle
    local t0; t0=$(now_ms)
    (cd "$d" && git clone -q --depth 1 -b main "$(url settings.git)" settings &&
      git clone -q --depth 1 -b v1.1.0 "$(url "$1.git")" code 2>/dev/null &&
      cp -rf settings/environments/bench/* code && cd code &&
      make_steps)
    echo $(( $(now_ms) - t0 ))
  done | median
}
cold() {  # $1 = repo
  for _ in $(seq "$runs"); do
    local d="$work/cold"; rm -rf "$d"; mkdir -p "$d"; write_config "$1" "$d"; settle
    local t0; t0=$(now_ms)
    (cd "$d" && "$slipway" run bench >/dev/null)
    echo $(( $(now_ms) - t0 ))
  done | median
}
warm() {  # $1 = repo: mirrors present; each run pins the other tag
  local d="$work/warm"; rm -rf "$d"; mkdir -p "$d"; write_config "$1" "$d"
  (cd "$d" && "$slipway" run bench >/dev/null)
  local tag=v1.0.0
  for _ in $(seq "$runs"); do
    tag=$([ "$tag" = v1.0.0 ] && echo v1.1.0 || echo v1.0.0)
    repin "$tag"
    # The previous run left the deletion of its predecessor's workspace to a
    # detached rm (doc/pipeline.md, step 7); it is not this run's work.
    while [[ -n "$(ls -A "$d/state/trash" 2>/dev/null)" ]]; do sleep 0.1; done
    settle
    local t0; t0=$(now_ms)
    (cd "$d" && "$slipway" run bench >/dev/null)
    echo $(( $(now_ms) - t0 ))
  done | median
}

echo "generating repositories (the large one takes a minute)..." >&2
make_small; make_large; make_settings v1.1.0
files=$(git -C "$work/remotes/large.git" ls-tree -r --name-only v1.1.0 | wc -l)
commits=$(git -C "$work/remotes/large.git" rev-list --count v1.1.0)
size=$(git -C "$work/remotes/large.git" ls-tree -r -l v1.1.0 | awk '{s+=$4} END {printf "%d", s/1048576}')
pack=$(du -sm "$work/remotes/large.git" | cut -f1)

report=$root/bench/out/pipeline.txt
mkdir -p "$(dirname "$report")"
{
  echo "bench/pipeline — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, median of $runs runs, milliseconds"
  echo "large repo: $files files, $commits commits, $size MB tree, $pack MB packed"
  printf '%-6s %10s %12s %10s %10s   %s\n' repo "(a) floor" "(b) article" "(c) cold" "(d) warm" "targets: d-a<=100 (small), d<=0.5b (large), c<=1.2b"
  for repo in small large; do
    make_settings v1.1.0
    a=$(floor $repo); b=$(article $repo); c=$(cold $repo); d=$(warm $repo)
    printf '%-6s %10s %12s %10s %10s   d-a=%s d/b=%.2f c/b=%.2f\n' $repo "$a" "$b" "$c" "$d" $((d - a)) \
      "$(echo "$d/$b" | bc -l)" "$(echo "$c/$b" | bc -l)"
  done
} | tee "$report"
