"""The Kubernetes base's NetworkPolicies, disruption budgets and shutdown timing, checked against the
service registry and the services' settings (tests/test_deploy.py validates every document
against Kubernetes' schemas).

The policies are evaluated here the way Kubernetes does: a connection from pod A to pod B on a
port is allowed when an egress rule of a policy selecting A allows it (or none selects A for
egress), and an ingress rule of a policy selecting B does (or none selects B for ingress). From
that, who reaches whom must be exactly the registry's neighbours.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from sanicms import registry
from sanicms.config import load_settings

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "deploy" / "k8s" / "base"
REGISTRY = registry.by_name(ROOT)

NAME = "app.kubernetes.io/name"
#: Pods a cluster runs beside the services: labels, and the namespace they run in.
PROMETHEUS = {"labels": {NAME: "prometheus"}, "namespace": "monitoring"}
OTHER = {"labels": {NAME: "something-else"}, "namespace": "default"}
DNS = {"labels": {"k8s-app": "kube-dns"}, "namespace": "kube-system"}
ZIPKIN = {"labels": {NAME: "zipkin", "app.kubernetes.io/part-of": "sanicms"}, "namespace": "default"}
#: An address outside the cluster (a managed PostgreSQL, the identity provider).
OUTSIDE = {"ip": "203.0.113.7"}


def service_pod(name: str) -> dict:
    return {"labels": {NAME: name, "app.kubernetes.io/part-of": "sanicms"}, "namespace": "default"}


def base_documents() -> list[dict]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    return [d for resource in kustomization["resources"] for d in yaml.safe_load_all((BASE / resource).read_text())
            if d]


def _matches(selector: dict, labels: dict) -> bool:
    assert set(selector) <= {"matchLabels"}, f"only matchLabels is evaluated here: {selector}"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer_matches(peer: dict, pod: dict) -> bool:
    if "ipBlock" in peer:
        assert peer["ipBlock"] == {"cidr": "0.0.0.0/0"}, "only the whole address space is evaluated here"
        return True  # pods' addresses are in it too
    if "ip" in pod:
        return False
    if "namespaceSelector" in peer:
        assert peer["namespaceSelector"] == {}, "only 'any namespace' is evaluated here"
    elif pod["namespace"] != "default":
        return False  # a podSelector alone means the policy's own namespace
    return _matches(peer.get("podSelector", {}), pod["labels"])


def _rule_allows(rule: dict, side: str, pod: dict, port: int, protocol: str) -> bool:
    peers = rule.get(side)
    ports = rule.get("ports")
    port_ok = not ports or any(p.get("port") == port and p.get("protocol", "TCP") == protocol for p in ports)
    return port_ok and (not peers or any(_peer_matches(peer, pod) for peer in peers))


def _allowed(policies: list[dict], kind: str, pod: dict, peer: dict, port: int, protocol: str) -> bool:
    """Whether ``pod``'s policies of ``kind`` (Ingress or Egress) let ``peer`` in (or ``pod`` out to it)."""
    if "ip" in pod or pod["namespace"] != "default":
        return True  # not in this namespace: its policies are not ours
    selecting = [p for p in policies if kind in p["spec"]["policyTypes"] and _matches(p["spec"]["podSelector"],
                                                                                      pod["labels"])]
    if not selecting:
        return True
    side = "from" if kind == "Ingress" else "to"
    return any(_rule_allows(rule, side, peer, port, protocol)
               for p in selecting for rule in p["spec"].get(kind.lower(), []))


def reaches(policies: list[dict], source: dict, target: dict, port: int, protocol: str = "TCP") -> bool:
    return (_allowed(policies, "Egress", source, target, port, protocol)
            and _allowed(policies, "Ingress", target, source, port, protocol))


def policies_of(docs: list[dict]) -> list[dict]:
    return [d for d in docs if d["kind"] == "NetworkPolicy"]


