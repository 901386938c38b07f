"""Settings: one frozen value per service, made of typed parts (database, clients, tracing...).

Every setting has one UPPER_CASE name, declared once on its field with its default, bounds
and a line of documentation. Resolution order, later wins:

  1. the field's default,
  2. the service's settings module (``SANIC_CONFIG_MODULE`` or the service's default), a
     Django-style module of UPPER_CASE names,
  3. environment variables of the same names, converted to the field's type,
  4. ``overrides`` (tests use them instead of changing ``os.environ``).

Types, bounds and choices are checked from the fields, so ``PORT=abc`` stops start-up with one
line naming ``PORT``. Parts go to the code that needs them: ``Database.from_settings`` reads
``settings.database``, and so on. Names the library does not know (a service's own) are kept
in ``settings.extra``, typed like their value in the settings module; a service that wants
typed fields of its own subclasses :class:`Settings` with another part and passes ``cls=``.

Modules: ``parts`` (the settings dataclasses), ``schema`` (what a field declares, its type
from ``typing.get_type_hints``, a value checked against it), ``loader`` (the settings module,
the environment, coercion) and ``reference`` (``python -m sanicms settings``).
"""

from .loader import CONFIG_MODULE_ENV, coerce, load_settings, module_settings
from .parts import (
    ASYMMETRIC_ALGORITHMS,
    LOG_FORMATS,
    LOG_LEVELS,
    SYMMETRIC_ALGORITHMS,
    TRANSPORTS,
    ApiSettings,
    AuthSettings,
    ClientSettings,
    DatabaseSettings,
    HttpSettings,
    LoggingSettings,
    MetricsSettings,
    ServiceSettings,
    Settings,
    TracingSettings,
)
from .reference import reference
from .schema import ConfigError, S, check_url, service_url_setting, setting

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "CONFIG_MODULE_ENV",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "SYMMETRIC_ALGORITHMS",
    "TRANSPORTS",
    "ApiSettings",
    "AuthSettings",
    "ClientSettings",
    "ConfigError",
    "DatabaseSettings",
    "HttpSettings",
    "LoggingSettings",
    "MetricsSettings",
    "S",
    "ServiceSettings",
    "Settings",
    "TracingSettings",
    "check_url",
    "coerce",
    "load_settings",
    "module_settings",
    "reference",
    "service_url_setting",
    "setting",
]
