#!/usr/bin/env bash
# bench/load.sh: request-path overhead of Portcullis against a pure nginx reverse proxy, in the
# same run, against the same mock upstream. Prints one markdown table (stdout); progress goes
# to stderr.
#
# Run (as root on Debian, so it can `apt-get install -y nginx wrk` when they are missing; needs
# at least 2 CPUs, python3, curl and a Rust toolchain; takes about 3 minutes after the build):
#
#     bash bench/load.sh | tee /tmp/bench.md
#
# What it starts (all on 127.0.0.1, free ports, one temp dir, all stopped by pid on exit):
#   - mock:       nginx (1 worker) answering every request from memory with a fixed
#                 chat.completion JSON (bench/nginx-mock.conf);
#   - nginx:      nginx (1 worker) as a pure reverse proxy to the mock, upstream keep-alive
#                 pool, HTTP/1.1 (bench/nginx-proxy.conf): the near-limit anchor for one hop;
#   - portcullis: `target/release/portcullis demo` (release build), every check on: the demo
#                 world (model `frontier` in preview, grant required, KYC criteria, directive
#                 EC-2026-001 that admits only end users attested as US nationals) plus, through
#                 the admin API (bench/seed.py): N customers (default 10,000) each with a key and
#                 a preview grant on `frontier`, and six more directives (on `workhorse` and on
#                 every model) that the benchmark's requests must be evaluated against and pass;
#                 `frontier` and `workhorse` repointed at the mock.
#
# What it measures:
#   - load: wrk (bench/wrk.lua) POSTs /v1/chat/completions for `frontier` with a random key of
#     the N per request and a US-national `Portcullis-Attestation`, the same bytes to all three
#     targets. Closed loop (each connection sends its next request when the answer arrives):
#     `wrk -t1 -c1`, `-t1 -c16` and `-t1 -c64` (saturation: max throughput), each for
#     BENCH_DURATION s (default 10) after a BENCH_WARMUP s (default 2) warm-up run at the same
#     concurrency. Reported: req/s, latency p50/p99/p99.9 (wrk's histogram, µs), errors (HTTP
#     status >= 400 plus socket errors), server RSS (VmRSS after the run of the target's own
#     processes: nginx master + worker, or the Portcullis process; the mock behind the proxy
#     and Portcullis is not counted), how busy the server core was (/proc/stat), the target's
#     own CPU time per request, user and system apart (/proc/<pid>/stat of its processes and
#     threads over the measured run: where a gap to nginx lies, in our code or in the kernel),
#     and the Portcullis/nginx ratios. The mock-direct rows are the baseline both hops add to (at c=16
#     and saturation they are bound by wrk's core, not by the mock).
#   - streaming: after a 15-request warm-up, bench/sse_client.py sends 50 `"stream": true`
#     requests (new connection each, started 105 ms apart) to the demo's built-in upstream, which streams chunks 40 ms apart;
#     directly, through the nginx proxy (proxy_buffering off), and through Portcullis (model
#     `frontier` repointed there, same checks). Reported: median and p99 of time to first byte,
#     of time to the first SSE event, and of the gap between events minus 40 ms.
#
# CPU pinning (taskset), on a 2-core machine:
#   - CPU 1 (BENCH_SERVER_CPU): the mock, the nginx proxy and Portcullis. The system under test
#     and the mock share this core for every target alike, so the throughput ratio is the ratio
#     of server CPU per request (hop + mock), and nothing else competes with them. Portcullis's
#     tokio runtime sizes itself from the affinity mask: one worker thread.
#   - CPU 0 (BENCH_LOADGEN_CPU): wrk, the seeding and the SSE client. The load generator is the
#     heaviest process at saturation; on the servers' core it would steal the time it measures.
#   Loopback softirq work runs on the sending CPU, so each side also pays its own network stack.
#
# Quiet machine: before each measured run the script waits (BENCH_QUIET_WAIT) for rustc, cargo
# or wrk processes it did not start; during each run it samples for them every 0.5 s and the
# report says which runs had company. Other noise (e.g. the hypervisor) shows in the tails of
# the mock-direct rows: compare p99/p99.9 only when those are sub-millisecond.
#
# Knobs (environment): BENCH_CUSTOMERS (10000), BENCH_DURATION (10), BENCH_WARMUP (2),
# BENCH_SAT_CONNECTIONS (64), BENCH_SSE_REQUESTS (50), BENCH_QUIET_WAIT (600: seconds in all to wait
# for other rustc/cargo/wrk processes to finish before measuring), BENCH_MAX_SECONDS (1200:
# hard limit for the whole run), BENCH_SERVER_CPU (1), BENCH_LOADGEN_CPU (0), PORTCULLIS_BIN
# (skip the build and use this binary), BENCH_KEEP=1 (keep the temp dir with logs and raw data),
# BENCH_PERF=1 (after the measured runs, profile Portcullis at saturation with `perf`; implies
# BENCH_KEEP=1). BENCH_LITELLM=1 adds LiteLLM's proxy (PyPI `litellm[proxy]`, pinned below, in
# a venv under BENCH_LITELLM_VENV, default ~/.cache/portcullis-bench/litellm-<version>; the first
# run installs it, ~1 min and ~750 MB) to the load runs, pinned with the other servers, one
# worker, in front of the same mock, as the reference users know: it runs without a master key
# (its virtual keys need its own database), so it checks no key at all. For A/B runs of one case: BENCH_LEVELS ("c1 c16 sat"; empty: no load runs),
# BENCH_TARGETS ("mock nginx portcullis"), BENCH_SSE_TARGETS ("mock nginx portcullis"; empty:
# no streaming runs), e.g. BENCH_LEVELS=c16 BENCH_TARGETS=portcullis BENCH_SSE_TARGETS= with
# PORTCULLIS_BIN pointing at each binary in turn. Each load run's progress line (stderr) also
# gives the server's context switches (all its threads, voluntary and not) during the run.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$REPO/bench"
N_CUSTOMERS=${BENCH_CUSTOMERS:-10000}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
SAT_CONNECTIONS=${BENCH_SAT_CONNECTIONS:-64}
SSE_REQUESTS=${BENCH_SSE_REQUESTS:-50}
QUIET_WAIT=${BENCH_QUIET_WAIT:-600}
MAX_SECONDS=${BENCH_MAX_SECONDS:-1200}
SERVER_CPU=${BENCH_SERVER_CPU:-1}
LOADGEN_CPU=${BENCH_LOADGEN_CPU:-0}

