#!/usr/bin/env python3
"""Checks of manifests/gitops (Argo CD Applications, Flux Kustomizations)
without a cluster:

  - every YAML file there parses, and holds only the expected kinds and API
    versions (argoproj.io/v1alpha1 Application, source.toolkit.fluxcd.io/v1
    GitRepository, kustomize.toolkit.fluxcd.io/v1 Kustomization, kustomize's
    own kustomization files, the argocd-cm health checks);
  - every Application and Flux Kustomization names the same repository, and
    every path they point at exists and builds: `kubectl kustomize` where the
    directory has a kustomization file, else each file parses as Kubernetes
    objects (as Argo CD applies a plain directory). Flux's paths are built in
    a copy of only what the GitRepository fetches (its `ignore` rules);
  - the three layers, told apart by what they render (the PricingEngine CRD,
    the operator Deployment, the PricingEngine), each have one Application
    and one Flux Kustomization, share no object, and the CRD and operator
    layers together are exactly the overlay the operator layer builds on;
  - sync waves CRD < operator < engine, and dependsOn engine -> operator ->
    crds, every name in dependsOn defined;
  - the engine Application ignores /spec/replicas of Deployments and
    /spec/minReplicas, /spec/maxReplicas of HPAs in the PricingEngine's
    namespace, with RespectIgnoreDifferences=true; every Application syncs
    automatically, with pruning, self-heal and server-side apply (the CRD's
    may use Replace=true instead); the CRD is never pruned or deleted by
    either tool;
  - the PricingEngine health checks (argocd-cm, healthCheckExprs) name the
    CRD's group, version and kind.

Usage: gitops_test.py --source-dir ROOT --work DIR
kubectl is $KUBECTL, else the control plane's kubectl cached by
scripts/control-plane/build.sh (${PRICING_CACHE:-~/.cache/pricing-engine}),
else kubectl from PATH. No cluster is contacted.
"""

import argparse
import glob
import os
import shutil
import subprocess
import sys

import yaml

REPO_URL = "https://github.com/example/pricing-platform.git"
CRD_NAME = "pricingengines.pricing.borrowrate.io"
OPERATOR_DEPLOYMENT = ("pricing-system", "pricing-operator")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ARGO = ("argoproj.io/v1alpha1", "Application")
FLUX_SOURCE = ("source.toolkit.fluxcd.io/v1", "GitRepository")
FLUX_KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
KUSTOMIZE = ("kustomize.config.k8s.io/v1beta1", "Kustomization")
CONFIGMAP = ("v1", "ConfigMap")
LAYERS = ("crds", "operator", "engine")


class Failure(Exception):
    pass


def kind_of(doc):
    return (doc.get("apiVersion"), doc.get("kind"))


def ident(doc):
    meta = doc.get("metadata") or {}
    return (doc.get("kind"), meta.get("namespace", ""), meta.get("name"))


def show(i):
    kind, ns, name = i
    return f"{kind} {ns + '/' if ns else ''}{name}"


def find_kubectl(root):
    if os.environ.get("KUBECTL"):
        return os.environ["KUBECTL"]
    cache = os.environ.get("PRICING_CACHE") or os.path.expanduser("~/.cache/pricing-engine")
    pinned = None
    versions = os.path.join(root, "scripts", "control-plane", "versions.env")
    if os.path.exists(versions):
        for line in open(versions):
            if line.startswith("K8S_VERSION="):
                pinned = os.path.join(cache, "k8s-" + line.split("=", 1)[1].strip(), "bin", "kubectl")
    candidates = [pinned, shutil.which("kubectl")]
    candidates += sorted(glob.glob(os.path.join(cache, "k8s-v*", "bin", "kubectl")), reverse=True)
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    raise Failure("kubectl not found: set KUBECTL, put kubectl on PATH, or build the test "
                  "control plane once (scripts/control-plane/build.sh caches one)")


