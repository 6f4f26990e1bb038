"""upload_model(): stores a model file from the client, in pieces, with a
progress bar, through any DB-API connection (psycopg 3 or 2), as large
objects: no size limit, and neither side ever holds the whole file in one
message."""
import io
import json
import os

CHUNK_BYTES = 4 * 1024 * 1024


def _open(source):
    """A binary file object for a path, a file object or bytes, its size (or
    None when unknown), and whether it was opened here (to be closed)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(source), len(source), True
    if hasattr(source, "read"):
        try:
            size = os.fstat(source.fileno()).st_size - source.tell()
        except (AttributeError, OSError, io.UnsupportedOperation):
            size = None
        return source, size, False
    f = open(os.fspath(source), "rb")
    return f, os.fstat(f.fileno()).st_size, True


def _progress(total, enabled, desc):
    """A tqdm bar when tqdm is installed and enabled, else an object that ignores updates."""
    if enabled:
        try:
            from tqdm.auto import tqdm
            return tqdm(total=total, unit="B", unit_scale=True, desc=desc)
        except ImportError:
            pass

    class Silent:
        def update(self, n):
            pass

        def close(self):
            pass
    return Silent()


def _write_large_object(cur, f, bar, chunk_bytes):
    """A new large object holding what f reads, written in pieces of chunk_bytes; its oid."""
    cur.execute("SELECT lo_create(0)")
    oid = cur.fetchone()[0]
    offset = 0
    while True:
        piece = f.read(chunk_bytes)
        if not piece:
            return oid
        cur.execute("SELECT lo_put(%s, %s, %s)", (oid, offset, piece))
        offset += len(piece)
        bar.update(len(piece))


def upload_model(conn, name, onnx=None, *, graph=None, weights=None, external_data=None,
                 options=None, description=None, progress=True, chunk_bytes=CHUNK_BYTES):
    """Stores a model as the next version of name and returns its version.

    Either an ONNX file (onnx, with external_data when its tensors live in a
    separate file) or a native graph (a dict or JSON text) with safetensors
    weights.  Each of onnx, weights and external_data is a path, a file
    object or bytes; a file is read piece by piece, so a client uploads
    models larger than its memory or than 1 GB.  The pieces of chunk_bytes
    go into large objects (lo_put), with a progress bar (tqdm) unless
    progress is false; create_model_from_large_objects() then stores the
    model, and the large objects are unlinked.  In a transaction nothing is
    stored unless it commits; in autocommit mode each piece commits as it
    goes, and a client that dies midway leaves its large object behind
    (vacuumlo removes it).
    """
    if (onnx is None) == (graph is None):
        raise ValueError("give either onnx or graph (with weights)")
    if graph is not None and weights is None:
        raise ValueError("a native graph needs its weights")
    if graph is not None and external_data is not None:
        raise ValueError("external_data goes with an ONNX file")
    parts = [_open(onnx if onnx is not None else weights)]
    if external_data is not None:
        parts.append(_open(external_data))
    sizes = [size for _, size, _ in parts]
    bar = _progress(None if None in sizes else sum(sizes), progress, f"uploading {name}")
    cur = conn.cursor()
    oids = []
    try:
        for f, _, _ in parts:
            oids.append(_write_large_object(cur, f, bar, chunk_bytes))
        options_json = json.dumps(options or {})
        if onnx is not None:
            cur.execute("SELECT create_model_from_large_objects(%s, onnx_oid => %s, external_data_oid => %s,"
                        " options => %s::jsonb, description => %s)",
                        (name, oids[0], oids[1] if len(oids) > 1 else None, options_json, description))
        else:
            graph_text = graph if isinstance(graph, str) else json.dumps(graph)
            cur.execute("SELECT create_model_from_large_objects(%s, graph => %s::jsonb, weights_oid => %s,"
                        " options => %s::jsonb, description => %s)",
                        (name, graph_text, oids[0], options_json, description))
        return cur.fetchone()[0]
    finally:
        for oid in oids:
            try:
                cur.execute("SELECT lo_unlink(%s)", (oid,))
            except Exception:
                pass            # a failed transaction: its rollback removes them
        for f, _, opened in parts:
            if opened:
                f.close()
        bar.close()
        cur.close()
