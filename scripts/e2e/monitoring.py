#!/usr/bin/env python3
"""The e2e cluster's monitoring stack from manifests/monitoring, as shipped.

The e2e cluster runs Prometheus, prometheus-adapter and kube-state-metrics as
processes, without the Prometheus Operator, so this does the operator's part:
it reads `kubectl kustomize manifests/monitoring` on stdin and writes to OUT

  resources.yaml     the objects a cluster without the operator's CRDs accepts
                     (RBAC, the ConfigMaps), to apply as they are
  rules.yaml         the PrometheusRules' groups, a Prometheus rule file
  prometheus.yml     scrape configurations translated from the ServiceMonitors
                     the way the Prometheus Operator generates them for the
                     endpointslice role (job,
                     namespace, service, pod, container and endpoint labels,
                     then the monitor's own relabelings), plus
                     kube-state-metrics scraped with honor_labels as
                     kube-prometheus does
  <configmap>/<key>  each ConfigMap's files (prometheus-adapter's rules,
                     kube-state-metrics' custom-resource configuration)

  monitoring.py OUT --targets-file FILE --kube-state-metrics HOST:PORT
                [--for ALERT=DURATION]...
                [--evaluation-interval 10s]

Debian's Prometheus has no kubernetes_sd_configs: the targets come from
discovery.py's file (--targets-file), which carries the same
__meta_kubernetes_* labels, so the relabelings are the operator's own.
--for shortens an alert's `for:` (the tests cannot wait 15 minutes); every
other part of the shipped rules is kept.
"""
import argparse
import os
import re
import sys

import yaml

OPERATOR_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule", "Probe"}


