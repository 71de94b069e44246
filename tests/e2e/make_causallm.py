#!/usr/bin/python3
"""Builds a GPT-style causal language model folder for the generation tests and the decode benchmark (issue #19,
item 3), with python3-onnx's helper and numpy (random weights, nothing downloaded):

  /usr/bin/python3 tests/e2e/make_causallm.py OUT_DIR [--layers 2] [--hidden 32] [--heads 4] [--positions 64]
                                                       [--merges 120] [--seed 1] [--no-tokenizer]

OUT_DIR/model.onnx has the layout of Hugging Face's GPT-2 ONNX exports (optimum, "text-generation-with-past"):
  inputs  input_ids INT64 [batch, seq], attention_mask INT64 [batch, past + seq], position_ids INT64 [batch, seq],
          past_key_values.{i}.key / .value FP32 [batch, heads, past, head_dim] for each layer i;
  outputs logits FP32 [batch, seq, vocab], present.{i}.key / .value FP32 [batch, heads, past + seq, head_dim].
Each layer: pre-LayerNorm attention with the causal mask (Trilu over [seq, past + seq], shifted by past) and the
attention mask (0 = masked: -1e9 added before Softmax), then a ReLU MLP; a final LayerNorm and the output
projection. OUT_DIR/tokenizer.json is a byte-level BPE (Hugging Face tokenizers' format: ByteLevel pre-tokenizer
without the regex split, BPE model with merges learned here from a small made-up corpus, ByteLevel decoder, one
special token <|endoftext|>, the last id). OUT_DIR/config.json has what generation reads (n_positions,
eos_token_id) and a chat template.

The reference tokenizer (encode/decode below) is this file's own: tests import it.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

EOS = "<|endoftext|>"

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "tokens reach the caller in order and the caller reads them",
    "a language model writes one token at a time, the cache keeps what it has seen",
    "hello world, hello there, hello again",
    "generation stops at a stop sequence or when the tokens run out",
    "café naïve résumé — accents and dashes",
    "numbers 1234 5678 and symbols #$%&",
]


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map (the byte-level alphabet)."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) +
          list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


B2U = bytes_to_unicode()
U2B = {v: k for k, v in B2U.items()}


def to_symbols(text):
    return [B2U[b] for b in text.encode("utf-8")]


def train_bpe(corpus, n_merges):
    """Plain BPE training over the byte-level form of each line: the most frequent adjacent pair merged each round
    (ties: the lexicographically smallest pair, so the result is deterministic)."""
    words = [to_symbols(line) for line in corpus]
    merges = []
    vocab = [B2U[b] for b in range(256)]
    for _ in range(n_merges):
        counts = {}
        for w in words:
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        if not counts:
            break
        best = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        if counts[best] < 2:
            break
        merges.append(best)
        vocab.append(best[0] + best[1])
        new_words = []
        for w in words:
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words.append(out)
        words = new_words
    return vocab, merges


class Tokenizer:
    """The reference byte-level BPE: text -> ids (merges applied by rank, lowest first, as Hugging Face's BPE does)
    and ids -> bytes."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        self.vocab = tj["model"]["vocab"]
        self.inv = {i: t for t, i in self.vocab.items()}
        self.ranks = {tuple(m.split(" ")): r for r, m in enumerate(tj["model"]["merges"])}
        self.special = {t["content"]: t["id"] for t in tj["added_tokens"]}
        for t, i in self.special.items():
            self.inv[i] = t

    def encode(self, text):
        ids = []
        # special tokens are split out first (added tokens match before the model)
        parts = [text]
        for sp in self.special:
            nxt = []
            for p in parts:
                pieces = p.split(sp)
                for k, piece in enumerate(pieces):
                    if k:
                        nxt.append((sp,))
                    if piece:
                        nxt.append(piece)
            parts = nxt
        for p in parts:
            if isinstance(p, tuple):
                ids.append(self.special[p[0]])
                continue
            w = to_symbols(p)
            while len(w) > 1:
                best, br = None, None
                for k in range(len(w) - 1):
                    r = self.ranks.get((w[k], w[k + 1]))
                    if r is not None and (br is None or r < br):
                        best, br = k, r
                if best is None:
                    break
                # merge every occurrence of that pair, left to right
                pair = (w[best], w[best + 1])
                out, k = [], 0
                while k < len(w):
                    if k + 1 < len(w) and (w[k], w[k + 1]) == pair:
                        out.append(w[k] + w[k + 1])
                        k += 2
                    else:
                        out.append(w[k])
                        k += 1
                w = out
            ids.extend(self.vocab[s] for s in w)
        return ids

    def token_bytes(self, i):
        t = self.inv[i]
        if t in self.special:
            return t.encode("utf-8")
        return bytes(U2B[c] for c in t)

    def decode(self, ids, skip_special=True):
        return b"".join(self.token_bytes(i) for i in ids
                        if not (skip_special and self.inv[i] in self.special)).decode("utf-8", errors="replace")


def write_tokenizer(path, n_merges):
    vocab, merges = train_bpe(CORPUS, n_merges)
    tj = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": len(vocab), "content": EOS, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": True, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                  "vocab": {t: i for i, t in enumerate(vocab)}, "merges": [a + " " + b for a, b in merges]},
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)
    return len(vocab) + 1


