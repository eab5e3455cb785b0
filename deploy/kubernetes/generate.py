"""Writes the Kubernetes manifests in this folder from one table, so the six services cannot drift
apart: `python deploy/kubernetes/generate.py`. tests/ops/test_deploy.py fails when the committed
files differ from what this writes.

Apply with `kubectl apply -k deploy/kubernetes` after creating the `mercator-secrets` Secret
(see docs/operations.md). Kafka and PostgreSQL come from the platform.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
IMAGE = "mercator/{service}:0.1.0"

# name: (port, peers it calls, extra environment)
SERVICES: dict[str, tuple[int, tuple[str, ...]]] = {
    "gateway": (8000, ("contacts", "deals", "billing", "notifications", "analytics")),
    "contacts": (8001, ()),
    "deals": (8002, ("contacts",)),
    "billing": (8003, ("contacts", "deals")),
    "notifications": (8004, ("contacts", "deals", "billing")),
    "analytics": (8005, ()),
}
PORTS = {name: port for name, (port, _) in SERVICES.items()}
# The gateway's port is the public one: its probes, /metrics and /ops listen on another, which the Ingress
# does not route to. The other services answer them on their own (cluster-internal) port.
OPS_PORTS = {"gateway": 9000}
LABELS = {"app.kubernetes.io/part-of": "mercator"}


def secret(name: str, key: str, optional: bool = False) -> dict:
    ref = {"name": "mercator-secrets", "key": key}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def config(name: str, key: str) -> dict:
    return {"name": name, "valueFrom": {"configMapKeyRef": {"name": "mercator-config", "key": key}}}


def environment(service: str) -> list[dict]:
    p = f"MERCATOR_{service.upper()}_"
    port, peers = SERVICES[service]
    env = [
        {"name": p + "HTTP_HOST", "value": "0.0.0.0"},
        {"name": p + "HTTP_PORT", "value": str(port)},
        config(p + "KAFKA_BOOTSTRAP", "kafka-bootstrap"),
        config(p + "TOPIC_PREFIX", "topic-prefix"),
        config(p + "LOG_LEVEL", "log-level"),
        secret(p + "DATABASE_URL", f"{service}-database-url"),
        secret(p + "TOKEN_SECRET", "token-secret"),
    ]
    env += [{"name": f"{p}{peer.upper()}_URL", "value": f"http://{peer}:{PORTS[peer]}"} for peer in peers]
    if service in OPS_PORTS:
        env += [{"name": p + "OPS_HOST", "value": "0.0.0.0"}, {"name": p + "OPS_PORT", "value": str(OPS_PORTS[service])}]
    if service == "gateway":
        env += [secret(p + "PUBLIC_TOKEN_SECRET", "public-token-secret"),
                secret(p + "ADMIN_EMAIL", "admin-email", optional=True),
                secret(p + "ADMIN_PASSWORD", "admin-password", optional=True)]
    if service == "notifications":
        env += [config(p + "SMTP_HOST", "smtp-host"), config(p + "SMTP_PORT", "smtp-port"),
                config(p + "SMTP_SECURITY", "smtp-security"), config(p + "MAIL_FROM", "mail-from"),
                secret(p + "SMTP_USERNAME", "smtp-username", optional=True),
                secret(p + "SMTP_PASSWORD", "smtp-password", optional=True)]
    return env


def manifests(service: str) -> list[dict]:
    port = PORTS[service]
    labels = {"app.kubernetes.io/name": service, **LABELS}
    selector = {"app.kubernetes.io/name": service}

    ops_port = OPS_PORTS.get(service, port)
    ports = [{"name": "http", "containerPort": port}]
    if service in OPS_PORTS:
        ports.append({"name": "ops", "containerPort": ops_port})

    def probe(path: str, period: int, failures: int) -> dict:
        return {"httpGet": {"path": path, "port": "ops" if service in OPS_PORTS else "http"},
                "periodSeconds": period, "timeoutSeconds": 3, "failureThreshold": failures}

    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": service, "labels": labels},
        "spec": {
            # Stateless: two at least, so a node drain or a crash leaves one answering; the
            # consumers of the replicas share each group's partitions.
            "replicas": 2,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels, "annotations": {
                    "prometheus.io/scrape": "true", "prometheus.io/port": str(ops_port), "prometheus.io/path": "/metrics"}},
                "spec": {
                    # Uvicorn's graceful shutdown (15 s) plus the outbox drain must fit in.
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                   "whenUnsatisfiable": "ScheduleAnyway",
                                                   "labelSelector": {"matchLabels": selector}}],
                    "containers": [{
                        "name": service,
                        "image": IMAGE.format(service=service),
                        "ports": ports,
                        "env": environment(service),
                        # Migrations run at start: the startup probe gives them time before liveness counts.
                        "startupProbe": probe("/healthz", 5, 36),
                        # Ready while the database answers (a broker outage only degrades: writes wait in the outbox).
                        "readinessProbe": probe("/readyz", 5, 3),
                        # Alive while every consumer's poll loop keeps coming round.
                        "livenessProbe": probe("/livez", 15, 4),
                        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                                      "limits": {"memory": "512Mi"}},
                        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                    }],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }
    service_object = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": service, "labels": labels},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": port, "targetPort": "http"}]},
    }
    budget = {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": service, "labels": labels},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": selector}},
    }
    return [deployment, service_object, budget]


def shared() -> dict[str, list[dict]]:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mercator", "labels": LABELS}}
    configmap = {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mercator-config", "labels": LABELS},
        "data": {"kafka-bootstrap": "kafka-bootstrap.kafka:9092", "topic-prefix": "", "log-level": "INFO",
                 "smtp-host": "smtp.example.com", "smtp-port": "587", "smtp-security": "starttls",
                 "mail-from": "Mercator <crm@example.com>"},
    }
    topics_job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "mercator-topics", "labels": LABELS},
        "spec": {
            "backoffLimit": 6, "ttlSecondsAfterFinished": 86400,
            "template": {"metadata": {"labels": {"app.kubernetes.io/name": "topics", **LABELS}}, "spec": {
                "restartPolicy": "OnFailure",
                "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "topics", "image": IMAGE.format(service="gateway"),
                    "command": ["sh", "-c", 'exec mercator topics apply --bootstrap "$KAFKA_BOOTSTRAP" '
                                            '--prefix "$TOPIC_PREFIX" --file /app/deploy/kafka/topics.yml'],
                    "env": [config("KAFKA_BOOTSTRAP", "kafka-bootstrap"), config("TOPIC_PREFIX", "topic-prefix")],
                    "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                    "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                        "capabilities": {"drop": ["ALL"]}},
                }],
            }},
        },
    }
    ingress = {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "mercator", "labels": LABELS},
        "spec": {"rules": [{"host": "mercator.example.com", "http": {"paths": [{
            "path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "gateway", "port": {"name": "http"}}}}]}}]},
    }
    return {"namespace.yaml": [namespace], "config.yaml": [configmap], "topics-job.yaml": [topics_job],
            "ingress.yaml": [ingress]}


def files() -> dict[str, str]:
    docs = {**shared(), **{f"{s}.yaml": manifests(s) for s in SERVICES}}
    out = {name: "# Written by deploy/kubernetes/generate.py; edit that, not this.\n"
           + yaml.safe_dump_all(items, sort_keys=False) for name, items in docs.items()}
    out["kustomization.yaml"] = "# Written by deploy/kubernetes/generate.py; edit that, not this.\n" + yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "namespace": "mercator",
        "resources": list(docs)}, sort_keys=False)
    return out


if __name__ == "__main__":
    for name, text in files().items():
        (HERE / name).write_text(text)
    print(f"wrote {len(files())} files to {HERE}", file=sys.stderr)
