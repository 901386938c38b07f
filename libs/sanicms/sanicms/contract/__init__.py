"""The API contract: what a route takes and returns (``doc``), the checks that enforce it
(``validation``, ``params``), the shapes behind both (``shapes``), and the OpenAPI document
and Swagger UI built from them (``openapi``)."""
