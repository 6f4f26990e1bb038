-- predict, predict_class, predict_batch: values checked by hand
-- (tiny: y = [[1,2,3],[4,5,6]] x + [0.5,-0.5]).

SELECT predict('tiny', '{1,1,1}'::real[]);          -- active version 2 doubles x
SELECT predict('tiny', '{1,1,1}'::real[], 1);       -- version 1
SELECT predict('tiny', '{1,0,-1}'::real[], 1);
SELECT predict_class('tiny', '{1,0,-1}'::real[], 1);
SELECT predict_class('tiny', '{-1,0,1}'::real[], 1);

-- any numeric array type, any dimensions with the right element count
SELECT predict('tiny', '{1,1,1}'::float8[], 1);
SELECT predict('tiny', ARRAY[1, 1, 1], 1);
SELECT predict('tiny', ARRAY[1.0, 1.0, 1.0], 1);
SELECT predict('tiny', ARRAY[1, 1, 1]::int8[], 1);
SELECT predict('tiny', ARRAY[1, 1, 1]::int2[], 1);
SELECT predict('tiny', '{{1},{1},{1}}'::real[], 1);

-- records: the numeric columns in order, other columns skipped
SELECT predict('tiny', ROW(1, 1, 1), 1);
CREATE TABLE customers (id int, name text, age real, income float8, tenure numeric);
INSERT INTO customers VALUES (1, 'ann', 1, 0, -1);
SELECT predict('tiny', (c.age, c.income, c.tenure), 1) FROM customers c;
SELECT expect_error($$SELECT predict('tiny', c, 1) FROM customers c$$);

-- NULL in, NULL out
SELECT predict('tiny', NULL::real[]) IS NULL AS null_features,
       predict(NULL, '{1,1,1}'::real[]) IS NULL AS null_model,
       predict_class('tiny', NULL::real[]) IS NULL AS null_class;

-- per-row over a table, and the same rows as one batch
CREATE TABLE rows3 (id int, features real[]);
INSERT INTO rows3 VALUES (1, '{1,1,1}'), (2, '{1,0,-1}'), (3, '{0,0,0}'), (4, '{-1,-1,-1}');
SELECT id, predict('tiny', features, 1), predict_class('tiny', features, 1) FROM rows3 ORDER BY id;
SELECT predict_batch('tiny', array_agg(features ORDER BY id), 1) FROM rows3;
SELECT predict_batch('tiny', '{{1,1,1},{1,0,-1}}'::float8[], 1);
SELECT predict_batch('tiny', '{}'::real[]);

-- MNIST: a blank image, and rows scored with INSERT ... SELECT
SELECT predict_class('mnist', array_fill(0::real, ARRAY[28, 28]));
SELECT array_length(predict('mnist', array_fill(0::real, ARRAY[784])), 1);
CREATE TABLE digits AS
SELECT i AS id, array_agg(((i * 37 + p * 11) % 256)::real ORDER BY p) AS features
FROM generate_series(1, 20) i, generate_series(1, 784) p GROUP BY i;
CREATE TABLE scores (id int, class int);
INSERT INTO scores SELECT id, predict_class('mnist', features) FROM digits;
SELECT count(*), min(class) >= 0 AND max(class) <= 9 AS in_range FROM scores;
-- per row equals batched, and mnist equals its copy
SELECT bool_and(s.class = b.class) AS batch_agrees
FROM scores s
JOIN (SELECT id, predict_class('mnist_copy', features) AS class FROM digits) b USING (id);

-- a convolutional model runs through SQL ([8,8,8] in, [8,8,8] out)
SELECT array_length(predict('resblock', array_fill(0.5::real, ARRAY[8, 8, 8])), 1);

-- errors say what was expected and what came
SELECT expect_error($$SELECT predict('tiny', '{1,1}'::real[])$$);
SELECT expect_error($$SELECT predict('mnist', array_fill(0::real, ARRAY[783]))$$);
SELECT expect_error($$SELECT predict('tiny', '{1,NULL,1}'::real[])$$);
SELECT expect_error($$SELECT predict('tiny', '{a,b,c}'::text[])$$);
SELECT expect_error($$SELECT predict('nosuchmodel', '{1,1,1}'::real[])$$);
SELECT expect_error($$SELECT predict('tiny', '{1,1,1}'::real[], 99)$$);
SELECT expect_error($$SELECT predict('tiny', ROW(1, NULL::int, 1))$$);
SELECT expect_error($$SELECT predict_batch('tiny', '{1,1,1}'::real[])$$);
SELECT expect_error($$SELECT predict_batch('tiny', '{{1,1},{1,1}}'::real[])$$);
SELECT expect_error($$SELECT predict('tiny', '{1,1,1}')$$);

-- predict is STABLE and PARALLEL SAFE
SELECT proname, provolatile, proparallel, count(*)
FROM pg_proc WHERE proname IN ('predict', 'predict_class', 'predict_batch')
GROUP BY 1, 2, 3 ORDER BY 1;
