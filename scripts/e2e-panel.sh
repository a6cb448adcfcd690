#!/usr/bin/env bash
# Browser tests of hush's web panel: builds hush, installs what the tests need (Debian's
# Chromium, playwright-core and axe-core from npm; no browser download), and runs e2e/panel/tests
# with node's test runner. Each test file starts its own `hush serve` on a free port with a fresh
# data directory; every server's PID is recorded and killed when this script exits.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [ ! -x /usr/bin/chromium ]; then
  echo "e2e-panel: installing Chromium from Debian" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "e2e-panel: /usr/bin/chromium is missing; run as root or install it (apt-get install chromium)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "e2e-panel: node and npm are needed (apt-get install nodejs npm)" >&2
  exit 1
fi

echo "e2e-panel: building hush" >&2
cargo build -p hush

# The OpenID provider the single sign-on test signs in with (oidc-provider from npm).
(cd "$ROOT/e2e/oidc" && npm ci --no-audit --no-fund --loglevel=error)

cd "$ROOT/e2e/panel"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi

PID_FILE="$(mktemp -t hush-e2e-pids.XXXXXX)"
cleanup() {
  # Every hush serve the tests started, by PID (normally already stopped by the tests).
  while read -r pid; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done <"$PID_FILE"
  rm -f "$PID_FILE"
}
trap cleanup EXIT INT TERM

export HUSH_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/hush"
export E2E_PID_FILE="$PID_FILE"
# Screenshots go to target/ so a test run changes no tracked file; HUSH_SCREENSHOTS=docs/screenshots refreshes the README's.
export HUSH_SCREENSHOTS="${HUSH_SCREENSHOTS:-$ROOT/target/screenshots}"
# axe-core's findings at every page state the tests check (any serious or critical one fails
# its test); summarised at the end.
export HUSH_A11Y_REPORT="${HUSH_A11Y_REPORT:-$ROOT/target/a11y-report.jsonl}"
mkdir -p "$(dirname "$HUSH_A11Y_REPORT")"
rm -f "$HUSH_A11Y_REPORT"
status=0
node --test --test-concurrency=1 tests/ || status=$?
node lib/a11y-summary.js
exit "$status"
