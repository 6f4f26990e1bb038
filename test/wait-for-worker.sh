#!/usr/bin/env bash
# Waits until the scratch server's inference worker serves requests.
#
#   test/wait-for-worker.sh DIR PORT [SECONDS]
#
# Creates pg_infer in a throwaway database to read pginfer.worker, then drops
# that database.  Exits 1 (printing the worker's row) if it is not ready in
# time.
set -euo pipefail

dir=${1:?usage: wait-for-worker.sh DIR PORT [SECONDS]}
port=${2:?usage: wait-for-worker.sh DIR PORT [SECONDS]}
seconds=${3:-30}
PGBIN=${PGBIN:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
psql() { PGOPTIONS="-c client_min_messages=warning" "$PGBIN/psql" -h "$dir" -p "$port" -U postgres -X -q -t -A -v ON_ERROR_STOP=1 "$@"; }

psql -d postgres -c "DROP DATABASE IF EXISTS pg_infer_wait" -c "CREATE DATABASE pg_infer_wait"
psql -d pg_infer_wait -c "CREATE EXTENSION pg_infer"
state=
for _ in $(seq $((seconds * 10))); do
    state=$(psql -d pg_infer_wait -c "SELECT state FROM pginfer.worker")
    [ "$state" = ready ] && break
    sleep 0.1
done
[ "$state" = ready ] || psql -d pg_infer_wait -c "SELECT * FROM pginfer.worker" >&2
psql -d postgres -c "DROP DATABASE pg_infer_wait"
[ "$state" = ready ]
