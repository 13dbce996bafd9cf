#!/usr/bin/env bash
# bench/failover.sh: the extra latency of a failover, and the no-failover path beside it, in one
# run, against the same nginx mock upstream as bench/load.sh. Prints one markdown table
# (stdout); progress goes to stderr.
#
# Run (as root on Debian, so it can `apt-get install -y nginx wrk` when they are missing; needs
# at least 2 CPUs, python3, curl and a Rust toolchain; about 2.5 minutes after the build):
#
#     bash bench/failover.sh | tee /tmp/failover.md
#
# What it starts (all on 127.0.0.1, free ports, one temp dir, all stopped by pid on exit):
#   - healthy: nginx (1 worker) answering every request from memory with the fixed chat
#              completion of bench/load.sh (bench/failover-nginx.conf);
#   - broken:  a second nginx (1 worker, another port) answering every request with 503 and a
#              small JSON error, keep-alive kept (same template);
#   - nginx:   nginx as a pure reverse proxy to the healthy mock (bench/nginx-proxy.conf, as in
#              load.sh): the anchor that makes case 1 comparable with BENCHMARKS.md section 1
#              across machines and days (its ratios to nginx, not its absolute numbers);
#   - a closed port: bound once by the kernel to get a free number, then released; nothing
#              listens there, so a connection attempt is refused at once;
#   - portcullis: first `portcullis demo` builds the world as bench/load.sh does (the demo
#              world plus bench/seed.py: N customers, default 10,000,
#              each with a key and a preview grant on `frontier`, six more directives); then the
#              demo is stopped and
#              the same data directory is served by `portcullis serve --config` with a generated
#              TOML holding what the demo sets in code (its provider token, its attester's public
#              key, the demo upstream, the log origin). `demo` builds its settings in code and
#              reads neither a config file nor `PORTCULLIS_*` variables; `serve` reads both, so
#              the health settings can change: `PORTCULLIS_FAILOVER__EJECT_AFTER_FAILURES`
#              (every other PORTCULLIS_* variable, such as PORTCULLIS_BIN, is kept from it: it
#              refuses unknown keys).
#              Two serve processes, one after the other, on the same data:
#                A. ejection off (`eject_after_failures` = 1,000,000,000): cases 0 (the nginx
#                   proxy, measured while A idles), 1, 2 and 4;
#                B. default health (`[failover]` defaults: eject after 3 consecutive failures,
#                   30 s cooldown): cases 1b and 3.
#
# The cases (model `frontier`, re-pointed through the admin API before each case with the
# provider token from the demo's demo.json, so every check of load.sh runs on every request):
#   1.  baseline: `PUT /admin/v1/models/frontier/upstream` → one deployment, the healthy mock
#       (what load.sh measures);
#   2.  failover on every request: `PUT …/deployments` [hosted → broken (503), self-hosted →
#       healthy]; with ejection off every request tries `hosted`, gets the 503, and is served by
#       `self-hosted`: the extra latency of a failover;
#   3.  after ejection: the same two deployments with default health; the first 3 failures (in
#       the case's check, before the warm-up) eject `hosted` for 30 s, and every later request
#       skips it: the steady-state cost once health has caught up. A case lasts less than the
#       cooldown (check + 2 × (warm-up + run) ≈ 25 s), so at most one trial request per case
#       goes to `hosted` again;
#   4.  first deployment unreachable: [hosted → the closed port, self-hosted → healthy], ejection
#       off: every request pays a refused connection attempt;
#   1b. the baseline again in process B: a control for what a process restart alone moves.
# Before each case the script checks requests by hand: 200, `x-portcullis-deployment`, and
# `x-portcullis-fallback-reason` (`upstream_5xx`, `ejected`, `upstream_unreachable`).
#
# What it measures: wrk (bench/wrk.lua, the same requests as load.sh: random key of N per
# request, US-national attestation), closed loop, `-t1 -c1` and `-t1 -c16`, each BENCH_DURATION
# s (default 10) after a BENCH_WARMUP s (default 2) warm-up at the same concurrency. Reported per
# run: req/s, p50/p99/p99.9 (wrk's histogram), errors (status >= 400 plus socket errors), the
# deltas against case 1 at the same concurrency, failovers per request by reason (from the
# `portcullis_failovers_total` counter on /metrics, before and after the run), connections
# each nginx accepted during the run (stub_status: whether the gateway reuses its upstream
# connections), and how busy the server core was.
#
# CPU pinning, as in load.sh: the three nginx and Portcullis on CPU 1 (BENCH_SERVER_CPU), wrk and
# the seeding on CPU 0 (BENCH_LOADGEN_CPU). Quiet machine: as in load.sh, it waits for rustc,
# cargo or wrk processes it did not start (BENCH_QUIET_WAIT seconds in all) and flags runs that
# had company.
#
# Logs: Portcullis runs with RUST_LOG=info (BENCH_RUST_LOG), as in load.sh, writing to a file
# in the temp dir; a failover logs per request (`warn` for the failed try, `info` for the
# failover, also when the first deployment is skipped as ejected), and that is part of the cost.
#
# Knobs (environment): BENCH_CUSTOMERS (10000), BENCH_DURATION (10), BENCH_WARMUP (2),
# BENCH_QUIET_WAIT (600), BENCH_MAX_SECONDS (1200: hard limit for the whole run),
# BENCH_SERVER_CPU (1), BENCH_LOADGEN_CPU (0), PORTCULLIS_BIN (skip the build and use this
# binary), BENCH_KEEP=1 (keep the temp dir with logs and raw data), BENCH_RUST_LOG (info).

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$REPO/bench"
N_CUSTOMERS=${BENCH_CUSTOMERS:-10000}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
QUIET_WAIT=${BENCH_QUIET_WAIT:-600}
MAX_SECONDS=${BENCH_MAX_SECONDS:-1200}
SERVER_CPU=${BENCH_SERVER_CPU:-1}
LOADGEN_CPU=${BENCH_LOADGEN_CPU:-0}
RUST_LOG_LEVEL=${BENCH_RUST_LOG:-info}
EJECT_OFF=1000000000

