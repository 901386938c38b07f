#!/bin/sh
# Container entry point (works outside Docker too): migrate, then serve.
#   SERVICE=city   which service (city, role, user)
#   MIGRATE=0      skip the migration step (when a Job or init container runs it)
# "exec" hands PID 1 to the server, so SIGTERM reaches Sanic and shuts it down gracefully.
set -eu
: "${SERVICE:?set SERVICE to city, role or user}"
module="${SERVICE}_service"
command="${1:-serve}"

case "$command" in
  serve)
    if [ "${MIGRATE:-1}" != "0" ]; then
      python -m "$module" migrate
    fi
    exec python -m "$module" serve
    ;;
  *)
    exec python -m "$module" "$@"
    ;;
esac
