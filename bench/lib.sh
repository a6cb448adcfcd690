# bench/lib.sh: helpers for scripts/bench (sourced). Every process started here is recorded by
# PID in $WORK/pids and stopped by that PID (TERM, then KILL after 5 s) in stop_all.

log() { printf '# %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# record: append one result line (JSON) to the results file.
record() { printf '%s\n' "$1" >>"${RESULTS}"; }

# results_from CMD...: run CMD, echo its output to stderr, keep its RESULT lines.
results_from() {
  local out
  out=$("$@") || { printf '%s\n' "${out}" >&2; return 1; }
  printf '%s\n' "${out}" | grep -v '^RESULT ' >&2 || true
  printf '%s\n' "${out}" | sed -n 's/^RESULT //p' | while IFS= read -r line; do record "${line}"; done
}

track() { echo "$1 $2" >>"${WORK}/pids"; }

stop_pid() {
  local pid=$1 name=${2:-process}
  [[ -n "${pid}" ]] || return 0
  if kill -0 "${pid}" 2>/dev/null; then
    kill "${pid}" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "${pid}" 2>/dev/null; then kill -9 "${pid}" 2>/dev/null || true; fi
    log "stopped ${name} (pid ${pid})"
  fi
}

stop_all() {
  [[ -f "${WORK}/pids" ]] || return 0
  # newest first: runners before the servers they talk to
  tac "${WORK}/pids" | while read -r pid name; do stop_pid "${pid}" "${name}"; done
  : >"${WORK}/pids"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

wait_http() { # URL PID LOGFILE
  for _ in $(seq 1 200); do
    curl -sf -o /dev/null "$1" && return 0
    kill -0 "$2" 2>/dev/null || { tail -20 "$3" >&2; die "server (pid $2) exited; log: $3"; }
    sleep 0.05
  done
  tail -20 "$3" >&2
  die "no answer from $1 after 10 s"
}

# start_hush NAME PORT DATADIR [serve args...]: creates the owner, starts `hush serve`, logs in.
# Sets HPID (server pid), HFRESH_KB (its RSS 1 s after start, before any sign-in) and HPAT
# (a personal access token of the owner: one Argon2 password check).
start_hush() {
  local name=$1 port=$2 dir=$3
  shift 3
  mkdir -p "${dir}"
  HUSH_OWNER_PASSWORD="${OWNER_PASSWORD}" "${HUSH}" admin create-owner --name bench \
    --data-dir "${dir}" "$@" >/dev/null
  "${HUSH}" serve --listen "127.0.0.1:${port}" --data-dir "${dir}" --metrics-listen off "$@" \
    >"${WORK}/${name}.log" 2>&1 &
  HPID=$!
  track "${HPID}" "hush-${name}"
  wait_http "http://127.0.0.1:${port}/api/v1/health" "${HPID}" "${WORK}/${name}.log"
  sleep 1
  HFRESH_KB=$(rss_kb "${HPID}") # before any sign-in
  HPAT=$(HUSH_BENCH_PASSWORD="${OWNER_PASSWORD}" "${HBENCH}" login \
    --server "http://127.0.0.1:${port}" --user bench)
  log "hush ${name} pid ${HPID} on 127.0.0.1:${port} ($(head -1 "${WORK}/${name}.log" | sed 's/.*(\(.*\))/\1/'))"
}

# seed_hush URL PAT APP KEYS [--with-value]: prints an app token for APP.
seed_hush() {
  HUSH_BENCH_PAT=$2 "${HBENCH}" seed --server "$1" --app "$3" --keys "$4" "${@:5}"
}

# start_bao PORT: OpenBao dev server (in memory) on 127.0.0.1, as ../shared/bench/openbao.sh
# starts it. Sets BPID and BFRESH_KB (RSS 1 s after start).
start_bao() {
  local port=$1
  "${BAO}" server -dev -dev-listen-address="127.0.0.1:${port}" -dev-root-token-id=root \
    -dev-no-store-token -log-level=warn >"${WORK}/bao.log" 2>&1 &
  BPID=$!
  track "${BPID}" openbao
  wait_http "http://127.0.0.1:${port}/v1/sys/health" "${BPID}" "${WORK}/bao.log"
  sleep 1
  BFRESH_KB=$(rss_kb "${BPID}")
  log "openbao pid ${BPID} on 127.0.0.1:${port}"
}

# seed_bao URL PATH KEYS: a KV v2 secret with the generated keys (string values, as hush's).
# OpenBao refuses JSON bodies of more than 1,000 strings by default, so larger secrets are
# written as a POST of the first 250 keys and merge PATCHes of 250 more each.
# Retries for a few seconds: the dev server answers health checks before its KV v2 mount is ready.
seed_bao() {
  local start method ctype body ok
  for ((start = 0; start < $3; start += 250)); do
    method=POST ctype=application/json
    ((start > 0)) && method=PATCH ctype=application/merge-patch+json
    body=$(python3 -c 'import json, sys; a, n = int(sys.argv[1]), int(sys.argv[2]); print(json.dumps({"data": {f"key_{i:05d}": f"v{i:05d}-abcdefghijklmnopqrstuvwxyz0" for i in range(a, min(n, a + 250))}}))' "${start}" "$3")
    ok=0
    for _ in $(seq 1 100); do
      if printf '%s' "${body}" | curl -sf -X "${method}" -H 'X-Vault-Token: root' -H "Content-Type: ${ctype}" \
        --data-binary @- "$1/v1/secret/data/$2" >/dev/null; then
        ok=1
        break
      fi
      sleep 0.1
    done
    ((ok)) || die "could not write secret/$2 to OpenBao"
  done
  local got
  got=$(curl -sf -H 'X-Vault-Token: root' "$1/v1/secret/data/$2" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["data"]["data"]))')
  [[ "${got}" == "$3" ]] || die "OpenBao secret/$2 has ${got} keys, not $3"
}

# run_wrk META THREADS CONNS LUA URL [env...]: one bounded wrk run; records its RESULT line.
run_wrk() {
  local meta=$1 t=$2 c=$3 lua=$4 url=$5
  shift 5
  local out
  out=$(env BENCH_META="${meta}" BENCH_LUA_DIR="${ROOT}/bench/wrk" "$@" \
    wrk -t"${t}" -c"${c}" -d"${DURATION}" --timeout 5s --latency -s "${ROOT}/bench/wrk/${lua}" "${url}" 2>&1) || true
  local line
  line=$(printf '%s\n' "${out}" | sed -n 's/^RESULT //p')
  if [[ -z "${line}" ]]; then
    printf '%s\n' "${out}" >&2
    die "wrk printed no result for ${meta}"
  fi
  record "${line}"
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("#   %-48s %9.0f req/s  p50 %7.3f ms  p99 %7.3f ms  errors %d" % (sys.argv[2], r["rps"], r["p50_ms"], r["p99_ms"], r["sockerr"] + r["non2xx"]))' \
    "${line}" "${meta}" >&2
}
