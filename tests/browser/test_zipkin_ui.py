"""The Zipkin UI (Lens, served by the real Zipkin server) in a real browser, on the spans of the
three real services: a search by service ``user`` lists the trace of a known ``X-Trace-Id``, its
page shows the three services and as many spans as Zipkin's API holds, and the dependencies
page draws user calling city and role.

The same Chromium, offline rules and screenshots as the Swagger UI test (imported from it): no
request may leave the machine (Lens asks nothing of anyone but its own server), and the screenshots
go to ``$BROWSER_SCREENSHOTS`` (``make test-browser SCREENSHOTS=docs/img``). Without Java or the
Zipkin jar (``make zipkin-deps``) the module is skipped with the reason, or fails where
``BROWSER_TEST_REQUIRED`` or ``ZIPKIN_TEST_REQUIRED`` is set.
"""

from __future__ import annotations

import os
import time

import httpx
import pytest
from browser import test_swagger_ui as swagger_ui  # skips or fails first without Playwright or Chromium
from localstack import SERVICES, LocalStack
from zipkin import missing as zipkin_missing

from sanicms.testing.processes import eventually, free_port

#: The Swagger UI test's Chromium, its offline guard and its screenshot folder: the same
#: fixtures, not copies of them.
browser, page, screenshots = swagger_ui.browser, swagger_ui.page, swagger_ui.screenshots
expect, post, _missing = swagger_ui.expect, swagger_ui.post, swagger_ui._missing

if zipkin_missing() and not os.environ.get("ZIPKIN_TEST_REQUIRED"):  # there the zipkin fixture fails
    _missing(f"no real Zipkin to show: {zipkin_missing()}")

#: Lens fits a whole trace of these services, its header and its span detail in this much.
VIEWPORT = {"width": 1280, "height": 800}
THREE = ("user", "city", "role")


@pytest.fixture(scope="module")
def traced(pg_server, zipkin, tmp_path_factory):
    """The three services sending spans to the real Zipkin over HTTP, a user read through all
    three, and its trace once Zipkin holds the whole of it: (trace id, its spans as the API
    gives them)."""
    stack = LocalStack(pg_server, ports={name: free_port() for name, _, _ in SERVICES},
                       log_dir=tmp_path_factory.mktemp("logs"), db_prefix="zipkin_ui_", fresh=True,
                       env={"ZIPKIN_URL": zipkin.url, "TRACING_FLUSH_INTERVAL": "0.05"}).start()
    try:
        city = post(stack.url("city") + "/cities", {"name": "Suzhou", "province": "Jiangsu"})
        role = post(stack.url("role") + "/roles", {"name": "viewer"})
        user = post(stack.url("user") + "/users",
                    {"name": "Mei", "age": 28, "sex": "female", "city_id": city["id"], "role_id": role["id"]})
        res = httpx.get(f"{stack.url('user')}/users/{user['id']}", timeout=10)
        assert res.status_code == 200, res.text
        trace = res.headers["x-trace-id"]

        # Each service reports its spans in the order they finish, one batch after another, and
        # its SERVER span finishes last: once the three SERVER spans are in, so is everything.
        def whole():
            spans = zipkin.trace(trace)
            servers = {s["localEndpoint"]["serviceName"] for s in spans if s.get("kind") == "SERVER"}
            return spans if servers == set(THREE) else None

        yield trace, eventually(whole, f"Zipkin holds every span of trace {trace}")
    finally:
        stack.stop()


def services_of(spans: list[dict]) -> set[str]:
    """Zipkin's count of services in a trace: local ones and the remote ones they name (postgres)."""
    return {s["localEndpoint"]["serviceName"] for s in spans} | {
        s["remoteEndpoint"]["serviceName"] for s in spans if s.get("remoteEndpoint", {}).get("serviceName")}


def summary(page, label: str):
    """A figure of the trace page's header ("Services 4"): the element after its label."""
    return page.get_by_text(label, exact=True).locator("xpath=following-sibling::*[1]")


