#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 with trust authentication and a
# database named `test`, installing and starting one on Debian when needed. Exits non-zero when
# that is impossible, so the PostgreSQL leg is never skipped silently.
set -euo pipefail

HOST=127.0.0.1 PORT=5432

ready() { command -v pg_isready >/dev/null && pg_isready -q -h "$HOST" -p "$PORT"; }
as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }

if ! ready; then
  if [ ! -d /etc/postgresql ] || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "ensure-postgres: installing PostgreSQL from Debian's packages" >&2
    [ "$(id -u)" = 0 ] || { echo "ensure-postgres: need root to install postgresql" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  # Tests connect over loopback as `postgres` without a password.
  if ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  echo "ensure-postgres: starting cluster $version/main" >&2
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  for _ in $(seq 1 30); do ready && break; sleep 1; done
fi

ready || { echo "ensure-postgres: PostgreSQL is not reachable on $HOST:$PORT" >&2; exit 1; }
if ! psql -h "$HOST" -p "$PORT" -U postgres -d test -Atc 'SELECT 1' >/dev/null 2>&1; then
  as_postgres "createdb -h $HOST -p $PORT test" || psql -h "$HOST" -p "$PORT" -U postgres -d postgres -c 'CREATE DATABASE test'
fi
psql -h "$HOST" -p "$PORT" -U postgres -d test -Atc 'SELECT 1' >/dev/null
echo "postgres://postgres@$HOST:$PORT/test"
