#!/usr/bin/env python3
r"""Checks the C tokenizer against HuggingFace tokenizers, id for id.

    python3 test/text/check_exact.py test/text/test_tokenizer [TOKENIZER.json ...]

Tokenizers: the WordPiece test/text/fixtures/tokenizer.json, the byte-level
BPE fixtures bpe_roberta.json and bpe_variants.json (make_bpe_fixtures.py),
and those named on the command line (all-MiniLM-L6-v2's tokenizer.json, or
GPT-2's from make_gpt2.py; make check-text passes $PI_TEXT_TOKENIZERS).
For each, two checks:
  words: every code point U+0000..U+10FFFF (surrogates and the measured
         differences of known-differences.txt excepted), 256 to a line
         between letters, through the normalizer and the pre-tokenizer;
         for a BPE tokenizer also each code point c as " c1ca", 128 to a
         line, which the GPT-2 pattern splits differently for a letter, a
         number, whitespace and anything else;
  ids:   the corpus (test/text/corpus.txt plus generated lines: long words,
         control characters, contractions, runs of spaces and newlines,
         added tokens in the text, a text of more than 512 tokens) and the
         code point lines untruncated; the corpus truncated to 512, 16 and
         2 ids.
For a BPE tokenizer the code points that ICU's Unicode (15.0 for ICU 72)
leaves unassigned are left out instead of known-differences.txt: tokenizers
classifies \p{L} and \p{N} by newer tables, so a character assigned since
is a letter there and "other" here (4,977 code points with tokenizers
0.23.3, all of them unassigned in ICU 72, as measured).
Prints "exact: N passed, N failed", one check per (tokenizer, check, length).
"""
import json
import os
import subprocess
import sys

from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))


def known_differences():
    """Code points of test/text/known-differences.txt (measured, with reasons)."""
    with open(os.path.join(HERE, "known-differences.txt"), encoding="utf-8") as f:
        return {int(line.split("\t")[0], 16) for line in f if line.strip() and line[0] != "#"}


def unassigned(binary):
    """Code points that ICU's Unicode leaves unassigned (test_tokenizer unassigned)."""
    out = subprocess.run([binary, "unassigned"], capture_output=True, text=True, check=True).stdout
    return {int(line, 16) for line in out.split()}


def codepoint_lines(skip=None):
    """Every scalar value but skip (the known differences), 256 to a line, between letters."""
    known = known_differences() if skip is None else skip
    points = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF and cp not in known]
    return ["x" + "x".join(chr(cp) for cp in points[i:i + 256]) + "x"
            for i in range(0, len(points), 256)]


def class_lines(skip):
    """Every scalar value but skip as " c1ca", 128 to a line."""
    points = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF and cp not in skip]
    return ["".join(f" {chr(cp)}1{chr(cp)}a" for cp in points[i:i + 128])
            for i in range(0, len(points), 128)]


def corpus_lines():
    """The committed corpus and generated edge cases."""
    with open(os.path.join(HERE, "corpus.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    controls = "".join(chr(c) for c in list(range(0x00, 0x20)) + list(range(0x7F, 0xA0)))
    lines += [
        "",
        "   ",
        "the " + "a" * 99 + " " + "a" * 100 + " " + "a" * 101 + " end",
        "model" * 20 + " " + "model" * 21,
        "x".join(controls) + " word" + controls + "word",
        "[CLS] the [SEP] model [MASK] text[MASK]text [PAD][UNK] [mask] [CLS",
        "\u0301\u0307 e\u0301 E\u0301\u0323 \u0130\u0131 \u1e9e \u03a3\u03a3 \ufb01",
        "\u3000\u00a0\u2028\u2029\u200b\u200c\u200d\ufeff\ufffd\u2060 model",
        "\U0001F600\U0001F3FD\U0001F1EB\U0001F1F7\u200d\U0001F4BB\U0001FAE8 \U000E0041\U000F0000",
        "it's they're we've I'm you'll he'd don't 'S 'RE it''s ' s 'x '' x'll",
        "a  b   c\n\nd \n e\t\tf  \u00a0 g\u3000\u3000h   ",
        "  leading and trailing  \n",
        "<s>text</s> <mask> a<mask>b  <mask>  <pad><unk> <s",
        "caf\u00e9 cafe\u0301 \u00c5ngstr\u00f6m \u0130stanbul \u1e9e \u2126",
        "x1y2 3.14 \u0661\u0662\u0663 \u00bd\u2167 12,345.67 $100 #tag @user e-mail",
        " ".join(open(os.path.join(HERE, "corpus.txt"), encoding="utf-8").read().split()) * 3,
    ]
    return lines


def run_c(binary, mode, path, lines, *extra):
    """The C program's output lines for the hex-encoded input lines."""
    data = "".join(line.encode("utf-8").hex() + "\n" for line in lines)
    out = subprocess.run([binary, mode, path, *extra], input=data, capture_output=True,
                         text=True, check=True).stdout
    return out.split("\n")[:len(lines)]


def hf_words(tok, line):
    """Normalized words of HuggingFace's normalizer and pre-tokenizer, in hex."""
    text = tok.normalizer.normalize_str(line) if tok.normalizer else line
    words = tok.pre_tokenizer.pre_tokenize_str(text)
    return " ".join(w.encode("utf-8").hex() for w, _ in words)


def report(name, got, want, lines):
    """Counts mismatched lines; prints the first three."""
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
    for i in bad[:3]:
        print(f"  line {i}: {lines[i][:60]!r}\n    C:  {got[i][:200]}\n    HF: {want[i][:200]}")
    print(f"{'ok' if not bad else 'FAIL'}: {name}: {len(lines) - len(bad)}/{len(lines)} lines equal")
    return not bad


def check(binary, path):
    """Runs every check on one tokenizer.json; returns (passed, failed)."""
    tok = Tokenizer.from_file(path)
    bpe = json.loads(tok.to_str())["model"]["type"] == "BPE"
    skip = unassigned(binary) if bpe else known_differences()
    sweep = codepoint_lines(skip)
    results = [report(f"{path} words", run_c(binary, "words", path, sweep),
                      [hf_words(tok, line) for line in sweep], sweep)]
    if bpe:
        classes = class_lines(skip)
        results.append(report(f"{path} words by class", run_c(binary, "words", path, classes),
                              [hf_words(tok, line) for line in classes], classes))
    tok.no_padding()
    for max_length in (0, 512, 16, 2):
        lines = corpus_lines() + (sweep if max_length == 0 else [])
        if max_length:
            tok.enable_truncation(max_length)
        else:
            tok.no_truncation()
        want = [" ".join(map(str, e.ids)) for e in tok.encode_batch(lines)]
        got = run_c(binary, "encode", path, lines, str(max_length))
        results.append(report(f"{path} ids, max length {max_length}", got, want, lines))
    tok.no_truncation()
    counts = [len(e.ids) for e in tok.encode_batch(corpus_lines())]
    print(f"  {path}: corpus of {len(counts)} lines, {sum(counts)} ids, the longest {max(counts)}; "
          f"{len(sweep) * 256 - 256 + len(sweep[-1]) // 2} code points swept, "
          f"{len(skip)} {'unassigned in ICU' if bpe else 'known differences'} left out")
    return sum(results), len(results) - sum(results)


def main():
    binary = sys.argv[1]
    paths = [os.path.join(HERE, "fixtures", name) for name in
             ("tokenizer.json", "bpe_roberta.json", "bpe_variants.json")] + sys.argv[2:]
    passed = failed = 0
    for path in paths:
        p, f = check(binary, path)
        passed += p
        failed += f
    print(f"exact: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
