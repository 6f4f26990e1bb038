#!/usr/bin/env bash
# The SQL stage of the device run (test/gpu/run-device.sh): PostgreSQL from
# the carried bundle with the carried build of pg_infer, then
# test/bench/worker.py against a scratch server whose inference worker runs
# on the GPU (accuracy and agreement with the CPU through SQL, kill -9,
# cancel and statement_timeout of a request in flight, then the
# measurements).  Everything comes from .device/gpu (test/gpu/prepare-device.sh).
#
#   test/gpu/run-sql.sh [SECONDS] [worker.py options...]
#
# SECONDS (default 240): the time limit of the whole stage; worker.py gets
# what is left after the setup, and writes what it measured when stopped.
# Environment:
#   OUT                   where worker.md goes (default /tmp/pg_infer_gpu_out)
#   LOGS                  where the server's log and ldd's output go (default $OUT)
#   DEVICE_ROOT           where the bundle is unpacked (default /, as on the GPU
#                         machine; a scratch directory for a dry run on a machine
#                         with its own PostgreSQL)
#   PG_INFER_SERVER_USER  the server's owner when run as root (default pgtest,
#                         created when missing)
#   WORKER_DEVICE         pg_infer.worker_device (default cuda; cpu for a dry run)
#
# Exit status: worker.py's (0: passed; 3: every check passed but the
# measurements were cut off by the limit), 1 when the setup failed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
t0=$(date +%s)
limit=240
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
	limit=$1
	shift
fi
OUT=${OUT:-/tmp/pg_infer_gpu_out}
LOGS=${LOGS:-$OUT}
mkdir -p "$OUT" "$LOGS"
dev=$PWD/.device/gpu
root=${DEVICE_ROOT:-/}
root=${root%/}
export PG_INFER_SERVER_USER=${PG_INFER_SERVER_USER:-pgtest}
worker_device=${WORKER_DEVICE:-cuda}

step() { echo "run-sql.sh [$(( $(date +%s) - t0 )) s] $*"; }
fail() {
	echo "run-sql.sh [$(( $(date +%s) - t0 )) s] FAIL: $*"
	exit 1
}

if [ ! -f "$dev/pgbundle.tar.xz" ] || [ ! -f "$dev/ext.tar.gz" ] || [ ! -d "$dev/wheels" ]; then
	fail "$dev lacks pgbundle.tar.xz, ext.tar.gz or wheels/: run test/gpu/prepare-device.sh"
fi

# never over a machine's own PostgreSQL (a development machine's installed build)
if [ -e "$root/usr/lib/postgresql/15/bin/postgres" ] && [ ! -e "$root/opt/pgdeps/.from-pg-infer-bundle" ]; then
	fail "${root:-/} has a PostgreSQL 15 of its own: set DEVICE_ROOT to a scratch directory for a dry run"
fi
step "unpacking PostgreSQL into ${root:-/}"
mkdir -p "${root:-/}"
tar -xJf "$dev/pgbundle.tar.xz" -C "${root:-/}" || fail "could not unpack the bundle"
touch "$root/opt/pgdeps/.from-pg-infer-bundle"
step "disk for the tables: $(df -h /tmp | awk 'NR==2{print $4 " free on " $6}')"
bindir=$root/usr/lib/postgresql/15/bin
export PATH=$bindir:$PATH            # pg_config (needs only libc)
pkglib=$(pg_config --pkglibdir) || fail "pg_config of the bundle does not run"
share=$(pg_config --sharedir) || fail "pg_config of the bundle does not run"
[ "$pkglib" = "$root/usr/lib/postgresql/15/lib" ] || fail "pg_config says pkglibdir $pkglib"

