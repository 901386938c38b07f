"""The original design's import path for the test helpers: ``from sanicms.tests import
APITestCase``. They live in :mod:`sanicms.testing`."""

from .testing import APITestCase, LiveServer, RouteClient, ServiceMocks

__all__ = ["APITestCase", "LiveServer", "RouteClient", "ServiceMocks"]
