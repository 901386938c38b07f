"""Proof the way the gaps were found (issue 32): the ``invoice`` service a newcomer built from the
README, built again from ``new-service`` plus the hand edits kept in tests/invoice/ (decimal
money, a currency, a reference to a user, ``POST /invoices/<id>/pay`` answering 409 when it is
already paid, ``GET /invoices/unpaid?user_id=N`` with a declared query parameter). In a copy of
the repository, with no project file edited: its own tests (generated and hand-written) pass,
it passes lint, and the project's contract and end-to-end tests pass with it in the registry."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from scaffolding import BIN, new_service, python_path, run, unused_port, whole_copy

HAND_EDITS = Path(__file__).with_name("invoice")
#: The project's tests run on the copy, bounded (60 cases per operation in make test).
TESTS = ("tests/test_contract.py", "tests/test_end_to_end.py")
CONTRACT_EXAMPLES = "20"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = whole_copy(tmp_path_factory.mktemp("invoice") / "repo", leave_out=["invoice"])
    new_service(root, "invoice", "--port", str(unused_port(root)), "--resource", "invoices", "--calls", "user")
    service = root / "services" / "invoice"
    # the hand edits: the model, two routes added to the views, a test file of their own
    shutil.copy(HAND_EDITS / "models.py", service / "invoice_service" / "models.py")
    views = service / "invoice_service" / "views.py"
    text = views.read_text().replace("from sanicms import NotFound,", "from sanicms import Conflict, NotFound,")
    views.write_text(text + (HAND_EDITS / "views_added.txt").read_text())
    shutil.copy(HAND_EDITS / "pay_tests.py", service / "tests" / "test_pay.py")
    env = {"PYTHONPATH": python_path(root, "invoice")}
    published = run(sys.executable, "-m", "sanicms", "spec", "invoice", "--write", cwd=root, env=env)
    assert published.returncode == 0, published.stdout + published.stderr
    return root, env


def test_its_spec_says_what_was_declared(tree):
    import json
    root, _ = tree
    spec = json.loads((root / "services/invoice/invoice_service/openapi.json").read_text())
    pay = spec["paths"]["/invoices/{id}/pay"]["post"]["responses"]
    assert pay["409"]["description"] == "the invoice is already paid"
    [user_id] = spec["paths"]["/invoices/unpaid"]["get"]["parameters"]
    assert (user_id["name"], user_id["in"], user_id["required"]) == ("user_id", "query", True)
    assert user_id["schema"]["minimum"] == 0 and user_id["schema"]["exclusiveMinimum"] is True
    create = spec["paths"]["/invoices"]["post"]["responses"]
    assert create["409"]["description"] == "conflict: a record with the same number exists"  # the library's
    amount = spec["components"]["schemas"]["Invoice"]["properties"]["amount"]
    assert (amount["type"], amount["format"]) == ("string", "decimal")


def test_its_own_tests_and_lint_pass(tree, pg_server):
    root, env = tree
    result = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
                 "services/invoice/tests", cwd=root, env={**env, "DATABASE_URL": pg_server})
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout and "skipped" not in result.stdout
    assert "test_paying_twice_is_a_409 PASSED" in run(
        sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "--import-mode=importlib",
        "services/invoice/tests/test_pay.py", cwd=root, env={**env, "DATABASE_URL": pg_server}).stdout
    lint = run(str(BIN / "ruff"), "check", "services/invoice", cwd=root)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_project_contract_and_end_to_end_tests_pass_with_it(tree, pg_server):
    root, env = tree
    result = run(sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", *TESTS, cwd=root,
                 timeout=1500, env={**env, "DATABASE_URL": pg_server, "CONTRACT_EXAMPLES": CONTRACT_EXAMPLES})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-12000:]
    assert "PASSED tests/test_contract.py::test_service_keeps_its_contract[invoice]" in output
