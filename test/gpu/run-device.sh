#!/usr/bin/env bash
# The one prepared script for a lent GPU machine (../shared/device/README.md).
# In order, each stage with a time limit, the whole within BUDGET seconds
# (default 450, for a device call of 480):
#   1. nvidia-smi; the carried files' checksums; where this machine keeps
#      CUDA's libraries (test/gpu/find-cuda-libs.sh: printed)
#   2. test_load: the library loaded as the executor will load it, CUDA's
#      libraries through PG_INFER_CUDA_LIBRARY_PATH (the directories found);
#      then, for the log only, what the loader's own search finds without it
#   3. test_gpu: every fixture, the int8 layers (cuBLASLt) and models/mnist
#      at int8, and the MNIST CNN on the GPU against the CPU engine, bucketed
#      graphs, the faults of PG_INFER_CUDA_FAULT
#   4. bench_gpu: the MLP against the pinned H2D roofline (fp32, TF32 and
#      int8)
#   5. test_gpu under compute-sanitizer's memcheck (without the faults),
#      partial when cut off by its limit
#   6. the SQL stage (test/gpu/run-sql.sh): PostgreSQL from the carried
#      bundle, the inference worker on the GPU, test/bench/worker.py
#      --fault-checks over 1,000,000 rows
#   7. the issue's targets against what 4 and 6 measured
# Logs, summary.txt and worker.md go to $OUT (the minor logs into
# logs.tar.gz: a device call returns at most eight files).  Everything runs
# from .device/gpu, prepared here by test/gpu/prepare-device.sh; nothing is
# built on the device.
#
#   device tool: command "bash test/gpu/run-device.sh", carry [".device/gpu"],
#                timeout_s 480
#
# Exit status 0 only when nothing gave a wrong result: test_load, test_gpu
# and bench_gpu passed, memcheck found no error (in what it had time for),
# and the SQL stage's checks passed (its measurements may have been cut off
# by its limit: worker.py's exit 3).  Missed speed targets are reported, not
# failures.  SQL_ARGS replaces worker.py's options (default "--rows 1000000
# --cpu-rows 20000 --seconds 5"); test/gpu/run-sql.sh reads DEVICE_ROOT,
# WORKER_DEVICE and PG_INFER_SERVER_USER (for a dry run here:
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
budget=${BUDGET:-450}
t_start=$(date +%s)
orig_ld_library_path=${LD_LIBRARY_PATH:-}
fixtures=(test/fixtures "$dev/data/mnist_cnn_pytorch.onnx" "$dev/data/t10k-images-idx3-ubyte.gz"
	"$dev/data/t10k-labels-idx1-ubyte.gz" models/mnist)

# Seconds of the budget left.
left() {
	echo $(( budget - ($(date +%s) - t_start) ))
}

# Prints a stage marker (with the time used so far) to the console and the summary.
mark() {
	echo "=== [$(( $(date +%s) - t_start )) s] $* ===" | tee -a "$summary"
}

# Prints a line to the console and the summary.
say() {
	echo "$*" | tee -a "$summary"
}

mark "run-device.sh start $(date -u +%FT%TZ), commit $(head -1 "$dev/COMMIT" 2>/dev/null || echo unknown)"
say "time budget $budget s: test_load 30, test_gpu 150, bench_gpu 60, memcheck min(100, left - 180), sql min(330, left - 10)"
mark "nvidia-smi"
nvidia-smi 2>&1 | tee "$logs/nvidia-smi.txt"
nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version,pcie.link.gen.current,pcie.link.width.current --format=csv 2>&1 | tee -a "$summary"

if [ ! -x "$dev/test_gpu" ] || ! (cd "$dev" && sha256sum -c --quiet SHA256SUMS); then
	mark "FAIL: $dev is missing or damaged: run test/gpu/prepare-device.sh and carry .device/gpu"
	exit 1
fi

mark "CUDA's libraries (test/gpu/find-cuda-libs.sh)"
found=$(test/gpu/find-cuda-libs.sh)
find_rc=$?
say "$found"
cuda_dirs=$(awk '$2 ~ /^\// {print $2}' <<< "$found" | awk '!seen[$0]++' | paste -sd:)
say "CUDA library directories: ${cuda_dirs:-none}"
# the programs' own libraries (cJSON, OpenBLAS, zlib), carried
libdir=$(mktemp -d)
tar -xJf "$dev/libs.tar.xz" -C "$libdir"
export LD_LIBRARY_PATH=$libdir${cuda_dirs:+:$cuda_dirs}${orig_ld_library_path:+:$orig_ld_library_path}
ldd "$dev/test_gpu" "$dev/bench_gpu" "$dev/test_load" "$dev/pg_infer_cuda.so" > "$logs/ldd.txt" 2>&1
if [ "$find_rc" -ne 0 ] || grep -q "not found" "$logs/ldd.txt"; then
	mark "FAIL: libraries not found"
	grep "not found" "$logs/ldd.txt" | sort -u | tee -a "$summary"
	exit 1
fi

mark "test_load: dlopen of pg_infer_cuda.so as the executor does it, and device 0 (limit 30 s)"
PG_INFER_CUDA_LIBRARY_PATH=$cuda_dirs LD_LIBRARY_PATH=$libdir${orig_ld_library_path:+:$orig_ld_library_path} \
	timeout 30 "$dev/test_load" "$dev/pg_infer_cuda.so" > "$logs/test_load.log" 2>&1
