#!/usr/bin/env bash
# bench/dashboard: first meaningful paint of the overview with 200
# environments and 10,000 runs (target <= 1 s), beside the same page with 1
# environment (issue 6; doc/performance.md). Never fails on timing.
# Usage: bench/dashboard/run.sh [BUILD_DIR]   (env: ENVS, RUNS, LOADS)
# Results also in bench/out/dashboard.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
[ -d "$root/tests/browser/node_modules/playwright-core" ] || npm ci --prefix "$root/tests/browser" --no-audit --no-fund
mkdir -p "$root/bench/out"
SLIPWAY_BINARY="$build/slipway" node "$here/paint.mjs" | tee "$root/bench/out/dashboard.txt"
