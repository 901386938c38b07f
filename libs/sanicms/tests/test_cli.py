"""The service command line: bad settings stop start-up with one line, no traceback."""

import subprocess
import sys


def run(*args, **env):
    return subprocess.run([sys.executable, "-m", "city_service", *args], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", **env}, timeout=60)


def test_bad_port_is_one_line_naming_it():
    result = run("check", PORT="abc", DATABASE_URL="postgresql://x/y")
    assert result.returncode == 2
    assert result.stderr.strip() == ("city: configuration error: "
                                     "setting PORT: expected int, got 'abc' from the environment")
    assert "Traceback" not in result.stderr


def test_missing_database_url_is_named():
    result = run("serve")
    assert result.returncode == 2 and "DATABASE_URL" in result.stderr and "Traceback" not in result.stderr


def test_good_settings_pass_the_check():
    result = run("check", DATABASE_URL="postgresql://x/y")
    assert (result.returncode, result.stdout.strip()) == (0, "city: settings OK")


def test_healthcheck_fails_when_nothing_listens():
    from sanicms.testing.processes import free_port

    result = run("healthcheck", DATABASE_URL="postgresql://x/y", PORT=str(free_port()))
    assert result.returncode == 1 and "Traceback" not in result.stderr


def test_healthcheck_passes_against_a_serving_process(database_url):
    from sanicms.testing.processes import ServiceProcess, free_port, migrate

    env = {"DATABASE_URL": database_url}
    migrate("city_service", env)
    city = ServiceProcess("city_service", free_port(), env).start()
    try:
        assert run("healthcheck", DATABASE_URL=database_url, PORT=str(city.port)).returncode == 0
    finally:
        assert city.stop() == 0
