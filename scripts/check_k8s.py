"""Validates rendered Kubernetes manifests and the Dockerfile (run by scripts/check-k8s.sh).

Usage: check_k8s.py RENDERED.yaml... --schemas DIR --dockerfile FILE --repo DIR [--self-test]

1. Schemas: every object is checked strictly (unknown fields are errors) against the
   Kubernetes OpenAPI schemas bundled in `kubernetes-validate`, or, for the two custom
   resources used (HTTPRoute, ServiceMonitor), against the schemas in k8s/schemas/. An
   object of a kind with no schema is an error: nothing passes unchecked.
2. Wiring: what the schemas cannot see. Secret and ConfigMap references resolve (and
   the referenced keys exist unless optional); Services select pods and name ports that
   exist; HTTPRoute backends and ServiceMonitor endpoints name real Service ports;
   NetworkPolicies select pods.
3. Placement: the heavy workloads (models, Qdrant, eval) select hardware=heavy and
   tolerate heavy=true:NoSchedule; the API selects hardware=light; host paths are under
   /mnt/k8s-storage; every container has requests and limits, every long-running one
   readiness and liveness probes.
4. Dockerfile: parses (Docker's own parser), builds for linux/amd64 from the Rust version
   in Cargo.toml, runs as a non-root user, and copies only paths that exist.

--self-test breaks a copy of the first rendering in known ways and checks that each
break is reported, so the checks above are known to fail when they should.
"""

import argparse
import copy
import json
import pathlib
import re
import sys

import dockerfile
import jsonschema
import kubernetes_validate
import yaml

K8S_VERSION = "1.32.0"  # k3s in the homelab
HEAVY = {"llama-3b", "llama-7b", "embeddings", "qdrant", "loglens-eval"}
LIGHT = {"loglens-api"}
STORAGE_ROOT = "/mnt/k8s-storage"


def load(paths):
    docs = []
    for p in paths:
        for d in yaml.safe_load_all(pathlib.Path(p).read_text()):
            if d:
                docs.append(d)
    return docs


def crd_schemas(folder):
    out = {}
    for f in pathlib.Path(folder).glob("*.json"):
        schema = json.loads(f.read_text())
        api = schema["properties"]["apiVersion"]["const"]
        kind = schema["properties"]["kind"]["const"]
        out[(api, kind)] = jsonschema.Draft202012Validator(schema)
    return out


def name_of(d):
    return f"{d.get('kind')}/{d.get('metadata', {}).get('name')}"


def check_schemas(docs, schemas):
    problems = []
    for d in docs:
        key = (d.get("apiVersion"), d.get("kind"))
        if key in schemas:
            for e in schemas[key].iter_errors(d):
                path = ".".join(str(p) for p in e.absolute_path)
                problems.append(f"{name_of(d)}: {path}: {e.message}")
            continue
        try:
            kubernetes_validate.validate(d, K8S_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{name_of(d)}: no schema for {key[0]} {key[1]} (add one to k8s/schemas)")
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.absolute_path)
            problems.append(f"{name_of(d)}: {path}: {e.message}")
    return problems


def pod_specs(docs):
    """(workload name, pod template metadata, pod spec, long-running?) for each workload."""
    for d in docs:
        kind, spec = d.get("kind"), d.get("spec", {})
        if kind in ("Deployment", "StatefulSet", "DaemonSet"):
            t = spec.get("template", {})
            yield d["metadata"]["name"], t.get("metadata", {}), t.get("spec", {}), True
        elif kind == "CronJob":
            t = spec.get("jobTemplate", {}).get("spec", {}).get("template", {})
            yield d["metadata"]["name"], t.get("metadata", {}), t.get("spec", {}), False


def selects(selector, labels):
    if not selector:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        val, op, values = labels.get(e["key"]), e["operator"], e.get("values", [])
        if op == "In" and val not in values:
            return False
        if op == "NotIn" and val in values:
            return False
        if op == "Exists" and val is None:
            return False
        if op == "DoesNotExist" and val is not None:
            return False
    return True


