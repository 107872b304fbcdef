#!/usr/bin/env bash
# Start the Docker engine and Postgres, and create the role the tests (and the example worker) log in with over TCP.
set -euo pipefail

if ! docker info >/dev/null 2>&1; then
  nohup dockerd >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start:"; tail -20 /tmp/dockerd.log; exit 1; }
fi
echo "docker engine: $(docker info --format '{{.ServerVersion}}')"

cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2}')
if [ -z "$cluster" ]; then
  pg_createcluster 15 main >/dev/null
  cluster="15 main"
fi
# shellcheck disable=SC2086
pg_ctlcluster $cluster start 2>/dev/null || true
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
pg_isready -h 127.0.0.1
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
