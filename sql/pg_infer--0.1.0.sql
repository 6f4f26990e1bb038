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
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- the role that created the model; it, the roles granted managing rights
    -- (model_manager) and administrators (members of the extension's owner)
    -- may add, activate and drop versions
    owner          name NOT NULL
);

-- Roles granted managing rights on one model (grant_model, revoke_model).
CREATE TABLE pginfer.model_manager (
    model_id integer NOT NULL REFERENCES pginfer.model ON DELETE CASCADE,
    role     name NOT NULL,
    PRIMARY KEY (model_id, role)
);

-- Every change to a model, kept after the model is dropped: who created,
-- activated or dropped which version, granted or revoked what, and when.
CREATE TABLE pginfer.model_event (
    event_id bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    model    text NOT NULL,
    model_id integer NOT NULL,
    version  integer,
    action   text NOT NULL CHECK (action IN ('create', 'activate', 'drop', 'grant', 'revoke')),
    role     name NOT NULL,
    detail   text
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
    -- a text model's HuggingFace tokenizer.json (create_model's tokenizer),
    -- checked when stored; NULL for models that take numbers
    tokenizer       jsonb,
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

-- Any change to the models, by pg_infer's functions or by anyone else (a
-- logical replication apply worker that receives versions from a model
-- registry, say), invalidates every session's model cache at commit, and a
-- deleted version leaves the shared cache.  ALWAYS: apply workers fire them.
CREATE FUNCTION pginfer.catalog_changed() RETURNS trigger
AS 'MODULE_PATHNAME', 'pg_infer_catalog_trigger'
LANGUAGE C;
CREATE TRIGGER model_changed AFTER INSERT OR UPDATE OR DELETE ON pginfer.model
    FOR EACH ROW EXECUTE FUNCTION pginfer.catalog_changed();
CREATE TRIGGER version_changed AFTER INSERT OR UPDATE OR DELETE ON pginfer.model_version
    FOR EACH ROW EXECUTE FUNCTION pginfer.catalog_changed();
ALTER TABLE pginfer.model ENABLE ALWAYS TRIGGER model_changed;
ALTER TABLE pginfer.model_version ENABLE ALWAYS TRIGGER version_changed;

-- pg_dump carries the models.
SELECT pg_catalog.pg_extension_config_dump('pginfer.model', '');
SELECT pg_catalog.pg_extension_config_dump('pginfer.model_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pginfer.model_version', '');
SELECT pg_catalog.pg_extension_config_dump('pginfer.model_weight_chunk', '');
SELECT pg_catalog.pg_extension_config_dump('pginfer.model_manager', '');
SELECT pg_catalog.pg_extension_config_dump('pginfer.model_event', '');
SELECT pg_catalog.pg_extension_config_dump('pginfer.model_event_event_id_seq', '');

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
       m.owner,
       v.description,
       v.options,
       coalesce(v.options->>'precision', 'fp32') AS precision,
       v.graph->>'format' AS format,
       CASE WHEN v.graph->>'format' = 'onnx'
            THEN jsonb_build_object('producer', v.graph->'producer', 'ir_version', v.graph->'ir_version',
                                    'opset', v.graph->'opset')
       END AS source
FROM pginfer.model m
JOIN pginfer.model_version v USING (model_id);

GRANT USAGE ON SCHEMA pginfer TO PUBLIC;
GRANT SELECT ON pginfer.models TO PUBLIC;

-- The audit trail, oldest first.
CREATE VIEW pginfer.model_history AS
SELECT at, model, version, action, role, detail FROM pginfer.model_event ORDER BY event_id;
GRANT SELECT ON pginfer.model_history TO PUBLIC;

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
-- A text model also takes its tokenizer (tokenizer.json), kept with the
-- version, and options.max_seq_length, the length tokenize() truncates to.
CREATE FUNCTION create_model(name text, onnx bytea, external_data bytea DEFAULT NULL,
                             options jsonb DEFAULT '{}', description text DEFAULT NULL,
                             tokenizer jsonb DEFAULT NULL)
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

