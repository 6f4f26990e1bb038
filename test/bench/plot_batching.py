#!/usr/bin/env python3
"""Draws rows/s against pg_infer.batch_size from test/bench/batching.csv.

    python3 test/bench/plot_batching.py [batching.csv [batching.png]] [--table PLAIN]

One line per model (batched runs, log x), the per-row rate (pg_infer.batching
= off) of the same model as a dashed horizontal line of the same colour.
Needs matplotlib (only for this plot).
"""
import argparse
import csv
import os

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TITLES = {"mnist": "mnist 784-128-10", "mlp512": "mlp512 784-512-256-10"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", nargs="?", default=os.path.join(HERE, "batching.csv"))
    ap.add_argument("png", nargs="?", default=os.path.join(HERE, "batching.png"))
    ap.add_argument("--table", default="PLAIN")
    args = ap.parse_args()

    batched, per_row, nrows = {}, {}, set()
    with open(args.csv, newline="") as f:
        for r in csv.DictReader(f):
            if r["table"] != args.table:
                continue
            if r["measurement"] in ("batched", "per_row"):
                nrows.add(int(r["rows"]))
            if r["measurement"] == "batched":
                batched.setdefault(r["model"], []).append((int(r["batch_size"]), float(r["rows_per_s"])))
            elif r["measurement"] == "per_row":
                per_row[r["model"]] = float(r["rows_per_s"])
    if not batched:
        raise SystemExit(f"no batched rows for table {args.table} in {args.csv}")

    fig, ax = plt.subplots(figsize=(10, 5), dpi=120)
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for i, model in enumerate(sorted(batched, key=lambda m: list(TITLES).index(m) if m in TITLES else 99)):
        pts = sorted(batched[model])
        c = colours[i % len(colours)]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=c,
                label=f"{TITLES.get(model, model)}: BatchPredict")
        for x, y in pts:
            ax.annotate(f"{y / 1000:,.0f}k", (x, y), textcoords="offset points", xytext=(0, 7),
                        ha="center", fontsize=7, color=c)
        if model in per_row:
            ax.axhline(per_row[model], color=c, linestyle="--", linewidth=1.2,
                       label=f"{TITLES.get(model, model)}: per row (batching off), {per_row[model]:,.0f}/s")
    ax.set_xscale("log", base=2)
    xs = sorted({p[0] for pts in batched.values() for p in pts})
    ax.set_xticks(xs)
    ax.set_xticklabels([str(x) for x in xs])
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel("pg_infer.batch_size (largest batch; batches grow 1, 2, 4, ... up to it)")
    ax.set_ylabel("rows / second")
    rows = "/".join(f"{n:,}" for n in sorted(nrows))
    ax.set_title(f"SELECT sum(predict_class(m, features)) over {rows} rows, STORAGE {args.table} table",
                 fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(args.png)
    print(f"written {args.png}")


if __name__ == "__main__":
    main()
