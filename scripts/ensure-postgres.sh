#!/usr/bin/env bash
# Sourced by scripts/test.sh: makes TEST_DATABASE_URL point at a Postgres the tests may use.
#   1. TEST_DATABASE_URL already set: used as is.
#   2. A server answering on 127.0.0.1:5432: used with user postgres (trust auth expected).
#   3. Postgres binaries installed (initdb, pg_ctl): a throwaway cluster is started on a free
#      port in a temporary folder and stopped when the calling script exits.
#   4. None of these: stop with the exact install line.

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

if [ -n "${TEST_DATABASE_URL:-}" ]; then
  echo "postgres: using TEST_DATABASE_URL" >&2
elif port_open 127.0.0.1 5432; then
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
  echo "postgres: using the server on 127.0.0.1:5432" >&2
else
  pg_bin=""
  if command -v initdb >/dev/null 2>&1; then
    pg_bin="$(dirname "$(command -v initdb)")"
  else
    pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  fi
  if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
    cat >&2 <<'MSG'
No Postgres found: nothing answers on 127.0.0.1:5432, TEST_DATABASE_URL is unset, and initdb is
not installed. Install the server binaries and run again:
    Debian/Ubuntu:  sudo apt-get install -y postgresql
    macOS:          brew install postgresql@16
(or point TEST_DATABASE_URL at a server where the tests may create databases).
MSG
    exit 1
  fi
  pg_dir="$(mktemp -d -t secops-pg.XXXXXX)"
  # initdb refuses to run as root: run the cluster as the postgres user when we are root.
  run_pg() { if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  if [ "$(id -u)" = "0" ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$pg_dir"
  fi
  # Clean up on any exit from here on, including a failed start.
  trap 'run_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$pg_dir"' EXIT
  pg_port=55432
  while port_open 127.0.0.1 "$pg_port"; do pg_port=$((pg_port + 1)); done
  run_pg "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres >"$pg_dir/initdb.log" 2>&1 \
    || { cat "$pg_dir/initdb.log" >&2; exit 1; }
  run_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
    -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null \
    || { cat "$pg_dir/server.log" >&2; exit 1; }
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
  echo "postgres: started a throwaway cluster on port $pg_port (stopped on exit)" >&2
fi
