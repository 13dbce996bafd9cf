#!/usr/bin/env python3
"""Streaming (SSE) latency client for bench/load.sh.

Sends N `"stream": true` chat completions, one new connection each, starting one every
STAGGER ms (so a few streams are in flight, out of phase with each other), all driven from
one thread by `selectors` so the timestamps are taken when the bytes arrive, not when a
thread gets the GIL. For each response it records:

  - TTFB: from the last byte of the request sent to the first byte of the response (the
    status line; the upstream sends its headers at once, before its first chunk);
  - first event: from the request sent to the first `data:` event (the upstream sleeps 40 ms
    before each chunk, so this is 40 ms plus whatever the path adds);
  - gap excess: for every pair of consecutive `data:` events, the gap minus 40 ms (the
    upstream's own spacing). Two events arriving in one read count as a gap of 0 (i.e. a
    negative excess): that is what buffering looks like.

Connecting is done before the clock starts, so connection setup is not in the numbers.
Prints one line: `SSE_RESULT <json>` with the raw samples in microseconds.

Usage: sse_client.py <url> <keys file> <attestation file> <n> <stagger ms> <deadline s>
"""

import json
import selectors
import socket
import sys
import time
import urllib.parse

CHUNK_SPACING_S = 0.040


class Stream:
    def __init__(self, url, key, attestation):
        self.sock = socket.create_connection((url.hostname, url.port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = json.dumps(
            {"model": "frontier", "stream": True, "messages": [{"role": "user", "content": "Say hello."}]}
        ).encode()
        head = (
            f"POST {url.path} HTTP/1.1\r\nHost: {url.hostname}:{url.port}\r\n"
            f"Authorization: Bearer {key}\r\nPortcullis-Attestation: {attestation}\r\n"
            f"Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        self.request = head + body
        self.sent_at = None
        self.first_byte_at = None
        self.event_times = []
        self.buffer = b""
        self.in_body = False
        self.status = None
        self.done = False

    def send(self):
        self.sock.sendall(self.request)
        self.sent_at = time.perf_counter()
        self.sock.setblocking(False)

    def on_readable(self):
        now = time.perf_counter()
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        if not data:
            self.done = True
            return
        if self.first_byte_at is None:
            self.first_byte_at = now
        self.buffer += data
        if not self.in_body:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status_line = self.buffer.split(b"\r\n", 1)[0]
            self.status = int(status_line.split()[1])
            self.buffer = self.buffer[end + 4:]
            self.in_body = True
        # Chunked framing is left in the buffer; `data:` only occurs at the start of an event.
        count = self.buffer.count(b"data:")
        self.event_times.extend([now] * count)
        if b"[DONE]" in self.buffer or self.buffer.endswith(b"0\r\n\r\n"):
            self.done = True
        # Keep a tail shorter than `data:` in case one is split across reads (so none is
        # counted twice).
        self.buffer = self.buffer[-4:]


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    url = urllib.parse.urlsplit(sys.argv[1])
    keys = [line.strip() for line in open(sys.argv[2]) if line.strip()]
    attestation = open(sys.argv[3]).readline().strip()
    n, stagger, deadline = int(sys.argv[4]), float(sys.argv[5]) / 1000, time.monotonic() + float(sys.argv[6])

    selector = selectors.DefaultSelector()
    finished, started, errors = [], 0, 0
    next_start = time.perf_counter()
    in_flight = 0
    while (started < n or in_flight) and time.monotonic() < deadline:
        if started < n and time.perf_counter() >= next_start:
            stream = Stream(url, keys[started % len(keys)], attestation)
            stream.send()
            selector.register(stream.sock, selectors.EVENT_READ, stream)
            started += 1
            in_flight += 1
            next_start += stagger
        timeout = max(0.0, next_start - time.perf_counter()) if started < n else 0.5
        for selected, _ in selector.select(timeout):
            stream = selected.data
            stream.on_readable()
            if stream.done:
                selector.unregister(stream.sock)
                stream.sock.close()
                in_flight -= 1
                finished.append(stream)
    errors += n - len(finished)

    ttfb, first_event, gap_excess = [], [], []
    for s in finished:
        if s.status != 200 or not s.event_times:
            errors += 1
            continue
        ttfb.append((s.first_byte_at - s.sent_at) * 1e6)
        first_event.append((s.event_times[0] - s.sent_at) * 1e6)
        gaps = [b - a for a, b in zip(s.event_times, s.event_times[1:])]
        gap_excess.extend((g - CHUNK_SPACING_S) * 1e6 for g in gaps)
    statuses = sorted({s.status for s in finished if s.status != 200})
    print("SSE_RESULT " + json.dumps({
        "ok": len(ttfb), "errors": errors, "bad_statuses": statuses,
        "ttfb_us": ttfb, "first_event_us": first_event, "gap_excess_us": gap_excess,
    }))


if __name__ == "__main__":
    main()