def build_model(path, vocab, layers, hidden, heads, positions, seed):
    rng = np.random.default_rng(seed)
    D = hidden // heads
    inits, nodes = [], []

    def w(name, *shape, scale=None):
        s = scale if scale is not None else 1.0 / np.sqrt(shape[0])
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * s).astype(np.float32), name))
        return name

    def c(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def n(op, ins, outs, **attrs):
        nodes.append(helper.make_node(op, ins, outs, name=outs[0] + "_node", **attrs))
        return outs[0]

    w("wte", vocab, hidden, scale=1.0)
    w("wpe", positions, hidden, scale=0.3)
    w("lm_head", hidden, vocab, scale=3.0 / np.sqrt(hidden))
    c("ln_f_g", np.ones(hidden, np.float32))
    c("ln_f_b", np.zeros(hidden, np.float32))
    c("heads_shape", np.array([0, 0, heads, D], np.int64))
    c("merge_shape", np.array([0, 0, hidden], np.int64))
    c("scale", np.array(1.0 / np.sqrt(D), np.float32))
    c("one", np.array(1.0, np.float32))
    c("neg", np.array(-1e9, np.float32))
    c("i1", np.array([1], np.int64))
    c("ax12", np.array([1, 2], np.int64))

    tok = n("Gather", ["wte", "input_ids"], ["tok_emb"])
    pos = n("Gather", ["wpe", "position_ids"], ["pos_emb"])
    x = n("Add", [tok, pos], ["x0"])

    # mask: causal over [S, T] shifted by T - S, times the attention mask; 0 -> -1e9
    n("Shape", ["input_ids"], ["ids_shape"])
    n("Shape", ["attention_mask"], ["am_shape"])
    n("Gather", ["ids_shape", "i1"], ["S"], axis=0)
    n("Gather", ["am_shape", "i1"], ["T"], axis=0)
    n("Concat", ["S", "T"], ["ST"], axis=0)
    n("ConstantOfShape", ["ST"], ["ones"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0]))
    n("Sub", ["T", "S"], ["shift1"])
    n("Squeeze", ["shift1"], ["shift"])
    n("Trilu", ["ones", "shift"], ["causal"], upper=0)
    n("Cast", ["attention_mask"], ["am_f"], to=TensorProto.FLOAT)
    n("Unsqueeze", ["am_f", "ax12"], ["am4"])  # [B,1,1,T]
    n("Mul", ["causal", "am4"], ["allowed"])  # [B,1,S,T]
    n("Sub", ["one", "allowed"], ["blocked"])
    n("Mul", ["blocked", "neg"], ["bias"])

    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]),
              helper.make_tensor_value_info("attention_mask", TensorProto.INT64,
                                            ["batch_size", "past_sequence_length + sequence_length"]),
              helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["batch_size", "sequence_length"])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch_size", "sequence_length", vocab])]
    for i in range(layers):
        p = "l%d_" % i
        c(p + "ln1_g", np.ones(hidden, np.float32))
        c(p + "ln1_b", np.zeros(hidden, np.float32))
        c(p + "ln2_g", np.ones(hidden, np.float32))
        c(p + "ln2_b", np.zeros(hidden, np.float32))
        h = n("LayerNormalization", [x, p + "ln1_g", p + "ln1_b"], [p + "h"], axis=-1, epsilon=1e-5)
        heads_out = {}
        for nm in ("q", "k", "v"):
            mm = n("MatMul", [h, w(p + "W" + nm, hidden, hidden)], [p + nm + "_mm"])
            b = n("Add", [mm, c(p + "b" + nm, (rng.standard_normal(hidden) * 0.1).astype(np.float32))], [p + nm + "_b"])
            r = n("Reshape", [b, "heads_shape"], [p + nm + "_r"])
            heads_out[nm] = n("Transpose", [r], [p + nm + "_t"], perm=[0, 2, 1, 3])
        kk = "past_key_values.%d.key" % i
        vv = "past_key_values.%d.value" % i
        for nm in (kk, vv):
            inputs.append(helper.make_tensor_value_info(nm, TensorProto.FLOAT,
                                                        ["batch_size", heads, "past_sequence_length", D]))
        K = n("Concat", [kk, heads_out["k"]], ["present.%d.key" % i], axis=2)
        V = n("Concat", [vv, heads_out["v"]], ["present.%d.value" % i], axis=2)
        for nm in (K, V):
            outputs.append(helper.make_tensor_value_info(nm, TensorProto.FLOAT,
                                                         ["batch_size", heads, "past_sequence_length + 1", D]))
        Kt = n("Transpose", [K], [p + "kt"], perm=[0, 1, 3, 2])
        s = n("MatMul", [heads_out["q"], Kt], [p + "scores"])
        s = n("Mul", [s, "scale"], [p + "scaled"])
        s = n("Add", [s, "bias"], [p + "masked"])
        a = n("Softmax", [s], [p + "probs"], axis=-1)
        o = n("MatMul", [a, V], [p + "ctx"])
        o = n("Transpose", [o], [p + "ctx_t"], perm=[0, 2, 1, 3])
        o = n("Reshape", [o, "merge_shape"], [p + "ctx_m"])
        o = n("MatMul", [o, w(p + "Wo", hidden, hidden)], [p + "attn"])
        x = n("Add", [x, o], [p + "x1"])
        h2 = n("LayerNormalization", [x, p + "ln2_g", p + "ln2_b"], [p + "h2"], axis=-1, epsilon=1e-5)
        m = n("MatMul", [h2, w(p + "W1", hidden, 4 * hidden)], [p + "m1"])
        m = n("Add", [m, c(p + "b1", (rng.standard_normal(4 * hidden) * 0.1).astype(np.float32))], [p + "m1b"])
        m = n("Relu", [m], [p + "m1r"])
        m = n("MatMul", [m, w(p + "W2", 4 * hidden, hidden)], [p + "m2"])
        x = n("Add", [x, m], [p + "x2"])
    x = n("LayerNormalization", [x, "ln_f_g", "ln_f_b"], ["xf"], axis=-1, epsilon=1e-5)
    n("MatMul", [x, "lm_head"], ["logits"])
    graph = helper.make_graph(nodes, "causal_lm", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="make_causallm.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--positions", type=int, default=64)
    ap.add_argument("--merges", type=int, default=120)
    ap.add_argument("--vocab", type=int, default=0, help="vocabulary size when --no-tokenizer")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-tokenizer", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.no_tokenizer:
        vocab = a.vocab or 50257
    else:
        vocab = write_tokenizer(os.path.join(a.out, "tokenizer.json"), a.merges)
    build_model(os.path.join(a.out, "model.onnx"), vocab, a.layers, a.hidden, a.heads, a.positions, a.seed)
    cfg = {"model_type": "gpt2", "n_positions": a.positions, "n_layer": a.layers, "n_embd": a.hidden,
           "n_head": a.heads, "vocab_size": vocab, "eos_token_id": vocab - 1, "bos_token_id": vocab - 1,
           "chat_template": {"system": "system: {content}\n", "user": "user: {content}\n",
                             "assistant": "assistant: {content}\n", "generation_prompt": "assistant:"}}
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    print(json.dumps({"dir": a.out, "vocab": vocab, "layers": a.layers, "hidden": a.hidden}))


if __name__ == "__main__":
    sys.exit(main())
