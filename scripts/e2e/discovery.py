#!/usr/bin/env python3
"""Kubernetes endpoint discovery for the e2e cluster's Prometheus, as a file.

Debian's Prometheus is built without kubernetes_sd_configs, so this lists
EndpointSlices, Services and Pods from the API server every few seconds and
writes the targets, with the same __meta_kubernetes_* labels the endpointslice
role gives them, to a file_sd file. The scrape configurations translated from
the ServiceMonitors (monitoring.py) then select and relabel them unchanged.

  discovery.py OUT.json --api-server URL --ca FILE --token-file FILE [--interval 5]
"""
import argparse
import json
import os
import re
import ssl
import sys
import time
import urllib.request


def sanitize(name):
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


class Api:
    def __init__(self, server, ca, token_file):
        self.server, self.token_file = server.rstrip("/"), token_file
        self.ctx = ssl.create_default_context(cafile=ca)

    def items(self, path):
        with open(self.token_file) as f:
            token = f.read().strip()
        req = urllib.request.Request(self.server + path, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
            return json.load(r)["items"]


def labels_of(prefix, obj_labels):
    out = {}
    for k, v in (obj_labels or {}).items():
        out[f"{prefix}_label_{sanitize(k)}"] = v
        out[f"{prefix}_labelpresent_{sanitize(k)}"] = "true"
    return out


def targets(api):
    services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s
                for s in api.items("/api/v1/services")}
    pods = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in api.items("/api/v1/pods")}
    groups = []
    for es in api.items("/apis/discovery.k8s.io/v1/endpointslices"):
        meta = es["metadata"]
        if es.get("addressType") not in ("IPv4", "IPv6"):
            continue
        ns = meta["namespace"]
        svc_name = (meta.get("labels") or {}).get("kubernetes.io/service-name")
        base = {"__meta_kubernetes_namespace": ns, "__meta_kubernetes_endpointslice_name": meta["name"]}
        svc = services.get((ns, svc_name))
        if svc:
            base["__meta_kubernetes_service_name"] = svc_name
            base.update(labels_of("__meta_kubernetes_service", svc["metadata"].get("labels")))
        for port in es.get("ports") or []:
            for ep in es.get("endpoints") or []:
                cond = ep.get("conditions", {})
                ref = ep.get("targetRef") or {}
                for addr in ep.get("addresses", []):
                    host = f"[{addr}]" if ":" in addr else addr
                    lab = dict(base)
                    lab.update({
                        "__address__": f"{host}:{port['port']}",
                        "__meta_kubernetes_endpointslice_port": str(port["port"]),
                        "__meta_kubernetes_endpointslice_port_name": port.get("name", ""),
                        "__meta_kubernetes_endpointslice_port_protocol": port.get("protocol", "TCP"),
                        "__meta_kubernetes_endpointslice_endpoint_conditions_ready":
                            str(cond.get("ready", True)).lower(),
                    })
                    if ref:
                        lab["__meta_kubernetes_endpointslice_address_target_kind"] = ref.get("kind", "")
                        lab["__meta_kubernetes_endpointslice_address_target_name"] = ref.get("name", "")
                    pod = pods.get((ns, ref.get("name"))) if ref.get("kind") == "Pod" else None
                    if pod:
                        lab["__meta_kubernetes_pod_name"] = pod["metadata"]["name"]
                        lab["__meta_kubernetes_pod_ip"] = pod["status"].get("podIP", "")
                        lab["__meta_kubernetes_pod_node_name"] = pod["spec"].get("nodeName", "")
                        lab.update(labels_of("__meta_kubernetes_pod", pod["metadata"].get("labels")))
                        for c in pod["spec"]["containers"]:
                            for cp in c.get("ports", []):
                                if cp["containerPort"] == port["port"]:
                                    lab["__meta_kubernetes_pod_container_name"] = c["name"]
                                    lab["__meta_kubernetes_pod_container_port_name"] = cp.get("name", "")
                    groups.append({"targets": [lab.pop("__address__")], "labels": lab})
    return groups


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--api-server", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--interval", type=float, default=5)
    args = ap.parse_args()
    api = Api(args.api_server, args.ca, args.token_file)
    last = None
    while True:
        try:
            text = json.dumps(sorted(targets(api), key=lambda g: (g["targets"], sorted(g["labels"].items()))),
                              indent=1)
            if text != last:
                with open(args.out + ".tmp", "w") as f:
                    f.write(text)
                os.replace(args.out + ".tmp", args.out)
                last = text
        except Exception as e:  # the API server restarting is not fatal
            print(f"discovery: {e}", file=sys.stderr, flush=True)
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
