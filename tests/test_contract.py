"""Schemathesis, a tool no one here wrote, against each running service's own spec.

Every check, valid and invalid data, all phases (coverage, fuzzing, stateful): no 5xx, no
reply that breaks the spec (status, content type, body), no valid request refused, no
invalid one accepted. A few records are created first and offered as real ids, so the
routes are exercised past "not found" (and the user service can create users).

The services check bearer tokens, as in production: schemathesis calls with a token of every
scope, and its own checks try each secured operation without one (``ignored_auth``).

Bounded so ``make test`` stays quick and repeatable: ``CONTRACT_EXAMPLES`` test cases per
operation (default 60) and a fixed ``CONTRACT_SEED``. Raise them for a deeper search.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from localstack import REGISTRY, SERVICES, LocalStack
from seed import seed, spec_of

from sanicms.auth import mint
from sanicms.contract.openapi import ERROR_DESCRIPTIONS
from sanicms.testing.processes import free_port

CONFIG = Path(__file__).with_name("schemathesis.toml")
#: How the library describes the 400 every route with inputs documents: bad input.
BAD_INPUT_400 = ERROR_DESCRIPTIONS[400]
EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "60"))
SEED = int(os.environ.get("CONTRACT_SEED", "20260101"))


SECRET = "contract-tests-key-" + "c" * 32
AUTH = {"Authorization": "Bearer " + mint([f"{name}:{verb}" for name, _, _ in SERVICES for verb in ("read", "write")],
                                          subject="schemathesis", ttl=3600, secret=SECRET)}


@pytest.fixture(scope="module")
def stack(pg_server, tmp_path_factory):
    """Every service (services/*/) with access control on."""
    ports = {name: free_port() for name, _, _ in SERVICES}
    stack = LocalStack(pg_server, ports=ports, log_dir=tmp_path_factory.mktemp("logs"), db_prefix="contract_",
                       fresh=True, env={"AUTH_ENABLED": "true", "AUTH_SECRET": SECRET}).start()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def known_ids(stack) -> dict[str, list[int]]:
    """Records that exist, by service: each package's seed rows, or examples from its spec."""
    ids = seed({name: stack.url(name) for name, _, _ in SERVICES}, REGISTRY, token=AUTH["Authorization"][7:])
    assert all(len(found) >= 3 for found in ids.values()), ids
    return ids


def config_for(service: str, ids: dict[str, list[int]], directory: Path, spec: dict) -> Path:
    """The shared settings, plus real ids mixed into the generated ones (the service's own for
    ``{id}``, a neighbour's for each ``<neighbour>_id`` in a body), plus, for each operation,
    the statuses a valid request may get: exactly the errors it declares (``accepted``)."""
    neighbours = next(s for s in REGISTRY if s.name == service).downstreams
    bindings = {"path.id": "known", **{f"body.{n}_id": n for n in neighbours}}
    dictionaries = {"known": ids[service], **{n: ids[n] for n in neighbours}}
    lines = [CONFIG.read_text(), "[parameters]"]
    lines += [f'"{key}" = {{ dictionary = "{name}", probability = 0.5 }}' for key, name in bindings.items()]
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {values}"]
    for operation_id, statuses in accepted(spec).items():
        # One block per operation, by its operationId (a method filter misapplies the override
        # to every service in schemathesis 4.32).
        lines += ["[[operations]]", f'include-operation-id = "{operation_id}"',
                  f"checks.positive_data_acceptance.expected-statuses = {statuses}"]
    path = directory / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


#: Statuses that say the request itself was wrong, whatever the operation declares.
BAD_INPUT = {"400", "413", "415"}


def accepted(spec: dict) -> dict[str, list[str]]:
    """For each operation, what a valid request may get: a success, and each 4xx error the
    operation documents (``doc.errors``, the library's own 404, the unique-column 409, 401 and
    403 on secured ones), but not a refusal of bad input (400, 413, 415), unless it declares a
    400 with a reason of its own (``doc.errors(400, "the city it names does not exist")``)."""
    out = {}
    for operations in spec["paths"].values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            statuses = ["2xx"]
            for status, response in operation.get("responses", {}).items():
                if not status.startswith("4"):
                    continue
                if status not in BAD_INPUT or (status == "400" and response.get("description") != BAD_INPUT_400):
                    statuses.append(status)
            out[operation["operationId"]] = statuses
    return out


@pytest.mark.parametrize("service", [name for name, _, _ in SERVICES])
def test_service_keeps_its_contract(stack, known_ids, service, tmp_path):
    command = [
        sys.executable, "-m", "schemathesis.cli",
        "--config-file", str(config_for(service, known_ids, tmp_path, spec_of(stack.url(service)))), "--no-color",
        "run", stack.url(service) + "/openapi/spec.json",
        "--header", f"Authorization: {AUTH['Authorization']}",
        "--checks", "all",
        "--max-examples", str(EXAMPLES),
        "--seed", str(SEED),
        "--workers", "1",  # Hypothesis' source parsing is not thread-safe on CPython 3.11.7
        "--generation-database", "none",
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    print(f"--- schemathesis, {service} service\n{summary(output)}")
    assert result.returncode == 0, output[-12_000:]
    assert re.search(r"Tested: (\d+)", output).group(1) == re.search(r"Selected: (\d+)", output).group(1)


def summary(output: str) -> str:
    """The SUMMARY block of schemathesis' report."""
    start = output.find("SUMMARY")
    return output[start:].strip() if start >= 0 else output[-2000:]


def test_a_valid_request_may_get_exactly_the_errors_its_operation_declares():
    """No server needed: what ``accepted`` makes of a spec."""
    def op(operation_id, **responses):
        return {"operationId": operation_id, "responses": {s: {"description": d} for s, d in responses.items()}}
    spec = {"paths": {"/invoices/{id}/pay": {"post": op("pay", **{"200": "success", "400": BAD_INPUT_400,
                                                                  "404": "not found", "409": "already paid",
                                                                  "413": "too large", "503": "down"})},
                      "/users": {"post": op("create", **{"201": "success", "400": "the city it names does not exist",
                                                         "401": "no token", "403": "no scope", "415": "not JSON"}),
                                 "parameters": []}}}
    assert accepted(spec) == {"pay": ["2xx", "404", "409"], "create": ["2xx", "400", "401", "403"]}
