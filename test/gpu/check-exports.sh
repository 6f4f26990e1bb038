#!/usr/bin/env bash
# Checks that a built pg_infer_cuda.so exports exactly the functions its
# header declares: every pi_cuda_* function of the header, nothing else
# (no C++ runtime, no CUDA runtime, no engine symbols).
#
#   check-exports.sh pg_infer_cuda.so include/pi_cuda.h
set -euo pipefail
so=${1:?usage: check-exports.sh LIBRARY HEADER}
header=${2:?usage: check-exports.sh LIBRARY HEADER}
declared=$(grep -oE '\bpi_cuda_[a-z0-9_]+[[:space:]]*\(' "$header" | tr -d '( \t' | sort -u)
exported=$(nm -D --defined-only "$so" | awk '{print $NF}' | sort -u)
if [ -z "$declared" ]; then
	echo "FAIL: $header declares no pi_cuda_* functions" >&2
	exit 1
fi
if [ "$declared" != "$exported" ]; then
	echo "FAIL: $so exports differ from $header (< declared, > exported):" >&2
	diff <(echo "$declared") <(echo "$exported") >&2 || true
	exit 1
fi
echo "ok: $so exports exactly the $(echo "$declared" | wc -l) functions of $header"
