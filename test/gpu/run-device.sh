#!/usr/bin/env bash
# The one prepared script for a lent GPU machine (../shared/device/README.md):
# checks the GPU, loads the library as the worker will (test/gpu/test_load),
# runs test/gpu/test_gpu (every fixture and the MNIST CNN on
# the GPU against the CPU engine) and test/gpu/bench_gpu (the MLP against the
# pinned H2D roofline), then test_gpu under compute-sanitizer's memcheck for
# whatever time is left of its budget.  Logs go to $OUT.  Everything runs from
# .device/gpu, prepared here by test/gpu/prepare-device.sh; nothing is built
# on the device.
#
#   device tool: command "bash test/gpu/run-device.sh", carry [".device/gpu"]
#
# Exit status: 0 when test_gpu and bench_gpu passed, else 1.  Each stage has
# its own time limit; all of them together stay under 7 minutes (typically 2 to 3).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/pg_infer_gpu_out}
mkdir -p "$OUT"
dev=.device/gpu
summary=$OUT/summary.txt
: > "$summary"

# Prints a stage marker to the console and the summary.
mark() {
	echo "=== $* ===" | tee -a "$summary"
}

mark "run-device.sh start $(date -u +%FT%TZ), commit $(head -1 "$dev/COMMIT" 2>/dev/null || echo unknown)"
mark "nvidia-smi"
nvidia-smi 2>&1 | tee "$OUT/nvidia-smi.txt"
nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version,pcie.link.gen.current,pcie.link.width.current --format=csv 2>&1 | tee -a "$summary"

if [ ! -x "$dev/test_gpu" ] || ! (cd "$dev" && sha256sum -c --quiet SHA256SUMS); then
	mark "FAIL: $dev is missing or damaged: run test/gpu/prepare-device.sh and carry .device/gpu"
	exit 1
fi

# libraries: the carried ones, then CUDA's wherever this machine keeps cuBLAS 13
libdir=$(mktemp -d)
tar -xzf "$dev/libs.tar.gz" -C "$libdir"
export LD_LIBRARY_PATH=$libdir:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
if ldd "$dev/test_gpu" | grep -q "not found"; then
	for d in $(find /usr/local /usr/lib /opt -maxdepth 6 -name 'libcublas.so.13*' -printf '%h\n' 2>/dev/null | sort -u); do
		LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$d
	done
fi
ldd "$dev/test_gpu" "$dev/bench_gpu" "$dev/test_load" "$dev/pg_infer_cuda.so" > "$OUT/ldd.txt" 2>&1
if grep -q "not found" "$OUT/ldd.txt"; then
	mark "FAIL: libraries not found"
	grep "not found" "$OUT/ldd.txt" | sort -u | tee -a "$summary"
	exit 1
fi

mark "test_load: dlopen of pg_infer_cuda.so and device 0 (limit 60 s)"
timeout 60 "$dev/test_load" "$dev/pg_infer_cuda.so" 2>&1 | tee "$OUT/test_load.log" | tee -a "$summary"

mark "test_gpu: fixtures and MNIST on the GPU against the CPU engine (limit 180 s)"
start=$(date +%s)
timeout 180 "$dev/test_gpu" test/fixtures "$dev/data/mnist_cnn_pytorch.onnx" \
	"$dev/data/t10k-images-idx3-ubyte.gz" "$dev/data/t10k-labels-idx1-ubyte.gz" > "$OUT/test_gpu.log" 2>&1
test_rc=$?
echo "test_gpu exit $test_rc after $(( $(date +%s) - start )) s" | tee -a "$summary"
grep -E "^device 0:|^FAIL|MNIST|TF32|passed, .* failed" "$OUT/test_gpu.log" | head -60 | tee -a "$summary"

mark "bench_gpu: MLP 784-512-256-10 against the pinned H2D roofline (limit 90 s)"
timeout 90 "$dev/bench_gpu" 1 2>&1 | tee "$OUT/bench_gpu.log" | tee -a "$summary"
bench_rc=${PIPESTATUS[0]}
echo "bench_gpu exit $bench_rc" | tee -a "$summary"

mark "compute-sanitizer memcheck of test_gpu (limit 90 s; partial when cut off)"
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
if [ -x "$sanitizer" ]; then
	timeout 90 "$sanitizer" --tool memcheck --print-limit 50 --log-file "$OUT/memcheck.txt" \
		"$dev/test_gpu" test/fixtures "$dev/data/mnist_cnn_pytorch.onnx" \
		"$dev/data/t10k-images-idx3-ubyte.gz" "$dev/data/t10k-labels-idx1-ubyte.gz" > "$OUT/test_gpu_memcheck.log" 2>&1
	memcheck_rc=$?
	echo "memcheck exit $memcheck_rc (124: cut off by the limit); last test line: $(grep -E '^(ok|FAIL)' "$OUT/test_gpu_memcheck.log" | tail -1)" | tee -a "$summary"
	grep -m 20 -E "Invalid|ERROR SUMMARY" "$OUT/memcheck.txt" | tee -a "$summary"
else
	echo "compute-sanitizer not found" | tee -a "$summary"
fi

mark "done $(date -u +%FT%TZ): test_gpu exit $test_rc, bench_gpu exit $bench_rc"
[ "$test_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
