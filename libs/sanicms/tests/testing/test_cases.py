"""APITestCase on a small app: routes called by handler name, under ``blueprint`` or the
original design's ``_blueprint``; ``self.mock`` is the original design's ``self._mock``."""

from sanic import Blueprint

import sanicms
from sanicms.testing import APITestCase, ServiceMocks

bp = Blueprint("items", url_prefix="/items")


@bp.get("/<ident:int>")
async def get_item(request, ident):
    return {"id": ident}


def create_app(**overrides):
    settings = sanicms.load_settings(environ={}, overrides={"SERVICE_NAME": "probe_cases",
                                                            "TRACING_ENABLED": False, **overrides})
    return sanicms.create_app(settings, [bp], name="probe_cases")


class BlueprintTest(APITestCase):
    app_factory = staticmethod(create_app)
    blueprint = "items"

    def test_routes_by_handler_name_under_blueprint(self):
        res = self.client.get_item(ident=7)
        self.assertEqual(res.json(), {"code": 0, "data": {"id": 7}})

    def test_mock_is_the_original_designs_mock(self):
        self.assertIsInstance(self.mock, ServiceMocks)
        self.assertIs(self.mock, self._mock)


class OriginalNamesTest(APITestCase):
    app_factory = staticmethod(create_app)
    _blueprint = "items"

    def test_routes_by_handler_name_under_the_original_designs_blueprint(self):
        res = self.client.get_item(ident=8)
        self.assertEqual(res.status_code, 200)
        self.assertEqual(res.json()["data"], {"id": 8})
