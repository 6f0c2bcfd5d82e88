#!/usr/bin/env python3
"""A fake of the three external market APIs (docs/design.md §2.2) for tests.

Listens on 127.0.0.1 on a free port and prints the port on stdout. The API
answers follow the current mode, set by the test through control requests:

  PUT /__mode/<mode>    ok | error500 | garbage | hang | trickle | flood-chunked |
                        flood-close (an endless answer, chunked or ended by close)
  PUT /__delay/<ms>     wait this long before answering in mode ok
  PUT /__rate/<text>    the lender rate, as raw JSON number text (default 0.15)
  PUT /__risk/<text>    the events risk_factor text (default 6)
  GET /__count          number of API requests received so far
  GET /__sent           body bytes the last flood got sent before the client left
"""
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

state = {"mode": "ok", "delay_ms": 0, "rate": "0.15", "risk": "6", "count": 0, "sent": 0}
lock = threading.Lock()
stop = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def do_PUT(self):
        parts = self.path.split("/")
        if len(parts) == 3 and parts[1].startswith("__"):
            key, value = parts[1][2:], parts[2]
            with lock:
                if key == "mode":
                    state["mode"] = value
                elif key == "delay":
                    state["delay_ms"] = int(value)
                elif key in ("rate", "risk"):
                    state[key] = value
                else:
                    return self.reply(404, "{}")
            return self.reply(200, "{}")
        self.reply(404, "{}")

    def do_GET(self):
        if self.path == "/__count":
            with lock:
                return self.reply(200, '{"count":%d}' % state["count"])
        if self.path == "/__sent":
            with lock:
                return self.reply(200, '{"sent":%d}' % state["sent"])
        with lock:
            state["count"] += 1
            mode, delay_ms = state["mode"], state["delay_ms"]
            rate, risk = state["rate"], state["risk"]
        if mode == "hang":
            stop.wait(120)
            return
        if mode == "trickle":
            # Headers at once, then one byte of the body every 150 ms: each
            # read makes progress, the whole answer takes far too long.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.flush()
            for _ in range(100):
                if stop.wait(0.15):
                    return
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return
            return
        if mode in ("flood-chunked", "flood-close"):
            # A valid start, then spaces without end (256 MiB at most),
            # as fast as the client takes them.
            chunked = mode == "flood-chunked"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            piece = b'{"value":22.4' + b" " * (64 * 1024 - 13)
            sent = 0
            with lock:
                state["sent"] = 0
            try:
                while sent < (256 << 20) and not stop.is_set():
                    data = (b"%x\r\n" % len(piece)) + piece + b"\r\n" if chunked else piece
                    self.wfile.write(data)
                    sent += len(piece)
                    with lock:
                        state["sent"] = sent
            except OSError:
                pass
            return
        if mode == "error500":
            return self.reply(500, '{"error":"boom"}')
        if mode == "garbage":
            return self.reply(200, "<html>not json")
        if delay_ms:
            time.sleep(delay_ms / 1000.0)
        path = self.path
        if path.startswith("/api/v1/borrows/"):
            ticker = path[len("/api/v1/borrows/"):]
            return self.reply(200, '{"ticker":"%s","rate":%s,"status":"HARD"}' % (ticker, rate))
        if path == "/api/v1/market/vix":
            return self.reply(200, '{"value":22.4}')
        if path.startswith("/api/v1/events/"):
            ticker = path[len("/api/v1/events/"):]
            return self.reply(200, '{"ticker":"%s","risk_factor":%s}' % (ticker, risk))
        self.reply(404, '{"error":"not found"}')


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    server = Server(("127.0.0.1", 0), Handler)
    server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sys.stdout.write("%d\n" % server.server_address[1])
    sys.stdout.flush()
    try:
        server.serve_forever()
    finally:
        stop.set()


if __name__ == "__main__":
    main()
