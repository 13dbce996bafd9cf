"""The official `openai` Python client against a running `portcullis demo`.

Usage: python3 tests/e2e/openai_client.py <data-dir>/demo.json

Checks what a customer's engineer would try first: list models, a chat completion streamed and
not, and a 403 (`PermissionDeniedError`) carrying the directive id for a non-US end user.
Prints `N passed, M failed` and exits non-zero on any failure.
"""

import json
import sys

import openai

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
    globex = next(c for c in demo["customers"] if c["id"] == "globex")["api_key"]
    us = openai.OpenAI(base_url=demo["base_url"], api_key=acme, default_headers={header: demo["attestation"]["us_national"]})
    non_us = openai.OpenAI(base_url=demo["base_url"], api_key=acme, default_headers={header: demo["attestation"]["non_us_national"]})

    ids = sorted(m.id for m in us.models.list())
    check("models.list shows frontier and workhorse to acme with a US attestation", ids == ["frontier", "workhorse"], ids)
    ids = sorted(m.id for m in openai.OpenAI(base_url=demo["base_url"], api_key=globex).models.list())
    check("models.list shows only workhorse to globex", ids == ["workhorse"], ids)

    reply = us.chat.completions.create(model="frontier", messages=[{"role": "user", "content": "hello"}])
    text = reply.choices[0].message.content
    check("chat completion (not streamed)", "demo upstream" in text, text)

    stream = us.chat.completions.create(model="frontier", messages=[{"role": "user", "content": "hello"}], stream=True)
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    check("chat completion (streamed, several chunks)", len(pieces) > 3 and "demo upstream" in "".join(pieces), pieces)

    try:
        non_us.chat.completions.create(model="frontier", messages=[{"role": "user", "content": "hello"}])
        check("non-US end user is refused", False, "no exception")
    except openai.PermissionDeniedError as err:
        body = err.body or {}
        decided_by = body.get("portcullis", {}).get("decided_by", {})
        check("non-US end user gets PermissionDeniedError", err.status_code == 403)
        check("the error names the directive", decided_by.get("directive_id") == demo["directive"], body)
        check("the error code is directive_in_force", err.code == "directive_in_force", err.code)

    try:
        openai.OpenAI(base_url=demo["base_url"], api_key="pcl_wrong").models.list()
        check("a bad key is refused", False, "no exception")
    except openai.AuthenticationError as err:
        check("a bad key gets AuthenticationError (401)", err.status_code == 401)

    embedding = us.embeddings.create(model="workhorse", input="hello")
    check("embeddings", len(embedding.data[0].embedding) > 0)
    response = us.responses.create(model="workhorse", input="hello")
    check("responses", "demo upstream" in response.output_text, response.output_text)

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
