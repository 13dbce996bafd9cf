#!/usr/bin/env python3
"""Turns the raw results of bench/failover.sh into one markdown table.

Input: the results file, one `key=value ...` line per measured run:
  case=<baseline|failover|ejected|refused|baseline2> level=<c1|c16> conc=<n> busy_server=..
  requests=.. duration_us=.. p50_us=.. p99_us=.. p999_us=.. max_us=.. non2xx=.. socket_errors=..
  broken_accepts=.. healthy_accepts=.. healthy_requests=.. failovers=<reason:count,...|none>
Context lines for the header come from the environment (BENCH_CONTEXT, one item per line).

Usage: failover-report.py <results file>
"""

import os
import sys

CASES = {
    "nginx": "0. nginx reverse proxy to the same mock (anchor, no Portcullis)",
    "baseline": "1. baseline: one deployment (the healthy mock)",
    "failover": "2. failover on every request: 1st deployment answers 503, ejection off",
    "refused": "4. 1st deployment unreachable (connection refused), ejection off",
    "baseline2": "1b. baseline again, in the default-health process (control)",
    "ejected": "3. after ejection: 1st answers 503, default health (eject after 3 failures, 30 s cooldown)",
}
ORDER = ["nginx", "baseline", "failover", "ejected", "refused", "baseline2"]


def us(value):
    if abs(value) >= 10_000:
        return f"{value / 1000:.1f} ms"
    return f"{value:.0f} µs"


def signed_us(value):
    return ("+" if value >= 0 else "−") + us(abs(value))


def parse(path):
    rows = []
    for line in open(path):
        fields = dict(part.split("=", 1) for part in line.split())
        if fields:
            rows.append(fields)
    return rows


def main():
    rows = {(r["case"], r["level"]): r for r in parse(sys.argv[1])}
    for line in os.environ.get("BENCH_CONTEXT", "").splitlines():
        print(line)
    print()
    print("| case | conc. | req/s | p50 | p99 | p99.9 | errors | Δp50 vs 1 | Δp99 vs 1 | req/s × 1 "
          "| p50 ×nginx | req/s ×nginx | failovers per request (reason) | new upstream connections: 1st / 2nd "
          "| server core busy |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|")
    for level in ("c1", "c16"):
        base = rows.get(("baseline", level))
        nginx = rows.get(("nginx", level))
        for case in ORDER:
            r = rows.get((case, level))
            if r is None:
                continue
            requests = int(r["requests"])
            rps = requests / (int(r["duration_us"]) / 1e6)
            p50, p99, p999 = float(r["p50_us"]), float(r["p99_us"]), float(r["p999_us"])
            errors = int(r["non2xx"]) + int(r["socket_errors"])
            if base is not None and case not in ("baseline", "nginx"):
                base_rps = int(base["requests"]) / (int(base["duration_us"]) / 1e6)
                deltas = [
                    signed_us(p50 - float(base["p50_us"])),
                    signed_us(p99 - float(base["p99_us"])),
                    f"{rps / base_rps:.2f}",
                ]
            else:
                deltas = ["—", "—", "—"]
            if nginx is not None and case != "nginx":
                nginx_rps = int(nginx["requests"]) / (int(nginx["duration_us"]) / 1e6)
                deltas += [f"{p50 / float(nginx['p50_us']):.2f}", f"{rps / nginx_rps:.2f}"]
            else:
                deltas += ["—", "—"]
            failovers = []
            for item in r["failovers"].split(","):
                if item and item != "none":
                    reason, count = item.split(":")
                    failovers.append(f"{int(count) / max(requests, 1):.2f} (`{reason}`)")
            first = {"nginx": "—", "baseline": "—", "baseline2": "—", "refused": "refused"}.get(case, r["broken_accepts"])
            cells = [
                CASES[case], r["conc"], f"{rps:,.0f}", us(p50), us(p99), us(p999), str(errors), *deltas,
                ", ".join(failovers) or ("—" if case == "nginx" else "0"), f"{first} / {r['healthy_accepts']}", f"{float(r['busy_server']):.0f}%",
            ]
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
