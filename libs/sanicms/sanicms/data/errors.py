"""Driver failures as the library's errors: a lost database is a 503, a duplicate a 409, a
broken rule of the data a 400, never a traceback; and which failures mean the connection
they came from is gone."""

from __future__ import annotations

import re
from typing import Any

import asyncpg

from .._compat.asyncpg import ClientDataError
from ..errors import BadRequest, Conflict, ErrorCode, ServiceUnavailable

# Failures that mean "no database right now" rather than "bad statement". Whatever the
# connection was doing when one of these came, it is not trusted again: it is terminated.
UNAVAILABLE = (
    asyncpg.exceptions.PostgresConnectionError,  # 08xxx, ConnectionDoesNotExistError included
    asyncpg.exceptions.OperatorInterventionError,  # admin/crash shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections
    asyncpg.InterfaceError,  # "connection is closed", "another operation is in progress"
    # The protocol's own state broken by a connection cut mid-operation, e.g. "cannot switch
    # to state 15; another operation (2) is in progress" after a crash.
    asyncpg.exceptions.InternalClientError,
    ConnectionError,
    OSError,  # asyncio.TimeoutError included
)
# Raised by asyncpg before it writes anything: "connection is closed", "another operation is
# in progress", "cannot switch to state N". (A connection lost once a message is out is a
# ConnectionDoesNotExistError, an OSError or a timeout.)
NOT_SENT = (asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError)
# asyncpg's client-side DataError: the client's fault. An InterfaceError too, so it is asked
# about before UNAVAILABLE. (A value asyncpg cannot encode, an id beyond int4 say, is the
# public asyncpg.exceptions.DataError, SQLSTATE 22000's class: the last case of translate.)
CLIENT_DATA_ERROR = ClientDataError
DB_ERRORS = (asyncpg.PostgresError, *UNAVAILABLE)

#: What every request refused because the database is gone is told (503, code 50301).
UNAVAILABLE_MESSAGE = "the database is unavailable, retry shortly"
#: ... and one whose COMMIT was cut off: nobody can say whether it was saved.
COMMIT_UNKNOWN_MESSAGE = ("the database connection was lost during commit: "
                          "the change may or may not have been saved")


class DatabaseUnavailable(ServiceUnavailable):
    """The unified 503 (``50301``) of a request the database could not serve. The outage
    behind it is logged once (:class:`~sanicms.data.outage.OutageTracker`), so the error
    handler keeps it at DEBUG."""

    logged = True

    def __init__(self, message: str = UNAVAILABLE_MESSAGE, *, error: Any = None) -> None:
        super().__init__(message, code=ErrorCode.DATABASE_UNAVAILABLE, error=error)
        self.counted = False  # in the outage's count of refused requests


def translate(exc: BaseException) -> BaseException:
    """Driver error -> API error; unknown ones pass through as 500s (and are logged)."""
    if isinstance(exc, CLIENT_DATA_ERROR):
        return BadRequest("a value is out of range or of the wrong type")
    if isinstance(exc, UNAVAILABLE):
        return DatabaseUnavailable()
    if isinstance(exc, asyncpg.exceptions.UniqueViolationError):
        return Conflict("a record with the same unique value already exists",
                        error={"constraint": exc.constraint_name})
    # A 400's `error` lists problems by field, as the input checks' do (the spec's ValidationError).
    if isinstance(exc, asyncpg.exceptions.ForeignKeyViolationError) and "still referenced" in (exc.detail or ""):
        return Conflict("the record is still referenced by others", error={"constraint": exc.constraint_name})
    if isinstance(exc, asyncpg.exceptions.ForeignKeyViolationError):
        return BadRequest("a referenced record does not exist", error=[
            {"field": _key_column(exc), "message": f"no such record ({exc.constraint_name})"}])
    if isinstance(exc, asyncpg.exceptions.CheckViolationError):
        return BadRequest("a value breaks a rule of the data", error=[
            {"field": "", "message": f"breaks the rule {exc.constraint_name}"}])
    if isinstance(exc, asyncpg.exceptions.NotNullViolationError):
        return BadRequest("a required value is missing",
                          error=[{"field": exc.column_name or "", "message": "required"}])
    if isinstance(exc, asyncpg.exceptions.DataError):
        return BadRequest("a value is out of range or of the wrong type")
    return exc


def _key_column(exc: asyncpg.exceptions.ForeignKeyViolationError) -> str:
    """The column of a foreign key PostgreSQL names in its detail: ``Key (city_id)=(7) is not
    present in table "cities".`` (the value itself is not repeated back)."""
    found = re.match(r"Key \(([^)]*)\)=", exc.detail or "")
    return found.group(1) if found else ""


def connection_lost(exc: BaseException) -> bool:
    """Does ``exc`` (a driver error, or the API error made of one) mean the connection it
    came from is gone or in an unknown state?"""
    if isinstance(exc, DatabaseUnavailable):
        return True
    return isinstance(exc, UNAVAILABLE) and not isinstance(exc, CLIENT_DATA_ERROR)


def describe(exc: BaseException) -> str:
    """The driver's words, on one line and short (they never quote statement values here:
    these are connection-level errors)."""
    text = " ".join(str(exc).split())
    return (text[:200] + "...") if len(text) > 200 else (text or "no detail")