step "installing pg_infer into $pkglib and $share/extension"
ext=$(mktemp -d)
pylib=$(mktemp -d)
trap 'rm -rf "$ext" "$pylib"' EXIT
tar -xzf "$dev/ext.tar.gz" -C "$ext" || fail "could not unpack ext.tar.gz"
install -m 755 "$ext"/lib/* "$pkglib/" || fail "could not install the extension's libraries"
install -m 644 "$ext"/extension/* "$share/extension/" || fail "could not install the extension's SQL files"

# The server's libraries: the bundle's, CUDA's wherever this machine keeps
# them (test/gpu/find-cuda-libs.sh; pg_infer_cuda.so's run path names only
# the build machine's /usr/local/cuda/lib64), and this machine's
# LD_LIBRARY_PATH (the GPU driver may be found through it).  Only the server
# gets them (through wrappers of initdb and pg_ctl): the bundle's OpenSSL and
# friends are Debian 12's, not this Python's.  The executor is also given the
# CUDA directories as PG_INFER_CUDA_LIBRARY_PATH, which its loader searches
# first (include/pi_cuda_loader.h).
if [ "$(id -u)" = 0 ] && ! id "$PG_INFER_SERVER_USER" >/dev/null 2>&1; then
	step "creating the user $PG_INFER_SERVER_USER that runs the server"
	useradd -m "$PG_INFER_SERVER_USER" || fail "useradd $PG_INFER_SERVER_USER"
fi
cuda_dirs=
if [ "$worker_device" = cuda ]; then
	found=$(test/gpu/find-cuda-libs.sh) || fail "CUDA's libraries not found: $(echo "$found" | tr '\n' ' ')"
	cuda_dirs=$(awk '{print $2}' <<< "$found" | awk '!seen[$0]++' | paste -sd:)
	# the server's owner may not reach them (a Python under /root): then copies
	unreadable=0
	while read -r name dir _; do
		if [ "$(id -u)" = 0 ] && ! runuser -u "$PG_INFER_SERVER_USER" -- test -r "$dir/$name"; then
			unreadable=1
		fi
	done <<< "$found"
	if [ "$unreadable" -eq 1 ]; then
		copies=$root/opt/pg_infer_cuda_libs
		mkdir -p "$copies"
		awk '{print $2 "/" $1}' <<< "$found" | xargs cp -L -t "$copies" || fail "could not copy CUDA's libraries to $copies"
		chmod -R a+rX "$copies"
		step "$PG_INFER_SERVER_USER cannot read CUDA's libraries where they are: copied to $copies"
		cuda_dirs=$copies
	fi
fi
step "CUDA library directories: ${cuda_dirs:-none}"
server_libs=$root/opt/pgdeps${cuda_dirs:+:$cuda_dirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
LD_LIBRARY_PATH=$server_libs ldd "$pkglib/pg_infer.so" "$pkglib/pg_infer_executor" "$pkglib/pg_infer_cuda.so" \
	"$bindir/postgres" "$bindir/initdb" > "$LOGS/sql-ldd.txt" 2>&1
missing=$(grep "not found" "$LOGS/sql-ldd.txt" | awk '{print $1}' | sort -u | tr '\n' ' ')
if [ -n "$missing" ]; then
	if [ "$worker_device" = cuda ] || echo "$missing" | tr ' ' '\n' | grep -v -E '^(libcu|$)' | grep -q .; then
		fail "libraries not found: $missing"
	fi
	step "CUDA's libraries are missing ($missing), which worker_device $worker_device does not use"
fi
wrap=$root/opt/pg_infer_pgbin
mkdir -p "$wrap"
for prog in initdb pg_ctl; do
	printf '#!/bin/sh\nLD_LIBRARY_PATH=%s PG_INFER_CUDA_LIBRARY_PATH=%s exec %s "$@"\n' \
		"$server_libs" "$cuda_dirs" "$bindir/$prog" > "$wrap/$prog"
done
chmod 755 "$wrap" "$wrap"/*


step "psycopg from the carried wheels"
python3 - "$dev/wheels" "$pylib" "$root/opt/pgdeps/libpq.so.5" <<'PY' || fail "could not unpack the wheels"
import glob, os, sys, zipfile
wheels, target, libpq = sys.argv[1:]
tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
binary = False
for w in sorted(glob.glob(os.path.join(wheels, "*.whl"))):
    name = os.path.basename(w)
    if name.startswith("psycopg_binary-"):
        if f"-{tag}-{tag}-" not in name:
            continue
        binary = True
    zipfile.ZipFile(w).extractall(target)
    print(f"  {name}")
if not binary:
    # no binary wheel for this Python: pure-Python psycopg over the bundle's libpq
    print(f"  no psycopg_binary wheel for {tag}: psycopg will load {libpq}")
    with open(os.path.join(target, "sitecustomize.py"), "w") as f:
        f.write("import ctypes.util\n_find = ctypes.util.find_library\n"
                f"ctypes.util.find_library = lambda n: {libpq!r} if n == 'pq' else _find(n)\n")
PY
export PYTHONPATH=$pylib${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
if [ -f "$pylib/sitecustomize.py" ]; then
	export LD_LIBRARY_PATH=$root/opt/pgdeps${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}   # libpq's own libraries
fi
python3 -c "import sys, numpy, psycopg; print('  python', sys.version.split()[0], 'numpy', numpy.__version__,
	'psycopg', psycopg.__version__, psycopg.pq.__impl__)" || fail "python3 cannot import numpy and psycopg"

left=$(( limit - ($(date +%s) - t0) - 5 ))
[ "$left" -gt 30 ] || fail "only $left s left for worker.py"
step "test/bench/worker.py --worker-device $worker_device $* (limit $left s)"
timeout --preserve-status -k 15 "$left" python3 test/bench/worker.py --worker-device "$worker_device" \
	--pgbin "$wrap" --mnist-dir "$dev/data" --cnn "$dev/data/mnist_cnn_pytorch.onnx" --fault-checks \
	--out "$OUT/worker.md" --server-log "$LOGS/worker-server.log" "$@" 2>&1
rc=${PIPESTATUS[0]}
step "worker.py exit $rc"
exit "$rc"