def path_problems(docs: list[dict], services: dict[str, registry.Service]) -> list[str]:
    """Where the policies disagree with the registry: a call it lists that they block, or one
    they let through that it does not list; and the fixed paths (Prometheus, Zipkin, PostgreSQL, DNS)."""
    policies = policies_of(docs)
    problems = []
    callers = {name: {c for c, s in services.items() if name in s.downstreams} for name in services}
    for name, service in services.items():
        pod = service_pod(name)
        for other, target in services.items():
            if other == name:
                continue
            allowed = reaches(policies, pod, service_pod(other), target.port)
            if allowed != (other in service.downstreams):
                problems.append(f"{name} -> {other}: {'allowed' if allowed else 'blocked'}, but the registry "
                                f"says {name} {'calls' if other in service.downstreams else 'does not call'} {other}")
        if not reaches(policies, PROMETHEUS, pod, service.port):
            problems.append(f"Prometheus cannot scrape {name}")
        entry_point = not callers[name]
        if reaches(policies, OTHER, pod, service.port) != entry_point:
            problems.append(f"{name}: other pods {'cannot' if entry_point else 'can'} reach it "
                            f"({'an entry point' if entry_point else 'only its callers should'})")
        for what, target, port, protocol in (("Zipkin", ZIPKIN, 9411, "TCP"), ("PostgreSQL", OUTSIDE, 5432, "TCP"),
                                             ("DNS", DNS, 53, "UDP")):
            if not reaches(policies, pod, target, port, protocol):
                problems.append(f"{name} cannot reach {what}")
    if reaches(policies, OTHER, ZIPKIN, 9411):
        problems.append("any pod can send to Zipkin")
    return problems


def test_the_network_policies_allow_exactly_the_calls_the_registry_lists():
    docs = base_documents()
    assert {("NetworkPolicy", "default-deny-ingress")} <= {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert path_problems(docs, REGISTRY) == []


def test_default_deny_covers_every_pod():
    [deny] = [p for p in policies_of(base_documents()) if p["metadata"]["name"] == "default-deny-ingress"]
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_the_path_check_has_teeth():
    docs = base_documents()
    # a new neighbour in the registry that the policies do not know of yet
    services = dict(REGISTRY)
    services["city"] = dataclasses.replace(services["city"], downstreams=("role",))
    assert "city -> role: blocked, but the registry says city calls role" in path_problems(docs, services)
    # a policy that lets any pod in
    opened = copy.deepcopy(docs)
    city = next(d for d in policies_of(opened) if d["metadata"]["name"] == "city")
    city["spec"]["ingress"].append({"ports": [{"protocol": "TCP", "port": REGISTRY["city"].port}]})
    problems = path_problems(opened, REGISTRY)
    assert "city: other pods can reach it (only its callers should)" in problems
    # without the default deny, nothing is selected for ingress where no policy names the pod
    no_deny = [d for d in docs if d["metadata"]["name"] not in ("default-deny-ingress", "zipkin")
               or d["kind"] != "NetworkPolicy"]
    assert "any pod can send to Zipkin" in path_problems(no_deny, REGISTRY)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_service_has_a_disruption_budget_and_a_grace_period_beyond_drain_and_graceful_stop(name):
    docs = base_documents()
    [budget] = [d for d in docs if d["kind"] == "PodDisruptionBudget" and d["metadata"]["name"] == name]
    [deployment] = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name]
    [config] = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == f"{name}-settings"]
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]
    assert budget["spec"]["maxUnavailable"] < deployment["spec"]["replicas"]
    settings = load_settings(f"{name}_service.settings", environ=config["data"],
                             overrides={"DATABASE_URL": "postgresql://x@h/db",  # what the Secrets give the pod
                                        "AUTH_JWKS_URL": "https://id.example/jwks.json"})
    drain, graceful = settings.service.shutdown_drain_seconds, settings.http.graceful_shutdown_timeout
    assert drain > 0  # endpoints and proxies need the time to stop sending
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > drain + graceful
    [container] = pod["containers"]
    assert "lifecycle" not in container  # no preStop sleep: the service drains itself on SIGTERM