# The mock's answer: a plausible non-streaming chat completion. No single quotes and no `$`
# (nginx would read them as the end of the string or as a variable).
MOCK_BODY='{"id":"chatcmpl-bench","object":"chat.completion","created":1767225600,"model":"frontier","system_fingerprint":"fp_bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! This fixed reply comes from the benchmark mock upstream; no model ran."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":17,"total_tokens":31}}'

log() { echo "[bench $(date +%T)] $*" >&2; }
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

LITELLM_VERSION=1.108.7
if [[ ${BENCH_LITELLM:-0} == 1 ]]; then
    LITELLM_VENV=${BENCH_LITELLM_VENV:-$HOME/.cache/portcullis-bench/litellm-$LITELLM_VERSION}
    if [[ ! -x $LITELLM_VENV/bin/litellm ]]; then
        log "installing litellm[proxy]==$LITELLM_VERSION into $LITELLM_VENV"
        python3 -m venv "$LITELLM_VENV" >&2 || die "could not create a venv at $LITELLM_VENV"
        "$LITELLM_VENV/bin/pip" install --quiet --disable-pip-version-check "litellm[proxy]==$LITELLM_VERSION" >&2 ||
            die "could not install litellm[proxy]==$LITELLM_VERSION"
    fi
fi

if [[ -n ${PORTCULLIS_BIN:-} ]]; then
    PORTCULLIS=$PORTCULLIS_BIN
