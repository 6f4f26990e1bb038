#!/usr/bin/env python3
"""The C tokenizer against HuggingFace tokenizers on one thread, in one run:
ids per second of CPU time over test/text/corpus.txt and the README, line by
line, for each tokenizer.json given (default: the byte-level BPE fixture
test/text/fixtures/bpe_roberta.json; GPT-2's from test/text/make_gpt2.py).

    make test/bench/bench_tokenizer
    python3 test/bench/text_bpe.py [TOKENIZER.json ...] [--repeats 20]

tokenizers runs encode_batch with RAYON_NUM_THREADS=1, from Python (its
figure includes making the Python Encoding objects); bench_tokenizer runs
the C encoder with no sanitizers.  Both must make the same number of ids.
"""
import argparse
import os
import platform
import subprocess
import time

os.environ["RAYON_NUM_THREADS"] = "1"
from tokenizers import Tokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("tokenizers", nargs="*",
                        default=[os.path.join(ROOT, "test", "text", "fixtures", "bpe_roberta.json")])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    text_path = os.path.join(ROOT, "test", "bench", "out", "text_bpe.txt")
    os.makedirs(os.path.dirname(text_path), exist_ok=True)
    with open(text_path, "w", encoding="utf-8") as f:
        for name in ("test/text/corpus.txt", "README.md"):
            with open(os.path.join(ROOT, name), encoding="utf-8") as src:
                f.write(src.read().rstrip("\n") + "\n")
    with open(text_path, encoding="utf-8") as f:
        lines = f.read().split("\n")[:-1]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f}; text: {len(lines)} lines, "
          f"{os.path.getsize(text_path)} bytes, {args.repeats} times")
    for path in args.tokenizers:
        out = subprocess.run([os.path.join(ROOT, "test", "bench", "bench_tokenizer"), path,
                              text_path, str(args.repeats)],
                             capture_output=True, text=True, check=True).stdout.split()
        c_ids, c_s = int(out[1]), float(out[3])
        tok = Tokenizer.from_file(path)
        tok.no_truncation()
        tok.no_padding()
        start = time.process_time()
        hf_ids = sum(len(e.ids) for _ in range(args.repeats) for e in tok.encode_batch(lines))
        hf_s = time.process_time() - start
        assert hf_ids == c_ids, (hf_ids, c_ids)
        print(f"{os.path.basename(path)}: C {c_ids / c_s:,.0f} ids/s, tokenizers {hf_ids / hf_s:,.0f} "
              f"ids/s ({c_ids / c_s / (hf_ids / hf_s):.2f}x), {c_ids} ids; load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
