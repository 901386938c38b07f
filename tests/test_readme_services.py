"""The README's own example cannot break the project's tests: in a copy of the repository, add
the services the README shows (``new-service order --port 8060 --resource orders --calls
user``) and one on 8070, then run the tests that read the registry on that tree (end to end,
contract, scaffold, deploy, and the new services' own) and they pass."""

from __future__ import annotations

import sys

from scaffolding import new_service, python_path, run, track, whole_copy

#: As the README writes them; ``tag`` on 8070 too (the port the scaffold test once took).
README_SERVICES = (["order", "--port", "8060", "--resource", "orders", "--calls", "user"],
                   ["tag", "--port", "8070", "--resource", "tags"])
#: The project's tests that read the registry (services/*/), run on the copy.
TESTS = ("tests/test_end_to_end.py", "tests/test_contract.py", "tests/test_scaffold.py", "tests/test_deploy.py")
#: Bounds the contract test on the copy (60 cases per operation in make test).
CONTRACT_EXAMPLES = "20"


def test_the_project_tests_pass_with_the_readme_services_added(tmp_path, pg_server):
    root = whole_copy(tmp_path / "repo", leave_out=[args[0] for args in README_SERVICES])
    for args in README_SERVICES:
        new_service(root, *args)
    track(root)
    result = run(sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "-x", *TESTS,
                 "services/order/tests", "services/tag/tests", cwd=root, timeout=1500,
                 env={"PYTHONPATH": python_path(root, "order", "tag"), "DATABASE_URL": pg_server,
                      "CONTRACT_EXAMPLES": CONTRACT_EXAMPLES})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-10000:]
    assert " passed" in result.stdout and " failed" not in result.stdout, output[-10000:]
    for name in ("order", "tag"):  # the new services were among those tested
        assert f"PASSED tests/test_contract.py::test_service_keeps_its_contract[{name}]" in output
