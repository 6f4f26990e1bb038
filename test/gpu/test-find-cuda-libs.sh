#!/usr/bin/env bash
# Checks test/gpu/find-cuda-libs.sh over fake directory trees, and that it
# agrees with the executor's loader (src/cuda/loader_libs.c, through
# test_gpu_logic --find) wherever both search: toolkit directories, NVIDIA's
# Python wheels in the usual places, and what only the script does (python3's
# own site-packages, ldconfig's cache, find), the given path first, and a
# library that is nowhere.
#
#   test/gpu/test-find-cuda-libs.sh PATH/test_gpu_logic
set -uo pipefail
logic=${1:?usage: test-find-cuda-libs.sh PATH/test_gpu_logic}
script=$(dirname "$0")/find-cuda-libs.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# Records one check: name, then the command that must succeed.
check() {
	local what=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
		echo "ok: $what"
	else
		failed=$((failed + 1))
		echo "FAIL: $what"
	fi
}

# Creates files (and their directories) under a root.
files() {
	local root=$1 f
	shift
	for f in "$@"; do
		mkdir -p "$(dirname "$root/$f")"
		: > "$root/$f"
	done
}

# Runs the script over a root with nothing of this machine's: no python3,
# no ldconfig cache, no LD_LIBRARY_PATH, no CUDA_HOME.
find_libs() {
	local root=$1
	shift
	env -u LD_LIBRARY_PATH -u CUDA_HOME CUDA_SEARCH_ROOT="$root" PYTHON=false LDCONFIG=true \
		"$script" "$@"
}

# Whether the script's line for a library names the directory and how.
line_is() {
	local out=$1 lib=$2 dir=$3 how=$4
	grep -qxF "$lib $dir ($how)" <<< "$out" || { echo "  got: $(grep "^$lib " <<< "$out")"; false; }
}

# Whether the C search under root finds lib in dir (or, dir empty, nowhere).
loader_finds() {
	local root=$1 lib=$2 dir=$3 got
	got=$(env -u CUDA_HOME "$logic" --find "$root" "$lib")
	[ "$got" = "$dir" ] || { echo "  loader: '$got', expected '$dir'"; false; }
}

# toolkit and wheels: both searches, the same answers
a=$tmp/a
files "$a" usr/local/cuda/lib64/libcudart.so.13 \
	usr/local/lib/python3.12/dist-packages/nvidia/cu13/lib/libcublas.so.13 \
	usr/local/lib/python3.12/dist-packages/nvidia/cu13/lib/libcublasLt.so.13 \
	opt/conda/lib/python3.11/site-packages/nvidia/cu13/lib/libcublas.so.13 \
	home/ann/.local/lib/python3.10/site-packages/nvidia/cublas/lib/libcufft.so.13
out=$(find_libs "$a")
check "toolkit and wheels: every library found (exit 0)" test $? -eq 0
check "libcudart.so.13 in the toolkit" line_is "$out" libcudart.so.13 "$a/usr/local/cuda/lib64" "CUDA toolkit"
check "libcublas.so.13 in the first wheel directory" \
	line_is "$out" libcublas.so.13 "$a/usr/local/lib/python3.12/dist-packages/nvidia/cu13/lib" "Python wheels"
check "the loader finds libcudart.so.13 there too" loader_finds "$a" libcudart.so.13 "$a/usr/local/cuda/lib64"
check "the loader finds libcublas.so.13 there too" \
	loader_finds "$a" libcublas.so.13 "$a/usr/local/lib/python3.12/dist-packages/nvidia/cu13/lib"
out=$(find_libs "$a" libcufft.so.13)
check "a user's ~/.local wheels" line_is "$out" libcufft.so.13 \
	"$a/home/ann/.local/lib/python3.10/site-packages/nvidia/cublas/lib" "Python wheels"
check "the loader searches users' ~/.local too" \
	loader_finds "$a" libcufft.so.13 "$a/home/ann/.local/lib/python3.10/site-packages/nvidia/cublas/lib"

# PG_INFER_CUDA_LIBRARY_PATH comes first
files "$a" mine/libcudart.so.13
out=$(PG_INFER_CUDA_LIBRARY_PATH=/nonexistent:$a/mine find_libs "$a" libcudart.so.13)
check "PG_INFER_CUDA_LIBRARY_PATH before the toolkit" line_is "$out" libcudart.so.13 "$a/mine" PG_INFER_CUDA_LIBRARY_PATH

# where only the script looks: python3's own site-packages, ldconfig's cache, find
b=$tmp/b
files "$b" venv/site/nvidia/cu13/lib/libcublas.so.13 cache/libcublasLt.so.13 \
	opt/x/y/z/w/libcudart.so.13
printf '#!/bin/sh\necho %s/venv/site\n' "$b" > "$tmp/python3"
printf '#!/bin/sh\nprintf "\\tlibcublasLt.so.13 (libc6,x86-64) => %s/cache/libcublasLt.so.13\\n"\n' "$b" > "$tmp/ldconfig"
chmod +x "$tmp/python3" "$tmp/ldconfig"
out=$(env -u LD_LIBRARY_PATH -u CUDA_HOME CUDA_SEARCH_ROOT="$b" PYTHON="$tmp/python3" LDCONFIG="$tmp/ldconfig" "$script")
check "python3, ldconfig and find: every library found" test $? -eq 0
check "libcublas.so.13 in the site-packages python3 reports" \
	line_is "$out" libcublas.so.13 "$b/venv/site/nvidia/cu13/lib" "site-packages of $tmp/python3"
check "libcublasLt.so.13 from ldconfig's cache" line_is "$out" libcublasLt.so.13 "$b/cache" "ldconfig -p"
check "libcudart.so.13 by find, 5 levels under /opt" line_is "$out" libcudart.so.13 "$b/opt/x/y/z/w" find
check "the loader does not search those (an unknown venv: PG_INFER_CUDA_LIBRARY_PATH)" \
	loader_finds "$b" libcublas.so.13 ""

# nowhere
out=$(find_libs "$b" libcufft.so.13)
check "a library that is nowhere: exit 1" test $? -eq 1
check "... and says so" grep -qxF "libcufft.so.13 not found" <<< "$out"
check "the default names are the loader's PI_CUDA_LIBRARIES" \
	test "$(find_libs "$a" | awk '{printf "%s ", $1}')" = "libcudart.so.13 libcublasLt.so.13 libcublas.so.13 "

echo "find-cuda-libs.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