def test_a_search_by_service_lists_the_trace_and_its_page_shows_the_three_services(
        zipkin, traced, page, screenshots):
    trace, spans = traced
    page.set_viewport_size(VIEWPORT)
    page.goto(zipkin.ui_url + "?serviceName=user")
    page.get_by_role("button", name="Run query").click()

    show = page.locator(f'a[href$="/traces/{trace}"]')
    row = page.locator("tr", has=show)
    expect(row).to_contain_text("user: get /users/<id:int>")
    expect(row.locator("td").nth(3)).to_have_text(str(len(spans)))  # the Spans column
    page.screenshot(path=str(screenshots / "zipkin-search-user.png"))

    show.click()
    expect(page).to_have_url(zipkin.trace_url(trace))
    expect(summary(page, "Trace ID")).to_have_text(trace)
    expect(summary(page, "Total Spans")).to_have_text(str(len(spans)))
    expect(summary(page, "Services")).to_have_text(str(len(services_of(spans))))
    for span in spans:  # a row for each service's SERVER span, named as Zipkin holds it
        if span.get("kind") == "SERVER":
            expect(page.get_by_text(f"{span['localEndpoint']['serviceName']}: {span['name']}",
                                    exact=True).last).to_be_visible()
    assert {s["localEndpoint"]["serviceName"] for s in spans} == set(THREE)
    page.screenshot(path=str(screenshots / "zipkin-trace-user-city-role.png"))


def click_node(page, name: str) -> None:
    """Click the node ``name`` of the dependency graph. Lens draws it with Vizceral on a canvas,
    so a node is no element: hover along the canvas's middle row, where the left-to-right tree
    centres its root, and click wherever Vizceral turns the cursor into a pointer, until the
    side panel Lens opens for a clicked node names ``name``."""
    canvas = page.get_by_test_id("dependencies-graph").locator("canvas")
    opened = page.get_by_test_id("search-traces-button")  # the panel's "Traces" button
    heading = page.get_by_test_id("dependencies-graph").locator("h6")  # the panel's title
    box = canvas.bounding_box()
    y, right = box["y"] + box["height"] / 2, int(box["x"] + box["width"])
    tried, pointer_before = [], False
    for x in range(int(box["x"]) + 1, right, 4):
        page.mouse.move(x, y)
        pointer = canvas.evaluate("c => c.style.cursor") == "pointer"
        if pointer and not pointer_before:
            page.mouse.click(x + 4, y)
            try:
                expect(opened).to_be_visible(timeout=2_000)
            except AssertionError:
                tried.append(f"x={x}: no node")  # a connection: it opens no panel
            else:
                if heading.inner_text() == name:
                    return
                tried.append(f"x={x}: {heading.inner_text()}")
            page.wait_for_timeout(400)  # the next click is not taken for a double click (which zooms)
        pointer_before = pointer
    pytest.fail(f"no node {name!r} on the dependency graph's middle row: {tried}")


def test_the_dependencies_page_draws_user_calling_city_and_role(zipkin, traced, page, screenshots):
    links = zipkin.dependencies()
    assert {("user", "city"), ("user", "role")} <= set(links), links
    page.set_viewport_size(VIEWPORT)
    now = int(time.time() * 1000)
    page.goto(zipkin.ui_url + f"dependency?startTime={now - 3_600_000}&endTime={now + 60_000}")
    expect(page.get_by_test_id("dependencies-graph").locator("canvas")).to_be_visible()

    click_node(page, "user")
    panel = page.get_by_test_id("dependencies-graph")
    expect(panel.get_by_text("This service uses")).to_be_visible()
    uses = {}
    for row in panel.locator("tbody tr").all():
        service, calls, errors = (cell.inner_text().strip() for cell in row.locator("td").all())
        uses[service] = (int(calls), int(errors))
    for child in ("city", "role"):  # drawn as Zipkin's API links them, call counts included
        assert uses[child] == (links[("user", child)]["callCount"], links[("user", child)].get("errorCount", 0))
    assert set(uses) == {child for parent, child in links if parent == "user"}
    expect(panel.locator(".recharts-pie-sector")).to_have_count(len(uses))  # its pie of the calls
    page.wait_for_timeout(1_500)  # for the picture only: the pie grows in an animation
    page.screenshot(path=str(screenshots / "zipkin-dependencies.png"))

