-- create_model: versions, the models view, options, weights in the database.
\getenv datadir PG_INFER_TESTDATA

SELECT create_model('tiny', graph, weights, description => 'dense 3 to 2')
FROM tiny_graph, tiny_weights;

-- a second create of the same name is version 2, and becomes active
SELECT create_model('tiny', graph, weights, '{"input_scale": 2}', 'scaled inputs')
FROM tiny_graph, tiny_weights;

SELECT name, version, active, inputs, outputs, parameter_count, weight_bytes,
       description, options, created_by = current_user AS by_me
FROM pginfer.models ORDER BY name, version;

-- weights are stored in the database
SELECT m.name, c.version, c.chunk_no, length(c.data) AS bytes
FROM pginfer.model_weight_chunk c JOIN pginfer.model m USING (model_id)
ORDER BY 1, 2, 3;
SELECT weights = (SELECT string_agg(data, ''::bytea ORDER BY chunk_no)
                  FROM pginfer.model_weight_chunk WHERE version = 1) AS weights_round_trip
FROM tiny_weights;

-- per-feature preprocessing: x * scale + shift
SELECT create_model('tiny_shifted', graph, weights,
                    '{"input_scale": [1, 0, 2], "input_shift": -1}')
FROM tiny_graph, tiny_weights;
SELECT predict('tiny_shifted', '{1,5,2}'::real[]);

-- F16 weights are widened at load: 1, 2, ..., 6, 0.5, -0.5 in half precision
SELECT create_model('tiny_f16', graph,
       safetensors('{"w":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},'
                   '"b":{"dtype":"F16","shape":[2],"data_offsets":[12,16]},'
                   '"__metadata__":{"format":"pt"}}',
                   '\x003c00400042004400450046003800b8'::bytea))
FROM tiny_graph;
SELECT predict('tiny_f16', '{1,1,1}'::real[]);

-- the shipped MNIST model, from files on the server
SELECT create_model_from_files('mnist', :'datadir' || '/mnist/model.json',
                               :'datadir' || '/mnist/model.safetensors',
                               '{"input_scale": 0.00392156862745098}', 'MNIST MLP 784-128-10');
SELECT name, version, inputs, outputs, parameter_count, weight_bytes
FROM pginfer.models WHERE name = 'mnist';
-- the bytea variant stores the same model
SELECT create_model('mnist_copy', pg_read_file(:'datadir' || '/mnist/model.json')::jsonb,
                    pg_read_binary_file(:'datadir' || '/mnist/model.safetensors'),
                    '{"input_scale": 0.00392156862745098}');

-- the same at int8: quantized weights, rows quantized as they come; the view shows the precision
SELECT create_model('mnist_int8', pg_read_file(:'datadir' || '/mnist/model.json')::jsonb,
                    pg_read_binary_file(:'datadir' || '/mnist/model.safetensors'),
                    '{"input_scale": 0.00392156862745098, "precision": "int8"}');
SELECT name, precision, options->>'precision' AS asked FROM pginfer.models
WHERE name IN ('mnist', 'mnist_int8') ORDER BY name;
-- bf16 and fp16 store their Dense weights in 16 bits, int8 as codes per column:
-- the weight bytes of each version against float32's
SELECT create_model('mnist_bf16', pg_read_file(:'datadir' || '/mnist/model.json')::jsonb,
                    pg_read_binary_file(:'datadir' || '/mnist/model.safetensors'),
                    '{"input_scale": 0.00392156862745098, "precision": "bf16"}');
SELECT create_model('mnist_fp16', pg_read_file(:'datadir' || '/mnist/model.json')::jsonb,
                    pg_read_binary_file(:'datadir' || '/mnist/model.safetensors'),
                    '{"input_scale": 0.00392156862745098, "precision": "fp16"}');
SELECT name, precision, round(weight_bytes::numeric / (SELECT weight_bytes FROM pginfer.models WHERE name = 'mnist_copy'), 3) AS of_fp32
FROM pginfer.models WHERE name IN ('mnist_copy', 'mnist_int8', 'mnist_bf16', 'mnist_fp16') ORDER BY name;
-- a drawn image (a bar and a stroke) gets the same class at every precision
SELECT predict_class('mnist', f) AS fp32, predict_class('mnist_int8', f) AS int8,
       predict_class('mnist_bf16', f) AS bf16, predict_class('mnist_fp16', f) AS fp16
FROM (SELECT array_agg(CASE WHEN (i % 28) BETWEEN 8 AND 20 AND i / 28 BETWEEN 6 AND 8 THEN 255
                            WHEN (i % 28) BETWEEN 16 AND 19 AND i / 28 BETWEEN 9 AND 24 THEN 255
                            ELSE 0 END::real ORDER BY i) AS f
      FROM generate_series(0, 783) i) s;

-- a real ResNet-style block (Conv2D, BatchNormalization folded, skip Add)
SELECT create_model_from_files('resblock', :'datadir' || '/model_resblock/model.json',
                               :'datadir' || '/model_resblock/model.safetensors');
SELECT name, inputs, outputs, parameter_count FROM pginfer.models WHERE name = 'resblock';

-- a file the server cannot read
SELECT expect_error($$SELECT create_model_from_files('x', '/nonexistent/graph.json', '/nonexistent/w')$$);
