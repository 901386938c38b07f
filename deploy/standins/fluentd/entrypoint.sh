#!/bin/sh
# The fluentd stand-in's entry point, doing what the official image's does:
# arguments alone ("-v") are fluentd's; fluentd with no -c/--config reads
# /fluentd/etc/$FLUENTD_CONF, and with no -p/--plugin loads /fluentd/plugins.
set -eu
case "${1:-}" in
  -*) set -- fluentd "$@" ;;
esac
if [ "${1:-}" = fluentd ]; then
  has_config=no has_plugins=no
  for arg in "$@"; do
    case "$arg" in
      -c|--config|--config=*) has_config=yes ;;
      -p|--plugin|--plugin=*) has_plugins=yes ;;
    esac
  done
  [ "$has_config" = yes ] || set -- "$@" -c "/fluentd/etc/${FLUENTD_CONF:-fluent.conf}"
  [ "$has_plugins" = yes ] || set -- "$@" -p /fluentd/plugins
fi
exec "$@"
