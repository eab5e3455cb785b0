"""What the Kubernetes manifests (deploy/kubernetes, written by generate.py) let through.

The security review found the Ingress speaking plain HTTP, every pod of the cluster able to reach every
service (its /docs and /metrics too) and Kafka, the gateway's /metrics and /ops reachable from the
Internet through the Ingress, and no CPU limit on any container. Each test below reads the manifests as
the cluster would: the Ingress's TLS and paths by the Kubernetes matching rules, the NetworkPolicies by
the rules a CNI applies (a pod selected by a policy of a type takes only what some rule of it allows)."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from mercator.common.devrun import SERVICES
from mercator.common.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/kubernetes"
NAMESPACE = "mercator"
SECRETS = {"token_secret": "t" * 64, "public_token_secret": "p" * 64}


def objects() -> list[dict]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == NAMESPACE
    return [doc for f in kustomization["resources"] for doc in yaml.safe_load_all((K8S / f).read_text()) if doc]


def of_kind(kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects() if o["kind"] == kind}


# --- the edge --------------------------------------------------------------------------------------


def the_ingress() -> dict:
    [ingress] = of_kind("Ingress").values()
    return ingress


def backend_for(ingress: dict, host: str, path: str) -> tuple[str, str | int] | None:
    """The Service and port a request for host+path goes to, by the Ingress path rules (Exact: the
    same path; Prefix: the same path elements; the longest match wins), or None: the controller's 404."""
    best: tuple[int, dict] | None = None
    for rule in ingress["spec"]["rules"]:
        if rule.get("host") not in (None, host):
            continue
        for p in rule["http"]["paths"]:
            want, kind = p["path"], p["pathType"]
            if kind == "Exact":
                hit = path == want
            else:
                assert kind == "Prefix", f"{want}: {kind} matching depends on the controller"
                prefix = want.rstrip("/")
                hit = prefix == "" or path == prefix or path.startswith(prefix + "/")
            if hit and (best is None or len(want) > best[0]):
                best = (len(want), p["backend"]["service"])
    if best is None:
        return None
    service = best[1]
    return service["name"], service["port"].get("name", service["port"].get("number"))


def test_the_ingress_serves_mercator_over_https_only():
    ingress = the_ingress()
    hosts = {r["host"] for r in ingress["spec"]["rules"]}
    assert hosts and None not in hosts, "a rule without a host answers any name, and no certificate covers it"
    tls = ingress["spec"].get("tls") or []
    covered = {h for t in tls for h in t.get("hosts", [])}
    assert hosts <= covered, f"served without TLS: {hosts - covered}"
    assert all(t.get("secretName") for t in tls), "TLS needs the Secret that holds the certificate"
    # The annotations are ingress-nginx's: the class must say that controller takes this Ingress.
    assert ingress["spec"].get("ingressClassName") == "nginx"
    annotations = ingress["metadata"].get("annotations", {})
    assert annotations.get("nginx.ingress.kubernetes.io/force-ssl-redirect") == "true", (
        "plain HTTP must be redirected to HTTPS, not answered"
    )
    # HSTS: a browser that once saw the site never tries it over plain HTTP again.
    namespace, _, name = annotations.get("nginx.ingress.kubernetes.io/custom-headers", "").partition("/")
    assert namespace == NAMESPACE, "the Strict-Transport-Security header comes from a ConfigMap of ours"
    headers = of_kind("ConfigMap")[name]["data"]
    hsts = headers["Strict-Transport-Security"]
    age = int(re.search(r"max-age=(\d+)", hsts).group(1))
    assert age >= 180 * 24 * 3600, hsts


def gateway_routes(tmp_path: Path) -> set[str]:
    """Every path the gateway app itself answers outside the public API."""
    from mercator.common.runtime import Runtime
    from mercator.gateway.app import build_app
    from mercator.gateway.settings import GatewaySettings

    settings = GatewaySettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'g.db'}", relay_enabled=False, consumers_enabled=False, **SECRETS
    )
    app = build_app(settings, Runtime(settings))

    def paths(routes) -> set[str]:
        # Newer FastAPI keeps an included router whole rather than copying its routes in.
        out = set()
        for r in routes:
            out |= {r.path} if hasattr(r, "path") else paths(r.original_router.routes)
        return out

    found = paths(app.routes)
    assert "/api/v1/auth/token" in found, "the gateway's routes are no longer where this test reads them"
    return {p for p in found if not p.startswith("/api/") and p != "/{path:path}"}


