"""numpy arrays, dicts and tuples as pg_infer parameters for psycopg 3:

    import pginfer.psycopg
    pginfer.psycopg.register(conn)          # or a cursor; None: every connection
    conn.execute("SELECT predict_class('mnist', %s)", (np.zeros(784, np.float32),))

A numpy array of any shape (an empty one too) is sent as real[] (float32;
other dtypes are converted), a dict as jsonb (the named-inputs form), a
tuple as a list."""
import numpy as np
import psycopg
from psycopg.adapt import Dumper
from psycopg.types.array import ListDumper
from psycopg.types.json import JsonbDumper


class NumpyArrayDumper(Dumper):
    """A numpy array as a real[] literal of its shape."""
    oid = psycopg.postgres.types["float4"].array_oid

    def dump(self, obj):
        return _array_text(np.asarray(obj, dtype=np.float32)).encode()


def _array_text(a):
    """The array literal of a float32 array: {1.5,2.0} and {{...},{...}}."""
    if a.ndim == 0:
        return repr(float(a))
    if a.ndim == 1:
        return "{" + ",".join(repr(float(v)) for v in a) + "}"
    return "{" + ",".join(_array_text(row) for row in a) + "}"


def register(context=None):
    """Registers the dumpers on a connection or cursor, or on every connection (None)."""
    adapters = context.adapters if context is not None else psycopg.adapters
    adapters.register_dumper(np.ndarray, NumpyArrayDumper)
    adapters.register_dumper(dict, JsonbDumper)
    adapters.register_dumper(tuple, ListDumper)
