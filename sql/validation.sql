-- Everything create_model rejects: each is an ERROR with a specific SQLSTATE
-- and a message that names the node or tensor, and nothing is stored.

CREATE TABLE models_before AS SELECT count(*) AS n FROM pginfer.model_version;

-- graph structure
SELECT expect_error($$SELECT create_model('bad', jsonb_set(graph, '{nodes,0,op}', '"Frobnicate"'), weights) FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', jsonb_set(graph, '{nodes,0,inputs}', '["x", "w"]'), weights) FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', jsonb_set(graph, '{nodes,0,inputs}', '["x", "w", "bias"]'), weights) FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', jsonb_set(graph, '{nodes,0,inputs}', '["ghost", "w", "b"]'), weights) FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', jsonb_set(graph, '{nodes}', graph->'nodes' || '[{"name": "y", "op": "Relu", "inputs": ["x"]}]'), weights) FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', jsonb_set(graph, '{nodes}', graph->'nodes' || '[{"name": "w", "op": "Relu", "inputs": ["y"]}]'), weights) FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', '{"format": "pg_infer", "version": 1,
  "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 3]}], "outputs": ["c"],
  "nodes": [{"name": "y", "op": "Dense", "inputs": ["x", "w", "b"]},
            {"name": "a", "op": "Add", "inputs": ["y", "c"]},
            {"name": "c", "op": "Relu", "inputs": ["a"]}]}', weights) FROM tiny_weights$$);
-- a key twice in one object: jsonb, which the catalog stores, would keep the
-- last one, the validation the first
SELECT expect_error($$SELECT create_model('bad', '{"format": "pg_infer", "version": 1,
  "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 3]}], "outputs": ["y"],
  "nodes": [{"name": "y", "op": "Dense", "inputs": ["x", "w", "b"]}],
  "nodes": [{"name": "d", "op": "Dense", "inputs": ["x", "w", "b"]},
            {"name": "y", "op": "Relu", "inputs": ["d"]}]}', weights) FROM tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', '{"format": "pg_infer", "version": 1,
  "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 3]}], "outputs": ["y"],
  "nodes": [{"name": "y", "op": "Dense", "op": "Relu", "inputs": ["x", "w", "b"]}]}', weights) FROM tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', jsonb_set(graph, '{outputs}', '["nothing"]'), weights) FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', jsonb_set(graph, '{format}', '"onnx"'), weights) FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', jsonb_set(graph, '{version}', '2'), weights) FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', '[1, 2]', weights) FROM tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', jsonb_set(graph, '{nodes,0,attrs}', '{"transB": 1}'), weights) FROM tiny_graph, tiny_weights$$);

-- dtypes and shapes
SELECT expect_error($$SELECT create_model('bad', jsonb_set(graph, '{inputs,0,dtype}', '"int64"'), weights) FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', jsonb_set(graph, '{inputs,0,shape}', '[-1, 4]'), weights) FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', jsonb_set(graph, '{inputs,0,shape}', '[1, 3]'), weights) FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', jsonb_set(graph, '{outputs,0,shape}', '[-1, 5]'), weights) FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', jsonb_set(graph, '{nodes}', graph->'nodes' || '[{"name": "r", "op": "Reshape", "inputs": ["y"], "attrs": {"shape": [-1, 3]}}]'), weights) FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', jsonb_set(graph, '{nodes}', graph->'nodes' || '[{"name": "s", "op": "Softmax", "inputs": ["y"], "attrs": {"axis": 0}}]'), weights) FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', graph, safetensors(
  '{"w":{"dtype":"I16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}',
  '\x00000000000000000000000000000000'::bytea)) FROM tiny_graph$$);
-- int8 codes (I8) need their column maxima, F32, [1, columns] or [rows, 1]
SELECT expect_error($$SELECT create_model('bad', graph, safetensors(
  '{"w":{"dtype":"I8","shape":[2,3],"data_offsets":[0,6]},"b":{"dtype":"F32","shape":[2],"data_offsets":[6,14]}}',
  '\x0000000000000000000000000000'::bytea)) FROM tiny_graph$$);
SELECT expect_error($$SELECT create_model('bad', graph, safetensors(
  '{"w":{"dtype":"I8","shape":[2,3],"data_offsets":[16,22]},"w:int8_amax":{"dtype":"F32","shape":[2,1],"data_offsets":[8,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
  '\x0000803f0000803f000080bf0000803f808080808080'::bytea)) FROM tiny_graph$$);

-- safetensors headers
SELECT expect_error($$SELECT create_model('bad', graph, '\x0102'::bytea) FROM tiny_graph$$);
SELECT expect_error($$SELECT create_model('bad', graph, '\xffffff00000000007b7d'::bytea) FROM tiny_graph$$);
SELECT expect_error($$SELECT create_model('bad', graph, safetensors('{"w": 1', '')) FROM tiny_graph$$);
SELECT expect_error($$SELECT create_model('bad', graph, safetensors(
  '{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F32","shape":[2],"data_offsets":[24,40]}}',
  f32_bytes('{1,2,3,4,5,6,0.5,-0.5}'))) FROM tiny_graph$$);
SELECT expect_error($$SELECT create_model('bad', graph, safetensors(
  '{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}',
  f32_bytes('{1,2,3,4,5,6}'))) FROM tiny_graph$$);
SELECT expect_error($$SELECT create_model('bad', graph, safetensors(
  '{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F32","shape":[3],"data_offsets":[24,32]}}',
  f32_bytes('{1,2,3,4,5,6,0.5,-0.5}'))) FROM tiny_graph$$);
SELECT expect_error($$SELECT create_model('bad', graph, safetensors(
  '{"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,24]},"b":{"dtype":"F32","shape":[2],"data_offsets":[24,32]}}',
  f32_bytes('{1,2,3,4,5,6,0.5,-0.5}'))) FROM tiny_graph$$);
SELECT expect_error($$SELECT create_model('bad', graph, safetensors(
  '{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F32","shape":[2],"data_offsets":[24,32]}}',
  f32_bytes('{1,2,3,4,5,6,0.5,-0.5,7}'))) FROM tiny_graph$$);

-- options, names, NULLs
SELECT expect_error($$SELECT create_model('bad', graph, weights, '{"input_scael": 2}') FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', graph, weights, '{"input_scale": [1, 2]}') FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', graph, weights, '{"input_shift": "one"}') FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', graph, weights, '{"precision": "bf17"}') FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', graph, weights, '{"precision": 8}') FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', graph, weights, '{"precision": "INT8"}') FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('', graph, weights) FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model(repeat('m', 64), graph, weights) FROM tiny_graph, tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', NULL, weights) FROM tiny_weights$$);
SELECT expect_error($$SELECT create_model('bad', graph, NULL) FROM tiny_graph$$);

-- nothing was stored
SELECT (SELECT count(*) FROM pginfer.model_version) - n AS versions_added,
       (SELECT count(*) FROM pginfer.model WHERE name = 'bad') AS bad_models
FROM models_before;
