"""Checking request bodies against the peewee model that also defines the table.

One declaration serves the database, the API docs and the input check: a ``CharField``'s
``max_length``, ``null=True``, a default, ``choices``, and simple checks on the field's own
column (``Check('age >= 0')``, ``Check('age BETWEEN 0 AND 150')``,
``Check("status IN ('new', 'paid')")``) all become rules here. Every problem is reported, by
field, in one 400.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import peewee
from sanic import Request

from ..errors import ApiError, ValidationError

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
INT16 = (-(2**15), 2**15 - 1)
TEXT_MAX_LENGTH = 65_536  # TextField has no max_length; refuse megabyte strings anyway

_NUMBER = r"-?\d+(?:\.\d+)?"
_CHECK = re.compile(rf"^CHECK \(\s*\"?(\w+)\"?\s*(>=|>|<=|<)\s*({_NUMBER})\s*\)$", re.I)
_BETWEEN = re.compile(rf"^CHECK \(\s*\"?(\w+)\"?\s+BETWEEN\s+({_NUMBER})\s+AND\s+({_NUMBER})\s*\)$", re.I)
_IN = re.compile(r"^CHECK \(\s*\"?(\w+)\"?\s+IN\s*\((.*)\)\s*\)$", re.I | re.S)
_LISTED = re.compile(rf"\s*(?:'((?:[^']|'')*)'|({_NUMBER}))\s*(?:,|$)")


@dataclass(frozen=True, slots=True)
class Rule:
    """What one model field accepts on input."""

    name: str
    kind: str  # integer, number, decimal, string, boolean, date-time, date, time, uuid, json
    required: bool
    nullable: bool
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    #: the only values allowed (``choices``, or a ``CHECK (... IN (...))``), or None
    choices: tuple[Any, ...] | None = None
    #: a decimal's digits before the point and after it (``DecimalField(max_digits, decimal_places)``)
    integer_digits: int | None = None
    places: int | None = None
    #: the text's exact length where the column pads shorter text with spaces (``FixedCharField``)
    min_length: int | None = None


def read_only_fields(model: type[peewee.Model]) -> set[str]:
    """The primary key, plus ``Meta.read_only`` (e.g. a creation time the server sets)."""
    names = set(getattr(model._meta, "read_only", ()) or ())
    if model._meta.primary_key:  # False for a model without one (see sanicms.contract.shapes)
        names.add(model._meta.primary_key.name)
    return names


@functools.cache
def rules_for(model: type[peewee.Model]) -> dict[str, Rule]:
    """The input rules of every writable field of ``model``: worked out once per model (every
    checked body reads them), so a model's mistake shows where ``doc.consumes`` names it."""
    skip = read_only_fields(model)
    return {f.name: rule_for(f) for f in model._meta.sorted_fields if f.name not in skip}


def rule_for(field: peewee.Field) -> Rule:
    kind, low, high = _kind(field)
    bounds = _check_bounds(field)
    has_default = field.default is not None
    places: int | None = getattr(field, "decimal_places", None) if kind == "decimal" else None
    digits: int = getattr(field, "max_digits", 0)
    return Rule(
        name=field.name,
        kind=kind,
        required=not field.null and not has_default,
        nullable=bool(field.null),
        max_length=getattr(field, "max_length", None) or (TEXT_MAX_LENGTH if kind == "string" else None),
        minimum=_tighter(low, bounds.get("min"), max),
        maximum=_tighter(high, bounds.get("max"), min),
        exclusive_minimum=bounds.get("min_exclusive", False),
        exclusive_maximum=bounds.get("max_exclusive", False),
        choices=_choices(field, bounds.get("in")),
        integer_digits=None if places is None else max(digits - places, 0),
        places=places,
        min_length=field.max_length if isinstance(field, peewee.FixedCharField) else None,
    )


