#!/bin/sh
# Entry point of the postgres:16 stand-in (deploy/standins/postgres/Dockerfile).
# As root: make PGDATA the postgres user's, then run again as that user.
# As postgres, on an empty PGDATA: initdb with POSTGRES_USER as superuser and POSTGRES_PASSWORD,
# create POSTGRES_DB, run /docker-entrypoint-initdb.d/*.sql (psql) and *.sh (sh), in name order.
# While it does that the server listens on a private socket only, so pg_isready (the compose
# healthcheck, on the default socket) answers "no response" until the databases exist.
# Then exec postgres, listening on every address, password logins (scram-sha-256) from the network.
set -eu

if [ "${1:-}" = postgres ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA"
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 0700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  user="${POSTGRES_USER:-postgres}"
  db="${POSTGRES_DB:-$user}"
  [ -n "${POSTGRES_PASSWORD:-}" ] || { echo "postgres stand-in: POSTGRES_PASSWORD is not set" >&2; exit 1; }
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA"
  rm -f "$pwfile"
  printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
  printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"

  private=$(mktemp -d)
  pg_ctl -D "$PGDATA" -w -t 60 -o "-c listen_addresses='' -k $private" start
  run_sql() { psql -v ON_ERROR_STOP=1 --no-psqlrc -h "$private" -U "$user" "$@"; }
  if [ "$db" != postgres ]; then
    run_sql -d postgres -c "CREATE DATABASE \"$db\""
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sql) echo "postgres stand-in: running $f"; run_sql -d "$db" -f "$f" ;;
      *.sh) echo "postgres stand-in: running $f"; PGHOST="$private" PGUSER="$user" sh "$f" ;;
      *) if [ -e "$f" ]; then echo "postgres stand-in: ignoring $f"; fi ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w -t 60 stop
  rmdir "$private"
  echo "postgres stand-in: init process complete; ready for start up."
fi

exec "$@"
