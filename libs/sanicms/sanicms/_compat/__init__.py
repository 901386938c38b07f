"""Every access to another library's private names, one module per dependency, each with its reason."""
