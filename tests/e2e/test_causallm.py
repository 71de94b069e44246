#!/usr/bin/python3
"""Generation over an ONNX causal language model (issue #19 item 3) against the real junction binary.

The model folders are made here (make_causallm.py: a 2-layer GPT-style decoder with past key/values in Hugging
Face's export layout, random weights, built with python3-onnx's helper; a byte-level BPE tokenizer.json trained on a
small corpus; config.json). The reference is ONNX Runtime (npm onnxruntime-node, ort_causallm.js) running the
greedy loop with its KV cache over the ids of the Hugging Face reference tokenizer (the `tokenizers` npm binding,
causallm_tok_ref.js; NODE_PATH or .cache/tokenizers), which also decodes its output.

- greedy: 50 prompts on /openai/v1/completions with curl (temperature 0): the text equals the reference tokens
  decoded by the reference tokenizer, and usage counts the reference's prompt and generated tokens;
- streaming: stream=true on /openai/v1/completions: more than one delta, the deltas in order make the unary text;
  Broker.InferStream: partials in order make the same text, the last carries finish_reason and usage;
- stop sequences (unary and streamed: the stop text never reaches the caller), finish_reason stop;
- max_tokens (finish_reason length), seeded sampling reproducible, different seeds give different texts;
- chat: a folder whose config.json has a chat_template takes messages on /openai/v1/chat/completions; its answer
  equals the reference over the rendered prompt;
- bad input: a prompt longer than the context is refused naming the context; a bad parameter names it.
"""
import json
import os
import shutil
import subprocess
import sys

import harness
from harness import pb

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_causallm  # noqa: E402

ORT_LOOP = os.path.join(HERE, "ort_causallm.js")
TOK_REF = os.path.join(HERE, "causallm_tok_ref.js")
MAX_NEW = 12
WORDS = ("the quick brown fox jumps over lazy dog hello world tokens reach caller order cache model writes one "
         "token time stops numbers café naïve résumé 1234 #$%").split()


def prompts():
    """50 prompts made from the corpus' words (seeded), a few with CJK and emoji (bytes the merges never saw)."""
    import random
    r = random.Random(19)
    out = []
    for i in range(50):
        words = [r.choice(WORDS) for _ in range(r.randint(1, 8))]
        if i % 10 == 3:
            words.append("中文")
        if i % 10 == 7:
            words.append("🙂")
        out.append(" ".join(words))
    return out


def make_folder(t, name, chat):
    d = os.path.join(t.workdir, "models", name)
    subprocess.run([harness.PYTHON, os.path.join(HERE, "make_causallm.py"), d], check=True, capture_output=True)
    if not chat:
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        del cfg["chat_template"]
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f)
    return d


