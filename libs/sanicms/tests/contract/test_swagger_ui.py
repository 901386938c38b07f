"""The Swagger UI page and every file it loads come from the service itself (no CDN), so
the page works without internet. tests/browser/ renders it in a real browser."""

import re
from html.parser import HTMLParser

import pytest
from sanic import Blueprint, Sanic

import sanicms
from sanicms.contract.openapi import SWAGGER_UI_VERSION, swagger_ui_dist
from sanicms.testing import LiveServer

DEAD_DB = "postgresql://nobody@127.0.0.1:1/none"


class Links(HTMLParser):
    """The URLs a page makes the browser fetch: scripts, stylesheets, icons, images."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])
        elif tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])
        elif tag == "img" and attrs.get("src"):
            self.urls.append(attrs["src"])


def page_links(html):
    parser = Links()
    parser.feed(html)
    return parser.urls


@pytest.fixture(scope="module")
def live():
    Sanic.test_mode = True
    bp = Blueprint("items", url_prefix="/items")

    @bp.get("/<item_id:int>")
    async def get_item(request, item_id: int):
        return {"id": item_id}

    settings = sanicms.load_settings(environ={}, overrides={
        "SERVICE_NAME": "ui_probe", "DATABASE_URL": DEAD_DB, "DB_CONNECT_TIMEOUT": 0.2,
        "TRACING_TRANSPORTS": ["log"],
    })
    server = LiveServer(sanicms.create_app(settings, [bp], name="ui_probe"))
    server.start()
    yield server
    server.stop()
    Sanic.unregister_app(server.app)


@pytest.fixture(scope="module")
def page(live):
    res = live.request("GET", "/openapi/")
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
    return res.text


def test_the_page_loads_only_files_of_this_service(page):
    urls = page_links(page)
    assert len(urls) >= 3  # stylesheet, bundle, preset
    for url in urls:
        assert url.startswith(f"/openapi/assets/{SWAGGER_UI_VERSION}/"), url
    assert not re.search(r"https?://", page), "the page names another host"
    assert '"/openapi/spec.json"' in page


def test_every_file_the_page_loads_is_served(live, page):
    kinds = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
    for url in page_links(page):
        res = live.request("GET", url)
        assert res.status_code == 200, url
        assert kinds[url[url.rfind("."):]] in res.headers["content-type"], url
        assert len(res.content) > 0


def test_the_spec_and_the_ui_config_are_served(live):
    assert live.request("GET", "/openapi/spec.json").status_code == 200
    config = live.request("GET", "/openapi/swagger-config")
    assert config.status_code == 200 and isinstance(config.json(), dict)


def test_the_files_are_the_declared_swagger_ui_release():
    bundle = (swagger_ui_dist() / "swagger-ui-bundle.js").read_text(encoding="utf-8")
    assert f'PACKAGE_VERSION:"{SWAGGER_UI_VERSION}"' in bundle
    for name in ("swagger-ui.css", "swagger-ui-standalone-preset.js", "oauth2-redirect.html"):
        assert (swagger_ui_dist() / name).is_file(), name


def test_assets_are_neither_traced_nor_documented(live, page):
    api = live.request("GET", "/items/1")
    assert api.status_code == 200 and api.headers.get("x-trace-id")  # API routes are traced
    for url in page_links(page):
        assert "x-trace-id" not in live.request("GET", url).headers, url
    paths = live.request("GET", "/openapi/spec.json").json()["paths"]
    assert "/items/{item_id}" in paths
    assert not [p for p in paths if p.startswith("/openapi")]


def test_a_missing_asset_is_a_404(live):
    res = live.request("GET", f"/openapi/assets/{SWAGGER_UI_VERSION}/no-such-file.js")
    assert res.status_code == 404
    escape = "/".join([".."] * 12) + "/etc/passwd"  # sent as is, percent-encoded
    res = live.request("GET", f"/openapi/assets/{SWAGGER_UI_VERSION}/{escape.replace('/', '%2F')}")
    assert res.status_code == 404 and "root:" not in res.text
