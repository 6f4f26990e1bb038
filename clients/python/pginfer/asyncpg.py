"""pg_infer calls for asyncpg.  asyncpg prepares every statement and lets the
server infer parameter types, which cannot choose among predict's
overloads for an untyped parameter; these helpers cast it, and take numpy
arrays and dicts:

    import pginfer.asyncpg as pi
    cls = await pi.predict_class(conn, "mnist", np.zeros(784, np.float32))
    rows = await conn.fetch(pi.PREDICT_CLASS_SQL.format(features="features") + " FROM digits", "mnist")
"""
import json


def _features(value):
    """(SQL cast, value) for features: a list or numpy array as real[], a dict as jsonb."""
    if isinstance(value, dict):
        return "::jsonb", json.dumps(value)
    if hasattr(value, "tolist"):
        value = value.tolist()
    return "::real[]", value


async def predict(conn, model, features, version=None):
    """The model's first output for one row, as a list of floats."""
    cast, value = _features(features)
    if version is None:
        return await conn.fetchval(f"SELECT predict($1::text, $2{cast})", model, value)
    return await conn.fetchval(f"SELECT predict($1::text, $2{cast}, $3::int)", model, value, version)


async def predict_class(conn, model, features, version=None):
    """The class (counted from 0) for one row."""
    cast, value = _features(features)
    if version is None:
        return await conn.fetchval(f"SELECT predict_class($1::text, $2{cast})", model, value)
    return await conn.fetchval(f"SELECT predict_class($1::text, $2{cast}, $3::int)", model, value, version)


# A select list for queries over a table: the model is $1, the features a column.
PREDICT_CLASS_SQL = "SELECT predict_class($1::text, {features})"
PREDICT_SQL = "SELECT predict($1::text, {features})"