else
    log "building Portcullis (release)"
    (cd "$REPO" && cargo build --release -p portcullis -q >&2)
    PORTCULLIS="$REPO/target/release/portcullis"
fi
[[ -x $PORTCULLIS ]] || die "no Portcullis binary at \`$PORTCULLIS\`"

# ---------------------------------------------------------------------------- run state
TMP=$(mktemp -d /tmp/portcullis-bench.XXXXXX)
# nginx workers run as `nobody` when started by root; they must reach their temp paths.
chmod 755 "$TMP"
RESULTS="$TMP/results.txt"
: >"$RESULTS"
SERVER_PIDS=()
WATCHDOG_PID=

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for pid in "${SERVER_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${SERVER_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n ${SAMPLER_PID:-} ]]; then
        pkill -TERM -P "$SAMPLER_PID" 2>/dev/null || true
        kill -TERM "$SAMPLER_PID" 2>/dev/null || true
    fi
    if [[ -n $WATCHDOG_PID ]]; then
        pkill -TERM -P "$WATCHDOG_PID" 2>/dev/null || true
        kill -TERM "$WATCHDOG_PID" 2>/dev/null || true
    fi
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

# The whole run is bounded: after MAX_SECONDS the script stops itself (cleanup runs).
(sleep "$MAX_SECONDS" && kill -TERM $$) 2>/dev/null &
WATCHDOG_PID=$!

# Three distinct free ports, chosen by the kernel.
read -r MOCK_PORT PROXY_PORT PC_PORT LITELLM_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
')

wait_http() { # url: wait up to 30 s for any HTTP answer
    local i
    for i in $(seq 1 300); do
        curl -s -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.1
    done
    die "nothing answers at $1"
}

# Sum of VmRSS (kB) of a process and its children.
rss_kb() {
    local total=0 pid kb
    for pid in "$1" $(pgrep -P "$1" || true); do
        kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}

