#!/usr/bin/env bash
# Instructions per read, counted by valgrind's callgrind (repeatable whatever else the machine
# does, unlike a timed load): hush serving GET /apps/{app}/secrets with an app token, and the bare
# hyper floor (hush-bench floor) answering the same body, both over one kept-alive connection.
# Each server runs twice, with N1 and N2 requests; the difference divided by N2 - N1 is the cost
# of one request without start-up. Needs a release build (cargo build --release -p hush -p hush-bench).
#
#   bench/instructions.sh [N1 N2]      prints one line per server, and the top functions of hush
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${1:-200}
N2=${2:-1200}
target="${CARGO_TARGET_DIR:-target}/release"
work=$(mktemp -d /tmp/hush-instr.XXXXXX)
[[ "${KEEP:-0}" == 1 ]] && echo "keeping $work" || trap 'rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 600); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.2; done; return 1; }

# GET PATH N times over one kept-alive connection, with an optional bearer token.
drive() { # PORT PATH N [TOKEN]
  python3 - "$@" <<'EOF'
import http.client, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
headers = {"Authorization": f"Bearer {sys.argv[4]}"} if len(sys.argv) > 4 else {}
c = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(n):
    c.request("GET", path, headers=headers)
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
EOF
}

total_ir() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ && !n++ {gsub(",","",$1); print $1}'; }

hush_run() { # N OUT
  local port data
  port=$(free_port); data="$work/data-$1"
  HUSH_OWNER_PASSWORD=instructions-password "$target/hush" admin create-owner --name olivia --data-dir "$data" >/dev/null
  HUSH_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$2" "$target/hush" serve \
    --listen "127.0.0.1:$port" --metrics-listen off --data-dir "$data" 2>"$work/hush-$1.log" &
  local pid=$!
  wait_http "http://127.0.0.1:$port/api/v1/health"
  local pat token
  pat=$(curl -fsS -X POST "http://127.0.0.1:$port/api/v1/auth/token" -H 'Content-Type: application/json' \
    --data '{"name":"olivia","password":"instructions-password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  local doc
  doc=$(python3 -c 'import json; print(json.dumps("\n".join(f"key_{i:02} = \"value-{i:02}-abcdefghijklmnopqrstuvwxyz\"" for i in range(10))))')
  curl -fsS -X POST "http://127.0.0.1:$port/api/v1/apps" -H "Authorization: Bearer $pat" -H 'Content-Type: application/json' \
    --data "{\"name\":\"read10\",\"toml\":$doc}" >/dev/null
  token=$(curl -fsS -X POST "http://127.0.0.1:$port/api/v1/tokens" -H "Authorization: Bearer $pat" -H 'Content-Type: application/json' \
    --data '{"kind":"app","name":"bench","app":"read10"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  drive "$port" /api/v1/apps/read10/secrets "$1" "$token"
  kill -INT "$pid"; wait "$pid" || true
}

floor_run() { # N OUT
  local port
  port=$(free_port)
  valgrind --tool=callgrind --callgrind-out-file="$2" "$target/hush-bench" floor --listen "127.0.0.1:$port" \
    >"$work/floor-$1.log" 2>&1 &
  local pid=$!
  wait_http "http://127.0.0.1:$port/"
  drive "$port" / "$1"
  # A background job ignores SIGINT in a script, and the floor has no handler of its own.
  kill -TERM "$pid"; wait "$pid" || true
}

for server in hush floor; do
  "${server}_run" "$N1" "$work/$server-$N1.out"
  "${server}_run" "$N2" "$work/$server-$N2.out"
  a=$(total_ir "$work/$server-$N1.out"); b=$(total_ir "$work/$server-$N2.out")
  echo "$server: $(( (b - a) / (N2 - N1) )) instructions per read"
done
callgrind_annotate --inclusive=no "$work/hush-$N2.out" 2>/dev/null | sed -n '/Ir.*file:function/,$p' | head -40 || true
