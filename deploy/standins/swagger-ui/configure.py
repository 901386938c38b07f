"""Swagger UI's swagger-initializer.js from the environment, as the official image's configurator
makes it for the variables docker-compose.yml uses: URLS, a JSON list of {"url", "name"}, and
URLS_PRIMARY_NAME; or URL, one spec. Without them the shipped file (Petstore) is kept.

    python3 configure.py ORIGINAL OUTPUT
"""

import json
import os
import re
import sys


def configured(original: str, environ: dict[str, str]) -> str:
    """``original`` with its ``url: "..."`` line replaced by what the environment asks for."""
    lines = []
    if environ.get("URLS"):
        urls = json.loads(environ["URLS"])
        if not isinstance(urls, list) or not all(isinstance(u, dict) and "url" in u for u in urls):
            raise SystemExit(f"swagger-ui stand-in: URLS must be a JSON list of {{url, name}}: {environ['URLS']!r}")
        lines.append(f"urls: {json.dumps(urls)},")
        if environ.get("URLS_PRIMARY_NAME"):
            lines.append(f'"urls.primaryName": {json.dumps(environ["URLS_PRIMARY_NAME"])},')
    elif environ.get("URL"):
        lines.append(f"url: {json.dumps(environ['URL'])},")
    else:
        return original
    pattern = re.compile(r'^(\s*)url: "[^"]*",\s*$', re.M)
    match = pattern.search(original)
    if match is None:
        raise SystemExit("swagger-ui stand-in: no `url: \"...\",` line in swagger-initializer.js to replace")
    indent = match.group(1)
    return original[:match.start()] + "\n".join(indent + line for line in lines) + original[match.end():]


if __name__ == "__main__":
    source, target = sys.argv[1:3]
    with open(source) as f:
        text = configured(f.read(), dict(os.environ))
    with open(target, "w") as f:
        f.write(text)
