"""The user service's tests: a package, so that `python -m unittest` run in services/user finds them."""
