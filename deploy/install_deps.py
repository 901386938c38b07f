"""Install the third-party dependencies named in pyproject files (not the projects).

Used by the Dockerfile so that the dependency layer depends on pyproject.toml only.
"""

import subprocess
import sys
import tomllib


def main(paths: list[str]) -> None:
    deps: list[str] = []
    for path in paths:
        with open(path, "rb") as f:
            deps += tomllib.load(f)["project"].get("dependencies", [])
    deps = [d for d in deps if not d.startswith("sanicms")]
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--no-cache-dir", *deps])


if __name__ == "__main__":
    main(sys.argv[1:])
