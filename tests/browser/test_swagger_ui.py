"""Each service's Swagger UI in a real browser (Debian's Chromium driven by Playwright), with
no way out of the machine: the page must render every operation, and "Try it out" on
``GET /users/{id}`` must show the 200 of a real call through the three real services.

Needs ``/usr/bin/chromium`` (or ``CHROMIUM=...``) and the ``playwright`` package; without
either the module is skipped with the reason, or fails when ``BROWSER_TEST_REQUIRED`` is set
(``make test-browser`` installs both and sets it).
Screenshots go to ``$BROWSER_SCREENSHOTS`` (``make test-browser SCREENSHOTS=docs/img``),
otherwise to pytest's temporary directory.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from sanicms import registry

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def _missing(reason: str) -> None:
    """Skip (``make test``), or fail where the browser test is what was asked for."""
    if os.environ.get("BROWSER_TEST_REQUIRED"):
        pytest.fail(f"browser test cannot run: {reason}", pytrace=False)
    pytest.skip(f"browser test skipped: {reason}", allow_module_level=True)


try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:
    _missing("the playwright package is not installed (make test-browser installs it, from requirements-browser.txt)")
if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
    _missing(f"no Chromium at {CHROMIUM} "
             "(apt-get install chromium, or make test-browser; CHROMIUM=... for another path)")

#: Chromium headless and sandbox-free, asked not to call home; it still tries (update and
#: account checks), so it also resolves no name but localhost and has a proxy that is a trap.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]
#: Upper bound of any one wait in the browser (ms): loading, rendering, the call behind Execute.
WAIT_MS = 20_000
SERVICES = [s.name for s in registry.services(Path(__file__).resolve().parents[2])]  # services/*/


def is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True  # nothing is fetched
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Trap:
    """A loopback port given to Chromium as its proxy: anything it sends beyond loopback
    (loopback itself is never proxied) ends here, is noted and gets nothing. That covers
    the browser's own background calls, which page routing does not see; they are not the
    page's doing, so they are kept in, not failed on."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.caught: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            with conn:
                conn.settimeout(2)
                try:
                    first = conn.recv(512).split(b"\r\n", 1)[0]
                except OSError:
                    first = b""
                self.caught.append(first.decode("latin-1") or "(connection without a request line)")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
        self.sock.close()
        self._thread.join(5)


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    target = os.environ.get("BROWSER_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser():
    trap = Trap()
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=WAIT_MS,
            proxy={"server": f"http://127.0.0.1:{trap.port}", "bypass": "127.0.0.1,localhost,[::1]"})
        try:
            yield chromium, trap
        finally:
            chromium.close()
            trap.close()


@pytest.fixture
def page(browser):
    """A fresh page whose every request beyond loopback is refused and noted; the test fails
    if there was any, whether the page needed it or not."""
    chromium, _ = browser
    outside: list[str] = []

    def guard(route):
        if is_loopback(route.request.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("blockedbyclient")

    context = chromium.new_context(viewport={"width": 1280, "height": 1600}, service_workers="block")
    context.set_default_timeout(WAIT_MS)
    context.route("**/*", guard)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert outside == [], f"the page tried to reach beyond this machine: {outside}"
    assert errors == [], f"JavaScript errors on the page: {errors}"


def operations_of(base_url: str) -> list[tuple[str, str]]:
    spec = httpx.get(base_url + "/openapi/spec.json", timeout=10).json()
    return [(method, path) for path, item in spec["paths"].items() for method in item
            if method in ("get", "put", "post", "delete", "patch")]


def operation(page, method: str, path: str):
    """The block Swagger UI renders for one operation."""
    return page.locator(f".opblock.opblock-{method}").filter(
        has=page.locator(f'.opblock-summary-path[data-path="{path}"]'))


def post(url: str, body: dict) -> dict:
    res = httpx.post(url, json=body, timeout=10)
    assert res.status_code == 201, res.text
    return res.json()["data"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_renders_offline(stack, page, screenshots, service):
    base = stack.url(service)
    operations = operations_of(base)
    assert operations, f"{service} documents no operation"

    response = page.goto(base + "/openapi/")
    assert response is not None and response.status == 200

    for method, path in operations:
        expect(operation(page, method, path)).to_be_visible()
    page.screenshot(path=str(screenshots / f"swagger-ui-{service}.png"), full_page=False)


def test_try_it_out_gets_a_user_through_the_three_services(stack, page, screenshots):
    city = post(stack.url("city") + "/cities", {"name": "Suzhou", "province": "Jiangsu"})
    role = post(stack.url("role") + "/roles", {"name": "viewer"})
    user = post(stack.url("user") + "/users",
                {"name": "Mei", "age": 28, "sex": "female", "city_id": city["id"], "role_id": role["id"]})

    page.goto(stack.url("user") + "/openapi/")
    block = operation(page, "get", "/users/{id}")
    expect(block).to_be_visible()
    block.locator(".opblock-summary-control").first.scroll_into_view_if_needed()
    if not block.locator(".opblock-body").is_visible():  # docExpansion may leave it shut
        block.locator(".opblock-summary-control").first.click()
    block.locator("button.try-out__btn").click()
    block.locator('tr[data-param-name="id"] input').fill(str(user["id"]))
    block.locator("button.execute").click()

    live = block.locator(".live-responses-table .response")
    expect(live.locator(".response-col_status").first).to_have_text("200")
    body = block.locator(".live-responses-table .response-col_description pre").first
    expect(body).to_contain_text(f'"name": "{user["name"]}"')
    expect(body).to_contain_text('"city": {')
    expect(block.locator(".request-url pre")).to_have_text(f"{stack.url('user')}/users/{user['id']}")
    block.locator(".live-responses-table").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "swagger-ui-user-try-it-out.png"))
