"""upload_model(): stores a model file from the client, in pieces, with a
progress bar, through any DB-API connection (psycopg 3 or 2)."""
import json
import os

CHUNK_BYTES = 4 * 1024 * 1024


def _read(source):
    """The bytes of a path, a file object, or bytes themselves."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if hasattr(source, "read"):
        return source.read()
    with open(os.fspath(source), "rb") as f:
        return f.read()


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


def upload_model(conn, name, onnx=None, *, graph=None, weights=None, external_data=None,
                 options=None, description=None, progress=True, chunk_bytes=CHUNK_BYTES):
    """Stores a model as the next version of name and returns its version.

    Either an ONNX file (onnx, with external_data when its tensors live in a
    separate file) or a native graph (a dict or JSON text) with safetensors
    weights.  Each of onnx, weights and external_data is a path, a file
    object or bytes.  The bytes travel in pieces of chunk_bytes into a
    temporary table, with a progress bar (tqdm) unless progress is false,
    then create_model() assembles them on the server.  In a transaction,
    nothing is stored unless it commits; in autocommit mode each piece
    commits as it goes, and create_model() stores the version.
    """
    if (onnx is None) == (graph is None):
        raise ValueError("give either onnx or graph (with weights)")
    if graph is not None and weights is None:
        raise ValueError("a native graph needs its weights")
    blobs = {"main": _read(onnx if onnx is not None else weights)}
    if external_data is not None:
        blobs["external"] = _read(external_data)
    total = sum(len(b) for b in blobs.values())
    bar = _progress(total, progress, f"uploading {name}")
    cur = conn.cursor()
    try:
        cur.execute("DROP TABLE IF EXISTS pg_temp.pginfer_upload")
        cur.execute("CREATE TEMP TABLE pginfer_upload (part text, chunk_no int, data bytea)")
        for part, blob in blobs.items():
            for no, start in enumerate(range(0, max(len(blob), 1), chunk_bytes)):
                piece = blob[start:start + chunk_bytes]
                cur.execute("INSERT INTO pginfer_upload VALUES (%s, %s, %s)", (part, no, piece))
                bar.update(len(piece))
        assembled = ("(SELECT coalesce(string_agg(data, ''::bytea ORDER BY chunk_no), ''::bytea)"
                     " FROM pginfer_upload WHERE part = %s)")
        options_json = json.dumps(options or {})
        if onnx is not None:
            cur.execute(f"SELECT create_model(%s, onnx => {assembled}, external_data => "
                        f"CASE WHEN %s THEN {assembled} END, options => %s::jsonb, description => %s)",
                        (name, "main", "external" in blobs, "external", options_json, description))
        else:
            graph_text = graph if isinstance(graph, str) else json.dumps(graph)
            cur.execute(f"SELECT create_model(%s, %s::jsonb, {assembled}, %s::jsonb, %s)",
                        (name, graph_text, "main", options_json, description))
        version = cur.fetchone()[0]
        cur.execute("DROP TABLE pg_temp.pginfer_upload")
        return version
    finally:
        bar.close()
        cur.close()
