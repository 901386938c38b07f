"""deploy/fluentd/fluent.conf on a real fluentd (`make check-fluentd`; also part of `make test`).

The three services run with the tracing transport docker compose uses (``log``: one Zipkin
span per stdout line, next to the JSON log lines); their stdout is sent to fluentd the way
Docker's fluentd logging driver sends it (forward protocol, one ``{"log": line, ...}`` record
per line, tag ``sanicms.<container>``); fluentd runs the shipped config with the Zipkin
endpoint, ports and log directory pointed at this test. Then: every span reaches the real
Zipkin server exactly once (its own counters, and each trace read back through its API), no
log line goes there, and every line reaches the log outputs stamped with its real time, in a
file named for its day.

fluentd is found at ``FLUENTD=`` or on PATH, Zipkin where ``make zipkin-deps`` puts it; without
either the tests skip and say so.
deploy/fluentd/README.md builds fluentd from source where the gem registry is out of reach.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from localstack import SERVICES, LocalStack

from sanicms.testing.processes import free_port, terminate

ROOT = Path(__file__).resolve().parents[1]
#: The shipped config; FLUENTD_CHECK_CONFIG= runs another (a variant under study, or an old one
#: to see these tests fail on it).
CONFIG = Path(os.environ.get("FLUENTD_CHECK_CONFIG") or ROOT / "deploy" / "fluentd" / "fluent.conf")


def find_fluentd() -> tuple[str | None, str]:
    """(the fluentd to run, or None and why there is none)."""
    on_path = shutil.which("fluentd")
    wanted = os.environ.get("FLUENTD")
    if not wanted:
        return on_path, "" if on_path else "no fluentd on PATH and FLUENTD= is not set"
    found = shutil.which(wanted)
    if found:
        return found, ""
    elsewhere = f"unset it to use {on_path}" if on_path else "and there is no fluentd on PATH either"
    return None, f"FLUENTD={wanted} is not an executable ({elsewhere})"


FLUENTD, WHY_NOT = find_fluentd()
pytestmark = pytest.mark.skipif(
    FLUENTD is None, reason=f"{WHY_NOT}: the fluentd pipeline check is skipped "
                            "(deploy/fluentd/README.md builds fluentd v1.17.1 from source)")

#: The settings docker compose gives the services (docker-compose.yml, x-service-env).
COMPOSE_ENV = {"LOG_FORMAT": "json", "LOG_LEVEL": "INFO", "TRACING_TRANSPORTS": "log",
               "TRACING_SAMPLE_RATE": "1.0", "TRACING_FLUSH_INTERVAL": "0.05"}
#: A line a dying process leaves on stderr: not JSON, still a log line.
PLAIN_LINE = "Traceback (most recent call last): a line that is not JSON"
DEADLINE = 60.0  # seconds any one wait may take


def wait_for(condition, timeout: float = DEADLINE, step: float = 0.1):
    """The first truthy result of ``condition()``, or None once ``timeout`` has passed."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(step)


# ---- what the services print ------------------------------------------------------------------

@pytest.fixture(scope="module")
def service_lines(pg_server, tmp_path_factory) -> dict[str, list[str]]:
    """Each service's stdout, line by line, after a few requests through all three."""
    log_dir = tmp_path_factory.mktemp("service-logs")
    ports = {name: free_port() for name, _, _ in SERVICES}
    stack = LocalStack(pg_server, ports=ports, log_dir=log_dir, env=COMPOSE_ENV,
                       db_prefix="fluentd_", fresh=True).start()
    try:
        with httpx.Client(timeout=10) as client:
            city = client.post(stack.url("city") + "/cities", json={"name": "Suzhou", "province": "Jiangsu"})
            role = client.post(stack.url("role") + "/roles", json={"name": "viewer"})
            assert city.status_code == role.status_code == 201, (city.text, role.text)
            user = client.post(stack.url("user") + "/users", json={
                "name": "Wu", "age": 29, "sex": "female",
                "city_id": city.json()["data"]["id"], "role_id": role.json()["data"]["id"]})
            assert user.status_code == 201, user.text
            assert client.get(f"{stack.url('user')}/users/{user.json()['data']['id']}").status_code == 200
            assert client.get(stack.url("user") + "/users", params={"page": 1, "page_size": 2}).status_code == 200
            assert client.get(stack.url("city") + "/cities/987654").status_code == 404
            assert client.post(stack.url("user") + "/users", json={"name": ""}).status_code == 400
            for name in set(stack.processes) - {"city", "role", "user"}:  # a service added since: a read each
                assert client.get(stack.url(name) + stack.collection(name)).status_code == 200
    finally:
        codes = stack.stop()  # the shutdown flush prints the spans still queued
    assert set(codes.values()) == {0}, codes
    return {name: [line for line in (log_dir / f"{name}.log").read_text().splitlines() if line.strip()]
            for name, _, _ in SERVICES}


