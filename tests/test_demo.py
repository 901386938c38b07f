"""``make demo`` as a user meets it: the banner's tokens and URLs work, a service that dies is
reported at once while the others keep answering, and SIGTERM stops everything cleanly."""

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
from localstack import BY_NAME, REGISTRY

DEMO = Path(__file__).resolve().parents[1] / "deploy" / "demo.py"


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


@pytest.fixture
def demo(tmp_path):
    out = tmp_path / "demo.out"
    with open(out, "wb") as sink:
        proc = subprocess.Popen([sys.executable, str(DEMO), "--free-ports"], cwd=tmp_path, stdout=sink,
                                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield proc, out
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                for child in psutil.Process(proc.pid).children(recursive=True):
                    child.kill()
                proc.kill()
                proc.wait(10)


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

    [killed] = [p for p in psutil.Process(proc.pid).children(recursive=True)
                if neighbour.package in p.cmdline()]
    killed.kill()
    wait_for(out, f"{neighbour.name} service exited (code {-signal.SIGKILL})", proc, timeout=30)
    res = httpx.get(first.group(1), headers=auth, timeout=10)  # the others keep running
    assert (res.status_code, res.json()["code"]) == (503, 50303), res.text

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    stopped = out.read_text().splitlines()[-1]
    codes = dict(re.findall(r"(\w+) \(exit (-?\d+)\)", stopped))
    assert codes.pop(neighbour.name) == str(-signal.SIGKILL) and set(codes.values()) == {"0"}, stopped
    assert "Worker ready" in (tmp_path / ".demo" / f"{neighbour.name}.log").read_text()  # where the notice pointed