class Repo:
    """The repository (or a copy of part of it) and what its directories render."""

    def __init__(self, root, kubectl):
        self.root = root
        self.kubectl = kubectl
        self.cache = {}

    def render(self, rel):
        """The objects a GitOps tool would apply from directory `rel`."""
        rel = os.path.normpath(rel)
        if rel in self.cache:
            return self.cache[rel]
        path = os.path.join(self.root, rel)
        if rel.startswith("..") or os.path.isabs(rel):
            raise Failure(f"{rel} is outside the repository")
        if not os.path.isdir(path):
            raise Failure(f"{rel} does not exist")
        if any(os.path.isfile(os.path.join(path, k)) for k in KUSTOMIZATION_FILES):
            proc = subprocess.run([self.kubectl, "kustomize", path], capture_output=True,
                                  text=True, timeout=60)
            if proc.returncode != 0:
                raise Failure(f"kubectl kustomize {rel} fails:\n" +
                              "\n".join("  | " + l for l in proc.stderr.rstrip().splitlines()))
            docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
        else:
            # A plain directory: Argo CD and Flux apply its YAML and JSON files.
            files = sorted(f for f in os.listdir(path) if f.endswith((".yaml", ".yml", ".json")))
            if not files:
                raise Failure(f"{rel} has neither a kustomization file nor manifests")
            docs = []
            for f in files:
                try:
                    docs += [d for d in yaml.safe_load_all(open(os.path.join(path, f))) if d]
                except yaml.YAMLError as e:
                    raise Failure(f"{rel}/{f} does not parse: {e}")
        for d in docs:
            if not isinstance(d, dict) or not d.get("apiVersion") or not d.get("kind") \
                    or not (d.get("metadata") or {}).get("name"):
                raise Failure(f"{rel} renders something that is not a Kubernetes object: {d!r:.200}")
        if not docs:
            raise Failure(f"{rel} renders nothing")
        self.cache[rel] = docs
        return docs