def check_wiring(docs):
    problems = []
    secrets = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Secret"}
    configmaps = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "ConfigMap"}
    services = [d for d in docs if d.get("kind") == "Service"]
    pods = list(pod_specs(docs))

    def keys(obj):
        return set((obj.get("data") or {}).keys()) | set((obj.get("stringData") or {}).keys())

    for name, _, spec, _ in pods:
        for c in spec.get("containers", []):
            for env in c.get("env", []):
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    s = secrets.get(ref["name"])
                    if s is None:
                        problems.append(f"{name}: env {env['name']} reads Secret {ref['name']}, which is not rendered")
                    elif ref["key"] not in keys(s) and not ref.get("optional"):
                        problems.append(f"{name}: env {env['name']} reads key {ref['key']} missing from Secret {ref['name']}")
        for v in spec.get("volumes", []):
            cm = v.get("configMap")
            if cm and cm["name"] not in configmaps and not cm.get("optional"):
                problems.append(f"{name}: volume {v['name']} mounts ConfigMap {cm['name']}, which is not rendered")
            mounted = {m["name"] for c in spec.get("containers", []) for m in c.get("volumeMounts", [])}
            if v["name"] not in mounted:
                problems.append(f"{name}: volume {v['name']} is mounted by no container")

    def container_ports(spec):
        return {p.get("name"): p["containerPort"] for c in spec.get("containers", []) for p in c.get("ports", [])}

    service_ports = {}
    for s in services:
        sname = s["metadata"]["name"]
        sel = s["spec"].get("selector") or {}
        matched = [spec for _, meta, spec, _ in pods if selects({"matchLabels": sel}, meta.get("labels", {}))]
        if not matched:
            problems.append(f"Service/{sname}: its selector {sel} matches no pod")
        for p in s["spec"].get("ports", []):
            tp = p.get("targetPort", p["port"])
            if isinstance(tp, str) and matched and not any(tp in container_ports(m) for m in matched):
                problems.append(f"Service/{sname}: targetPort {tp} is no container port of the pods it selects")
        service_ports[sname] = {p.get("name"): p["port"] for p in s["spec"].get("ports", [])}

    for d in docs:
        kind, n = d.get("kind"), name_of(d)
        if kind == "HTTPRoute":
            for rule in d["spec"].get("rules", []):
                for b in rule.get("backendRefs", []):
                    if b["name"] not in service_ports:
                        problems.append(f"{n}: backend {b['name']} is not a rendered Service")
                    elif b.get("port") not in service_ports[b["name"]].values():
                        problems.append(f"{n}: backend {b['name']} has no port {b.get('port')}")
        if kind == "ServiceMonitor":
            sel = d["spec"]["selector"]
            picked = [s for s in services if selects(sel, s["metadata"].get("labels", {}))]
            if not picked:
                problems.append(f"{n}: selects no Service")
            for e in d["spec"]["endpoints"]:
                for s in picked:
                    if e.get("port") and e["port"] not in service_ports[s["metadata"]["name"]]:
                        problems.append(f"{n}: Service/{s['metadata']['name']} has no port named {e['port']}")
        if kind == "NetworkPolicy":
            sel = d["spec"].get("podSelector") or {}
            if sel and not any(selects(sel, meta.get("labels", {})) for _, meta, _, _ in pods):
                problems.append(f"{n}: podSelector matches no pod")
    return problems


def check_placement(docs):
    problems = []
    for name, _, spec, long_running in pod_specs(docs):
        ns = spec.get("nodeSelector") or {}
        tolerates = any(
            t.get("key") == "heavy" and t.get("value") == "true" and t.get("effect") == "NoSchedule"
            for t in spec.get("tolerations") or []
        )
        if name in HEAVY and (ns.get("hardware") != "heavy" or not tolerates):
            problems.append(f"{name}: must select hardware=heavy and tolerate heavy=true:NoSchedule")
        if name in LIGHT and (ns.get("hardware") != "light" or tolerates):
            problems.append(f"{name}: must select hardware=light (and not tolerate the heavy taint)")
        if name not in HEAVY | LIGHT:
            problems.append(f"{name}: unknown workload; place it (HEAVY or LIGHT in scripts/check_k8s.py)")
        for v in spec.get("volumes", []):
            hp = v.get("hostPath")
            if hp and not hp["path"].startswith(STORAGE_ROOT + "/"):
                problems.append(f"{name}: hostPath {hp['path']} is outside {STORAGE_ROOT}")
        for c in spec.get("containers", []):
            r = c.get("resources") or {}
            if not r.get("requests") or not r.get("limits"):
                problems.append(f"{name}/{c['name']}: needs resource requests and limits")
            if long_running and not (c.get("readinessProbe") and c.get("livenessProbe")):
                problems.append(f"{name}/{c['name']}: needs readiness and liveness probes")
    for d in docs:
        if d.get("kind") == "PersistentVolume":
            path = (d["spec"].get("local") or d["spec"].get("hostPath") or {}).get("path", "")
            if not path.startswith(STORAGE_ROOT + "/"):
                problems.append(f"{name_of(d)}: path {path!r} is outside {STORAGE_ROOT}")
    return problems


