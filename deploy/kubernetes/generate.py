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

# name: (port, peers it calls (its `<peer>_url` settings), CPU limit). The NetworkPolicies let a
# service reach exactly these peers: a call the table does not name is refused by the network.
SERVICES: dict[str, tuple[int, tuple[str, ...], str]] = {
    # Two argon2 checks at once (password_checks_at_once) each want a core.
    "gateway": (8000, ("contacts", "deals", "billing", "notifications", "analytics"), "2"),
    "contacts": (8001, ("deals",), "1"),  # an import opens its deals through the deals API
    "deals": (8002, ("contacts",), "1"),  # a card not yet in its replica is asked for
    "billing": (8003, ("contacts", "deals"), "1"),
    "notifications": (8004, (), "1"),  # reads its replicas from Kafka; sends through SMTP
    "analytics": (8005, (), "1"),
}
HOST = "mercator.example.com"
# The certificate for HOST: a kubernetes.io/tls Secret (cert-manager or `kubectl create secret tls`).
TLS_SECRET = "mercator-tls"
SMTP_PORT = 587


def platform(namespace: str, **labels: str) -> dict:
    return {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "podSelector": {"matchLabels": labels} if labels else {},
    }


# What runs outside the namespace, as NetworkPolicy peers, with the ports Mercator uses on it. Change a
# peer here to match the cluster (an ipBlock for a database outside it) and run `make k8s`.
INGRESS_CONTROLLER = platform("ingress-nginx", **{"app.kubernetes.io/name": "ingress-nginx"})
PROMETHEUS = platform("monitoring", **{"app.kubernetes.io/name": "prometheus"})
KAFKA = (platform("kafka"), 9092)  # the ConfigMap's kafka-bootstrap.kafka:9092 and its brokers
POSTGRESQL = (platform("postgres"), 5432)  # where the <service>-database-url Secrets point
DNS = platform("kube-system", **{"k8s-app": "kube-dns"})

# The only paths the Ingress sends to the gateway: the public API, the web app's files and the pages
# of its router (a reload asks the server for them). Anything else (/metrics, /ops, /docs, the
# probes) is the controller's 404, whatever the gateway answers inside the cluster.
EDGE_PATHS = [
    ("/", "Exact"),
    ("/api", "Prefix"),
    ("/assets", "Prefix"),
    ("/icon.svg", "Exact"),
    ("/manifest.webmanifest", "Exact"),
    ("/sw.js", "Exact"),
    *((page, "Prefix") for page in ("/clients", "/board", "/deals", "/billing", "/marketing", "/dashboards", "/admin")),
]

PORTS = {name: port for name, (port, _, _) in SERVICES.items()}
# The gateway's port is the public one: its probes, /metrics and /ops listen on another, which the Ingress
# does not route to. The other services answer them on their own (cluster-internal) port.
OPS_PORTS = {"gateway": 9000}
# Room for the worker processes that read imports (contacts: 2 at 1 GiB of address space each, most of it never
# touched) and render templates (notifications: 2 at 384 MB): a hostile file or template then fails on its own
# limit instead of the pod being killed with every request in it.
MEMORY = {"contacts": "2Gi", "notifications": "1Gi"}
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
    port, peers, _ = SERVICES[service]
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
        env += [
            {"name": p + "OPS_HOST", "value": "0.0.0.0"},
            {"name": p + "OPS_PORT", "value": str(OPS_PORTS[service])},
        ]
    if service == "gateway":
        env += [
            secret(p + "PUBLIC_TOKEN_SECRET", "public-token-secret"),
            secret(p + "ADMIN_EMAIL", "admin-email", optional=True),
            secret(p + "ADMIN_PASSWORD", "admin-password", optional=True),
        ]
    if service == "notifications":
        env += [
            config(p + "SMTP_HOST", "smtp-host"),
            config(p + "SMTP_PORT", "smtp-port"),
            config(p + "SMTP_SECURITY", "smtp-security"),
            config(p + "MAIL_FROM", "mail-from"),
            secret(p + "SMTP_USERNAME", "smtp-username", optional=True),
            secret(p + "SMTP_PASSWORD", "smtp-password", optional=True),
        ]
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
        return {
            "httpGet": {"path": path, "port": "ops" if service in OPS_PORTS else "http"},
            "periodSeconds": period,
            "timeoutSeconds": 3,
            "failureThreshold": failures,
        }

    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": service, "labels": labels},
        "spec": {
            # Stateless: two at least, so a node drain or a crash leaves one answering; the
            # consumers of the replicas share each group's partitions.
            "replicas": 2,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(ops_port),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    # Uvicorn's graceful shutdown (15 s) plus the outbox drain must fit in.
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector},
                        }
                    ],
                    "containers": [
                        {
                            "name": service,
                            "image": IMAGE.format(service=service),
                            "ports": ports,
                            "env": environment(service),
                            # Migrations run at start: the startup probe gives them time before liveness counts.
                            "startupProbe": probe("/healthz", 5, 36),
                            # Ready while the database answers (a broker outage only degrades: writes wait in outboxes).
                            "readinessProbe": probe("/readyz", 5, 3),
                            # Alive while every consumer's poll loop keeps coming round.
                            "livenessProbe": probe("/livez", 15, 4),
                            # A CPU limit keeps one busy service from starving its node's neighbours;
                            # MercatorHighLatencyP99's runbook says to look for throttling against it.
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "256Mi"},
                                "limits": {"cpu": SERVICES[service][2], "memory": MEMORY.get(service, "512Mi")},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }
    service_object = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service, "labels": labels},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": port, "targetPort": "http"}]},
    }
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": service, "labels": labels},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": selector}},
    }
    return [deployment, service_object, budget]


