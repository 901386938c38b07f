"""``make demo`` as a user meets it: the banner's tokens and URLs work, a service that dies is
reported at once while the others keep answering, and SIGTERM stops everything cleanly. Traces:
the banner links the real Zipkin's UI and the trace of a first request, which Zipkin's API holds;
without the jar it says in one line how to get it; a ``ZIPKIN_URL`` given is used as it is."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from fakes import FakeZipkin
from localstack import BY_NAME, REGISTRY, depends_on
from required import require
from zipkin import ZipkinServer
from zipkin import missing as zipkin_missing

from sanicms.testing.processes import eventually

DEMO = Path(__file__).resolve().parents[1] / "deploy" / "demo.py"
#: The banner's link to the trace of the request it made: (Zipkin's base URL, trace id).
TRACE_LINK = re.compile(r"made once at start: (http://127\.0\.0\.1:\d+)/zipkin/traces/([0-9a-f]{32})\n")


def wait_for(path: Path, text: str, proc: subprocess.Popen, timeout: float = 240) -> str:
    """The demo's output once it contains ``text`` (bounded: a demo that never gets there fails)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = path.read_text()
        if text in out:
            return out
        if proc.poll() is not None:
            pytest.fail(f"the demo exited with {proc.returncode} before {text!r}:\n{out[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"no {text!r} in the demo's output after {timeout} s:\n{path.read_text()[-3000:]}")


def start_demo(tmp_path: Path, **env: str) -> tuple[subprocess.Popen, Path]:
    """``make demo``'s script on free ports, with ``env`` on top of this environment (and no
    ``ZIPKIN_URL`` but one given here)."""
    out = tmp_path / "demo.out"
    base = {k: v for k, v in os.environ.items() if k != "ZIPKIN_URL"}
    with open(out, "wb") as sink:
        proc = subprocess.Popen([sys.executable, str(DEMO), "--free-ports"], cwd=tmp_path, stdout=sink,
                                stderr=subprocess.STDOUT, env={**base, "PYTHONUNBUFFERED": "1", **env})
    return proc, out


def stop_demo(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
            proc.wait(10)


@pytest.fixture
def demo(tmp_path):
    proc, out = start_demo(tmp_path)
    try:
        yield proc, out
    finally:
        stop_demo(proc)


def require_zipkin() -> None:
    """The demo starts the real Zipkin only where `make zipkin-deps` has put it; CI sets
    ZIPKIN_TEST_REQUIRED, so there it must be."""
    why = zipkin_missing()
    require("real-Zipkin", why, "ZIPKIN_TEST_REQUIRED",
            skipped=f"the demo's Zipkin: {why} (the one-line hint is tested below)")


def test_the_demo_serves_reports_a_dead_service_and_stops_cleanly(demo, tmp_path):
    # The banner's tries are on the service started last (user here), which calls others.
    top = REGISTRY[-1]
    [neighbour, *_] = [BY_NAME[name] for name in top.downstreams]
    proc, out = demo
    banner = wait_for(out, "Press Ctrl-C to stop.", proc)
    read = re.search(r"export READ=(\S+)", banner).group(1)
    first = re.search(r"curl -s (http://127\.0\.0\.1:\d+/[\w/-]+/1) -H \"authorization: Bearer \$READ\"", banner)
    auth = {"authorization": f"Bearer {read}"}

    res = httpx.get(first.group(1), headers=auth, timeout=10)
    assert res.status_code == 200, res.text
    assert any(isinstance(value, dict) for value in res.json()["data"].values())  # a neighbour's record in it
    assert httpx.get(first.group(1), timeout=10).status_code == 401  # the banner's "# 401" line
    assert (tmp_path / ".demo" / "zipkin.log").exists() == (not zipkin_missing())

    [killed] = [p for p in psutil.Process(proc.pid).children(recursive=True)
                if neighbour.package in p.cmdline()]
    killed.kill()
    wait_for(out, f"{neighbour.name} service exited (code {-signal.SIGKILL})", proc, timeout=30)
    res = httpx.get(first.group(1), headers=auth, timeout=10)  # the others keep running
    assert (res.status_code, res.json()["code"]) == (503, 50303), res.text

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(90) == 0
    [stopped] = [line for line in out.read_text().splitlines() if line.startswith("stopped:")]
    codes = dict(re.findall(r"(\w+) \(exit (-?\d+)\)", stopped))
    assert codes.pop(neighbour.name) == str(-signal.SIGKILL) and set(codes.values()) == {"0"}, stopped
    assert "Worker ready" in (tmp_path / ".demo" / f"{neighbour.name}.log").read_text()  # where the notice pointed


def test_the_banner_links_the_trace_of_a_first_request_in_the_real_zipkin(demo):
    require_zipkin()
    proc, out = demo
    banner = wait_for(out, "Press Ctrl-C to stop.", proc)
    link = TRACE_LINK.search(banner)
    assert link, banner
    url, trace = link.groups()
    assert f"Traces in Zipkin (started here, in memory, stops with the demo): {url}/zipkin/\n" in banner
    zipkin = ZipkinServer(int(url.rsplit(":", 1)[1]))  # the demo's own, read through its API
    assert zipkin.url == url and zipkin.healthy()

    # The trace of GET /<top>/1 as the banner's first curl makes it: every service it calls, directly
    # or through another, is in it.
    top = REGISTRY[-1]
    expected = depends_on(top.name)

    def whole():
        spans = zipkin.trace(trace)
        return spans if {s["localEndpoint"]["serviceName"] for s in spans if s.get("kind") == "SERVER"} \
            == expected else None

    spans = eventually(whole, f"Zipkin holds the trace {trace} the banner links")
    [root] = [s for s in spans if "parentId" not in s]
    assert root["localEndpoint"]["serviceName"] == top.name and root["tags"]["http.status_code"] == "200"
    first_path = re.search(r"curl -s http://127\.0\.0\.1:\d+(/\S+/1) ", banner).group(1)
    assert root["tags"]["http.path"] == first_path
    assert httpx.get(f"{url}/zipkin/traces/{trace}", timeout=10).status_code == 200  # the UI's page

    stop_demo(proc)
    assert proc.returncode == 0
    assert out.read_text().splitlines()[-1] == "zipkin stopped" and not zipkin.healthy()


@pytest.mark.parametrize("case", ["no jar", "ZIPKIN_URL given"])
def test_traces_without_the_jar_or_with_a_zipkin_of_ones_own(tmp_path, monkeypatch, case):
    fake = FakeZipkin().start() if case == "ZIPKIN_URL given" else None
    env = {"ZIPKIN_JAR": "/nonexistent/zipkin.jar"}  # either way, the demo starts no Zipkin
    monkeypatch.setenv("ZIPKIN_JAR", env["ZIPKIN_JAR"])
    why = zipkin_missing()  # no jar there (or no java at all): what the demo should say
    if fake:
        env["ZIPKIN_URL"] = fake.url + "/"
    proc, out = start_demo(tmp_path, **env)
    try:
        banner = wait_for(out, "Press Ctrl-C to stop.", proc)
        [traces, *rest] = banner[banner.index("\nTraces"):banner.index("Press Ctrl-C")].strip().splitlines()
        if fake is None:  # one line, saying what is missing and how to get it
            assert traces == f"Traces: none, {why}" and rest == [], banner
            assert "`make zipkin-deps`" in why
        else:  # that collector, the link to the first trace on it, and the spans of that trace sent to it
            assert traces == f"Traces in Zipkin (ZIPKIN_URL): {fake.url}/zipkin/", banner
            trace = TRACE_LINK.search(banner).group(2)
            eventually(lambda: fake.trace(trace), f"spans of {trace} sent to ZIPKIN_URL")
        stop_demo(proc)
        assert proc.returncode == 0
        assert "zipkin stopped" not in out.read_text() and not (tmp_path / ".demo" / "zipkin.log").exists()
    finally:
        stop_demo(proc)
        if fake:
            fake.close()
