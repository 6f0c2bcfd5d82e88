#!/usr/bin/env python3
"""Checks of manifests/monitoring against promtool and the programs that
produce the series it queries.

  rules           promtool check rules on the PrometheusRule's groups; every
                  alert's runbook_url is docs/runbooks/<alert-name>.md (its
                  name in kebab-case), a page that quotes the alert's
                  expression, severity and for:, has the sections Meaning,
                  Impact, How to check and What to do, and whose PromQL blocks
                  parse; every page there belongs to an alert, and
                  docs/runbooks/README.md links each page.
  dashboard       promtool check rules on the dashboard's queries (panels,
                  annotations, variables), its variables given sample values.
  alerts          promtool test rules: alerts_test.yaml against those groups.
  alert-coverage  every alert has a firing case, a case past its `for:` where
                  it stays silent, and a case before `for:` has elapsed (silent
                  within `for:` of a firing case of its group); every alert a
                  test names exists.
  adapter         each prometheus-adapter rule: its series is one the engine
                  exports, its metricsQuery rendered as prometheus-adapter
                  renders it parses (promtool check rules) and gives per-pod
                  values (adapter_test.yaml through promtool test rules); the
                  names PricingEngines use in podsMetrics are served.
  metric-names    every metric the alerts, the dashboard and the runbooks'
                  PromQL blocks query is produced by the kube-state-metrics
                  custom-resource configuration (named by kube-state-metrics'
                  rule), standard kube-state-metrics, the kubelet's cAdvisor,
                  the engine, the operator or Prometheus; label matchers on
                  kube-state-metrics and cAdvisor series name labels those
                  series carry; the configuration's header lists exactly the
                  series it produces.

Usage: monitoring_test.py CHECK --source-dir ROOT --work DIR
promtool is taken from $PROMTOOL, else from PATH.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
# Each alert's page, as its runbook_url names it: a path from the repository's
# root, which readers of the repository and its hosting can follow.
RUNBOOK_DIR = "docs/runbooks"
RUNBOOK_INDEX = "README.md"
RUNBOOK_SECTIONS = ("Meaning", "Impact", "How to check", "What to do")


class Failure(Exception):
    pass


# --- The files under test ---------------------------------------------------


class Sources:
    def __init__(self, root):
        self.root = root
        mon = os.path.join(root, "manifests", "monitoring")
        self.rule_file = os.path.join(mon, "prometheus-rule.yaml")
        self.adapter_file = os.path.join(mon, "prometheus-adapter", "config.yaml")
        self.ksm_file = os.path.join(mon, "kube-state-metrics", "custom-resource-state.yaml")
        self.dashboard_file = os.path.join(mon, "dashboards", "pricing-engine.json")
        self.runbook_dir = os.path.join(root, *RUNBOOK_DIR.split("/"))

    def rule_spec(self):
        with open(self.rule_file) as f:
            doc = yaml.safe_load(f)
        if doc.get("kind") != "PrometheusRule":
            raise Failure(f"{self.rule_file} is not a PrometheusRule")
        return doc["spec"]

    def alerts(self):
        """Returns {alert name: rule} over every group."""
        out = {}
        for group in self.rule_spec()["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    if rule["alert"] in out:
                        raise Failure(f"alert {rule['alert']} is defined twice")
                    out[rule["alert"]] = rule
        return out

    def adapter_rules(self):
        with open(self.adapter_file) as f:
            return yaml.safe_load(f)["rules"]

    def ksm_config(self):
        with open(self.ksm_file) as f:
            return yaml.safe_load(f)

    def dashboard(self):
        with open(self.dashboard_file) as f:
            return json.load(f)

    def runbook_pages(self):
        """Returns {file name: text} of the pages under docs/runbooks/,
        README.md aside."""
        out = {}
        if os.path.isdir(self.runbook_dir):
            for name in sorted(os.listdir(self.runbook_dir)):
                if name.endswith(".md") and name != RUNBOOK_INDEX:
                    with open(os.path.join(self.runbook_dir, name)) as f:
                        out[name] = f.read()
        return out


def promtool():
    path = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if not path or not os.path.exists(path):
        raise Failure("promtool not found (Debian package prometheus; scripts/install-deps.sh installs it)")
    return path


def run_promtool(args, what):
    proc = subprocess.run([promtool()] + args, capture_output=True, text=True, timeout=60)
    out = (proc.stdout + proc.stderr).rstrip()
    if proc.returncode != 0:
        raise Failure(f"promtool {' '.join(args[:2])} fails on {what}:\n" +
                      "\n".join("  | " + line for line in out.splitlines()))
    print(f"ok: promtool {args[0]} {args[1]} on {what}")


def write_yaml(path, data):
    with open(path, "w") as f:
        yaml.safe_dump(data, f, sort_keys=False, width=1000)


def write_rules_file(src, work):
    path = os.path.join(work, "pricing-rules.yaml")
    write_yaml(path, src.rule_spec())
    return path


def parse_duration(text):
    """Returns a Prometheus duration ("1h30m", "90s") in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    text = str(text)
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise Failure(f"not a duration: {text!r}")
    return sum(int(n) * units[u] for n, u in parts)


