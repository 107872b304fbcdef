#!/usr/bin/env bash
# Start the Docker engine and Postgres, and create the role the tests (and the example worker) log in with over TCP.
set -euo pipefail

if ! docker info >/dev/null 2>&1; then
  nohup dockerd >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start:"; tail -20 /tmp/dockerd.log; exit 1; }
fi
echo "docker engine: $(docker info --format '{{.ServerVersion}}')"

# The installed server version decides the cluster (Debian bookworm ships 15, trixie 17): never a hard-coded one.
cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2}')
if [ -z "$cluster" ]; then
  version=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -n | tail -1)
  [ -n "$version" ] || { echo "no Postgres server under /usr/lib/postgresql: install the postgresql package"; exit 1; }
  pg_createcluster "$version" main >/dev/null
  cluster="$version main"
fi
# shellcheck disable=SC2086
status=$(pg_lsclusters --no-header | awk -v c="$cluster" '$1" "$2==c {print $4}')
if [ "$status" != "online" ]; then
  # shellcheck disable=SC2086
  pg_ctlcluster $cluster start || { echo "Postgres $cluster did not start:"; pg_lsclusters; exit 1; }
fi
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
pg_isready -h 127.0.0.1 || { echo "Postgres $cluster does not accept connections on 127.0.0.1:5432"; exit 1; }
su postgres -c "psql -v ON_ERROR_STOP=1 -q" <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'deployverify') THEN
    CREATE ROLE deployverify LOGIN PASSWORD 'deployverify' CREATEDB;
  END IF;
END $$;
SQL
su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname = 'deployverify_test'\"" | grep -q 1 \
  || su postgres -c "createdb -O deployverify deployverify_test"
echo "postgres: $(PGPASSWORD=deployverify psql -h 127.0.0.1 -U deployverify -d deployverify_test -tAc 'show server_version')"
