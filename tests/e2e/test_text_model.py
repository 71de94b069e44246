#!/usr/bin/python3
"""Text model folders (issue #19 item 2): models/<name>/model.onnx + tokenizer.json (+ Hugging Face's config.json)
served as TEXT -> CLASSIFICATION or TEXT -> EMBEDDING, the pipeline tokenizer -> model -> head built by junction.

A BERT-style encoder (tests/e2e/bert_onnx.py: embeddings, 2 attention layers, LayerNorm, GELU with Erf, pooler,
classifier; random weights) with a WordPiece tokenizer.json whose vocabulary is made here from English and Chinese
text. The expected answers come from the references only: the npm Hugging Face tokenizer (tests/e2e/tok_ref.js)
gives the ids, ONNX Runtime (tests/e2e/ort_text.js) runs the model on them one text at a time, and numpy applies the
head (softmax; mean pooling over the attention mask, L2 normalization). Junction gets only the text.

- classification on the simple JSON route ({"text"} -> {"label", "score"}), 60 texts (English, Chinese, mixed,
  accents, emoji, text longer than the truncation); the same over v1 gRPC, v2 gRPC and v2 REST, and as a batch;
- embeddings (config.json architectures ["BertModel"]) equal mean-pooled ORT output; normalized with text.normalize;
- text.overflow "refuse" refuses a long text naming the lengths; empty text and invalid UTF-8 refused;
- bad folders skipped at start with a message naming the file and field;
- `junction model inspect DIR` prints the pipeline it builds.

usage: /usr/bin/python3 tests/e2e/test_text_model.py /path/to/junction
"""
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import bert_onnx  # noqa: E402
import harness  # noqa: E402
from harness import pb  # noqa: E402

LABELS = ["体育", "财经", "科技"]
MAX_LEN = 32

TRAIN = [
    "the team won the match in the final minute", "stocks fell as the market opened lower today",
    "the new phone has a faster chip and a better camera", "players trained hard before the championship",
    "the central bank raised interest rates again", "researchers released an open source model",
    "the striker scored twice in the second half", "investors worry about inflation and growth",
    "software engineers fixed the security bug", "the coach praised the defense after the game",
    "这是一段关于体育的文本。", "球队在最后一分钟赢得了比赛", "股市今天开盘走低，投资者担心通胀",
    "新手机有更快的芯片和更好的相机", "研究人员发布了一个开源模型", "央行再次提高利率",
    "运动员在锦标赛前刻苦训练", "软件工程师修复了安全漏洞",
]

TEXTS = [
    "这是一段文本。", "这是一段关于体育的文本。", "球队赢得了比赛", "股市今天走低", "新手机的相机更好",
    "研究人员发布模型", "央行提高利率", "运动员刻苦训练", "工程师修复漏洞", "投资者担心通胀",
    "比赛在最后一分钟结束", "芯片更快", "开源模型发布了", "体育新闻：球队夺冠！", "财经：股市上涨",
    "科技公司发布新产品", "今天天气很好", "我们去看比赛吧", "这个模型很大", "利率与增长",
    "The team won the match.", "Stocks fell as the market opened.", "A faster chip and a better camera!",
    "Players trained hard", "The central bank raised rates", "Researchers released an open-source model",
    "The striker scored twice", "investors worry about growth", "engineers fixed the bug",
    "the coach praised the defense", "unknownword xylophone quantumly", "Match, match; MATCH?",
    "café naïve résumé", "Ünïcödé àccents everywhere", "emoji 😀 in the text 🎉", "tabs\tand\nnewlines here",
    "numbers 123 and 4567 and 3.14", "a", "the", "HELLO WORLD",
    "mixed 中文 and English 文本", "球队 team 比赛 match", "股市 stocks 走低 lower", "芯片 chip 相机 camera",
    "模型 model 开源 open source", "(parentheses) [brackets] {braces}", "quotes \"double\" and 'single'",
    "hyphen-ated words-here", "e-mail: someone@example.com", "url https://example.com/path?q=1",
    " ".join(["the market opened lower today"] * 12),  # past the truncation
    "体育" * 40,  # past the truncation, one token per character
    "the team won " * 20, "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    "  leading and trailing spaces  ", "UPPER lower MiXeD", "semi;colon:colon,comma.period",
    "言论自由", "中国科学技术大学", "人工智能 artificial intelligence",
]