# --- PromQL: the metric names and label matchers of an expression ------------

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<num>[0-9][0-9a-zA-Z.]*)
  | (?P<id>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|==|!=|>=|<=|[-+*/%^<>=(){}\[\],@])
""", re.X)

# Words that are not metric names when not followed by "(".
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
             "group_left", "group_right", "inf", "nan", "start", "end"}
# Followed by "(", these take a list of label names, not an expression.
_LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
# Aggregations may put their grouping first: `sum by (pod) (...)`.
_AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                 "bottomk", "topk", "quantile", "limitk", "limit_ratio"}


def tokens(expr):
    pos, out = 0, []
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise Failure(f"cannot read PromQL at {expr[pos:pos + 20]!r} in {expr!r}")
        pos = m.end()
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group()))
    return out


def selectors(expr):
    """Returns [(metric name, [label names matched])] for each vector selector
    that names its metric before the braces (or has no braces)."""
    try:
        return _selectors(tokens(expr) + [("end", "")], expr)
    except IndexError:
        raise Failure(f"unbalanced brackets in {expr!r}")


def _selectors(toks, expr):
    out, i = [], 0
    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else None
        if text == "[":
            while toks[i][1] != "]":
                i += 1
        elif kind == "id" and text in _LABEL_LISTS and nxt == "(":
            while toks[i][1] != ")":
                i += 1
        elif kind == "id" and (nxt == "(" or (text in _AGGREGATIONS and nxt in ("by", "without"))):
            pass  # a function or an aggregation
        elif kind == "id" and text not in _KEYWORDS:
            labels = []
            if nxt == "{":
                i += 2
                while toks[i][1] != "}":
                    if toks[i][0] == "id" and toks[i + 1][1] in ("=", "!=", "=~", "!~"):
                        labels.append(toks[i][1])
                    i += 1
            out.append((text, labels))
        elif text == "{":
            raise Failure(f"a selector without a metric name in {expr!r}")
        i += 1
    return out


def grafana_expr(expr):
    """Returns a dashboard query as plain PromQL: variables replaced by a
    sample value, label_values(SELECTOR, LABEL) reduced to SELECTOR."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", expr, re.S)
    if m:
        expr = m.group(1)
    elif re.fullmatch(r"\s*label_values\(\s*\w+\s*\)\s*", expr):
        return None
    expr = re.sub(r"\$\{?__\w+\}?", "5m", expr)  # $__rate_interval, $__range, ...
    return re.sub(r"\$\{?\w+(?::\w+)?\}?", "sample", expr)


def dashboard_queries(board):
    """Returns [(where, PromQL)] of every panel target, annotation and
    templating query of a Grafana dashboard."""
    out = []

    def panels(items):
        for p in items:
            yield p
            yield from panels(p.get("panels", []))

    for p in panels(board.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr"):
                out.append((f"panel {p.get('title')!r}", t["expr"]))
    for a in board.get("annotations", {}).get("list", []):
        if a.get("expr"):
            out.append((f"annotation {a.get('name')!r}", a["expr"]))
    for v in board.get("templating", {}).get("list", []):
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if v.get("type") == "query" and q:
            out.append((f"variable {v.get('name')!r}", q))
    result = []
    for where, q in out:
        q = grafana_expr(q)
        if q is not None:
            result.append((where, q))
    return result


# --- Who produces which series ------------------------------------------------

# kube-state-metrics adds these to every custom-resource state series
# (pkg/customresourcestate/registry_factory.go: compile()).
KSM_CR_LABELS = {"customresource_group", "customresource_version", "customresource_kind"}
# Target labels a Prometheus Operator scrape adds (kept beside the series'
# own labels; with honorLabels the series' `namespace` wins).
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "endpoint", "container"}
KSM_DEFAULT_PREFIX = "kube_customresource"

