#!/usr/bin/python3
"""The language-model doors of issue #18 against the real junction binary, with an `openai` remote on the test
upstream (openai_upstream.py) and real clients (the curl binary, Debian's python3-grpcio):

- curl with "stream": true on /openai/v1/chat/completions: the raw Server-Sent Events lines (Content-Type
  text/event-stream, chunked; `data: {chunk}` lines each followed by a blank line; the role first, the upstream's
  tokens in order, finish_reason, include_usage's last chunk, `data: [DONE]`); a prefix moved with --openai-prefix
  (the old one is then an ordinary 404);
- Triton's generate extension with curl: /v2/models/chat/generate (one JSON object) and /generate_stream (one event
  per token, the last with finish_reason and usage), the messages given as a JSON list or as its text; an unknown
  input named;
- v2 ModelStreamInfer on the chat remote is decoupled: one response per token with triton_final_response false, then
  a final empty response with true; Broker.InferStream gets the same tokens in order;
- a caller that leaves mid-stream (curl killed after its first token; the SSE client of /v2/.../generate_stream
  likewise) cancels the upstream request: the upstream sees the disconnect, well before its last token was due.
"""
import json
import os
import signal
import subprocess
import time
import urllib.request

import harness
from harness import pb

HERE = os.path.dirname(os.path.abspath(__file__))
UPSTREAM = os.path.join(HERE, "openai_upstream.py")
MSG = "tokens reach the caller in order"
WORDS = ["tokens ", "reach ", "the ", "caller ", "in ", "order"]


def start_upstream(t):
    import remote_util as ru
    p = ru.Process([harness.PYTHON, UPSTREAM, "--port", "0"], t.workdir).start()
    t.helpers = getattr(t, "helpers", []) + [p]
    return p


def control(up, path="/_control", **fields):
    req = urllib.request.Request("http://%s%s" % (up.address, path), data=json.dumps(fields).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}")


def seen(up):
    with urllib.request.urlopen("http://%s/_control" % up.address, timeout=30) as r:
        return json.loads(r.read())


def remotes_file(t, up):
    path = os.path.join(t.workdir, "remotes.json")
    ep = "http://%s/v1" % up.address
    with open(path, "w") as f:
        json.dump([{"name": "chat", "endpoint": ep, "protocol": "openai", "model": "test-chat"}], f)
    return path


def curl(args, timeout=30):
    r = subprocess.run(["curl", "-sS", "-N", "-D", "-"] + args, capture_output=True, timeout=timeout)
    text = r.stdout.decode("utf-8", "replace")
    head, _, body = text.partition("\r\n\r\n")
    return head, body


def post_args(url, body):
    return ["-H", "Content-Type: application/json", "-d", json.dumps(body), url]


def sse_events(t, body, what, done_expected=True):
    """The JSON documents of a raw SSE body, checking the framing line by line."""
    lines = body.split("\n")
    docs, done = [], False
    i = 0
    framing_ok = True
    while i < len(lines):
        line = lines[i]
        if line == "":
            i += 1
            continue
        if not line.startswith("data: ") or i + 1 >= len(lines) or lines[i + 1] != "":
            framing_ok = False
            break
        payload = line[6:]
        if payload == "[DONE]":
            done = True
        else:
            docs.append(json.loads(payload))
        i += 2
    t.check(framing_ok, "%s: every event is one 'data: ' line and a blank line" % what, body[:300])
    if done_expected:
        t.check(done and body.rstrip("\n").endswith("data: [DONE]"), "%s: ends with data: [DONE]" % what, body[-100:])
    else:
        t.check(not done, "%s: no [DONE] (Triton's stream has none)" % what)
    return docs


