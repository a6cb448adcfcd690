#!/usr/bin/env bash
# End to end with a real Streamlit app: `hush serve --apps-dir` on a free port, the seed's
# example app (e2e/streamlit/streamlit_app.py) in two ways, each with a session held open on
# Streamlit's websocket (e2e/streamlit/session.py, no browser needed) and SAVES saves through
# the API. Each save must reach the running app (st.secrets and os.environ) as a re-run of the
# same Streamlit process, not a restart.
#   1. under `hush run` (app "demo"): the instance report shows the saved version;
#   2. launched by the server (app "seed", folder <apps dir>/seed): GET /launch shows the saved
#      version applied with 0 restarts, and its kept output never shows a secret value (the
#      app prints them on every run); stopping the server stops the Streamlit process.
# Prints and writes the save -> new value times to target/e2e-streamlit-times.txt (phase 2's
# lines start with "server-launched:").
#
#   HUSH_E2E_VENV   the Python venv to use/create (default target/e2e-venv)
#   SAVES           how many saves to measure (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${HUSH_E2E_VENV:-$ROOT/target/e2e-venv}
SAVES=${SAVES:-10}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PASSWORD=e2e-streamlit-password

say() { printf 'e2e-streamlit: %s\n' "$*"; }

# ---- tools ----
if ! "$VENV/bin/python" -c 'import streamlit, websockets' 2>/dev/null; then
  say "installing streamlit and websockets into $VENV"
  [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check streamlit websockets
fi
PY=$VENV/bin/python
say "streamlit $("$PY" -c 'import streamlit; print(streamlit.__version__)')"
cargo build --quiet -p hush
HUSH=$TARGET_DIR/debug/hush

# ---- clean-up of everything started here, by PID ----
TMP=$(mktemp -d)
PIDS=()
LAUNCHED_PID=
# Stops one process started here (SIGTERM, then SIGKILL after 15 s) and forgets it.
stop_pid() {
  local pid=$1 rest=() p
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || rest+=("$p"); done
  PIDS=("${rest[@]}")
}
# True while the Streamlit the server launched still runs (a zombie or a reused pid does not
# count).
launched_alive() {
  [[ -n $LAUNCHED_PID ]] || return 1
  local stat
  stat=$(cat "/proc/$LAUNCHED_PID/stat" 2>/dev/null) || return 1
  [[ $(awk '{print $3}' <<<"${stat##*)}") != Z ]] || return 1
  tr '\0' ' ' <"/proc/$LAUNCHED_PID/cmdline" 2>/dev/null | grep -q streamlit
}
cleanup() {
  local status=$?
  # Newest first: session client, hush run (forwards SIGTERM to Streamlit), server (stops the
  # Streamlit it launched).
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    stop_pid "${PIDS[i]}"
  done
  if launched_alive; then
    say "FAILED: the server-launched Streamlit (pid $LAUNCHED_PID) outlived the server; killing it"
    kill -KILL "$LAUNCHED_PID" 2>/dev/null || true
    [[ $status -ne 0 ]] || status=1
  fi
  if [[ $status -ne 0 ]]; then
    for log in serve run session launched-session; do
      [[ -f "$TMP/$log.log" ]] && { say "---- $log.log (last lines) ----"; tail -n 30 "$TMP/$log.log"; }
    done
  fi
  rm -rf "$TMP"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Polls a command until it succeeds, for up to $1 seconds.
wait_until() {
  local seconds=$1 what=$2; shift 2
  local end=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= end)); then say "timed out waiting for $what"; return 1; fi
    sleep 0.05
  done
}

# A private home: no user secrets, config or cache leak in, nothing leaks out.
mkdir -p "$TMP/home" "$TMP/data" "$TMP/work"
export HOME=$TMP/home XDG_CONFIG_HOME=$TMP/home/.config XDG_CACHE_HOME=$TMP/home/.cache
unset HUSH_SERVER HUSH_TOKEN HUSH_APP STREAMLIT_SECRETS_FILES E2E_OUT

# ---- the server ----
HUSH_OWNER_PASSWORD=$PASSWORD "$HUSH" admin create-owner --name olivia --data-dir "$TMP/data" >/dev/null
HUSH_PORT=$(free_port)
APPS_DIR=$TMP/apps
mkdir -p "$APPS_DIR"
# Apps the server launches get its environment without HUSH_* variables: E2E_OUT reaches them.
LAUNCHED_OUT=$TMP/launched.jsonl
E2E_OUT=$LAUNCHED_OUT HUSH_LOG=warn "$HUSH" serve --listen "127.0.0.1:$HUSH_PORT" \
  --data-dir "$TMP/data" --metrics-listen off --apps-dir "$APPS_DIR" >"$TMP/serve.log" 2>&1 &