def kind_of(line: str) -> str:
    """"span", "log" (a JSON log line with its time) or "plain"."""
    try:
        value = json.loads(line)
    except ValueError:
        return "plain"
    if isinstance(value, dict) and "level" in value and "time" in value:
        return "log"
    if isinstance(value, dict) and {"traceId", "id", "localEndpoint"} <= set(value):
        return "span"
    return "plain"


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def parse_utc(text: str) -> datetime:
    """The services' time format: 2026-11-25T19:50:51.983Z."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


# ---- Docker's fluentd logging driver, as far as fluentd can tell -------------------------------

def forward(port: int, tag: str, records: list[tuple[int, dict]]) -> None:
    """Send records in the forward protocol's Message mode, as Docker's driver does (event
    time in whole seconds unless fluentd-sub-second-precision is set), each with a chunk id,
    and wait for fluentd's ack of each (Docker's fluentd-request-ack): once this returns,
    fluentd has every record."""
    import msgpack

    unpacker = msgpack.Unpacker(raw=False)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.settimeout(10)
        for event_time, record in records:
            chunk = base64.b64encode(os.urandom(16)).decode()
            sock.sendall(msgpack.packb([tag, event_time, record, {"chunk": chunk}]))
            for answer in iter_answers(sock, unpacker):
                assert answer == {"ack": chunk}, answer
                break


def iter_answers(sock: socket.socket, unpacker):
    while True:
        yield from unpacker
        data = sock.recv(4096)  # bounded by the socket timeout
        if not data:
            raise ConnectionError("fluentd closed the connection before its ack")
        unpacker.feed(data)


def docker_record(name: str, line: str, source: str = "stdout") -> dict:
    return {"container_id": hashlib.sha256(name.encode()).hexdigest(), "container_name": f"/{name}",
            "source": source, "log": line}


# ---- fluentd on the shipped config, the real Zipkin behind it ---------------------------------

class Fluentd:
    def __init__(self, config: Path, workdir: Path, zipkin_url: str) -> None:
        self.port = free_port()
        self.log_dir = workdir / "log"
        self.output = workdir / "fluentd.out"
        self.env = {**os.environ, "FLUENTD_FORWARD_BIND": "127.0.0.1", "FLUENTD_FORWARD_PORT": str(self.port),
                    "FLUENTD_ZIPKIN_URL": zipkin_url + "/api/v2/spans", "FLUENTD_LOG_DIR": str(self.log_dir),
                    "FLUENTD_FLUSH_INTERVAL": "1s"}
        self.command = [FLUENTD, "-c", str(config)]  # with its supervisor, as the image runs it
        self.proc: subprocess.Popen | None = None

    def start(self) -> Fluentd:
        with open(self.output, "wb") as out:
            self.proc = subprocess.Popen(self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         cwd=self.output.parent, start_new_session=True)
        if not wait_for(lambda: self.proc.poll() is not None or self.listening()):
            raise TimeoutError(f"fluentd does not listen on {self.port}:\n{self.text()}")
        if self.proc.poll() is not None:
            raise RuntimeError(f"fluentd exited with {self.proc.returncode}:\n{self.text()}")
        return self

    def listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def stop(self) -> int | None:
        """SIGTERM: fluentd flushes what its memory buffers hold and exits."""
        return None if self.proc is None else terminate(self.proc, DEADLINE)

    def has_written(self, events: int) -> bool:
        """Whether both log outputs hold ``events`` whole lines by now (fluentd may be
        writing the next one)."""
        in_files = sum(path.read_bytes().count(b"\n") for path in self.log_dir.glob("sanicms.*.log"))
        printed = sum(1 for line in self.text().splitlines(keepends=True)
                      if line.endswith("\n") and STDOUT_EVENT.match(line.rstrip("\n")))
        return in_files >= events and printed >= events

    def log_files(self) -> dict[str, list[dict]]:
        return {path.name: [json.loads(line) for line in path.read_text().splitlines()]
                for path in sorted(self.log_dir.glob("sanicms.*.log"))}

    def printed_events(self) -> list[tuple[datetime, str, dict]]:
        """The stdout output's events: (event time, tag, record)."""
        events = []
        for line in self.text().splitlines():
            match = STDOUT_EVENT.match(line)
            if match:
                stamp = datetime.strptime(f"{match['second']}.{match['nanos'][:6]} {match['offset']}",
                                          "%Y-%m-%d %H:%M:%S.%f %z")
                events.append((stamp.astimezone(UTC), match["tag"], json.loads(match["record"])))
        return events