def web_app_pages() -> set[str]:
    """The pages the web app's router shows: a reload or a shared link asks the server for them."""
    source = (ROOT / "web/src/App.tsx").read_text()
    paths = set(re.findall(r'<Route\s+path="(/[^"*]*)"', source))
    assert "/clients" in paths, "the web app's routes are no longer where this test reads them"
    return {re.sub(r":\w+", "42", p) for p in paths}


def test_the_ingress_routes_the_api_and_the_web_app_and_nothing_internal(tmp_path):
    ingress = the_ingress()
    host = ingress["spec"]["rules"][0]["host"]
    gateway = ("gateway", "http")
    public = {
        "/",
        "/api/v1/auth/token",
        "/api/v1/deals",
        "/api/v1/deals/42/stage",
        "/api/v1/openapi.json",
        "/api/v1/live",
        "/assets/index-3f2a9c.js",
        "/assets/index-77ab01.css",
        *web_app_pages(),
        *(f"/{f.name}" for f in (ROOT / "web/public").iterdir()),
    }
    for path in sorted(public):
        assert backend_for(ingress, host, path) == gateway, f"{path} does not reach the gateway"
    internal = {
        "/metrics",
        "/ops/status",
        "/ops/quiesce",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        "/healthz",
        "/livez",
        "/readyz",
        *gateway_routes(tmp_path),
    }
    for path in sorted(internal):
        assert backend_for(ingress, host, path) is None, f"{path} is reachable from the Internet"
    # Only the gateway is behind the Ingress.
    behind = {p["backend"]["service"]["name"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
    assert behind == {"gateway"}


# --- who reaches whom ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, namespace: str, **labels: str) -> Pod:
        return cls(namespace, tuple(sorted(labels.items())))


def selects(selector: dict | None, labels: dict[str, str]) -> bool:
    assert not (selector or {}).get("matchExpressions"), "matchExpressions are not read by this test"
    return (selector or {}).get("matchLabels", {}).items() <= labels.items()


def peer_is(peer: dict, pod: Pod) -> bool:
    if "ipBlock" in peer:
        return False  # addresses outside the cluster, never one of its pods here
    if "namespaceSelector" in peer:
        in_namespace = selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": pod.namespace})
    else:
        in_namespace = pod.namespace == NAMESPACE
    return in_namespace and selects(peer.get("podSelector"), dict(pod.labels))


def port_is(ports: list[dict] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for p in ports:
        assert not isinstance(p.get("port"), str), "named ports are not read by this test"
        if p.get("protocol", "TCP") == protocol and p.get("port") in (None, port):
            return True
    return False


def allows(policies: list[dict], direction: str, pod: Pod, other: Pod, port: int, protocol: str) -> bool:
    if pod.namespace != NAMESPACE:
        return True  # another namespace's own policies are the platform's business
    mine = [
        p
        for p in policies
        if selects(p["spec"]["podSelector"], dict(pod.labels)) and direction in p["spec"]["policyTypes"]
    ]
    if not mine:
        return True
    rules, side = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    return any(
        (rule.get(side) is None or any(peer_is(peer, other) for peer in rule[side]))
        and port_is(rule.get("ports"), port, protocol)
        for p in mine
        for rule in p["spec"].get(rules, [])
    )


def connects(policies: list[dict], source: Pod, target: Pod, port: int, protocol: str = "TCP") -> bool:
    return allows(policies, "Egress", source, target, port, protocol) and allows(
        policies, "Ingress", target, source, port, protocol
    )


def callers_by_settings() -> dict[str, set[str]]:
    """Which services each service calls: its `<peer>_url` settings."""
    calls = {}
    for name in SERVICES:
        module = importlib.import_module(f"mercator.{name}.settings")
        [cls] = [
            c
            for c in vars(module).values()
            if isinstance(c, type) and issubclass(c, ServiceSettings) and c is not ServiceSettings
        ]
        calls[name] = {f.removesuffix("_url") for f in cls.model_fields if f.endswith("_url") and f != "database_url"}
        assert calls[name] <= set(SERVICES), f"{name} calls something that is no service: {calls[name]}"
    return calls


def test_network_policies_let_each_pod_reach_only_what_it_calls():
    policies = list(of_kind("NetworkPolicy").values())
    deployments = of_kind("Deployment")
    pods = {name: Pod.of(NAMESPACE, **d["spec"]["template"]["metadata"]["labels"]) for name, d in deployments.items()}
    ports = {
        name: d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
        for name, d in deployments.items()
    }
    metrics_ports = {
        name: int(d["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"])
        for name, d in deployments.items()
    }
    [job] = of_kind("Job").values()
    topics = Pod.of(NAMESPACE, **job["spec"]["template"]["metadata"]["labels"])
    # The platform as docs/operations.md describes it.
    ingress_controller = Pod.of("ingress-nginx", **{"app.kubernetes.io/name": "ingress-nginx"})
    prometheus = Pod.of("monitoring", **{"app.kubernetes.io/name": "prometheus"})
    kafka = Pod.of("kafka", **{"strimzi.io/kind": "Kafka"})
    postgres = Pod.of("postgres", **{"app.kubernetes.io/name": "postgresql"})
    dns = Pod.of("kube-system", **{"k8s-app": "kube-dns"})
    intruder = Pod.of(NAMESPACE, **{"app.kubernetes.io/name": "debug-shell"})  # `kubectl run` in our namespace
    neighbour = Pod.of("shop", app="storefront")  # any other team's pod

    calls = callers_by_settings()
    assert calls["gateway"] == set(SERVICES) - {"gateway"}
    for source in SERVICES:
        for target in SERVICES:
            if source != target:
                assert connects(policies, pods[source], pods[target], ports[target]) == (target in calls[source]), (
                    f"{source} -> {target}:{ports[target]}"
                )
    for name, pod in pods.items():
        assert connects(policies, ingress_controller, pod, ports[name]) == (name == "gateway"), name
        assert connects(policies, prometheus, pod, metrics_ports[name]), f"Prometheus cannot scrape {name}"
        for outsider in (intruder, neighbour, topics):
            assert not connects(policies, outsider, pod, ports[name]), f"{outsider} reaches {name}"
        assert connects(policies, pod, kafka, 9092) and connects(policies, pod, postgres, 5432), name
        assert connects(policies, pod, dns, 53, "UDP") and connects(policies, pod, dns, 53, "TCP"), name
        assert not connects(policies, pod, neighbour, 443), f"{name} reaches anything in the cluster"
    assert connects(policies, topics, kafka, 9092) and connects(policies, topics, dns, 53, "UDP")
    assert not connects(policies, topics, postgres, 5432)
    assert not connects(policies, intruder, kafka, 9092), "Kafka is reachable from any pod"
    assert not connects(policies, intruder, postgres, 5432), "PostgreSQL is reachable from any pod"
    # Beyond the cluster only the notifications service goes, and only to an SMTP port.
    beyond = {
        (name, tuple(p["port"] for p in rule.get("ports", [])))
        for name, policy in of_kind("NetworkPolicy").items()
        for rule in policy["spec"].get("egress", [])
        if any("ipBlock" in peer for peer in rule.get("to", []))
    }
    assert beyond == {("notifications", (int(of_kind("ConfigMap")["mercator-config"]["data"]["smtp-port"]),))}

    # docker-compose.yml gives each service the addresses of the same peers.
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in SERVICES:
        env = compose[name]["environment"]
        named = {
            k.removeprefix(f"MERCATOR_{name.upper()}_").removesuffix("_URL").lower()
            for k in env
            if k.endswith("_URL") and not k.endswith("_DATABASE_URL")
        }
        assert named == calls[name], f"compose: {name} is told of {named}, calls {calls[name]}"


# --- what a pod may take ---------------------------------------------------------------------------


def cpu(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def memory(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return int(quantity[:-2]) * units[quantity[-2:]] if quantity[-2:] in units else int(quantity)


def test_every_container_has_cpu_and_memory_requests_and_limits():
    containers = [
        (o["metadata"]["name"], c)
        for o in objects()
        if o["kind"] in ("Deployment", "Job")
        for c in o["spec"]["template"]["spec"]["containers"]
    ]
    assert len(containers) == len(SERVICES) + 1
    for name, c in containers:
        resources = c.get("resources", {})
        requests, limits = resources.get("requests", {}), resources.get("limits", {})
        for key, read in (("cpu", cpu), ("memory", memory)):
            assert key in requests and key in limits, f"{name}: no {key} request and limit"
            assert 0 < read(requests[key]) <= read(limits[key]), f"{name}: {key} {requests[key]} > {limits[key]}"
