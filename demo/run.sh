#!/usr/bin/env bash
# The demo: installs the dependencies, builds and installs pg_infer, starts a
# throwaway PostgreSQL, stores the shipped MNIST model, loads the 10,000 MNIST
# test images into a table and predicts them in SQL.  Run as root on Debian 12.
#
#   demo/run.sh            (demo/run.sh --keep leaves the server running)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=/tmp/pg_infer_demo
port=55440

test/install-deps.sh
make -s && make -s install
test/scratch-server.sh start "$dir" "$port" "shared_preload_libraries = 'pg_infer'"
[ "${1:-}" = --keep ] || trap 'test/scratch-server.sh stop "$dir"' EXIT

python3 demo/load_mnist.py --host "$dir" --port "$port"
psql -X -h "$dir" -p "$port" -U postgres <<'SQL'
\echo '-- the model, stored in the database'
SELECT name, version, active, inputs, outputs, parameter_count, weight_bytes FROM pginfer.models;
\echo '-- predict: one forward pass per row'
SELECT id, label, predict_class('mnist', features) AS predicted,
       (SELECT array_agg(round(p::numeric, 2)) FROM unnest(predict('mnist', features)) p) AS logits
FROM digits ORDER BY id LIMIT 5;
\echo '-- accuracy on the 10,000 MNIST test images'
SELECT count(*) AS images,
       sum((predict_class('mnist', features) = label)::int) AS correct,
       round(100.0 * avg((predict_class('mnist', features) = label)::int), 2) AS accuracy_pct
FROM digits;
\echo '-- the plan: one forward pass per batch of rows'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT sum(predict_class('mnist', features)) FROM digits;
\echo '-- batch scoring'
CREATE TABLE scores AS SELECT id, predict_class('mnist', features) AS class FROM digits;
SELECT class, count(*) FROM scores GROUP BY class ORDER BY class;
SQL
if [ "${1:-}" = --keep ]; then
    echo "server left running: psql -h $dir -p $port -U postgres"
fi