STDOUT_EVENT = re.compile(r"^(?P<second>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(?P<nanos>\d{9}) (?P<offset>[+-]\d{4}) "
                          r"(?P<tag>sanicms\.\S+): (?P<record>\{.*\})$")


@pytest.fixture(scope="module")
def run(service_lines, tmp_path_factory, zipkin):
    """fluentd fed every line of the three services (plus one plain stderr line), until the real
    Zipkin has counted as many spans as were printed and the log outputs as many events as
    lines were sent (or a deadline passes: the tests then say what is missing), then stopped."""
    fluentd = Fluentd(CONFIG, tmp_path_factory.mktemp("fluentd"), zipkin.url)
    sent: list[tuple[str, int, dict]] = []  # (tag, event time, record)
    try:
        fluentd.start()
        for name, lines in service_lines.items():
            now = int(time.time())
            records = [(now, docker_record(name, line)) for line in lines]
            if name == "city":
                records.append((now, docker_record(name, PLAIN_LINE, source="stderr")))
            forward(fluentd.port, f"sanicms.{name}", records)
            sent += [(f"sanicms.{name}", t, record) for t, record in records]
        spans = sum(kind_of(record["log"]) == "span" for _, _, record in sent)
        wait_for(lambda: zipkin.counter("zipkin_collector_spans_total") >= spans)
        wait_for(lambda: fluentd.has_written(len(sent)))
    finally:
        code = fluentd.stop()
    received = zipkin.counter("zipkin_collector_spans_total")
    print(f"\nfluentd fed {len(sent)} lines ({spans} spans); Zipkin counted {received:.0f} spans in "
          f"{zipkin.counter('zipkin_collector_messages_total'):.0f} POSTs; log files: {sorted(fluentd.log_files())}")
    return {"sent": sent, "zipkin": zipkin, "fluentd": fluentd, "exit_code": code}


def printed_spans(run) -> list[dict]:
    return [json.loads(record["log"]) for _, _, record in run["sent"] if kind_of(record["log"]) == "span"]


# ---- the tests ----------------------------------------------------------------------------------

def test_the_services_printed_spans_log_lines_and_nothing_else(service_lines):
    kinds = collections.Counter(kind_of(line) for lines in service_lines.values() for line in lines)
    assert kinds["span"] and kinds["log"]
    assert kinds["plain"] == 0, [line for lines in service_lines.values() for line in lines if kind_of(line) == "plain"]
    for name, lines in service_lines.items():
        spans = [json.loads(line) for line in lines if kind_of(line) == "span"]
        assert {span["localEndpoint"]["serviceName"] for span in spans} == {name}


def test_every_span_reaches_zipkin_exactly_once(run):
    """Zipkin's own counters: every span printed was received once (a duplicate would count
    twice), none dropped, no batch refused; and each trace reads back as printed."""
    zipkin, printed = run["zipkin"], printed_spans(run)
    assert zipkin.counter("zipkin_collector_spans_total") == len(printed)
    assert zipkin.counter("zipkin_collector_spans_dropped_total") == 0
    assert zipkin.counter("zipkin_collector_messages_dropped_total") == 0
    stored = collections.Counter()
    for trace in {span["traceId"] for span in printed}:
        stored.update(canonical(span) for span in zipkin.trace(trace))
    expected = collections.Counter(canonical(span) for span in printed)
    missing, extra = expected - stored, stored - expected
    assert not missing, f"{sum(missing.values())} of {len(printed)} spans not in Zipkin as printed: {list(missing)[:2]}"
    assert not extra, f"Zipkin holds spans nobody printed: {list(extra)[:2]}"


def test_zipkin_joins_the_spans_of_the_three_services_into_traces(run):
    """What a user sees in the UI: the read of a user is one trace with user, city and role."""
    zipkin = run["zipkin"]
    assert set(zipkin.api("/api/v2/services")) == {name for name, _, _ in SERVICES}
    [read] = [span for span in printed_spans(run) if span["name"] == "get /users/<id:int>"]
    services = {span["localEndpoint"]["serviceName"] for span in zipkin.trace(read["traceId"])}
    assert services == {"user", "city", "role"}
    assert {("user", "city"), ("user", "role")} <= set(zipkin.dependencies())


def test_no_log_line_reaches_zipkin(run):
    """Zipkin would count a log line as a span it received (or refuse the batch): the counts
    above equal the printed spans, and no span it holds carries a log record's fields."""
    zipkin = run["zipkin"]
    for trace in {span["traceId"] for span in printed_spans(run)}:
        for span in zipkin.trace(trace):
            assert "level" not in span and "log" not in span and "container_name" not in span, span
            assert {"traceId", "id", "localEndpoint"} <= set(span)


