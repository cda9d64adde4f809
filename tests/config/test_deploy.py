"""The deployment files agree with the code: manifests parse, probes hit real routes, every
setting they pass is one the code reads, and the image leaves test tools out."""
from __future__ import annotations

from pathlib import Path

import yaml
from django.urls import resolve

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
IMAGE_PLACEHOLDER = "europe-docker.pkg.dev/PROJECT/fraud/fraud-triage:TAG"


def _manifests() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc and {"apiVersion", "kind", "metadata"} <= set(doc), path.name
            docs.append({**doc, "_file": path.name})
    return docs


def _containers(doc: dict) -> list[dict]:
    return doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])


def _code_text() -> str:
    files = [*ROOT.glob("config/**/*.py"), *ROOT.glob("*/settings*.py"), *ROOT.glob("learning/*.py")]
    return "\n".join(p.read_text() for p in files)


def test_every_manifest_parses_and_the_kinds_are_all_there():
    kinds = {}
    for doc in _manifests():
        kinds.setdefault(doc["kind"], set()).add(doc["metadata"]["name"])
    assert kinds["Deployment"] == {"fraud-web", "fraud-worker", "fraud-beat"}
    assert kinds["HorizontalPodAutoscaler"] == {"fraud-web", "fraud-worker"}
    assert kinds["PodDisruptionBudget"] == {"fraud-web", "fraud-worker"}
    for kind in ("Service", "ConfigMap", "Secret", "Job", "Ingress", "PersistentVolumeClaim", "ScaledObject"):
        assert kind in kinds, kind


def test_probes_point_at_the_health_routes():
    probed = set()
    for doc in _manifests():
        for container in _containers(doc):
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                path = container.get(probe, {}).get("httpGet", {}).get("path")
                if path:
                    probed.add(resolve(path).url_name)
    assert probed == {"healthz", "readyz"}
    web = next(d for d in _manifests() if d["kind"] == "Deployment" and d["metadata"]["name"] == "fraud-web")
    assert _containers(web)[0]["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # Probes and scrapes use the pod's address as Host; production settings must allow it.
    env = {e["name"]: e.get("value") for e in _containers(web)[0]["env"]}
    assert "$(POD_IP)" in env["ALLOWED_HOSTS"].split(",")


def test_beat_runs_once_and_every_pod_uses_the_one_image():
    for doc in _manifests():
        for container in _containers(doc):
            assert container["image"] == IMAGE_PLACEHOLDER, doc["_file"]
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "fraud-beat":
            assert doc["spec"]["replicas"] == 1 and doc["spec"]["strategy"]["type"] == "Recreate"
    web = next(d for d in _manifests() if d["metadata"]["name"] == "fraud-web" and d["kind"] == "Deployment")
    assert _containers(web)[0]["command"][:3] == ["gunicorn", "-c", "config/gunicorn.py"]
    assert (ROOT / "config" / "gunicorn.py").exists()


def test_every_setting_the_manifests_pass_is_read_by_the_code():
    code = _code_text()
    read_by_libraries = {"DJANGO_SETTINGS_MODULE", "PROMETHEUS_MULTIPROC_DIR"}
    for doc in _manifests():
        if doc["kind"] not in ("ConfigMap", "Secret"):
            continue
        for key in doc.get("data") or doc.get("stringData"):
            assert key in read_by_libraries or f'"{key}"' in code, f"{doc['_file']}: {key} is read nowhere"
    # The model directory is mounted where MODEL_DIR says, in every pod that has it.
    config = next(d for d in _manifests() if d["kind"] == "ConfigMap")["data"]
    for doc in _manifests():
        for container in _containers(doc):
            for mount in container.get("volumeMounts", []):
                if mount["name"] == "models":
                    assert mount["mountPath"] == config["MODEL_DIR"]


def test_compose_and_ci_use_the_same_entry_points():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert "config/gunicorn.py" in compose["services"]["web"]["command"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(compose["services"])
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    steps = " ".join(step.get("run", "") for step in ci["jobs"]["test"]["steps"])
    assert "make test" in steps and "make check-deploy" in steps
    assert ci["jobs"]["deploy-production"]["needs"] == "deploy-staging"
    assert "deploy/rollout.sh" in " ".join(s.get("run", "") for s in ci["jobs"]["deploy-production"]["steps"])


def test_the_image_leaves_out_test_tools_only():
    dockerfile = (ROOT / "Dockerfile").read_text()

    def pins(name: str) -> dict[str, str]:
        lines = [line.split("#")[0].strip().lower() for line in (ROOT / name).read_text().splitlines()]
        return dict(line.split("==", 1) for line in lines if "==" in line)

    runtime, dev = pins("requirements.txt"), pins("requirements-dev.txt")
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert installs == ["RUN /venv/bin/pip install -r requirements.txt"]  # the runtime alone
    dev_lines = [line for line in (ROOT / "requirements-dev.txt").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert dev_lines[0] == "-r requirements.txt"  # the dev set is the runtime plus tools
    for tool in ("pytest", "pytest-django", "playwright", "schemathesis", "hypothesis"):
        assert tool in dev and tool not in runtime
    for package in ("django", "gunicorn", "celery", "lightgbm", "prometheus_client", "python-json-logger"):
        assert package in runtime
    assert not set(runtime) & set(dev)  # each package pinned once
    assert dockerfile.count("FROM ") == 3  # assets, build, runtime
    assert 'CMD ["gunicorn", "-c", "config/gunicorn.py"' in dockerfile
