-- BatchPredict: predict() over many rows runs one forward pass per batch.
-- Every query shape gives the same rows with batching on and off (values
-- within 1e-5 relative, classes equal), and the plan shows the node.
LOAD 'pg_infer';   -- the planner hook is installed when the library loads

CREATE TABLE bt AS
SELECT i AS id, i % 7 AS grp, array_agg(((i * 37 + p * 11) % 256)::real ORDER BY p) AS features
FROM generate_series(1, 3000) i, generate_series(1, 784) p GROUP BY i;
CREATE TABLE bt_small AS
SELECT i AS id, ARRAY[i % 5, (i * 3) % 7, -(i % 4)]::real[] AS f FROM generate_series(1, 2500) i;
ANALYZE bt, bt_small;

-- runs query q (columns: id, then real[] or int values) with batching on and
-- off; reports whether it was batched and whether the results agree
CREATE FUNCTION agree(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  line text;
  batched boolean := false;
  rows_on bigint;
  rows_off bigint;
  mismatches bigint;
BEGIN
  PERFORM set_config('pg_infer.batching', 'on', true);
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
    batched := batched OR line LIKE '%BatchPredict%';
  END LOOP;
  EXECUTE 'CREATE TEMP TABLE r_on AS ' || q;
  PERFORM set_config('pg_infer.batching', 'off', true);
  EXECUTE 'CREATE TEMP TABLE r_off AS ' || q;
  PERFORM set_config('pg_infer.batching', 'on', true);
  SELECT count(*) INTO rows_on FROM r_on;
  SELECT count(*) INTO rows_off FROM r_off;
  EXECUTE $m$
    SELECT count(*) FROM (SELECT row_number() OVER () AS n, * FROM r_on) a
    FULL JOIN (SELECT row_number() OVER () AS n, * FROM r_off) b USING (n)
    WHERE NOT values_agree(to_jsonb(a) - 'n', to_jsonb(b) - 'n')$m$ INTO mismatches;
  DROP TABLE r_on, r_off;
  RETURN format('%s, %s rows, %s', CASE WHEN batched THEN 'batched' ELSE 'per row' END,
                rows_on, CASE WHEN rows_on = rows_off AND mismatches = 0 THEN 'same results'
                              ELSE mismatches || ' rows differ' END);
END $$;

-- two rows as jsonb agree: numbers within 1e-5 relative, anything else equal
CREATE FUNCTION values_agree(a jsonb, b jsonb) RETURNS boolean LANGUAGE sql AS $$
  SELECT a IS NOT NULL AND b IS NOT NULL AND
    (SELECT bool_and(CASE
        WHEN jsonb_typeof(x.value) = 'number'
          THEN abs((x.value)::numeric - (y.value)::numeric) <= 1e-5 * greatest(1, abs((y.value)::numeric))
        ELSE x.value = y.value END)
     FROM jsonb_path_query(a, 'strict $.**') WITH ORDINALITY x(value, i)
     JOIN jsonb_path_query(b, 'strict $.**') WITH ORDINALITY y(value, j) ON i = j
     WHERE jsonb_typeof(x.value) NOT IN ('object', 'array'))
$$;

-- the comparison can fail
SELECT values_agree('{"a": [1.0, 2]}', '{"a": [1.000001, 2]}') AS close_enough,
       values_agree('{"a": [1.0, 2]}', '{"a": [1.0001, 2]}') AS too_far,
       values_agree('{"a": 1}', '{"a": 2}') AS other_class,
       values_agree('{"a": 1}', NULL) AS missing_row;

-- plain SELECT, both functions, several calls, two models
SELECT agree($$SELECT id, predict('mnist', features) FROM bt$$);
SELECT agree($$SELECT id, predict_class('mnist', features) FROM bt$$);
SELECT agree($$SELECT id, predict_class('mnist', features) AS c, predict('mnist', features) AS p,
                      predict_class('mnist_copy', features) AS c2 FROM bt$$);
SELECT agree($$SELECT b.id, predict('tiny', f) AS p2, predict('tiny', f, 1) AS p1,
                      predict_class('tiny', ARRAY[f[1] * 2, f[2], f[3]]) AS c FROM bt_small b$$);
-- expressions around and inside the call, and the features column itself
SELECT agree($$SELECT id, features[1:3] AS head, predict_class('mnist', features) FROM bt$$);
SELECT agree($$SELECT id, (predict('mnist', features))[3] * 2 AS third,
                      predict_class('mnist', features) = grp AS hit FROM bt$$);
SELECT agree($$SELECT id, predict_class('tiny', ARRAY[f[1] + 1, f[2], f[3]]) FROM bt_small$$);
-- WHERE, ORDER BY, LIMIT, OFFSET
SELECT agree($$SELECT id, predict('mnist', features) FROM bt WHERE grp = 3$$);
SELECT agree($$SELECT id, predict_class('mnist', features) AS c FROM bt ORDER BY c, id$$);
SELECT agree($$SELECT id, predict('mnist', features) FROM bt ORDER BY id LIMIT 10 OFFSET 5$$);
SELECT agree($$SELECT id, predict('mnist', features) FROM bt LIMIT 7$$);
-- predictions in WHERE: the first qual that calls predict is batched; quals
-- before it run first, later calls run per row on the rows that reach them,
-- and a call equal to a batched one reads its prediction
SELECT agree($$SELECT id FROM bt WHERE predict_class('mnist', features) = 3$$);
SELECT agree($$SELECT id, predict('mnist', features) FROM bt
               WHERE grp = 2 AND predict_class('mnist', features) > 4$$);
SELECT agree($$SELECT id, predict_class('mnist', features) FROM bt
               WHERE (predict('mnist', features))[4] > (predict('mnist', features))[3]$$);
SELECT agree($$SELECT id FROM bt WHERE predict_class('mnist', features) = 3
               AND predict_class('mnist_copy', features) = grp$$);
SELECT agree($$SELECT id FROM bt WHERE grp = 1 OR predict_class('mnist', features) = 2$$);
SELECT agree($$SELECT 1 AS id, count(*) FROM bt WHERE predict_class('mnist', features) = 7$$);
SELECT agree($$SELECT id FROM bt WHERE predict_class('mnist', features) = 3 ORDER BY id LIMIT 4$$);
SELECT agree($$SELECT a.id FROM bt a JOIN bt_small s ON s.id = a.id
               WHERE predict_class('mnist', a.features) > predict_class('tiny', s.f)$$);
SELECT agree($$SELECT id, (SELECT count(*) FROM bt_small s WHERE predict_class('tiny', s.f) = b.grp % 3)
               FROM bt b WHERE id < 4$$);
-- joins, subqueries, CTEs
SELECT agree($$SELECT a.id, predict_class('mnist', a.features), predict('tiny', s.f)
               FROM bt a JOIN bt_small s ON s.id = a.id$$);
SELECT agree($$SELECT id, c FROM (SELECT id, predict_class('mnist', features) AS c FROM bt) s WHERE c > 2$$);
SELECT agree($$WITH scored AS MATERIALIZED (SELECT id, predict('tiny', f) AS p FROM bt_small)
               SELECT id, p FROM scored WHERE p[1] > 3$$);
SELECT agree($$SELECT grp AS id, count(*), sum(predict_class('mnist', features)) FROM bt GROUP BY grp$$);
SELECT agree($$SELECT 1 AS id, sum(predict_class('mnist', features)),
                      avg((predict('tiny', ARRAY[id % 3, 1, 2]))[2]) FROM bt$$);
SELECT agree($$SELECT id, (SELECT predict_class('tiny', f) FROM bt_small s WHERE s.id = b.id) FROM bt b WHERE id < 50$$);
-- records
SELECT agree($$SELECT id, predict('tiny', ROW(f[1], f[2], f[3])) FROM bt_small$$);
-- NULL features
SELECT agree($$SELECT id, predict('tiny', CASE WHEN id % 3 = 0 THEN NULL ELSE f END) FROM bt_small$$);

-- EXPLAIN shows the node, its models, batch size and device (the plans below
-- name this backend's CPU engine, whether or not an inference worker serves)
SET pg_infer.device = 'cpu';
EXPLAIN (COSTS OFF) SELECT id, predict_class('mnist', features) FROM bt;
EXPLAIN (COSTS OFF) SELECT sum(predict_class('mnist', features)) FROM bt;
-- ... and with ANALYZE, the batches: sizes grow 1, 2, 4, ..., 256, then stay
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT sum(predict_class('mnist', features)) FROM bt WHERE id <= 2047;
-- LIMIT computes few rows beyond what it returns
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT id, predict_class('mnist', features) FROM bt LIMIT 5;
-- a predict qual: the node filters after its forward passes, cheaper quals
-- stay below it
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT count(*) FROM bt WHERE predict_class('mnist', features) = 3 AND grp = 5;
EXPLAIN (COSTS OFF)
SELECT id, predict('mnist', features) FROM bt WHERE predict_class('mnist', features) = 3;
-- ORDER BY ... LIMIT: predict runs after the top-N sort, per row, for the
-- rows returned (BatchPredict would hide the LIMIT from the sort)
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT id, predict_class('mnist', features) FROM bt ORDER BY grp, id LIMIT 3;

-- INSERT ... SELECT, CREATE TABLE AS, UPDATE
CREATE TABLE scores_on (id int, class int);
CREATE TABLE scores_off (id int, class int);
INSERT INTO scores_on SELECT id, predict_class('mnist', features) FROM bt;
SET pg_infer.batching = off;
INSERT INTO scores_off SELECT id, predict_class('mnist', features) FROM bt;
RESET pg_infer.batching;
SELECT count(*), count(*) FILTER (WHERE a.class = b.class) AS same FROM scores_on a JOIN scores_off b USING (id);
EXPLAIN (COSTS OFF) INSERT INTO scores_on SELECT id, predict_class('mnist', features) FROM bt;
CREATE TABLE ctas_on AS SELECT id, predict('tiny', f) AS p FROM bt_small;
SET pg_infer.batching = off;
CREATE TABLE ctas_off AS SELECT id, predict('tiny', f) AS p FROM bt_small;
RESET pg_infer.batching;
SELECT count(*), bool_and(a.p = b.p) AS same FROM ctas_on a JOIN ctas_off b USING (id);
ALTER TABLE bt ADD COLUMN class int;
EXPLAIN (COSTS OFF) UPDATE bt SET class = predict_class('mnist', features);
UPDATE bt SET class = predict_class('mnist', features);
SELECT count(*), count(*) FILTER (WHERE b.class = s.class) AS same FROM bt b JOIN scores_off s USING (id);
-- UPDATE and DELETE with WHERE predict
EXPLAIN (COSTS OFF) UPDATE bt SET class = -1 WHERE predict_class('mnist', features) = 3;
UPDATE bt SET class = -1 WHERE predict_class('mnist', features) = 3;
SELECT count(*) FILTER (WHERE b.class = -1) AS updated, count(*) FILTER (WHERE s.class = 3) AS expected
FROM bt b JOIN scores_off s USING (id);
DELETE FROM scores_on USING bt WHERE bt.id = scores_on.id AND predict_class('mnist', bt.features) = 3;
SELECT count(*) AS kept, (SELECT count(*) FROM scores_off WHERE class <> 3) AS expected FROM scores_on;

-- parallel query: each worker batches its own rows
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT sum(predict_class('mnist', features)) FROM bt;
SELECT agree($$SELECT 1 AS id, sum(predict_class('mnist', features) * id) FROM bt$$);
EXPLAIN (COSTS OFF) SELECT count(*) FROM bt WHERE predict_class('mnist', features) = 3;
SELECT agree($$SELECT 1 AS id, count(*), sum(id) FROM bt WHERE predict_class('mnist', features) = 3$$);
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

-- per-row evaluation where batching does not apply, with the same results
SELECT agree($$SELECT id, predict_class('tiny', ARRAY[f[1], f[2], random() * 0]) FROM bt_small$$);
SELECT agree($$SELECT id, predict_class('tiny', f), generate_series(1, 2) FROM bt_small WHERE id < 5$$);
SELECT agree($$SELECT id, predict_class(m, features) FROM bt, (VALUES ('mnist'), ('mnist_copy')) v(m) WHERE id < 20$$);
-- calls under CASE, COALESCE, AND/OR or an aggregate FILTER run only for the
-- rows that reach them
SELECT agree($$SELECT id, CASE WHEN id % 2 = 0 THEN predict_class('tiny', f) END AS c FROM bt_small$$);
SELECT agree($$SELECT 1 AS id, sum(predict_class('tiny', f)) FILTER (WHERE id > 10) FROM bt_small$$);
CREATE TABLE mixed AS SELECT * FROM bt_small UNION ALL SELECT 0, '{1,2}';
SELECT count(CASE WHEN array_length(f, 1) = 3 THEN predict('tiny', f) END) FROM mixed;
SELECT expect_error($$SELECT count(predict('tiny', f)) FROM mixed$$);
SELECT count(*) FROM mixed WHERE array_length(f, 1) = 3 AND predict_class('tiny', f) = 1;
SELECT count(*) FROM mixed WHERE array_length(f, 1) <> 3 OR predict_class('tiny', f) = 1;
SELECT expect_error($$SELECT count(*) FROM mixed WHERE predict_class('tiny', f) = 1$$);
DROP TABLE mixed;
BEGIN;
DECLARE c SCROLL CURSOR FOR SELECT id, predict_class('mnist', features) FROM bt ORDER BY id;
FETCH 2 FROM c;
FETCH BACKWARD 1 FROM c;
COMMIT;
SET pg_infer.batching = off;
EXPLAIN (COSTS OFF) SELECT id, predict_class('mnist', features) FROM bt;
RESET pg_infer.batching;

-- a generic plan, where the model and version are parameters, batches too:
-- they are evaluated when the node starts, and again when a rescan changes them
PREPARE by_model(text, int) AS
  SELECT id, predict_class($1, features, $2) AS c FROM bt WHERE id < 50 ORDER BY id;
PREPARE agg(text) AS SELECT count(*), count(predict_class($1, features)), sum(predict_class($1, features)) FROM bt;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE by_model('mnist', 1);
EXPLAIN (COSTS OFF) EXECUTE agg('mnist');
CREATE TEMP TABLE generic_plan AS EXECUTE by_model('mnist', 1);
EXECUTE agg('mnist');
EXECUTE agg('mnist_copy');
EXECUTE agg(NULL);
SET plan_cache_mode = force_custom_plan;
CREATE TEMP TABLE custom_plan AS EXECUTE by_model('mnist', 1);
EXECUTE agg('mnist');
SELECT count(*) AS rows, count(*) FILTER (WHERE g.c IS DISTINCT FROM p.c) AS differ
FROM generic_plan g FULL JOIN custom_plan p USING (id);
RESET plan_cache_mode;
-- a model named by an outer query's column: the subquery's node evaluates it per rescan
EXPLAIN (COSTS OFF) SELECT m, (SELECT sum(predict_class(m, features)) FROM bt) FROM (VALUES ('mnist'), (NULL), ('mnist_copy')) v(m);
SELECT m, (SELECT sum(predict_class(m, features)) FROM bt) FROM (VALUES ('mnist'), (NULL), ('mnist_copy')) v(m);
DEALLOCATE by_model;
DEALLOCATE agg;
DROP TABLE generic_plan, custom_plan;

-- errors are the same as per row
SELECT expect_error($$SELECT predict('tiny', features) FROM bt$$);
SELECT expect_error($$SELECT predict('nosuchmodel', f) FROM bt_small$$);
DROP TABLE bt, bt_small, scores_on, scores_off, ctas_on, ctas_off;
RESET pg_infer.device;
