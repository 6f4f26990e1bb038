-- Helpers shared by the regression tests: build safetensors bytes in SQL,
-- and report an error's SQLSTATE and message as a row.

-- bytes of b in reverse order (big-endian send format to little-endian)
CREATE FUNCTION reverse_bytes(b bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT coalesce(string_agg(substr(b, i, 1), ''::bytea ORDER BY i DESC), ''::bytea)
  FROM generate_series(1, length(b)) AS i
$$;

-- little-endian float32 bytes of an array
CREATE FUNCTION f32_bytes(vals real[]) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT coalesce(string_agg(reverse_bytes(float4send(v)), ''::bytea ORDER BY ord), ''::bytea)
  FROM unnest(vals) WITH ORDINALITY AS u(v, ord)
$$;

-- a safetensors file: 8-byte little-endian header length, header, data
CREATE FUNCTION safetensors(header text, data bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT reverse_bytes(int8send(octet_length(convert_to(header, 'UTF8'))))
         || convert_to(header, 'UTF8') || data
$$;

-- the SQLSTATE and message of the error a statement raises
CREATE FUNCTION expect_error(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE statement;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- weights of the "tiny" test model: w = [[1,2,3],[4,5,6]], b = [0.5,-0.5]
CREATE TABLE tiny_weights AS
SELECT safetensors(
  '{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},'
  '"b":{"dtype":"F32","shape":[2],"data_offsets":[24,32]}}',
  f32_bytes('{1,2,3,4,5,6,0.5,-0.5}')) AS weights;

-- its graph: a Dense layer, 3 inputs to 2 outputs
CREATE TABLE tiny_graph AS
SELECT '{"format": "pg_infer", "version": 1,
         "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 3]}],
         "outputs": [{"name": "y"}],
         "nodes": [{"name": "y", "op": "Dense", "inputs": ["x", "w", "b"]}]}'::jsonb AS graph;

SELECT length(weights) AS tiny_weight_bytes FROM tiny_weights;
