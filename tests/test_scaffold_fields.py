"""A service with a field of every kind peewee offers that has a JSON form, generated and its
model edited by hand, passes the tests ``new-service`` wrote for it with no change to them:
exact decimals, dates, times of day, UUIDs, booleans, text with choices, floats, integers of
each size, a reference to a record of its own, nullable fields and defaults."""

from __future__ import annotations

import sys

import pytest
from scaffolding import copy_of_the_repository, new_service, python_path, run, unused_port

#: A name nobody would give a real service.
NAME = "zqkind"

MODELS = '''"""Every kind of field (tests/test_scaffold_fields.py)."""

import datetime

from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    Check,
    DateField,
    DateTimeField,
    DecimalField,
    DoubleField,
    FixedCharField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    SmallIntegerField,
    TextField,
    TimeField,
    UUIDField,
)


class Zqkind(Model):
    id = AutoField(verbose_name="id")
    name = CharField(max_length=128, verbose_name="name")
    code = FixedCharField(max_length=8, null=True)
    notes = TextField(null=True)
    status = TextField(choices=[("new", "New"), ("paid", "Paid")], default="new")
    amount = DecimalField(max_digits=10, decimal_places=2, constraints=[Check("amount >= 0")])
    rate = DecimalField(max_digits=6, decimal_places=4, null=True)
    ratio = FloatField()
    weight = DoubleField(null=True)
    small = SmallIntegerField(constraints=[Check("small BETWEEN 0 AND 9")])
    count = IntegerField(default=0)
    big = BigIntegerField(null=True)
    paid = BooleanField(default=False)
    due = DateField()
    at = TimeField(null=True)
    seen = DateTimeField(null=True)
    ref = UUIDField()
    parent_id = ForeignKeyField("self", null=True, on_delete="SET NULL", verbose_name="the one it follows")
    create_time = DateTimeField(default=datetime.datetime.utcnow, verbose_name="creation time (UTC)")

    class Meta:
        table_name = "zqkinds"
        read_only = ("create_time",)
'''


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = copy_of_the_repository(tmp_path_factory.mktemp("repo"))
    new_service(root, NAME, "--port", str(unused_port(root)), "--resource", "zqkinds")
    (root / "services" / NAME / f"{NAME}_service" / "models.py").write_text(MODELS)
    env = {"PYTHONPATH": python_path(root, NAME)}
    result = run(sys.executable, "-m", "sanicms", "spec", NAME, "--write", cwd=root, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return root, env


def test_its_generated_tests_pass_untouched(generated, pg_server):
    root, env = generated
    result = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
                 f"services/{NAME}/tests", cwd=root, env={**env, "DATABASE_URL": pg_server})
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout and "skipped" not in result.stdout


def test_its_spec_says_each_kind_as_the_replies_carry_it(generated):
    import json
    root, _ = generated
    spec = json.loads((root / "services" / NAME / f"{NAME}_service" / "openapi.json").read_text())
    props = spec["components"]["schemas"]["Zqkind"]["properties"]
    assert props["amount"] == {"type": "string", "format": "decimal", "pattern": "^[0-9]{1,8}(\\.[0-9]{1,2})?$"}
    assert props["rate"]["pattern"] == "^-?[0-9]{1,2}(\\.[0-9]{1,4})?$" and props["rate"]["nullable"] is True
    assert props["at"]["format"] == "partial-time"
    assert props["ref"] == {"type": "string", "format": "uuid"}
    assert props["status"]["enum"] == ["new", "paid"]
    assert props["parent_id"]["x-references"] == "zqkinds"