# Standard kube-state-metrics v2 series the product may query, with their
# labels (internal/store/horizontalpodautoscaler.go, deployment.go, pod.go).
_HPA = {"namespace", "horizontalpodautoscaler"}
_DEPLOY = {"namespace", "deployment"}
_POD = {"namespace", "pod", "uid"}
KSM_STANDARD = {
    "kube_horizontalpodautoscaler_info": _HPA | {"scaletargetref_api_version", "scaletargetref_kind",
                                                 "scaletargetref_name"},
    "kube_horizontalpodautoscaler_metadata_generation": _HPA,
    "kube_horizontalpodautoscaler_spec_max_replicas": _HPA,
    "kube_horizontalpodautoscaler_spec_min_replicas": _HPA,
    "kube_horizontalpodautoscaler_spec_target_metric": _HPA | {"metric_name", "metric_target_type", "container"},
    "kube_horizontalpodautoscaler_status_target_metric": _HPA | {"metric_name", "metric_target_type", "container"},
    "kube_horizontalpodautoscaler_status_current_replicas": _HPA,
    "kube_horizontalpodautoscaler_status_desired_replicas": _HPA,
    "kube_horizontalpodautoscaler_status_condition": _HPA | {"condition", "status"},
    "kube_horizontalpodautoscaler_created": _HPA,
    "kube_deployment_created": _DEPLOY,
    "kube_deployment_metadata_generation": _DEPLOY,
    "kube_deployment_spec_paused": _DEPLOY,
    "kube_deployment_spec_replicas": _DEPLOY,
    "kube_deployment_status_condition": _DEPLOY | {"condition", "status", "reason"},
    "kube_deployment_status_observed_generation": _DEPLOY,
    "kube_deployment_status_replicas": _DEPLOY,
    "kube_deployment_status_replicas_available": _DEPLOY,
    "kube_deployment_status_replicas_ready": _DEPLOY,
    "kube_deployment_status_replicas_unavailable": _DEPLOY,
    "kube_deployment_status_replicas_updated": _DEPLOY,
    "kube_pod_container_resource_requests": _POD | {"container", "node", "resource", "unit"},
    "kube_pod_container_resource_limits": _POD | {"container", "node", "resource", "unit"},
    "kube_pod_container_status_restarts_total": _POD | {"container"},
    "kube_pod_container_status_last_terminated_reason": _POD | {"container", "reason"},
    "kube_pod_status_phase": _POD | {"phase"},
}
# Per-container series of the kubelet's cAdvisor endpoint (/metrics/cadvisor),
# with their labels as kube-prometheus scrapes it (honorLabels: the
# container's namespace, pod and container).
_CADVISOR = {"namespace", "pod", "container", "id", "image", "name"}
CADVISOR = {
    "container_cpu_usage_seconds_total": _CADVISOR | {"cpu"},
    "container_cpu_cfs_periods_total": _CADVISOR,
    "container_cpu_cfs_throttled_periods_total": _CADVISOR,
    "container_memory_working_set_bytes": _CADVISOR,
}
# Series Prometheus writes for every scrape target.
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                  "scrape_samples_post_metric_relabeling", "scrape_series_added"}


def ksm_metric_name(resource, metric_name):
    """kube-state-metrics' naming rule (pkg/customresourcestate/config.go
    GetMetricNamePrefix, registry_factory.go fullName): metricNamePrefix, or
    "kube_customresource" when the key is absent; the prefix and the metric's
    name joined by "_", the prefix left out when it is empty."""
    prefix = resource["metricNamePrefix"] if "metricNamePrefix" in resource else KSM_DEFAULT_PREFIX
    prefix = prefix if prefix is not None else KSM_DEFAULT_PREFIX
    return f"{prefix}_{metric_name}" if prefix != "" else metric_name


