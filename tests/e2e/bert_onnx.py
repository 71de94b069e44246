#!/usr/bin/python3
"""A BERT-style encoder as ONNX, built with python3-onnx's helper (random weights), and a WordPiece tokenizer.json
written by hand: what tests/e2e/test_text_model.py serves and bench/transformers.sh measures.

The graph is the layout of Hugging Face's BERT exports (opset 17): inputs input_ids, attention_mask, token_type_ids
INT64 [batch, sequence]; word + position + type embeddings, LayerNormalization; per layer self-attention (Q/K/V
MatMul, Reshape/Transpose into heads, scaled QK^T + the additive mask, Softmax, MatMul V, output projection,
residual, LayerNormalization) and the feed-forward block with GELU written with Erf; outputs last_hidden_state
[batch, sequence, hidden] and logits [batch, labels] (pooler: the first token, Dense + Tanh; classifier: Dense).

    /usr/bin/python3 tests/e2e/bert_onnx.py OUT.onnx [layers hidden heads vocab labels seq]   (writes a model)
"""
import json
import math
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build(vocab=1000, hidden=32, layers=2, heads=2, ffn=None, labels=3, max_pos=64, seed=3, seq=None):
    """The ModelProto of a random BERT-style classifier with both outputs; seq fixes the sequence dimension (the
    benchmark's, so that only the batch is symbolic)."""
    rng = np.random.default_rng(seed)
    ffn = ffn or 4 * hidden
    dh = hidden // heads
    inits, nodes = [], []

    def w(name, *shape, scale=None):
        s = scale if scale is not None else 1.0 / math.sqrt(shape[0])
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * s).astype(np.float32), name))
        return name

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(op, ins, outs, **kw):
        nodes.append(helper.make_node(op, ins, outs, name=outs[0] + "_" + op, **kw))
        return outs[0]

    def ln(x, p):
        g = const(p + ".g", (1.0 + 0.1 * rng.standard_normal(hidden)).astype(np.float32))
        b = const(p + ".b", (0.1 * rng.standard_normal(hidden)).astype(np.float32))
        return node("LayerNormalization", [x, g, b], [p + ".out"], axis=-1, epsilon=1e-12)

    def dense(x, p, din, dout):
        y = node("MatMul", [x, w(p + ".w", din, dout)], [p + ".mm"])
        return node("Add", [y, w(p + ".bias", dout, scale=0.1)], [p + ".out"])

    const("zero", np.array(0, np.int64))
    const("one", np.array(1, np.int64))
    const("onef", np.array(1.0, np.float32))
    const("neg", np.array(-10000.0, np.float32))
    const("half", np.array(0.5, np.float32))
    const("rsqrt2", np.array(1.0 / math.sqrt(2.0), np.float32))
    const("scale", np.array(1.0 / math.sqrt(dh), np.float32))
    const("heads_shape", np.array([0, 0, heads, dh], np.int64))
    const("merge_shape", np.array([0, 0, hidden], np.int64))
    const("axes12", np.array([1, 2], np.int64))

    word = node("Gather", [w("word_emb", vocab, hidden, scale=0.5), "input_ids"], ["word"])
    shape = node("Shape", ["input_ids"], ["ids_shape"])
    seq = node("Gather", [shape, "one"], ["seq_len"], axis=0)
    pos_ids = node("Range", ["zero", seq, "one"], ["pos_ids"])
    pos = node("Gather", [w("pos_emb", max_pos, hidden, scale=0.5), pos_ids], ["pos"])
    typ = node("Gather", [w("type_emb", 2, hidden, scale=0.5), "token_type_ids"], ["typ"])
    x = node("Add", [node("Add", [word, pos], ["wp"]), typ], ["emb_sum"])
    x = ln(x, "emb_ln")
    maskf = node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT)
    inv = node("Sub", ["onef", maskf], ["mask_inv"])
    bias = node("Mul", [inv, "neg"], ["mask_bias2"])
    bias = node("Unsqueeze", [bias, "axes12"], ["mask_bias"])  # [B, 1, 1, S]
    for i in range(layers):
        p = "l%d" % i
        q = node("Transpose", [node("Reshape", [dense(x, p + ".q", hidden, hidden), "heads_shape"], [p + ".qr"])],
                 [p + ".qt"], perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [dense(x, p + ".k", hidden, hidden), "heads_shape"], [p + ".kr"])],
                 [p + ".kt"], perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [dense(x, p + ".v", hidden, hidden), "heads_shape"], [p + ".vr"])],
                 [p + ".vt"], perm=[0, 2, 1, 3])
        s = node("Mul", [node("MatMul", [q, k], [p + ".qk"]), "scale"], [p + ".scaled"])
        s = node("Add", [s, bias], [p + ".masked"])
        a = node("Softmax", [s], [p + ".probs"], axis=-1)
        c = node("MatMul", [a, v], [p + ".ctx"])
        c = node("Reshape", [node("Transpose", [c], [p + ".ctxt"], perm=[0, 2, 1, 3]), "merge_shape"],
                 [p + ".ctxm"])
        x = ln(node("Add", [dense(c, p + ".o", hidden, hidden), x], [p + ".res1"]), p + ".ln1")
        h = dense(x, p + ".ff1", hidden, ffn)
        erf = node("Erf", [node("Mul", [h, "rsqrt2"], [p + ".hs"])], [p + ".erf"])
        g = node("Mul", [node("Mul", [h, "half"], [p + ".hh"]), node("Add", [erf, "onef"], [p + ".erf1"])],
                 [p + ".gelu"])
        x = ln(node("Add", [dense(g, p + ".ff2", ffn, hidden), x], [p + ".res2"]), p + ".ln2")
    node("Identity", [x], ["last_hidden_state"])
    first = node("Gather", [x, "zero"], ["first_tok"], axis=1)
    pooled = node("Tanh", [dense(first, "pooler", hidden, hidden)], ["pooled"])
    node("Identity", [dense(pooled, "classifier", hidden, labels)], ["logits"])
    sdim = seq or "sequence"
    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", sdim])
           for n in ("input_ids", "attention_mask", "token_type_ids")]
    outs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", sdim, hidden]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", labels])]
    graph = helper.make_graph(nodes, "bert", ins, outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def wordpiece_vocab(texts, size=1000):
    """A WordPiece vocabulary from texts: the specials, every character seen (and its ## form), then the most
    frequent lower-cased words and ##suffixes, up to `size` tokens."""
    import collections
    import re
    import unicodedata
    chars, words = collections.Counter(), collections.Counter()
    for t in texts:
        t = unicodedata.normalize("NFD", t.lower())
        t = "".join(c for c in t if unicodedata.category(c) != "Mn")
        for c in t:
            if not c.isspace():
                chars[c] += 1
        for wd in re.findall(r"[a-z0-9]+", t):
            words[wd] += 1
    vocab = list(SPECIALS)
    seen = set(vocab)

    def add(tok):
        if tok not in seen and len(vocab) < size:
            seen.add(tok)
            vocab.append(tok)
    for c, _ in chars.most_common():
        add(c)
    for c, _ in chars.most_common():
        if c.isalnum() and ord(c) < 0x3000:
            add("##" + c)
    for wd, _ in words.most_common():
        if len(wd) > 1:
            add(wd)
        if len(wd) > 4:
            add("##" + wd[2:])
    return vocab


def tokenizer_json(vocab, max_length=None):
    """tokenizer.json (the Hugging Face format) of a BERT uncased WordPiece tokenizer over `vocab`."""
    ids = {t: i for i, t in enumerate(vocab)}
    added = [{"id": ids[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for t in SPECIALS]
    cls, sep = ids["[CLS]"], ids["[SEP]"]
    return {
        "version": "1.0",
        "truncation": None if not max_length else
        {"direction": "Right", "max_length": max_length, "strategy": "LongestFirst", "stride": 0},
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [cls], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [sep], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": ids},
    }


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    a = [int(x) for x in sys.argv[2:]]
    kw = dict(zip(["layers", "hidden", "heads", "vocab", "labels", "seq"], a))
    if "hidden" in kw:
        kw["max_pos"] = 512
    m = build(**kw)
    with open(sys.argv[1], "wb") as f:
        f.write(m.SerializeToString())
    print(json.dumps({"model": sys.argv[1], **kw}))