def reference(t, folder, id_lists, max_new=MAX_NEW):
    path = os.path.join(t.workdir, "ref_prompts.json")
    with open(path, "w") as f:
        json.dump(id_lists, f)
    with open(os.path.join(folder, "config.json")) as f:
        eos = json.load(f)["eos_token_id"]
    r = subprocess.run(["node", ORT_LOOP, os.path.join(folder, "model.onnx"), path, str(max_new), str(eos)],
                       capture_output=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("ort_causallm.js failed (%d): %s" % (r.returncode, r.stderr.decode()[-500:]))
    return json.loads(r.stdout)["tokens"]


def hf_tokenizer(t, folder, encode=(), decode=()):
    """The Hugging Face reference (npm `tokenizers`, causallm_tok_ref.js): (ids per text, text per id list)."""
    path = os.path.join(t.workdir, "tok_ref_in.json")
    with open(path, "w") as f:
        json.dump({"encode": list(encode), "decode": list(decode)}, f)
    r = subprocess.run(["node", TOK_REF, os.path.join(folder, "tokenizer.json"), path], capture_output=True,
                       timeout=300)
    if r.returncode != 0:
        raise RuntimeError("causallm_tok_ref.js failed (%d): %s" % (r.returncode, r.stderr.decode()[-500:]))
    out = json.loads(r.stdout)
    return out["ids"], out["texts"]


def post(srv, path, body, timeout=60):
    """POST with the curl binary (as a user would): (status, body)."""
    r = subprocess.run(["curl", "-sS", "-N", "-w", "\n%{http_code}", "-H", "Content-Type: application/json",
                        "--data-binary", "@-", "http://%s%s" % (srv.http_address, path)],
                       input=json.dumps(body).encode(), capture_output=True, timeout=timeout)
    out = r.stdout.decode("utf-8", "replace")
    text, _, code = out.rpartition("\n")
    return int(code or 0), text


def sse(raw):
    docs = []
    for line in raw.split("\n"):
        if line.startswith("data: ") and line[6:] != "[DONE]":
            docs.append(json.loads(line[6:]))
    return docs


def complete(srv, prompt, **kw):
    code, body = post(srv, "/openai/v1/completions", dict({"model": "gpt", "prompt": prompt}, **kw))
    return code, json.loads(body) if body.startswith("{") else body


def greedy(t, srv, folder, tok):
    ps = prompts()
    ids, _ = hf_tokenizer(t, folder, encode=ps)
    t.eq(ids, [tok.encode(p) for p in ps], "the npm tokenizers reference and the test's own BPE agree on the prompts")
    ref = reference(t, folder, ids)
    _, ref_texts = hf_tokenizer(t, folder, decode=ref)
    same_text = same_usage = 0
    first_bad = None
    for p, pid, rt, want in zip(ps, ids, ref, ref_texts):
        code, r = complete(srv, p, temperature=0, max_tokens=MAX_NEW)
        if code != 200:
            first_bad = first_bad or (p, code, r)
            continue
        got = r["choices"][0]["text"]
        if got == want:
            same_text += 1
        elif first_bad is None:
            first_bad = (p, got, want, rt)
        u = r.get("usage", {})
        if u.get("prompt_tokens") == len(pid) and u.get("completion_tokens") == len(rt):
            same_usage += 1
        fr = r["choices"][0]["finish_reason"]
        want_fr = "stop" if rt and rt[-1] == tok.special[make_causallm.EOS] else "length"
        if fr != want_fr and first_bad is None:
            first_bad = (p, "finish_reason", fr, want_fr)
    t.eq(same_text, len(ps), "greedy: %d prompts' texts equal ONNX Runtime's tokens decoded by the reference "
         "(first difference: %r)" % (len(ps), first_bad))
    t.eq(same_usage, len(ps), "greedy: usage counts the reference's prompt and generated tokens")
    return ps, ref


def streaming(t, srv):
    p = "hello world, the cache keeps"
    code, r = complete(srv, p, temperature=0, max_tokens=16)
    t.eq(code, 200, "unary completion")
    whole = r["choices"][0]["text"]
    code, raw = post(srv, "/openai/v1/completions", {"model": "gpt", "prompt": p, "temperature": 0,
                                                      "max_tokens": 16, "stream": True})
    t.eq(code, 200, "streamed completion: 200")
    docs = sse(raw)
    deltas = [d["choices"][0]["text"] for d in docs if d.get("choices")]
    t.check(len([d for d in deltas if d]) > 1, "streamed: the text comes in several deltas", deltas)
    t.eq("".join(deltas), whole, "streamed: the deltas in order make the unary text")
    # Broker.InferStream: partials in order; the last carries finish_reason and the usage counts
    breq = pb.broker.InferRequest(model="gpt", inputs=[pb.contract.Value(name="prompt", text=pb.contract.Text(text=p))])
    harness.set_param(breq.parameters, "temperature", 0)
    harness.set_param(breq.parameters, "max_tokens", 16)
    got, last = [], None
    for resp in srv.broker().InferStream(iter([breq]), timeout=60):
        for v in resp.outputs:
            if v.name == "text":
                got.append(v.text.text if v.WhichOneof("value") == "text" else v.tensor.strings[0].decode())
            if v.name == "finish_reason":
                last = v
    t.eq("".join(got), whole, "Broker.InferStream: the partials in order make the unary text")
    t.check(len([g for g in got if g]) > 1, "Broker.InferStream: several partials", got)
    t.check(last is not None, "Broker.InferStream: a partial carries finish_reason")
    # Text is sent only once settled: a multi-byte character split across tokens is never sent half (as U+FFFD that
    # the next token would have completed), so the deltas always make exactly the unary text.
    same = 0
    for q in prompts()[:12]:
        _, u = complete(srv, q, temperature=0, max_tokens=MAX_NEW)
        _, raw = post(srv, "/openai/v1/completions", {"model": "gpt", "prompt": q, "temperature": 0,
                                                       "max_tokens": MAX_NEW, "stream": True})
        ds = [d["choices"][0]["text"] for d in sse(raw) if d.get("choices")]
        same += "".join(ds) == u["choices"][0]["text"]
    t.eq(same, 12, "streamed: 12 more prompts' deltas make their unary texts")
    return p, whole


def stops(t, srv, p, whole):
    printable = [i for i in range(2, len(whole) - 2)
                 if all(c.isascii() and c.isprintable() for c in whole[i:i + 2]) and whole[i:i + 2].strip()]
    if not printable:
        t.fail("stop: the greedy text has no printable pair to stop at", whole)
        return
    stop = whole[printable[0]:printable[0] + 2]
    want = whole[:whole.index(stop)]
    code, r = complete(srv, p, temperature=0, max_tokens=16, stop=[stop, "never appears"])
    t.eq((code, r["choices"][0]["text"], r["choices"][0]["finish_reason"]), (200, want, "stop"),
         "stop %r: the text up to it, finish_reason stop" % stop)
    code, raw = post(srv, "/openai/v1/completions", {"model": "gpt", "prompt": p, "temperature": 0, "max_tokens": 16,
                                                      "stream": True, "stop": stop})
    docs = sse(raw)
    deltas = "".join(d["choices"][0]["text"] for d in docs if d.get("choices"))
    t.eq(deltas, want, "streamed stop: the stop text never reaches the caller")
    frs = [d["choices"][0].get("finish_reason") for d in docs if d.get("choices")]
    t.check("stop" in frs, "streamed stop: finish_reason stop", frs)


def sampling(t, srv):
    p = "the lazy dog"
    texts = []
    for seed in (7, 7, 8, 9, 10, 11):
        code, r = complete(srv, p, temperature=1.0, top_p=0.95, seed=seed, max_tokens=10, top_k=50,
                           repetition_penalty=1.2)
        t.eq(code, 200, "sampled completion (seed %d)" % seed)
        texts.append(r["choices"][0]["text"] if code == 200 else None)
    t.eq(texts[0], texts[1], "same seed -> same text")
    t.check(len(set(texts[1:])) >= 2, "different seeds -> different texts", texts)
    code, r = complete(srv, p, temperature=0, max_tokens=3)
    t.eq((r["choices"][0]["finish_reason"], r["usage"]["completion_tokens"]) if code == 200 else code,
         ("length", 3), "max_tokens 3: three tokens, finish_reason length")
    code, r = complete(srv, p, temperature=1.0, seed=7, max_tokens=10, n=2, top_p=0.95, top_k=50,
                       repetition_penalty=1.2)
    t.check(code == 200 and len(r["choices"]) == 2 and r["choices"][0]["text"] == texts[0]
            and r["usage"]["completion_tokens"] >= 2,
            "n 2: two choices, the first the seed's own text", r)
    code, r = complete(srv, p, temperature=0.7, top_k=1, seed=3, max_tokens=8)
    code2, g = complete(srv, p, temperature=0, max_tokens=8)
    t.eq(r["choices"][0]["text"], g["choices"][0]["text"], "top_k 1 samples the greedy token")


def chat(t, srv, folder, tok):
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]
    rendered = "system: be brief\nuser: hello there\nassistant:"
    rids, _ = hf_tokenizer(t, folder, encode=[rendered])
    ref = reference(t, folder, rids)
    _, (ref_text,) = hf_tokenizer(t, folder, decode=ref)
    code, body = post(srv, "/openai/v1/chat/completions", {"model": "gptchat", "messages": msgs, "temperature": 0,
                                                           "max_tokens": MAX_NEW})
    t.eq(code, 200, "chat completion: 200")
    if code == 200:
        r = json.loads(body)
        t.eq(r["choices"][0]["message"]["content"], ref_text,
             "chat: the config's template renders the messages; the answer equals the reference's")
        t.eq(r["usage"]["prompt_tokens"], len(rids[0]), "chat: prompt_tokens of the rendered prompt")
    code, body = post(srv, "/openai/v1/chat/completions", {"model": "gptchat", "temperature": 0, "messages": [
        {"role": "tool", "content": "x"}]})
    t.check(code == 400 and "role 'tool' has no template" in body, "chat: a role without a template is named", body)