def _choices(field: peewee.Field, listed: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
    """peewee's ``choices`` (values, or Django-style ``(value, label)`` pairs; peewee itself
    enforces nothing), narrowed by a ``CHECK (... IN (...))`` when both are given."""
    declared = getattr(field, "choices", None)
    values = listed
    if declared:
        values = tuple(c[0] if isinstance(c, (tuple, list)) else c for c in declared)
        values = tuple(v for v in values if v in listed) if listed is not None else values
    if values is None:
        return None
    if _kind(field)[0] not in ("string", "integer", "number", "decimal", "boolean"):
        raise TypeError(f"{field.name}: choices are supported on text, number and boolean fields")
    if not values:
        raise TypeError(f"{field.name}: its choices and its CHECK (... IN (...)) allow no value in common")
    return values


#: Fields whose column holds what JSON has no form for here (bytes; IPField and TimestampField
#: keep an integer for a Python value of another type): a body or reply naming one is refused
#: when the model is read, not on the first request.
UNSUPPORTED = (peewee.BlobField, peewee.BigBitField, peewee.IPField, peewee.TimestampField)


def _kind(field: peewee.Field) -> tuple[str, float | None, float | None]:
    if isinstance(field, UNSUPPORTED):
        raise TypeError(f"{field.name}: a {type(field).__name__} has no JSON form in sanicms bodies and replies "
                        "(text, numbers, DecimalField, booleans, dates, times, UUIDs and references do)")
    if isinstance(field, peewee.BooleanField):
        return "boolean", None, None
    if isinstance(field, (peewee.BigIntegerField, peewee.BigAutoField)):
        return "integer", *INT64
    if isinstance(field, peewee.SmallIntegerField):
        return "integer", *INT16
    if isinstance(field, peewee.ForeignKeyField) and field.column_name != field.name:
        raise TypeError(f"{field.name}: name a ForeignKeyField as its column, {field.column_name} "
                        "(bodies use the field's name, replies the column's)")
    if isinstance(field, (peewee.IntegerField, peewee.AutoField, peewee.ForeignKeyField)):
        return "integer", *INT32
    if isinstance(field, peewee.DecimalField):
        return "decimal", None, None
    if isinstance(field, peewee.FloatField):
        return "number", None, None
    if isinstance(field, peewee.DateTimeField):
        return "date-time", None, None
    if isinstance(field, peewee.DateField):
        return "date", None, None
    if isinstance(field, peewee.TimeField):
        return "time", None, None
    if isinstance(field, peewee.UUIDField):
        return "uuid", None, None
    if isinstance(field, (peewee.CharField, peewee.TextField)):
        return "string", None, None
    return "json", None, None


def _check_bounds(field: peewee.Field) -> dict[str, Any]:
    """What the field's own checks allow together: ``min``/``max`` (and whether exclusive),
    ``in``. A check this does not understand is left to the database (its 400 names the rule)."""
    bounds: dict[str, Any] = {}
    for constraint in field.constraints or ():
        sql = getattr(constraint, "sql", "") or ""
        if (match := _CHECK.match(sql)) and match.group(1) == field.column_name:
            op, number = match.group(2), _number_literal(match.group(3))
            if op in (">=", ">"):
                _narrow(bounds, "min", number, op == ">", lambda a, b: a > b)
            else:
                _narrow(bounds, "max", number, op == "<", lambda a, b: a < b)
        elif (match := _BETWEEN.match(sql)) and match.group(1) == field.column_name:
            _narrow(bounds, "min", _number_literal(match.group(2)), False, lambda a, b: a > b)
            _narrow(bounds, "max", _number_literal(match.group(3)), False, lambda a, b: a < b)
        elif (match := _IN.match(sql)) and match.group(1) == field.column_name:
            listed = _listed(match.group(2))
            if listed is not None:
                bounds["in"] = tuple(v for v in bounds["in"] if v in listed) if "in" in bounds else listed
    return bounds


def _narrow(bounds: dict[str, Any], side: str, value: float, exclusive: bool,
            tighter: Callable[[float, float], bool]) -> None:
    """Keep the tighter of ``bounds[side]`` and ``value`` (several checks on one column all hold)."""
    if side not in bounds or tighter(value, bounds[side]) or (value == bounds[side] and exclusive):
        bounds[side], bounds[f"{side}_exclusive"] = value, exclusive


def _number_literal(text: str) -> float:
    number = float(text)
    return int(number) if number.is_integer() else number


def _listed(text: str) -> tuple[Any, ...] | None:
    """``'a', 'it''s', 3`` as ('a', "it's", 3); None for anything else (an expression)."""
    values: list[Any] = []
    position = 0
    while position < len(text):
        match = _LISTED.match(text, position)
        if match is None or match.end() == position:
            return None
        quoted, number = match.groups()
        values.append(quoted.replace("''", "'") if quoted is not None else _number_literal(number))
        position = match.end()
    return tuple(values) or None


def _tighter(a: float | None, b: float | None, pick: Callable[[float, float], float]) -> float | None:
    if a is None or b is None:
        return b if a is None else a
    return pick(a, b)


def validate(data: Any, model: type[peewee.Model], *, partial: bool = False) -> dict[str, Any]:
    """Return the clean, typed fields of ``data`` or raise one ValidationError listing all
    problems. ``partial`` (for PATCH) makes every field optional."""
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object",
                              error=[{"field": "", "message": f"expected an object, got {_json_type(data)}"}])
    rules = rules_for(model)
    problems = [{"field": k, "message": "unknown field"} for k in data if k not in rules]
    clean: dict[str, Any] = {}
    for name, rule in rules.items():
        if name not in data:
            if rule.required and not partial:
                problems.append({"field": name, "message": "is required"})
            continue
        try:
            clean[name] = check(rule, data[name])
        except ValueError as exc:
            problems.append({"field": name, "message": str(exc)})
    if partial and not clean and not problems:
        problems.append({"field": "", "message": "give at least one field to change"})
    if problems:
        raise ValidationError("invalid request body", error=problems)
    return clean


