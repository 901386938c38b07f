#!/bin/bash
# Run a bench script on a clean export of a commit, so that work in progress in the tree
# cannot change what is measured (the servers import the exported library and services,
# through PYTHONPATH, ahead of the editable installs in .venv).
#
#   bench/at_commit.sh [REV] SCRIPT [ARGS...]     e.g. bench/at_commit.sh HEAD run.py --only memory
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rev=HEAD
if [[ $# -gt 0 && $1 != *.py ]]; then rev=$1; shift; fi
src=$(mktemp -d /tmp/sanicms-bench-XXXXXX)
git -C "$root" archive "$rev" | tar -x -C "$src"
export PYTHONPATH="$src/libs/sanicms$(printf ':%s' "$src"/services/*)"
echo "measuring $(git -C "$root" rev-parse --short "$rev") from $src" >&2
cd "$src/bench" && exec "$root/.venv/bin/python" "$@"
