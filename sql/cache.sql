-- The shared model cache: one image per version for the whole server,
-- pinned while a transaction uses it, evicted on request or when dropped.

SELECT shared, budget FROM cache_usage();

SELECT create_model('cached', graph, weights) FROM tiny_graph, tiny_weights;
SELECT count(*) FROM pginfer.cached_models WHERE model = 'cached';   -- not loaded yet

-- warming loads the active version; the image holds the weights
SELECT warm_model('cached');
SELECT version, state, bytes > 32 AS holds_weights, pins, loads, hits
FROM pginfer.cached_models WHERE model = 'cached';

-- later statements in other transactions hit the cache, nothing reloads
SELECT predict('cached', '{1,1,1}'::real[]);
SELECT predict('cached', '{1,1,2}'::real[]);
SELECT version, state, pins, loads, hits FROM pginfer.cached_models WHERE model = 'cached';

-- a running transaction pins the image: evicting it frees nothing
BEGIN;
SELECT predict('cached', '{1,1,1}'::real[]);
SELECT pins FROM pginfer.cached_models WHERE model = 'cached';
SELECT evict_model('cached');
SELECT state FROM pginfer.cached_models WHERE model = 'cached';
COMMIT;
SELECT pins FROM pginfer.cached_models WHERE model = 'cached';

-- unpinned, it is evicted; the next use loads it again
SELECT evict_model('cached');
SELECT state, bytes, loads FROM pginfer.cached_models WHERE model = 'cached';
SELECT predict('cached', '{1,1,1}'::real[]);
SELECT state, loads FROM pginfer.cached_models WHERE model = 'cached';
SELECT evict_model('cached', 7);      -- no such cached version: nothing evicted

-- a version created by an open transaction stays out of the shared cache
BEGIN;
SELECT create_model('cached', graph, weights, '{"input_scale": 2}') FROM tiny_graph, tiny_weights;
SELECT predict('cached', '{1,1,1}'::real[]);
SELECT version, state FROM pginfer.cached_models WHERE model = 'cached' ORDER BY version;
ROLLBACK;
SELECT predict('cached', '{1,1,1}'::real[]);

-- the same version number, committed this time, is a new model
SELECT create_model('cached', graph, weights, '{"input_scale": 2}') FROM tiny_graph, tiny_weights;
SELECT predict('cached', '{1,1,1}'::real[]);
SELECT version, state, loads FROM pginfer.cached_models WHERE model = 'cached' ORDER BY version;

-- dropping a version, then the model, removes their images
SELECT drop_model('cached', 2);
SELECT version, state FROM pginfer.cached_models WHERE model = 'cached' ORDER BY version;
SELECT drop_model('cached');
SELECT count(*) FROM pginfer.cached_models WHERE model = 'cached';

SELECT expect_error($$SELECT warm_model('nosuchmodel')$$);
SELECT expect_error($$SELECT evict_model('nosuchmodel')$$);
SELECT expect_error($$SELECT warm_model(NULL)$$);

-- only administrators warm and evict
CREATE ROLE cache_reader;
SET ROLE cache_reader;
SELECT expect_error($$SELECT evict_model('tiny')$$);
SELECT count(*) >= 0 AS view_readable FROM pginfer.cached_models;
RESET ROLE;
DROP ROLE cache_reader;
