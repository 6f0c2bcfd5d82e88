"""Fixtures of the engine's HTTP API tests: a real PostgreSQL and Redis
(scripts/services.sh), fake external market APIs, and the pricing-engine binary
itself, started and stopped by the tests."""
import http.client
import http.server
import json
import os
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ENGINE = os.environ.get("PRICING_ENGINE_BIN", os.path.join(REPO, "build", "engine", "pricing-engine"))
DATA = os.path.join(os.path.dirname(__file__), "testdata", "reference-data.yaml")


def away_from_minute_boundary(margin=3.0):
    """Sleeps past the next minute boundary when one is near: rate limits use
    fixed calendar-minute windows, and a window rolling over mid-test would
    hand out a fresh allowance."""
    left = 60.0 - (time.time() % 60.0)
    if left < margin:
        time.sleep(left + 0.2)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Services:
    """PostgreSQL + Redis started by scripts/services.sh in a private directory."""

    def __init__(self, directory):
        self.dir = directory
        self.script = os.path.join(REPO, "scripts", "services.sh")

    def run(self, *args):
        subprocess.run([self.script, *args, self.dir], check=True, stdout=subprocess.DEVNULL)

    def up(self):
        self.run("up")
        self.env = {}
        with open(os.path.join(self.dir, "services.env")) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, v = line.split("=", 1)
                    self.env[k] = v.strip("'\"")

    def sql(self, query):
        # The query goes on stdin: id lists of large tests exceed argv limits.
        out = subprocess.run(["psql", self.env["PRICING_DATABASE_URL"], "-At", "-v", "ON_ERROR_STOP=1"],
                             input=query + ";\n", check=True, capture_output=True, text=True)
        return out.stdout.strip()


class FakeMarket:
    """The lender, market and events APIs of docs/design.md §2.2, in one server whose
    answers the tests set per ticker: a rate, "500", "garbage" or "hang"."""

    def __init__(self):
        self.rates = {}
        self.events = {}
        self.vix = "22.4"
        self.calls = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, mode, body):
                if mode == "500":
                    return self.send(500, b'{"error":"boom"}')
                if mode == "garbage":
                    return self.send(200, b"<html>not json")
                if mode == "hang":
                    time.sleep(5)
                    return self.send(200, body)
                return self.send(200, body)

            def send(self, code, body):
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self):
                path = urllib.parse.urlparse(self.path).path
                fake.calls.append(path)
                parts = path.strip("/").split("/")
                if parts[:3] == ["api", "v1", "borrows"]:
                    t = parts[3]
                    mode = fake.rates.get(t, "0.02")
                    return self.answer(mode, ('{"ticker":"%s","rate":%s,"status":"HARD"}' % (t, mode)).encode())
                if parts[:4] == ["api", "v1", "market", "vix"]:
                    return self.answer(fake.vix, ('{"value":%s}' % fake.vix).encode())
                if parts[:3] == ["api", "v1", "events"]:
                    t = parts[3]
                    mode = fake.events.get(t, "0")
                    return self.answer(mode, ('{"ticker":"%s","risk_factor":%s}' % (t, mode)).encode())
                self.send(404, b"{}")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def lender_calls(self, ticker):
        return sum(1 for c in self.calls if c == "/api/v1/borrows/" + ticker)


class Engine:
    """One pricing-engine process."""

    def __init__(self, env, workdir, name="engine"):
        self.env = env
        self.workdir = workdir
        self.name = name
        self.port = int(env["PRICING_LISTEN"].rsplit(":", 1)[1])
        self.proc = None

    def start(self, wait=True):
        self.log = open(os.path.join(self.workdir, self.name + ".log"), "ab")
        self.proc = subprocess.Popen([ENGINE, "serve"], env=self.env, stdout=self.log, stderr=self.log)
        if wait:
            deadline = time.time() + 20
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError("engine exited with %s; see %s" % (self.proc.returncode, self.log.name))
                try:
                    if self.request("GET", "/health/live")[0] == 200:
                        return self
                except OSError:
                    pass
                time.sleep(0.05)
            raise RuntimeError("engine did not start")
        return self

    def stop(self, sig=15):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)

    def request(self, method, path, body=None, headers=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()

    def price(self, key="demo-key-123", **fields):
        body = {"ticker": "GME", "position_value": 50000, "loan_days": 60, "client_id": "big_fund_007"}
        body.update(fields)
        status, headers, data = self.request(
            "POST", "/api/v1/calculate-locate", json.dumps(body),
            {"X-API-Key": key, "Content-Type": "application/json"})
        return status, headers, json.loads(data) if data else None

    def metric(self, name, **labels):
        """Sum of the samples of metric `name` whose labels include `labels`."""
        _, _, data = self.request("GET", "/metrics")
        total = 0.0
        for line in data.decode().splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            head, value = line.rsplit(" ", 1)
            metric = head.split("{", 1)[0]
            if metric != name:
                continue
            if all('%s="%s"' % (k, v) in head for k, v in labels.items()):
                total += float(value)
        return total


@pytest.fixture(scope="session")
def services(tmp_path_factory):
    s = Services(str(tmp_path_factory.mktemp("services")))
    s.up()
    subprocess.run([ENGINE, "seed", DATA], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PRICING_DATABASE_URL": s.env["PRICING_DATABASE_URL"]})
    yield s
    s.run("down")


@pytest.fixture(scope="session")
def market():
    m = FakeMarket()
    yield m
    m.server.shutdown()


def engine_env(services, market, workdir, **extra):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PRICING_LISTEN": "127.0.0.1:%d" % free_port(),
        "PRICING_DATABASE_URL": services.env["PRICING_DATABASE_URL"],
        "PRICING_REDIS_URL": services.env["PRICING_REDIS_URL"],
        "PRICING_LENDER_API_URL": market.url,
        "PRICING_MARKET_API_URL": market.url,
        "PRICING_EVENTS_API_URL": market.url,
        "PRICING_API_TIMEOUT": "300ms",
        "PRICING_AUDIT_DIR": os.path.join(workdir, "audit"),
        "PRICING_THREADS": "2",
    }
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def engine(services, market, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("engine"))
    e = Engine(engine_env(services, market, workdir), workdir).start()
    yield e
    e.stop()


@pytest.fixture
def fresh_engine(services, market, tmp_path):
    """An engine of its own, for tests that stop dependencies or kill it."""
    engines = []

    def make(**extra):
        e = Engine(engine_env(services, market, str(tmp_path), **extra), str(tmp_path),
                   name="engine%d" % len(engines)).start()
        engines.append(e)
        return e

    yield make
    for e in engines:
        e.stop(9)