def check(rule: Rule, value: Any) -> Any:
    """One value against one rule; raises ValueError with a message for the client."""
    if value is None:
        if rule.nullable:
            return None
        raise ValueError("must not be null")
    value = _decimal(rule, value) if rule.kind == "decimal" else _CONVERT[rule.kind](value)
    if rule.max_length is not None and isinstance(value, str) and len(value) > rule.max_length:
        raise ValueError(f"must be at most {rule.max_length} characters")
    if rule.min_length is not None and isinstance(value, str) and len(value) < rule.min_length:
        raise ValueError(f"must be {rule.min_length} characters (the column pads shorter text with spaces)")
    if rule.kind in ("integer", "number", "decimal"):
        _check_range(rule, value)
    if rule.choices is not None and value not in rule.choices:
        raise ValueError("must be one of " + ", ".join(map(str, rule.choices)))
    return value


def _check_range(rule: Rule, value: float | decimal.Decimal) -> None:
    if rule.minimum is not None and (value < rule.minimum or (rule.exclusive_minimum and value == rule.minimum)):
        raise ValueError(f"must be {'>' if rule.exclusive_minimum else '>='} {rule.minimum}")
    if rule.maximum is not None and (value > rule.maximum or (rule.exclusive_maximum and value == rule.maximum)):
        raise ValueError(f"must be {'<' if rule.exclusive_maximum else '<='} {rule.maximum}")


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer, got {_json_type(value)}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number, got {_json_type(value)}")
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("must be a finite number")
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {_json_type(value)}")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800"): valid JSON, not storable text
        raise ValueError("must be valid Unicode text") from None
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {_json_type(value)}")
    return value


def _datetime(value: Any) -> datetime.datetime:
    """In UTC, without a zone: what peewee's ``DateTimeField`` column (``timestamp``) holds and
    replies read back with a ``Z`` (asyncpg refuses an aware value for such a column)."""
    try:
        moment = datetime.datetime.fromisoformat(_string(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be an ISO 8601 date-time") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return moment


def _date(value: Any) -> datetime.date:
    try:
        return datetime.date.fromisoformat(_string(value))
    except ValueError:
        raise ValueError("must be an ISO 8601 date (YYYY-MM-DD)") from None


def decimal_pattern(rule: Rule) -> str:
    """The text of a decimal the column holds exactly: at most ``max_digits - decimal_places``
    digits before the point, ``decimal_places`` after it; no sign when the field's checks
    allow no negative value (``Check("amount >= 0")``), and no zero either for ``> 0``."""
    whole, places = rule.integer_digits or 0, rule.places or 0
    sign = "" if rule.minimum is not None and rule.minimum >= 0 else "-?"
    not_zero = "(?!0*(\\.0*)?$)" if rule.minimum == 0 and rule.exclusive_minimum else ""
    before = f"[0-9]{{1,{whole}}}" if whole else "0"
    after = f"(\\.[0-9]{{1,{places}}})?" if places else ""
    return f"^{not_zero}{sign}{before}{after}$"


def _decimal(rule: Rule, value: Any) -> decimal.Decimal:
    """Exact numbers travel as text (``"12.50"``): a JSON number is a binary float to most
    parsers, and the column would round what it cannot hold."""
    if not isinstance(value, str):
        raise ValueError(f"must be a decimal number written as a string (\"12.50\"), got {_json_type(value)}")
    if not re.fullmatch(decimal_pattern(replace(rule, minimum=None)), value):
        whole, places = rule.integer_digits or 0, rule.places or 0
        raise ValueError(f"must be a decimal number with at most {whole} digits before the point "
                         f"and {places} after it, got {value[:40]!r}")
    return decimal.Decimal(value)


#: A time of day as PostgreSQL's ``time`` holds it and replies give it back: no offset.
TIME_PATTERN = "^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?$"


def _time(value: Any) -> datetime.time:
    text = _string(value)
    if not re.fullmatch(TIME_PATTERN, text):
        raise ValueError("must be a time of day, HH:MM:SS (fractions of a second allowed, no offset)")
    return datetime.time.fromisoformat(text)


def _uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(_string(value))
    except ValueError:
        raise ValueError("must be a UUID") from None


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "integer": _integer,
    "number": _number,
    "string": _string,
    "boolean": _boolean,
    "date-time": _datetime,
    "date": _date,
    "time": _time,
    "uuid": _uuid,
    "json": lambda value: value,
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def json_body(request: Request) -> Any:
    """The parsed JSON body; malformed JSON or a missing body is a 400, another media type a
    415 (no ``content-type`` at all is read as JSON), never a 500."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media and media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise ApiError("the body must be JSON (content-type: application/json)", status_code=415,
                       error=[{"field": "", "message": f"content-type {media} is not JSON"}])
    if not request.body:
        raise ValidationError("a JSON body is required", error=[{"field": "", "message": "empty body"}])
    try:
        return request.json
    except Exception as exc:
        raise ValidationError("the body is not valid JSON",
                              error=[{"field": "", "message": _parse_error(exc)}]) from None


def _parse_error(exc: Exception) -> str:
    """The parser's reason, when it is one a client can act on (Sanic's BadRequest wraps it)."""
    if "digits" in str(exc.__context__ or exc):  # Python's limit on integer size (CVE-2020-10735)
        return "a number has too many digits"
    return "malformed JSON"
