"""The backend's memory while it stores and loads a model of some hundreds of
MB: create_model_from_large_objects peaks at most 1.5 times the model's size
(VmHWM of /proc/PID/status), and a load into the shared cache at most 1.5
times on top of the shared image it builds.  The model is an ONNX file with
its weights inside (raw_data at unaligned offsets, which the import moves
in place rather than copy), written by test/onnx_writer.py."""
import os

import numpy as np
import pytest

import onnx_writer  # test/, on the path through conftest
from proc_memory import Peaks

MODEL_BYTES = 256 << 20
PIECE = 4 << 20


def peak_growth(conn, pid, sql, params=()):
    """How far the backend's peak resident set rises above where it was
    before sql, which runs in this connection."""
    with Peaks(pid, sample=False) as peaks:
        conn.execute(sql, params)
    return peaks.hwm


def test_create_and_load_peaks(conn, tmp_path):
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    if not os.access(f"/proc/{pid}/clear_refs", os.W_OK):
        pytest.skip("resetting the backend's VmHWM needs root or the server's user")
    widths = onnx_writer.mlp_widths(MODEL_BYTES, width=2048)
    path = tmp_path / "model.onnx"
    size = onnx_writer.write_mlp_onnx(str(path), widths)
    # the upload goes through shared buffers in this backend: they are in its
    # resident set before create_model starts, not counted as its growth
    oid = conn.execute("SELECT lo_create(0)").fetchone()[0]
    with open(path, "rb") as f:
        offset = 0
        while piece := f.read(PIECE):
            conn.execute("SELECT lo_put(%s, %s, %s)", (oid, offset, piece))
            offset += len(piece)

    created = peak_growth(conn, pid, "SELECT create_model_from_large_objects('big', %s)", (oid,))
    conn.execute("SELECT lo_unlink(%s)", (oid,))
    loaded = peak_growth(conn, pid, "SELECT warm_model('big')")
    image = conn.execute("SELECT bytes FROM pginfer.cached_models WHERE model = 'big'").fetchone()[0]
    print(f"model {size >> 20} MB: create_model peak +{created >> 20} MB ({created / size:.2f}x), "
          f"load peak +{loaded >> 20} MB ({loaded / size:.2f}x, with the {image >> 20} MB shared image)")
    assert created <= 1.5 * size, (created, size)
    assert loaded <= 1.5 * size + image, (loaded, size, image)

    x = np.random.default_rng(7).standard_normal((2, widths[0])).astype(np.float32)
    got = conn.execute("SELECT predict_batch('big', %s::real[])", (x.tolist(),)).fetchone()[0]
    want = onnx_writer.mlp_reference(widths, x)
    assert np.max(np.abs(np.array(got) - want) / np.maximum(1.0, np.abs(want))) <= 1e-4
