#!/usr/bin/python3
"""The text engines end to end:

- `junction train --model spam-text` on a small generated JSONL (2 epochs, --quiet) writes PREFIX.safetensors and
  PREFIX.json and learns (held-out accuracy well above chance, recorded in the model card);
- the shipped `spam-text` model through `junction serve`: gRPC junction.v1 Infer with Value.text answers a
  classification with the right top label for an obvious spam and an obvious ham text (held-out messages of the
  SpamAssassin split, shortened), and HTTP POST /v1/models/spam-text:predict {"text"} answers {"label", "score"};
- `embed`: vectors of norm 1, similar texts closer than unrelated ones; `similarity` agrees.

usage: /usr/bin/python3 tests/e2e/test_train_text.py /path/to/junction
"""
import json
import os
import random
import subprocess
import sys
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import harness  # noqa: E402
from harness import pb  # noqa: E402

SPAM_WORDS = "free money winner prize cash offer click guaranteed unsubscribe credit loan mortgage".split()
HAM_WORDS = "meeting patch kernel review lunch thanks build debian release mailing list bug".split()
FILLER = "the a today please see attached we you now our for this".split()

# From the held-out 20% of the SpamAssassin split (tests/data/spam_to_jsonl.py), shortened.
SPAM_TEXT = ("Life Insurance - Why Pay More?\nSave up to 70% on your life insurance! FREE quote today. "
             "Click here to apply now and get guaranteed low rates. To be removed from our mailing list, "
             "click here to unsubscribe.")
HAM_TEXT = ("Re: New Sequences Window\nI can't reproduce this error. For me it is very repeatable... This is the "
            "debug log of the pick happening. The version of nmh I'm using is 1.0.4, and the relevant part of my "
            ".mh_profile. Exmh-workers mailing list")


def write_jsonl(path, n, rng):
    with open(path, "w") as f:
        for i in range(n):
            label = "spam" if i % 2 else "ham"
            words = SPAM_WORDS if label == "spam" else HAM_WORDS
            text = " ".join(rng.choice(words) if rng.random() < 0.4 else rng.choice(FILLER) for _ in range(12))
            f.write(json.dumps({"text": text, "label": label}) + "\n")


def http_post(addr, path, body):
    req = urllib.request.Request("http://%s%s" % (addr, path), data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, json.loads(r.read())


def main(t):
    with t.case("train spam-text on a small JSONL"):
        rng = random.Random(7)
        train, test, out = (os.path.join(t.workdir, n) for n in ("train.jsonl", "test.jsonl", "ckpt"))
        write_jsonl(train, 300, rng)
        write_jsonl(test, 100, rng)
        p = subprocess.run([t.binary, "train", "--model", "spam-text", "--data", train, "--test-data", test,
                            "--epochs", "2", "--out", out, "--quiet", "--optimizer", "adam", "--lr", "0.05",
                            "--seed", "3"], capture_output=True, text=True, timeout=120)
        t.eq(p.returncode, 0, "junction train exits 0")
        if p.returncode:
            print(p.stderr)
        t.check(os.path.getsize(out + ".safetensors") > (1 << 17) * 2 * 4, "checkpoint .safetensors written")
        with open(out + ".json") as f:
            card = json.load(f)
        t.eq(card["labels"], ["ham", "spam"], "model card labels")
        t.eq(card["training"]["epochs"], 2, "model card epochs")
        acc = card["metrics"]["test"]["accuracy"]
        t.check(acc >= 0.85, "held-out accuracy clearly above chance", "got %r" % acc)
        t.check("test: 100 examples" in p.stdout, "test metrics printed", p.stdout)

        # --init continues from the checkpoint; a bad label set is refused with the line's label named.
        bad = os.path.join(t.workdir, "bad.jsonl")
        with open(bad, "w") as f:
            f.write(json.dumps({"text": "hello", "label": "eggs"}) + "\n")
        p = subprocess.run([t.binary, "train", "--model", "spam-text", "--data", bad, "--init",
                            out + ".safetensors", "--epochs", "1", "--out", out + "2", "--quiet"],
                           capture_output=True, text=True, timeout=120)
        t.check(p.returncode == 1 and "'eggs'" in p.stderr, "--init refuses an unknown label", p.stderr)

    srv = t.start_server(["--http-port", "any"])
    stub = srv.broker()

    with t.case("spam-text over gRPC"):
        info = stub.GetModel(pb.broker.GetModelRequest(name="spam-text"), timeout=30)
        t.check("ham" in str(info) and "spam" in str(info), "GetModel shows the labels")
        for text, want in ((SPAM_TEXT, "spam"), (HAM_TEXT, "ham")):
            r = stub.Infer(pb.broker.InferRequest(model="spam-text", inputs=[
                pb.contract.Value(name="text", text=pb.contract.Text(text=text))]), timeout=30)
            cls = r.outputs[0].classification
            t.eq(cls.labels[0], want, "gRPC top label for the %s text" % want)
            t.check(cls.scores[0] > 0.5 and abs(sum(cls.scores) - 1) < 1e-4, "scores are probabilities",
                    str(cls))
        r = stub.Infer(pb.broker.InferRequest(model="spam-text", inputs=[
            pb.contract.Value(name="text", text=pb.contract.Text(text="日本語のテキスト 🙂 Ünïcödé"))]), timeout=30)
        t.eq(len(r.outputs[0].classification.labels), 2, "non-ASCII UTF-8 text is classified")

    with t.case("spam-text over HTTP"):
        for text, want in ((SPAM_TEXT, "spam"), (HAM_TEXT, "ham")):
            status, body = http_post(srv.http_address, "/v1/models/spam-text:predict", {"text": text})
            t.eq(status, 200, "HTTP predict status")
            t.eq(body.get("label"), want, "HTTP label for the %s text" % want)
            t.check(0.5 < body.get("score", 0) <= 1.0, "HTTP score", str(body))

    with t.case("embed and similarity"):
        texts = ["The quick brown fox jumps over the lazy dog",
                 "A quick brown fox jumped over a lazy dog",
                 "Quarterly earnings exceeded analyst expectations"]
        vecs = []
        for s in texts:
            r = stub.Infer(pb.broker.InferRequest(model="embed", inputs=[
                pb.contract.Value(name="text", text=pb.contract.Text(text=s))]), timeout=30)
            v = np.array(r.outputs[0].embedding.values, dtype=np.float64)
            vecs.append(v)
        t.eq(len(vecs[0]), 256, "embedding has 256 dimensions")
        t.check(all(abs(np.linalg.norm(v) - 1) < 1e-5 for v in vecs), "embeddings have norm 1")
        sim, unrel = float(vecs[0] @ vecs[1]), float(vecs[0] @ vecs[2])
        t.check(sim > unrel + 0.3, "similar texts have the higher cosine", "%f vs %f" % (sim, unrel))
        r = stub.Infer(pb.broker.InferRequest(model="similarity", inputs=[
            pb.contract.Value(name="a", text=pb.contract.Text(text=texts[0])),
            pb.contract.Value(name="b", text=pb.contract.Text(text=texts[1]))]), timeout=30)
        tn = r.outputs[0].tensor
        cos = float(np.frombuffer(tn.raw, dtype="<f4")[0]) if tn.raw else float(tn.fp32_contents[0])
        t.check(abs(cos - sim) < 1e-4, "similarity equals the embeddings' cosine", "%f vs %f" % (cos, sim))

    t.stop_server(srv)


if __name__ == "__main__":
    harness.run(main)
