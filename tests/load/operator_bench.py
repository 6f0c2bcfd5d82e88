#!/usr/bin/env python3
"""pricing-operator at scale against a real control plane (run by
scripts/bench-operator.sh, which starts the control plane and the operator).

Measures, for N PricingEngines of 3 components each (12 children each):
  - the time from the first create until every resource is reconciled
    (status.observedGeneration == metadata.generation and every child exists),
  - the reference: one client server-side-applying the same children, in
    the same run, on the same API server; the ratio operator / reference,
  - the operator's RSS afterwards (and its peak),
  - the writes it made per PricingEngine, and in a quiet period afterwards,
  - CR edit -> HPA updated latency, p50 and p99 over E sequential edits, split
    into the API server's share and the operator's; once right after the
    reconcile, while kube-controller-manager still creates the Pods of every
    Deployment, and again after it settled; with the operator's own
    histograms of queue wait and reconcile time over each series.
"""
import argparse
import http.client
import json
import os
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

COMPONENTS = [("api", "gateway", 2, 6), ("calculation", "calculation", 3, 20), ("data", "data", 2, 4)]
KINDS = {
    "deployments": "/apis/apps/v1",
    "services": "/api/v1",
    "horizontalpodautoscalers": "/apis/autoscaling/v2",
    "poddisruptionbudgets": "/apis/policy/v1",
}
PLURAL = {
    "Deployment": "deployments",
    "Service": "services",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "PodDisruptionBudget": "poddisruptionbudgets",
}
PE_PATH = "/apis/pricing.borrowrate.io/v1alpha1"


class Api:
    """A keep-alive HTTPS client for the local API server (admin token)."""

    def __init__(self, port, token, ca):
        self.port, self.token = port, token
        self.ctx = ssl.create_default_context(cafile=ca)
        self.conn = None

    def request(self, method, path, body=None, content_type="application/json"):
        for attempt in range(3):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=60)
            headers = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
            data = None
            if body is not None:
                data = body if isinstance(body, (bytes, str)) else json.dumps(body)
                headers["Content-Type"] = content_type
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                text = resp.read()
                return resp.status, (json.loads(text) if text else None)
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise RuntimeError("unreachable")

    def ok(self, method, path, body=None, content_type="application/json"):
        status, doc = self.request(method, path, body, content_type)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {doc}")
        return doc


def engine(name, namespace):
    return {
        "apiVersion": "pricing.borrowrate.io/v1alpha1",
        "kind": "PricingEngine",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "image": "registry.example.com/pricing-engine:1.0.0",
            "components": [
                {"name": c, "role": r, "replicas": {"min": lo, "max": hi}} for c, r, lo, hi in COMPONENTS
            ],
        },
    }


def name_selector(name):
    """The query parameter that selects the object called `name`."""
    return "fieldSelector=" + urllib.parse.quote(f"metadata.name={name}")


