#!/usr/bin/env python3
"""Seeds a running `portcullis demo` with a realistic world for bench/load.sh.

Through the admin API only (what an operator would do):
  - repoints the demo models `frontier` and `workhorse` at the mock upstream (provider token);
  - issues extra directives next to the demo's EC-2026-001 (authority token): some on
    `workhorse`, some on every model, all with conditions a US-attested, KYC-verified customer
    does not meet, so they are evaluated on every request to `frontier` but cut none of ours;
  - creates N customers (country US, KYC verified, a few tiers and sectors), one API key each,
    and a preview grant on `frontier` each, concurrently (one keep-alive connection per thread);
  - writes the N keys, one a line, to the keys file.

Standard library only.

Usage: seed.py <gateway url> <demo.json> <mock base url> <n customers> <keys file>
"""

import http.client
import json
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

THREADS = 32

DIRECTIVES = [
    {
        "id": "BENCH-WH-US",
        "models": ["workhorse"],
        "description": "workhorse only for end users attested as US nationals",
        "policies": '@id("wh-us-nationals-only")\n'
        '@description("End users must hold an attestation of US nationality")\n'
        'forbid (principal, action, resource == Model::"workhorse")\n'
        "unless { context has end_user && context.end_user has nationalities && "
        'context.end_user.nationalities.contains("US") };\n',
    },
    {
        "id": "BENCH-WH-AGE",
        "models": ["workhorse"],
        "description": "workhorse not for end users attested as minors",
        "policies": '@id("wh-no-minors")\n'
        '@description("End users attested as under 18 are cut")\n'
        "forbid (principal, action, resource)\n"
        "when { context has end_user && context.end_user has age_over_18 && "
        "context.end_user.age_over_18 == false };\n",
    },
    {
        "id": "BENCH-ALL-KP",
        "models": ["*"],
        "description": "no model for end users resident in KP",
        "policies": '@id("no-kp-residents")\n'
        '@description("End users resident in KP are cut")\n'
        "forbid (principal, action, resource)\n"
        'when { context has end_user && context.end_user has residency && context.end_user.residency == "KP" };\n',
    },
    {
        "id": "BENCH-ALL-IR",
        "models": ["*"],
        "description": "no model for customers in IR",
        "policies": '@id("no-ir-customers")\n'
        '@description("Customers in IR are cut")\n'
        "forbid (principal, action, resource)\n"
        'when { principal has country && principal.country == "IR" };\n',
    },
    {
        "id": "BENCH-ALL-SANCTIONS",
        "models": ["*"],
        "description": "no model for customers that failed sanctions screening",
        "policies": '@id("sanctions-screening")\n'
        '@description("Customers that failed sanctions screening are cut")\n'
        "forbid (principal, action, resource)\n"
        "when { principal has sanctions_screened && principal.sanctions_screened == false };\n",
    },
    {
        "id": "BENCH-ALL-UNVERIFIED",
        "models": ["*"],
        "description": "no model for end users whose identity verification failed",
        "policies": '@id("identity-verified")\n'
        '@description("End users attested as not identity-verified are cut")\n'
        "forbid (principal, action, resource)\n"
        "when { context has end_user && context.end_user has identity_verified && "
        "context.end_user.identity_verified == false };\n",
    },
]

TIERS = ["free", "pro", "enterprise"]
SECTORS = ["research", "finance", "health", "retail"]

_local = threading.local()


def call(base, method, path, token, body):
    """One admin call on this thread's keep-alive connection; returns (status, json)."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        url = urllib.parse.urlsplit(base)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        _local.conn = conn
    data = json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        text = response.read()
    except (http.client.HTTPException, OSError):
        _local.conn = None
        conn.close()
        raise
    return response.status, (json.loads(text) if text else None)


def expect(status, answer, ok, what):
    if status not in ok:
        raise RuntimeError(f"{what}: HTTP {status}: {json.dumps(answer)[:300]}")
    return answer


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    base, demo_json, mock_base, n_customers, keys_path = sys.argv[1:]
    n_customers = int(n_customers)
    demo = json.load(open(demo_json))
    provider = demo["role_tokens"]["provider"]
    authority = demo["role_tokens"]["authority"]["token"]
    started = time.monotonic()

    for model in ("frontier", "workhorse"):
        status, answer = call(base, "PUT", f"/admin/v1/models/{model}/upstream", provider, {"base_url": mock_base})
        expect(status, answer, (200,), f"repoint {model}")

    for directive in DIRECTIVES:
        body = {
            "id": directive["id"],
            "legal_basis": "bench: synthetic directive",
            "description": directive["description"],
            "models": directive["models"],
            "policies": directive["policies"],
            "emergency_justification": "bench: takes effect at once",
            "evidence": {"description": "bench: synthetic assessment", "disclosure": "withheld", "reason": "bench: synthetic"},
        }
        status, answer = call(base, "POST", "/admin/v1/directives", authority, body)
        if status == 400 and "unknown field `description`" in json.dumps(answer):
            # A gateway from before evidence citations had descriptions (for A/B runs of old builds).
            del body["evidence"]["description"]
            status, answer = call(base, "POST", "/admin/v1/directives", authority, body)
        expect(status, answer, (201,), f"directive {directive['id']}")

    def seed_one(i):
        customer = f"bench-{i:06d}"
        attributes = {"country": "US", "kyc": "verified", "tier": TIERS[i % 3], "sector": SECTORS[i % 4]}
        status, answer = call(
            base, "POST", "/admin/v1/customers", provider,
            {"id": customer, "name": f"Bench Customer {i}", "attributes": attributes},
        )
        expect(status, answer, (201,), f"customer {customer}")
        status, answer = call(base, "POST", f"/admin/v1/customers/{customer}/keys", provider, {"label": "bench"})
        key = expect(status, answer, (201,), f"key of {customer}")["key"]
        status, answer = call(
            base, "POST", "/admin/v1/grants", authority,
            {"customer": customer, "model": "frontier", "reason": "bench"},
        )
        expect(status, answer, (201,), f"grant of {customer}")
        return key

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        keys = list(pool.map(seed_one, range(n_customers)))
    with open(keys_path, "w") as out:
        out.write("\n".join(keys) + "\n")
    elapsed = time.monotonic() - started
    print(
        f"seeded {n_customers} customers, {len(keys)} keys, {n_customers} grants and "
        f"{len(DIRECTIVES)} directives in {elapsed:.1f} s ({3 * n_customers / elapsed:.0f} admin calls/s)"
    )


if __name__ == "__main__":
    main()
