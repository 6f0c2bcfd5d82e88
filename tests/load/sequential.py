#!/usr/bin/env python3
"""Sends N requests one after another on one keep-alive connection (run by
scripts/bench-instructions.sh).

  sequential.py URL N locate KEY   POST calculate-locate bodies over the same
                                   tickers, clients and positions as
                                   tests/load/locate.lua, in the same order
  sequential.py URL N get          GET the URL

Exits non-zero, naming the request, on any answer other than 200, so an
instruction count never covers errors.
"""
import http.client
import sys
import urllib.parse

TICKERS = ["GME", "AMC", "TSLA", "AAPL", "MSFT", "BRK.B", "F500", "NOVOL"]
CLIENTS = ["big_fund_007", "quant_360", "other_fund"]
POSITIONS = ["50000", "1234567.89", "250000.5"]


def locate_bodies():
    bodies = []
    for t in TICKERS:
        for c in CLIENTS:
            for p in POSITIONS:
                n = len(bodies)
                bodies.append('{"ticker":"%s","position_value":%s,"loan_days":%d,"client_id":"%s"}'
                              % (t, p, 30 + n % 300, c))
    return bodies


def main():
    url, n, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    bodies = locate_bodies()
    headers = {}
    if kind == "locate":
        headers = {"Content-Type": "application/json", "X-API-Key": sys.argv[4]}
    for i in range(n):
        if kind == "locate":
            conn.request("POST", parts.path, bodies[i % len(bodies)], headers)
        else:
            conn.request("GET", parts.path)
        res = conn.getresponse()
        body = res.read()
        if res.status != 200:
            sys.exit(f"sequential: request {i + 1} got {res.status}: {body[:200]!r}")


if __name__ == "__main__":
    main()
