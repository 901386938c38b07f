"""The deploy files that list the services, written from the registry instead of by hand.

Each entry of :data:`FILES` is a file (or a marked region of one) that depends only on the
services found under ``services/``: compose's service blocks and Swagger UI list, Prometheus'
targets, PostgreSQL's databases, the Kubernetes manifests and the managed-postgres overlay.
``python -m sanicms services --write`` rewrites them, ``--check`` (and tests/test_deploy.py)
says which are stale, and ``new-service`` writes them after adding a package. Lines outside a
marked region are left as they are: others' services (prometheus, grafana) keep their blocks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from ..registry import Service, services

COMMAND = "`python -m sanicms services --write`"
BEGIN = "# >>> generated from services/*/ by `python -m sanicms services --write`: do not edit by hand"
END = "# <<< generated"
#: The Dockerfile's default base image, when it cannot be read.
BASE_IMAGE = "python:3.11.14-slim-bookworm"


def compose_region(found: list[Service], root: Path) -> str:
    """The services' blocks and Swagger UI's list of their specs, indented for ``services:``."""
    base = _dockerfile_base(root)
    blocks = [_compose_block(s, {d.name: d for d in found}, base) for s in found]
    urls = ",\n         ".join(json.dumps({"url": f"http://localhost:{s.port}/openapi/spec.json", "name": s.name})
                               for s in reversed(found))
    swagger = f"""  swagger-ui:
    image: swaggerapi/swagger-ui:v5.17.14
    environment:
      URLS: >-
        [{urls}]
    ports:
      - "8080:8080"
    healthcheck:                   # nginx serves the page (busybox wget in the official image)
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 5s
      timeout: 3s
      retries: 5
"""
    return "\n".join([*blocks, swagger])


def _compose_block(s: Service, by_name: dict[str, Service], base: str) -> str:
    urls = "".join(f"      {by_name[d].url_setting}: http://{d}:{by_name[d].port}\n" for d in s.downstreams)
    waits = "".join(f"      {d}:\n        condition: service_healthy\n" for d in s.downstreams)
    return f"""  {s.name}:
    build:
      context: .
      dockerfile: deploy/Dockerfile
      args:
        SERVICE: {s.name}
        BASE_IMAGE: ${{BASE_IMAGE:-{base}}}   # deploy/README.md: a local stand-in
    image: sanicms/{s.name}:{s.version}
    environment:
      <<: *service-env
      PORT: "{s.port}"
      DATABASE_URL: postgresql://sanicms:sanicms@postgres:5432/{s.name}
{urls}    ports:
      - "{s.port}:{s.port}"
    depends_on:
      postgres:
        condition: service_healthy
{waits}      fluentd:
        condition: service_started
    logging: *service-logging
    healthcheck:                   # the image's probe (deploy/Dockerfile), given more time: it starts
      timeout: 10s                 # a Python process, over 3 s on a busy machine (deploy/README.md)
    stop_grace_period: 20s         # GRACEFUL_SHUTDOWN_TIMEOUT is 15 s
