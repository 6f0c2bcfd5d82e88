"""Faults with real components: Redis and PostgreSQL stopped under the engine,
a lender API that fails, answers garbage or hangs, and kill -9 and SIGTERM of
the engine under load. Nothing answered with 200 may be missing from the audit
log."""
import http.client
import json
import os
import subprocess
import threading
import time
from decimal import Decimal

from conftest import ENGINE, free_port

GME = {"ticker": "GME", "position_value": 50000, "loan_days": 60, "client_id": "big_fund_007"}


def wait_until(pred, timeout=15, step=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def audit_count(services, ids):
    if not ids:
        return 0
    q = "select count(*) from audit_log where calculation_id in (%s)" % ",".join("'%s'" % i for i in ids)
    return int(services.sql(q))


def ready_of(engine):
    """(status, body) of GET /health/ready."""
    status, _, data = engine.request("GET", "/health/ready")
    return status, json.loads(data)


def log_records(engine):
    """The JSON lines an engine has logged so far."""
    with open(engine.log.name, "rb") as f:
        return [json.loads(line) for line in f.read().decode().splitlines() if line.startswith("{")]


def test_redis_stopped_still_prices_and_limits_per_process(services, market, fresh_engine):
    e = fresh_engine()
    assert e.price()[0] == 200
    services.run("stop-redis")
    try:
        for _ in range(5):
            status, _, body = e.price()
            assert status == 200, body
        # A ticker not in the process cache: looked up in PostgreSQL instead.
        market.rates["AMC"] = "0.09"
        status, _, body = e.price(ticker="AMC")
        assert status == 200, body
        # The limiter keeps limiting on its own: the 5/minute key still stops at 5.
        from conftest import away_from_minute_boundary
        away_from_minute_boundary()
        codes = [e.price(key="limited-key-05", client_id="other_fund")[0] for _ in range(7)]
        assert codes.count(200) <= 5 and codes[-1] == 429, codes
        # Readiness answers its latest probe (one a second).
        assert wait_until(lambda: ready_of(e)[1]["checks"]["redis"] == "unavailable", timeout=5)
        assert ready_of(e)[0] == 200
    finally:
        services.run("start-redis")
    assert wait_until(lambda: json.loads(e.request("GET", "/health/ready")[2])["checks"].get("redis") == "ok")
    assert e.price()[0] == 200


def test_postgres_stopped_prices_from_cache_and_spools_audit(services, market, fresh_engine):
    e = fresh_engine()
    market.rates["GME"] = "0.15"
    status, _, body = e.price()
    assert status == 200, body
    assert e.request("GET", "/health/ready")[0] == 200  # as kubelet's probe would
    services.run("stop-pg")
    ids = []
    try:
        for _ in range(10):
            status, _, body = e.price()
            assert status == 200, body
            assert body["total_fee"] == 1535.17
            ids.append(body["calculation_id"])
        # Reference data this process never saw cannot be priced: 503, not a guess.
        status, _, body = e.price(ticker="NOVOL", key="internal-key-001")
        assert status == 503 and body["error"]["code"] == "SERVICE_UNAVAILABLE", body
        # Still in service, degraded (docs/design.md §2.3): it serves what it has.
        assert wait_until(lambda: ready_of(e)[1]["status"] == "degraded", timeout=5), ready_of(e)
        status, ready = ready_of(e)
        assert status == 200 and ready["status"] == "degraded", ready
        assert ready["checks"]["reference_store"] == "degraded" and ready["degraded"] == ["reference_store"]
        assert e.metric("audit_records_pending") >= 10
    finally:
        services.run("start-pg")
    assert wait_until(lambda: audit_count(services, ids) == 10, timeout=30)
    assert wait_until(lambda: e.metric("audit_records_pending") == 0)


def test_readiness_is_degraded_for_the_stale_limit_then_not_ready(services, market, fresh_engine):
    e = fresh_engine(PRICING_STALE_LIMIT="3s")
    assert e.request("GET", "/health/ready")[0] == 200
    services.run("stop-pg")
    try:
        assert wait_until(lambda: ready_of(e) == (200, ready_of(e)[1]) and
                          ready_of(e)[1]["status"] == "degraded", timeout=3, step=0.1), ready_of(e)
        assert wait_until(lambda: e.request("GET", "/health/ready")[0] == 503, timeout=10)
        assert json.loads(e.request("GET", "/health/ready")[2])["status"] == "not_ready"
    finally:
        services.run("start-pg")
    assert wait_until(lambda: e.request("GET", "/health/ready")[0] == 200, timeout=30)
    assert json.loads(e.request("GET", "/health/ready")[2])["status"] == "ready"


def test_lender_500_and_garbage_fall_back_and_are_flagged(engine, market):
    market.rates["BAD"] = "500"
    status, _, body = engine.price(ticker="BAD", key="internal-key-001")
    assert status == 200, body
    assert body["sources"]["base_rate"] == "fallback"
    # min_borrow_rate 0.035; V from the market VIX 22.4, E 0: 0.035 × (1 + 0.01 × 2.4)
    assert body["borrow_rate_used"] == 0.03584
    market.rates["F500"] = "garbage"
    status, _, body = engine.price(ticker="F500", key="internal-key-001")
    assert status == 200 and body["sources"]["base_rate"] == "fallback", body
    assert engine.metric("fallback_usage_total", input="base_rate") >= 2


def test_lender_hang_falls_back_within_the_timeout(engine, market):
    market.rates["HANG"] = "hang"
    start = time.time()
    status, _, body = engine.price(ticker="HANG", key="internal-key-001")
    took = time.time() - start
    assert status == 200 and body["sources"]["base_rate"] == "fallback", body
    assert took < 1.5, took  # the engine's lender timeout is 300 ms in these tests
    assert engine.metric("external_api_requests_total", api="lender", outcome="timeout") >= 1


def test_breaker_opens_after_failures_and_closes_again(services, market, fresh_engine):
    e = fresh_engine()
    tickers = ["AAPL", "MSFT", "BRK.B", "TSLA", "AMC", "F500", "NOVOL"]
    for t in tickers:
        market.rates[t] = "500"
    for t in tickers:
        status, _, body = e.price(ticker=t, key="internal-key-001")
        assert status == 200 and body["sources"]["base_rate"] == "fallback", body
    assert e.metric("external_api_requests_total", api="lender", outcome="circuit_open") >= 1
    for t in tickers:
        market.rates[t] = "0.02"
    time.sleep(10.5)  # the breaker's cool-down
    status, _, body = e.price(ticker="NOVOL", key="internal-key-001")
    assert status == 200 and body["sources"]["base_rate"] == "lender_api", body


def test_kill_9_under_load_loses_no_answered_audit_record(services, market, fresh_engine):
    e = fresh_engine()
    answered = []
    stop = threading.Event()

    def load():
        while not stop.is_set():
            try:
                status, _, body = e.price()
            except OSError:
                return
            if status == 200:
                answered.append(body["calculation_id"])

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(2)
    e.proc.kill()  # SIGKILL, mid-stream
    e.proc.wait()
    stop.set()
    for t in threads:
        t.join()
    assert len(answered) > 50, len(answered)
    # The same spool directory, a new process: it recovers and drains.
    e.start()
    assert wait_until(lambda: audit_count(services, answered) == len(answered), timeout=30), \
        (audit_count(services, answered), len(answered))


def test_sigterm_under_load_answers_what_it_read_and_exits_cleanly(services, market, fresh_engine):
    """SIGTERM (a pod's termination) is a graceful stop: the engine stops
    accepting, answers the requests it has read, drains the audit spool and
    exits with status 0. Clients here keep their connections alive, so the
    stop meets connections mid-request as well as idle ones."""
    e = fresh_engine()
    answered = []
    stop = threading.Event()

    def load():
        conn = None
        body = json.dumps(GME)
        headers = {"X-API-Key": "demo-key-123", "Content-Type": "application/json"}
        while not stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", e.port, timeout=10)
                conn.request("POST", "/api/v1/calculate-locate", body, headers)
                r = conn.getresponse()
                data = r.read()
                if r.status == 200:
                    answered.append(json.loads(data)["calculation_id"])
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                # Refused once the listener is closed, or an idle connection
                # closed by the stop before this request reached the engine.
                if conn is not None:
                    conn.close()
                    conn = None
                time.sleep(0.01)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(2)
    e.proc.terminate()
    rc = e.proc.wait(timeout=30)
    stop.set()
    for t in threads:
        t.join()
    assert rc == 0, "engine exited with %s on SIGTERM (negative: killed by that signal)" % rc
    log = log_records(e)
    stopped = [r for r in log if r.get("msg") == "stopped"]
    assert stopped and stopped[-1]["audit_pending"] == "0", stopped
    assert len(answered) > 50, len(answered)
    assert audit_count(services, answered) == len(answered), (audit_count(services, answered), len(answered))


def test_sigterm_while_postgres_is_down_hands_the_spool_to_a_peer(services, market, fresh_engine, tmp_path):
    """A pod deleted while PostgreSQL is away must not take its spooled audit
    records with it: at stop, the engine hands what PostgreSQL did not take
    to a peer (audit_handoff_url, the component's Service in a cluster),
    which keeps them in its own spool and delivers them once PostgreSQL is
    back."""
    token = {"PRICING_INTERNAL_TOKEN": "handoff-test-token-0001"}
    peer = fresh_engine(PRICING_AUDIT_DIR=str(tmp_path / "peer-audit"), **token)
    stopping = fresh_engine(PRICING_AUDIT_DIR=str(tmp_path / "stopping-audit"),
                            PRICING_AUDIT_HANDOFF_URL="http://127.0.0.1:%d" % peer.port, **token)
    # The handoff path takes only the internal token.
    status, _, _ = peer.request("POST", "/internal/v1/audit-batches", "{}\n",
                                {"Content-Type": "application/x-ndjson"})
    assert status == 401, status
    market.rates["GME"] = "0.15"
    assert stopping.price()[0] == 200
    services.run("stop-pg")
    ids = []
    try:
        for _ in range(12):
            status, _, body = stopping.price()
            assert status == 200, body
            ids.append(body["calculation_id"])
        assert stopping.metric("audit_records_pending") >= 12
        stopping.proc.terminate()
        assert stopping.proc.wait(timeout=40) == 0
        log = log_records(stopping)
        handed = [r for r in log if r.get("msg") == "audit records handed off"]
        assert handed and int(handed[-1]["records"]) >= 12 and handed[-1]["audit_pending"] == "0", handed
        stopped = [r for r in log if r.get("msg") == "stopped"]
        assert stopped and stopped[-1]["audit_pending"] == "0", stopped
        assert peer.metric("audit_records_pending") >= 12
    finally:
        services.run("start-pg")
    assert wait_until(lambda: audit_count(services, ids) == len(ids), timeout=30)
    assert wait_until(lambda: peer.metric("audit_records_pending") == 0)
    # Delivered once: the stopping engine's spool kept nothing to send again.
    restarted = fresh_engine(PRICING_AUDIT_DIR=str(tmp_path / "stopping-audit"))
    assert restarted.metric("audit_records_pending") == 0


def test_a_record_the_store_refuses_is_dead_lettered_alone_and_redriven(services, market, fresh_engine, tmp_path):
    e = fresh_engine()
    market.rates["GME"] = "0.15"
    # The store refuses one request's record (as a constraint added by a DBA
    # would), and no other.
    services.sql("alter table audit_log add constraint refuse_277_days check (loan_days <> 277) not valid")
    try:
        ids, refused = [], None
        for days in (60, 61, 277, 62, 63):
            status, _, body = e.price(loan_days=days)
            assert status == 200, body
            if days == 277:
                refused = body["calculation_id"]
            else:
                ids.append(body["calculation_id"])
        # The records after the refused one are not held back by it.
        assert wait_until(lambda: audit_count(services, ids) == 4, timeout=10)
        assert wait_until(lambda: e.metric("audit_dead_letters_total") == 1)
        assert audit_count(services, [refused]) == 0
        dead = os.path.join(e.env["PRICING_AUDIT_DIR"], "spool", "dead-letter.jsonl")
        with open(dead) as f:
            lines = [json.loads(line) for line in f]
        assert len(lines) == 1 and refused in lines[0]["record"], lines
        assert "refuse_277_days" in lines[0]["reason"], lines
        assert e.metric("audit_records_pending") == 0
    finally:
        services.sql("alter table audit_log drop constraint refuse_277_days")

    env = {"PATH": e.env["PATH"], "PRICING_DATABASE_URL": e.env["PRICING_DATABASE_URL"],
           "PRICING_AUDIT_DIR": e.env["PRICING_AUDIT_DIR"]}
    # While the engine runs on the same spool.
    out = subprocess.run([ENGINE, "audit", "redrive"], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr + out.stdout
    assert '"redriven":"1"' in out.stderr + out.stdout, out.stderr + out.stdout
    assert audit_count(services, [refused]) == 1
    assert not os.path.exists(dead)
    # Once more: nothing left to send, nothing sent twice.
    out = subprocess.run([ENGINE, "audit", "redrive"], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and '"redriven":"0"' in out.stderr + out.stdout, out.stderr + out.stdout
    assert audit_count(services, [refused]) == 1


def test_audit_redrive_usage_and_unavailable_store_are_one_line_errors(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PRICING_AUDIT_DIR": str(tmp_path)}
    out = subprocess.run([ENGINE, "audit"], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "usage: pricing-engine audit redrive" in out.stderr, out.stderr
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "dead-letter.jsonl").write_text('{"reason":"x","record":"{}"}\n')
    env["PRICING_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:%d/none?connect_timeout=2" % free_port()
    out = subprocess.run([ENGINE, "audit", "redrive"], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode != 0, out.stdout
    # Nothing is lost: the dead letters are all still there.
    left = [p.name for p in spool.iterdir()]
    assert any(n.startswith("dead-letter") for n in left), left