def network_policies() -> list[dict]:
    """Nothing in the namespace talks to anything unless a policy here says so: the ingress controller
    reaches the gateway, the gateway every service, a service the peers it calls, Prometheus every
    service's metrics port; services reach Kafka and PostgreSQL, the topics Job only Kafka; all, DNS."""

    def pods(name: str) -> dict:
        return {"matchLabels": {"app.kubernetes.io/name": name}}

    def tcp(*ports: int) -> list[dict]:
        return [{"protocol": "TCP", "port": p} for p in ports]

    def policy(name: str, selector: dict, ingress: list[dict] | None, egress: list[dict]) -> dict:
        types = ["Ingress", "Egress"] if ingress is not None else ["Egress"]
        spec: dict = {"podSelector": selector, "policyTypes": types}
        if ingress:
            spec["ingress"] = ingress
        if egress:
            spec["egress"] = egress
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "labels": LABELS},
            "spec": spec,
        }

    platform_egress = [{"to": [KAFKA[0]], "ports": tcp(KAFKA[1])}, {"to": [POSTGRESQL[0]], "ports": tcp(POSTGRESQL[1])}]
    out = [
        policy("default-deny", {}, [], []),
        policy(
            "dns",
            {},
            None,
            [{"to": [DNS], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}],
        ),
    ]
    for service, (port, peers, _) in SERVICES.items():
        callers = [name for name, (_, theirs, _) in SERVICES.items() if service in theirs]
        ingress = [{"from": [PROMETHEUS], "ports": tcp(OPS_PORTS.get(service, port))}]  # where /metrics is
        if service == "gateway":
            ingress.append({"from": [INGRESS_CONTROLLER], "ports": tcp(port)})
        if callers:
            ingress.append({"from": [{"podSelector": pods(c)} for c in callers], "ports": tcp(port)})
        egress = [{"to": [{"podSelector": pods(p)}], "ports": tcp(PORTS[p])} for p in peers] + platform_egress
        if service == "notifications":
            # The company's SMTP server is outside the cluster, at an address only the ConfigMap knows.
            egress.append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": tcp(SMTP_PORT)})
        out.append(policy(service, pods(service), ingress, egress))
    out.append(policy("topics", pods("topics"), None, [{"to": [KAFKA[0]], "ports": tcp(KAFKA[1])}]))
    return out


def shared() -> dict[str, list[dict]]:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mercator", "labels": LABELS}}
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "mercator-config", "labels": LABELS},
        "data": {
            "kafka-bootstrap": "kafka-bootstrap.kafka:9092",
            "topic-prefix": "",
            "log-level": "INFO",
            "smtp-host": "smtp.example.com",
            "smtp-port": str(SMTP_PORT),
            "smtp-security": "starttls",
            "mail-from": "Mercator <crm@example.com>",
        },
    }
    topics_job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "mercator-topics", "labels": LABELS},
        "spec": {
            "backoffLimit": 6,
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "topics", **LABELS}},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "topics",
                            "image": IMAGE.format(service="gateway"),
                            "command": [
                                "sh",
                                "-c",
                                'exec mercator topics apply --bootstrap "$KAFKA_BOOTSTRAP" '
                                '--prefix "$TOPIC_PREFIX" --file /app/deploy/kafka/topics.yml',
                            ],
                            "env": [
                                config("KAFKA_BOOTSTRAP", "kafka-bootstrap"),
                                config("TOPIC_PREFIX", "topic-prefix"),
                            ],
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "128Mi"},
                                "limits": {"cpu": "500m", "memory": "256Mi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "mercator",
            "labels": LABELS,
            "annotations": {
                # ingress-nginx: plain HTTP gets a 308 to HTTPS, even behind a load balancer that ends TLS itself.
                "nginx.ingress.kubernetes.io/ssl-redirect": "true",
                "nginx.ingress.kubernetes.io/force-ssl-redirect": "true",
                "nginx.ingress.kubernetes.io/custom-headers": "mercator/mercator-edge-headers",
            },
        },
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": [HOST], "secretName": TLS_SECRET}],
            "rules": [
                {
                    "host": HOST,
                    "http": {
                        "paths": [
                            {
                                "path": path,
                                "pathType": kind,
                                "backend": {"service": {"name": "gateway", "port": {"name": "http"}}},
                            }
                            for path, kind in EDGE_PATHS
                        ]
                    },
                }
            ],
        },
    }
    edge_headers = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "mercator-edge-headers", "labels": LABELS},
        # A browser that saw Mercator over HTTPS once never tries plain HTTP for a year.
        "data": {"Strict-Transport-Security": "max-age=31536000; includeSubDomains"},
    }
    return {
        "namespace.yaml": [namespace],
        "config.yaml": [configmap],
        "topics-job.yaml": [topics_job],
        "ingress.yaml": [ingress, edge_headers],
        "networkpolicies.yaml": network_policies(),
    }


def files() -> dict[str, str]:
    docs = {**shared(), **{f"{s}.yaml": manifests(s) for s in SERVICES}}
    out = {
        name: "# Written by deploy/kubernetes/generate.py; edit that, not this.\n"
        + yaml.safe_dump_all(items, sort_keys=False)
        for name, items in docs.items()
    }
    out["kustomization.yaml"] = "# Written by deploy/kubernetes/generate.py; edit that, not this.\n" + yaml.safe_dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": "mercator",
            "resources": list(docs),
        },
        sort_keys=False,
    )
    return out


if __name__ == "__main__":
    for name, text in files().items():
        (HERE / name).write_text(text)
    print(f"wrote {len(files())} files to {HERE}", file=sys.stderr)
