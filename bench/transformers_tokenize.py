#!/usr/bin/python3
"""Tokenization row of bench/transformers.sh: trains the three tokenizers of tests/e2e/test_tokenizer.py (same corpus,
same strings), then times junction's C tokenizer (tokenizer_tool bench) and the `tokenizers` npm binding
(tokenizer_ref.js bench) on them, one thread each, and prints one table row per tokenizer.

usage: bench/transformers_tokenize.py TOKENIZER_TOOL [ROUNDS]   (NODE_PATH and JN_SPAM_PKG as for the e2e test)
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
sys.dont_write_bytecode = True
import test_tokenizer as tt  # noqa: E402  (corpus, strings and the reference driver)


def main():
    tool = os.path.abspath(sys.argv[1])
    rounds = sys.argv[2] if len(sys.argv) > 2 else "3"
    work = tempfile.mkdtemp(prefix="jn-bench-tok-")
    try:
        rng = random.Random(19)
        train, held = tt.load_corpus(os.environ["JN_SPAM_PKG"])
        corpus, size = [], 0
        for body in train:
            corpus.append(body)
            size += len(body)
            if size > tt.CORPUS_BYTES:
                break
        corpus += [tt.chinese_sentence(rng) for _ in range(4000)]
        cfile = os.path.join(work, "corpus.txt")
        with open(cfile, "w", encoding="utf-8") as f:
            f.write("\n".join(corpus))
        tt.node("train", cfile, os.path.join(work, "models"))
        strings = tt.make_strings(rng, held)
        sfile = os.path.join(work, "strings.json")
        with open(sfile, "w") as f:
            json.dump(strings, f)
        env = dict(os.environ, TOKENIZERS_PARALLELISM="false", RAYON_NUM_THREADS="1")
        for kind in tt.KINDS:
            tok = os.path.join(work, "models", kind, "tokenizer.json")
            jn = json.loads(subprocess.run([tool, "bench", tok, sfile, rounds], check=True, capture_output=True,
                                           text=True).stdout)
            ref = json.loads(subprocess.run(["node", tt.REF, "bench", tok, sfile, rounds], check=True,
                                            capture_output=True, text=True, env=env).stdout)
            ratio = jn["strings_per_s"] / ref["strings_per_s"]
            print("| tokenization %s (%d strings, %d tokens) | %.0f strings/s | %.0f strings/s | %.2fx | >= 1x |" %
                  (kind, len(strings), jn["tokens"], jn["strings_per_s"], ref["strings_per_s"], ratio), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
