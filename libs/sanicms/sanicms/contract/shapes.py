"""The shapes ``doc.consumes`` and ``doc.produces`` accept, read as peewee models.

A peewee model is the single description of a resource. Two lighter shapes are accepted
too: a plain class of peewee fields (the shape of another service's object, which has no
table here; :func:`sanicms.published_shape` builds one from that service's published spec)
and a dict of fields or Python types (``{"id": int}``). Both are turned into an
unbound model, so the input check and the OpenAPI schema read every shape the same way.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import functools
import inspect
import types
import typing
import uuid
from typing import Any, TypeGuard

import peewee

#: Python types and the peewee field each stands for.
PYTHON_TYPES: dict[Any, type[peewee.Field]] = {
    bool: peewee.BooleanField,
    int: peewee.IntegerField,
    float: peewee.FloatField,
    decimal.Decimal: peewee.DecimalField,
    str: peewee.TextField,
    datetime.datetime: peewee.DateTimeField,
    datetime.date: peewee.DateField,
    datetime.time: peewee.TimeField,
    uuid.UUID: peewee.UUIDField,
    dict: peewee.Field,  # any JSON value
    list: peewee.Field,
    Any: peewee.Field,
}


def is_model(shape: Any) -> TypeGuard[type[peewee.Model]]:
    return inspect.isclass(shape) and issubclass(shape, peewee.Model)


def is_field_class(shape: Any) -> bool:
    """A plain class whose attributes include peewee fields (``class CityApi: id = IntegerField()``)."""
    return (inspect.isclass(shape) and not is_model(shape)
            and any(isinstance(v, peewee.Field) for v in vars(shape).values()))


def is_record(shape: Any) -> bool:
    """A shape with named fields: a model, a class of fields, or a dict of fields or types."""
    if isinstance(shape, dict):
        return all(is_scalar(v) for v in shape.values())
    return is_model(shape) or is_field_class(shape)


def is_scalar(value: Any) -> bool:
    """One field's declaration: a peewee field or a Python type (``int``, ``str | None``)."""
    if isinstance(value, peewee.Field):
        return True
    try:
        return _python_type(value)[0] in PYTHON_TYPES
    except TypeError:  # unhashable: a list or dict shape
        return False


def as_model(shape: Any, name: str = "Body") -> type[peewee.Model]:
    """The peewee model for a record shape (see :func:`is_record`)."""
    if is_model(shape):
        return shape
    if is_field_class(shape):
        return _class_model(shape)
    if isinstance(shape, dict) and is_record(shape):
        return _unbound_model(name, {key: field_for(value) for key, value in shape.items()}, None)
    raise TypeError(f"expected a peewee model, a class of peewee fields or a dict of fields/types, got {shape!r}")


@functools.cache
def _class_model(cls: type) -> type[peewee.Model]:
    fields = {k: copy.copy(v) for k, v in vars(cls).items() if isinstance(v, peewee.Field)}
    return _unbound_model(cls.__name__, fields, inspect.getdoc(cls))


def _unbound_model(name: str, fields: dict[str, peewee.Field], doc: str | None) -> type[peewee.Model]:
    # No table and no primary key: the model only carries the fields' rules.
    meta = type("Meta", (), {"primary_key": False})
    return type(name, (peewee.Model,), {**fields, "Meta": meta, "__doc__": doc})


def field_for(value: Any) -> peewee.Field:
    """A fresh peewee field for a field or Python type; ``X | None`` makes it nullable."""
    if isinstance(value, peewee.Field):
        return copy.copy(value)
    kind, nullable = _python_type(value)
    if kind not in PYTHON_TYPES:
        raise TypeError(f"no field type for {value!r}")
    return PYTHON_TYPES[kind](null=nullable)


def _python_type(value: Any) -> tuple[Any, bool]:
    """``int | None`` -> (int, True); anything else -> (value, False)."""
    if typing.get_origin(value) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(value) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(value)) == 2:
            return args[0], True
    return value, False


def referenced_shape(field: peewee.Field) -> Any:
    """The object a field refers to, named by its ``help_text`` (``help_text=CityApi``), or None."""
    target = getattr(field, "help_text", None)
    return target if is_record(target) and not isinstance(target, dict) else None


def reference_name(field: peewee.Field) -> str:
    """Where the referenced object appears in a reply: ``city_id`` -> ``city``."""
    return field.name[:-3] if field.name.endswith("_id") and len(field.name) > 3 else f"{field.name}_object"