def openai_curl(t, srv):
    url = "http://%s/openai/v1/chat/completions" % srv.http_address
    body = {"model": "chat", "messages": [{"role": "user", "content": MSG}], "stream": True,
            "stream_options": {"include_usage": True}, "temperature": 0.3}
    head, raw = curl(post_args(url, body))
    t.check(head.startswith("HTTP/1.1 200"), "curl stream: 200", head[:80])
    t.check("Content-Type: text/event-stream" in head and "Transfer-Encoding: chunked" in head,
            "curl stream: text/event-stream, chunked", head)
    docs = sse_events(t, raw, "curl stream")
    t.check(len(docs) == 1 + len(WORDS) + 1 + 1, "curl stream: role + %d tokens + finish + usage chunks" % len(WORDS),
            len(docs))
    if len(docs) >= 4:
        t.eq(docs[0]["choices"][0]["delta"], {"role": "assistant", "content": ""}, "curl stream: the role first")
        deltas = [d["choices"][0]["delta"].get("content") for d in docs[1:-2]]
        t.eq(deltas, WORDS, "curl stream: the upstream's tokens in order")
        t.eq(docs[-2]["choices"][0]["finish_reason"], "stop", "curl stream: finish_reason")
        t.eq(docs[-1]["choices"], [], "curl stream: the usage chunk has no choices")
        t.eq(docs[-1]["usage"], {"prompt_tokens": 6, "completion_tokens": 6, "total_tokens": 12},
             "curl stream: the usage chunk")
        t.check(all(d["object"] == "chat.completion.chunk" and d["id"] == docs[0]["id"] for d in docs),
                "curl stream: one id, chunk objects")
    # Errors before the first token are statuses, as for a call that does not stream.
    head, raw = curl(post_args(url, dict(body, model="nope")))
    t.check(head.startswith("HTTP/1.1 404") and json.loads(raw)["error"]["code"] == "model_not_found",
            "curl stream: unknown model -> 404 model_not_found", head[:40] + raw)


def openai_prefix(t, up):
    srv = t.start_server(["--remotes", remotes_file(t, up), "--http-port", "any", "--openai-prefix", "/llm/"])
    head, raw = curl(["http://%s/llm/models" % srv.http_address])
    t.check(head.startswith("HTTP/1.1 200") and "chat" in [m["id"] for m in json.loads(raw)["data"]],
            "--openai-prefix /llm/: GET /llm/models", raw[:200])
    head, raw = curl(["http://%s/openai/v1/models" % srv.http_address])
    t.check(head.startswith("HTTP/1.1 404"), "--openai-prefix /llm/: /openai/v1/models is 404", head[:40])
    t.stop_server(srv)


def generate_curl(t, srv):
    base = "http://%s/v2/models/chat" % srv.http_address
    head, raw = curl(post_args(base + "/generate", {"messages": [{"role": "user", "content": MSG}],
                                                    "parameters": {"max_tokens": 2}}))
    t.check(head.startswith("HTTP/1.1 200") and "application/json" in head, "generate: 200 JSON", head[:80])
    t.eq(json.loads(raw), {"model_name": "chat", "model_version": "1", "text": "tokens reach ", "finish_reason": "length",
                           "prompt_tokens": 6, "completion_tokens": 2}, "generate: the whole answer by output name")
    head, raw = curl(post_args(base + "/versions/1/generate_stream",
                               {"messages": json.dumps([{"role": "user", "content": MSG}])}))
    t.check("Content-Type: text/event-stream" in head, "generate_stream: text/event-stream", head)
    docs = sse_events(t, raw, "generate_stream", done_expected=False)
    t.eq([d.get("text") for d in docs], WORDS + [""], "generate_stream: one event per token, then the end")
    if docs:
        t.eq((docs[-1].get("finish_reason"), docs[-1].get("completion_tokens")), ("stop", 6),
             "generate_stream: the last event carries finish_reason and usage")
    head, raw = curl(post_args(base + "/generate", {"prompt": "x"}))
    t.check(head.startswith("HTTP/1.1 400") and "has no input 'prompt'" in raw, "generate: an unknown input named", raw)