def write_folder(root, name, model_bytes, tok, cfg):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(model_bytes)
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(tok if isinstance(tok, str) else json.dumps(tok, ensure_ascii=False))
    if cfg is not None:
        with open(os.path.join(d, "config.json"), "w", encoding="utf-8") as f:
            f.write(cfg if isinstance(cfg, str) else json.dumps(cfg, ensure_ascii=False))
    return d


def hf_config(**extra):
    """A config.json as Transformers writes it for a BERT classifier (keys junction does not read included)."""
    c = {"_name_or_path": "test-bert", "architectures": ["BertForSequenceClassification"],
         "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_size": 32, "model_type": "bert",
         "num_attention_heads": 2, "num_hidden_layers": 2, "max_position_embeddings": 64, "vocab_size": 1000,
         "id2label": {str(i): l for i, l in enumerate(LABELS)}, "label2id": {l: i for i, l in enumerate(LABELS)},
         "problem_type": "single_label_classification", "torch_dtype": "float32", "transformers_version": "4.46.0"}
    c.update(extra)
    return c


def node(script, *args):
    p = subprocess.run(["node", os.path.join(HERE, script)] + list(args), capture_output=True, text=True,
                       timeout=300)
    if p.returncode:
        raise RuntimeError("%s exited %d: %s" % (script, p.returncode, p.stderr.strip()[-2000:]))
    return json.loads(p.stdout.strip().splitlines()[-1])


