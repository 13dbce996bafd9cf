#!/usr/bin/env bash
# Regenerates the register's and the portals' screenshots in this directory: starts `portcullis demo` on a free
# port with a fresh data directory, adds what the demo story lacks for a telling picture (a
# second criteria version for `frontier`, an application still pending), takes full-page PNGs in
# headless Chromium, and stops the demo.
#
# Needs Debian's `chromium` and `cd tests/browser && npm ci` (as the browser test does).
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo build --quiet -p portcullis
work="$(mktemp -d)"
port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
base="http://127.0.0.1:${port}"
target/debug/portcullis demo --listen "127.0.0.1:${port}" --data-dir "${work}/demo" >"${work}/demo.log" 2>&1 &
demo_pid=$!
trap 'kill "${demo_pid}" 2>/dev/null || true; wait "${demo_pid}" 2>/dev/null || true; rm -rf "${work}"' EXIT
for _ in $(seq 1 100); do
  if curl -fsS "${base}/readyz" >/dev/null 2>&1 && [ -f "${work}/demo/demo.json" ]; then break; fi
  sleep 0.2
done
field() { node -p "require('${work}/demo/demo.json')$1"; }
provider="$(field '.role_tokens.provider')"
globex="$(field '.customers.find(c => c.id === "globex").api_key')"

# Version 2 of frontier's criteria: the same clause, narrowed to customers established in the US.
curl -fsS -o /dev/null "${base}/admin/v1/models/frontier/criteria" -H "Authorization: Bearer ${provider}" \
  -H 'Content-Type: application/json' --data @- <<'JSON'
{"text": "Customers must have completed KYC verification.\nCustomers must be established in the United States.",
 "policies": "// Access criteria (demo), version 2. Each clause has a stable id that decisions cite.\n@id(\"kyc-verified\")\n@description(\"The customer has completed know-your-customer verification and is established in the US\")\npermit (principal, action == Action::\"invoke\", resource)\nwhen {\n  principal has kyc && principal.kyc == \"verified\" &&\n  principal has country && principal.country == \"US\"\n};\n"}
JSON
# An application waiting for a decision.
curl -fsS -o /dev/null "${base}/admin/v1/applications" -H "Authorization: Bearer ${globex}" \
  -H 'Content-Type: application/json' -d '{"model": "frontier", "purpose": "Customer-support drafting (demo)"}'
# Portal accounts (docs/portal.md): the customer and the official create their own with their
# key and token, the provider one for its staff. A demo password, like the demo's other secrets.
password='demo password, not for real use'
acme="$(field '.customers.find(c => c.id === "acme").api_key')"
official="$(field '.role_tokens.authority.token')"
account() {
  curl -fsS -o /dev/null "${base}/admin/v1/accounts" -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' -d "{\"login\": \"$2\", \"password\": \"${password}\"$3}"
}
account "${acme}" acme-ops ''
account "${official}" a.reviewer@bis ''
account "${provider}" ops-staff ', "holder": {"role": "provider", "name": "ops-staff"}'
# A request through the gate, so the directive's impact has recent traffic to count.
curl -fsS -o /dev/null "${base}/v1/chat/completions" -H "Authorization: Bearer ${globex}" \
  -H 'Content-Type: application/json' -d '{"model": "workhorse", "messages": [{"role": "user", "content": "hi"}]}' || true
# Let a checkpoint cover the new entries (one is signed every two seconds).
sleep 3

node tests/browser/screenshots.mjs "${base}" docs/screenshots "${password}"
# Palette PNGs are a third of the size and look the same for flat pages like these.
if command -v pngquant >/dev/null; then
  pngquant --force --skip-if-larger --ext .png --quality 70-95 docs/screenshots/*.png || true
else
  echo "pngquant not found: the PNGs are left full-colour (apt-get install -y pngquant)" >&2
fi
ls -l docs/screenshots/*.png
