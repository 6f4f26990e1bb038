#!/usr/bin/env bash
# Runs the whole test suite: builds and installs the extension, runs the
# standalone engine tests, the executor process's tests and the fuzzer's
# corpus driver, starts a scratch server, runs pg_regress and the end-to-end
# Python tests against it, and closes with one line "N passed, N failed".
#
#   test/run-tests.sh            (as root, or as a user who may `make install`)
#
# Needs: postgresql-server-dev-15, libcjson-dev, libopenblas-serial-dev, and
# for the end-to-end tests python3 with pytest, psycopg and numpy.
set -uo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
work=${PG_INFER_TEST_DIR:-/tmp/pg_infer_test}
port=${PG_INFER_TEST_PORT:-55431}
PG_CONFIG=${PG_CONFIG:-pg_config}
pgxs_dir=$(dirname "$($PG_CONFIG --pgxs)")
passed=0
failed=0

# Adds a component's counts to the totals.
tally() {
    echo "== $1: $2 passed, $3 failed"
    passed=$((passed + $2))
    failed=$((failed + $3))
}

# Counts "N passed, N failed" (or "word: N passed, N failed") from a log's last summary line.
counts_from() {
    local line
    line=$(grep -E '^([a-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
    if [ -z "$line" ]; then echo "0 1"; return; fi
    echo "$line" | sed -E 's/^([a-z-]+: )?([0-9]+) passed, ([0-9]+) failed.*/\2 \3/'
}

rm -rf "$work"
mkdir -p "$work"

echo "== build and install"
if ! { make -s clean >/dev/null && make -s PG_CONFIG="$PG_CONFIG" && make -s install PG_CONFIG="$PG_CONFIG"; } >"$work/build.log" 2>&1; then
    cat "$work/build.log"
    echo "build failed"
    echo "0 passed, 1 failed"
    exit 1
fi
grep -E 'warning|error' "$work/build.log" || true
tally build 1 0

echo "== engine tests (standalone, PyTorch fixtures; every CPU path, float32, int8, bf16 and fp16)"
make -s check-engine >"$work/engine.log" 2>&1
engine_rc=$?
grep -v '^ok:' "$work/engine.log"
# every run's summary counts (test_engine, test_int8 and test_precision on each path); a run that stopped make counts as a failure
read -r p f < <(grep -E '^[0-9]+ passed, [0-9]+ failed' "$work/engine.log" | awk '{p += $1; f += $3} END {print p + 0, f + 0}')
if [ "$engine_rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
tally engine "$p" "$f"

echo "== executor process (pipes, arena, CPU device, every fixture)"
make -s check-executor >"$work/executor.log" 2>&1
grep -v '^ok:' "$work/executor.log"
read -r p f < <(counts_from "$work/executor.log")
tally executor "$p" "$f"

echo "== text tokenizer (ASan + UBSan; ids against HuggingFace tokenizers)"
if make -s test/text/test_tokenizer >"$work/text-build.log" 2>&1; then
    test/text/test_tokenizer >"$work/text.log" 2>&1
    grep -v '^ok:' "$work/text.log"
    read -r p f < <(counts_from "$work/text.log")
    tally tokenizer "$p" "$f"
    python3 test/text/check_exact.py test/text/test_tokenizer >"$work/text-exact.log" 2>&1
    grep -v '^ok:' "$work/text-exact.log"
    read -r p f < <(counts_from "$work/text-exact.log")
    tally tokenizer-exact "$p" "$f"
else
    cat "$work/text-build.log"
    tally tokenizer 0 1
fi

echo "== fuzzer corpus driver (ASan + UBSan)"
make -s fuzz-smoke >"$work/fuzz.log" 2>&1
tail -n 3 "$work/fuzz.log"
read -r p f < <(counts_from "$work/fuzz.log")
tally fuzz "$p" "$f"

# Runs test/onnx/conformance with the given arguments and tallies it under
# name; sets skipped to the count the expectation list skipped.
conformance() {
    local name=$1 rc p f
    shift
    test/onnx/conformance "$@" >"$work/$name.log" 2>&1
    rc=$?
    grep -vE '^(ok|pass):' "$work/$name.log" | tail -n 30
    p=$(sed -nE 's/^ONNX conformance: [0-9]+ tests, ([0-9]+) passed.*/\1/p' "$work/$name.log")
    skipped=$(sed -nE 's/^ONNX conformance: .* ([0-9]+) skipped$/\1/p' "$work/$name.log")
    f=$(sed -nE 's/^([0-9]+) failures?$/\1/p' "$work/$name.log")
    [ -z "$p" ] && p=0
    [ -z "$f" ] && f=0
    [ "$rc" != 0 ] && [ "$f" = 0 ] && f=1
    tally "$name" "$p" "$f"
}

echo "== ONNX import (rejections, conformance, the shared MNIST CNN)"
if make -s test/onnx/test_onnx_reject test/onnx/conformance test/onnx/test_onnx_mnist >"$work/onnx-build.log" 2>&1; then
    test/onnx/test_onnx_reject test/onnx/ml-malformed test/onnx/quant-malformed test/onnx/stored-malformed >"$work/onnx-reject.log" 2>&1
    grep -v '^ok:' "$work/onnx-reject.log"
    read -r n f < <(sed -nE 's/^([0-9]+) checks, ([0-9]+) failed.*/\1 \2/p' "$work/onnx-reject.log" | tail -n 1)
    [ -z "${n:-}" ] && n=0 f=1
    tally onnx-reject "$((n - f))" "$f"
    onnx_data=${ONNX_TESTDATA:-/usr/share/libonnx-testdata/data}
    conformance onnx-conformance test/onnx/conformance-expected.txt "$onnx_data/node" \
        "$onnx_data/pytorch-converted" "$onnx_data/pytorch-operator" "$onnx_data/simple" \
        test/onnx/models test/onnx/cases test/onnx/ml-node test/onnx/ml-cases
    echo "== conformance: ${skipped:-0} skipped by the expectation list (not counted)"
    # tabular models: every class and every value within 1e-5 of the library's own
    conformance onnx-tabular --tolerance 1e-5 test/onnx/tabular-expected.txt test/onnx/tabular
    # quantized models (QDQ, QOperator, quantize_dynamic): outputs within 1e-4 of ONNX Runtime's, on the VNNI and portable int8 kernels
    conformance onnx-quant test/onnx/quant-expected.txt test/onnx/quant
    PG_INFER_CPU=generic conformance onnx-quant-generic test/onnx/quant-expected.txt test/onnx/quant
    # the shared CNN, then its quantized versions with ONNX Runtime's MNIST counts (uint8
    # weights, quantized again per column: 9815, ORT 9813)
    for model in "$root/../shared/models/mnist_cnn_pytorch.onnx 9813" \
        "test/onnx/quant/lenet_qdq_channel/model.onnx 9813" \
        "test/onnx/quant/lenet_qdq_tensor_s8/model.onnx 9810" \
        "test/onnx/quant/lenet_qdq_uint8_weights/model.onnx 9815" \
        "test/onnx/quant/lenet_qoperator/model.onnx 9813" \
        "test/onnx/quant/lenet_dynamic/model.onnx 9813"; do
        set -- $model
        if test/onnx/test_onnx_mnist "$1" "$root/../shared/data/mnist/t10k-images-idx3-ubyte.gz" \
            "$root/../shared/data/mnist/t10k-labels-idx1-ubyte.gz" "$2"; then
            tally onnx-mnist 1 0
        else
            tally onnx-mnist 0 1
        fi
    done
    # the shared CNN at precision int8 (its Convs on the int8 convolution), VNNI and portable kernels
    for cpu in avx512 generic; do
        if PG_INFER_CPU=$cpu test/onnx/test_onnx_mnist "$root/../shared/models/mnist_cnn_pytorch.onnx" \
            "$root/../shared/data/mnist/t10k-images-idx3-ubyte.gz" \
            "$root/../shared/data/mnist/t10k-labels-idx1-ubyte.gz" 9812 '{"precision": "int8"}'; then
            tally onnx-mnist-int8 1 0
        else
            tally onnx-mnist-int8 0 1
        fi
    done
else
    cat "$work/onnx-build.log"
    tally onnx-build 0 1
fi

echo "== CUDA device engine: build, exports, dlopen (no GPU on this machine)"
if command -v nvcc >/dev/null 2>&1 || [ -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ]; then
    make -s check-cuda-build >"$work/cuda.log" 2>&1
    rc=$?
    grep -v '^ok:' "$work/cuda.log" | tail -n 20
    p=$(grep -c '^ok:' "$work/cuda.log")
    f=$(grep -c '^FAIL' "$work/cuda.log")
    [ "$rc" != 0 ] && [ "$f" = 0 ] && f=1
    [ "$p" = 0 ] && [ "$f" = 0 ] && f=1
    tally cuda-build "$p" "$f"
else
    echo "== cuda-build: skipped, nvcc not found (not counted)"
fi

echo "== scratch server"
# files the server reads must be readable by its unprivileged user
data="$work/data"
mkdir -p "$data/mnist" "$data/model_resblock" "$data/onnx_external"
cp models/mnist/model.json models/mnist/model.safetensors "$data/mnist/"
cp test/fixtures/model_resblock/model.json test/fixtures/model_resblock/model.safetensors "$data/model_resblock/"
cp test/onnx/external_data/model.onnx test/onnx/external_data/weights.bin "$data/onnx_external/"
chmod -R a+rX "$work"
server="$work/server"
trap 'test/scratch-server.sh stop "$server"' EXIT
# every forward pass of the suite goes through the inference worker, on the CPU
if ! test/scratch-server.sh start "$server" "$port" "shared_preload_libraries = 'pg_infer'" \
        "pg_infer.worker_device = 'cpu'" \
    || ! test/wait-for-worker.sh "$server" "$port"; then
    cat "$server/server.log" 2>/dev/null
    echo "$passed passed, $((failed + 1)) failed"
    exit 1
fi

echo "== pg_regress"
mkdir -p "$work/regress"
PG_INFER_TESTDATA="$data" "$pgxs_dir/../test/regress/pg_regress" \
    --inputdir=. --outputdir="$work/regress" --bindir="$($PG_CONFIG --bindir)" \
    --host="$server" --port="$port" --user=postgres --dbname=pg_infer_regress \
    --load-extension=pg_infer $(sed -n 's/^REGRESS = //p' Makefile) \
    >"$work/regress.log" 2>&1
cat "$work/regress.log"
[ -f "$work/regress/regression.diffs" ] && head -n 200 "$work/regress/regression.diffs"
p=$(grep -cE '\.\.\. ok' "$work/regress.log")
f=$(grep -cE '\.\.\. FAILED|\.\.\. failed' "$work/regress.log")
[ "$p" = 0 ] && [ "$f" = 0 ] && f=1     # pg_regress did not run
tally pg_regress "$p" "$f"

echo "== end-to-end tests (pytest)"
PG_INFER_HOST="$server" PG_INFER_PORT="$port" PG_INFER_ROOT="$root" PG_INFER_SERVER_LOG="$server/server.log" \
    python3 -m pytest -q -p no:cacheprovider test/e2e >"$work/e2e.log" 2>&1
cat "$work/e2e.log"
summary=$(grep -E '[0-9]+ (passed|failed)' "$work/e2e.log" | tail -n 1)
p=$(echo "$summary" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
f=$(echo "$summary" | grep -oE '[0-9]+ (failed|error|errors)' | awk '{n += $1} END {print n + 0}')
s=$(echo "$summary" | grep -oE '[0-9]+ skipped' | grep -oE '[0-9]+' || echo 0)
[ -z "$p" ] && p=0
[ -z "$f" ] && f=0
[ "$p" = 0 ] && [ "$f" = 0 ] && f=1     # a run that tested nothing is a failure
tally e2e "$p" "$f"

if [ "${s:-0}" != 0 ]; then
    echo "$passed passed, $failed failed, $s skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" = 0 ]