# The healthy mock's answer (as in load.sh) and the broken one's. No single quotes and no `$`.
MOCK_BODY='{"id":"chatcmpl-bench","object":"chat.completion","created":1767225600,"model":"frontier","system_fingerprint":"fp_bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! This fixed reply comes from the benchmark mock upstream; no model ran."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":17,"total_tokens":31}}'
BROKEN_BODY='{"error":{"message":"bench: this deployment is down","type":"server_error","code":"overloaded"}}'

log() { echo "[failover $(date +%T)] $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# ---------------------------------------------------------------------------- prerequisites
[[ $(nproc --all) -ge 2 ]] || die "needs at least 2 CPUs (one for the servers, one for the load generator)"
for tool in python3 curl taskset; do
    command -v "$tool" >/dev/null || die "\`$tool\` is missing"
done
if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
    [[ $(id -u) -eq 0 ]] || die "nginx and wrk are missing; run as root (or: sudo apt-get install -y nginx wrk)"
    log "installing nginx and wrk"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx wrk >&2 ||
        { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx wrk >&2; }
fi
NGINX=$(command -v nginx)

if [[ -n ${PORTCULLIS_BIN:-} ]]; then
    PORTCULLIS=$PORTCULLIS_BIN
else
    log "building Portcullis (release)"
    (cd "$REPO" && cargo build --release -p portcullis -q >&2)
    PORTCULLIS="$REPO/target/release/portcullis"
fi
[[ -x $PORTCULLIS ]] || die "no Portcullis binary at \`$PORTCULLIS\`"

# ---------------------------------------------------------------------------- run state
TMP=$(mktemp -d /tmp/portcullis-failover.XXXXXX)
# nginx workers run as `nobody` when started by root; they must reach their temp paths.
chmod 755 "$TMP"
RESULTS="$TMP/results.txt"
: >"$RESULTS"
SERVER_PIDS=()
PC_PID=
WATCHDOG_PID=
SAMPLER_PID=

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for pid in "${SERVER_PIDS[@]}" $PC_PID; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${SERVER_PIDS[@]}" $PC_PID; do
        wait "$pid" 2>/dev/null || true
    done
    for pid in $SAMPLER_PID $WATCHDOG_PID; do
        pkill -TERM -P "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
    done
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'log "stopped (time limit or signal)"; exit 143' TERM

(sleep "$MAX_SECONDS" && kill -TERM $$) 2>/dev/null &
WATCHDOG_PID=$!

# Five distinct free ports, chosen by the kernel; the last is released and left closed.
read -r HEALTHY_PORT BROKEN_PORT PROXY_PORT PC_PORT CLOSED_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
')

wait_http() { # url [pid]: wait up to 30 s for any HTTP answer (while pid, if given, lives)
    local i
    for i in $(seq 1 300); do
        curl -s -o /dev/null --max-time 1 "$1" && return 0
        [[ -z ${2:-} ]] || kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

cpu_jiffies() { # cpu -> "busy total" jiffies from /proc/stat
    awk -v cpu="cpu$1" '$1 == cpu { busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6 }' /proc/stat
}

# ---------------------------------------------------------------------------- upstreams
start_nginx() { # name port status body
    mkdir -p "$TMP/$1-tmp"
    sed -e "s|@TMP@|$TMP|g" -e "s|@NAME@|$1|g" -e "s|@PORT@|$2|g" -e "s|@STATUS@|$3|g" -e "s|@BODY@|$4|" \
        "$BENCH/failover-nginx.conf" >"$TMP/$1.conf"
    taskset -c "$SERVER_CPU" "$NGINX" -p "$TMP" -c "$TMP/$1.conf" -e "$TMP/$1-error.log" -g 'daemon off;' \
        >"$TMP/$1.out" 2>&1 &
    SERVER_PIDS+=("$!")
    wait_http "http://127.0.0.1:$2/failover-nginx-status" "$!" || die "nginx ($1) did not start: $(tail -n3 "$TMP/$1.out")"
}
log "starting the healthy mock on 127.0.0.1:$HEALTHY_PORT and the 503 mock on 127.0.0.1:$BROKEN_PORT (nginx, CPU $SERVER_CPU); port $CLOSED_PORT stays closed"
start_nginx healthy "$HEALTHY_PORT" 200 "$MOCK_BODY"
start_nginx broken "$BROKEN_PORT" 503 "$BROKEN_BODY"
HEALTHY="http://127.0.0.1:$HEALTHY_PORT/v1"
BROKEN="http://127.0.0.1:$BROKEN_PORT/v1"
CLOSED="http://127.0.0.1:$CLOSED_PORT/v1"
log "starting the nginx reverse proxy (bench/nginx-proxy.conf) to the healthy mock on 127.0.0.1:$PROXY_PORT, CPU $SERVER_CPU"
mkdir -p "$TMP/proxy-tmp"
sed -e "s|@TMP@|$TMP|g" -e "s|@MOCK_PORT@|$HEALTHY_PORT|g" -e "s|@PROXY_PORT@|$PROXY_PORT|g" \
    -e "s|@PORTCULLIS_PORT@|$PC_PORT|g" "$BENCH/nginx-proxy.conf" >"$TMP/proxy.conf"
taskset -c "$SERVER_CPU" "$NGINX" -p "$TMP" -c "$TMP/proxy.conf" -e "$TMP/proxy-error.log" -g 'daemon off;' \
    >"$TMP/proxy.out" 2>&1 &
SERVER_PIDS+=("$!")
wait_http "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" "$!" || die "the nginx proxy did not start: $(tail -n3 "$TMP/proxy.out")"
[[ $(curl -s -o /dev/null -w '%{http_code}' -X POST "$BROKEN/chat/completions") == 503 ]] || die "the broken mock does not answer 503"
if curl -s -o /dev/null --max-time 1 "$CLOSED/models"; then die "port $CLOSED_PORT is not closed"; fi

nginx_counters() { # port -> "accepts requests" from stub_status (this request included)
    curl -s --max-time 2 "http://127.0.0.1:$1/failover-nginx-status" | awk 'NR == 3 { print $1, $3 }'
}

# ---------------------------------------------------------------------------- the world
log "building the world: portcullis demo on 127.0.0.1:$PC_PORT, then bench/seed.py ($N_CUSTOMERS customers)"
DATA="$TMP/portcullis"
RUST_LOG=info taskset -c "$SERVER_CPU" "$PORTCULLIS" demo --listen "127.0.0.1:$PC_PORT" --data-dir "$DATA" \
    >"$TMP/demo.out" 2>"$TMP/demo.log" &
PC_PID=$!
wait_http "http://127.0.0.1:$PC_PORT/healthz" "$PC_PID" || die "portcullis demo did not start: $(tail -n3 "$TMP/demo.log")"
for _ in $(seq 1 100); do
    [[ -s $DATA/demo.json ]] && break
    sleep 0.1
done
DEMO_JSON="$DATA/demo.json"
[[ -s $DEMO_JSON ]] || die "Portcullis wrote no demo.json"
KEYS="$TMP/keys.txt"
taskset -c "$LOADGEN_CPU" timeout 600 python3 "$BENCH/seed.py" "http://127.0.0.1:$PC_PORT" "$DEMO_JSON" \
    "$HEALTHY" "$N_CUSTOMERS" "$KEYS" >"$TMP/seed.out" || die "seeding failed"
SEED_SUMMARY=$(cat "$TMP/seed.out")
log "$SEED_SUMMARY"
kill -TERM "$PC_PID"
wait "$PC_PID" || true
PC_PID=

demo_field() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' "$DEMO_JSON" "$1"; }
demo_field 'd["attestation"]["us_national"]' >"$TMP/att-us.txt"
US=$(cat "$TMP/att-us.txt")
NON_US=$(demo_field 'd["attestation"]["non_us_national"]')
PROVIDER=$(demo_field 'd["role_tokens"]["provider"]')
ATTESTER_ID=$(demo_field 'd["attestation"]["attester"]')
ATTESTER_KEY=$(demo_field 'd["attestation"]["attester_public_key"]')
KEY0=$(head -n1 "$KEYS")

# What `portcullis demo` sets in code (crates/cli/src/demo.rs), as a config file for `serve`.
cat >"$TMP/serve.toml" <<EOF
listen = "127.0.0.1:$PC_PORT"
data_dir = "$DATA"
demo_upstream = true

[transparency]
origin = "portcullis-demo.localhost/log"

[[provider_tokens]]
name = "demo-operator"
token = "$PROVIDER"

[[attesters]]
id = "$ATTESTER_ID"
public_key = "$ATTESTER_KEY"
EOF

start_serve() { # phase name, then VAR=value overrides
    local phase=$1
    shift
    log "starting portcullis serve ($phase) on 127.0.0.1:$PC_PORT, CPU $SERVER_CPU${*:+: $*}"
    # `serve` reads every PORTCULLIS_* variable as configuration and refuses unknown ones (such
    # as this script's own PORTCULLIS_BIN): it gets only the overrides given here.
    local unset=() name
    for name in $(compgen -e | grep '^PORTCULLIS_' || true); do
        unset+=(-u "$name")
    done
    env "${unset[@]}" RUST_LOG="$RUST_LOG_LEVEL" "$@" taskset -c "$SERVER_CPU" "$PORTCULLIS" serve --config "$TMP/serve.toml" \
        >"$TMP/serve-$phase.out" 2>"$TMP/serve-$phase.log" &
    PC_PID=$!
    wait_http "http://127.0.0.1:$PC_PORT/healthz" "$PC_PID" ||
        die "portcullis serve did not start: $(tail -n3 "$TMP/serve-$phase.log")"
}
stop_serve() {
    kill -TERM "$PC_PID"
    wait "$PC_PID" || true
    PC_PID=
}

# ---------------------------------------------------------------------------- helpers
admin_put() { # path json
    curl -sf --max-time 10 -o /dev/null -X PUT "http://127.0.0.1:$PC_PORT/admin/v1/models/frontier/$1" \
        -H "Authorization: Bearer $PROVIDER" -H 'Content-Type: application/json' -d "$2" ||
        die "PUT /admin/v1/models/frontier/$1 failed"
}
post() { # attestation -> "status deployment fallback-reason"
    curl -s --max-time 5 -o "$TMP/answer.json" -D "$TMP/answer.head" -w '%{http_code}' \
        "http://127.0.0.1:$PC_PORT/v1/chat/completions" -H "Authorization: Bearer $KEY0" \
        -H "Portcullis-Attestation: $1" -H 'Content-Type: application/json' \
        -d '{"model":"frontier","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":16}'
    local deployment reason
    deployment=$(awk -F': ' 'tolower($1) == "x-portcullis-deployment" { print $2 }' "$TMP/answer.head" | tr -d '\r')
    reason=$(awk -F': ' 'tolower($1) == "x-portcullis-fallback-reason" { print $2 }' "$TMP/answer.head" | tr -d '\r')
    echo " ${deployment:--} ${reason:--}"
}
expect_post() { # expected "status deployment reason" [times]
    local answer i
    for i in $(seq 1 "${2:-1}"); do
        answer=$(post "$US")
        [[ $answer == "$1" ]] || die "expected \`$1\`, got \`$answer\`: $(head -c 300 "$TMP/answer.json")"
    done
    CHECKS+="${2:-1}× \`$1\`; "
}
failovers() { # "reason:count,..." summed over every label set, or "none"
    curl -s --max-time 5 "http://127.0.0.1:$PC_PORT/metrics" | awk '
        /^portcullis_failovers_total\{/ {
            match($0, /reason="[^"]*"/)
            reason = substr($0, RSTART + 8, RLENGTH - 9)
            sum[reason] += $NF
        }
        END { for (r in sum) printf "%s:%d\n", r, sum[r] }' | sort
}
failover_delta() { # before after -> "reason:delta,..." or "none"
    python3 -c '
import sys
def parse(text):
    return {k: int(v) for k, v in (line.split(":") for line in text.split() if line)}
before, after = parse(sys.argv[1]), parse(sys.argv[2])
out = [f"{r}:{after[r] - before.get(r, 0)}" for r in sorted(after) if after[r] - before.get(r, 0)]
print(",".join(out) or "none")' "$1" "$2"
}

# ---------------------------------------------------------------------------- quiet machine
QUIET_WAITED=0
NOISY_RUNS=()
is_ours() { # pid: whether this script is among its ancestors
    local pid=$1
    while ((pid > 1)); do
        ((pid == $$)) && return 0
        pid=$(ps -o ppid= -p "$pid" 2>/dev/null | tr -d ' ')
        [[ -n $pid ]] || return 1
    done
    return 1
}
foreign_load() {
    local pid
    for pid in $(pgrep 'rustc|cargo|wrk' || true); do
        is_ours "$pid" || ps -o comm= -p "$pid" 2>/dev/null || true
    done | sort | uniq -c | xargs || true
}
wait_quiet() {
    local busy
    while busy=$(foreign_load) && [[ -n $busy ]]; do
        if ((QUIET_WAITED >= QUIET_WAIT)); then
            log "machine not quiet ($busy); measuring anyway"
            return 1
        fi
        log "waiting for other processes to finish: $busy"
        sleep 30
        QUIET_WAITED=$((QUIET_WAITED + 30))
    done
}
start_sampler() {
    : >"$TMP/intruders.txt"
    (while sleep 0.5; do foreign_load; done >>"$TMP/intruders.txt") 2>/dev/null &
    SAMPLER_PID=$!
}
stop_sampler() {
    pkill -TERM -P "$SAMPLER_PID" 2>/dev/null || true
    kill -TERM "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=
    grep -v '^$' "$TMP/intruders.txt" | sort | uniq | head -n3 | xargs || true
}

# ---------------------------------------------------------------------------- load
wrk_run() { # connections seconds [port]
    taskset -c "$LOADGEN_CPU" timeout $(($2 + 30)) wrk -t1 -c"$1" -d"$2s" --timeout 2s -s "$BENCH/wrk.lua" \
        "http://127.0.0.1:${3:-$PC_PORT}/v1/chat/completions" -- "$KEYS" "$TMP/att-us.txt"
}
measure() { # case [port: the nginx proxy instead of Portcullis]
    local level conns out result intruders f0 f1 ha0 ha1 hr0 hr1 ba0 ba1 sb0 st0 sb1 st1 busy
    for level in c1 c16; do
        conns=${level#c}
        log "$1: $conns connection(s), ${WARMUP} s warm-up + ${DURATION} s"
        wait_quiet || NOISY_RUNS+=("$1 c=$conns (before)")
        wrk_run "$conns" "$WARMUP" "${2:-}" >/dev/null
        f0=$(failovers)
        read -r ha0 hr0 < <(nginx_counters "$HEALTHY_PORT")
        read -r ba0 _ < <(nginx_counters "$BROKEN_PORT")
        read -r sb0 st0 < <(cpu_jiffies "$SERVER_CPU")
        start_sampler
        out=$(wrk_run "$conns" "$DURATION" "${2:-}")
        intruders=$(stop_sampler)
        read -r sb1 st1 < <(cpu_jiffies "$SERVER_CPU")
        read -r ha1 hr1 < <(nginx_counters "$HEALTHY_PORT")
        read -r ba1 _ < <(nginx_counters "$BROKEN_PORT")
        # The second status request counts itself once (accepts and requests).
        ha1=$((ha1 - 1)) hr1=$((hr1 - 1)) ba1=$((ba1 - 1))
        f1=$(failovers)
        result=$(grep '^WRK_RESULT ' <<<"$out") || die "no result from wrk: $out"
        [[ -z $intruders ]] || NOISY_RUNS+=("$1 c=$conns ($intruders)")
        busy=$(awk -v b=$((sb1 - sb0)) -v t=$((st1 - st0)) 'BEGIN { printf "%.1f", 100 * b / t }')
        echo "case=$1 level=$level conc=$conns busy_server=$busy ${result#WRK_RESULT }" \
            "broken_accepts=$((ba1 - ba0)) healthy_accepts=$((ha1 - ha0)) healthy_requests=$((hr1 - hr0))" \
            "failovers=$(failover_delta "$f0" "$f1")" >>"$RESULTS"
        log "  ${result#WRK_RESULT } failovers=$(failover_delta "$f0" "$f1") new_conns(1st/2nd)=$((ba1 - ba0))/$((ha1 - ha0)) server_cpu=$busy%"
    done
}

TWO_503="{\"deployments\":[{\"name\":\"hosted\",\"base_url\":\"$BROKEN\"},{\"name\":\"self-hosted\",\"base_url\":\"$HEALTHY\"}]}"
TWO_CLOSED="{\"deployments\":[{\"name\":\"hosted\",\"base_url\":\"$CLOSED\"},{\"name\":\"self-hosted\",\"base_url\":\"$HEALTHY\"}]}"
CHECKS=

wait_quiet || true
LOADAVG_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# Process A: ejection off.
start_serve A "PORTCULLIS_FAILOVER__EJECT_AFTER_FAILURES=$EJECT_OFF"
expect_post "200 default -"
answer=$(post "$NON_US")
[[ $answer == "403 "* ]] && grep -q EC-2026-001 "$TMP/answer.json" || die "non-US end user: expected 403 by EC-2026-001, got: $answer"
CHECKS+="FR attestation → 403 EC-2026-001; "

measure nginx "$PROXY_PORT"

admin_put upstream "{\"base_url\":\"$HEALTHY\"}"
expect_post "200 default -"
measure baseline

admin_put deployments "$TWO_503"
expect_post "200 self-hosted upstream_5xx" 4
measure failover

admin_put deployments "$TWO_CLOSED"
expect_post "200 self-hosted upstream_unreachable" 4
measure refused
curl -s --max-time 5 -H "Authorization: Bearer $PROVIDER" "http://127.0.0.1:$PC_PORT/admin/v1/deployments" >"$TMP/health-A.json" || true
stop_serve

# Process B: default health.
start_serve B
admin_put upstream "{\"base_url\":\"$HEALTHY\"}"
expect_post "200 default -"
measure baseline2

admin_put deployments "$TWO_503"
expect_post "200 self-hosted upstream_5xx" 3
expect_post "200 self-hosted ejected"
measure ejected
curl -s --max-time 5 -H "Authorization: Bearer $PROVIDER" "http://127.0.0.1:$PC_PORT/admin/v1/deployments" >"$TMP/health-B.json" || true
stop_serve

# ---------------------------------------------------------------------------- report
if ((${#NOISY_RUNS[@]} == 0)); then
    QUIET="yes: no rustc, cargo or other wrk process seen during any measured run (sampled every 0.5 s)"
    ((QUIET_WAITED == 0)) || QUIET+=" (after waiting ${QUIET_WAITED} s for them)"
else
    QUIET="NO: other rustc/cargo/wrk processes during: $(printf '%s; ' "${NOISY_RUNS[@]}")treat those rows as noisy"
fi
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
BENCH_CONTEXT="## Portcullis failover benchmark ($(date -u +%Y-%m-%dT%H:%MZ), commit $(cd "$REPO" && git rev-parse --short HEAD)$(cd "$REPO" && git diff --quiet HEAD -- crates || echo '+dirty'))

- machine: $(nproc --all) × ${CPU_MODEL:-unknown CPU}, $(uname -r); quiet: $QUIET; load average before: $LOADAVG_BEFORE
- pinning: nginx mocks and Portcullis on CPU $SERVER_CPU; wrk on CPU $LOADGEN_CPU
- tools: $("$NGINX" -v 2>&1 | sed 's/.*: //'), $(wrk -v 2>&1 | head -n1 | awk '{print "wrk " $2}' || true), Portcullis release build (\`serve\` on the demo's data, RUST_LOG=$RUST_LOG_LEVEL to a file)
- world: demo + $SEED_SUMMARY
- checks (requests by hand before each case; \`status x-portcullis-deployment x-portcullis-fallback-reason\`): ${CHECKS%; }
- load: closed loop, wrk -t1 -c1 / -c16, ${DURATION} s each after ${WARMUP} s warm-up; random key of $N_CUSTOMERS per request; deltas against case 1 at the same concurrency"
export BENCH_CONTEXT
python3 "$BENCH/failover-report.py" "$RESULTS"
