-- create_model_from_large_objects: models from large objects, which clients
-- write in pieces (lo_put, psql's \lo_import): an ONNX file with its
-- external data, and native safetensors weights; errors store nothing; read
-- with the caller's rights.
\getenv datadir PG_INFER_TESTDATA
\set onnx_path :datadir '/onnx_external/model.onnx'
\set ext_path :datadir '/onnx_external/weights.bin'
SELECT lo_from_bytea(424201, pg_read_binary_file(:'onnx_path')) AS onnx_oid,
       lo_from_bytea(424202, pg_read_binary_file(:'ext_path')) AS ext_oid,
       lo_from_bytea(424203, weights) AS weights_oid,
       lo_from_bytea(424204, '\x0102'::bytea) AS garbage_oid
FROM tiny_weights \gset

SELECT create_model_from_large_objects('ext_lo', :onnx_oid, :ext_oid,
                                       description => 'from large objects');
SELECT create_model('ext_bytea', onnx => pg_read_binary_file(:'onnx_path'),
                    external_data => pg_read_binary_file(:'ext_path'));
SELECT name, version, format, weight_bytes, inputs, outputs, description
FROM pginfer.models WHERE name LIKE 'ext\_%' ORDER BY name;

-- the same predictions as from bytea, and the file and its external data
-- stored as they were given
SELECT predict('ext_lo', x) = predict('ext_bytea', x) AS same_prediction,
       array_length(predict('ext_lo', x), 1) AS outputs
FROM (SELECT array_agg(sin(i)::real) AS x FROM generate_series(1, 20) AS i) AS s;
SELECT string_agg(c.data, ''::bytea ORDER BY c.chunk_no)
       = pg_read_binary_file(:'onnx_path') || pg_read_binary_file(:'ext_path') AS stored_as_given
FROM pginfer.model_weight_chunk c JOIN pginfer.model m USING (model_id)
WHERE m.name = 'ext_lo';

-- native weights from a large object, the graph as jsonb or as a literal
SELECT create_model_from_large_objects('tiny_lo', graph => graph, weights_oid => :weights_oid)
FROM tiny_graph;
SELECT create_model_from_large_objects('tiny_lo', graph => '{"format": "pg_infer", "version": 1,
    "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 3]}], "outputs": [{"name": "y"}],
    "nodes": [{"name": "y", "op": "Dense", "inputs": ["x", "w", "b"]}]}',
    weights_oid => :weights_oid, options => '{"input_scale": 2}');
SELECT predict('tiny_lo', '{1,2,3}'::real[], 1) AS v1, predict('tiny_lo', '{1,2,3}'::real[], 2) AS v2;

-- a large object that does not exist, missing or mixed arguments, bytes
-- that are no model
SELECT expect_error('SELECT create_model_from_large_objects(''bad_lo'', 4000000000)');
SELECT expect_error('SELECT create_model_from_large_objects(''bad_lo'', 424201, 4000000000)');
SELECT expect_error($$SELECT create_model_from_large_objects('bad_lo', graph => '{}', weights_oid => 4000000000)$$);
SELECT expect_error('SELECT create_model_from_large_objects(''bad_lo'')');
SELECT expect_error($$SELECT create_model_from_large_objects('bad_lo', 424201, graph => '{}')$$);
SELECT expect_error($$SELECT create_model_from_large_objects('bad_lo', graph => '{}')$$);
SELECT expect_error('SELECT create_model_from_large_objects(''bad_lo'', weights_oid => 424203, external_data_oid => 424202)');
SELECT expect_error('SELECT create_model_from_large_objects(NULL, 424201, 424202)');
SELECT expect_error('SELECT create_model_from_large_objects(''bad_lo'', 424204)');
SELECT expect_error('SELECT create_model_from_large_objects(''bad_lo'', 424201)');
SELECT expect_error($$SELECT create_model_from_large_objects('bad_lo', graph => graph, weights_oid => 424204) FROM tiny_graph$$);

-- a role that may create models reads only the large objects it may select
CREATE ROLE regress_lo_manager;
GRANT EXECUTE ON FUNCTION create_model_from_large_objects TO regress_lo_manager;
SET ROLE regress_lo_manager;
SELECT expect_error('SELECT create_model_from_large_objects(''denied_lo'', 424201, 424202)');
RESET ROLE;
GRANT SELECT ON LARGE OBJECT 424201 TO regress_lo_manager;
SET ROLE regress_lo_manager;
SELECT expect_error('SELECT create_model_from_large_objects(''denied_lo'', 424201, 424202)');
RESET ROLE;
GRANT SELECT ON LARGE OBJECT 424202 TO regress_lo_manager;
SET ROLE regress_lo_manager;
SELECT create_model_from_large_objects('granted_lo', onnx_oid => 424201, external_data_oid => 424202);
RESET ROLE;

-- nothing was stored by the calls that failed
SELECT m.name, count(DISTINCT v.version) AS versions, count(c.chunk_no) AS chunks
FROM pginfer.model m LEFT JOIN pginfer.model_version v USING (model_id)
     LEFT JOIN pginfer.model_weight_chunk c USING (model_id, version)
WHERE m.name LIKE '%\_lo' GROUP BY m.name ORDER BY m.name;

SELECT drop_model('granted_lo');
REVOKE SELECT ON LARGE OBJECT 424201, 424202 FROM regress_lo_manager;
REVOKE EXECUTE ON FUNCTION create_model_from_large_objects FROM regress_lo_manager;
DROP ROLE regress_lo_manager;
SELECT lo_unlink(oid) FROM (VALUES (424201::oid), (424202), (424203), (424204)) AS l(oid);