def http_json(addr, path, body, raw=None):
    data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
    req = urllib.request.Request("http://%s%s" % (addr, path), data=data,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def main(t):
    work = t.workdir
    models = os.path.join(work, "models")
    vocab = bert_onnx.wordpiece_vocab(TRAIN, size=1000)
    tok = bert_onnx.tokenizer_json(vocab, max_length=MAX_LEN)
    model = bert_onnx.build(vocab=len(vocab), hidden=32, layers=2, heads=2, labels=3, max_pos=64)
    mb = model.SerializeToString()
    d_clf = write_folder(models, "clf", mb, tok, hf_config())
    write_folder(models, "emb", mb, tok, {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 32})
    write_folder(models, "embn", mb, tok, {"model_type": "bert", "text": {"task": "embedding", "normalize": True}})
    write_folder(models, "strict", mb, bert_onnx.tokenizer_json(vocab), hf_config(text={"overflow": "refuse",
                                                                                        "max_length": 16}))
    # Bad folders: each must be skipped with a message naming the file and the field.
    bad = {
        "bad_tok": (mb, '{"model": {"type": "WordPiece", "vocab": 7}}', None),
        "bad_labels": (mb, tok, hf_config(id2label={"0": "a", "1": "b"})),
        "bad_task": (mb, tok, {"text": {"task": "summarize"}}),
        "bad_key": (mb, tok, {"text": {"pooling": "max"}}),
        "bad_outputs": (mb, tok, {"outputs": {"logits": {"labels": ["a", "b", "c"]}}}),
        "bad_json": (mb, tok, "{not json"),
    }
    for name, (m, tk, cfg) in bad.items():
        write_folder(models, name, m, tk, cfg)
    # A model with an input no tokenizer gives.
    m2 = bert_onnx.build(vocab=len(vocab), hidden=32, layers=1, heads=2, labels=3, max_pos=64)
    m2.graph.input[2].name = "segment_ids"
    for n in m2.graph.node:
        n.input[:] = ["segment_ids" if i == "token_type_ids" else i for i in n.input]
    write_folder(models, "bad_input", m2.SerializeToString(), tok, None)

    # ---- references: npm tokenizer ids -> ONNX Runtime -> numpy head ----
    texts_path = os.path.join(work, "texts.json")
    with open(texts_path, "w", encoding="utf-8") as f:
        json.dump(TEXTS, f, ensure_ascii=False)
    ids_path, out_path = os.path.join(work, "ids.json"), os.path.join(work, "ort.json")
    with t.case("references"):
        info = node("tok_ref.js", os.path.join(d_clf, "tokenizer.json"), texts_path, ids_path)
        t.ok("reference tokenizer: %s" % info["reference"])
        with open(ids_path) as f:
            ref_ids = json.load(f)
        t.check(max(len(r["input_ids"]) for r in ref_ids) == MAX_LEN, "the long texts are truncated to %d" % MAX_LEN)
        zh = ref_ids[TEXTS.index("球队赢得了比赛")]["input_ids"]
        t.eq(len(zh), 7 + 2, "each CJK character its own token (+ [CLS], [SEP])")
        node("ort_text.js", os.path.join(d_clf, "model.onnx"), ids_path, out_path)
        with open(out_path) as f:
            ort_out = json.load(f)
    want_label, want_score, want_emb = [], [], []
    for o, r in zip(ort_out, ref_ids):
        p = softmax(np.array(o["logits"]["data"], dtype=np.float64))
        want_label.append(LABELS[int(p.argmax())])
        want_score.append(float(p.max()))
        h = np.array(o["last_hidden_state"]["data"], dtype=np.float64).reshape(o["last_hidden_state"]["dims"])[0]
        m = np.array(r["attention_mask"], dtype=np.float64)
        want_emb.append((h * m[:, None]).sum(0) / m.sum())

    # ---- `junction model inspect DIR` ----
    with t.case("model inspect shows the pipeline"):
        p = subprocess.run([t.binary, "model", "inspect", d_clf], capture_output=True, text=True, timeout=60)
        t.eq(p.returncode, 0, "exit status (stderr %r)" % p.stderr[-300:])
        for part in ("tokenizer:", "tokenizer.json", "at most 32 tokens, longer text truncated",
                     "input_ids, attention_mask, token_type_ids", "logits", "softmax",
                     "label CLASSIFICATION FP32[-1, labels]", "3 labels from id2label"):
            t.check(part in p.stdout, "inspect output names %r" % part, p.stdout)

    srv = t.start_server(["--models", models, "--http-port", "any"])

    with t.case("bad folders are skipped, named"):
        expect = {
            "bad_tok": ["bad_tok/tokenizer.json", "model.vocab"],
            "bad_labels": ["bad_labels/config.json", "id2label has 2 labels", "3 scores"],
            "bad_task": ["bad_task/config.json", "text.task"],
            "bad_key": ["bad_key/config.json", "text.pooling is unknown"],
            "bad_outputs": ["bad_outputs/config.json", "'outputs'"],
            "bad_json": ["bad_json/config.json"],
            "bad_input": ["input 'segment_ids'"],
        }
        stderr = srv.stderr_text()
        for name, parts in expect.items():
            lines = [ln for ln in stderr.splitlines() if "model '%s' skipped" % name in ln]
            t.check(len(lines) == 1, "%s skipped at start" % name, stderr[-3000:])
            for part in parts:
                t.check(lines and part in lines[0], "%s: message names %r" % (name, part), lines)

    addr = srv.http_address
    with t.case("simple JSON: {text} -> {label, score} equals ORT on the reference ids"):
        ok = 0
        for i, text in enumerate(TEXTS):
            st, body = http_json(addr, "/v1/models/clf:predict", {"text": text})
            good = st == 200 and body.get("label") == want_label[i] and abs(body.get("score", -1) - want_score[i]) < 1e-4
            if not good:
                t.fail("text %d %r" % (i, text), "got %s %s, want %s %.6f" % (st, body, want_label[i], want_score[i]))
            ok += good
        t.check(ok == len(TEXTS), "%d/%d texts equal ONNX Runtime (label and score within 1e-4)" % (ok, len(TEXTS)))
        st, body = http_json(addr, "/v1/models/clf:predict", {"instances": [{"text": s} for s in TEXTS[:8]]})
        t.eq(st, 200, "a batch of 8 instances")
        t.eq([b["label"] for b in body.get("predictions", [])], want_label[:8], "batch labels")

    with t.case("v2 REST, v1 gRPC, v2 gRPC"):
        picks = [0, 13, 20, 33, 40, 50]
        for i in picks:
            st, body = http_json(addr, "/v2/models/clf/infer", {"inputs": [
                {"name": "text", "datatype": "BYTES", "shape": [1], "data": [TEXTS[i]]}]})
            out = body.get("outputs", [{}])[0]
            data = np.array(out.get("data", []), dtype=np.float64)
            t.check(st == 200 and out.get("name") == "label" and out.get("shape") == [1, 3] and data.size == 3 and
                    LABELS[int(data.argmax())] == want_label[i] and abs(data.max() - want_score[i]) < 1e-4,
                    "v2 REST text %d" % i, body)
        stub = pb.broker_grpc.BrokerStub(srv.channel())
        v2stub = pb.v2_grpc.GRPCInferenceServiceStub(srv.channel())
        for i in picks:
            req = pb.broker.InferRequest(model="clf", id="t%d" % i)
            req.inputs.append(pb.contract.Value(name="text", text=pb.contract.Text(text=TEXTS[i])))
            r = t.call("v1 Infer %d" % i, stub.Infer, req, timeout=60)
            v = r.outputs[0] if r and r.outputs else None
            kind = v.WhichOneof("value") if v else None
            if kind == "classification":
                scores = np.array(v.classification.scores, dtype=np.float64)
                lab = v.classification.labels[int(scores.argmax())]
            else:
                scores = harness.tensor_array(v.tensor).ravel() if v else np.zeros(3)
                lab = LABELS[int(scores.argmax())]
            t.check(lab == want_label[i] and abs(scores.max() - want_score[i]) < 1e-4, "v1 gRPC text %d" % i,
                    "%s %s" % (kind, scores))
            vreq = pb.v2.ModelInferRequest(model_name="clf", id="v%d" % i)
            vin = vreq.inputs.add(name="text", datatype="BYTES", shape=[1])
            vin.contents.bytes_contents.append(TEXTS[i].encode())
            vr = t.call("v2 ModelInfer %d" % i, v2stub.ModelInfer, vreq, timeout=60)
            arr = harness.v2_output_array(vr, "label")[0].ravel() if vr else np.zeros(3)
            t.check(LABELS[int(arr.argmax())] == want_label[i] and abs(arr.max() - want_score[i]) < 1e-4,
                    "v2 gRPC text %d" % i, arr)

    with t.case("embeddings: mean pooling over the attention mask"):
        worst, worst_n = 0.0, 0.0
        for i, text in enumerate(TEXTS):
            st, body = http_json(addr, "/v1/models/emb:predict", {"text": text})
            got = np.array(body.get("embedding", []), dtype=np.float64).ravel()
            st2, body2 = http_json(addr, "/v1/models/embn:predict", {"text": text})
            gotn = np.array(body2.get("embedding", []), dtype=np.float64).ravel()
            if st != 200 or got.shape != want_emb[i].shape or st2 != 200 or gotn.shape != want_emb[i].shape:
                t.fail("embedding of text %d" % i, "%s %s / %s %s" % (st, body, st2, body2))
                continue
            worst = max(worst, float(np.abs(got - want_emb[i]).max()))
            wn = want_emb[i] / np.linalg.norm(want_emb[i])
            worst_n = max(worst_n, float(np.abs(gotn - wn).max()))
        t.check(worst < 1e-4, "%d embeddings equal mean-pooled ORT (max |diff| %.2e)" % (len(TEXTS), worst))
        t.check(worst_n < 1e-4, "normalized embeddings (max |diff| %.2e)" % worst_n)

    with t.case("bad input"):
        long_text = TEXTS[50]
        st, body = http_json(addr, "/v1/models/strict:predict", {"text": long_text})
        t.check(st == 400 and "the model takes at most 16" in json.dumps(body, ensure_ascii=False),
                "overflow refuse: 400 naming the lengths", body)
        st, body = http_json(addr, "/v1/models/strict:predict", {"text": "the team won"})
        t.check(st == 200 and body.get("label") in LABELS, "a short text passes the strict model", body)
        st, body = http_json(addr, "/v1/models/clf:predict", {"text": ""})
        t.check(st == 400 and "empty text" in json.dumps(body), "empty text refused", body)
        vreq = pb.v2.ModelInferRequest(model_name="clf")
        vin = vreq.inputs.add(name="text", datatype="BYTES", shape=[1])
        vin.contents.bytes_contents.append(b"caf\xc3")
        t.expect_error("invalid UTF-8 refused", v2stub.ModelInfer, grpc.StatusCode.INVALID_ARGUMENT, "UTF-8",
                       args=(vreq,), timeout=60)

    t.stop_server(srv)


if __name__ == "__main__":
    if not shutil.which("node"):
        print("node is not installed: FAIL")
        sys.exit(1)
    harness.run(main)