def progress(message):
    """One line on stderr, so that a run of many minutes shows where it is."""
    print(f"bench-operator: {message}", file=sys.stderr, flush=True)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100.0 * len(ordered) + 0.5)) - 1))]


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def metrics_text(metrics_url):
    """The operator's /metrics page."""
    host, port = urllib.parse.urlparse(metrics_url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/metrics")
    return conn.getresponse().read().decode()


def scrape(metrics_url):
    """(write requests, child applies) from the operator's /metrics."""
    text = metrics_text(metrics_url)
    writes = applies = 0.0
    for line in text.splitlines():
        if line.startswith("rest_client_requests_total{"):
            m = re.search(r'method="([A-Z]+)"', line)
            if m and m.group(1) in ("POST", "PUT", "PATCH", "DELETE"):
                writes += float(line.rsplit(" ", 1)[1])
        elif line.startswith("pricing_operator_children_applied_total"):
            applies += float(line.rsplit(" ", 1)[1])
    return writes, applies


# The operator's own histograms, read before and after each series of edits:
# they split "the operator's share" into the wait in its queue and the
# reconcile itself (which holds its PATCH of the HPA), for every reconcile in
# the series (also those that other objects' changes started).
HISTOGRAMS = ("workqueue_queue_duration_seconds", "controller_runtime_reconcile_time_seconds")


def scrape_histograms(metrics_url):
    """{histogram: {le: cumulative count}} from the operator's /metrics, summed over labels."""
    text = metrics_text(metrics_url)
    out = {name: {} for name in HISTOGRAMS}
    for line in text.splitlines():
        m = re.match(r'([a-z_]+)_bucket\{(?:[^}]*,)?le="([^"]+)"\} (\S+)', line)
        if m and m.group(1) in out:
            le = float(m.group(2))
            out[m.group(1)][le] = out[m.group(1)].get(le, 0.0) + float(m.group(3))
    return out


def histogram_quantiles(before, after, name):
    """'N, p50 <= X ms, p99 <= Y ms' of what `name` counted between two scrapes."""
    d = sorted((le, n - before[name].get(le, 0.0)) for le, n in after[name].items())
    total = d[-1][1] if d else 0
    if total <= 0:
        return "none"

    def upper(q):
        le = next(le for le, n in d if n >= q * total)
        return "more" if le == float("inf") else f"<= {le * 1000:g} ms"

    return f"{total:.0f}, p50 {upper(0.5)}, p99 {upper(0.99)}"


def reconciled(api, namespace, n):
    """Number of PricingEngines whose status caught up with their spec."""
    doc = api.ok("GET", f"{PE_PATH}/namespaces/{namespace}/pricingengines")
    done = 0
    for item in doc["items"]:
        status = item.get("status") or {}
        if status.get("observedGeneration") == item["metadata"]["generation"]:
            done += 1
    return done


def count(api, kind, namespace):
    doc = api.ok("GET", f"{KINDS[kind]}/namespaces/{namespace}/{kind}?limit=100000")
    return len(doc["items"])


class Watch(threading.Thread):
    """Watches the object `name` of one resource in a namespace; records when
    each key(object) is first seen. `ready` is set once the API server has
    answered the watch request."""

    def __init__(self, port, token, ca, path, resource_version, key, name):
        super().__init__(daemon=True)
        self.port, self.token, self.ca = port, token, ca
        self.path, self.rv, self.key = path, resource_version, key
        self.selector = "&" + name_selector(name)
        self.cond = threading.Condition()
        self.seen = {}  # key(object) -> monotonic time
        self.ready = threading.Event()
        self.stopped = False
        self.conn = None
        self.sock = None

    def stop(self):
        self.stopped = True
        # Shut the socket down first: closing it alone does not wake a read
        # blocked on it in another thread.
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self.conn is not None:
            self.conn.close()

    def run(self):
        try:
            self.watch()
        except (OSError, http.client.HTTPException, ValueError, AttributeError):  # closed by stop()
            if not self.stopped:
                raise

    def watch(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        while not self.stopped:
            conn = self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=300)
            conn.request("GET", f"{self.path}?watch=1&allowWatchBookmarks=true&resourceVersion={self.rv}"
                         + self.selector, headers={"Authorization": "Bearer " + self.token})
            self.sock = conn.sock
            resp = conn.getresponse()
            self.ready.set()
            while True:
                line = resp.readline()
                if not line:
                    break
                now = time.monotonic()
                event = json.loads(line)
                obj = event["object"]
                if event["type"] == "ERROR":
                    raise RuntimeError(f"watch {self.path}{self.selector}: {obj.get('message', obj)}")
                self.rv = obj["metadata"].get("resourceVersion", self.rv)
                if event["type"] in ("ADDED", "MODIFIED"):
                    with self.cond:
                        self.seen.setdefault(self.key(obj), now)
                        self.cond.notify_all()

    def wait_for(self, key, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while key not in self.seen:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.seen[key]


def settled(api, namespace):
    """Whether every Deployment's Pods exist and its status caught up (nothing left for the controllers)."""
    doc = api.ok("GET", f"{KINDS['deployments']}/namespaces/{namespace}/deployments?limit=100000")
    for d in doc["items"]:
        status = d.get("status") or {}
        if status.get("observedGeneration") != d["metadata"]["generation"]:
            return False
        if status.get("replicas", 0) != d["spec"].get("replicas", 1):
            return False
    return True


def edit_latencies(api, port, token, ca, ns, names, edits, offset):
    """Edits `edits` PricingEngines one after another (component 0's max replicas) and
    times each edit until its HPA shows the new value. Two watches split the time:
    the PricingEngine's own change reaching a watcher (the API server and etcd, as the
    operator sees it), and from there to the HPA's change (the operator's share).

    Each edit's watches select just its two objects (as `kubectl wait` does) and are
    open before the edit is sent. A watch of every HPA in the namespace would also
    carry kube-controller-manager's HPA status writes, and this client, in Python on
    the same two cores, parsing those would add its own lag to the figures."""
    hpa_path = f"{KINDS['horizontalpodautoscalers']}/namespaces/{ns}/horizontalpodautoscalers"
    pe_path = f"{PE_PATH}/namespaces/{ns}/pricingengines"
    result = {"total": [], "to_watch": [], "after_watch": [], "round_trip": [], "missed": 0,
              "slow": []}
    for i in range(offset, offset + edits):
        name = names[(i * 7919) % len(names)]
        new_max = 7 + i  # unique per edit, so a value is never "seen" before its edit
        # From the collections' current resourceVersion: an object's own may be
        # older than the API server's watch window (410 Gone).
        hpa = api.ok("GET", f"{hpa_path}?{name_selector(name + '-api')}")
        pe = api.ok("GET", f"{pe_path}?{name_selector(name)}")
        hpa_watch = Watch(port, token, ca, hpa_path, hpa["metadata"]["resourceVersion"],
                          lambda o: (o["metadata"]["name"], o["spec"]["maxReplicas"]), f"{name}-api")
        pe_watch = Watch(port, token, ca, pe_path, pe["metadata"]["resourceVersion"],
                         lambda o: (o["metadata"]["name"], o["spec"]["components"][0]["replicas"]["max"]),
                         name)
        hpa_watch.start()
        pe_watch.start()
        if not (hpa_watch.ready.wait(30) and pe_watch.ready.wait(30)):
            raise RuntimeError(f"the watches for {name} did not open within 30 s")
        patch = [{"op": "replace", "path": "/spec/components/0/replicas/max", "value": new_max}]
        sent = time.monotonic()
        api.ok("PATCH", f"{pe_path}/{name}", patch, "application/json-patch+json")
        result["round_trip"].append((time.monotonic() - sent) * 1000)
        seen = hpa_watch.wait_for((f"{name}-api", new_max), 30)
        pe_seen = pe_watch.wait_for((name, new_max), 1) if seen is not None else None
        for w in (hpa_watch, pe_watch):
            w.stop()
            w.join(5)
        if (i - offset + 1) % 50 == 0:
            progress(f"  {i - offset + 1} of {edits} edits")
        if seen is None:
            result["missed"] += 1
            continue
        total = (seen - sent) * 1000
        result["total"].append(total)
        if pe_seen is not None:
            to_watch, after_watch = (pe_seen - sent) * 1000, (seen - pe_seen) * 1000
            result["to_watch"].append(to_watch)
            result["after_watch"].append(after_watch)
            if total > SLOW_EDIT_MS:
                result["slow"].append((result["round_trip"][-1], to_watch, after_watch))
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cluster", required=True, help="scripts/cluster.sh directory")
    ap.add_argument("--operator", required=True, help="pricing-operator binary (for render)")
    ap.add_argument("--operator-pid", type=int, required=True)
    ap.add_argument("--metrics", required=True, help="http://host:port of the operator's metrics")
    ap.add_argument("--engines", type=int, default=1000)
    ap.add_argument("--edits", type=int, default=200)
    ap.add_argument("--quiet-seconds", type=int, default=20)
    ap.add_argument("--skip-reference", action="store_true", help="stop after the edits (quicker runs)")
    args = ap.parse_args()

    state = dict(line.strip().split("=", 1) for line in open(os.path.join(args.cluster, "state.env")) if "=" in line)
    port, token, ca = int(state["apiserver_port"]), state["admin_token"], os.path.join(args.cluster, "pki/ca.crt")
    api = Api(port, token, ca)
    n, ns, ref_ns = args.engines, "bench", "reference"
    names = [f"pe-{i:04d}" for i in range(n)]
    children_per_engine = 4 * len(COMPONENTS)
    for namespace in (ns, ref_ns):
        api.ok("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})

    # --- The operator: N PricingEngines created, time until all reconciled ---
    writes_before, applies_before = scrape(args.metrics)
    t0 = time.monotonic()
    for name in names:
        api.ok("POST", f"{PE_PATH}/namespaces/{ns}/pricingengines", engine(name, ns))
    created = time.monotonic() - t0
    progress(f"{n} PricingEngines created in {created:.1f} s; waiting until all are reconciled")
    while reconciled(api, ns, n) < n:
        time.sleep(0.5)
    while any(count(api, kind, ns) < n * len(COMPONENTS) for kind in KINDS):
        time.sleep(0.5)
    operator_seconds = time.monotonic() - t0
    progress(f"all reconciled {operator_seconds:.1f} s after the first create")
    writes_after, applies_after = scrape(args.metrics)
    rss = {field: rss_kib(args.operator_pid, field) for field in ("VmRSS", "VmHWM", "RssAnon", "RssFile")}

    time.sleep(args.quiet_seconds)
    writes_quiet = scrape(args.metrics)[0] - writes_after
    applies_quiet_end = scrape(args.metrics)[1]

    # --- CR edit -> HPA updated: while the control plane is still busy
    # creating the Pods of 3000 Deployments, and again once it has settled ---
    progress(f"{args.edits} edits while kube-controller-manager still creates Pods")
    hist_before = scrape_histograms(args.metrics)
    busy = edit_latencies(api, port, token, ca, ns, names, args.edits, 0)
    busy["histograms"] = (hist_before, scrape_histograms(args.metrics))
    progress("waiting until every Deployment's Pods exist")
    settle_start = time.monotonic()
    while not settled(api, ns):
        if time.monotonic() - settle_start > 900:
            raise RuntimeError("the control plane did not settle within 15 minutes")
        time.sleep(2)
    settle_seconds = time.monotonic() - settle_start
    progress(f"settled after {settle_seconds:.0f} s; {args.edits} edits on the settled control plane")
    hist_before = scrape_histograms(args.metrics)
    quiet = edit_latencies(api, port, token, ca, ns, names, args.edits, args.edits)
    quiet["histograms"] = (hist_before, scrape_histograms(args.metrics))
    figures = {
        "n": n, "children": children_per_engine, "created": created, "operator_seconds": operator_seconds,
        "rss": rss, "rss_end": rss_kib(args.operator_pid, "VmRSS"),
        "applies": applies_after - applies_before, "writes": writes_after - writes_before,
        "writes_quiet": writes_quiet, "applies_edits": scrape(args.metrics)[1] - applies_quiet_end,
        "busy": busy, "settle_seconds": settle_seconds, "quiet": quiet, "reference_seconds": None,
    }

    # --- The reference: one client applying the same children ---
    os.kill(args.operator_pid, signal.SIGTERM)
    if not args.skip_reference:
        progress("the reference: one client applying the same children")
        figures["reference_seconds"] = reference(api, args.operator, names, ref_ns, children_per_engine)
    report(args, figures)
    return 0 if busy["total"] and quiet["total"] else 1


def reference(api, operator, names, ref_ns, children_per_engine):
    """Seconds for one client to server-side apply the children `operator render` gives for every name."""
    rendered = subprocess.run(
        [operator, "render", "-f", "-", "-o", "json"],
        input=json.dumps(engine("pe-0000", ref_ns)), capture_output=True, text=True, check=True,
    ).stdout
    template = json.loads(rendered)
    template = template["items"] if isinstance(template, dict) and "items" in template else template
    assert len(template) == children_per_engine, f"render gave {len(template)} objects"
    for obj in template:
        obj["metadata"].pop("ownerReferences", None)
        obj["metadata"].setdefault("labels", {})["app.kubernetes.io/managed-by"] = "bench-reference"
    text = json.dumps(template)
    t1 = time.monotonic()
    for name in names:
        for obj in json.loads(text.replace("pe-0000", name)):
            kind = PLURAL[obj["kind"]]
            path = (f"{KINDS[kind]}/namespaces/{ref_ns}/{kind}/{obj['metadata']['name']}"
                    "?fieldManager=bench-reference&force=true")
            api.ok("PATCH", path, obj, "application/apply-patch+yaml")
    return time.monotonic() - t1


# Edits slower than the target (CR edit -> HPA updated, p99 <= 100 ms) are
# broken down one by one: whether their time went to the API server (the edit's
# own PATCH, the watch that carried it) or to the operator's share.
SLOW_EDIT_MS = 100


def quantiles(values):
    return f"p50 {statistics.median(values):.0f} ms, p99 {percentile(values, 99):.0f} ms"


def report_edits(label, edits, result):
    if not result["total"]:
        print(f"{label}: none of {edits} edits seen within 30 s")
        return
    print(f"{label}:")
    print(f"  the edit's own PATCH round trip (API server + etcd): {quantiles(result['round_trip'])}")
    if result["to_watch"]:
        print(f"  CR edit -> seen on a PricingEngine watch: {quantiles(result['to_watch'])}")
        print(f"  seen on the watch -> HPA updated (the operator's share): {quantiles(result['after_watch'])}")
    before, after = result["histograms"]
    print(f"  the operator's reconciles meanwhile: in its queue "
          f"{histogram_quantiles(before, after, HISTOGRAMS[0])}; reconcile, its PATCH included "
          f"{histogram_quantiles(before, after, HISTOGRAMS[1])}")
    slow = result["slow"]
    if slow:
        api_bound = sum(1 for rt, to_watch, after in slow if to_watch >= after)
        print(f"  edits over {SLOW_EDIT_MS} ms: {len(slow)}; the edit's own PATCH round trip in them: "
              f"{quantiles([s[0] for s in slow])}; reaching the watch took longer than the operator's "
              f"share in {api_bound} of them")
        for rt, to_watch, after in sorted(slow, key=lambda s: -(s[1] + s[2]))[:5]:
            print(f"    PATCH {rt:.0f} ms, seen on the watch after {to_watch:.0f} ms, "
                  f"HPA updated {after:.0f} ms later")
    missed = result["missed"]
    print(f"  CR edit -> HPA updated over {len(result['total'])} edits: {quantiles(result['total'])}"
          + (f" ({missed} not seen within 30 s)" if missed else ""))


def report(args, f):
    n, rss = f["n"], f["rss"]
    print(f"PricingEngines: {n} x {len(COMPONENTS)} components ({n * f['children']} children)")
    print(f"created in {f['created']:.1f} s; all reconciled {f['operator_seconds']:.1f} s after the first create")
    if f["reference_seconds"] is not None:
        print(f"reference (one client applying the same {n * f['children']} children): "
              f"{f['reference_seconds']:.1f} s")
        print(f"ratio operator/reference: {f['operator_seconds'] / f['reference_seconds']:.2f}")
    print(f"operator RSS after: {rss['VmRSS'] / 1024:.1f} MiB (heap and stacks {rss['RssAnon'] / 1024:.1f}, "
          f"mapped binary and libraries {rss['RssFile'] / 1024:.1f}; peak {rss['VmHWM'] / 1024:.1f} MiB); "
          f"at the end {f['rss_end'] / 1024:.1f} MiB")
    print(f"child applies: {f['applies'] / n:.2f} per PricingEngine ({f['children']} children each); "
          f"all writes incl. status and Events: {f['writes'] / n:.2f} per PricingEngine")
    print(f"writes in the {args.quiet_seconds} s after (status of Deployments the HPA scaled): "
          f"{f['writes_quiet']:.0f}")
    print(f"child applies for {2 * args.edits} CR edits (one HPA each): {f['applies_edits']:.0f}")
    report_edits("edits while the control plane still creates Pods", args.edits, f["busy"])
    print(f"control plane settled (every Deployment's Pods created) {f['settle_seconds']:.0f} s later")
    report_edits("edits on the settled control plane", args.edits, f["quiet"])


if __name__ == "__main__":
    raise SystemExit(main())
