"""Bounds on what a client controls (docs/design.md §2.3), over real HTTP: nothing a
client sends is buffered beyond the header and body limits, each bound is
answered with its contract code, and that answer reaches a client that is
still sending instead of a reset."""
import json
import socket
import subprocess
import threading
import time

import pytest

from conftest import ENGINE

HEAD = (b"POST /api/v1/calculate-locate HTTP/1.1\r\nHost: x\r\nX-API-Key: demo-key-123\r\n"
        b"Content-Type: application/json\r\n")


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def read_answer(sock, timeout=10):
    """Reads one response; returns (status, parsed JSON body)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before an answer: %r" % data)
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(head.split(b" ")[1]), json.loads(body[:length])


def send_flood(port, prefix, filler, total):
    """Sends prefix then `total` bytes of filler, ignoring the peer giving up,
    then reads the answer. Returns (status, body) or the error."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            s.sendall(prefix)
            chunk = filler * (65536 // len(filler))
            sent = 0
            while sent < total:
                s.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        try:
            return read_answer(s)
        except (OSError, ConnectionError) as e:
            return e


def test_chunk_extension_flood_is_431_and_never_buffered(fresh_engine):
    e = fresh_engine()
    before = vm_kib(e.proc.pid, "VmHWM")
    results = []
    floods = [threading.Thread(target=lambda: results.append(send_flood(
        e.port, HEAD + b"Transfer-Encoding: chunked\r\n\r\n5;ext=", b"a", 24 * 1024 * 1024)))
        for _ in range(4)]
    for t in floods:
        t.start()
    for t in floods:
        t.join()
    grown = vm_kib(e.proc.pid, "VmHWM") - before
    # Four connections each sent 24 MiB of one chunk extension; the engine
    # kept at most the header limit of each.
    assert grown < 24 * 1024, "peak RSS grew by %d KiB" % grown
    assert [r[0] for r in results if isinstance(r, tuple)] == [431] * 4, results
    assert all(r[1]["error"]["code"] == "HEADERS_TOO_LARGE" for r in results)
    assert e.request("GET", "/health/live")[0] == 200


def test_oversized_trailers_are_431(engine):
    with socket.create_connection(("127.0.0.1", engine.port), timeout=10) as s:
        s.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Trailer: " +
                  b"t" * (40 * 1024) + b"\r\n\r\n")
        status, body = read_answer(s)
    assert status == 431 and body["error"]["code"] == "HEADERS_TOO_LARGE", body


def test_413_reaches_a_client_still_sending_its_body(engine):
    body = b"x" * (2 * 1024 * 1024)
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", engine.port), timeout=10) as s:
            s.sendall(HEAD + b"Content-Length: %d\r\n\r\n" % len(body))
            s.sendall(body)  # raises on a reset: the answer would be lost
            status, answer = read_answer(s)
        assert status == 413 and answer["error"]["code"] == "PAYLOAD_TOO_LARGE", answer


def test_a_keep_alive_request_gets_the_read_timeout_not_the_idle_one(engine):
    with socket.create_connection(("127.0.0.1", engine.port), timeout=10) as s:
        s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_answer(s)[0] == 200
        time.sleep(1)
        # The next request starts and stalls: it has the read timeout (10 s)
        # from its first byte, not what is left of the idle timeout (60 s).
        s.sendall(b"GET /health/live HTTP/1.1\r\n")
        started = time.monotonic()
        status, body = read_answer(s, timeout=30)
        waited = time.monotonic() - started
    assert status == 408 and body["error"]["code"] == "REQUEST_TIMEOUT", body
    assert 9 < waited < 15, "answered after %.1f s" % waited


def test_connections_over_the_cap_get_503_and_the_rest_are_served(fresh_engine):
    e = fresh_engine(PRICING_MAX_CONNECTIONS="4", PRICING_THREADS="1")
    held = []
    for _ in range(4):
        s = socket.create_connection(("127.0.0.1", e.port), timeout=10)
        s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_answer(s)[0] == 200
        held.append(s)
    with socket.create_connection(("127.0.0.1", e.port), timeout=10) as extra:
        status, body = read_answer(extra)
        assert status == 503 and body["error"]["code"] == "SERVICE_UNAVAILABLE", body
        extra.settimeout(5)
        assert extra.recv(1) == b""  # and closed
    # The held connections still work, and a freed slot is taken again.
    held[0].sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_answer(held[0])[0] == 200
    held.pop().close()
    deadline = time.time() + 5
    while True:
        with socket.create_connection(("127.0.0.1", e.port), timeout=10) as s:
            s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            if read_answer(s)[0] == 200:
                break
        assert time.time() < deadline, "a freed connection slot is never reused"
        time.sleep(0.1)
    for s in held:
        s.close()


@pytest.mark.parametrize("value", ["0", "-1", "lots", "1000001"])
def test_a_bad_connection_cap_stops_the_engine_naming_it(value):
    r = subprocess.run([ENGINE, "serve", "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                       timeout=20, env={"PATH": "/usr/bin:/bin", "PRICING_MAX_CONNECTIONS": value})
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "PRICING_MAX_CONNECTIONS" in lines[0] and value in lines[0], r.stderr