def check_dockerfile(path, repo):
    problems = []
    try:
        cmds = dockerfile.parse_file(str(path))
    except dockerfile.GoParseError as e:
        return [f"Dockerfile: does not parse: {e}"]
    cargo = (repo / "Cargo.toml").read_text()
    m = re.search(r'^rust-version\s*=\s*"([0-9.]+)"', cargo, re.M)
    want_rust = m.group(1) if m else None
    froms = [c for c in cmds if c.cmd.upper() == "FROM"]
    if len(froms) < 2:
        problems.append("Dockerfile: expected a multi-stage build (build, then runtime)")
    for f in froms:
        if "--platform=linux/amd64" not in f.flags:
            problems.append(f"Dockerfile: FROM {f.value[0]} is not pinned to --platform=linux/amd64")
    if froms and want_rust and not froms[0].value[0].startswith(f"rust:{want_rust}"):
        problems.append(f"Dockerfile: builds with {froms[0].value[0]}, Cargo.toml wants Rust {want_rust}")
    users = [c for c in cmds if c.cmd.upper() == "USER"]
    if not users or users[-1].value[0].split(":")[0] in ("0", "root"):
        problems.append("Dockerfile: the final image must run as a non-root USER")
    for c in cmds:
        if c.cmd.upper() == "COPY" and not any(f.startswith("--from") for f in c.flags):
            for src in c.value[:-1]:
                if src != "." and not (repo / src).exists():
                    problems.append(f"Dockerfile: COPY {src}: no such path in the repository")
        if c.cmd.upper() == "RUN" and "cargo build" in c.value[0]:
            if "--locked" not in c.value[0]:
                problems.append("Dockerfile: cargo build must use --locked (the image builds what was tested)")
    return problems


def check_all(docs, schemas, dockerfile_path, repo):
    return (
        check_schemas(docs, schemas)
        + check_wiring(docs)
        + check_placement(docs)
        + (check_dockerfile(dockerfile_path, repo) if dockerfile_path else [])
    )


def find(docs, kind, name):
    return next(d for d in docs if d.get("kind") == kind and d["metadata"]["name"] == name)


def self_test(docs, schemas):
    """Each break must be reported; returns the breaks that were not."""
    breaks = {}

    def br(label, mutate):
        broken = copy.deepcopy(docs)
        mutate(broken)
        breaks[label] = broken

    br("unknown field", lambda ds: find(ds, "Deployment", "llama-3b")["spec"]["template"]["spec"]["containers"][0].__setitem__("imagePullPolcy", "Always"))
    br("wrong type", lambda ds: find(ds, "Deployment", "loglens-api")["spec"].__setitem__("replicas", "two"))
    br("taint not tolerated", lambda ds: find(ds, "Deployment", "llama-7b")["spec"]["template"]["spec"].pop("tolerations"))
    br("missing secret", lambda ds: ds.remove(next(d for d in ds if d.get("kind") == "Secret")))
    br("route to a missing port", lambda ds: find(ds, "HTTPRoute", "loglens-api")["spec"]["rules"][0]["backendRefs"][0].__setitem__("port", 8080))
    br("bad route timeout", lambda ds: find(ds, "HTTPRoute", "loglens-api")["spec"]["rules"][0].__setitem__("timeouts", {"request": "ten minutes"}))
    br("service selects nothing", lambda ds: find(ds, "Service", "embeddings")["spec"].__setitem__("selector", {"app.kubernetes.io/name": "embedding"}))
    br("no probes", lambda ds: find(ds, "Deployment", "embeddings")["spec"]["template"]["spec"]["containers"][0].pop("livenessProbe"))
    br("host path outside the NVMe", lambda ds: find(ds, "Deployment", "llama-3b")["spec"]["template"]["spec"]["volumes"][0]["hostPath"].__setitem__("path", "/models"))
    br("monitor names a missing port", lambda ds: find(ds, "ServiceMonitor", "loglens")["spec"]["endpoints"][0].__setitem__("port", "metrics"))
    br("kind without a schema", lambda ds: ds.append({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}))
    missed = []
    assert not check_all(docs, schemas, None, None), "the unbroken rendering must pass"
    for label, broken in breaks.items():
        if not check_all(broken, schemas, None, None):
            missed.append(label)
    return missed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rendered", nargs="+")
    ap.add_argument("--schemas", required=True)
    ap.add_argument("--dockerfile")
    ap.add_argument("--repo", default=".")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    schemas = crd_schemas(a.schemas)
    repo = pathlib.Path(a.repo)
    failed = False
    for i, path in enumerate(a.rendered):
        docs = load([path])
        problems = check_all(docs, schemas, a.dockerfile if i == 0 else None, repo)
        kinds = sorted({d["kind"] for d in docs})
        if problems:
            failed = True
            print(f"FAIL {path}: {len(problems)} problem(s)")
            for p in problems:
                print(f"  - {p}")
        else:
            print(f"ok   {path}: {len(docs)} objects ({', '.join(kinds)})")
        if a.self_test and i == 0:
            missed = self_test(docs, schemas)
            if missed:
                failed = True
                print(f"FAIL self-test: these breaks went unreported: {missed}")
            else:
                print("ok   self-test: every deliberate break was reported")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