class Checks:
    def __init__(self, root, work, kubectl):
        self.root = root
        self.work = work
        self.gitops = os.path.join(root, "manifests", "gitops")
        self.repo = Repo(root, kubectl)
        self.kubectl = kubectl
        self.passed = 0
        self.failed = 0

    def check(self, what, fn, *args):
        try:
            detail = fn(*args)
        except Failure as e:
            self.failed += 1
            print(f"FAIL: {what}: {e}")
            return None
        self.passed += 1
        print(f"ok: {what}" + (f" ({detail})" if isinstance(detail, str) and detail else ""))
        return detail

    # --- The files ----------------------------------------------------------

    def load(self):
        """Parses every YAML file; returns {relative path: [documents]}."""
        files = {}
        problems = []
        for dirpath, _, names in os.walk(self.gitops):
            for n in sorted(names):
                if not n.endswith((".yaml", ".yml")) and n != "Kustomization":
                    continue
                p = os.path.join(dirpath, n)
                rel = os.path.relpath(p, self.gitops)
                try:
                    files[rel] = [d for d in yaml.safe_load_all(open(p)) if d is not None]
                except yaml.YAMLError as e:
                    problems.append(f"{rel}: {e}")
        if problems:
            raise Failure("\n".join(problems))
        if not files:
            raise Failure("no YAML under manifests/gitops")
        self.files = files
        return f"{len(files)} files"

    def kinds(self):
        problems = []
        self.apps, self.sources, self.flux = [], [], []
        for rel, docs in sorted(self.files.items()):
            top = rel.split(os.sep)[0]
            base = os.path.basename(rel)
            for d in docs:
                k = kind_of(d) if isinstance(d, dict) else None
                where = f"{rel}: {k[1] if k else d!r:.60}"
                if base in KUSTOMIZATION_FILES:
                    if k != KUSTOMIZE:
                        problems.append(f"{where} is not a {KUSTOMIZE[0]} Kustomization")
                elif top == "argocd" and k == ARGO:
                    self.apps.append((rel, d))
                elif top == "argocd" and k == CONFIGMAP and base == "argocd-cm.yaml":
                    self.argocd_cm = d
                elif top == "flux" and k == FLUX_SOURCE:
                    self.sources.append((rel, d))
                elif top == "flux" and k == FLUX_KUSTOMIZATION:
                    self.flux.append((rel, d))
                else:
                    problems.append(f"{where} ({k[0] if k else '?'}) is not an expected kind here")
        if not self.apps:
            problems.append(f"no {ARGO[0]} Application under argocd/")
        if len(self.sources) != 1:
            problems.append(f"{len(self.sources)} {FLUX_SOURCE[0]} GitRepository objects, expected one")
        if not self.flux:
            problems.append(f"no {FLUX_KUSTOMIZATION[0]} Kustomization under flux/")
        if problems:
            raise Failure("\n".join(problems))
        return (f"{len(self.apps)} Applications, {len(self.sources)} GitRepository, "
                f"{len(self.flux)} Flux Kustomizations")

    def repository(self):
        problems = []
        for rel, a in self.apps:
            src = (a.get("spec") or {}).get("source") or {}
            name = a["metadata"]["name"]
            if src.get("repoURL") != REPO_URL:
                problems.append(f"Application {name} ({rel}): repoURL {src.get('repoURL')!r}, expected {REPO_URL}")
            if not src.get("targetRevision"):
                problems.append(f"Application {name} ({rel}) has no targetRevision")
            if not src.get("path"):
                problems.append(f"Application {name} ({rel}) has no path")
        rel, s = self.sources[0]
        if s["spec"].get("url") != REPO_URL:
            problems.append(f"GitRepository {s['metadata']['name']} ({rel}): url {s['spec'].get('url')!r}")
        if not s["spec"].get("ref"):
            problems.append(f"GitRepository {s['metadata']['name']} ({rel}) has no ref")
        src_id = (s["metadata"]["name"], s["metadata"].get("namespace"))
        for rel, k in self.flux:
            ref = k["spec"].get("sourceRef") or {}
            got = (ref.get("name"), ref.get("namespace", k["metadata"].get("namespace")))
            if ref.get("kind") != "GitRepository" or got != src_id:
                problems.append(f"Kustomization {k['metadata']['name']} ({rel}): sourceRef {ref} "
                                f"is not the GitRepository {src_id[1]}/{src_id[0]}")
        readme = os.path.join(self.gitops, "README.md")
        if not os.path.exists(readme) or REPO_URL not in open(readme).read():
            problems.append(f"README.md does not name {REPO_URL}")
        if problems:
            raise Failure("\n".join(problems))
        return REPO_URL

    # --- Paths ---------------------------------------------------------------

    def flux_tree(self):
        """A copy of what the GitRepository fetches, per its `ignore` rules."""
        rel, s = self.sources[0]
        rules = [l.strip() for l in (s["spec"].get("ignore") or "").splitlines() if l.strip()]
        if not rules:
            return self.repo
        if rules[0] != "/*" or not all(r.startswith("!/") and r.endswith("/") for r in rules[1:]):
            raise Failure(f"{rel}: this test reads only ignore rules of the form '/*' then "
                          f"'!/dir/' lines, got {rules}")
        tree = os.path.join(self.work, "flux-source")
        shutil.rmtree(tree, ignore_errors=True)
        os.makedirs(tree)
        for r in rules[1:]:
            d = r[2:-1]
            if not os.path.isdir(os.path.join(self.root, d)):
                raise Failure(f"{rel}: ignore keeps /{d}/, which does not exist")
            shutil.copytree(os.path.join(self.root, d), os.path.join(tree, d), symlinks=True)
        return Repo(tree, self.kubectl)

    def app_path(self, rel, app):
        path = app["spec"]["source"]["path"]
        docs = self.repo.render(path)
        return f"{path}: {len(docs)} objects"

    def flux_path(self, tree, rel, k):
        path = k["spec"].get("path", "")
        if not path.startswith("./"):
            raise Failure(f"spec.path {path!r} should start with ./")
        self.repo.render(path[2:])
        docs = tree.render(path[2:])
        return f"{path}: {len(docs)} objects, also from the fetched subset"

    # --- Layers -------------------------------------------------------------

    def layer_of(self, path):
        docs = self.repo.render(path)
        ids = {ident(d) for d in docs}
        found = set()
        if ("CustomResourceDefinition", "", CRD_NAME) in ids:
            found.add("crds")
        if ("Deployment",) + OPERATOR_DEPLOYMENT in ids:
            found.add("operator")
        if any(d["kind"] == "PricingEngine" for d in docs):
            found.add("engine")
        if len(found) != 1:
            raise Failure(f"{path} renders {'the objects of layers ' + ', '.join(sorted(found)) if found else 'none of the layers'}"
                          " (CRD, operator, PricingEngine); expected exactly one")
        return found.pop()

    def layers(self):
        """Maps each layer to its child Application and Flux Kustomization."""
        problems = []
        roots = []
        children = {}
        for rel, a in self.apps:
            path = a["spec"]["source"]["path"]
            docs = self.repo.render(path)
            if all(kind_of(d) == ARGO for d in docs):
                roots.append((rel, a, docs))
                continue
            layer = self.layer_of(path)
            if layer in children:
                problems.append(f"Applications {children[layer][1]['metadata']['name']} and "
                                f"{a['metadata']['name']} both sync the {layer} layer")
            children[layer] = (rel, a)
        if len(roots) != 1:
            problems.append(f"{len(roots)} root Applications (whose path holds Applications), expected one")
        else:
            rel, root, docs = roots[0]
            synced = {(d["metadata"]["name"], d["metadata"].get("namespace")) for d in docs}
            defined = {(a["metadata"]["name"], a["metadata"].get("namespace")) for _, a in children.values()}
            if synced != defined:
                problems.append(f"the root Application {root['metadata']['name']} syncs {sorted(synced)}, "
                                f"but the layers' Applications are {sorted(defined)}")
        flux = {}
        for rel, k in self.flux:
            layer = self.layer_of(k["spec"]["path"][2:])
            if layer in flux:
                problems.append(f"Flux Kustomizations {flux[layer]['metadata']['name']} and "
                                f"{k['metadata']['name']} both apply the {layer} layer")
            flux[layer] = k
        for layer in LAYERS:
            if layer not in children:
                problems.append(f"no Application syncs the {layer} layer")
            if layer not in flux:
                problems.append(f"no Flux Kustomization applies the {layer} layer")
        if problems:
            raise Failure("\n".join(problems))
        self.children = {l: a for l, (_, a) in children.items()}
        self.flux_by_layer = flux
        return ", ".join(f"{l}: Application {self.children[l]['metadata']['name']} -> "
                         f"{self.children[l]['spec']['source']['path']}" for l in LAYERS)

    def contents(self):
        problems = []
        path = {l: self.children[l]["spec"]["source"]["path"] for l in LAYERS}
        for l in LAYERS:
            fpath = self.flux_by_layer[l]["spec"]["path"][2:]
            if os.path.normpath(fpath) != os.path.normpath(path[l]):
                problems.append(f"the {l} layer is {path[l]} for Argo CD but {fpath} for Flux")
        docs = {l: self.repo.render(path[l]) for l in LAYERS}
        ids = {l: {ident(d) for d in docs[l]} for l in LAYERS}
        for i, a in enumerate(LAYERS):
            for b in LAYERS[i + 1:]:
                for o in sorted(ids[a] & ids[b], key=str):
                    problems.append(f"{show(o)} is in both the {a} and the {b} layer")
        crd_ids = {ident(d) for d in self.repo.render("crds")}
        if ids["crds"] != crd_ids:
            problems.append(f"the crds layer renders {sorted(map(show, ids['crds']))}, "
                            f"crds/ holds {sorted(map(show, crd_ids))}")
        # The operator layer builds on an overlay; with the CRD layer it is that overlay.
        kfile = next((os.path.join(self.root, path["operator"], k) for k in KUSTOMIZATION_FILES
                      if os.path.isfile(os.path.join(self.root, path["operator"], k))), None)
        bases = [r for r in ((yaml.safe_load(open(kfile)) or {}).get("resources") or [])] if kfile else []
        overlays = [os.path.normpath(os.path.join(path["operator"], r)) for r in bases
                    if os.path.isdir(os.path.join(self.root, path["operator"], r))]
        if overlays:
            whole = set()
            for o in overlays:
                whole |= {ident(d) for d in self.repo.render(o)}
            if ids["crds"] | ids["operator"] != whole:
                problems.append(f"crds + operator layers differ from {', '.join(overlays)}: missing "
                                f"{sorted(map(show, whole - ids['crds'] - ids['operator']))}, extra "
                                f"{sorted(map(show, (ids['crds'] | ids['operator']) - whole))}")
        for d in docs["crds"]:
            ann = (d.get("metadata") or {}).get("annotations") or {}
            opts = {o.strip() for o in ann.get("argocd.argoproj.io/sync-options", "").split(",")}
            if not {"Prune=false", "Delete=false"} <= opts:
                problems.append(f"{show(ident(d))} lacks argocd.argoproj.io/sync-options Prune=false,Delete=false")
            if ann.get("kustomize.toolkit.fluxcd.io/prune") != "disabled":
                problems.append(f"{show(ident(d))} lacks kustomize.toolkit.fluxcd.io/prune: disabled")
        # The PricingEngine is of the kind the CRD serves.
        self.crd = next(d for d in docs["crds"] if d["kind"] == "CustomResourceDefinition")
        group = self.crd["spec"]["group"]
        served = {f"{group}/{v['name']}" for v in self.crd["spec"]["versions"] if v.get("served")}
        self.pe = [d for d in docs["engine"] if d["kind"] == self.crd["spec"]["names"]["kind"]]
        for d in self.pe:
            if d["apiVersion"] not in served:
                problems.append(f"{show(ident(d))} is {d['apiVersion']}, the CRD serves {sorted(served)}")
        # Each Application's destination namespace is where its objects go.
        for l, want in (("operator", OPERATOR_DEPLOYMENT[0]), ("engine", self.pe[0]["metadata"].get("namespace"))):
            got = self.children[l]["spec"]["destination"].get("namespace")
            if got != want:
                problems.append(f"Application {self.children[l]['metadata']['name']}: destination "
                                f"namespace {got!r}, its objects are in {want!r}")
        if problems:
            raise Failure("\n".join(problems))
        return "; ".join(f"{l}: {len(ids[l])} objects" for l in LAYERS)

    # --- Order ---------------------------------------------------------------

    def waves(self):
        waves = {}
        for l in LAYERS:
            a = self.children[l]
            w = ((a["metadata"].get("annotations") or {}).get("argocd.argoproj.io/sync-wave", "0"))
            try:
                waves[l] = int(w)
            except ValueError:
                raise Failure(f"Application {a['metadata']['name']}: sync wave {w!r} is not an integer")
        if not waves["crds"] < waves["operator"] < waves["engine"]:
            raise Failure(f"sync waves crds {waves['crds']}, operator {waves['operator']}, engine "
                          f"{waves['engine']}: expected crds < operator < engine")
        return ", ".join(f"{l} {waves[l]}" for l in LAYERS)

    def depends_on(self):
        problems = []
        by_name = {(k["metadata"]["name"], k["metadata"].get("namespace")): k for _, k in self.flux}
        deps = {}
        for key, k in by_name.items():
            deps[key] = set()
            for d in k["spec"].get("dependsOn") or []:
                dep = (d.get("name"), d.get("namespace", key[1]))
                if dep not in by_name:
                    problems.append(f"Kustomization {key[0]} depends on {dep[1]}/{dep[0]}, which is not defined")
                deps[key].add(dep)
        name = {l: (k["metadata"]["name"], k["metadata"].get("namespace")) for l, k in self.flux_by_layer.items()}
        want = {"crds": set(), "operator": {name["crds"]}, "engine": {name["operator"]}}
        for l in LAYERS:
            if deps[name[l]] != want[l]:
                problems.append(f"Kustomization {name[l][0]} ({l}) depends on "
                                f"{sorted(n for n, _ in deps[name[l]]) or 'nothing'}, expected "
                                f"{sorted(n for n, _ in want[l]) or 'nothing'}")
        for l in LAYERS:
            spec = self.flux_by_layer[l]["spec"]
            if spec.get("prune") is not True or spec.get("wait") is not True:
                problems.append(f"Kustomization {name[l][0]}: prune {spec.get('prune')}, wait "
                                f"{spec.get('wait')}, expected both true")
        if problems:
            raise Failure("\n".join(problems))
        return " -> ".join(name[l][0] for l in reversed(LAYERS))

    # --- What Argo CD leaves alone, health -----------------------------------

    def ignore_differences(self):
        problems = []
        engine = self.children["engine"]
        ns = self.pe[0]["metadata"].get("namespace")
        entries = engine["spec"].get("ignoreDifferences") or []
        want = {("apps", "Deployment"): {"/spec/replicas"},
                ("autoscaling", "HorizontalPodAutoscaler"): {"/spec/minReplicas", "/spec/maxReplicas"}}
        for (group, kind), pointers in want.items():
            covered = set()
            for e in entries:
                if e.get("group") == group and e.get("kind") == kind and \
                        e.get("namespace") in (None, ns) and not e.get("name"):
                    covered |= set(e.get("jsonPointers") or [])
            if not pointers <= covered:
                problems.append(f"Application {engine['metadata']['name']} does not ignore "
                                f"{sorted(pointers - covered)} of every {kind} in namespace {ns}")
        opts = set(engine["spec"].get("syncPolicy", {}).get("syncOptions") or [])
        if "RespectIgnoreDifferences=true" not in opts:
            problems.append(f"Application {engine['metadata']['name']} lacks sync option "
                            "RespectIgnoreDifferences=true (a sync would reset the ignored fields)")
        if problems:
            raise Failure("\n".join(problems))
        return f"Deployment /spec/replicas, HPA /spec/minReplicas /spec/maxReplicas in {ns}"

    def sync_options(self):
        problems = []
        for l in LAYERS:
            a = self.children[l]
            opts = set(a["spec"].get("syncPolicy", {}).get("syncOptions") or [])
            # The CRD may also be replaced rather than applied; the others are applied server-side.
            allowed = {"ServerSideApply=true", "Replace=true"} if l == "crds" else {"ServerSideApply=true"}
            if not opts & allowed:
                problems.append(f"Application {a['metadata']['name']} applies client-side "
                                f"(needs {' or '.join(sorted(allowed))})")
            auto = a["spec"].get("syncPolicy", {}).get("automated") or {}
            if auto.get("prune") is not True or auto.get("selfHeal") is not True:
                problems.append(f"Application {a['metadata']['name']}: automated sync without prune and selfHeal")
        if problems:
            raise Failure("\n".join(problems))
        return "server-side apply, automated with prune and self-heal"

    def health(self):
        problems = []
        group = self.crd["spec"]["group"]
        kind = self.crd["spec"]["names"]["kind"]
        cm = getattr(self, "argocd_cm", None)
        if cm is None or cm["metadata"]["name"] != "argocd-cm":
            problems.append("no ConfigMap argocd-cm in argocd/argocd-cm.yaml")
        else:
            for key in ("resource.customizations.health.argoproj.io_Application",
                        f"resource.customizations.health.{group}_{kind}"):
                if "return hs" not in (cm.get("data") or {}).get(key, ""):
                    problems.append(f"argocd-cm has no health check {key}")
        exprs = self.flux_by_layer["engine"]["spec"].get("healthCheckExprs") or []
        served = {f"{group}/{v['name']}" for v in self.crd["spec"]["versions"] if v.get("served")}
        mine = [e for e in exprs if e.get("kind") == kind]
        if not mine or any(e.get("apiVersion") not in served or not e.get("current") for e in mine):
            problems.append(f"the engine Kustomization has no healthCheckExprs with a `current` "
                            f"expression for {kind} in {sorted(served)}")
        if problems:
            raise Failure("\n".join(problems))
        return f"{group}/{kind}"

    def run(self):
        if self.check("every YAML under manifests/gitops parses", self.load) is None:
            return
        if self.check("kinds and API versions", self.kinds) is None:
            return
        self.check("one repository, one revision per object", self.repository)
        paths_ok = True
        for rel, a in self.apps:
            paths_ok &= self.check(f"Application {a['metadata']['name']}: path exists and builds",
                                   self.app_path, rel, a) is not None
        tree = self.check("the GitRepository's fetched subset", self.flux_tree)
        for rel, k in self.flux:
            if tree is None:
                paths_ok = False
                break
            paths_ok &= self.check(f"Flux Kustomization {k['metadata']['name']}: path exists and builds",
                                   self.flux_path, tree, rel, k) is not None
        if not paths_ok or tree is None:
            return
        if self.check("one Application and one Flux Kustomization per layer", self.layers) is None:
            return
        if self.check("what each layer renders", self.contents) is None:
            return
        self.check("sync waves: CRD < operator < engine", self.waves)
        self.check("dependsOn: engine -> operator -> crds", self.depends_on)
        self.check("ignoreDifferences of the engine Application", self.ignore_differences)
        self.check("sync options of the Applications", self.sync_options)
        self.check("PricingEngine health checks", self.health)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--source-dir", default=os.path.dirname(os.path.dirname(here)))
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    root = os.path.abspath(args.source_dir)
    os.makedirs(args.work, exist_ok=True)
    try:
        kubectl = find_kubectl(root)
    except Failure as e:
        print(f"FAIL: {e}")
        print("0 passed, 1 failed")
        return 1
    print(f"kubectl: {kubectl}")
    checks = Checks(root, os.path.abspath(args.work), kubectl)
    checks.run()
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
