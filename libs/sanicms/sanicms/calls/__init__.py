"""Calls to other services: one keep-alive client per neighbour (``client``), with retries and
a circuit breaker (``resilience``)."""
