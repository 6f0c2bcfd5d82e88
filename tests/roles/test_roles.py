"""The engine split into its roles, as separate processes over a real
PostgreSQL and Redis (scripts/services.sh): gateway -> calculation -> data /
audit, with the cache role keeping Redis warm. The split must price a request
table exactly like an `all` process on the same data and the same fake lender
(tests/load/lender.py), audit every price it answers, refuse calls that
bypass the gateway, and answer 503 while calculation is killed, then recover.

The split roles use Redis database 1 and the `all` process database 0, so
neither reads the other's cache or rate-limit counters."""
import importlib.util
import json
import os
import secrets
import socket
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
_spec = importlib.util.spec_from_file_location("api_fixtures", os.path.join(REPO, "tests", "api", "conftest.py"))
api = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(api)

DATA = os.path.join(REPO, "tests", "api", "testdata", "reference-data.yaml")
LENDER = os.path.join(REPO, "tests", "load", "lender.py")
VOLATILE = ("calculation_id", "calculated_at", "as_of")


def wait_until(pred, timeout=20, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def redis(port, db, *args):
    """One command on a private Redis; returns the reply as text."""
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "-n", str(db), *args],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


class Split:
    """PostgreSQL + Redis, the fake lender, the five split roles and an `all`
    process, all on free loopback ports."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.services = api.Services(os.path.join(workdir, "services"))
        self.services.up()
        subprocess.run([api.ENGINE, "seed", DATA], check=True, stdout=subprocess.DEVNULL,
                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                            "PRICING_DATABASE_URL": self.services.env["PRICING_DATABASE_URL"]})
        lender_port = api.free_port()
        self.lender = subprocess.Popen([sys.executable, LENDER, str(lender_port)])
        self.lender_url = "http://127.0.0.1:%d" % lender_port
        wait_until(lambda: self._listening(lender_port), timeout=10)
        self.token = secrets.token_hex(24)
        self.redis_port = int(self.services.env["PRICING_REDIS_PORT"])
        self.engines = {}
        self.ports = {name: api.free_port() for name in ("data", "audit", "calculation", "cache", "gateway", "all")}

    @staticmethod
    def _listening(port):
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    def url(self, role):
        return "http://127.0.0.1:%d" % self.ports[role]

    def env(self, role):
        db = self.services.env["PRICING_DATABASE_URL"]
        redis0 = self.services.env["PRICING_REDIS_URL"]
        redis1 = redis0.rsplit("/", 1)[0] + "/1"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PRICING_ROLE": role,
            "PRICING_LISTEN": "127.0.0.1:%d" % self.ports[role],
            "PRICING_THREADS": "2",
            "PRICING_API_TIMEOUT": "500ms",
        }
        markets = {"PRICING_LENDER_API_URL": self.lender_url, "PRICING_MARKET_API_URL": self.lender_url,
                   "PRICING_EVENTS_API_URL": self.lender_url}
        if role == "all":
            env.update(markets, PRICING_DATABASE_URL=db, PRICING_REDIS_URL=redis0,
                       PRICING_AUDIT_DIR=os.path.join(self.workdir, "all-audit"))
            return env
        env["PRICING_INTERNAL_TOKEN"] = self.token
        if role == "data":
            env.update(markets, PRICING_DATABASE_URL=db)
        elif role == "audit":
            env.update(PRICING_DATABASE_URL=db)
        elif role == "calculation":
            env.update(PRICING_DATA_URL=self.url("data"), PRICING_AUDIT_URL=self.url("audit"),
                       PRICING_REDIS_URL=redis1, PRICING_ACTIVE_RECORD_INTERVAL="1s",
                       PRICING_AUDIT_DIR=os.path.join(self.workdir, "calculation-audit"))
        elif role == "cache":
            env.update(PRICING_DATA_URL=self.url("data"), PRICING_REDIS_URL=redis1,
                       PRICING_CACHE_REFRESH_INTERVAL="1s")
        elif role == "gateway":
            env.update(PRICING_DATA_URL=self.url("data"), PRICING_CALCULATION_URL=self.url("calculation"),
                       PRICING_REDIS_URL=redis1)
        return env

    def start(self, role):
        e = api.Engine(self.env(role), self.workdir, name=role)
        self.engines[role] = e.start()
        return e

    def stop(self):
        for e in reversed(list(self.engines.values())):
            try:
                e.stop(15)
            except Exception:
                e.stop(9)
        self.lender.kill()
        self.lender.wait()
        self.services.run("down")


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    s = Split(str(tmp_path_factory.mktemp("roles")))
    try:
        for role in ("data", "audit", "calculation", "cache", "gateway", "all"):
            s.start(role)
        yield s
    finally:
        s.stop()


def call(engine, method, path, body=None, key=None, content_type="application/json"):
    headers = {}
    if key is not None:
        headers["X-API-Key"] = key
    if body is not None:
        headers["Content-Type"] = content_type
        if not isinstance(body, str):
            body = json.dumps(body)
    status, hdrs, data = engine.request(method, path, body, headers)
    return status, hdrs, data


def comparable(data):
    doc = json.loads(data)
    for k in VOLATILE:
        doc.pop(k, None)
    return doc


def locate(ticker, position, days, client):
    return {"ticker": ticker, "position_value": position, "loan_days": days, "client_id": client}


INTERNAL = "internal-key-001"
TABLE = [
    ("POST", "/api/v1/calculate-locate", locate("GME", 50000, 60, "big_fund_007"), "demo-key-123"),
    ("POST", "/api/v1/calculate-locate", locate("AMC", 1234567.89, 365, "quant_360"), INTERNAL),
    ("POST", "/api/v1/calculate-locate", locate("TSLA", 250000.5, 1, "other_fund"), INTERNAL),
    ("POST", "/api/v1/calculate-locate", locate("AAPL", 999999999999.99, 30, "quant_360"), INTERNAL),
    ("POST", "/api/v1/calculate-locate", locate("brk.b", 10, 7, "big_fund_007"), INTERNAL),
    ("POST", "/api/v1/calculate-locate", locate("NOVOL", 75000, 90, "quant_360"), "quant-key-360"),
    ("POST", "/api/v1/calculate-locate", locate("F500", 0.01, 360, "other_fund"), INTERNAL),
    ("GET", "/api/v1/calculate-locate?ticker=MSFT&position_value=12345.67&loan_days=45&client_id=quant_360", None, INTERNAL),
    ("GET", "/api/v1/calculate-locate?ticker=BRK.B&position_value=1%2E5&loan_days=2&client_id=big_fund_007", None, INTERNAL),
    # Refusals, in the order `all` checks them.
    ("POST", "/api/v1/calculate-locate", locate("NOPE", 100, 10, "quant_360"), INTERNAL),
    ("POST", "/api/v1/calculate-locate", locate("GME", 100, 10, "nobody_at_all"), INTERNAL),
    ("POST", "/api/v1/calculate-locate", locate("GME", 100, 10, "quant_360"), "demo-key-123"),
    ("POST", "/api/v1/calculate-locate", locate("GME", -5, 10, "quant_360"), INTERNAL),
    ("POST", "/api/v1/calculate-locate", locate("GME", 100.001, 10, "quant_360"), INTERNAL),
    ("POST", "/api/v1/calculate-locate", locate("GME", 100, 366, "quant_360"), INTERNAL),
    ("POST", "/api/v1/calculate-locate", '{"ticker": "GME",', INTERNAL),
    ("POST", "/api/v1/calculate-locate", locate("GME", 100, 10, "quant_360"), None),
    ("POST", "/api/v1/calculate-locate", locate("GME", 100, 10, "quant_360"), "not-a-key-at-all"),
    ("GET", "/api/v1/rates/GME", None, INTERNAL),
    ("GET", "/api/v1/rates/novol", None, "demo-key-123"),
    ("GET", "/api/v1/rates/NOPE", None, INTERNAL),
    ("GET", "/api/v1/rates/status/HARD", None, INTERNAL),
    ("GET", "/api/v1/rates/status/easy?limit=2&offset=1", None, INTERNAL),
    ("GET", "/api/v1/rates/status/WEIRD", None, INTERNAL),
    ("GET", "/api/v1/market/volatility", None, INTERNAL),
    ("GET", "/api/v1/nowhere", None, INTERNAL),
    ("DELETE", "/api/v1/rates/GME", None, INTERNAL),
    ("GET", "/health/live", None, None),
]


def test_split_prices_a_request_table_exactly_like_all(split):
    gateway, whole = split.engines["gateway"], split.engines["all"]
    split.priced = []
    seen = set()
    for method, path, body, key in TABLE:
        s_status, s_headers, s_data = call(gateway, method, path, body, key)
        a_status, a_headers, a_data = call(whole, method, path, body, key)
        what = "%s %s %s" % (method, path, body)
        assert s_status == a_status, "%s\nsplit: %s\nall:   %s" % (what, s_data, a_data)
        assert comparable(s_data) == comparable(a_data), "%s\nsplit: %s\nall:   %s" % (what, s_data, a_data)
        assert s_headers.get("x-ratelimit-limit") == a_headers.get("x-ratelimit-limit"), what
        assert s_headers.get("allow") == a_headers.get("allow"), what
        seen.add(s_status)
        if s_status == 200 and path.startswith("/api/v1/calculate-locate"):
            doc = json.loads(s_data)
            assert doc["sources"]["base_rate"] == "lender_api", s_data
            split.priced.append(doc["calculation_id"])
    assert len(split.priced) == 9
    assert seen == {200, 400, 401, 403, 404, 405}, seen


def test_split_refuses_unsupported_media_like_all(split):
    for engine in (split.engines["gateway"], split.engines["all"]):
        status, _, data = call(engine, "POST", "/api/v1/calculate-locate", locate("GME", 1, 1, "quant_360"),
                               INTERNAL, content_type="text/plain")
        assert status == 415, data


def test_rate_limits_hold_at_the_gateway(split):
    api.away_from_minute_boundary(margin=5)
    statuses = {}
    for role in ("gateway", "all"):
        statuses[role] = [call(split.engines[role], "POST", "/api/v1/calculate-locate",
                               locate("GME", 1000, 5, "other_fund"), "limited-key-05")[0] for _ in range(7)]
    assert statuses["gateway"] == statuses["all"] == [200] * 5 + [429] * 2, statuses


def audited(split, ids):
    if not ids:
        return 0
    q = "select count(*) from audit_log where calculation_id in (%s)" % ",".join("'%s'" % i for i in ids)
    return int(split.services.sql(q))


def test_every_price_answered_through_the_split_is_audited(split):
    ids = list(getattr(split, "priced", []))
    for _ in range(20):
        status, _, data = call(split.engines["gateway"], "POST", "/api/v1/calculate-locate",
                               locate("GME", 50000, 60, "big_fund_007"), "demo-key-123")
        assert status == 200, data
        ids.append(json.loads(data)["calculation_id"])
    assert wait_until(lambda: audited(split, ids) == len(ids), timeout=30), \
        "%d of %d audited" % (audited(split, ids), len(ids))
    # The audit role wrote them; the calculation role never opened PostgreSQL.
    assert split.engines["audit"].metric("http_requests_total", route="/internal/v1/audit-batches", code="200") > 0


def test_calculation_refuses_calls_that_bypass_the_gateway(split):
    calc = split.engines["calculation"]
    status, _, data = call(calc, "POST", "/api/v1/calculate-locate", locate("GME", 50000, 60, "big_fund_007"),
                           "demo-key-123")
    assert status == 401, data
    assert json.loads(data)["error"]["code"] == "UNAUTHORIZED"
    forged = {"Content-Type": "application/json", "X-Internal-Token": "x" * 48,
              "X-Pricing-Client-Id": "big_fund_007", "X-Pricing-Key-Scope": "internal",
              "X-Pricing-Key-Id": "0123456789abcdef"}
    status, _, data = calc.request("POST", "/api/v1/calculate-locate",
                                   json.dumps(locate("GME", 50000, 60, "big_fund_007")), forged)
    assert status == 401, data
    # With the token and a principal, the same request prices: the refusal was the token's.
    forged["X-Internal-Token"] = split.token
    status, _, data = calc.request("POST", "/api/v1/calculate-locate",
                                   json.dumps(locate("GME", 50000, 60, "big_fund_007")), forged)
    assert status == 200, data
    # The data and audit roles refuse callers without the token too.
    status, _, data = split.engines["data"].request("GET", "/internal/v1/api-keys/" + "0" * 64)
    assert status == 401, data
    status, _, data = split.engines["audit"].request("POST", "/internal/v1/audit-batches", "{}\n",
                                                     {"Content-Type": "application/x-ndjson"})
    assert status == 401, data


def test_a_request_sent_again_to_another_calculation_process_is_priced_once(split):
    """The gateway resends a POST whose pooled connection dropped, and the
    resend may reach another calculation pod. That pod answers the first
    pod's price from the reply ledger in Redis: it prices nothing, and the
    audit trail holds one row."""
    env = split.env("calculation")
    port = api.free_port()
    env.update(PRICING_LISTEN="127.0.0.1:%d" % port,
               PRICING_AUDIT_DIR=os.path.join(split.workdir, "calculation2-audit"))
    second = api.Engine(env, split.workdir, name="calculation2")
    split.engines["calculation2"] = second.start()
    first = split.engines["calculation"]
    principal = {"Content-Type": "application/json", "X-Internal-Token": split.token,
                 "X-Pricing-Client-Id": "big_fund_007", "X-Pricing-Key-Scope": "client",
                 "X-Pricing-Key-Id": "0123456789abcdef",
                 "X-Request-Id": "resend-" + secrets.token_hex(8)}
    body = json.dumps(locate("GME", 50000, 60, "big_fund_007"))
    status, _, priced = first.request("POST", "/api/v1/calculate-locate", body, principal)
    assert status == 200, priced
    before = second.metric("calculations_total")
    status, _, again = second.request("POST", "/api/v1/calculate-locate", body, principal)
    assert status == 200, again
    assert again == priced
    assert second.metric("calculations_total") == before, "priced a second time"
    calculation_id = json.loads(priced)["calculation_id"]
    assert wait_until(lambda: audited(split, [calculation_id]) == 1, timeout=30)
    # The same id on another request is priced by whichever process gets it.
    other = dict(principal)
    status, _, data = second.request("POST", "/api/v1/calculate-locate",
                                     json.dumps(locate("AMC", 50000, 60, "big_fund_007")), other)
    assert status == 200, data
    assert second.metric("calculations_total") == before + 1


def test_each_role_is_ready_and_exports_its_scaling_signal(split):
    for role in ("data", "audit", "calculation", "cache", "gateway"):
        status, _, data = split.engines[role].request("GET", "/health/ready")
        assert status == 200, (role, data)
        assert json.loads(data)["role"] == role
    assert split.engines["gateway"].metric("http_requests_total", route="/api/v1/calculate-locate") > 0
    assert split.engines["calculation"].metric("calculations_total") > 0
    assert split.engines["data"].metric("db_pool_connections_max") > 0
    _, _, text = split.engines["data"].request("GET", "/metrics")
    assert b"db_pool_connections_in_use" in text
    assert split.engines["cache"].metric("cache_operations_total", op="get") > 0


def test_cache_role_refreshes_an_active_tickers_entries(split):
    # GME was priced: the calculation role recorded it as active.
    assert wait_until(lambda: redis(split.redis_port, 1, "ZSCORE", "active:tickers", "GME") != "", timeout=10)
    before = split.engines["cache"].metric("cache_operations_total", op="refresh")
    for key in ("rate:GME", "stock:GME", "vol:GME", "broker:big_fund_007"):
        redis(split.redis_port, 1, "DEL", key)
    assert wait_until(lambda: all(redis(split.redis_port, 1, "EXISTS", k) == "1"
                                  for k in ("rate:GME", "stock:GME", "vol:GME", "broker:big_fund_007")),
                      timeout=15)
    assert split.engines["cache"].metric("cache_operations_total", op="refresh") >= before + 4
    assert int(redis(split.redis_port, 1, "TTL", "rate:GME")) > 250
    rate, fetched_ms = redis(split.redis_port, 1, "GET", "rate:GME").split()
    assert rate == "0.021" and abs(int(fetched_ms) / 1000 - time.time()) < 30
    # A new calculation process reading what the cache role wrote prices like `all`.
    status, _, data = call(split.engines["gateway"], "POST", "/api/v1/calculate-locate",
                           locate("GME", 50000, 60, "big_fund_007"), "demo-key-123")
    _, _, expected = call(split.engines["all"], "POST", "/api/v1/calculate-locate",
                          locate("GME", 50000, 60, "big_fund_007"), "demo-key-123")
    assert status == 200 and comparable(data) == comparable(expected), data


def test_gateway_answers_503_while_calculation_is_killed_then_recovers(split):
    gateway = split.engines["gateway"]
    calc = split.engines["calculation"]
    assert call(gateway, "GET", "/api/v1/rates/GME", None, INTERNAL)[0] == 200
    calc.proc.kill()  # SIGKILL
    calc.proc.wait()
    for method, path, body in (("POST", "/api/v1/calculate-locate", locate("GME", 50000, 60, "big_fund_007")),
                               ("GET", "/api/v1/rates/GME", None)):
        status, headers, data = call(gateway, method, path, body, "demo-key-123")
        assert status == 503, data
        assert headers["content-type"].startswith("application/json")
        doc = json.loads(data)
        assert doc["status"] == "error" and doc["error"]["code"] == "SERVICE_UNAVAILABLE", doc
    # Readiness answers its latest probe (one a second).
    assert wait_until(lambda: json.loads(gateway.request("GET", "/health/ready")[2])["checks"]["calculation"]
                      == "unavailable", timeout=5)
    status, _, data = gateway.request("GET", "/health/ready")
    assert status == 200, "the gateway stays in service to answer 503 itself"

    split.start("calculation")
    ids = []

    def priced():
        status, _, data = call(gateway, "POST", "/api/v1/calculate-locate",
                               locate("GME", 50000, 60, "big_fund_007"), "demo-key-123")
        if status == 200:
            ids.append(json.loads(data)["calculation_id"])
        return status == 200

    assert wait_until(priced, timeout=20), "the gateway did not reconnect"
    assert wait_until(lambda: json.loads(gateway.request("GET", "/health/ready")[2])["checks"]["calculation"]
                      == "ok", timeout=5)
    assert wait_until(lambda: audited(split, ids) == len(ids), timeout=30)