def bad_input(t, srv):
    code, r = complete(srv, "hello " * 80, temperature=0)
    t.check(code == 400 and "context of 64 tokens" in json.dumps(r), "a prompt longer than the context: 400 naming "
            "the context", r)
    code, r = complete(srv, "hello", temperature=0, repetition_penalty=0)
    t.check(code == 400 and "repetition_penalty" in json.dumps(r), "repetition_penalty 0 refused, named", r)
    code, r = complete(srv, "", temperature=0)
    t.check(code == 400, "an empty prompt refused", r)


def main(t):
    if shutil.which("node") is None:
        t.fail("node is not installed (the reference loop runs in onnxruntime-node)")
        return
    folder = make_folder(t, "gpt", chat=False)
    chat_folder = make_folder(t, "gptchat", chat=True)
    tok = make_causallm.Tokenizer(os.path.join(folder, "tokenizer.json"))
    srv = t.start_server(["--models", os.path.join(t.workdir, "models"), "--http-port", "any"])
    with t.case("greedy vs ONNX Runtime"):
        greedy(t, srv, folder, tok)
    with t.case("streaming"):
        p, whole = streaming(t, srv)
    with t.case("stop sequences"):
        stops(t, srv, p, whole)
    with t.case("sampling"):
        sampling(t, srv)
    with t.case("chat template"):
        chat(t, srv, chat_folder, tok)
    with t.case("bad input"):
        bad_input(t, srv)
    t.stop_server(srv)


if __name__ == "__main__":
    harness.run(main)
