#!/usr/bin/env bash
# The one prepared script for a lent GPU machine (../shared/device/README.md):
# checks the GPU, loads the library as the worker will (test/gpu/test_load),
# runs test/gpu/test_gpu (every fixture and the MNIST CNN on
# the GPU against the CPU engine) and test/gpu/bench_gpu (the MLP against the
# pinned H2D roofline), then the SQL stage (test/gpu/run-sql.sh: PostgreSQL
# from the carried bundle, pg_infer's inference worker on the GPU, and
# test/bench/worker.py --fault-checks with 1,000,000 rows), then test_gpu
# under compute-sanitizer's memcheck for whatever time is left.  Logs,
# summary.txt and worker.md go to $OUT (six files: the device tool returns at
# most eight; the minor logs go into logs.tar.gz).  Everything runs from .device/gpu,
# prepared here by test/gpu/prepare-device.sh; nothing is built on the device.
#
#   device tool: command "bash test/gpu/run-device.sh", carry [".device/gpu"],
#                timeout_s 480
#
# Exit status: 0 when test_gpu, bench_gpu and the SQL stage's checks passed
# (the SQL stage may have had its measurements cut off by its limit), else 1.
# Each stage has a time limit, and the whole run stays within BUDGET seconds
# (default 470): the SQL stage gets at most 330 s of what is left, memcheck
# the rest (at most 60 s).  SQL_ARGS replaces worker.py's options (default
# "--rows 1000000 --cpu-rows 20000 --seconds 5"); test/gpu/run-sql.sh reads
# DEVICE_ROOT, WORKER_DEVICE and PG_INFER_SERVER_USER (for a dry run here:
# DEVICE_ROOT=/tmp/x WORKER_DEVICE=cpu PG_INFER_SERVER_USER=postgres).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
OUT=${OUT:-/tmp/pg_infer_gpu_out}
export OUT
logs=$OUT/logs                  # packed into $OUT/logs.tar.gz at the end
export LOGS=$logs
mkdir -p "$OUT" "$logs"
dev=.device/gpu
summary=$OUT/summary.txt
: > "$summary"
budget=${BUDGET:-470}
t_start=$(date +%s)
orig_ld_library_path=${LD_LIBRARY_PATH:-}

# Seconds of the budget left.
left() {
	echo $(( budget - ($(date +%s) - t_start) ))
}

# Prints a stage marker (with the time used so far) to the console and the summary.
mark() {
	echo "=== [$(( $(date +%s) - t_start )) s] $* ===" | tee -a "$summary"
}

mark "run-device.sh start $(date -u +%FT%TZ), commit $(head -1 "$dev/COMMIT" 2>/dev/null || echo unknown)"
echo "time budget $budget s: test_load 60, test_gpu 180, bench_gpu 90, sql min(330, left - 25), memcheck min(60, left - 5)" | tee -a "$summary"
mark "nvidia-smi"
nvidia-smi 2>&1 | tee "$logs/nvidia-smi.txt"
nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version,pcie.link.gen.current,pcie.link.width.current --format=csv 2>&1 | tee -a "$summary"

if [ ! -x "$dev/test_gpu" ] || ! (cd "$dev" && sha256sum -c --quiet SHA256SUMS); then
	mark "FAIL: $dev is missing or damaged: run test/gpu/prepare-device.sh and carry .device/gpu"
	exit 1
fi

# libraries: the carried ones, then CUDA's wherever this machine keeps cuBLAS 13
libdir=$(mktemp -d)
tar -xJf "$dev/libs.tar.xz" -C "$libdir"
export LD_LIBRARY_PATH=$libdir:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
if ldd "$dev/test_gpu" | grep -q "not found"; then
	for d in $(find /usr/local /usr/lib /opt -maxdepth 6 -name 'libcublas.so.13*' -printf '%h\n' 2>/dev/null | sort -u); do
		LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$d
	done
