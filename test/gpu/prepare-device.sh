#!/usr/bin/env bash
# Prepares, on a machine with the CUDA toolkit but no GPU, everything that
# test/gpu/run-device.sh needs on a lent GPU machine (which has CUDA and
# Python with numpy, but no PostgreSQL, cJSON, OpenBLAS, psycopg or MNIST
# files, and no network), in .device/gpu/:
#
#   pg_infer_cuda.so test_gpu bench_gpu test_load   the engine-level programs
#   libs.tar.xz      their libraries beyond glibc and CUDA (compressed)
#   data/            the shared MNIST CNN with its README (reference accuracy)
#                    and the MNIST test set
#   pgbundle.tar.xz  this machine's PostgreSQL 15 with the libraries pg_infer
#                    needs (../shared/device/make-pg-bundle.sh; cached in build/)
#   ext.tar.gz       the built extension as make install lays it out:
#                    lib/ (pg_infer.so, pg_infer_executor, pg_infer_cuda.so)
#                    and extension/ (control file and SQL script)
#   wheels/          psycopg (pure Python, and binary wheels for CPython 3.11
#                    to 3.13: the GPU machines' python3 is 3.12, KINDS.md of
#                    the device tool; another Python uses the pure one over
#                    the bundle's libpq) and typing_extensions, for test/bench/worker.py
#   COMMIT SHA256SUMS
#
#   test/gpu/prepare-device.sh [SHARED_DIR]     (default ../shared)
#
# Then, with the device tool: run "bash test/gpu/run-device.sh" with
# carry [".device/gpu"] and timeout_s 480.  What a call sends (the working
# tree's tracked and untracked files, and .device/gpu) must stay within
# 64 MiB: the script fails when it does not.
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${1:-../shared}
dest=.device/gpu
limit_bytes=$((64 * 1024 * 1024))
psycopg_version=3.3.9
typing_extensions_version=4.16.0
make -j2 all pg_infer_cuda.so test/gpu/test_gpu test/gpu/bench_gpu test/gpu/test_load
test/gpu/check-exports.sh pg_infer_cuda.so include/pi_cuda.h
rm -rf "$dest"
mkdir -p "$dest/data"
cp pg_infer_cuda.so test/gpu/test_gpu test/gpu/bench_gpu test/gpu/test_load "$dest/"
# every library of the programs that is not glibc's, the compiler's or CUDA's,
# compressed (OpenBLAS alone is 35 MB; a device call carries at most 64 MiB)
skip='/(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s|libcudart|libcublas|libcublasLt)\.so'
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/libs"
for lib in $(ldd test/gpu/test_gpu test/gpu/bench_gpu | awk '/=> \//{print $3}' | sort -u | grep -v -E "$skip" | grep -v pg_infer_cuda); do
	cp -L "$lib" "$tmp/libs/"
done
tar -cJf "$dest/libs.tar.xz" -C "$tmp/libs" .
cp "$shared/models/mnist_cnn_pytorch.onnx" "$shared/models/README.md" "$shared/data/mnist/t10k-images-idx3-ubyte.gz" \
	"$shared/data/mnist/t10k-labels-idx1-ubyte.gz" "$dest/data/"

# the extension, installed into a staging directory (not into this machine's PostgreSQL)
make install DESTDIR="$tmp/stage" >/dev/null
mkdir -p "$tmp/ext/lib" "$tmp/ext/extension"
for f in pg_infer.so pg_infer_executor pg_infer_cuda.so; do
	cp "$tmp/stage$(pg_config --pkglibdir)/$f" "$tmp/ext/lib/"
done
cp "$tmp/stage$(pg_config --sharedir)"/extension/pg_infer* "$tmp/ext/extension/"
tar -czf "$dest/ext.tar.gz" -C "$tmp/ext" lib extension
# what the extension links beyond glibc: the bundle must bring every one (the
# server opens OpenBLAS by its soname at run time; CUDA's libraries are the GPU machine's)
needed=$(ldd "$tmp/ext/lib/pg_infer.so" "$tmp/ext/lib/pg_infer_executor" | awk '/=> \//{print $1}' | sort -u \
	| grep -v -E '^(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s)\.so' | tr '\n' ' ')