def test_log_events_carry_the_time_the_service_wrote_and_other_lines_the_time_docker_read(run):
    """On the stdout output, which prints each event with its event time."""
    printed = run["fluentd"].printed_events()
    sent = run["sent"]
    assert len(printed) == len(sent), f"{len(sent)} lines sent, {len(printed)} printed"
    expected = collections.Counter()
    for tag, event_time, record in sent:
        line = record["log"]
        if kind_of(line) == "log":
            parsed = json.loads(line)
            expected[(parse_utc(parsed["time"]), tag, canonical({**record_without_log(record), **parsed}))] += 1
        elif kind_of(line) == "span":
            parsed = json.loads(line)
            expected[(datetime.fromtimestamp(event_time, UTC), tag,
                      canonical({**record_without_log(record), **parsed}))] += 1
        else:  # kept as it came
            expected[(datetime.fromtimestamp(event_time, UTC), tag, canonical(record))] += 1
    got = collections.Counter((stamp, tag, canonical(record)) for stamp, tag, record in printed)
    wrong = sorted(got - expected, key=str)[:3]
    assert got == expected, f"printed events not as sent, e.g. {wrong}"
    stamps = {stamp for stamp, _, record in printed if "level" in record}
    assert all(stamp.year > 1970 for stamp in stamps)


def record_without_log(record: dict) -> dict:
    return {key: value for key, value in record.items() if key != "log"}


def test_the_log_file_of_a_day_is_named_for_it_and_written_during_it(run):
    """Events go to sanicms.<UTC day of the event>.log, flushed every flush interval (not once
    the day is over): the file is there while fluentd runs the same day."""
    files = run["fluentd"].log_files()
    sent = run["sent"]
    assert "sanicms.19700101.log" not in files
    expected: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for _, event_time, record in sent:
        line = record["log"]
        if kind_of(line) == "log":
            parsed = json.loads(line)
            day = parse_utc(parsed["time"])
            expected[f"sanicms.{day:%Y%m%d}.log"][canonical({**record_without_log(record), **parsed})] += 1
        else:
            day = datetime.fromtimestamp(event_time, UTC)
            body = record if kind_of(line) == "plain" else {**record_without_log(record), **json.loads(line)}
            expected[f"sanicms.{day:%Y%m%d}.log"][canonical(body)] += 1
    today = f"sanicms.{datetime.now(UTC):%Y%m%d}.log"
    assert today in files or today not in expected, f"no {today}: {sorted(files)}"
    assert sorted(files) == sorted(expected)
    for name, records in files.items():
        assert collections.Counter(canonical(record) for record in records) == expected[name], name


def test_fluentd_takes_the_config_without_a_warning_and_stops_cleanly(run):
    text = run["fluentd"].text()
    complaints = [line for line in text.splitlines() if re.search(r"\[(warn|error|fatal)\]", line)]
    assert not complaints, complaints
    assert run["exit_code"] == 0


def test_without_settings_the_config_is_the_compose_stacks(tmp_path):
    """With none of the FLUENTD_* variables (as in docker compose), fluentd resolves the
    config to what compose provides: the forward port it publishes, on every interface, the
    zipkin service's span endpoint, and the directory its fluentd-logs volume is mounted on."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLUENTD_")}
    printed = dry_run(env, tmp_path)
    log_dir_checked = "is not writable" not in printed
    if not log_dir_checked:  # not root: fluentd checks that it could create /fluentd/log
        printed = dry_run({**env, "FLUENTD_LOG_DIR": str(tmp_path)}, tmp_path)
    assert "finished dry run mode" in printed, printed

    def value(key: str) -> str:
        found = re.findall(rf'^\s*{key} "?([^"\n]*)"?$', printed, re.M)
        assert found, f"{key} not in fluentd's view of the config:\n{printed}"
        return found[0]

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    container_ports = {mapping.split("/")[0].split(":")[-1] for mapping in services["fluentd"]["ports"]}
    assert value("bind") == "0.0.0.0" and value("port") in container_ports
    endpoint = httpx.URL(value("endpoint"))
    assert endpoint.host == "zipkin" and endpoint.path == "/api/v2/spans"
    assert any(mapping.split(":")[-1] == str(endpoint.port) for mapping in services["zipkin"]["ports"])
    if log_dir_checked:
        log_dir = str(Path(value("path")).parent)
        assert f"fluentd-logs:{log_dir}" in services["fluentd"]["volumes"]
    for name, _, _ in SERVICES:  # the tags this config routes: sanicms.<container>, as the run above sent
        assert services[name]["logging"]["options"]["tag"].startswith("sanicms.")


def dry_run(env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run([FLUENTD, "--dry-run", "-c", str(CONFIG)], env=env, cwd=cwd,
                            capture_output=True, text=True, timeout=DEADLINE)
    return result.stdout + result.stderr
