#!/bin/sh
# The dashboard's browser tests, as ctest runs them (test browser_dashboard):
#   tests/browser/run.sh PATH/TO/slipway ARTIFACTS_DIR
# Needs Debian's chromium and the npm packages of this folder (`make setup`
# installs both; offline once installed).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 2 ] || { echo "usage: $0 SLIPWAY_BINARY ARTIFACTS_DIR" >&2; exit 2; }
[ -x /usr/bin/chromium ] || { echo "browser tests: /usr/bin/chromium is missing (run 'make setup')" >&2; exit 1; }
if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "browser tests: installing npm packages (npm ci)" >&2
  npm ci --prefix "$here" --no-audit --no-fund --prefer-offline && cp "$here/package-lock.json" "$here/node_modules/.slipway-lock.json"
fi
mkdir -p "$2"
binary=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
artifacts=$(cd "$2" && pwd)
cd "$here"
SLIPWAY_BINARY=$binary ARTIFACTS_DIR=$artifacts exec node --test --test-reporter=spec dashboard.test.mjs