def ksm_series(config):
    """Returns {series name: label names} of a custom-resource state config."""
    out = {}
    for resource in config["spec"]["resources"]:
        base = set(resource.get("labelsFromPath") or {}) | set(resource.get("commonLabels") or {})
        for m in resource.get("metrics", []):
            labels = base | set(m.get("labelsFromPath") or {}) | set(m.get("commonLabels") or {})
            each = m.get("each", {})
            kind = str(each.get("type", "")).lower()
            body = each.get({"gauge": "gauge", "info": "info", "stateset": "stateSet"}.get(kind, ""), {}) or {}
            labels |= set(body.get("labelsFromPath") or {})
            for key in ("labelFromKey", "labelName"):
                if body.get(key):
                    labels.add(body[key])
            name = ksm_metric_name(resource, m["name"])
            if name in out:
                raise Failure(f"kube-state-metrics would export {name} twice")
            out[name] = {re.sub(r"[^a-zA-Z0-9_]", "_", label) for label in labels} | KSM_CR_LABELS
    return out


_BUILD = re.compile(r"Build(Counter|Gauge|Histogram|Summary)\(\)\s*\.Name\(\s*\"([^\"]+)\"\s*\)")


def registered_metrics(src_dir):
    """Returns {exposed series name: registering file} of the prometheus-cpp
    families registered under src_dir (histograms expose _bucket, _sum and
    _count; summaries the name, _sum and _count)."""
    out = {}
    for dirpath, _, files in os.walk(src_dir):
        for name in files:
            if not name.endswith((".cc", ".h")):
                continue
            path = os.path.join(dirpath, name)
            with open(path, errors="replace") as f:
                text = f.read()
            for kind, metric in _BUILD.findall(text):
                series = {"Histogram": [metric + "_bucket", metric + "_sum", metric + "_count"],
                          "Summary": [metric, metric + "_sum", metric + "_count"]}.get(kind, [metric])
                for s in series:
                    out[s] = os.path.relpath(path, os.path.dirname(os.path.dirname(src_dir)))
    if not out:
        raise Failure(f"no prometheus-cpp metric registrations found under {src_dir}")
    return out


# --- Checks -----------------------------------------------------------------


def runbook_name(alert):
    """Returns an alert's page: its name in kebab-case, .md."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", alert).lower() + ".md"


_FENCE = re.compile(r"^[ \t]*```(\w*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.M | re.S)


def runbook_queries(src):
    """Returns [(where, PromQL)] of the ```promql blocks of every page."""
    out = []
    for name, text in src.runbook_pages().items():
        for lang, body in _FENCE.findall(text):
            if lang == "promql" and body.strip():
                out.append((f"{RUNBOOK_DIR}/{name}", body.strip()))
    return out


def one_line(text):
    return " ".join(text.split())


def check_runbooks(src, work):
    alerts = src.alerts()
    pages = src.runbook_pages()
    problems = []
    for name, rule in sorted(alerts.items()):
        page = runbook_name(name)
        want = f"{RUNBOOK_DIR}/{page}"
        url = (rule.get("annotations") or {}).get("runbook_url")
        if url != want:
            problems.append(f"alert {name}: runbook_url is {url!r}, not {want!r}")
        text = pages.get(page)
        if text is None:
            problems.append(f"alert {name}: {want} does not exist")
            continue
        if text.splitlines()[0].strip() != f"# {name}":
            problems.append(f"{want}: its first line is not \"# {name}\"")
        headings = {line[3:].strip() for line in text.splitlines() if line.startswith("## ")}
        for section in RUNBOOK_SECTIONS:
            if section not in headings:
                problems.append(f"{want}: no section \"## {section}\"")
        blocks = [one_line(b) for lang, b in _FENCE.findall(text) if lang == "promql"]
        if one_line(rule["expr"]) not in blocks:
            problems.append(f"{want}: no ```promql block quotes the alert's expression as "
                            "prometheus-rule.yaml has it")
        severity = (rule.get("labels") or {}).get("severity")
        if f"severity: {severity}" not in text:
            problems.append(f"{want}: does not state \"severity: {severity}\"")
        if "for" in rule and f"for: {rule['for']}" not in text:
            problems.append(f"{want}: does not state \"for: {rule['for']}\"")
    expected = {runbook_name(a) for a in alerts}
    for page in sorted(set(pages) - expected):
        problems.append(f"{RUNBOOK_DIR}/{page} belongs to no alert of prometheus-rule.yaml")
    index = os.path.join(src.runbook_dir, RUNBOOK_INDEX)
    if not os.path.exists(index):
        problems.append(f"{RUNBOOK_DIR}/{RUNBOOK_INDEX} does not exist")
    else:
        with open(index) as f:
            linked = set(re.findall(r"\]\((?:\./)?([\w.-]+\.md)\)", f.read()))
        for page in sorted(expected - linked):
            problems.append(f"{RUNBOOK_DIR}/{RUNBOOK_INDEX} does not link {page}")
    if problems:
        raise Failure("\n".join(problems))
    print(f"ok: each of the {len(alerts)} alerts has its page in {RUNBOOK_DIR}/, "
          f"listed in {RUNBOOK_INDEX}, and every page there belongs to an alert")
    queries = runbook_queries(src)
    path = os.path.join(work, "runbook-queries.yaml")
    write_yaml(path, {"groups": [{"name": "runbooks", "rules": [
        {"record": f"runbook:query:{i}", "expr": q} for i, (_, q) in enumerate(queries)]}]})
    run_promtool(["check", "rules", path], f"the runbooks' {len(queries)} PromQL blocks")


