#!/usr/bin/env bash
# Finds the CUDA libraries that pg_infer_cuda.so needs on this machine
# (PI_CUDA_LIBRARIES of include/pi_cuda_loader.h, or the names given), in
# the places the executor's loader searches (src/cuda/loader_libs.c), then
# deeper:
#   1. the directories of PG_INFER_CUDA_LIBRARY_PATH
#   2. the directories of LD_LIBRARY_PATH, then ldconfig's cache (ldconfig -p)
#   3. $CUDA_HOME/lib64 and the CUDA toolkit's directories
#   4. the lib directories of NVIDIA's Python wheels (nvidia/cu13/lib,
#      nvidia/cublas/lib, nvidia/cuda_runtime/lib) in the site-packages that
#      python3 reports, then in the usual places of system Pythons, conda,
#      pyenv, venvs in /opt and users' ~/.local (the loader's list)
#   5. find under /usr /opt /root /home /workspace, 12 levels deep (30 s at most)
# The loader does 1, 2 (through the dynamic loader), 3 and the list of 4.
#
#   test/gpu/find-cuda-libs.sh [LIBRARY...]
#
# Prints one line per library: "LIBRARY DIRECTORY (where it was found)", or
# "LIBRARY not found"; exits 1 when one is not found.  For tests:
# CUDA_SEARCH_ROOT is put before the fixed places of 3 to 5, PYTHON and
# LDCONFIG replace python3 and ldconfig.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
root=${CUDA_SEARCH_ROOT:-}
python=${PYTHON:-python3}
ldconfig=${LDCONFIG:-$(command -v ldconfig || echo /sbin/ldconfig)}

# the same lists as src/cuda/loader_libs.c
toolkit_dirs=(/usr/local/cuda/lib64 '/usr/local/cuda/targets/*/lib' '/usr/local/cuda-*/lib64'
	'/usr/local/cuda-*/targets/*/lib' /opt/cuda/lib64)
site_dirs=('/usr/local/lib/python3*/dist-packages' '/usr/local/lib/python3*/site-packages'
	/usr/lib/python3/dist-packages '/usr/lib/python3*/site-packages'
	'/opt/conda/lib/python3*/site-packages' '/opt/conda/envs/*/lib/python3*/site-packages'
	'/opt/*/lib/python3*/site-packages' '/root/.local/lib/python3*/site-packages'
	'/root/.pyenv/versions/*/lib/python3*/site-packages' '/home/*/.local/lib/python3*/site-packages')
wheel_dirs=(nvidia/cu13/lib nvidia/cublas/lib nvidia/cuda_runtime/lib)

if [ $# -gt 0 ]; then
	names=("$@")
else
	read -ra names <<< "$(sed -n 's/^#define PI_CUDA_LIBRARIES "\(.*\)"$/\1/p' "$repo/include/pi_cuda_loader.h")"
fi

dirs=()
hows=()
# Appends a directory to search (when it exists and is new) with how it came.
add() {
	local d
	[ -d "$1" ] || return 0
	for d in "${dirs[@]}"; do
		[ "$d" = "$1" ] && return 0
	done
	dirs+=("$1")
	hows+=("$2")
}

# Appends the directories a glob pattern matches.
add_glob() {
	local d
	local IFS=$'\n'
	shopt -s nullglob
	# shellcheck disable=SC2206 # the pattern is meant to be expanded
	local matches=($1)
	shopt -u nullglob
	for d in "${matches[@]}"; do
		add "$d" "$2"
	done
}

IFS=: read -ra given <<< "${PG_INFER_CUDA_LIBRARY_PATH:-}"
for d in "${given[@]}"; do
	add "$d" PG_INFER_CUDA_LIBRARY_PATH
done
IFS=: read -ra ld_path <<< "${LD_LIBRARY_PATH:-}"
for d in "${ld_path[@]}"; do
	add "$d" LD_LIBRARY_PATH
done
cache=$("$ldconfig" -p 2>/dev/null | awk '$NF ~ /^\// {print $NF}')
for f in $cache; do
	add "$(dirname "$f")" "ldconfig -p"
done
[ -n "${CUDA_HOME:-}" ] && add "$CUDA_HOME/lib64" "CUDA_HOME"
for p in "${toolkit_dirs[@]}"; do
	add_glob "$root$p" "CUDA toolkit"
done
sites=$(timeout 20 "$python" -c 'import site, sys
print("\n".join(site.getsitepackages() + [site.getusersitepackages()] + sys.path))' 2>/dev/null)
while IFS= read -r site; do
	for w in "${wheel_dirs[@]}"; do
		[ -n "$site" ] && add "$site/$w" "site-packages of $python"
	done
done <<< "$sites"
for p in "${site_dirs[@]}"; do
	for w in "${wheel_dirs[@]}"; do
		add_glob "$root$p/$w" "Python wheels"
	done
done
deep_roots=()
for d in /usr /opt /root /home /workspace; do
	[ -d "$root$d" ] && deep_roots+=("$root$d")
done

missing=0
for name in "${names[@]}"; do
	found=
	for i in "${!dirs[@]}"; do
		if [ -e "${dirs[$i]}/$name" ]; then
			found="${dirs[$i]} (${hows[$i]})"
			break
		fi
	done
	if [ -z "$found" ] && [ ${#deep_roots[@]} -gt 0 ]; then
		f=$(timeout 30 find "${deep_roots[@]}" -maxdepth 12 -name "$name" \( -type f -o -type l \) -print -quit 2>/dev/null)
		[ -n "$f" ] && found="$(dirname "$f") (find)"
	fi
	if [ -n "$found" ]; then
		echo "$name $found"
	else
		echo "$name not found"
		missing=1
	fi
done
exit "$missing"
