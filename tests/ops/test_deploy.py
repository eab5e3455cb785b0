"""The deployment files checked as what a deployer's tools will read: docker-compose.yml by
`docker-compose config`, the Kubernetes manifests against the Kubernetes schemas, the Grafana
dashboard and the alert rules against the metrics the services export."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mercator.common.devrun import SERVICES
from mercator.common.metrics import Metrics
from mercator.common.testing.plugin import need

ROOT = Path(__file__).resolve().parents[2]
# Compose has no default for these (tests/security checks it refuses to start without them).
COMPOSE_SECRETS = {
    "POSTGRES_PASSWORD": "pg",
    "MERCATOR_TOKEN_SECRET": "t" * 64,
    "MERCATOR_PUBLIC_TOKEN_SECRET": "p" * 64,
    "GRAFANA_ADMIN_PASSWORD": "g",
}
K8S = ROOT / "deploy/kubernetes"
PORTS = {"gateway": 8000, "contacts": 8001, "deals": 8002, "billing": 8003, "notifications": 8004, "analytics": 8005}
# Where each answers its probes and /metrics: the gateway, whose port is public, on an internal listener.
OPS_PORTS = {**PORTS, "gateway": 9000}


# --- docker-compose -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    binary = shutil.which("docker-compose")
    if binary is None:
        need("docker-compose (Debian package docker-compose)", "validates docker-compose.yml")
    out = subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", **COMPOSE_SECRETS},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def test_compose_runs_kafka_in_kraft_mode_a_database_per_service_and_every_service(compose):
    services = compose["services"]
    assert {"kafka", "postgres", "topics", "prometheus", "grafana", "mailpit", *SERVICES} <= set(services)
    kafka = services["kafka"]["environment"]
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"] and "KAFKA_CONTROLLER_QUORUM_VOTERS" in kafka
    assert "KAFKA_ZOOKEEPER_CONNECT" not in kafka
    created = set(re.findall(r"CREATE DATABASE (\w+);", (ROOT / "deploy/postgres/init.sql").read_text()))
    urls = {}
    for name in SERVICES:
        s = services[name]
        env = s["environment"]
        p = f"MERCATOR_{name.upper()}_"
        assert s["build"]["dockerfile"] == "deploy/Dockerfile" and s["build"]["args"]["SERVICE"] == name
        assert s["image"] == f"mercator/{name}:0.1.0"  # what `make images` tags and the manifests run
        assert env[p + "KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert str(env[p + "HTTP_PORT"]) == str(PORTS[name])
        urls[name] = env[p + "DATABASE_URL"]
        assert urls[name].rsplit("/", 1)[1] == name and name in created, f"{name} has no database of its own"
        assert s["user"] == "10001:10001" and s["read_only"] is True
        assert f"127.0.0.1:{OPS_PORTS[name]}/livez" in " ".join(s["healthcheck"]["test"])
        assert s["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert len(set(urls.values())) == len(SERVICES)
    assert services["notifications"]["environment"]["MERCATOR_NOTIFICATIONS_SMTP_HOST"] == "mailpit"


def test_compose_publishes_only_the_gateway_and_the_ops_consoles_on_loopback(compose):
    published = {}
    for name, s in compose["services"].items():
        for port in s.get("ports", []):
            published[name] = port
            host_ip = port["host_ip"] if isinstance(port, dict) else str(port).split(":")[0]
            assert host_ip == "127.0.0.1", f"{name} publishes beyond loopback: {port}"
    assert set(published) == {"gateway", "prometheus", "grafana", "mailpit"}


def test_compose_takes_secrets_from_the_environment_and_no_image_bakes_one_in(tmp_path):
    binary = shutil.which("docker-compose")
    if binary is None:
        need("docker-compose (Debian package docker-compose)", "validates docker-compose.yml")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        **COMPOSE_SECRETS,
        "POSTGRES_PASSWORD": "pg-from-env",
        "MERCATOR_TOKEN_SECRET": "token-from-env-0123456789abcdef",
        "GRAFANA_ADMIN_PASSWORD": "grafana-from-env",
    }
    out = subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    services = yaml.safe_load(out.stdout)["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "pg-from-env"
    assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "grafana-from-env"
    for name in SERVICES:
        env_ = services[name]["environment"]
        assert env_[f"MERCATOR_{name.upper()}_TOKEN_SECRET"] == "token-from-env-0123456789abcdef"
        assert ":pg-from-env@postgres:5432/" in env_[f"MERCATOR_{name.upper()}_DATABASE_URL"]
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert not re.search(r"(?i)^\s*(ENV|ARG)\s+.*(secret|password|token)", dockerfile, flags=re.M)
    assert re.search(r"^USER 10001:10001$", dockerfile, flags=re.M), "the image must not run as root"


def test_prometheus_in_compose_loads_the_alert_rules(compose):
    mounts = [
        v if isinstance(v, str) else f"{v['source']}:{v['target']}"
        for v in compose["services"]["prometheus"]["volumes"]
    ]
    assert any(
        m.endswith("alerts.yml:/etc/prometheus/alerts.yml") or "alerts.yml:/etc/prometheus/alerts.yml" in m
        for m in mounts
    ), mounts
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    targets = {
        t
        for job in config["scrape_configs"]
        if job["job_name"] == "mercator"
        for g in job["static_configs"]
        for t in g["targets"]
    }
    assert targets == {f"{name}:{port}" for name, port in OPS_PORTS.items()}


# --- Kubernetes -----------------------------------------------------------------------------


def k8s_objects() -> list[tuple[str, dict]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [(f, doc) for f in kustomization["resources"] for doc in yaml.safe_load_all((K8S / f).read_text()) if doc]


def test_the_committed_manifests_are_what_the_generator_writes():
    spec = importlib.util.spec_from_file_location("k8s_generate", K8S / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, text in module.files().items():
        assert (K8S / name).read_text() == text, f"deploy/kubernetes/{name} differs: run generate.py"


def test_every_manifest_is_valid_against_the_kubernetes_schemas():
    import kubernetes_validate

    objects = k8s_objects()
    assert objects
    for name, doc in objects:
        try:
            kubernetes_validate.validate(doc, "1.30.0", strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name} {doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")


def test_every_service_runs_replicated_with_probes_requests_and_a_disruption_budget():
    objects = [doc for _, doc in k8s_objects()]
    deployments = {d["metadata"]["name"]: d for d in objects if d["kind"] == "Deployment"}
    budgets = {d["metadata"]["name"]: d for d in objects if d["kind"] == "PodDisruptionBudget"}
    assert set(deployments) == set(SERVICES)
    for name, d in deployments.items():
        spec = d["spec"]
        assert spec["replicas"] >= 2, name
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        [container] = pod["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        env = {e["name"]: e for e in container["env"]}
        # Secrets only by reference, never a literal in a manifest.
        for key in (f"MERCATOR_{name.upper()}_DATABASE_URL", f"MERCATOR_{name.upper()}_TOKEN_SECRET"):
            assert "secretKeyRef" in env[key]["valueFrom"], key
        budget = budgets[name]["spec"]
        assert budget["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
        assert budget["minAvailable"] < spec["replicas"], f"{name}: the budget would block every drain"


def test_a_kubernetes_probe_path_answers_on_a_running_service():
    """/livez, /readyz, /healthz and /metrics exist on the shared app (what the probes call)."""
    from mercator.common.http.app import health, ops

    paths = {r.path for r in ops.routes + health.routes}
    assert {"/livez", "/readyz", "/healthz", "/metrics"} <= paths


# --- Grafana and the metrics the services export ---------------------------------------------


def exported_series() -> set[str]:
    names = {"up"}
    for family in Metrics("any").registry.collect():
        if family.type == "counter":
            names |= {f"{family.name}_total"}
        elif family.type == "histogram":
            names |= {f"{family.name}_bucket", f"{family.name}_count", f"{family.name}_sum"}
        else:
            names.add(family.name)
    return names


KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "inf",
    "nan",
}


def metric_names(promql: str) -> set[str]:
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", promql)  # strings, Grafana variables in them too
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    return {
        m.group(1)
        for m in re.finditer(r"(?<![\w$.])([a-zA-Z_:][\w:]*)\b(?!\s*\()", text)
        if m.group(1).lower() not in KEYWORDS
    }


def dashboard_exprs() -> list[tuple[str, str]]:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/mercator.json").read_text())
    return [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]


def test_the_dashboard_is_valid_json_and_shows_what_ops_watches():
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/mercator.json").read_text())
    assert dashboard["uid"] and dashboard["panels"]
    used = set().union(*(metric_names(e) for _, e in dashboard_exprs()))
    assert {
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "consumer_lag",
        "outbox_backlog",
        "events_dead_lettered_total",
        "events_published_total",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    } <= used
    exprs = " ".join(e for _, e in dashboard_exprs())
    assert 'status=~"5.."' in exprs and 'type="MessageSent"' in exprs and 'type="MessageFailed"' in exprs
    assert "sum by (consumer) (consumer_lag" in exprs and "sum by (service) (rate(http_requests_total" in exprs
    # Provisioned with the data source the panels name.
    source = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    uids = {p["datasource"]["uid"] for p in dashboard["panels"] if "datasource" in p}
    assert uids == {d["uid"] for d in source["datasources"]}


def test_every_metric_the_dashboard_and_the_alerts_use_is_one_the_services_export():
    exported = exported_series()
    for title, expr in dashboard_exprs():
        assert metric_names(expr) <= exported, f"dashboard panel {title!r}: {metric_names(expr) - exported}"
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert metric_names(rule["expr"]) <= exported, f"{rule['alert']}: {metric_names(rule['expr']) - exported}"


def test_the_metric_name_reader_is_not_fooled():
    assert metric_names('sum by (service, le) (rate(x_bucket{job="m", a=~"$v"}[$__rate_interval])) > 0.5') == {
        "x_bucket"
    }
    assert metric_names("time() - max(y_seconds offset 5m) and on() z") == {"y_seconds", "z"}