-- CREATE MODEL from large objects, which clients write in pieces (lo_put,
-- psql's \lo_import, any driver's large object API): an ONNX file and its
-- external data, create_model_from_large_objects('m', onnx_oid => 16401),
-- or a native graph and its weights, (..., graph => ..., weights_oid => ...).
-- No 1 GB limit, no copy of the whole file in a protocol message; read with
-- the caller's privileges.  A name of its own: oid overloads of create_model
-- would make every untyped call of it (asyncpg's $1, $2) ambiguous.
CREATE FUNCTION create_model_from_large_objects(name text, onnx_oid oid DEFAULT NULL,
                                                external_data_oid oid DEFAULT NULL,
                                                graph jsonb DEFAULT NULL, weights_oid oid DEFAULT NULL,
                                                options jsonb DEFAULT '{}', description text DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'pg_infer_create_model_from_large_objects'
LANGUAGE C VOLATILE;

CREATE FUNCTION drop_model(name text, version integer DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pg_infer_drop_model'
LANGUAGE C VOLATILE;

CREATE FUNCTION set_active_version(name text, version integer)
RETURNS void
AS 'MODULE_PATHNAME', 'pg_infer_set_active_version'
LANGUAGE C VOLATILE STRICT;

-- Gives a role (and its members) the right to add, activate and drop the
-- model's versions; its owner or an administrator may grant it.
CREATE FUNCTION grant_model(name text, role name)
RETURNS void
AS 'MODULE_PATHNAME', 'pg_infer_grant_model'
LANGUAGE C VOLATILE STRICT;

-- Takes that right back.
CREATE FUNCTION revoke_model(name text, role name)
RETURNS void
AS 'MODULE_PATHNAME', 'pg_infer_revoke_model'
LANGUAGE C VOLATILE STRICT;

REVOKE EXECUTE ON FUNCTION create_model(text, jsonb, bytea, jsonb, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION create_model_from_files(text, text, text, jsonb, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION create_model(text, text, bytea, jsonb, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION create_model(text, bytea, bytea, jsonb, text, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION create_model_from_onnx_file(text, text, jsonb, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION create_model_from_large_objects(text, oid, oid, jsonb, oid, jsonb, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION drop_model(text, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION set_active_version(text, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION grant_model(text, name) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION revoke_model(text, name) FROM PUBLIC;

-- The shared model cache (with pg_infer in shared_preload_libraries): one
-- row per model version loaded into shared memory; members of
-- pg_read_all_stats see every database's, others their own database's.
-- A text model with a symbolic sequence dimension also has a row per
-- sequence_length the inference worker ran it at (an image of the few
-- weights that differ; NULL: the version's own image).
CREATE FUNCTION cached_models(OUT database name, OUT model text, OUT model_id integer,
                              OUT version integer, OUT state text, OUT bytes bigint,
                              OUT pins integer, OUT loads bigint, OUT hits bigint,
                              OUT last_used timestamptz, OUT sequence_length integer)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_infer_cached_models'
LANGUAGE C VOLATILE;

CREATE VIEW pginfer.cached_models AS SELECT * FROM cached_models();
GRANT SELECT ON pginfer.cached_models TO PUBLIC;

-- The versions this session has loaded (at most 64; the least recently used
-- goes first), whether each runs from the shared cache, the engine memory it
-- holds now (its packed weights, kept between transactions, and buffers;
-- pg_infer.work_mem bounds their sum), and the executors built for it (each
-- packs the weights again).
CREATE FUNCTION session_models(OUT model text, OUT model_id integer, OUT version integer,
                               OUT shared boolean, OUT engine_bytes bigint,
                               OUT engine_builds bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_infer_session_models'
LANGUAGE C VOLATILE;

CREATE VIEW pginfer.session_models AS SELECT * FROM session_models();
GRANT SELECT ON pginfer.session_models TO PUBLIC;

-- pg_infer work in progress, one row per session: a create_model's phase and
-- the bytes of weights stored, or a scoring statement's rows and batches
-- predicted so far (a parallel worker's own, with its leader's pid); members
-- of pg_read_all_stats see every session's.
CREATE FUNCTION progress(OUT pid integer, OUT command text, OUT model text, OUT phase text,
                         OUT rows bigint, OUT batches bigint, OUT bytes_done bigint,
                         OUT bytes_total bigint, OUT elapsed interval, OUT leader_pid integer)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_infer_progress'
LANGUAGE C VOLATILE;

CREATE VIEW pginfer.progress AS SELECT * FROM progress();
GRANT SELECT ON pginfer.progress TO PUBLIC;

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
-- worker, at its next idle moment, unloads them.  A text model with a
-- symbolic sequence dimension has a row per sequence_length it ran at
-- (loaded over the version's weights; NULL: the version itself).
CREATE FUNCTION worker_models(OUT database name, OUT model text, OUT model_id integer,
                              OUT version integer, OUT bytes bigint,
                              OUT last_used timestamptz, OUT sequence_length integer)
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

-- predict: the first output of the model that is not class labels (a
-- classifier's probabilities), for one row of features, given as an array
-- of any numeric type (real, double precision, integer, numeric...) whose
-- element count is the model's input size, whatever its dimensions.
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

-- predict_class: the class index a classifier's label output holds, else
-- the index of the largest output value.

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

-- predict_class of the jsonb form: the index of the named output's largest value.
CREATE FUNCTION predict_class(model text, inputs jsonb, output text DEFAULT NULL,
                              version integer DEFAULT NULL)
RETURNS integer AS 'MODULE_PATHNAME', 'pg_infer_predict_class_inputs'
LANGUAGE C STABLE PARALLEL SAFE COST 1000;

-- predict_label: the class label of a classifier (scikit-learn, XGBoost,
-- LightGBM exports), as text: its string labels, or its integer labels in
-- decimal.
CREATE FUNCTION predict_label(model text, features anyarray)
RETURNS text AS 'MODULE_PATHNAME', 'pg_infer_predict_label'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

CREATE FUNCTION predict_label(model text, features anyarray, version integer)
RETURNS text AS 'MODULE_PATHNAME', 'pg_infer_predict_label'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

CREATE FUNCTION predict_label(model text, features record)
RETURNS text AS 'MODULE_PATHNAME', 'pg_infer_predict_label'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

CREATE FUNCTION predict_label(model text, features record, version integer)
RETURNS text AS 'MODULE_PATHNAME', 'pg_infer_predict_label'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

CREATE FUNCTION predict_label(model text, inputs jsonb, output text DEFAULT NULL,
                              version integer DEFAULT NULL)
RETURNS text AS 'MODULE_PATHNAME', 'pg_infer_predict_label_inputs'
LANGUAGE C STABLE PARALLEL SAFE COST 1000;

-- The token ids a text model's tokenizer makes of input: its special tokens
-- ([CLS] [SEP], <s> </s>) around the text's WordPiece or BPE ids, truncated
-- to the model's max_seq_length option when it has one.  NULL input gives NULL.
CREATE FUNCTION tokenize(model text, input text)
RETURNS integer[] AS 'MODULE_PATHNAME', 'pg_infer_tokenize'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- A text model's vector for input: its token vectors pooled over the text's
-- tokens (options.pooling "mean" or "cls"), scaled to unit length when
-- options.normalize is true; the text is truncated to max_seq_length ids (or
-- to the network's sequence length).  NULL input gives NULL.
CREATE FUNCTION embed(model text, input text)
RETURNS real[] AS 'MODULE_PATHNAME', 'pg_infer_embed'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

-- predict_batch: the rows of a 2-D array [rows][features] in one forward
-- pass; returns real[rows][outputs].
CREATE FUNCTION predict_batch(model text, features anyarray)
RETURNS real[] AS 'MODULE_PATHNAME', 'pg_infer_predict_batch'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

CREATE FUNCTION predict_batch(model text, features anyarray, version integer)
RETURNS real[] AS 'MODULE_PATHNAME', 'pg_infer_predict_batch'
LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000;

-- Scoring across shards (the README's "Scaling out"): creates the view
-- remote_schema.view_name AS shard_query on each of servers (postgres_fdw
-- foreign servers, through dblink), imports each as a foreign table into a
-- schema of its own (shard_<server>), and creates view_name here as their
-- UNION ALL.  The shards run the forward passes; with async_capable servers
-- they run at the same time, and only the results travel.  Needs the
-- dblink and postgres_fdw extensions here, and a user mapping per server.
CREATE FUNCTION create_sharded_view(view_name text, servers text[], shard_query text,
                                    remote_schema text DEFAULT 'public')
RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
  server text;
  parts text[] := '{}';
BEGIN
  IF to_regprocedure('dblink_exec(text, text)') IS NULL THEN
    RAISE EXCEPTION 'create_sharded_view needs the dblink extension'
      USING ERRCODE = 'undefined_function', HINT = 'CREATE EXTENSION dblink;';
  END IF;
  IF servers IS NULL OR cardinality(servers) = 0 THEN
    RAISE EXCEPTION 'create_sharded_view needs at least one server' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOREACH server IN ARRAY servers LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_foreign_server s, unnest(coalesce(s.srvoptions, '{}')) o
                   WHERE s.srvname = server AND o = 'async_capable=true') THEN
      RAISE NOTICE 'server "%" is not async_capable: its shard runs after the others', server
        USING HINT = format('ALTER SERVER %I OPTIONS (ADD async_capable ''true'');', server);
    END IF;
    PERFORM dblink_exec(server, format('CREATE OR REPLACE VIEW %I.%I AS %s', remote_schema, view_name, shard_query));
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', 'shard_' || server);
    EXECUTE format('DROP FOREIGN TABLE IF EXISTS %I.%I', 'shard_' || server, view_name);
    EXECUTE format('IMPORT FOREIGN SCHEMA %I LIMIT TO (%I) FROM SERVER %I INTO %I',
                   remote_schema, view_name, server, 'shard_' || server);
    parts := parts || format('SELECT * FROM %I.%I', 'shard_' || server, view_name);
  END LOOP;
  EXECUTE format('CREATE OR REPLACE VIEW %I AS %s', view_name, array_to_string(parts, ' UNION ALL '));
END
$fn$;

-- What \df+ and \dv+ say.
COMMENT ON SCHEMA pginfer IS 'pg_infer: the model registry (tables readable only by the extension owner) and its views';
COMMENT ON TABLE pginfer.model IS 'One row per model: its name, owner and active version';
COMMENT ON TABLE pginfer.model_version IS 'One row per stored version: graph (or ONNX descriptor), options, inputs and outputs';
COMMENT ON TABLE pginfer.model_weight_chunk IS 'The weights (or ONNX file) of each version, in 1 MB chunks';
COMMENT ON TABLE pginfer.model_manager IS 'Roles granted managing rights on one model (grant_model)';
COMMENT ON TABLE pginfer.model_event IS 'The audit trail of model changes (pginfer.model_history shows it)';
COMMENT ON VIEW pginfer.models IS 'Every stored version of every model: active, inputs, outputs, parameters, precision, owner, source';
COMMENT ON VIEW pginfer.model_history IS 'Who created, activated, dropped, granted or revoked what, and when';
COMMENT ON VIEW pginfer.cached_models IS 'Model versions in the shared model cache: state, bytes, pins, loads, hits';
COMMENT ON VIEW pginfer.session_models IS 'The model versions this session holds, and the engine memory of each';
COMMENT ON VIEW pginfer.worker IS 'The inference worker: state, device, memory, batching statistics';
COMMENT ON VIEW pginfer.worker_models IS 'Model versions resident in the inference worker''s executor';
COMMENT ON FUNCTION create_model(text, jsonb, bytea, jsonb, text) IS 'CREATE MODEL from a native graph (jsonb) and safetensors weights; returns the new version';
COMMENT ON FUNCTION create_model(text, text, bytea, jsonb, text) IS 'CREATE MODEL from a native graph given as JSON text and safetensors weights; returns the new version';
COMMENT ON FUNCTION create_model_from_files(text, text, text, jsonb, text) IS 'CREATE MODEL from a graph file and a safetensors file on the server; returns the new version';
COMMENT ON FUNCTION create_model(text, bytea, bytea, jsonb, text, jsonb) IS 'CREATE MODEL from an ONNX file (and its external data, and a text model''s tokenizer); returns the new version';
COMMENT ON FUNCTION create_model_from_large_objects(text, oid, oid, jsonb, oid, jsonb, text) IS 'CREATE MODEL from large objects: an ONNX file (and its external data), or a native graph''s safetensors weights; returns the new version';
COMMENT ON FUNCTION create_model_from_onnx_file(text, text, jsonb, text) IS 'CREATE MODEL from an ONNX file on the server, external data beside it; returns the new version';
COMMENT ON FUNCTION drop_model(text, integer) IS 'Drops one version, or the whole model';
COMMENT ON FUNCTION set_active_version(text, integer) IS 'Makes a stored version the one predict uses by default';
COMMENT ON FUNCTION grant_model(text, name) IS 'Gives a role managing rights on one model (owner or administrator only)';
COMMENT ON FUNCTION revoke_model(text, name) IS 'Takes managing rights on one model back';
COMMENT ON FUNCTION cached_models() IS 'The rows of pginfer.cached_models';
COMMENT ON FUNCTION session_models() IS 'The rows of pginfer.session_models';
COMMENT ON FUNCTION cache_usage() IS 'Whether models are shared between connections, bytes in use, the budget';
COMMENT ON FUNCTION warm_model(text, integer) IS 'Loads a version (the active one by default) into the cache now';
COMMENT ON FUNCTION evict_model(text, integer) IS 'Frees the cached images of a model (or one version) that no transaction uses';
COMMENT ON FUNCTION worker_status() IS 'The row of pginfer.worker';
COMMENT ON FUNCTION worker_models() IS 'The rows of pginfer.worker_models';
COMMENT ON FUNCTION restart_worker() IS 'Stops the inference worker; the postmaster starts it again 5 seconds later';
COMMENT ON FUNCTION predict(text, anyarray) IS 'The model''s first output (not class labels: a classifier''s probabilities) for one row of features';
COMMENT ON FUNCTION predict(text, anyarray, integer) IS 'The given version''s first output (not class labels) for one row of features';
COMMENT ON FUNCTION predict(text, record) IS 'The model''s first output (not class labels) for a record: columns named as the inputs, else its numeric columns in order';
COMMENT ON FUNCTION predict(text, record, integer) IS 'The given version''s first output (not class labels) for a record';
COMMENT ON FUNCTION predict(text, jsonb, text, integer) IS 'A model with several inputs: inputs by name as JSON arrays (or one number or string), an output by name';
COMMENT ON FUNCTION predict_class(text, anyarray) IS 'Class index (0-based): a classifier''s predicted class, else the largest output value''s index; NULL when an output is NaN';
COMMENT ON FUNCTION predict_class(text, anyarray, integer) IS 'Class index (0-based) of the given version for one row';
COMMENT ON FUNCTION predict_class(text, record) IS 'Class index (0-based) for a record';
COMMENT ON FUNCTION predict_class(text, record, integer) IS 'Class index (0-based) of the given version for a record';
COMMENT ON FUNCTION predict_label(text, anyarray) IS 'A classifier''s class label for one row, as text';
COMMENT ON FUNCTION predict_label(text, anyarray, integer) IS 'The given version''s class label for one row, as text';
COMMENT ON FUNCTION predict_label(text, record) IS 'A classifier''s class label for a record (columns named as the inputs, text for string inputs)';
COMMENT ON FUNCTION predict_label(text, record, integer) IS 'The given version''s class label for a record';
COMMENT ON FUNCTION predict_label(text, jsonb, text, integer) IS 'A classifier''s class label for inputs by name (JSON numbers or strings), of an output (the first with labels by default)';
COMMENT ON FUNCTION predict_batch(text, anyarray) IS 'Outputs for a 2-D array of rows [rows][features], as real[rows][outputs]';
COMMENT ON FUNCTION predict_batch(text, anyarray, integer) IS 'The given version''s outputs for a 2-D array of rows, as real[rows][outputs]';
COMMENT ON FUNCTION embed(text, text) IS 'A text model''s vector for a text: token vectors pooled over the text''s tokens';
COMMENT ON FUNCTION tokenize(text, text) IS 'Token ids of a text for a text model''s tokenizer, special tokens included';
COMMENT ON FUNCTION pginfer.catalog_changed() IS 'Trigger: a change to the models invalidates every session''s model cache';
COMMENT ON VIEW pginfer.progress IS 'pg_infer work in progress: create_model phases, rows predicted so far';
COMMENT ON FUNCTION progress() IS 'The rows of pginfer.progress';
COMMENT ON FUNCTION create_sharded_view(text, text[], text, text) IS 'A view that scores on every shard at once: per-shard views, foreign tables, their UNION ALL';
COMMENT ON FUNCTION predict_class(text, jsonb, text, integer) IS 'Class index (0-based) of an output (by default the first of class labels, else the first) of a model with several named inputs';
