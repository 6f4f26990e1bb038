#!/usr/bin/env bash
# Prepares, on a machine with the CUDA toolkit but no GPU, everything that
# test/gpu/run-device.sh needs on a lent GPU machine (which has CUDA but no
# cJSON, OpenBLAS or MNIST files): builds pg_infer_cuda.so, test_gpu,
# bench_gpu and test_load, and copies them with the libraries they need beyond glibc and
# CUDA, the shared MNIST CNN and the MNIST test set into .device/gpu/.
#
#   test/gpu/prepare-device.sh [SHARED_DIR]     (default ../shared)
#
# Then, with the device tool: run "bash test/gpu/run-device.sh" with
# carry [".device/gpu"].
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${1:-../shared}
dest=.device/gpu
make -j2 pg_infer_cuda.so test/gpu/test_gpu test/gpu/bench_gpu test/gpu/test_load
test/gpu/check-exports.sh pg_infer_cuda.so include/pi_cuda.h
rm -rf "$dest"
mkdir -p "$dest/data"
cp pg_infer_cuda.so test/gpu/test_gpu test/gpu/bench_gpu test/gpu/test_load "$dest/"
# every library of the programs that is not glibc's, the compiler's or CUDA's,
# compressed (OpenBLAS alone is 35 MB; a device call carries at most 64 MiB)
skip='/(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s|libcudart|libcublas|libcublasLt)\.so'
libs=$(mktemp -d)
trap 'rm -rf "$libs"' EXIT
for lib in $(ldd test/gpu/test_gpu test/gpu/bench_gpu | awk '/=> \//{print $3}' | sort -u | grep -v -E "$skip" | grep -v pg_infer_cuda); do
	cp -L "$lib" "$libs/"
done
tar -czf "$dest/libs.tar.gz" -C "$libs" .
cp "$shared/models/mnist_cnn_pytorch.onnx" "$shared/data/mnist/t10k-images-idx3-ubyte.gz" \
	"$shared/data/mnist/t10k-labels-idx1-ubyte.gz" "$dest/data/"
git rev-parse HEAD > "$dest/COMMIT"
git status --porcelain --untracked-files=no | sed 's/^/modified: /' >> "$dest/COMMIT"
(cd "$dest" && find . -type f ! -name SHA256SUMS -exec sha256sum {} + > SHA256SUMS)
echo "prepared $dest ($(du -sh "$dest" | cut -f1)): $(ls "$libs" | tr '\n' ' ')"