bundled=" libcjson.so.1 libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 "
for soname in $needed; do
	case "$bundled" in
	*" $soname "*) ;;
	*) echo "prepare-device.sh: the extension needs $soname, which the bundle does not bring: add it below" >&2; exit 1 ;;
	esac
done

# PostgreSQL: ../shared/device/make-pg-bundle.sh packs this machine's server
# with every library that its binaries and $(pg_config --pkglibdir)/*.so link,
# so an installed pg_infer_cuda.so brings cuBLAS (600 MB): those, and the
# installed pg_infer files (ext.tar.gz replaces them), are taken out again.
# Packing takes minutes: the result is kept in build/device while this
# machine's PostgreSQL, OpenBLAS and the bundle script stay the same.
key=$( { sha256sum "$shared/device/make-pg-bundle.sh"; pg_config --version; ls -l --time-style=+%s "$(pg_config --bindir)/postgres";
	ls -lL --time-style=+%s "$(ldconfig -p | awk '$1=="libopenblas.so.0"{print $NF; exit}')"; } | sha256sum | cut -c1-16)
bundle=build/device/pgbundle-$key.tar.xz
raw=build/device/pgbundle-raw-$key.tar.xz
mkdir -p build/device
if [ ! -f "$bundle" ]; then
	for old in build/device/pgbundle-*.tar.xz; do
		[ "$old" = "$raw" ] || rm -f "$old"
	done
	if [ ! -f "$raw" ]; then
		"$shared/device/make-pg-bundle.sh" "$raw.part" libcjson.so.1 libopenblas.so.0
		mv "$raw.part" "$raw"
	fi
	mkdir "$tmp/bundle"
	tar -xJf "$raw" -C "$tmp/bundle"
	rm -f "$tmp/bundle"/opt/pgdeps/libcu* "$tmp/bundle"/opt/pgdeps/libnv* \
		"$tmp/bundle"/usr/lib/postgresql/15/lib/pg_infer* "$tmp/bundle"/usr/share/postgresql/15/extension/pg_infer*
	tar -C "$tmp/bundle" -cJf "$bundle.part" opt usr
	mv "$bundle.part" "$bundle"
	rm -rf "$raw" "$tmp/bundle"
fi
cp "$bundle" "$dest/pgbundle.tar.xz"

# psycopg for the benchmark's client: the GPU machine has no package registry
wheels=build/device/wheels-$psycopg_version
if [ ! -f "$wheels/complete" ]; then
	rm -rf "$wheels"
	mkdir -p "$wheels"
	python3 -m pip download -q --no-deps --only-binary=:all: -d "$wheels" \
		"psycopg==$psycopg_version" "typing_extensions==$typing_extensions_version"
	for py in 311 312 313; do
		python3 -m pip download -q --no-deps --only-binary=:all: --implementation cp --python-version "$py" \
			--abi "cp$py" --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
			-d "$wheels" "psycopg-binary==$psycopg_version"
	done
	touch "$wheels/complete"
fi
mkdir -p "$dest/wheels"
cp "$wheels"/*.whl "$dest/wheels/"

git rev-parse HEAD > "$dest/COMMIT"
git status --porcelain --untracked-files=no | sed 's/^/modified: /' >> "$dest/COMMIT"
sums=$(cd "$dest" && find . -type f ! -name SHA256SUMS -exec sha256sum {} +)
echo "$sums" > "$dest/SHA256SUMS"
bytes=$(du -sb "$dest" | cut -f1)
tree=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
echo "prepared $dest: $((bytes / 1024 / 1024)) MiB ($bytes bytes); with the working tree's $((tree / 1024)) KiB," \
	"$(( (bytes + tree) / 1024 / 1024 )) MiB of the 64 MiB a device call sends"
du -sh "$dest"/* | sed 's/^/  /'
echo "  libraries of the programs: $(find "$tmp/libs" -type f -printf '%f ')"
if [ $((bytes + tree)) -gt "$limit_bytes" ]; then
	echo "prepare-device.sh: $dest and the working tree are larger than 64 MiB: a device call would not send them" >&2
	exit 1
fi
