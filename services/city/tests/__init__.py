"""The city service's tests: a package, so that `python -m unittest` run in services/city finds them."""
