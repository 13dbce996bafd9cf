#!/usr/bin/env python3
"""Turns the raw results of bench/load.sh into one markdown table plus the target checks.

Input: the results file, one `key=value ...` line per measurement:
  kind=load target=<mock|nginx|portcullis|litellm> conc=<n> level=<c1|c16|sat> rss_kb=.. busy_server=..
            busy_loadgen=.. ctx_switches=.. user_ticks=.. sys_ticks=.. clk_tck=.. requests=.. duration_us=..
            p50_us=.. p99_us=.. p999_us=.. non2xx=.. socket_errors=..
  kind=sse target=<mock|nginx|portcullis> file=<SSE_RESULT json file>
Context lines for the header come from the environment (BENCH_CONTEXT, one item per line).

Usage: report.py <results file>
"""

import json
import math
import os
import sys

NAMES = {
    "mock": "mock upstream (direct)",
    "nginx": "nginx proxy",
    "portcullis": "Portcullis (all checks)",
    "litellm": "LiteLLM proxy (no key check)",
}
LEVELS = {"c1": "1", "c16": "16", "sat": "sat."}


def percentile(values, p):
    """Nearest-rank percentile (with 50 samples, p99 is the largest)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def us(value):
    if value != value:  # NaN
        return "—"
    if abs(value) >= 10_000:
        return f"{value / 1000:.1f} ms"
    return f"{value:.0f} µs"


def signed_us(value):
    return ("+" if value >= 0 else "−") + us(abs(value))


def ratio(a, b):
    return a / b if b else float("nan")


def parse(path):
    rows = []
    for line in open(path):
        fields = dict(part.split("=", 1) for part in line.split())
        if fields:
            rows.append(fields)
    return rows


def cpu_per_request(r):
    """(user, sys) CPU microseconds the target process spent per request, or None."""
    if "user_ticks" not in r or int(r["requests"]) == 0:
        return None
    tick_us = 1e6 / int(r.get("clk_tck", 100))
    n = int(r["requests"])
    return int(r["user_ticks"]) * tick_us / n, int(r["sys_ticks"]) * tick_us / n


def cpu_cell(r):
    cpu = cpu_per_request(r)
    return "—" if cpu is None else f"{cpu[0]:.1f} + {cpu[1]:.1f} µs"


def main():
    rows = parse(sys.argv[1])
    load = {(r["target"], r["level"]): r for r in rows if r["kind"] == "load"}
    sse = {r["target"]: json.load(open(r["file"])) for r in rows if r["kind"] == "sse"}

    for line in os.environ.get("BENCH_CONTEXT", "").splitlines():
        print(line)
    print()
    print("| case | target | conc. | req/s | p50 | p99 | p99.9 | errors | server RSS | server core busy "
          "| CPU per request (user + sys) | p50 ×nginx | p99 ×nginx | req/s ×nginx |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    checks = []
    for level in ("c1", "c16", "sat"):
        nginx = load.get(("nginx", level))
        for target in ("mock", "nginx", "portcullis", "litellm"):
            r = load.get((target, level))
            if r is None:
                continue
            rps = int(r["requests"]) / (int(r["duration_us"]) / 1e6)
            p50, p99, p999 = float(r["p50_us"]), float(r["p99_us"]), float(r["p999_us"])
            errors = int(r["non2xx"]) + int(r["socket_errors"])
            conc = r["conc"] if level != "sat" else f"{r['conc']} (sat.)"
            cells = ["—", "—", "—"]
            if target == "litellm" and nginx is not None:
                # Same ratios as Portcullis's, for comparison; no bar applies to LiteLLM.
                nginx_rps = int(nginx["requests"]) / (int(nginx["duration_us"]) / 1e6)
                cells = [f"{ratio(p50, float(nginx['p50_us'])):.2f}", f"{ratio(p99, float(nginx['p99_us'])):.2f}",
                         f"{ratio(rps, nginx_rps):.2f}"]
            if target == "portcullis" and nginx is not None:
                nginx_rps = int(nginx["requests"]) / (int(nginx["duration_us"]) / 1e6)
                r50, r99 = ratio(p50, float(nginx["p50_us"])), ratio(p99, float(nginx["p99_us"]))
                rr = ratio(rps, nginx_rps)
                cells = [f"{r50:.2f}", f"{r99:.2f}", f"{rr:.2f}"]
                if level in ("c1", "c16"):
                    checks.append((f"c={r['conc']}: p50 ≤ 1.2× nginx", r50 <= 1.2, f"{r50:.2f}×"))
                    checks.append((f"c={r['conc']}: p99 ≤ 1.5× nginx", r99 <= 1.5, f"{r99:.2f}×"))
                else:
                    checks.append(("saturation: req/s ≥ 0.8× nginx", rr >= 0.8, f"{rr:.2f}×"))
            print(f"| load | {NAMES[target]} | {conc} | {rps:,.0f} | {us(p50)} | {us(p99)} | {us(p999)} "
                  f"| {errors} | {int(r['rss_kb']) / 1024:.1f} MiB | {float(r['busy_server']):.0f}% | "
                  f"{cpu_cell(r)} | " + " | ".join(cells) + " |")

    def sse_row(case, key, target, data, nginx_data, p999="—"):
        values = data[key]
        p50, p99 = percentile(values, 50), percentile(values, 99)
        cells = ["—", "—", "—"]
        if target == "portcullis" and nginx_data is not None:
            n50, n99 = percentile(nginx_data[key], 50), percentile(nginx_data[key], 99)
            cells = [f"{signed_us(p50 - n50)}", f"{signed_us(p99 - n99)}", "—"]
        print(f"| {case} | {NAMES[target]} | {len(values)} | — | {us(p50)} | {us(p99)} | {p999} | "
              f"{data['errors']} | — | — | — | " + " | ".join(cells) + " |")

    for case, key in (("SSE TTFB", "ttfb_us"), ("SSE first event", "first_event_us"),
                      ("SSE gap − 40 ms", "gap_excess_us")):
        for target in ("mock", "nginx", "portcullis"):
            if target in sse:
                p999 = us(percentile(sse[target][key], 99.9)) if key == "gap_excess_us" else "—"
                sse_row(case, key, target, sse[target], sse.get("nginx"), p999)
    if "portcullis" in sse and "nginx" in sse:
        for what, key in (("TTFB", "ttfb_us"), ("first event", "first_event_us")):
            diff = percentile(sse["portcullis"][key], 50) - percentile(sse["nginx"][key], 50)
            checks.append((f"SSE {what} (median) ≤ nginx + 100 µs", diff <= 100, signed_us(diff)))

    print()
    print("Targets (Portcullis vs nginx proxy, same run, same mock):")
    for name, ok, value in checks:
        print(f"- {'PASS' if ok else 'MISS'}: {name} (measured {value})")
    mock1, nginx1, pc1 = load.get(("mock", "c1")), load.get(("nginx", "c1")), load.get(("portcullis", "c1"))
    if mock1 and nginx1 and pc1:
        added = lambda r, k: float(r[k]) - float(mock1[k])  # noqa: E731
        print(f"- added over the direct mock at c=1: nginx p50 {signed_us(added(nginx1, 'p50_us'))}, "
              f"p99 {signed_us(added(nginx1, 'p99_us'))}; Portcullis p50 {signed_us(added(pc1, 'p50_us'))}, "
              f"p99 {signed_us(added(pc1, 'p99_us'))}")
    for level in ("c1", "c16", "sat"):
        nginx, pc = load.get(("nginx", level)), load.get(("portcullis", level))
        ours, theirs = (cpu_per_request(pc), cpu_per_request(nginx)) if nginx and pc else (None, None)
        if ours and theirs:
            diff = lambda d: ("+" if d >= 0 else "−") + f"{abs(d):.1f} µs"  # noqa: E731
            print(f"- CPU per request over the nginx proxy's, {level}: user {diff(ours[0] - theirs[0])}, "
                  f"sys {diff(ours[1] - theirs[1])}")


if __name__ == "__main__":
    main()