def sanitize(name):
    """A Kubernetes label name as Prometheus's service discovery spells it."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def scrape_configs(monitor, targets_file):
    """One scrape config per endpoint of a ServiceMonitor (Prometheus Operator rules)."""
    meta, spec = monitor["metadata"], monitor["spec"]
    ns_sel = spec.get("namespaceSelector", {})
    out = []
    for i, ep in enumerate(spec["endpoints"]):
        relabel = [{"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"}]
        if not ns_sel.get("any"):
            # The operator restricts discovery to these namespaces.
            names = ns_sel.get("matchNames") or [meta["namespace"]]
            relabel.append({"action": "keep", "source_labels": ["__meta_kubernetes_namespace"],
                            "regex": "|".join(re.escape(n) for n in names)})
        for key, value in sorted(spec.get("selector", {}).get("matchLabels", {}).items()):
            relabel.append({
                "action": "keep",
                "source_labels": [f"__meta_kubernetes_service_label_{sanitize(key)}",
                                  f"__meta_kubernetes_service_labelpresent_{sanitize(key)}"],
                "regex": f"({re.escape(value)});true",
            })
        if "matchExpressions" in spec.get("selector", {}):
            sys.exit("monitoring.py: ServiceMonitor matchExpressions are not translated; "
                     f"{meta['name']} uses them")
        if "port" in ep:
            relabel.append({"action": "keep", "source_labels": ["__meta_kubernetes_endpointslice_port_name"],
                            "regex": re.escape(ep["port"])})
        else:
            sys.exit(f"monitoring.py: {meta['name']} endpoint {i} names no port")
        relabel += [
            {"source_labels": ["__meta_kubernetes_endpointslice_address_target_kind",
                               "__meta_kubernetes_endpointslice_address_target_name"],
             "separator": ";", "regex": "Node;(.*)", "replacement": "${1}", "target_label": "node"},
            {"source_labels": ["__meta_kubernetes_endpointslice_address_target_kind",
                               "__meta_kubernetes_endpointslice_address_target_name"],
             "separator": ";", "regex": "Pod;(.*)", "replacement": "${1}", "target_label": "pod"},
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
            {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job"},
            {"target_label": "endpoint", "replacement": ep["port"]},
        ]
        for r in ep.get("relabelings", []):
            relabel.append({_snake(k): v for k, v in r.items()})
        config = {
            "job_name": f"serviceMonitor/{meta['namespace']}/{meta['name']}/{i}",
            "honor_labels": ep.get("honorLabels", False),
            "metrics_path": ep.get("path", "/metrics"),
            "scheme": ep.get("scheme", "http"),
            "file_sd_configs": [{"files": [targets_file], "refresh_interval": "5s"}],
            "relabel_configs": relabel,
        }
        if "interval" in ep:
            config["scrape_interval"] = ep["interval"]
        if "scrapeTimeout" in ep:
            config["scrape_timeout"] = ep["scrapeTimeout"]
        if ep.get("metricRelabelings"):
            config["metric_relabel_configs"] = [{_snake(k): v for k, v in r.items()}
                                                for r in ep["metricRelabelings"]]
        out.append(config)
    return out


def _snake(key):
    return {"sourceLabels": "source_labels", "targetLabel": "target_label"}.get(
        key, re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), key))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--targets-file", required=True)
    ap.add_argument("--kube-state-metrics", required=True)
    ap.add_argument("--kubelet", help="HOST:PORT of the kubelet whose /metrics/cadvisor to scrape")
    ap.add_argument("--kubelet-ca", help="the CA file the kubelet's serving certificate is checked against")
    ap.add_argument("--kubelet-token", help="a bearer token file allowed to get nodes/metrics")
    ap.add_argument("--evaluation-interval", default="10s")
    ap.add_argument("--for", dest="for_", action="append", default=[])
    args = ap.parse_args()

    docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
    overrides = dict(f.split("=", 1) for f in args.for_)
    os.makedirs(args.out, exist_ok=True)

    plain, groups, scrapes = [], [], []
    for d in docs:
        kind = d["kind"]
        if kind == "PrometheusRule":
            groups += d["spec"]["groups"]
        elif kind == "ServiceMonitor":
            scrapes += scrape_configs(d, args.targets_file)
        elif kind in OPERATOR_KINDS:
            sys.exit(f"monitoring.py: {kind} {d['metadata']['name']} is not translated")
        else:
            plain.append(d)
            if kind == "ConfigMap":
                cm_dir = os.path.join(args.out, d["metadata"]["name"])
                os.makedirs(cm_dir, exist_ok=True)
                for key, text in d.get("data", {}).items():
                    with open(os.path.join(cm_dir, key), "w") as f:
                        f.write(text)

    seen = set()
    for g in groups:
        for r in g["rules"]:
            if r.get("alert") in overrides:
                r["for"] = overrides[r["alert"]]
                seen.add(r["alert"])
    missing = set(overrides) - seen
    if missing:
        sys.exit(f"monitoring.py: --for names alerts the rules do not have: {sorted(missing)}")

    scrapes.append({"job_name": "kube-state-metrics", "honor_labels": True,
                    "static_configs": [{"targets": [args.kube_state_metrics]}]})
    if args.kubelet:
        # What a Prometheus Operator stack's kubelet ServiceMonitor scrapes: the
        # container series of the dashboard's headroom panels (namespace, pod
        # and container labels as the kubelet sets them).
        scrapes.append({"job_name": "kubelet-cadvisor", "honor_labels": True,
                        "scheme": "https", "metrics_path": "/metrics/cadvisor",
                        "tls_config": {"ca_file": args.kubelet_ca},
                        "authorization": {"credentials_file": args.kubelet_token},
                        "static_configs": [{"targets": [args.kubelet]}]})
    prometheus = {
        "global": {"scrape_interval": "15s", "evaluation_interval": args.evaluation_interval},
        "rule_files": [os.path.join(args.out, "rules.yaml")],
        "scrape_configs": scrapes,
    }
    with open(os.path.join(args.out, "resources.yaml"), "w") as f:
        yaml.safe_dump_all(plain, f, sort_keys=False)
    with open(os.path.join(args.out, "rules.yaml"), "w") as f:
        yaml.safe_dump({"groups": groups}, f, sort_keys=False, width=1000)
    with open(os.path.join(args.out, "prometheus.yml"), "w") as f:
        yaml.safe_dump(prometheus, f, sort_keys=False, width=1000)


if __name__ == "__main__":
    main()