PIDS+=($!)
wait_until 30 "hush serve" grep -q "is serving on" "$TMP/serve.log"
SERVER=http://127.0.0.1:$HUSH_PORT
say "hush serve on $SERVER"

APP_TOKEN=$("$PY" e2e/streamlit/drive.py setup "$SERVER" "$PASSWORD" "$TMP/state.json")

# ---- phase 1: the app under hush run ----
ST_PORT=$(free_port)
OUT=$TMP/runs.jsonl
(
  cd "$TMP/work"
  exec env HUSH_SERVER="$SERVER" HUSH_TOKEN="$APP_TOKEN" E2E_OUT="$OUT" \
    "$HUSH" run --app demo -- "$VENV/bin/streamlit" run "$ROOT/e2e/streamlit/streamlit_app.py" \
    --server.headless true --server.port "$ST_PORT" --server.address 127.0.0.1 \
    --browser.gatherUsageStats false
) >"$TMP/run.log" 2>&1 &
PIDS+=($!)
say "hush run (pid ${PIDS[-1]}) started streamlit on port $ST_PORT"
wait_until 60 "streamlit to be healthy" "$PY" -c "
import urllib.request, sys
sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:$ST_PORT/_stcore/health', timeout=2).status == 200 else 1)"

# A session, as a browser tab would hold: the script runs in it, and re-runs on every change.
"$PY" e2e/streamlit/session.py "ws://127.0.0.1:$ST_PORT/_stcore/stream" >"$TMP/session.log" 2>&1 &
PIDS+=($!)
SESSION_PID=$!
RUN_PID=${PIDS[-2]}

# ---- saves and measurements ----
mkdir -p "$TARGET_DIR"
"$PY" e2e/streamlit/drive.py measure "$SERVER" "$TMP/state.json" "$OUT" "$SAVES" \
  "$TARGET_DIR/e2e-streamlit-times.txt"

if grep -q "hush_app_" "$TMP/runs.jsonl"; then
  say "FAILED: the app token reached the app"; exit 1
fi
say "phase 1 (hush run) passed"
# One Streamlit at a time on a small machine: phase 2's times are its own.
stop_pid "$SESSION_PID"
stop_pid "$RUN_PID"

# ---- phase 2: the app launched by the server ----
mkdir -p "$APPS_DIR/seed"
cp e2e/streamlit/streamlit_app.py "$APPS_DIR/seed/streamlit_app.py"
ST2_PORT=$(free_port)
LAUNCHED_PID=$("$PY" e2e/streamlit/drive.py launch "$SERVER" "$TMP/state.json" seed seed "$ST2_PORT" \
  "$VENV/bin/streamlit" run streamlit_app.py --browser.gatherUsageStats false \
  --server.address 127.0.0.1)
say "the server launched streamlit (pid $LAUNCHED_PID) on port $ST2_PORT"
"$PY" e2e/streamlit/session.py "ws://127.0.0.1:$ST2_PORT/_stcore/stream" \
  >"$TMP/launched-session.log" 2>&1 &
PIDS+=($!)
SESSION_PID=$!
"$PY" e2e/streamlit/drive.py measure "$SERVER" "$TMP/state.json" "$LAUNCHED_OUT" "$SAVES" \
  "$TARGET_DIR/e2e-streamlit-times.txt" --app seed --launched --label "server-launched: "
if "$PY" -c '
import json, sys
for line in open(sys.argv[1]):
    extra = [k for k in json.loads(line)["hush_env"] if k != "HUSH_SECRETS_FILE"]
    if extra:
        sys.exit(f"HUSH_ variables reached the launched app: {extra}")
' "$LAUNCHED_OUT"; then :; else say "FAILED: the server leaked its own variables"; exit 1; fi

# Stopping the server stops the app it launched.
stop_pid "$SESSION_PID"
SERVE_PID=${PIDS[0]}
stop_pid "$SERVE_PID"
for _ in $(seq 50); do launched_alive || break; sleep 0.1; done
if launched_alive; then
  say "FAILED: the launched Streamlit (pid $LAUNCHED_PID) still runs after the server stopped"
  exit 1
fi
say "the server stopped; its Streamlit (pid $LAUNCHED_PID) is gone"
say "passed; times written to $TARGET_DIR/e2e-streamlit-times.txt"
