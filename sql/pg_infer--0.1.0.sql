-- pg_infer 0.1.0: models stored in the database, predictions in SQL.
\echo Use "CREATE EXTENSION pg_infer" to load this file. \quit

-- The model registry lives in its own schema, pginfer.  Its tables are granted to
-- nobody: the functions below read and write them as the extension's owner,
-- and EXECUTE on the functions that change them is revoked from PUBLIC.
CREATE SCHEMA pginfer;

CREATE TABLE pginfer.model (
    model_id       serial PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    active_version integer,
    last_version   integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pginfer.model_version (
    model_id        integer NOT NULL REFERENCES pginfer.model ON DELETE CASCADE,
    version         integer NOT NULL,
    graph           jsonb NOT NULL,
    options         jsonb NOT NULL,
    description     text,
    inputs          jsonb NOT NULL,
    outputs         jsonb NOT NULL,
    parameter_count bigint NOT NULL,
    weight_bytes    bigint NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      name NOT NULL DEFAULT session_user,
    -- random and never reused, unlike model ids (TRUNCATE ... RESTART
    -- IDENTITY) and version numbers (a rolled-back create_model): the model
    -- caches key loaded versions by it
    uid             bigint NOT NULL,
    PRIMARY KEY (model_id, version)
);

-- Weights: the safetensors bytes of a version in 1 MB chunks.
CREATE TABLE pginfer.model_weight_chunk (
    model_id integer NOT NULL,
    version  integer NOT NULL,
    chunk_no integer NOT NULL,
    data     bytea NOT NULL,
    PRIMARY KEY (model_id, version, chunk_no),
    FOREIGN KEY (model_id, version) REFERENCES pginfer.model_version ON DELETE CASCADE
);
-- float data does not compress: store it out of line without trying
ALTER TABLE pginfer.model_weight_chunk ALTER COLUMN data SET STORAGE EXTERNAL;

-- pg_dump carries the models.
SELECT pg_catalog.pg_extension_config_dump('pginfer.model', '');
SELECT pg_catalog.pg_extension_config_dump('pginfer.model_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pginfer.model_version', '');
SELECT pg_catalog.pg_extension_config_dump('pginfer.model_weight_chunk', '');

CREATE VIEW pginfer.models AS
SELECT m.name,
       v.version,
       v.version = m.active_version AS active,
       v.inputs,
       v.outputs,
       v.parameter_count,
       v.weight_bytes,
       v.created_at,
       v.created_by,
       v.description,
       v.options,
       v.graph->>'format' AS format,
       CASE WHEN v.graph->>'format' = 'onnx'
            THEN jsonb_build_object('producer', v.graph->'producer', 'ir_version', v.graph->'ir_version',
                                    'opset', v.graph->'opset')
       END AS source
FROM pginfer.model m
JOIN pginfer.model_version v USING (model_id);

GRANT USAGE ON SCHEMA pginfer TO PUBLIC;
GRANT SELECT ON pginfer.models TO PUBLIC;

-- CREATE MODEL: stores a new version and makes it active; returns the version.
CREATE FUNCTION create_model(name text, graph jsonb, weights bytea,
                             options jsonb DEFAULT '{}', description text DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'pg_infer_create_model'
LANGUAGE C VOLATILE;

-- The same with the graph as text: a JSON string from a client, or an untyped
-- literal, would otherwise match both the jsonb and the ONNX (bytea) forms.
CREATE FUNCTION create_model(name text, graph text, weights bytea,
                             options jsonb DEFAULT '{}', description text DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'pg_infer_create_model'
LANGUAGE C VOLATILE;

-- The same from files on the server (superusers and pg_read_server_files).
CREATE FUNCTION create_model_from_files(name text, graph_path text, weights_path text,
                                        options jsonb DEFAULT '{}', description text DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'pg_infer_create_model_from_files'
LANGUAGE C VOLATILE;

-- CREATE MODEL from an ONNX file (and the external data file its tensors
-- name, if any), converted into the same graph and stored as the next
-- version: create_model('m', onnx => pg_read_binary_file('/models/m.onnx')).
CREATE FUNCTION create_model(name text, onnx bytea, external_data bytea DEFAULT NULL,
                             options jsonb DEFAULT '{}', description text DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'pg_infer_create_model_onnx'
LANGUAGE C VOLATILE;

-- The same from an ONNX file on the server; its external data file is read
-- from the same directory (superusers and pg_read_server_files).
CREATE FUNCTION create_model_from_onnx_file(name text, path text, options jsonb DEFAULT '{}',
                                            description text DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'pg_infer_create_model_from_onnx_file'
LANGUAGE C VOLATILE;

CREATE FUNCTION drop_model(name text, version integer DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pg_infer_drop_model'
LANGUAGE C VOLATILE;

CREATE FUNCTION set_active_version(name text, version integer)
RETURNS void
AS 'MODULE_PATHNAME', 'pg_infer_set_active_version'
LANGUAGE C VOLATILE STRICT;

REVOKE EXECUTE ON FUNCTION create_model(text, jsonb, bytea, jsonb, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION create_model_from_files(text, text, text, jsonb, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION create_model(text, text, bytea, jsonb, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION create_model(text, bytea, bytea, jsonb, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION create_model_from_onnx_file(text, text, jsonb, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION drop_model(text, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION set_active_version(text, integer) FROM PUBLIC;

-- The shared model cache (with pg_infer in shared_preload_libraries): one
-- row per model version loaded into shared memory; members of
-- pg_read_all_stats see every database's, others their own database's.
CREATE FUNCTION cached_models(OUT database name, OUT model text, OUT model_id integer,
                              OUT version integer, OUT state text, OUT bytes bigint,
                              OUT pins integer, OUT loads bigint, OUT hits bigint,
                              OUT last_used timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_infer_cached_models'
LANGUAGE C VOLATILE;

CREATE VIEW pginfer.cached_models AS SELECT * FROM cached_models();
GRANT SELECT ON pginfer.cached_models TO PUBLIC;

-- Whether models are shared between connections, bytes in use, the budget.
CREATE FUNCTION cache_usage(OUT shared boolean, OUT bytes_used bigint, OUT budget bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'pg_infer_cache_usage'
LANGUAGE C VOLATILE;

-- Loads a model version (the active one by default) into the cache now;
-- returns the version loaded.
CREATE FUNCTION warm_model(name text, version integer DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'pg_infer_warm_model'
LANGUAGE C VOLATILE;

-- Frees the shared images of a model's versions (or one version) that no
-- running query uses; returns how many were evicted.
CREATE FUNCTION evict_model(name text, version integer DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'pg_infer_evict_model'
LANGUAGE C VOLATILE;

REVOKE EXECUTE ON FUNCTION warm_model(text, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION evict_model(text, integer) FROM PUBLIC;

-- The inference worker (with pg_infer preloaded): its state ('ready',
-- 'unresponsive', 'starting', 'restarting', 'no device', 'failed', 'stopped'),
-- device, memory of its resident models, and batching statistics since it
-- started.
CREATE FUNCTION worker_status(OUT state text, OUT device text, OUT device_name text,
                              OUT pid integer, OUT executor_pid integer,
                              OUT device_memory bigint, OUT memory_used bigint,
                              OUT memory_budget bigint, OUT models_resident integer,
                              OUT requests bigint, OUT batches bigint, OUT rows bigint,
                              OUT avg_batch_rows double precision,
                              OUT avg_queue_delay_us double precision,
                              OUT avg_forward_us double precision,
                              OUT executor_restarts bigint, OUT last_error text)
RETURNS record
AS 'MODULE_PATHNAME', 'pg_infer_worker_status'
LANGUAGE C VOLATILE;

CREATE VIEW pginfer.worker AS SELECT * FROM worker_status();
GRANT SELECT ON pginfer.worker TO PUBLIC;

-- The model versions resident in the worker's executor (in GPU memory on a
-- GPU); members of pg_read_all_stats see every database's, others their own
-- database's.  database is NULL for a dropped database's models until the
-- worker, at its next idle moment, unloads them.
CREATE FUNCTION worker_models(OUT database name, OUT model text, OUT model_id integer,
                              OUT version integer, OUT bytes bigint,
                              OUT last_used timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_infer_worker_models'
LANGUAGE C VOLATILE;

CREATE VIEW pginfer.worker_models AS SELECT * FROM worker_models();
GRANT SELECT ON pginfer.worker_models TO PUBLIC;

-- Stops the inference worker, which the postmaster starts again after 5
-- seconds (a fresh executor, its resident models uploaded again on use);
-- returns whether one was running.
CREATE FUNCTION restart_worker()
RETURNS boolean
AS 'MODULE_PATHNAME', 'pg_infer_restart_worker'
LANGUAGE C VOLATILE;

REVOKE EXECUTE ON FUNCTION restart_worker() FROM PUBLIC;

-- predict: the first output of the model for one row of features, given as
-- an array of any numeric type (real, double precision, integer, numeric...)
-- whose element count is the model's input size, whatever its dimensions.
-- COST 1000 (in cpu_operator_cost units; one forward pass costs about a
-- thousand simple operators): the planner runs cheaper quals first, and
-- under ORDER BY ... LIMIT computes predictions only for the rows returned.
CREATE FUNCTION predict(model text, features anyarray)
RETURNS real[] AS 'MODULE_PATHNAME', 'pg_infer_predict'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

CREATE FUNCTION predict(model text, features anyarray, version integer)
RETURNS real[] AS 'MODULE_PATHNAME', 'pg_infer_predict'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

-- a record's numeric columns, in order: predict('churn', ROW(age, income, tenure))
CREATE FUNCTION predict(model text, features record)
RETURNS real[] AS 'MODULE_PATHNAME', 'pg_infer_predict'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

CREATE FUNCTION predict(model text, features record, version integer)
RETURNS real[] AS 'MODULE_PATHNAME', 'pg_infer_predict'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

-- predict for models with several named inputs (integer ids for embeddings
-- among them) or several outputs: inputs maps each input name to a JSON
-- array of numbers; output picks an output by name (the first by default).
CREATE FUNCTION predict(model text, inputs jsonb, output text DEFAULT NULL,
                        version integer DEFAULT NULL)
RETURNS real[]
AS 'MODULE_PATHNAME', 'pg_infer_predict_inputs'
LANGUAGE C STABLE PARALLEL SAFE COST 1000;

-- predict_class: the index of the largest output value.

CREATE FUNCTION predict_class(model text, features anyarray)
RETURNS integer AS 'MODULE_PATHNAME', 'pg_infer_predict_class'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

CREATE FUNCTION predict_class(model text, features anyarray, version integer)
RETURNS integer AS 'MODULE_PATHNAME', 'pg_infer_predict_class'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

CREATE FUNCTION predict_class(model text, features record)
RETURNS integer AS 'MODULE_PATHNAME', 'pg_infer_predict_class'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

CREATE FUNCTION predict_class(model text, features record, version integer)
RETURNS integer AS 'MODULE_PATHNAME', 'pg_infer_predict_class'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

-- predict_batch: the rows of a 2-D array [rows][features] in one forward
-- pass; returns real[rows][outputs].
CREATE FUNCTION predict_batch(model text, features anyarray)
RETURNS real[] AS 'MODULE_PATHNAME', 'pg_infer_predict_batch'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

CREATE FUNCTION predict_batch(model text, features anyarray, version integer)
RETURNS real[] AS 'MODULE_PATHNAME', 'pg_infer_predict_batch'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;
