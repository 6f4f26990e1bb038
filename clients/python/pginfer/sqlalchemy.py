"""pg_infer's functions for SQLAlchemy 2, with their return types, so that
results are typed and subscripts work:

    from pginfer.sqlalchemy import predict, predict_class, predict_batch
    select(Digit.id, predict_class("mnist", Digit.features))
    select(predict("mnist", Digit.features)[1])          # real[] is 1-based
    select(predict_class("mnist", [0.5] * 784))           # a list is sent as real[]

A Python list or numpy array given as features is bound as real[], so the
call needs no cast on any driver (asyncpg included)."""
from sqlalchemy import Float, Integer, String, literal
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, REAL
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.functions import GenericFunction


def _features(value):
    """A column or expression as it is; Python numbers as a real[] parameter; a dict as jsonb."""
    if isinstance(value, ColumnElement):
        return value
    if isinstance(value, dict):
        return literal(value, JSONB)
    if hasattr(value, "tolist"):
        value = value.tolist()
    return literal(list(value), ARRAY(REAL))


def _arguments(model, features, version):
    args = [literal(model, String) if isinstance(model, str) else model, _features(features)]
    if version is not None:
        args.append(literal(version, Integer) if isinstance(version, int) else version)
    return args


class _Predict(GenericFunction):
    type = ARRAY(Float(precision=24))
    name = "predict"
    inherit_cache = True


class _PredictClass(GenericFunction):
    type = Integer()
    name = "predict_class"
    inherit_cache = True


class _PredictBatch(GenericFunction):
    type = ARRAY(Float(precision=24), dimensions=2)
    name = "predict_batch"
    inherit_cache = True


def predict(model, features, version=None):
    """predict(model, features [, version]) → real[]: the model's first output."""
    return _Predict(*_arguments(model, features, version))


def predict_class(model, features, version=None):
    """predict_class(model, features [, version]) → integer, counted from 0."""
    return _PredictClass(*_arguments(model, features, version))


def predict_batch(model, rows, version=None):
    """predict_batch(model, rows[][] [, version]) → real[][]."""
    if not isinstance(rows, ColumnElement):
        if hasattr(rows, "tolist"):
            rows = rows.tolist()
        rows = literal([list(r) for r in rows], ARRAY(REAL, dimensions=2))
    args = [literal(model, String) if isinstance(model, str) else model, rows]
    if version is not None:
        args.append(literal(version, Integer))
    return _PredictBatch(*args)
