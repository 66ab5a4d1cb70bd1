"""Static checks of deploy/ (offline): the compose file, the Kubernetes manifests, the nginx
template and the Grafana dashboard agree with the code: settings, ports, images, limits,
termination grace, and the metrics that autoscaling and dashboards read."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from foleyserve.cli import serve
from foleyserve.engines.null import NullEngine
from foleyserve.jobs.model import JobState
from foleyserve.settings import Settings
from foleyserve.storage import open_object_store
from foleyserve.store.urls import parse_store_url
from foleyserve.worker.loop import Worker
from tests.api.test_app import TEXT_JOB, open_rig
from tests.deploy.nginx_rig import (
    REPO,
    body_limit_bytes,
    main_conf,
    nginx_command,
    render_site,
    upstream_servers,
)

DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
DASHBOARD = DEPLOY / "compose" / "grafana" / "dashboards" / "foleyserve.json"
GRACE_MARGIN_S = 30.0
"""What a worker needs beyond the shutdown grace: release its jobs, close its stores."""
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def _yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_parses(path: Path) -> None:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert documents and all(isinstance(d, dict) for d in documents)


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return compose


def _k8s() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [
        doc
        for name in kustomization["resources"]
        for doc in yaml.safe_load_all((K8S / name).read_text())
        if doc is not None
    ]


def _k8s_kind(kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in _k8s() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def _k8s_env(deployment: str) -> dict[str, str]:
    """The container's environment: the ConfigMaps it loads, then its own `env`."""
    (container,) = _k8s_kind("Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= _k8s_kind("ConfigMap", source["configMapRef"]["name"])["data"]
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
    return env


def _environments() -> Iterator[tuple[str, dict[str, str]]]:
    for name, service in _compose()["services"].items():
        if service.get("image", "").startswith("foleyserve-"):
            yield f"compose:{name}", {k: str(v) for k, v in service["environment"].items()}
    for name in ("foleyserve-api", "foleyserve-worker"):
        yield f"k8s:{name}", _k8s_env(name)


def _settings(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in env.items():
        if name.startswith("FOLEYSERVE_"):
            monkeypatch.setenv(name, value)
    return Settings()


def _unknown_variables(env: Mapping[str, str]) -> set[str]:
    """`FOLEYSERVE_*` names that are no setting. Settings ignores them (pydantic-settings
    reads only the variables of its fields), so a misspelt one would be lost silently."""
    fields = {f"FOLEYSERVE_{name.upper()}" for name in Settings.model_fields}
    return {name for name in env if name.startswith("FOLEYSERVE_")} - fields


@pytest.mark.parametrize(("where", "env"), list(_environments()), ids=lambda v: str(v)[:40])
def test_every_foleyserve_variable_is_a_valid_setting(
    where: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not _unknown_variables(env), f"{where}: not settings"
    settings = _settings(env, monkeypatch)  # raises on a bad value
    parse_store_url(settings.store_url())
    # Opening with create_bucket=true would contact the service; the URL's form is the point.
    open_object_store(settings.storage_url().replace("&create_bucket=true", "")).close()


def test_misspelt_and_invalid_variables_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _unknown_variables({"FOLEYSERVE_MAX_FILE_BYTE": "1", "AWS_REGION": "x"}) == {
        "FOLEYSERVE_MAX_FILE_BYTE"
    }
    with pytest.raises(ValueError, match="shutdown_grace_s"):
        _settings({"FOLEYSERVE_SHUTDOWN_GRACE_S": "a minute"}, monkeypatch)


def _port_after(command: list[str]) -> int:
    return int(command[command.index("--port") + 1])


def test_ports_agree_with_the_api_command() -> None:
    default_port = inspect.signature(serve.api).parameters["port"].default
    compose = _compose()["services"]
    assert _port_after(compose["api"]["command"]) == default_port
    upstream = compose["nginx"]["environment"]["FOLEY_UPSTREAM_SERVERS"]
    assert f"server api:{default_port} " in upstream
    prometheus = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    (api_job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == "foleyserve-api"]
    assert api_job["dns_sd_configs"][0]["port"] == default_port
    (container,) = _k8s_kind("Deployment", "foleyserve-api")["spec"]["template"]["spec"][
        "containers"
    ]
    assert _port_after(container["command"]) == default_port
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": default_port}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] == "http"
    service = _k8s_kind("Service", "foleyserve-api")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    pod = _k8s_kind("Deployment", "foleyserve-api")["spec"]["template"]["metadata"]
    assert pod["annotations"]["prometheus.io/port"] == str(default_port)


def test_prometheus_scrapes_every_worker_where_it_serves_its_metrics() -> None:
    compose = _compose()["services"]
    workers = {name: svc for name, svc in compose.items() if name.startswith("worker-")}
    prometheus = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    (job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == "foleyserve-worker"]
    (targets,) = [c["targets"] for c in job["static_configs"]]
    expected = set()
    for name, service in workers.items():
        env = service["environment"]
        assert env["FOLEYSERVE_WORKER_METRICS_HOST"] == "0.0.0.0"  # reachable from Prometheus
        expected.add(f"{name}:{env['FOLEYSERVE_WORKER_METRICS_PORT']}")
    assert set(targets) == expected
    pod = _k8s_kind("Deployment", "foleyserve-worker")["spec"]["template"]
    port = _k8s_env("foleyserve-worker")["FOLEYSERVE_WORKER_METRICS_PORT"]
    (container,) = pod["spec"]["containers"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"metrics": int(port)}
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == port


def _dockerfile_targets() -> set[str]:
    return set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", DOCKERFILE.read_text(), re.M | re.I))


def test_images_are_built_from_the_repository_dockerfile() -> None:
    targets = _dockerfile_targets()
    assert targets == {"api", "worker"}
    for name, service in _compose()["services"].items():
        image = service["image"]
        if not image.startswith("foleyserve-"):
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"
            continue
        build = service["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
        assert image == f"foleyserve-{build['target']}:{VERSION}"
        assert build["target"] in targets
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    rewrites = {i["name"]: i for i in kustomization["images"]}
    for doc in _k8s():
        if doc["kind"] != "Deployment":
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            image = container["image"]
            assert image.removeprefix("foleyserve-") in targets
            assert rewrites[image]["newTag"] == VERSION


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert match and duration, f"not a duration: {duration!r}"
    return 60.0 * int(match[1] or 0) + int(match[2] or 0)


def test_worker_termination_grace_covers_the_shutdown_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workers = {n: s for n, s in _compose()["services"].items() if n.startswith("worker-")}
    assert workers
    for name, service in workers.items():
        with monkeypatch.context() as patched:
            grace_s = _settings(service["environment"], patched).shutdown_grace_s
        stop_s = _seconds(service["stop_grace_period"])
        assert stop_s >= grace_s + GRACE_MARGIN_S, name
    spec = _k8s_kind("Deployment", "foleyserve-worker")["spec"]["template"]["spec"]
    grace_s = _settings(_k8s_env("foleyserve-worker"), monkeypatch).shutdown_grace_s
    assert spec["terminationGracePeriodSeconds"] >= grace_s + GRACE_MARGIN_S


def test_one_gpu_per_worker() -> None:
    devices = []
    for name, service in _compose()["services"].items():
        if name.startswith("worker-"):
            (device,) = service["deploy"]["resources"]["reservations"]["devices"]
            assert device["capabilities"] == ["gpu"] and len(device["device_ids"]) == 1
            devices += device["device_ids"]
    assert len(devices) == len(set(devices)), "two workers share a GPU"
    (container,) = _k8s_kind("Deployment", "foleyserve-worker")["spec"]["template"]["spec"][
        "containers"
    ]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_edge_body_limits_match_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    compose = _compose()["services"]
    with monkeypatch.context() as patched:
        api = _settings(compose["api"]["environment"], patched)
    nginx_limit = int(compose["nginx"]["environment"]["FOLEY_CLIENT_MAX_BODY_SIZE"])
    assert nginx_limit == body_limit_bytes(api.max_file_bytes)
    ingress = _k8s_kind("Ingress", "foleyserve")["metadata"]["annotations"]
    k8s_api = _settings(_k8s_env("foleyserve-api"), monkeypatch)
    size = ingress["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert int(size) == body_limit_bytes(k8s_api.max_file_bytes)
    assert ingress["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"


def test_compose_api_trusts_only_nginx() -> None:
    compose = _compose()["services"]
    nginx_address = compose["nginx"]["networks"]["foley"]["ipv4_address"]
    assert compose["api"]["environment"]["FOLEYSERVE_TRUSTED_PROXIES"] == nginx_address


def test_the_shipped_template_passes_nginx_t(tmp_path: Path) -> None:
    site = tmp_path / "foleyserve.conf"
    site.write_text(
        render_site(
            {
                "FOLEY_LISTEN": "127.0.0.1:8080",
                "FOLEY_SERVER_NAME": "foley.example.com",
                "FOLEY_UPSTREAM_SERVERS": upstream_servers(["127.0.0.1:8001", "127.0.0.1:8002"]),
                "FOLEY_CLIENT_MAX_BODY_SIZE": str(body_limit_bytes(Settings().max_file_bytes)),
                "FOLEY_ACCESS_LOG": str(tmp_path / "access.log"),
            }
        )
    )
    (tmp_path / "nginx.conf").write_text(main_conf(tmp_path, site))
    done = subprocess.run(
        [*nginx_command(tmp_path), "-t"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


def _scraped_metric_names(tmp_path: Path) -> set[str]:
    """Every sample name that a real API's /metrics and a real worker's own metrics show after
    a job has run."""
    for rig in open_rig(tmp_path, NullEngine()):
        rig.client.post("/v1/jobs", json=TEXT_JOB)
        worker = Worker(rig.engine, rig.store, rig.objects, rig.settings, "w")
        while rig.store.counts()[JobState.SUCCEEDED] == 0:
            worker.run_once()
        registry = CollectorRegistry()
        registry.register(worker.metrics)
        text = rig.client.get("/metrics").text + generate_latest(registry).decode()
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    return {name for name in names if name}


def _metrics_in(query: str) -> set[str]:
    return set(re.findall(r"\bfoleyserve_[a-z_]+", query))


def test_keda_and_the_dashboard_read_metrics_the_api_and_workers_export(tmp_path: Path) -> None:
    scraped = _scraped_metric_names(tmp_path)
    (trigger,) = _k8s_kind("ScaledObject", "foleyserve-worker")["spec"]["triggers"]
    keda = _metrics_in(trigger["metadata"]["query"])
    assert keda and keda <= scraped, keda - scraped
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = set().union(*(_metrics_in(q) for q in queries))
    assert used - scraped == set()
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("queue depth", "throughput", "latency", "batch size", "gpu"):
        assert topic in titles


def test_the_fleet_shapes_the_issue_asks_for() -> None:
    """Scale to zero, disruption budgets that select the pods, the HPA on the API, and a
    queue that survives a Redis restart."""
    scaled = _k8s_kind("ScaledObject", "foleyserve-worker")["spec"]
    assert scaled["minReplicaCount"] == 0
    assert scaled["scaleTargetRef"]["name"] == "foleyserve-worker"
    hpa = _k8s_kind("HorizontalPodAutoscaler", "foleyserve-api")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "foleyserve-api",
    }
    for name, subcommand in (("foleyserve-api", "api"), ("foleyserve-worker", "worker")):
        deployment = _k8s_kind("Deployment", name)["spec"]
        assert "replicas" not in deployment  # the autoscaler owns it
        labels = deployment["template"]["metadata"]["labels"]
        budget = _k8s_kind("PodDisruptionBudget", name)["spec"]["selector"]["matchLabels"]
        assert budget.items() <= labels.items()
        (container,) = deployment["template"]["spec"]["containers"]
        assert container["command"][:2] == ["foleyserve", subcommand]
    redis_command = _compose()["services"]["redis"]["command"]
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"


def test_monitoring_wiring_names_real_services() -> None:
    """Prometheus scrapes compose services that exist; Grafana's panels use the provisioned
    data source; the provider reads the folder the dashboard is mounted in."""
    services = _compose()["services"]
    prometheus = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    for job in prometheus["scrape_configs"]:
        hosts = [t.split(":")[0] for c in job.get("static_configs", []) for t in c["targets"]]
        hosts += [n for c in job.get("dns_sd_configs", []) for n in c["names"]]
        assert hosts and set(hosts) <= set(services), job["job_name"]
    provisioning = DEPLOY / "compose" / "grafana" / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())[
        "datasources"
    ]
    assert source["url"] == "http://prometheus:9090" and "prometheus" in services
    dashboard = json.loads(DASHBOARD.read_text())
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    assert uids == {source["uid"]}
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "foleyserve.yaml").read_text())[
        "providers"
    ]
    mounts = dict(v.split(":")[:2] for v in services["grafana"]["volumes"])
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