def check_rules(src, work):
    alerts = src.alerts()
    if not alerts:
        raise Failure("the PrometheusRule holds no alerts")
    run_promtool(["check", "rules", write_rules_file(src, work)],
                 f"the {sum(len(g['rules']) for g in src.rule_spec()['groups'])} rules of prometheus-rule.yaml")
    check_runbooks(src, work)


def check_dashboard(src, work):
    queries = dashboard_queries(src.dashboard())
    if not queries:
        raise Failure("the dashboard holds no queries")
    path = os.path.join(work, "dashboard-queries.yaml")
    write_yaml(path, {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query:{i}", "expr": q} for i, (_, q) in enumerate(queries)]}]})
    run_promtool(["check", "rules", path], f"the dashboard's {len(queries)} queries")


def load_alert_tests():
    with open(os.path.join(HERE, "alerts_test.yaml")) as f:
        return yaml.safe_load(f)


def check_alerts(src, work):
    rules = write_rules_file(src, work)
    tests = load_alert_tests()
    tests["rule_files"] = [os.path.basename(rules)]
    path = os.path.join(work, "alerts_test.yaml")
    write_yaml(path, tests)
    run_promtool(["test", "rules", path], "alerts_test.yaml")


def check_alert_coverage(src, work):
    alerts = src.alerts()
    tests = load_alert_tests()
    interval = parse_duration(tests.get("evaluation_interval", "1m"))
    fires, silent_after_for, pending = set(), set(), set()
    problems = []
    for group in tests["tests"]:
        cases = group.get("alert_rule_test", [])
        for case in cases:
            name = case["alertname"]
            if name not in alerts:
                problems.append(f"a test names alert {name}, which prometheus-rule.yaml does not define")
                continue
            hold = parse_duration(alerts[name].get("for", "0s"))
            at = parse_duration(case["eval_time"])
            expected = case.get("exp_alerts") or []
            # Silent within `for:` before a firing case of the same group.
            waits = hold > 0 and any(c["alertname"] == name and c.get("exp_alerts")
                                     and 0 <= parse_duration(c["eval_time"]) - at <= hold
                                     for c in cases)
            if expected:
                fires.add(name)
                for a in expected:
                    if "severity" not in (a.get("exp_labels") or {}):
                        problems.append(f"a firing case of {name} does not state its severity")
                    if not a.get("exp_annotations"):
                        problems.append(f"a firing case of {name} does not state its annotations")
            elif waits:
                pending.add(name)
            elif at >= hold + interval:
                silent_after_for.add(name)
            elif any(c["alertname"] == name and c.get("exp_alerts")
                     and parse_duration(c["eval_time"]) >= hold for c in cases):
                # Silent before `for:` has elapsed, in a group where it fires later.
                pending.add(name)
    for name in sorted(alerts):
        if name not in fires:
            problems.append(f"alert {name} has no test where it fires")
        if name not in silent_after_for:
            problems.append(f"alert {name} has no test where it stays silent past its for: "
                            "(below its threshold, or its condition not met)")
        if name not in pending and parse_duration(alerts[name].get("for", "0s")) > 0:
            problems.append(f"alert {name} has no test where it is still pending (before its for: elapses)")
    if problems:
        raise Failure("\n".join(problems))
    print(f"ok: each of the {len(alerts)} alerts fires, stays silent below its condition, "
          "and waits for its for:")


def render_metrics_query(template, series, namespace, pods, ns_label, pod_label):
    """Renders a metricsQuery as prometheus-adapter does for a pods query in
    one namespace (pkg/naming/metrics_query.go Build)."""
    matcher = f'{pod_label}="{pods[0]}"' if len(pods) == 1 else f'{pod_label}=~"{"|".join(pods)}"'
    values = {"Series": series, "LabelMatchers": f'{ns_label}="{namespace}",{matcher}', "GroupBy": pod_label}

    def sub(m):
        key = m.group(1)
        if key not in values:
            raise Failure(f"metricsQuery uses <<.{key}>>, which this check does not render: {template!r}")
        return values[key]

    out = re.sub(r"<<\s*\.(\w+)\s*>>", sub, template)
    if "<<" in out or ">>" in out:
        raise Failure(f"metricsQuery holds a template action this check does not render: {template!r}")
    return out


def pods_metric_names(root):
    """Returns {name: file} of the Pods metrics PricingEngines in examples/
    and manifests/ scale on (podsMetrics and autoscaling/v2 Pods metrics)."""
    found = {}

    def walk(node, path):
        if isinstance(node, dict):
            for m in node.get("podsMetrics") or []:
                if isinstance(m, dict) and "name" in m:
                    found.setdefault(m["name"], path)
            if node.get("type") == "Pods" and isinstance(node.get("pods"), dict):
                name = (node["pods"].get("metric") or {}).get("name")
                if name:
                    found.setdefault(name, path)
            for v in node.values():
                walk(v, path)
        elif isinstance(node, list):
            for v in node:
                walk(v, path)

    roots = [os.path.join(root, "examples"), os.path.join(root, "manifests")]
    for top in roots:
        for dirpath, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d != "invalid"]
            for name in files:
                if not name.endswith((".yaml", ".yml")):
                    continue
                path = os.path.join(dirpath, name)
                try:
                    with open(path) as f:
                        docs = list(yaml.safe_load_all(f))
                except yaml.YAMLError:
                    continue
                for d in docs:
                    if isinstance(d, dict) and d.get("kind") == "PricingEngine":
                        walk(d.get("spec"), os.path.relpath(path, root))
    return found


def check_adapter(src, work):
    engine = registered_metrics(os.path.join(src.root, "engine", "src"))
    rules = src.adapter_rules()
    problems, served, recording = [], {}, []
    for i, r in enumerate(rules):
        where = f"adapter rule {i + 1} ({r.get('seriesQuery')})"
        m = re.match(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{|$)", r.get("seriesQuery", ""))
        if not m:
            problems.append(f"{where}: seriesQuery does not start with a metric name")
            continue
        series = m.group(1)
        if series not in engine:
            problems.append(f"{where}: the engine exports no {series}")
        name = r.get("name") or {}
        if not re.search(name.get("matches", ""), series):
            problems.append(f"{where}: name.matches {name.get('matches')!r} does not match {series}")
        as_name = name.get("as")
        if not as_name:
            problems.append(f"{where}: no name.as")
            continue
        if as_name in served:
            problems.append(f"{where}: {as_name} is served twice")
        overrides = (r.get("resources") or {}).get("overrides") or {}
        by_resource = {v.get("resource"): k for k, v in overrides.items()}
        if "namespace" not in by_resource or "pod" not in by_resource:
            problems.append(f"{where}: {as_name} is not mapped to namespace and pod")
            continue
        served[as_name] = r
        for pods in (["seed-calculation-a"], ["seed-calculation-a", "seed-calculation-b"]):
            q = render_metrics_query(r["metricsQuery"], series, "pricing", pods,
                                     by_resource["namespace"], by_resource["pod"])
            recording.append({"record": f"adapter:{as_name}:{len(pods)}", "expr": q})
            for metric, _ in selectors(q):
                if metric not in engine:
                    problems.append(f"{where}: its metricsQuery reads {metric}, which the engine does not export")
    for required in ("http_requests_per_second", "calculations_per_second"):
        if required not in served:
            problems.append(f"prometheus-adapter serves no {required}")
    for used, path in sorted(pods_metric_names(src.root).items()):
        if used not in served:
            problems.append(f"{path} scales on {used}, which prometheus-adapter does not serve")
    if problems:
        raise Failure("\n".join(sorted(set(problems))))
    print(f"ok: {len(served)} adapter rules read engine series: {', '.join(sorted(served))}")

    queries = os.path.join(work, "adapter-queries.yaml")
    write_yaml(queries, {"groups": [{"name": "adapter", "rules": recording}]})
    run_promtool(["check", "rules", queries], "the rendered prometheus-adapter queries")

    with open(os.path.join(HERE, "adapter_test.yaml")) as f:
        tests = yaml.safe_load(f)
    covered = set()
    for group in tests["tests"]:
        for case in group.get("promql_expr_test", []):
            metric = case.pop("metric")
            if metric not in served:
                raise Failure(f"adapter_test.yaml tests {metric}, which prometheus-adapter does not serve")
            covered.add(metric)
            r = served[metric]
            by_resource = {v["resource"]: k for k, v in r["resources"]["overrides"].items()}
            series = re.match(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", r["seriesQuery"]).group(1)
            case["expr"] = render_metrics_query(r["metricsQuery"], series, case.pop("namespace"),
                                                case.pop("pods"), by_resource["namespace"],
                                                by_resource["pod"])
    missing = sorted(set(served) - covered)
    if missing:
        raise Failure("adapter_test.yaml has no case for " + ", ".join(missing))
    path = os.path.join(work, "adapter_test.yaml")
    write_yaml(path, tests)
    run_promtool(["test", "rules", path], "adapter_test.yaml (per-pod values of every adapter metric)")


def check_metric_names(src, work):
    ksm_config = src.ksm_config()
    ksm = ksm_series(ksm_config)
    engine = registered_metrics(os.path.join(src.root, "engine", "src"))
    operator = registered_metrics(os.path.join(src.root, "operator", "src"))
    recorded = {r["record"] for g in src.rule_spec()["groups"] for r in g["rules"] if "record" in r}
    producers = [("the kube-state-metrics custom-resource configuration", ksm),
                 ("standard kube-state-metrics", KSM_STANDARD),
                 ("the kubelet's cAdvisor", CADVISOR),
                 ("the engine", engine), ("the operator", operator),
                 ("Prometheus itself", PROMETHEUS_OWN), ("a recording rule", recorded)]

    queries = []
    for g in src.rule_spec()["groups"]:
        for r in g["rules"]:
            queries.append((f"prometheus-rule.yaml {r.get('alert') or r.get('record')}", r["expr"]))
    queries += [(f"dashboard {w}", q) for w, q in dashboard_queries(src.dashboard())]
    queries += runbook_queries(src)

    problems, used = [], {}
    for where, q in queries:
        sels = selectors(q)
        if not sels:
            problems.append(f"{where}: no metric found in {q!r}")
        for metric, labels in sels:
            producer = next((p for p, names in producers if metric in names), None)
            if producer is None:
                problems.append(f"{where}: nothing produces {metric}")
                continue
            used.setdefault(metric, producer)
            known = ksm.get(metric) or KSM_STANDARD.get(metric) or CADVISOR.get(metric)
            if known is not None:
                for label in labels:
                    if label not in known | TARGET_LABELS:
                        problems.append(f"{where}: {metric} carries no label {label} "
                                        f"(it has {', '.join(sorted(known))})")

    # The configuration's header lists the series it produces.
    with open(src.ksm_file) as f:
        header = [line for line in f.read().split("\nkind:")[0].splitlines()]
    listed = {m.group(1) for line in header for m in [re.match(r"#\s{2,}(kube_\w+)", line)] if m}
    if listed != set(ksm):
        problems.append("custom-resource-state.yaml's header lists "
                        f"{sorted(listed - set(ksm))} that it does not produce and leaves out "
                        f"{sorted(set(ksm) - listed)}")
    if problems:
        raise Failure("\n".join(problems))
    for metric in sorted(used):
        print(f"ok: {metric}: {used[metric]}")


CHECKS = {"rules": check_rules, "alerts": check_alerts, "alert-coverage": check_alert_coverage,
          "adapter": check_adapter, "dashboard": check_dashboard, "metric-names": check_metric_names}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("check", choices=sorted(CHECKS))
    parser.add_argument("--source-dir", default=os.path.dirname(os.path.dirname(HERE)))
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    try:
        CHECKS[args.check](Sources(args.source_dir), args.work)
    except Failure as e:
        print(f"FAIL: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
