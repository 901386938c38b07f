"""The library's public surface is what ``sanicms.__all__`` lists, and it changes only on
purpose: adding or removing a name means changing this list too."""

import types

import sanicms

PUBLIC = {
    "ApiError", "BadGateway", "BadRequest", "Clients", "ConfigError", "Conflict", "Cursor", "Database",
    "DeadlineExceeded", "DownstreamError", "ErrorCode", "Forbidden", "GatewayTimeout", "NotFound", "Overloaded",
    "Page", "References", "ServerError", "ServiceClient", "ServiceUnavailable", "Settings", "Stateless", "Table",
    "Unauthorized", "ValidationError", "auth", "configure_logging", "create_app", "doc", "gather", "ids_from",
    "load_settings", "logger", "main", "page_from", "published_shape", "respond", "service_url_setting",
}


def test_the_public_api_is_the_agreed_list():
    assert set(sanicms.__all__) == PUBLIC
    assert len(sanicms.__all__) == len(PUBLIC)  # no name twice


def test_every_public_name_exists_and_nothing_else_leaks():
    for name in sanicms.__all__:
        assert getattr(sanicms, name, None) is not None, name
    stray = {name for name, value in vars(sanicms).items()
             if not name.startswith("_") and name not in PUBLIC and not isinstance(value, types.ModuleType)}
    assert not stray, f"public names outside __all__: {stray}"


def test_the_original_designs_import_paths_still_work():
    from sanicms import doc
    from sanicms.migrations import MigrationModel, info
    from sanicms.testing import APITestCase as Current
    from sanicms.tests import APITestCase

    assert APITestCase is Current and callable(info) and MigrationModel and doc.summary
