"""The role service's tests: a package, so that `python -m unittest` run in services/role finds them."""