# Context switches (voluntary + involuntary) of every thread of a process and its children.
ctx_switches() {
    local pid
    for pid in "$1" $(pgrep -P "$1" || true); do
        cat /proc/"$pid"/task/*/status 2>/dev/null || true
    done | awk '/ctxt_switches/ { n += $2 } END { print n + 0 }'
}

# User and system CPU time (clock ticks) of a process and its children (nginx's workers), all
# threads: "user sys".
proc_ticks() {
    local pid
    for pid in "$1" $(pgrep -P "$1" || true); do
        awk '{ print $14, $15 }' "/proc/$pid/stat" 2>/dev/null || true
    done | awk '{ u += $1; s += $2 } END { print u + 0, s + 0 }'
}
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# "busy total" jiffies of one CPU from /proc/stat.
cpu_jiffies() {
    awk -v cpu="cpu$1" '$1 == cpu { busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6 }' /proc/stat
}

# ---------------------------------------------------------------------------- servers
log "starting the mock (nginx) on 127.0.0.1:$MOCK_PORT, CPU $SERVER_CPU"
mkdir -p "$TMP/mock-tmp" "$TMP/proxy-tmp"
sed -e "s|@TMP@|$TMP|g" -e "s|@MOCK_PORT@|$MOCK_PORT|g" -e "s|@BODY@|$MOCK_BODY|" \
    "$BENCH/nginx-mock.conf" >"$TMP/mock.conf"
taskset -c "$SERVER_CPU" "$NGINX" -p "$TMP" -c "$TMP/mock.conf" -e "$TMP/mock-error.log" -g 'daemon off;' \
    >"$TMP/mock.out" 2>&1 &
MOCK_PID=$!
SERVER_PIDS+=("$MOCK_PID")
wait_http "http://127.0.0.1:$MOCK_PORT/v1/chat/completions"

log "starting Portcullis demo on 127.0.0.1:$PC_PORT, CPU $SERVER_CPU"
RUST_LOG=info taskset -c "$SERVER_CPU" "$PORTCULLIS" demo --listen "127.0.0.1:$PC_PORT" --data-dir "$TMP/portcullis" \
    >"$TMP/portcullis.out" 2>"$TMP/portcullis.log" &
PC_PID=$!
SERVER_PIDS+=("$PC_PID")
wait_http "http://127.0.0.1:$PC_PORT/healthz"
for _ in $(seq 1 100); do
    [[ -s $TMP/portcullis/demo.json ]] && break
    sleep 0.1
done
DEMO_JSON="$TMP/portcullis/demo.json"
[[ -s $DEMO_JSON ]] || die "Portcullis wrote no demo.json"

log "starting the nginx proxy on 127.0.0.1:$PROXY_PORT, CPU $SERVER_CPU"
sed -e "s|@TMP@|$TMP|g" -e "s|@MOCK_PORT@|$MOCK_PORT|g" -e "s|@PROXY_PORT@|$PROXY_PORT|g" \
    -e "s|@PORTCULLIS_PORT@|$PC_PORT|g" "$BENCH/nginx-proxy.conf" >"$TMP/proxy.conf"
taskset -c "$SERVER_CPU" "$NGINX" -p "$TMP" -c "$TMP/proxy.conf" -e "$TMP/proxy-error.log" -g 'daemon off;' \
    >"$TMP/proxy.out" 2>&1 &
PROXY_PID=$!
SERVER_PIDS+=("$PROXY_PID")
wait_http "http://127.0.0.1:$PROXY_PORT/v1/chat/completions"

LITELLM_PID=
if [[ ${BENCH_LITELLM:-0} == 1 ]]; then
    log "starting LiteLLM's proxy on 127.0.0.1:$LITELLM_PORT, CPU $SERVER_CPU"
    printf 'model_list:\n  - model_name: frontier\n    litellm_params:\n      model: openai/frontier\n      api_base: http://127.0.0.1:%s/v1\n      api_key: bench-mock-key\n' \
        "$MOCK_PORT" >"$TMP/litellm.yaml"
    # No master key (so no key check; see the header), the bundled model cost map (the machine
    # may have no internet), errors only in its log.
    LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY=true LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOG=ERROR \
        taskset -c "$SERVER_CPU" "$LITELLM_VENV/bin/litellm" --config "$TMP/litellm.yaml" --host 127.0.0.1 \
        --port "$LITELLM_PORT" --num_workers 1 >"$TMP/litellm.log" 2>&1 &
    LITELLM_PID=$!
    SERVER_PIDS+=("$LITELLM_PID")
    wait_http "http://127.0.0.1:$LITELLM_PORT/health/liveliness"
fi

# ---------------------------------------------------------------------------- seeding
log "seeding $N_CUSTOMERS customers, keys, grants and directives through the admin API"
KEYS="$TMP/keys.txt"
taskset -c "$LOADGEN_CPU" timeout 600 python3 "$BENCH/seed.py" "http://127.0.0.1:$PC_PORT" "$DEMO_JSON" \
    "http://127.0.0.1:$MOCK_PORT/v1" "$N_CUSTOMERS" "$KEYS" >"$TMP/seed.out" || die "seeding failed"
SEED_SUMMARY=$(cat "$TMP/seed.out")
log "$SEED_SUMMARY"

demo_field() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' "$DEMO_JSON" "$1"; }
demo_field 'd["attestation"]["us_national"]' >"$TMP/att-us.txt"
NON_US=$(demo_field 'd["attestation"]["non_us_national"]')
GLOBEX_KEY=$(demo_field '[c["api_key"] for c in d["customers"] if c["id"] == "globex"][0]')
US=$(cat "$TMP/att-us.txt")
KEY0=$(head -n1 "$KEYS")

# ---------------------------------------------------------------------------- gate check
# The same request must succeed through every target, and Portcullis must really be gating.
post() { # url key attestation -> "status body"
    curl -s --max-time 5 -o "$TMP/answer.json" -w '%{http_code}' "$1" -H "Authorization: Bearer $2" \
        -H "Portcullis-Attestation: $3" -H 'Content-Type: application/json' \
        -d '{"model":"frontier","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":16}'
    echo " $(head -c 300 "$TMP/answer.json")"
}
GATE_URLS=("http://127.0.0.1:$MOCK_PORT" "http://127.0.0.1:$PROXY_PORT" "http://127.0.0.1:$PC_PORT")
[[ -z $LITELLM_PID ]] || GATE_URLS+=("http://127.0.0.1:$LITELLM_PORT")
for url in "${GATE_URLS[@]}"; do
    answer=$(post "$url/v1/chat/completions" "$KEY0" "$US")
    [[ $answer == "200 "*chat.completion* ]] || die "$url: expected 200 with a chat completion, got: $answer"
done
answer=$(post "http://127.0.0.1:$PC_PORT/v1/chat/completions" "$KEY0" "$NON_US")
[[ $answer == "403 "*directive_in_force* && $answer == *EC-2026-001* ]] || die "non-US end user: expected 403 by EC-2026-001, got: $answer"
answer=$(post "http://127.0.0.1:$PC_PORT/v1/chat/completions" "$GLOBEX_KEY" "$US")
[[ $answer == "403 "*grant_required* ]] || die "customer without a grant: expected 403 grant_required, got: $answer"
GATE_CHECK="gate check: a seeded key + US attestation → 200 through all three; same key + FR attestation → 403 \`directive_in_force\` (EC-2026-001); \`globex\` (no grant) → 403 \`grant_required\`"
log "$GATE_CHECK"

# ---------------------------------------------------------------------------- quiet machine
# Other compilers or load generators on the machine would be measured too. Before every
# measured run, wait for them (BENCH_QUIET_WAIT seconds in all, polling every 30 s); during
# every run, sample for them every 0.5 s, and flag the run if one showed up.
QUIET_WAITED=0
NOISY_RUNS=()
is_ours() { # pid: whether this script is among its ancestors (our own wrk is not foreign)
    local pid=$1
    while ((pid > 1)); do
        ((pid == $$)) && return 0
        pid=$(ps -o ppid= -p "$pid" 2>/dev/null | tr -d ' ')
        [[ -n $pid ]] || return 1
    done
    return 1
}
foreign_load() { # "1 cargo 2 rustc" for heavy processes not started by this script, or nothing
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
# Samples foreign_load every 0.5 s into a file while a measured run goes on.
SAMPLER_PID=
start_sampler() {
    : >"$TMP/intruders.txt"
    (while sleep 0.5; do foreign_load; done >>"$TMP/intruders.txt") 2>/dev/null &
    SAMPLER_PID=$!
}
stop_sampler() { # prints what was seen, if anything
    pkill -TERM -P "$SAMPLER_PID" 2>/dev/null || true
    kill -TERM "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=
    grep -v '^$' "$TMP/intruders.txt" | sort | uniq | head -n3 | xargs || true
}
wait_quiet || true
LOADAVG_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------- load
declare -A URL=([mock]="http://127.0.0.1:$MOCK_PORT" [nginx]="http://127.0.0.1:$PROXY_PORT" [portcullis]="http://127.0.0.1:$PC_PORT" [litellm]="http://127.0.0.1:$LITELLM_PORT")
declare -A PID=([mock]="$MOCK_PID" [nginx]="$PROXY_PID" [portcullis]="$PC_PID" [litellm]="$LITELLM_PID")
DEFAULT_TARGETS="mock nginx portcullis"
[[ -z $LITELLM_PID ]] || DEFAULT_TARGETS+=" litellm"

wrk_run() { # target connections seconds
    taskset -c "$LOADGEN_CPU" timeout $(($3 + 30)) wrk -t1 -c"$2" -d"$3s" --timeout 2s -s "$BENCH/wrk.lua" \
        "${URL[$1]}/v1/chat/completions" -- "$KEYS" "$TMP/att-us.txt"
}

for level in ${BENCH_LEVELS-c1 c16 sat}; do
    case $level in
    c1) conns=1 ;;
    c16) conns=16 ;;
    sat) conns=$SAT_CONNECTIONS ;;
    esac
    for target in ${BENCH_TARGETS:-$DEFAULT_TARGETS}; do
        log "load: $target, $conns connection(s), ${WARMUP} s warm-up + ${DURATION} s"
        wait_quiet || NOISY_RUNS+=("$target c=$conns (before)")
        wrk_run "$target" "$conns" "$WARMUP" >/dev/null
        read -r server_busy0 server_total0 < <(cpu_jiffies "$SERVER_CPU")
        read -r loadgen_busy0 loadgen_total0 < <(cpu_jiffies "$LOADGEN_CPU")
        ctx0=$(ctx_switches "${PID[$target]}")
        read -r user0 sys0 < <(proc_ticks "${PID[$target]}")
        start_sampler
        out=$(wrk_run "$target" "$conns" "$DURATION")
        intruders=$(stop_sampler)
        read -r server_busy1 server_total1 < <(cpu_jiffies "$SERVER_CPU")
        read -r loadgen_busy1 loadgen_total1 < <(cpu_jiffies "$LOADGEN_CPU")
        ctx1=$(ctx_switches "${PID[$target]}")
        read -r user1 sys1 < <(proc_ticks "${PID[$target]}")
        result=$(grep '^WRK_RESULT ' <<<"$out") || die "no result from wrk: $out"
        [[ -z $intruders ]] || NOISY_RUNS+=("$target c=$conns ($intruders)")
        busy_server=$(awk -v b=$((server_busy1 - server_busy0)) -v t=$((server_total1 - server_total0)) 'BEGIN { printf "%.1f", 100 * b / t }')
        busy_loadgen=$(awk -v b=$((loadgen_busy1 - loadgen_busy0)) -v t=$((loadgen_total1 - loadgen_total0)) 'BEGIN { printf "%.1f", 100 * b / t }')
        echo "kind=load target=$target level=$level conc=$conns rss_kb=$(rss_kb "${PID[$target]}") busy_server=$busy_server busy_loadgen=$busy_loadgen ctx_switches=$((ctx1 - ctx0)) user_ticks=$((user1 - user0)) sys_ticks=$((sys1 - sys0)) clk_tck=$CLK_TCK ${result#WRK_RESULT }" >>"$RESULTS"
        log "  ${result#WRK_RESULT } server_cpu=${busy_server}% loadgen_cpu=${busy_loadgen}% ctx_switches=$((ctx1 - ctx0))"
    done
done

# Optional profile of Portcullis at saturation, in an extra run (perf's own cost would skew the
# measured one). Needs `perf` (Debian: linux-perf).
if [[ ${BENCH_PERF:-0} == 1 ]]; then
    log "perf: profiling Portcullis at saturation for ${DURATION} s"
    wrk_run portcullis "$SAT_CONNECTIONS" $((DURATION + 2)) >/dev/null &
    perf_wrk=$!
    sleep 1
    taskset -c "$LOADGEN_CPU" perf record -q -F 2999 --call-graph dwarf,16384 -p "$PC_PID" -o "$TMP/perf.data" \
        -- sleep "$DURATION" 2>"$TMP/perf-record.log" || log "perf record failed: $(tail -n2 "$TMP/perf-record.log")"
    wait "$perf_wrk" || true
    perf report -i "$TMP/perf.data" --no-children --stdio --percent-limit 0.7 -g none \
        >"$TMP/perf-self.txt" 2>/dev/null || true
    perf report -i "$TMP/perf.data" --children --stdio --percent-limit 2 -g none \
        >"$TMP/perf-children.txt" 2>/dev/null || true
    BENCH_KEEP=1
    log "perf: profiles in $TMP/perf-self.txt and $TMP/perf-children.txt"
fi

# ---------------------------------------------------------------------------- streaming
log "streaming: repointing \`frontier\` at the demo's streaming upstream"
PROVIDER=$(demo_field 'd["role_tokens"]["provider"]')
curl -sf --max-time 10 -o /dev/null -X PUT "http://127.0.0.1:$PC_PORT/admin/v1/models/frontier/upstream" \
    -H "Authorization: Bearer $PROVIDER" -H 'Content-Type: application/json' \
    -d "{\"base_url\": \"http://127.0.0.1:$PC_PORT/demo-upstream/v1\"}" || die "could not repoint frontier"
declare -A SSE_URL=(
    [mock]="http://127.0.0.1:$PC_PORT/demo-upstream/v1/chat/completions"
    [nginx]="http://127.0.0.1:$PROXY_PORT/demo-upstream/v1/chat/completions"
    [portcullis]="http://127.0.0.1:$PC_PORT/v1/chat/completions"
)
for target in ${BENCH_SSE_TARGETS-mock nginx portcullis}; do
    log "streaming: $target, $SSE_REQUESTS requests"
    wait_quiet || NOISY_RUNS+=("SSE $target (before)")
    # Warm-up with as many streams in flight as the measured run, so both connection pools
    # (nginx's and Portcullis's) hold enough idle upstream connections.
    taskset -c "$LOADGEN_CPU" python3 "$BENCH/sse_client.py" "${SSE_URL[$target]}" "$KEYS" "$TMP/att-us.txt" 15 105 30 >/dev/null
    start_sampler
    taskset -c "$LOADGEN_CPU" python3 "$BENCH/sse_client.py" "${SSE_URL[$target]}" "$KEYS" "$TMP/att-us.txt" \
        "$SSE_REQUESTS" 105 120 >"$TMP/sse-$target.out"
    intruders=$(stop_sampler)
    grep '^SSE_RESULT ' "$TMP/sse-$target.out" | sed 's/^SSE_RESULT //' >"$TMP/sse-$target.json" ||
        die "no result from the SSE client for $target"
    echo "kind=sse target=$target file=$TMP/sse-$target.json" >>"$RESULTS"
    [[ -z $intruders ]] || NOISY_RUNS+=("SSE $target ($intruders)")
done

# ---------------------------------------------------------------------------- report
if ((${#NOISY_RUNS[@]} == 0)); then
    QUIET="yes: no rustc, cargo or other wrk process seen during any measured run (sampled every 0.5 s)"
    ((QUIET_WAITED == 0)) || QUIET+=" (after waiting ${QUIET_WAITED} s for them)"
else
    QUIET="NO: other rustc/cargo/wrk processes during: $(printf '%s; ' "${NOISY_RUNS[@]}")treat those rows as noisy"
fi
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
BENCH_CONTEXT="## Portcullis load benchmark ($(date -u +%Y-%m-%dT%H:%MZ), commit $(cd "$REPO" && git rev-parse --short HEAD)$(cd "$REPO" && git diff --quiet HEAD -- crates || echo '+dirty'))

- machine: $(nproc --all) × ${CPU_MODEL:-unknown CPU}, $(uname -r); quiet: $QUIET; load average before: $LOADAVG_BEFORE
- pinning: servers (mock, nginx proxy, Portcullis) on CPU $SERVER_CPU; wrk / SSE client on CPU $LOADGEN_CPU
- tools: $("$NGINX" -v 2>&1 | sed 's/.*: //'), $(wrk -v 2>&1 | head -n1 | awk '{print "wrk " $2}' || true), Portcullis release build
- world: demo + $SEED_SUMMARY
- $GATE_CHECK
- load: closed loop, wrk -t1 -c1 / -c16 / -c$SAT_CONNECTIONS (saturation), ${DURATION} s each after ${WARMUP} s warm-up; random key of $N_CUSTOMERS per request
- streaming: $SSE_REQUESTS requests per target, new connection each, 105 ms apart; upstream = Portcullis's built-in demo upstream (chunks 40 ms apart); \"mock upstream (direct)\" rows are that upstream without a hop; ratio columns show Portcullis − nginx"
export BENCH_CONTEXT
python3 "$BENCH/report.py" "$RESULTS"