fi
ldd "$dev/test_gpu" "$dev/bench_gpu" "$dev/test_load" "$dev/pg_infer_cuda.so" > "$logs/ldd.txt" 2>&1
if grep -q "not found" "$logs/ldd.txt"; then
	mark "FAIL: libraries not found"
	grep "not found" "$logs/ldd.txt" | sort -u | tee -a "$summary"
	exit 1
fi

mark "test_load: dlopen of pg_infer_cuda.so and device 0 (limit 60 s)"
timeout 60 "$dev/test_load" "$dev/pg_infer_cuda.so" 2>&1 | tee "$logs/test_load.log" | tee -a "$summary"

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

sql_limit=$(( $(left) - 25 ))
[ "$sql_limit" -gt 330 ] && sql_limit=330
mark "sql: PostgreSQL + pg_infer, the inference worker on the GPU, test/bench/worker.py (limit $sql_limit s)"
if [ "$sql_limit" -ge 90 ]; then
	# without the engine programs' libraries (this machine's own LD_LIBRARY_PATH, e.g. the driver's, kept)
	LD_LIBRARY_PATH=$orig_ld_library_path timeout -k 10 $(( sql_limit + 5 )) \
		bash test/gpu/run-sql.sh "$sql_limit" ${SQL_ARGS:---rows 1000000 --cpu-rows 20000 --seconds 5} 2>&1 | tee "$OUT/sql.log"
	sql_rc=${PIPESTATUS[0]}
	# a server left behind by a run that was killed
	PG_INFER_SERVER_USER=${PG_INFER_SERVER_USER:-pgtest} PGBIN=/opt/pg_infer_pgbin \
		test/scratch-server.sh stop /tmp/pg_infer_workerbench >/dev/null 2>&1 || true
else
	echo "not run: only $sql_limit s left" | tee -a "$summary"
	sql_rc=1
fi
grep -E "^run-sql.sh .*(FAIL|worker.py exit)|^  python|^summary: " "$OUT/sql.log" 2>/dev/null | tee -a "$summary" >/dev/null
echo "sql exit $sql_rc (0: passed; 3: checks passed, measurements cut off by the limit)" | tee -a "$summary"

memcheck_limit=$(( $(left) - 5 ))
[ "$memcheck_limit" -gt 60 ] && memcheck_limit=60
mark "compute-sanitizer memcheck of test_gpu (limit $memcheck_limit s; partial when cut off)"
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
if [ "$memcheck_limit" -lt 15 ]; then
	echo "not run: only $memcheck_limit s left" | tee -a "$summary"
elif [ -x "$sanitizer" ]; then
	timeout "$memcheck_limit" "$sanitizer" --tool memcheck --print-limit 50 --log-file "$logs/memcheck.txt" \
		"$dev/test_gpu" test/fixtures "$dev/data/mnist_cnn_pytorch.onnx" \
		"$dev/data/t10k-images-idx3-ubyte.gz" "$dev/data/t10k-labels-idx1-ubyte.gz" > "$logs/test_gpu_memcheck.log" 2>&1
	memcheck_rc=$?
	echo "memcheck exit $memcheck_rc (124: cut off by the limit); last test line: $(grep -E '^(ok|FAIL)' "$logs/test_gpu_memcheck.log" | tail -1)" | tee -a "$summary"
	grep -m 20 -E "Invalid|ERROR SUMMARY" "$logs/memcheck.txt" | tee -a "$summary"
else
	echo "compute-sanitizer not found" | tee -a "$summary"
fi

sql_ok=0
{ [ "$sql_rc" -eq 0 ] || [ "$sql_rc" -eq 3 ]; } && sql_ok=1
tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$logs"
mark "done $(date -u +%FT%TZ): test_gpu exit $test_rc, bench_gpu exit $bench_rc, sql exit $sql_rc"
[ "$test_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ] && [ "$sql_ok" -eq 1 ]
