"""``sanicms.testing``: what it exports, by module, and the original design's ``sanicms.tests``."""

import sanicms.testing
import sanicms.tests
from sanicms.testing import cases, contracts, mocks, server, zipkin

EXPORTED = {
    "MOCK_BASE_URL", "TEST_SECRET", "APITestCase", "ContractError", "LiveServer", "RouteClient", "ServiceMocks",
    "SpecTestCase", "postgres", "zipkin_span_validator",
}


def test_the_package_exports_the_helpers_of_its_modules():
    assert set(sanicms.testing.__all__) == EXPORTED
    assert len(sanicms.testing.__all__) == len(EXPORTED)
    where = {"APITestCase": cases, "SpecTestCase": cases, "TEST_SECRET": cases, "LiveServer": server,
             "RouteClient": server, "postgres": server, "ServiceMocks": mocks, "MOCK_BASE_URL": mocks,
             "ContractError": contracts, "zipkin_span_validator": zipkin}
    for name, module in where.items():
        assert getattr(sanicms.testing, name) is getattr(module, name), name


def test_the_original_designs_import_path_names_the_same_classes():
    for name in ("APITestCase", "LiveServer", "RouteClient", "ServiceMocks"):
        assert getattr(sanicms.tests, name) is getattr(sanicms.testing, name), name


def test_spec_test_case_holds_no_test_of_its_own():
    """unittest's discovery collects every TestCase a test module imports: the base must hold
    no test, or ``python -m unittest`` in a service's folder would run it on no app."""
    assert not [name for name in dir(sanicms.testing.SpecTestCase) if name.startswith("test")]
    assert not [name for name in dir(sanicms.testing.APITestCase) if name.startswith("test")]