load_rc=$?
tee -a "$summary" < "$logs/test_load.log"
say "test_load exit $load_rc"
say "without PG_INFER_CUDA_LIBRARY_PATH, the loader's own search: $(LD_LIBRARY_PATH=$libdir${orig_ld_library_path:+:$orig_ld_library_path} \
	timeout 30 "$dev/test_load" "$dev/pg_infer_cuda.so" 2>&1 | grep -m1 "CUDA's libraries")"

mark "test_gpu: fixtures, bucketed graphs, faults and MNIST on the GPU against the CPU engine (limit 150 s)"
start=$(date +%s)
timeout 150 "$dev/test_gpu" "${fixtures[@]}" > "$OUT/test_gpu.log" 2>&1
test_rc=$?
say "test_gpu exit $test_rc after $(( $(date +%s) - start )) s"
grep -E "^device 0:|^FAIL|MNIST|TF32|mnist at int8|process of its own|^pg_infer_cuda:|passed, .* failed" "$OUT/test_gpu.log" | head -60 | tee -a "$summary"

mark "bench_gpu: MLP 784-512-256-10 against the pinned H2D roofline (limit 60 s)"
timeout 60 "$dev/bench_gpu" 1 > "$OUT/bench_gpu.log" 2>&1
bench_rc=$?
tee -a "$summary" < "$OUT/bench_gpu.log"
say "bench_gpu exit $bench_rc"

memcheck_limit=$(( $(left) - 180 ))
[ "$memcheck_limit" -gt 100 ] && memcheck_limit=100
mark "compute-sanitizer memcheck of test_gpu without the faults (limit $memcheck_limit s; partial when cut off)"
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
memcheck_ok=1
if [ "$memcheck_limit" -lt 20 ]; then
	say "not run: only $memcheck_limit s left"
elif [ -x "$sanitizer" ]; then
	TEST_GPU_NO_FAULTS=1 timeout "$memcheck_limit" "$sanitizer" --tool memcheck --print-limit 50 \
		--error-exitcode 86 --log-file "$logs/memcheck.txt" "$dev/test_gpu" "${fixtures[@]}" \
		> "$logs/test_gpu_memcheck.log" 2>&1
	memcheck_rc=$?
	errors=$(grep -c -E "^========= (Invalid|Program hit|Error)" "$logs/memcheck.txt" 2>/dev/null)
	say "memcheck exit $memcheck_rc (86: errors found; 124: cut off by the limit), ${errors:-0} errors reported;" \
		"$(grep -c '^ok' "$logs/test_gpu_memcheck.log") checks ran, last: $(grep -E '^(ok|FAIL)' "$logs/test_gpu_memcheck.log" | tail -1)"
	grep -m 20 -E "^========= (Invalid|Program hit|Error)|ERROR SUMMARY" "$logs/memcheck.txt" | tee -a "$summary"
	{ [ "${errors:-0}" -eq 0 ] && [ "$memcheck_rc" -ne 86 ]; } || memcheck_ok=0
else
	say "compute-sanitizer not found"
fi

sql_limit=$(( $(left) - 10 ))
[ "$sql_limit" -gt 330 ] && sql_limit=330
mark "sql: PostgreSQL + pg_infer, the inference worker on the GPU, test/bench/worker.py (limit $sql_limit s)"
if [ "$sql_limit" -ge 90 ]; then
	# without the engine programs' libraries (this machine's own LD_LIBRARY_PATH, e.g. the driver's, kept)
	# shellcheck disable=SC2086 # SQL_ARGS is a list of options
	LD_LIBRARY_PATH=$orig_ld_library_path timeout -k 10 $(( sql_limit + 5 )) \
		bash test/gpu/run-sql.sh "$sql_limit" ${SQL_ARGS:---rows 1000000 --cpu-rows 20000 --seconds 5} 2>&1 | tee "$OUT/sql.log"
	sql_rc=${PIPESTATUS[0]}
	# a server left behind by a run that was killed
	PG_INFER_SERVER_USER=${PG_INFER_SERVER_USER:-pgtest} PGBIN=/opt/pg_infer_pgbin \
		test/scratch-server.sh stop /tmp/pg_infer_workerbench >/dev/null 2>&1 || true
else
	say "not run: only $sql_limit s left"
	sql_rc=1
fi
grep -E "^run-sql.sh .*(FAIL|worker.py exit|CUDA)|^  python|^summary: " "$OUT/sql.log" 2>/dev/null >> "$summary"
say "sql exit $sql_rc (0: passed; 3: checks passed, measurements cut off by the limit)"

mark "targets (issue 20)"
python3 test/gpu/targets.py "$OUT/bench_gpu.log" "$OUT/sql.log" 2>&1 | tee -a "$summary"

sql_ok=0
{ [ "$sql_rc" -eq 0 ] || [ "$sql_rc" -eq 3 ]; } && sql_ok=1
tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$logs"
mark "done $(date -u +%FT%TZ): test_load exit $load_rc, test_gpu exit $test_rc, bench_gpu exit $bench_rc, memcheck $([ "$memcheck_ok" -eq 1 ] && echo clean || echo ERRORS), sql exit $sql_rc"
[ "$load_rc" -eq 0 ] && [ "$test_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ] && [ "$memcheck_ok" -eq 1 ] && [ "$sql_ok" -eq 1 ]
