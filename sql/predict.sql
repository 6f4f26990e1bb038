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

-- a double too large for float32 is an error, as with ::real; NaN propagates,
-- and predict_class of scores with a NaN is NULL, per row and batched
SELECT expect_error($$SELECT predict('tiny', '{1e300,1,1}'::float8[])$$);
SELECT expect_error($$SELECT predict('tiny', '{1,1,-1e39}'::numeric[])$$);
SELECT expect_error($$SELECT predict('tiny', ROW(1::float8, 1e300::float8, 1::float8))$$);
SELECT expect_error($$SELECT predict('tiny', '{"x": [1, 1e300, 1]}'::jsonb)$$);
SELECT predict('tiny', '{1,2,3}'::float8[]), predict('tiny', '{1e-50,2,3}'::float8[]);
SELECT predict('tiny', '{NaN,1,1}'::real[]), predict_class('tiny', '{NaN,1,1}'::real[]) IS NULL AS no_class;
SELECT id, predict_class('tiny', f)
FROM (VALUES (1, '{1,1,1}'::real[]), (2, '{NaN,1,1}'), (3, '{-1,-1,-1}')) v(id, f) ORDER BY id;

-- domains over numeric types are their base type, in arrays and records
CREATE DOMAIN nonnegative_real AS real CHECK (VALUE >= 0);
CREATE TABLE domain_rows (a nonnegative_real, label text, b int, c numeric);
INSERT INTO domain_rows VALUES (1, 'x', 2, 3);
SELECT predict('tiny', d) FROM domain_rows d;
SELECT predict('tiny', ROW(a, b, c)) FROM domain_rows;
SELECT predict('tiny', ARRAY[1, 2, 3]::nonnegative_real[]);
DROP TABLE domain_rows;
DROP DOMAIN nonnegative_real;

-- errors about ROW(...) fields name the columns they come from
CREATE TABLE named_rows (id int, age int, income float8, tenure int);
INSERT INTO named_rows VALUES (1, 30, 1e300, 2), (2, 40, NULL, 3);
SELECT expect_error($$SELECT predict('tiny', ROW(age, income, tenure)) FROM named_rows WHERE id = 1$$);
SELECT expect_error($$SELECT predict('tiny', ROW(n.age, n.income, 1)) FROM named_rows n WHERE id = 2$$);
SELECT expect_error($$SELECT (SELECT predict_class('tiny', ROW(o.age, n.income, o.tenure)) FROM named_rows n WHERE n.id = 2)
                      FROM named_rows o$$);
DROP TABLE named_rows;

-- predict is STABLE and PARALLEL SAFE
SELECT proname, provolatile, proparallel, count(*)
FROM pg_proc WHERE proname IN ('predict', 'predict_class', 'predict_batch')
GROUP BY 1, 2, 3 ORDER BY 1;
