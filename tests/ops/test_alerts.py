"""The alert rules: valid for Prometheus, firing on what they are about, each with a runbook line."""

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from mercator.common.testing.plugin import need

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/alerts.yml"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        need("promtool (Debian package prometheus)", "checks and unit-tests the alert rules")
    return found


def alerts() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_accepts_the_rules():
    out = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in out.stdout


def test_each_alert_fires_on_its_situation_and_not_on_the_healthy_one():
    out = subprocess.run(
        [promtool(), "test", "rules", str(Path(__file__).with_name("alerts_test.yml"))], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_named_by_the_issue_exists_and_is_unit_tested():
    names = {a["alert"] for a in alerts()}
    assert {
        "MercatorServiceDown",
        "MercatorHigh5xxRate",
        "MercatorHighLatencyP99",
        "MercatorConsumerLagGrowing",
        "MercatorOutboxBacklog",
        "MercatorOutboxStale",
        "MercatorDeadLetter",
        "MercatorOverdueSweepNotRun",
    } <= names
    tested = {
        t["alertname"]
        for case in yaml.safe_load(Path(__file__).with_name("alerts_test.yml").read_text())["tests"]
        for t in case["alert_rule_test"]
        if t.get("exp_alerts")
    }
    assert names == tested, f"alerts never shown firing in alerts_test.yml: {names - tested}"


def test_every_alert_has_a_runbook_line_in_the_operations_guide():
    guide = (ROOT / "docs/operations.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", guide, flags=re.M)
    }
    for alert in alerts():
        url = alert["annotations"]["runbook_url"]
        assert url.startswith("docs/operations.md#"), url
        assert url.split("#", 1)[1] in anchors, f"{alert['alert']}: no heading for {url} in docs/operations.md"


def test_promtool_accepts_the_compose_prometheus_config_with_its_rules():
    out = subprocess.run(
        [promtool(), "check", "config", "prometheus.yml"],
        capture_output=True,
        text=True,
        cwd=ROOT / "deploy/prometheus",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 1 rule files found" in out.stdout


def test_the_kubernetes_prometheus_config_gives_the_labels_the_alerts_and_dashboard_use():
    # Debian's promtool is built without Kubernetes service discovery, so it cannot check this
    # file; what the rules depend on is checked here: the job name and the service label.
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus-kubernetes.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "mercator"]
    targets = {r.get("target_label") for r in job["relabel_configs"]}
    assert {"service", "instance", "__address__", "__metrics_path__"} <= targets
    service = next(r for r in job["relabel_configs"] if r.get("target_label") == "service")
    assert service["source_labels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