"""


def _dockerfile_base(root: Path) -> str:
    dockerfile = root / "deploy" / "Dockerfile"
    found = re.search(r"^ARG BASE_IMAGE=(\S+)", dockerfile.read_text(), re.M) if dockerfile.is_file() else None
    return found.group(1) if found else BASE_IMAGE


def prometheus_targets(found: list[Service], root: Path) -> str:
    """deploy/prometheus/targets/sanicms.yml: one file_sd group per service, labelled with its name."""
    lines = ["# The sanicms services as docker-compose.yml names them: host:port and a `service` label each.",
             "# Read by prometheus.yml's file_sd_configs; written from services/*/ by",
             "# `python -m sanicms services --write` (do not edit by hand)."]
    for s in found:
        lines += [f'- targets: ["{s.name}:{s.port}"]', f"  labels: {{service: {s.name}}}"]
    return "\n".join(lines) + "\n"


def init_sql(found: list[Service], root: Path) -> str:
    """deploy/postgres/init.sql: a database per service, run once by the postgres image."""
    lines = ["-- Run once by the postgres image on an empty volume: one database per service.",
             "-- Written from services/*/ by `python -m sanicms services --write` (do not edit by hand)."]
    return "\n".join([*lines, *(f'CREATE DATABASE "{s.name}";' for s in found)]) + "\n"


#: Seconds a stopping pod keeps serving with /readyz at 503 (SHUTDOWN_DRAIN_SECONDS), then the most
#: its requests in flight may take (GRACEFUL_SHUTDOWN_TIMEOUT); the grace period covers both.
K8S_DRAIN_SECONDS = 5
K8S_GRACEFUL_SECONDS = 15
K8S_TERMINATION_GRACE_SECONDS = 30


def k8s_manifest(s: Service, by_name: dict[str, Service]) -> str:
    """deploy/k8s/base/<name>.yaml: settings, pods (migrations in an init container), Service, autoscaler,
    disruption budget and network policy (who may call it, whom it may call: the registry's neighbours)."""
    urls = "".join(f"  {by_name[d].url_setting}: http://{d}:{by_name[d].port}\n" for d in s.downstreams)
    labels = f"{{app.kubernetes.io/name: {s.name}, app.kubernetes.io/part-of: sanicms}}"
    secret = f"secretKeyRef: {{name: sanicms-database, key: {s.name}}}"
    callers = sorted(c.name for c in by_name.values() if s.name in c.downstreams)
    if callers:
        callers_rule = "".join(f"""    - from:
        - podSelector: {{matchLabels: {{app.kubernetes.io/name: {c}}}}}
      ports:
        - {{protocol: TCP, port: {s.port}}}
""" for c in callers)
    else:  # nobody in the registry calls it: it is an entry point, open to clients (ingress controller...)
        callers_rule = f"""    - ports:                              # an entry point: no service calls it, clients do
        - {{protocol: TCP, port: {s.port}}}
"""
    downstream_rule = "".join(f"""    - to:
        - podSelector: {{matchLabels: {{app.kubernetes.io/name: {d}}}}}
      ports:
        - {{protocol: TCP, port: {by_name[d].port}}}
""" for d in s.downstreams)
    return K8S_TEMPLATE.format(name=s.name, port=s.port, version=s.version, urls=urls, labels=labels, secret=secret,
                               callers=callers_rule, downstreams=downstream_rule, drain=K8S_DRAIN_SECONDS,
                               graceful=K8S_GRACEFUL_SECONDS, grace=K8S_TERMINATION_GRACE_SECONDS)


K8S_TEMPLATE = """\
# {name}: settings, pods (migrations in an init container), Service, autoscaler, disruption budget,
# network policy. Written from services/{name}/ by `python -m sanicms services --write` (do not edit by hand).
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-settings
  labels: {labels}
data:
  PORT: "{port}"
  WORKERS: "1"                      # scale with pods, one worker each
  LOG_FORMAT: json
  TRACING_TRANSPORTS: http
  ZIPKIN_URL: http://zipkin:9411
{urls}  SHUTDOWN_DRAIN_SECONDS: "{drain}"        # /readyz 503 while endpoints and proxies stop sending
  GRACEFUL_SHUTDOWN_TIMEOUT: "{graceful}"
  AUTH_ENABLED: "true"              # the key: AUTH_SECRET or AUTH_JWKS_URL from the Secret sanicms-auth
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {labels}
spec:
  replicas: 2
  selector:
    matchLabels: {{app.kubernetes.io/name: {name}}}
  template:
    metadata:
      labels: {labels}
      annotations:                  # Prometheus's kubernetes-pods convention (docs/monitoring.md)
        prometheus.io/scrape: "true"
        prometheus.io/port: "{port}"
        prometheus.io/path: /metrics
    spec:
      # > SHUTDOWN_DRAIN_SECONDS + GRACEFUL_SHUTDOWN_TIMEOUT ({drain} + {graceful} s). No preStop sleep: on
      # SIGTERM the service itself keeps serving for the drain (docs/operations.md), with no shell needed.
      terminationGracePeriodSeconds: {grace}
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        seccompProfile: {{type: RuntimeDefault}}
      initContainers:
        - name: migrate                     # safe with many replicas: migrations take an advisory lock
          image: sanicms/{name}:{version}
          args: ["migrate"]
          envFrom:
            - configMapRef: {{name: {name}-settings}}
          env:
            - name: DATABASE_URL
              valueFrom:
                {secret}
          securityContext: &container-security
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {{drop: ["ALL"]}}
          resources: &resources
            requests: {{cpu: 250m, memory: 128Mi}}
            limits: {{cpu: "1", memory: 256Mi}}
      containers:
        - name: {name}
          image: sanicms/{name}:{version}
          args: ["serve"]
          ports:
            - {{name: http, containerPort: {port}}}
          envFrom:
            - configMapRef: {{name: {name}-settings}}
          env:
            - name: MIGRATE
              value: "0"                    # the init container did it
            - name: DATABASE_URL
              valueFrom:
                {secret}
            - name: DATABASE_REPLICA_URLS   # read endpoints, if the Secret has them (docs/operations.md)
              valueFrom:
                secretKeyRef: {{name: sanicms-database, key: {name}-replicas, optional: true}}
            - name: AUTH_JWKS_URL           # the identity provider's keys, or
              valueFrom:
                secretKeyRef: {{name: sanicms-auth, key: jwks-url, optional: true}}
            - name: AUTH_SECRET             # a shared HS256 key (exactly one of the two)
              valueFrom:
                secretKeyRef: {{name: sanicms-auth, key: secret, optional: true}}
          readinessProbe:
            httpGet: {{path: /readyz, port: {port}}}
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 2
          livenessProbe:
            httpGet: {{path: /healthz, port: {port}}}
            initialDelaySeconds: 10
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          securityContext: *container-security
          resources: *resources
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  labels: {labels}
spec:
  selector: {{app.kubernetes.io/name: {name}}}
  ports:
    - {{name: http, port: {port}, targetPort: {port}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {name}
  labels: {labels}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {name}}}
  minReplicas: 2
  maxReplicas: 10
  metrics:
    - type: Resource
      resource:
        name: cpu
        target: {{type: Utilization, averageUtilization: 70}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {name}
  labels: {labels}
spec:
  maxUnavailable: 1                 # node drains evict one pod at a time; the others keep serving
  selector:
    matchLabels: {{app.kubernetes.io/name: {name}}}
---
# Who may call {name} (the registry's callers; Prometheus for the metrics) and whom it may call (its
# neighbours, Zipkin, PostgreSQL, DNS, the identity provider's keys). network.yaml denies the rest.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {name}
  labels: {labels}
spec:
  podSelector:
    matchLabels: {{app.kubernetes.io/name: {name}}}
  policyTypes: [Ingress, Egress]
  ingress:
{callers}    - from:                               # metrics (METRICS_PORT 0: the service's own port)
        - namespaceSelector: {{}}
          podSelector: {{matchLabels: {{app.kubernetes.io/name: prometheus}}}}
      ports:
        - {{protocol: TCP, port: {port}}}
  egress:
{downstreams}    - to:
        - podSelector: {{matchLabels: {{app.kubernetes.io/name: zipkin}}}}
      ports:
        - {{protocol: TCP, port: 9411}}
    - to:                                 # PostgreSQL, in the cluster or managed outside it
        - ipBlock: {{cidr: 0.0.0.0/0}}
      ports:
        - {{protocol: TCP, port: 5432}}
    - to:                                 # AUTH_JWKS_URL: the identity provider's keys, over HTTPS
        - ipBlock: {{cidr: 0.0.0.0/0}}
      ports:
        - {{protocol: TCP, port: 443}}
    - to:                                 # DNS
        - namespaceSelector: {{}}
          podSelector: {{matchLabels: {{k8s-app: kube-dns}}}}
      ports:
        - {{protocol: UDP, port: 53}}
        - {{protocol: TCP, port: 53}}
"""


def k8s_resources(found: list[Service], root: Path) -> str:
    """The base kustomization's list of the services' manifests."""
    return "".join(f"  - {s.name}.yaml\n" for s in found)


def pool_size_patch(found: list[Service], root: Path) -> str:
    """The managed-postgres overlay's connection cap, per service."""
    head = "# Managed servers cap connections: replicas x DB_POOL_MAX_SIZE per service must stay below it.\n"
    return head + "---\n".join(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {s.name}-settings\n"
                               f'data:\n  DB_POOL_MAX_SIZE: "5"\n' for s in found)


def database_env_example(found: list[Service], root: Path) -> str:
    """The managed-postgres overlay's example of the database URLs, one key per service, and
    of its read endpoints (``<service>-replicas``, optional: commented out)."""
    urls = "".join(f"{s.name}=postgresql://{s.name}_app:CHANGE_ME@mydb.example.internal:5432/{s.name}"
                   "?sslmode=require\n" for s in found)
    replicas = "".join(f"# {s.name}-replicas=postgresql://{s.name}_app:CHANGE_ME@mydb-ro.example.internal:5432/"
                       f"{s.name}?sslmode=require\n" for s in found)
    return (urls + "# Read endpoints, optional: acquire() reads from them, writes stay on the URL above;\n"
            "# comma-separated (docs/operations.md, \"Read replicas\").\n" + replicas)


#: path -> (renderer, whether it fills a marked region or the whole file)
FILES: dict[str, tuple[Callable[[list[Service], Path], str], bool]] = {
    "docker-compose.yml": (compose_region, True),
    "deploy/prometheus/targets/sanicms.yml": (prometheus_targets, False),
    "deploy/postgres/init.sql": (init_sql, False),
    "deploy/k8s/base/kustomization.yaml": (k8s_resources, True),
    "deploy/k8s/overlays/managed-postgres/pool-size.yaml": (pool_size_patch, False),
    "deploy/k8s/overlays/managed-postgres/database.env.example": (database_env_example, False),
}


def rendered(root: str | Path) -> dict[Path, str]:
    """What each generated file should hold, given the services under ``root``."""
    root = Path(root)
    found = services(root)
    by_name = {s.name: s for s in found}
    out: dict[Path, str] = {}
    for relative, (render, region) in FILES.items():
        path = root / relative
        text = render(found, root)
        out[path] = _replace_region(path, text) if region else text
    base = root / "deploy" / "k8s" / "base"
    out.update({base / f"{s.name}.yaml": k8s_manifest(s, by_name) for s in found})
    return out


def stale(root: str | Path) -> list[Path]:
    """The generated files that do not hold what the registry gives (missing ones included)."""
    return [path for path, text in rendered(root).items() if not path.is_file() or path.read_text() != text]


def write(root: str | Path) -> list[Path]:
    """Rewrite the stale files; the ones written. Manifests of services that are gone are removed."""
    written = []
    for path, text in rendered(root).items():
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written + _remove_orphans(Path(root))


def _remove_orphans(root: Path) -> list[Path]:
    names = {s.name for s in services(root)}
    base = root / "deploy" / "k8s" / "base"
    orphans = [p for p in base.glob("*.yaml") if p.stem not in names and _generated_manifest(p)]
    for path in orphans:
        path.unlink()
    return orphans


def _generated_manifest(path: Path) -> bool:
    """Whether ``path`` is a manifest this module wrote (its second line says so)."""
    lines = path.read_text().splitlines()
    written = f"Written from services/{path.stem}/ by {COMMAND} (do not edit by hand)."
    return len(lines) > 1 and lines[1].endswith(written)


def _replace_region(path: Path, text: str) -> str:
    """``path``'s text with what lies between the markers replaced by ``text``."""
    current = path.read_text()
    pattern = re.compile(rf"^([ \t]*){re.escape(BEGIN)}\n.*?^[ \t]*{re.escape(END)}\n", re.S | re.M)
    found = pattern.search(current)
    if found is None:
        raise ValueError(f"{path}: no region marked {BEGIN!r} ... {END!r}")
    indent = found.group(1)
    block = f"{indent}{BEGIN}\n{text}{indent}{END}\n"
    return current[:found.start()] + block + current[found.end():]
