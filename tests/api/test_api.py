"""The REST API of docs/design.md §2.3 over real HTTP: every route and error code,
the exact figures of the contract's example, and conformance to openapi.yaml."""
import json
import re
import socket
from decimal import Decimal

import pytest

import openapi_check

SPEC = openapi_check.load_spec()
JSON = {"Content-Type": "application/json"}


def parse(data):
    return json.loads(data, parse_float=Decimal)


def post(engine, body, key="demo-key-123", headers=None):
    h = {"X-API-Key": key, **JSON, **(headers or {})}
    status, hdrs, data = engine.request("POST", "/api/v1/calculate-locate",
                                        body if isinstance(body, (str, bytes)) else json.dumps(body), h)
    return status, hdrs, parse(data) if data else None


def error_of(status, body, code, field=None):
    assert body["status"] == "error", body
    assert body["error"]["code"] == code, body
    if field is not None:
        assert body["error"].get("field") == field, body
    return True


GME = {"ticker": "GME", "position_value": 50000, "loan_days": 60, "client_id": "big_fund_007"}


def test_contract_example_prices_to_the_cent(engine, market):
    market.rates["GME"] = "0.15"
    status, headers, body = post(engine, GME)
    assert status == 200, body
    assert body["total_fee"] == Decimal("1535.17")
    assert body["breakdown"] == {"borrow_cost": Decimal("1423.97"), "markup": Decimal("71.20"),
                                 "transaction_fees": Decimal("40.00")}
    assert body["borrow_rate_used"] == Decimal("0.17325")
    assert body["day_count"] == 365
    assert body["sources"] == {"base_rate": "lender_api", "volatility": "db", "event_risk": "db"}
    assert len(body["calculation_id"]) == 36
    openapi_check.check(SPEC, "/api/v1/calculate-locate", "POST", 200, headers, body)


def test_get_with_query_prices_the_same(engine, market):
    market.rates["GME"] = "0.15"
    status, headers, data = engine.request(
        "GET", "/api/v1/calculate-locate?ticker=gme&position_value=50000&loan_days=60&client_id=big_fund_007",
        headers={"X-API-Key": "demo-key-123"})
    body = parse(data)
    assert status == 200, body
    assert body["ticker"] == "GME" and body["total_fee"] == Decimal("1535.17")
    openapi_check.check(SPEC, "/api/v1/calculate-locate", "GET", 200, headers, body)


def test_percentage_fee_and_360_day_count(engine, market):
    market.rates["AAPL"] = "0.003"
    status, _, body = post(engine, {"ticker": "AAPL", "position_value": "1234567.89", "loan_days": 45,
                                    "client_id": "quant_360"}, key="quant-key-360")
    assert status == 200, body
    # r: no volatility row -> market VIX 22.4 (> V0 by 2.4), events API 0.
    r = Decimal("0.003") * (1 + Decimal("0.01") * Decimal("2.4"))
    p = Decimal("1234567.89")
    q = Decimal("0.01")
    borrow = p * r * 45 / 360
    assert body["breakdown"]["borrow_cost"] == borrow.quantize(q, rounding="ROUND_HALF_UP")
    assert body["breakdown"]["markup"] == (borrow * Decimal("2.5") / 100).quantize(q, rounding="ROUND_HALF_UP")
    assert body["breakdown"]["transaction_fees"] == (p * Decimal("0.1") / 100).quantize(q, rounding="ROUND_HALF_UP")
    assert body["day_count"] == 360
    assert body["sources"] == {"base_rate": "lender_api", "volatility": "market_api", "event_risk": "events_api"}
    parts = body["breakdown"]
    assert body["total_fee"] == parts["borrow_cost"] + parts["markup"] + parts["transaction_fees"]


def test_rate_endpoint(engine, market):
    market.rates["TSLA"] = "0.012"
    status, headers, data = engine.request("GET", "/api/v1/rates/tsla", headers={"X-API-Key": "demo-key-123"})
    body = parse(data)
    assert status == 200, body
    assert body["ticker"] == "TSLA" and body["borrow_status"] == "MEDIUM"
    # V = 18 from the row (below V0: no adjustment), E from the events API = 0.
    assert body["borrow_rate"] == Decimal("0.012")
    openapi_check.check(SPEC, "/api/v1/rates/{ticker}", "GET", 200, headers, body)


