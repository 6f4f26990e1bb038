-- Versions: rollback, drop, and who may change the catalog.

SELECT set_active_version('tiny', 1);
SELECT name, version, active FROM pginfer.models WHERE name = 'tiny' ORDER BY version;
SELECT predict('tiny', '{1,1,1}'::real[]);     -- version 1 now
SELECT set_active_version('tiny', 2);
SELECT predict('tiny', '{1,1,1}'::real[]);     -- version 2 again

-- a change is seen by predictions later in the same transaction
BEGIN;
SELECT set_active_version('tiny', 1);
SELECT predict('tiny', '{1,1,1}'::real[]);
ROLLBACK;
SELECT predict('tiny', '{1,1,1}'::real[]);     -- the rollback restored version 2

SELECT expect_error($$SELECT set_active_version('tiny', 7)$$);
SELECT expect_error($$SELECT set_active_version('nosuchmodel', 1)$$);
SELECT expect_error($$SELECT drop_model('nosuchmodel')$$);
SELECT expect_error($$SELECT drop_model('tiny', 7)$$);

-- dropping the active version activates the newest remaining one
SELECT create_model('tiny', graph, weights, '{"input_scale": 3}') FROM tiny_graph, tiny_weights;
SELECT drop_model('tiny', 3);
SELECT name, version, active FROM pginfer.models WHERE name = 'tiny' ORDER BY version;
SELECT predict('tiny', '{1,1,1}'::real[]);
SELECT expect_error($$SELECT predict('tiny', '{1,1,1}'::real[], 3)$$);
-- version numbers are never reused
SELECT create_model('tiny', graph, weights) FROM tiny_graph, tiny_weights;
SELECT drop_model('tiny', 1);
SELECT name, version, active FROM pginfer.models WHERE name = 'tiny' ORDER BY version;

-- dropping the last version drops the model; its weights go with it
SELECT drop_model('tiny_f16', 1);
SELECT drop_model('tiny_shifted');
SELECT count(*) AS gone FROM pginfer.models WHERE name IN ('tiny_f16', 'tiny_shifted');
SELECT count(*) AS orphan_chunks FROM pginfer.model_weight_chunk c
WHERE NOT EXISTS (SELECT 1 FROM pginfer.model_version v
                  WHERE v.model_id = c.model_id AND v.version = c.version);
SELECT expect_error($$SELECT predict('tiny_shifted', '{1,1,1}'::real[])$$);

-- an ordinary role may predict and read the models view, but not change
-- the catalog or read the weights
CREATE ROLE infer_analyst;
GRANT SELECT ON rows3 TO infer_analyst;
SET ROLE infer_analyst;
SELECT id, predict_class('tiny', features) FROM rows3 ORDER BY id;
SELECT count(*) > 0 AS sees_models FROM pginfer.models;
SELECT expect_error($$SELECT count(*) FROM pginfer.model_weight_chunk$$);
SELECT expect_error($$SELECT create_model('mine', graph, weights) FROM (SELECT '{}'::jsonb AS graph, ''::bytea AS weights) s$$);
SELECT expect_error($$SELECT drop_model('tiny')$$);
SELECT expect_error($$SELECT set_active_version('tiny', 2)$$);
RESET ROLE;

-- granted EXECUTE, a role manages models without any grant on the tables,
-- but reading server files still needs pg_read_server_files
GRANT EXECUTE ON FUNCTION create_model(text, jsonb, bytea, jsonb, text),
                         create_model_from_files(text, text, text, jsonb, text),
                         drop_model(text, integer) TO infer_analyst;
GRANT SELECT ON tiny_graph, tiny_weights TO infer_analyst;
SET ROLE infer_analyst;
SELECT create_model('analyst_model', graph, weights) FROM tiny_graph, tiny_weights;
SELECT predict('analyst_model', '{1,1,1}'::real[]);
SELECT expect_error($$SELECT create_model_from_files('x', '/etc/passwd', '/etc/passwd')$$);
SELECT drop_model('analyst_model');
RESET ROLE;
REVOKE ALL ON FUNCTION create_model(text, jsonb, bytea, jsonb, text),
                       create_model_from_files(text, text, text, jsonb, text),
                       drop_model(text, integer) FROM infer_analyst;
REVOKE ALL ON tiny_graph, tiny_weights, rows3 FROM infer_analyst;
DROP ROLE infer_analyst;

-- every function and view of the extension says what it is (\df+, \dv+)
SELECT p.oid::regprocedure::text AS uncommented FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_infer'
WHERE obj_description(p.oid, 'pg_proc') IS NULL
UNION ALL
SELECT c.oid::regclass::text FROM pg_class c
JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_infer'
WHERE c.relkind IN ('r', 'v') AND obj_description(c.oid, 'pg_class') IS NULL;
