"""The official `anthropic` Python client against a running `portcullis demo`.

Usage: python3 tests/e2e/anthropic_client.py <data-dir>/demo.json

A message and a streamed message through `/v1/messages`, and a 403 (`PermissionDeniedError`)
carrying the directive id for a non-US end user. Prints `N passed, M failed` and exits non-zero
on any failure.
"""

import json
import sys

import anthropic

passed = 0
failed = 0


def check(name, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def main(path):
    demo = json.load(open(path))
    header = demo["attestation"]["header"]
    acme = next(c for c in demo["customers"] if c["id"] == "acme")["api_key"]
    base = demo["gateway_url"]
    us = anthropic.Anthropic(base_url=base, api_key=acme, default_headers={header: demo["attestation"]["us_national"]})
    non_us = anthropic.Anthropic(base_url=base, api_key=acme, default_headers={header: demo["attestation"]["non_us_national"]})

    message = us.messages.create(model="frontier", max_tokens=64, messages=[{"role": "user", "content": "hello"}])
    text = "".join(block.text for block in message.content if block.type == "text")
    check("messages.create (not streamed)", "demo upstream" in text and message.usage.output_tokens > 0, text)

    with us.messages.stream(model="frontier", max_tokens=64, messages=[{"role": "user", "content": "hello"}]) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    check("messages.stream (several deltas, a final message)", len(pieces) > 3 and final.stop_reason == "end_turn", pieces)

    try:
        non_us.messages.create(model="frontier", max_tokens=64, messages=[{"role": "user", "content": "hello"}])
        check("a non-US end user is refused", False, "no error")
    except anthropic.PermissionDeniedError as err:
        body = err.body if isinstance(err.body, dict) else {}
        details = body.get("error", {}).get("portcullis", {})
        check("a non-US end user is refused, naming the directive", details.get("decided_by", {}).get("directive_id") == demo["directive"], body)

    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1])
