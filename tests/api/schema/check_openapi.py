"""engine/openapi.yaml against the running engine, by property-based testing
(schemathesis): the engine over real PostgreSQL and Redis answers every
generated request, valid or not, without a 5xx and with a status, content type,
headers and body that the document allows.

Schemathesis runs as its CLI against the engine of the `engine` fixture, with
a fixed seed so that a failure in CI reproduces locally with the command it
prints. Its JSON report gives the number of generated cases and its HAR report
the status each case was answered with, which the test prints and asserts on.

This file runs with the venv of scripts/pytools.sh (schemathesis is not a
Debian package), named on the command line (tests/api/CMakeLists.txt). Its
name keeps it out of the rest of tests/api, which Debian's python3 runs, and it
has no conftest.py of its own: the modules there import `conftest` by name."""
import collections
import importlib.util
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# The fixtures of tests/api (PostgreSQL and Redis through scripts/services.sh,
# the fake market APIs, the engine), loaded by path so that they are found
# whichever directory pytest takes as its rootdir.
_spec = importlib.util.spec_from_file_location("api_fixtures", os.path.join(HERE, "..", "conftest.py"))
api = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(api)
services = api.services
market = api.market
engine = api.engine

SPEC = os.path.join(HERE, "..", "..", "..", "engine", "openapi.yaml")
HOOKS = os.path.join(HERE, "hooks.py")

SEED = int(os.environ.get("PRICING_SCHEMA_SEED", "20240601"))
# Per operation and phase. Only the four operations with parameters reach it
# (about 4 cases per unit in all), the others have a handful of distinct
# requests, so 600 gives some 2,600 cases in the main pass.
MAX_EXAMPLES = int(os.environ.get("PRICING_SCHEMA_MAX_EXAMPLES", "600"))
MIN_CASES = 2000

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    # Data outside the document answered 2xx means the document or the
    # validation is wrong (the document is the contract clients code against).
    "negative_data_rejection",
    # A 2xx is repeated without the key and with a spoiled one: both refused.
    "ignored_auth",
    "missing_required_header",
    # Other methods on each route: 405 with an Allow header naming the right ones.
    "unsupported_method",
    "allow_header_conformance",
]

# Keys of tests/api/testdata/reference-data.yaml, one pass each:
#   internal-key-001  prices any client_id and has a limit (1,000,000 a minute)
#                     far above the run, so every handler's own answer is seen;
#   demo-key-123      a client key: 403 for any client_id but big_fund_007;
#   limited-key-05    5 requests a minute: the 429s and their headers.
PASSES = [
    ("internal", "internal-key-001", MAX_EXAMPLES, []),
    ("client", "demo-key-123", 60, ["--include-path", "/api/v1/calculate-locate"]),
    ("limited", "limited-key-05", 20, ["--include-path-regex", "^/api/v1/(calculate-locate|rates|market)"]),
]


def run_pass(engine, directory, name, key, max_examples, extra):
    report_json = directory / ("%s.json" % name)
    report_har = directory / ("%s.har" % name)
    cmd = [
        sys.executable, "-m", "schemathesis.cli", "run", SPEC,
        "--url", "http://127.0.0.1:%d" % engine.port,
        "--header", "X-API-Key: %s" % key,
        "--checks", ",".join(CHECKS),
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(max_examples),
        "--seed", str(SEED),
        "--generation-database", "none",
        # One worker: Python 3.11's ast module is not thread-safe (CPython
        # gh-106905), and Hypothesis parses lambdas' source while it describes
        # strategies, so two workers fail now and then with "AST constructor
        # recursion depth mismatch". Generation is CPU-bound under the GIL anyway.
        "--workers", "1",
        "--request-timeout", "15",
        "--no-color",
        "--report-json-path", str(report_json),
        "--report-har-path", str(report_har),
        *extra,
    ]
    print("\nschema: pass %s (key %s)" % (name, key), flush=True)
    run = subprocess.run(cmd, cwd=str(directory), env={**os.environ, "SCHEMATHESIS_HOOKS": HOOKS})
    with open(report_json) as f:
        cases = json.load(f)["test_cases"]["generated"]
    with open(report_har) as f:
        statuses = collections.Counter(e["response"]["status"] for e in json.load(f)["log"]["entries"])
    return run.returncode, cases, statuses


def test_engine_conforms_to_openapi(engine, tmp_path):
    started = time.monotonic()
    failed, cases, statuses = [], 0, collections.Counter()
    for name, key, max_examples, extra in PASSES:
        code, n, s = run_pass(engine, tmp_path, name, key, max_examples, extra)
        if code != 0:
            failed.append(name)
        cases += n
        statuses += s
        print("schema: pass %s: %d cases, by status %s" % (name, n, dict(sorted(s.items()))))
    print("schema: %d generated cases in %.0f s (seed %d)" % (cases, time.monotonic() - started, SEED))
    print("schema: cases by status: " + ", ".join("%s: %d" % kv for kv in sorted(statuses.items())))

    assert not failed, "schemathesis found failures in pass %s (above)" % ", ".join(failed)
    assert not [s for s in statuses if s >= 500], statuses
    assert cases >= MIN_CASES, "only %d cases generated; raise PRICING_SCHEMA_MAX_EXAMPLES" % cases
