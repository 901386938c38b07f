"""``python -m replica_city [serve|migrate]`` (tests/ on ``PYTHONPATH``)."""

from replica_city import run

run()
