"""The monitoring stack's deployment files, checked offline: Prometheus and Grafana in
docker-compose.yml (against the files they mount), the pods' scrape annotations, and the
ServiceMonitor overlay (against the part of prometheus-operator's CRD schema it uses).
Prometheus itself runs the shipped config in tests/test_prometheus.py."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path, PurePosixPath

import jsonschema
import pytest
import yaml
from localstack import SERVICES as REGISTERED  # deploy/ is on pytest.ini's pythonpath

from sanicms.config import load_settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAY = K8S / "overlays" / "service-monitor"
SERVICES = {name: port for name, _, port in REGISTERED}  # every service in services/ (the registry)
KUBERNETES_VERSION = "1.37.0"  # as tests/test_deploy.py: the newest the installed kubernetes-validate knows


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def settings_of(service: str) -> dict:
    return load_settings(f"{service}_service.settings", environ={}, overrides={"DATABASE_URL": "postgresql://x@h/db"})


def metrics_path(service: str) -> str:
    """The path the service serves its metrics at (the library's METRICS_PATH setting)."""
    return str(settings_of(service).get("METRICS_PATH", "/metrics"))


def host_path(service: dict, container_path: str) -> Path:
    """The repository file a compose service sees at ``container_path`` through its bind mounts."""
    wanted = PurePosixPath(container_path)
    for mount in service.get("volumes", []):
        source, target = mount.split(":")[:2]
        if source.startswith(".") and (wanted == PurePosixPath(target) or PurePosixPath(target) in wanted.parents):
            return ROOT / source / wanted.relative_to(target)
    raise AssertionError(f"{container_path} is not mounted from the repository")


# ---- docker-compose.yml: Prometheus ----------------------------------------------------------

def flags(service: dict) -> dict[str, str]:
    return dict(arg.removeprefix("--").split("=", 1) for arg in service["command"])


def test_prometheus_runs_the_shipped_config_with_exemplar_storage(compose):
    prometheus = compose["services"]["prometheus"]
    assert re.fullmatch(r"prom/prometheus:v2\.\d+\.\d+", prometheus["image"])  # pinned, 2.x like Debian's
    given = flags(prometheus)
    assert given["enable-feature"] == "exemplar-storage"
    assert host_path(prometheus, given["config.file"]) == DEPLOY / "prometheus" / "prometheus.yml"
    data = given["storage.tsdb.path"]
    assert any(m.split(":")[1] == data and m.split(":")[0] in compose["volumes"] for m in prometheus["volumes"])
    assert "9090:9090" in prometheus["ports"]


def target_groups() -> list[dict]:
    """The target groups prometheus.yml's file_sd_configs read, from the files its globs match."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    groups = []
    for sd in job["file_sd_configs"]:
        for pattern in sd["files"]:
            files = sorted((DEPLOY / "prometheus").glob(pattern))  # relative to the config's folder
            assert files, pattern
            groups += [group for path in files for group in yaml.safe_load(path.read_text())]
    return groups


def test_prometheus_scrapes_each_service_at_its_compose_name_and_port_with_a_service_label(compose):
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    assert {metrics_path(name) for name in SERVICES} == {job["metrics_path"]}
    by_service = {group["labels"]["service"]: group["targets"] for group in target_groups()}
    assert set(by_service) == set(SERVICES)
    for name in SERVICES:
        port = compose["services"][name]["environment"]["PORT"]
        assert "METRICS_PORT" not in compose["services"][name]["environment"]  # else scrape that port
        assert by_service[name] == [f"{name}:{port}"]


def test_grafana_reaches_prometheus_and_mounts_the_provisioning_files(compose):
    grafana = compose["services"]["grafana"]
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true" and env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert "3000:3000" in grafana["ports"]
    assert "prometheus" in grafana["depends_on"]
    provisioning = host_path(grafana, "/etc/grafana/provisioning")
    assert provisioning == DEPLOY / "grafana" / "provisioning"
    [provider] = yaml.safe_load((provisioning / "dashboards" / "sanicms.yml").read_text())["providers"]
    dashboards = host_path(grafana, provider["options"]["path"])
    assert dashboards == DEPLOY / "grafana" / "dashboards" and list(dashboards.glob("*.json"))
    assert host_path(grafana, env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]).is_file()
    provisioned = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    sources = {s["uid"]: s for s in provisioned["datasources"]}
    published = {p.split(":")[1] for p in compose["services"]["prometheus"]["ports"]}
    assert sources["prometheus"]["url"] in {f"http://prometheus:{port}" for port in published}
    assert sources["zipkin"]["url"] == "http://zipkin:9411" and "zipkin" in compose["services"]


def grafana_expand(value: str, environ: dict[str, str]) -> str:
    """Grafana's expansion of a provisioning value: ${NAME} and $NAME from the environment, `$$` a literal `$`."""
    return re.sub(r"\$(\$|\{(\w+)\}|(\w+))",
                  lambda m: "$" if m.group(1) == "$" else environ.get(m.group(2) or m.group(3), ""), value)


def test_exemplars_link_to_the_trace_in_the_zipkin_compose_publishes(compose):
    sources = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"]
    [prometheus] = [s for s in sources if s["uid"] == "prometheus"]
    [link] = prometheus["jsonData"]["exemplarTraceIdDestinations"]
    assert link["name"] == "trace_id"  # the exemplar label the services set
    url = grafana_expand(link["url"], environ={})
    assert url == "http://localhost:9411/zipkin/traces/${__value.raw}"  # Grafana's own variable survives
    assert "9411:9411" in compose["services"]["zipkin"]["ports"]
    assert grafana_expand("a$${b}", {"b": "x"}) == "a${b}" and grafana_expand("a${b}", {}) == "a"  # teeth


# ---- Kubernetes: the pods' scrape annotations -------------------------------------------------

def k8s_documents(directory: Path) -> list[dict]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    docs: list[dict] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        docs += k8s_documents(path) if path.is_dir() else [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_each_service_pod_is_annotated_for_scraping_on_its_metrics_port_and_path():
    import kubernetes_validate

    docs = k8s_documents(K8S / "base")
    for name, port in SERVICES.items():
        [deployment] = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name]
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
        template = deployment["spec"]["template"]
        [container] = template["spec"]["containers"]
        [config] = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == f"{name}-settings"]
        metrics_port = config["data"].get("METRICS_PORT", config["data"]["PORT"])
        wanted = {"prometheus.io/scrape": "true", "prometheus.io/port": metrics_port,
                  "prometheus.io/path": metrics_path(name)}
        assert template["metadata"]["annotations"] == wanted
        assert int(metrics_port) in {p["containerPort"] for p in container["ports"]} and int(metrics_port) == port
    zipkin = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "zipkin"]
    assert all("prometheus.io/scrape" not in d["spec"]["template"]["metadata"].get("annotations", {}) for d in zipkin)