def v2_stream(t, srv):
    msgs = json.dumps([{"role": "user", "content": MSG}]).encode()
    req = pb.v2.ModelInferRequest(model_name="chat", id="r1")
    inp = req.inputs.add()
    inp.name = "messages"
    inp.datatype = "BYTES"
    inp.shape.append(1)
    inp.contents.bytes_contents.append(msgs)
    stream = list(srv.v2().ModelStreamInfer(iter([req]), timeout=30))
    t.check(all(not m.error_message for m in stream), "ModelStreamInfer: no error message",
            [m.error_message for m in stream])
    resps = [m.infer_response for m in stream]
    flags = [r.parameters["triton_final_response"].bool_param if "triton_final_response" in r.parameters else None
             for r in resps]
    t.eq(flags, [False] * (len(WORDS) + 1) + [True],
         "ModelStreamInfer: decoupled, one response per partial with triton_final_response false, then true")
    texts = []
    for r in resps[:-1]:
        for i, o in enumerate(r.outputs):
            if o.name == "text":
                raw = r.raw_output_contents[i] if r.raw_output_contents else None
                texts.append(raw[4:].decode() if raw is not None else o.contents.bytes_contents[0].decode())
    t.eq(texts, WORDS + [""], "ModelStreamInfer: the tokens in order")
    t.check(all(r.id == "r1" for r in resps), "ModelStreamInfer: every response carries the request id")
    t.eq(len(resps[-1].outputs), 0, "ModelStreamInfer: the final response is empty")
    breq = pb.broker.InferRequest(model="chat", inputs=[pb.contract.Value(
        name="messages", text=pb.contract.Text(text=msgs.decode()))])
    got = []
    for r in srv.broker().InferStream(iter([breq]), timeout=30):
        for v in r.outputs:
            if v.name == "text" and r.partial:
                got.append(v.text.text if v.WhichOneof("value") == "text" else v.tensor.strings[0].decode())
    t.eq(got, WORDS + [""], "Broker.InferStream: the same tokens in order")


def wait_disconnects(up, before, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if seen(up).get("disconnects", 0) > before:
            return True
        time.sleep(0.05)
    return False


def caller_leaves(t, srv, up):
    control(up, token_delay_ms=200)
    try:
        for path, body in (
                ("/openai/v1/chat/completions",
                 {"model": "chat", "messages": [{"role": "user", "content": "count 100"}], "stream": True}),
                ("/v2/models/chat/generate_stream", {"messages": [{"role": "user", "content": "count 100"}]})):
            before = seen(up).get("disconnects", 0)
            p = subprocess.Popen(["curl", "-sS", "-N", "-H", "Content-Type: application/json", "-d", json.dumps(body),
                                  "http://%s%s" % (srv.http_address, path)], stdout=subprocess.PIPE)
            first = p.stdout.readline()
            t0 = time.time()
            p.send_signal(signal.SIGKILL)
            p.wait()
            t.check(first.startswith(b"data: "), "%s: the first event arrived" % path, first)
            left = wait_disconnects(up, before)
            t.check(left, "%s: the caller leaving cancels the upstream request (it sees the disconnect)" % path,
                    seen(up))
            t.check(time.time() - t0 < 10, "%s: within seconds, not after the 100 tokens (20 s)" % path)
    finally:
        control(up, token_delay_ms=0)


def main(t):
    up = start_upstream(t)
    srv = t.start_server(["--remotes", remotes_file(t, up), "--http-port", "any"])
    with t.case("openai curl"):
        openai_curl(t, srv)
    with t.case("generate extension"):
        generate_curl(t, srv)
    with t.case("ModelStreamInfer"):
        v2_stream(t, srv)
    with t.case("caller leaves"):
        caller_leaves(t, srv, up)
    t.stop_server(srv)
    with t.case("openai prefix"):
        openai_prefix(t, up)


if __name__ == "__main__":
    harness.run(main)
