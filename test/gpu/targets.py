#!/usr/bin/env python3
"""The speed targets of issue 20 against what a device run measured
(test/gpu/run-device.sh): bench_gpu's log and the "summary:" lines of
test/bench/worker.py in the SQL stage's log.

    targets.py BENCH_GPU.LOG SQL.LOG

Prints one line per target: what was measured and whether it is met (a
target not measured says so).  Always exits 0: targets are reported, not
checked.
"""
import re
import sys


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def verdict(ok):
    return "met" if ok else "MISSED"


def bench_targets(log):
    """Batch 65,536 at >= 70% of the H2D roofline; batch 64 within 30 us."""
    rows = {int(m.group(1)): m for m in re.finditer(
        r"^fp32\s+batch\s+(\d+):\s+([\d.]+) us per batch \(p50\s+([\d.]+), p99\s+([\d.]+).*?([\d.]+)% of the H2D roofline",
        log, re.M)}
    big, small = rows.get(65536), rows.get(64)
    out = []
    if big:
        pct = float(big.group(5))
        out.append(f"batch 65,536 at >= 70% of the PCIe (pinned H2D) roofline: {pct:.1f}% -> {verdict(pct >= 70)}")
    else:
        out.append("batch 65,536 at >= 70% of the PCIe (pinned H2D) roofline: not measured")
    if small:
        mean, p50 = float(small.group(2)), float(small.group(3))
        out.append(f"batch 64 in <= 30 us: mean {mean:.1f} us, p50 {p50:.1f} us, p99 {float(small.group(4)):.1f} us"
                   f" -> {verdict(mean <= 30)}")
    else:
        out.append("batch 64 in <= 30 us: not measured")
    return out


def sql_targets(log):
    """SQL on the GPU >= 5x the CPU engine; dynamic batching >= 3x at 16 clients."""
    out = []
    ratios = [(m.group(1), float(m.group(2))) for m in re.finditer(
        r"^summary: one backend (.*?): worker .*?, cpu [\d,]+ \(([\d.]+)x\)", log, re.M)]
    if ratios:
        best = max(r for _, r in ratios)
        out.append("SQL on the GPU >= 5x the CPU engine (one backend): "
                   + ", ".join(f"{what} {r:.2f}x" for what, r in ratios) + f" -> {verdict(best >= 5)}")
    else:
        out.append("SQL on the GPU >= 5x the CPU engine (one backend): not measured")
    merged = [(m.group(1), float(m.group(2))) for m in re.finditer(
        r"^summary: concurrent (\S+): .*b/c ([\d.]+)x", log, re.M)]
    if merged:
        out.append("dynamic batching >= 3x at 16 clients (merged against pg_infer.worker_max_batch = 1): "
                   + ", ".join(f"{m} {r:.2f}x" for m, r in merged) + f" -> {verdict(min(r for _, r in merged) >= 3)}")
    else:
        out.append("dynamic batching >= 3x at 16 clients: not measured")
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: targets.py BENCH_GPU.LOG SQL.LOG")
    for line in bench_targets(read(sys.argv[1])) + sql_targets(read(sys.argv[2])):
        print("target: " + line)


if __name__ == "__main__":
    main()