# ---- Kubernetes: the ServiceMonitor overlay ---------------------------------------------------

@pytest.fixture(scope="module")
def servicemonitor_schema() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads((ROOT / "tests" / "servicemonitor-crd-schema.json").read_text()))


def overlay_documents() -> tuple[list[dict], list[dict]]:
    """(the ServiceMonitors, everything else) the overlay applies."""
    docs = k8s_documents(OVERLAY)
    monitors = [d for d in docs if d["kind"] == "ServiceMonitor"]
    return monitors, [d for d in docs if d["kind"] != "ServiceMonitor"]


def selects(selector: dict, labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) applied to ``labels``."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value, op = labels.get(expr["key"]), expr["operator"]
        ok = {"In": value in expr.get("values", []), "NotIn": value not in expr.get("values", []),
              "Exists": expr["key"] in labels, "DoesNotExist": expr["key"] not in labels}[op]
        if not ok:
            return False
    return True


def test_the_overlay_is_the_base_plus_one_servicemonitor_valid_against_the_crd(servicemonitor_schema):
    import kubernetes_validate

    monitors, others = overlay_documents()
    assert len(monitors) == 1
    assert len(others) == len(k8s_documents(K8S / "base"))
    for doc in others:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    servicemonitor_schema.validate(monitors[0])


def test_the_servicemonitor_selects_every_service_and_scrapes_their_metrics(servicemonitor_schema):
    [monitor], others = overlay_documents()
    services = [d for d in others if d["kind"] == "Service"]
    selector = monitor["spec"]["selector"]
    selected = {s["metadata"]["name"] for s in services if selects(selector, s["metadata"]["labels"])}
    assert selected == set(SERVICES) and "zipkin" not in selected  # zipkin is part-of sanicms too
    [endpoint] = monitor["spec"]["endpoints"]
    for service in services:
        name = service["metadata"]["name"]
        if name in selected:
            [port] = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
            assert port["targetPort"] == SERVICES[name]
            assert endpoint["path"] == metrics_path(name)
            assert service["metadata"]["labels"]["app.kubernetes.io/name"] == name  # what `service` is set from
    [relabel] = [r for r in endpoint["relabelings"] if r["targetLabel"] == "service"]
    assert relabel["sourceLabels"] == ["__meta_kubernetes_service_label_app_kubernetes_io_name"]
    assert relabel.get("action", "replace") == "replace"


def test_the_servicemonitor_schema_check_has_teeth(servicemonitor_schema):
    [monitor], _ = overlay_documents()
    broken = copy.deepcopy(monitor)
    broken["spec"]["endpoints"][0]["relabelings"][0]["source_labels"] = ["x"]  # Prometheus's spelling, not the CRD's
    assert not servicemonitor_schema.is_valid(broken)
    broken = copy.deepcopy(monitor)
    broken["spec"]["endpoints"][0]["interval"] = "15 seconds"
    assert not servicemonitor_schema.is_valid(broken)
    broken = copy.deepcopy(monitor)
    del broken["spec"]["selector"]
    assert not servicemonitor_schema.is_valid(broken)
    broken = copy.deepcopy(monitor)
    broken["spec"]["endpoints"][0]["relabelings"][0]["action"] = "rename"
    assert not servicemonitor_schema.is_valid(broken)
    assert not selects({"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In", "values": ["city"]}]},
                       {"app.kubernetes.io/name": "zipkin"})


def test_kustomize_builds_the_overlay_with_the_servicemonitor(servicemonitor_schema):
    """What `kubectl apply -k` would send, rendered by kustomize itself (kubectl's, offline)."""
    import shutil
    import subprocess

    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl is not installed: the overlay is rendered by hand above only")

    def build(directory: Path) -> list[dict]:
        result = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return [d for d in yaml.safe_load_all(result.stdout) if d]

    rendered = build(OVERLAY)
    [monitor] = [d for d in rendered if d["kind"] == "ServiceMonitor"]
    servicemonitor_schema.validate(monitor)
    assert monitor == next(d for d in overlay_documents()[0])  # nothing added or changed on the way
    assert [d for d in rendered if d["kind"] != "ServiceMonitor"] == build(K8S / "base")