def test_rates_by_status_pages(engine):
    status, headers, data = engine.request("GET", "/api/v1/rates/status/EASY?limit=2&offset=1",
                                           headers={"X-API-Key": "demo-key-123"})
    body = parse(data)
    assert status == 200, body
    assert [s["ticker"] for s in body["stocks"]] == ["BRK.B", "MSFT"]
    openapi_check.check(SPEC, "/api/v1/rates/status/{status}", "GET", 200, headers, body)
    status, _, data = engine.request("GET", "/api/v1/rates/status/CHEAP", headers={"X-API-Key": "demo-key-123"})
    assert status == 400 and error_of(status, parse(data), "INVALID_PARAMETER", "status")


def test_market_volatility(engine, market):
    status, headers, data = engine.request("GET", "/api/v1/market/volatility", headers={"X-API-Key": "demo-key-123"})
    body = parse(data)
    assert status == 200, body
    assert body["vix"] == Decimal(market.vix) and body["source"] == "market_api"
    openapi_check.check(SPEC, "/api/v1/market/volatility", "GET", 200, headers, body)


def test_health_metrics_and_openapi(engine):
    assert engine.request("GET", "/health/live")[0] == 200
    status, headers, data = engine.request("GET", "/health/ready")
    assert status == 200, data
    openapi_check.check(SPEC, "/health/ready", "GET", 200, headers, parse(data))
    status, headers, data = engine.request("GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    text = data.decode()
    for name in ["http_requests_total", "http_request_duration_seconds", "calculations_total",
                 "calculation_duration_seconds", "cache_hits_total", "cache_misses_total",
                 "external_api_requests_total", "fallback_usage_total", "rate_limit_exceeded_total",
                 "audit_records_pending", "audit_spool_sync_duration_seconds",
                 "db_pool_connections_in_use", "db_pool_connections_max"]:
        assert name in text, name
    status, _, data = engine.request("GET", "/api/v1/openapi.yaml")
    assert status == 200 and data.decode().startswith("openapi: 3")


@pytest.mark.parametrize("field,value", [
    ("ticker", "1BAD"), ("ticker", "TOOLONGTICKER"), ("ticker", 5),
    ("position_value", 0), ("position_value", -1), ("position_value", "1.234"),
    ("position_value", 1000000000000.01), ("position_value", "abc"),
    ("loan_days", 0), ("loan_days", 366), ("loan_days", 1.5), ("loan_days", "ten"),
    ("client_id", "ab"), ("client_id", "bad id!"),
])
def test_invalid_parameter_names_the_field(engine, field, value):
    body = dict(GME, **{field: value})
    status, headers, out = post(engine, body)
    assert status == 400 and error_of(status, out, "INVALID_PARAMETER", field)
    openapi_check.check(SPEC, "/api/v1/calculate-locate", "POST", 400, headers, out)


def test_missing_field_and_malformed_json(engine):
    body = dict(GME)
    del body["loan_days"]
    status, _, out = post(engine, body)
    assert status == 400 and error_of(status, out, "INVALID_PARAMETER", "loan_days")
    status, _, out = post(engine, '{"ticker": "GME",')
    assert status == 400 and error_of(status, out, "INVALID_PARAMETER", "body")


def test_unauthorized_without_or_with_unknown_key(engine):
    status, headers, data = engine.request("POST", "/api/v1/calculate-locate", json.dumps(GME), JSON)
    body = parse(data)
    assert status == 401 and error_of(status, body, "UNAUTHORIZED", "X-API-Key")
    openapi_check.check(SPEC, "/api/v1/calculate-locate", "POST", 401, headers, body)
    status, _, body = post(engine, GME, key="not-a-real-key")
    assert status == 401 and error_of(status, body, "UNAUTHORIZED")


def test_forbidden_client_key_for_another_client(engine):
    status, headers, body = post(engine, dict(GME, client_id="quant_360"))
    assert status == 403 and error_of(status, body, "FORBIDDEN", "client_id")
    openapi_check.check(SPEC, "/api/v1/calculate-locate", "POST", 403, headers, body)
    status, _, body = post(engine, dict(GME, client_id="quant_360"), key="internal-key-001")
    assert status == 200, body


def test_not_found_codes(engine):
    status, _, body = post(engine, dict(GME, ticker="ZZZZ"), key="internal-key-001")
    assert status == 404 and error_of(status, body, "TICKER_NOT_FOUND", "ticker")
    status, _, body = post(engine, dict(GME, client_id="nobody_here"), key="internal-key-001")
    assert status == 404 and error_of(status, body, "CLIENT_NOT_FOUND", "client_id")
    status, _, data = engine.request("GET", "/api/v1/nothing", headers={"X-API-Key": "demo-key-123"})
    assert status == 404 and error_of(status, parse(data), "NOT_FOUND")


def test_method_not_allowed_has_allow_header(engine):
    status, headers, data = engine.request("DELETE", "/api/v1/calculate-locate", headers={"X-API-Key": "demo-key-123"})
    assert status == 405 and error_of(status, parse(data), "METHOD_NOT_ALLOWED")
    assert "GET" in headers["allow"] and "POST" in headers["allow"]


def test_payload_too_large(engine):
    status, headers, data = engine.request("POST", "/api/v1/calculate-locate", "x" * (64 * 1024 + 1),
                                           {"X-API-Key": "demo-key-123", **JSON})
    body = parse(data)
    assert status == 413 and error_of(status, body, "PAYLOAD_TOO_LARGE")
    openapi_check.check(SPEC, "/api/v1/calculate-locate", "POST", 413, headers, body)


def test_unsupported_media_type(engine):
    status, headers, data = engine.request("POST", "/api/v1/calculate-locate", json.dumps(GME),
                                           {"X-API-Key": "demo-key-123", "Content-Type": "text/plain"})
    body = parse(data)
    assert status == 415 and error_of(status, body, "UNSUPPORTED_MEDIA_TYPE", "Content-Type")
    openapi_check.check(SPEC, "/api/v1/calculate-locate", "POST", 415, headers, body)


def test_rate_limit_429_with_headers(engine):
    from conftest import away_from_minute_boundary
    away_from_minute_boundary()
    codes = []
    for _ in range(8):
        status, headers, body = post(engine, dict(GME, client_id="other_fund"), key="limited-key-05")
        codes.append(status)
    assert codes[:5] == [200] * 5, codes
    assert codes[5:] == [429] * 3, codes
    assert error_of(status, body, "RATE_LIMIT_EXCEEDED")
    for h in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after"):
        assert h in headers, h
    assert headers["x-ratelimit-limit"] == "5" and headers["x-ratelimit-remaining"] == "0"
    assert 1 <= int(headers["retry-after"]) <= 60
    openapi_check.check(SPEC, "/api/v1/calculate-locate", "POST", 429, headers, body)
    assert engine.metric("rate_limit_exceeded_total") >= 3


def test_keep_alive_serves_many_requests_on_one_connection(engine):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", engine.port, timeout=5)
    for _ in range(20):
        conn.request("POST", "/api/v1/calculate-locate", json.dumps(GME), {"X-API-Key": "demo-key-123", **JSON})
        r = conn.getresponse()
        r.read()
        assert r.status == 200
    conn.close()


def _raw_exchange(port, request, responses=1, until_close=False):
    """Sends raw request bytes; returns (bytes, closed): what arrived until
    `responses` heads have arrived (or, with until_close, until the peer
    closes), and whether the peer closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data, True
            data += chunk
            heads = data.split(b"\r\n\r\n")
            if not until_close and len(heads) > responses and all(b"Content-Length" in h for h in heads[:responses]):
                return data, False


def test_head_answers_headers_only_and_http10_keep_alive_is_kept(engine):
    head = b"HEAD /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    get10 = b"GET /health/live HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    data, _ = _raw_exchange(engine.port, head + get10, responses=2)
    first, rest = data.split(b"\r\n\r\n", 1)
    assert first.startswith(b"HTTP/1.1 200 OK"), data
    assert b"Content-Length: 15" in first
    # The HEAD answer has no body: the next bytes are the second response.
    assert rest.startswith(b"HTTP/1.0 200 OK"), data
    assert b"Connection: keep-alive" in rest
    assert rest.endswith(b'{"status":"ok"}')


def test_connection_close_is_honoured(engine):
    data, closed = _raw_exchange(engine.port, b"GET /health/live HTTP/1.1\r\nConnection: close\r\n\r\n",
                                 until_close=True)
    assert b"Connection: close" in data and closed
    assert data.endswith(b'{"status":"ok"}')


def test_malformed_http_gets_a_json_400(engine):
    with socket.create_connection(("127.0.0.1", engine.port), timeout=5) as s:
        s.sendall(b"NONSENSE\r\n\r\n")
        data = s.recv(4096).decode(errors="replace")
    assert data.startswith("HTTP/1.1 400"), data
    assert '"INVALID_PARAMETER"' in data


def test_every_price_is_in_the_audit_log(engine, services):
    ids = []
    for _ in range(20):
        status, _, body = post(engine, GME)
        assert status == 200
        ids.append(body["calculation_id"])
    import time
    deadline = time.time() + 10
    q = "select count(*) from audit_log where calculation_id in (%s)" % ",".join("'%s'" % i for i in ids)
    while time.time() < deadline and services.sql(q) != "20":
        time.sleep(0.2)
    assert services.sql(q) == "20"
    row = services.sql("select ticker, client_id, total_fee from audit_log where calculation_id = '%s'" % ids[0])
    assert row.split("|")[0] == "GME" and row.split("|")[1] == "big_fund_007"


def _raw_answer(port, request):
    """Sends raw request bytes on a fresh connection; returns (status, body)."""
    data, _ = _raw_exchange(port, request, until_close=False)
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


@pytest.mark.parametrize("request_id", [b"caf\xc3\xa9", b"\xff\xfe", b"a b", b"x" * 129, b"id/1", b"", b"  "])
def test_a_request_id_the_store_could_refuse_is_a_400_naming_the_header(engine, services, request_id):
    body = json.dumps(GME).encode()
    before = services.sql("select count(*) from audit_log")
    status, data = _raw_answer(engine.port, b"POST /api/v1/calculate-locate HTTP/1.1\r\nHost: x\r\n"
                               b"X-API-Key: demo-key-123\r\nContent-Type: application/json\r\n"
                               b"X-Request-Id: " + request_id + b"\r\nContent-Length: " +
                               str(len(body)).encode() + b"\r\n\r\n" + body)
    assert status == 400 and error_of(status, parse(data), "INVALID_PARAMETER", "X-Request-Id")
    # Refused before pricing: nothing reaches the audit trail.
    assert services.sql("select count(*) from audit_log") == before


def test_a_valid_request_id_is_echoed_and_audited(engine, services):
    rid = "desk-7:2026-12-07T09.30_1"
    status, headers, body = post(engine, GME, headers={"X-Request-Id": rid})
    assert status == 200 and headers["x-request-id"] == rid
    import time
    deadline = time.time() + 10
    q = "select count(*) from audit_log where request_id = '%s'" % rid
    while time.time() < deadline and services.sql(q) != "1":
        time.sleep(0.2)
    assert services.sql(q) == "1"


def test_headers_too_large_is_431_headers_too_large(engine):
    status, data = _raw_answer(engine.port, b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Pad: " +
                               b"a" * (17 * 1024) + b"\r\n\r\n")
    assert status == 431 and error_of(status, parse(data), "HEADERS_TOO_LARGE")


def test_metric_labels_come_from_fixed_sets(engine):
    # Invented methods and paths must not mint series (docs/design.md §2.3).
    for i in range(40):
        engine.request("FOO%d" % i, "/nowhere/%d" % i)
    _, _, data = engine.request("GET", "/metrics")
    text = data.decode()
    methods = set(re.findall(r'^http_requests_total\{[^}]*method="([^"]*)"', text, re.M))
    routes = set(re.findall(r'^http_requests_total\{[^}]*route="([^"]*)"', text, re.M))
    assert methods <= {"GET", "HEAD", "POST", "other"}, methods
    assert "other" in methods and "unmatched" in routes
    assert not any(r.startswith("/nowhere") for r in routes), routes
