#!/usr/bin/python3
"""OpenAI-compatible servers as remote engines (issue #18, protocol "openai"), against the test upstream
openai_upstream.py (written from OpenAI's API reference; deterministic tokens, injectable faults):

- registration from a --remotes file (chat and embeddings) and by Admin.RegisterEngine (completions): the generate
  signature (messages / prompt -> text, finish_reason, usage counts), streaming, platform openai;
- unary chat and completions collect the upstream's whole answer; sampling parameters reach it (max_tokens cuts the
  answer, finish_reason "length"; n gives n choices); a bad parameter is refused naming it;
- Broker.InferStream: the tokens arrive in order, one partial each, while the upstream is still sending (the time
  between the first and last partial spans the upstream's token delays), the last partial carries finish_reason and
  usage, and their concatenation equals the unary answer;
- embeddings through junction equal the upstream's own vectors;
- 429 with Retry-After: retried after the wait and answered; past max_attempts RESOURCE_EXHAUSTED quoting the
  upstream; a 500 is retried; a stream dropped mid-way fails UNAVAILABLE and is not retried after tokens went out;
- a caller that cancels mid-stream cancels the upstream request: the upstream sees its client disconnect;
- errors: the upstream's 400 (INVALID_ARGUMENT, its message quoted), unknown model (NOT_FOUND), wrong key
  (UNAUTHENTICATED; the key it quotes back is scrubbed), bad options (the field named);
- upstream down: calls fail UNAVAILABLE, the breaker opens (metrics, console), the engine turns not ready; back up,
  it recovers;
- HTTPS: an upstream whose certificate tls_ca_file trusts is served; without it, the certificate is refused;
- the API key reaches the upstream as "Authorization: Bearer KEY" and appears in no log line of junction (stdout,
  stderr) nor in ListEngines, ListModels, v2 metadata, /metrics, the console's remotes listing or the state
  directory (which keeps the key file's path; after a restart the registration is back and answers).

usage: /usr/bin/python3 tests/e2e/test_remote_openai.py /path/to/junction
"""
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402
import remote_util as ru  # noqa: E402
from harness import pb  # noqa: E402

SC = grpc.StatusCode
HERE = os.path.dirname(os.path.abspath(__file__))
UPSTREAM = os.path.join(HERE, "openai_upstream.py")
KEY = "sk-junction-test-7d1e5c0ffee"
FAST = dict(health_interval_ms=150, health_timeout_ms=1000, breaker_cooldown_ms=400, breaker_failures=3,
            backoff_ms=20)


def start_upstream(t, port=0, extra=()):
    p = ru.Process([harness.PYTHON, UPSTREAM, "--port", str(port), "--api-key", KEY, "--dim", "12"] + list(extra),
                   t.workdir).start()
    t.helpers = getattr(t, "helpers", []) + [p]
    return p


def up_url(up, path):
    return "http://%s%s" % (up.address, path)


def up_post(up, path, obj, key=KEY):
    req = urllib.request.Request(up_url(up, path), data=json.dumps(obj).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer " + key})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def up_get(up, path):
    with urllib.request.urlopen(up_url(up, path), timeout=30) as r:
        return json.loads(r.read())


def control(up, **fields):
    up_post(up, "/_control", fields)


def http_get(srv, path):
    with urllib.request.urlopen("http://%s%s" % (srv.http_address, path), timeout=30) as r:
        return r.read().decode()


def messages(text):
    return json.dumps([{"role": "system", "content": "be brief"}, {"role": "user", "content": text}])


def gen_request(model, text, input_name="messages", id="", params=None):
    req = pb.broker.InferRequest(model=model, id=id,
                                 inputs=[pb.contract.Value(name=input_name, text=pb.contract.Text(text=text))])
    for k, v in (params or {}).items():
        harness.set_param(req.parameters, k, v)
    return req


def value_texts(v):
    """The strings of a TEXT value: the typed form (one) or a BYTES tensor."""
    if v.WhichOneof("value") == "text":
        return [v.text.text]
    if v.WhichOneof("value") == "tensor" and v.tensor.datatype == pb.tensor.BYTES:
        return [s.decode("utf-8") for s in v.tensor.strings]
    return None


def out(resp, name):
    for v in resp.outputs:
        if v.name == name:
            return v
    return None


def out_texts(resp, name):
    v = out(resp, name)
    return value_texts(v) if v is not None else None


def out_int(resp, name):
    v = out(resp, name)
    if v is None or v.WhichOneof("value") != "tensor" or v.tensor.datatype != pb.tensor.INT64:
        return None
    return int(np.frombuffer(v.tensor.raw, dtype="<i8")[0])


def write_remotes(t, up, keyfile):
    path = os.path.join(t.workdir, "remotes.json")
    base = "http://%s/v1" % up.address
    opts = dict(FAST, api_key_file=keyfile)
    with open(path, "w") as f:
        json.dump([
            {"name": "chat", "endpoint": base, "protocol": "openai", "model": "test-chat",
             "options": {k: str(v) for k, v in opts.items()}},
            {"name": "chat-embed", "endpoint": base, "protocol": "openai", "model": "test-embed",
             "options": dict({k: str(v) for k, v in opts.items()}, kind="embeddings")},
        ], f)
    return path


def main(t):
    try:
        run(t)
    finally:
        ru.kill_helpers(t)


def run(t):
    up = start_upstream(t, extra=["--token-delay-ms", "30"])
    keyfile = os.path.join(t.workdir, "openai.key")
    with open(keyfile, "w") as f:
        f.write(KEY + "\n")
    srv = t.start_server(["--remotes", write_remotes(t, up, keyfile), "--http-port", "any"])
    broker, admin, v2 = srv.broker(), srv.admin(), srv.v2()

    with t.case("registration: the generate signature and an embeddings engine"):
        m = ru.model_info(broker, "chat")
        t.check(m is not None and m.platform == "openai" and m.ready, "chat is listed, platform openai, ready",
                str(m))
        md = t.call("v2 metadata of chat", v2.ModelMetadata, pb.v2.ModelMetadataRequest(name="chat"))
        if md:
            t.eq([(i.name, i.datatype) for i in md.inputs], [("messages", "BYTES")], "chat's input: messages")
            t.eq([(o.name, o.datatype) for o in md.outputs],
                 [("text", "BYTES"), ("finish_reason", "BYTES"), ("prompt_tokens", "INT64"),
                  ("completion_tokens", "INT64")], "chat's outputs: text, finish_reason, usage")
        md = t.call("v2 metadata of chat-embed", v2.ModelMetadata, pb.v2.ModelMetadataRequest(name="chat-embed"))
        if md:
            t.eq([(o.name, o.datatype, list(o.shape)) for o in md.outputs], [("embedding", "FP32", [-1, 12])],
                 "chat-embed: FP32 [-1, 12] (the dimension asked of the upstream at registration)")
        r = t.call("RegisterEngine completions (protocol OPENAI)", ru.register, admin, "complete",
                   "http://%s/v1/" % up.address, protocol="OPENAI", model="test-chat", kind="completions",
                   api_key_file=keyfile, **FAST)
        if r:
            t.check(r.streams and [p.name for p in r.signature.inputs] == ["prompt"],
                    "completions: prompt -> text, streams", str(r.signature))
        e = ru.engine_info(admin, "chat")
        t.check(e is not None and e.protocol == pb.admin.OPENAI and e.endpoint == "http://%s/v1" % up.address,
                "ListEngines shows protocol OPENAI and the endpoint URL", str(e))

    with t.case("unary: the whole answer, finish_reason and usage"):
        r = t.call("Infer chat", broker.Infer, gen_request("chat", messages("hello brave new world"), id="u1"))
        if r:
            t.eq(out_texts(r, "text"), ["hello brave new world"], "the text (the upstream echoes the last message)")
            t.eq(out_texts(r, "finish_reason"), ["stop"], "finish_reason stop")
            t.eq((out_int(r, "prompt_tokens"), out_int(r, "completion_tokens")), (6, 4), "usage counts")
        r = t.call("Infer complete", broker.Infer, gen_request("complete", "one two three", input_name="prompt"))
        if r:
            t.eq(out_texts(r, "text"), ["one two three"], "completions: the text")
        r = t.call("Infer chat, max_tokens 2, n 3", broker.Infer,
                   gen_request("chat", messages("a b c d e"), params={"max_tokens": 2, "n": 3}))
        if r:
            t.eq(out_texts(r, "text"), ["a b "] * 3, "max_tokens cuts the answer, n gives three choices")
            t.eq(out_texts(r, "finish_reason"), ["length"] * 3, "finish_reason length")
        t.expect_error("a temperature out of range", broker.Infer, SC.INVALID_ARGUMENT, "parameter 'temperature'",
                       args=(gen_request("chat", messages("x"), params={"temperature": 7.5}),))
        t.expect_error("messages that are not a JSON list", broker.Infer, SC.INVALID_ARGUMENT, "input 'messages'",
                       args=(gen_request("chat", "not json"),))
        t.expect_error("the upstream's 400 (it takes n up to 16)", broker.Infer, SC.INVALID_ARGUMENT, "chat:",
                       "HTTP 400", "'n' must be an integer in [1, 16]",
                       args=(gen_request("chat", messages("x"), params={"n": 20}),))

    with t.case("InferStream: tokens in order as they arrive, then finish_reason and usage"):
        text = "count 12"
        q = harness.RequestQueue()
        q.put(gen_request("chat", messages(text), id="s1"))
        q.close()
        got, times = [], []
        t0 = time.time()
        for resp in broker.InferStream(q, timeout=60):
            got.append(resp)
            times.append(time.time() - t0)
        parts = [g for g in got if g.partial]
        deltas = [out_texts(g, "text")[0] for g in parts if out(g, "text") is not None]
        t.eq([d for d in deltas if d], ["w%d " % i for i in range(12)], "twelve tokens, one partial each, in order")
        last = parts[-1] if parts else None
        t.check(last is not None and out_texts(last, "finish_reason") == ["stop"] and
                out_int(last, "completion_tokens") == 12, "the last partial carries finish_reason and usage",
                str(last))
        t.check(got and not got[-1].partial and not got[-1].error.code, "then the final message ends the answer")
        # 30 ms between tokens upstream: streamed, the first partial comes long before the last.
        span = times[len(parts) - 2] - times[0] if len(parts) >= 2 else 0
        t.check(span >= 0.2, "partials arrive as the upstream sends them (first to last token: %.0f ms)"
                % (span * 1000), "span %.3f s" % span)
        r = t.call("Infer the same unary", broker.Infer, gen_request("chat", messages(text)))
        if r:
            t.eq("".join(deltas), out_texts(r, "text")[0], "the streamed deltas join to the unary text")

    with t.case("embeddings equal the upstream's own vectors"):
        words = ["a photo of a cat", "junction", "Größe 東京"]
        req = pb.broker.InferRequest(model="chat-embed", inputs=[pb.contract.Value(name="text", tensor=pb.tensor.Tensor(
            datatype=pb.tensor.BYTES, shape=[len(words)], strings=[w.encode() for w in words]))])
        r = t.call("Infer chat-embed", broker.Infer, req)
        theirs = up_post(up, "/v1/embeddings", {"model": "test-embed", "input": words})
        if r:
            mine = harness.output_array(r, "embedding")
            want = np.array([d["embedding"] for d in theirs["data"]], dtype=np.float32)
            t.check(mine is not None and mine.shape == (3, 12) and np.array_equal(mine, want),
                    "the same vectors, in order", "mine %r want %r" % (mine, want))

    with t.case("in pipelines: an embedding step, and a chat step whose tokens stream through"):
        ask = {"name": "ask", "inputs": [{"name": "q", "kind": "TEXT", "datatype": "BYTES", "shape": [-1]}],
               "steps": [{"id": "llm", "model": "chat", "inputs": {"messages": "q"}}],
               "outputs": [{"name": "answer", "from": "llm.text"}]}
        vec = {"name": "vec", "inputs": [{"name": "t", "kind": "TEXT", "datatype": "BYTES", "shape": [-1]}],
               "steps": [{"id": "e", "model": "chat-embed", "inputs": {"text": "t"}}],
               "outputs": [{"name": "v", "from": "e.embedding"}]}
        for spec in (ask, vec):
            t.call("PutPipeline %s" % spec["name"], admin.PutPipeline,
                   pb.admin.PutPipelineRequest(spec_json=json.dumps(spec)))
        q = harness.RequestQueue()
        q.put(gen_request("ask", messages("count 5"), input_name="q", id="p1"))
        q.close()
        got = list(broker.InferStream(q, timeout=60))
        deltas = [out_texts(g, "answer")[0] for g in got if g.partial and out(g, "answer") is not None]
        t.eq([d for d in deltas if d], ["w%d " % i for i in range(5)], "the pipeline streams the tokens in order")
        r = t.call("Infer vec", broker.Infer, pb.broker.InferRequest(model="vec", inputs=[
            pb.contract.Value(name="t", text=pb.contract.Text(text="junction"))]))
        theirs = up_post(up, "/v1/embeddings", {"model": "test-embed", "input": ["junction"]})
        if r:
            v = out(r, "v")
            got_vec = list(v.embedding.values) if v is not None and v.WhichOneof("value") == "embedding" else \
                list(harness.output_array(r, "v").ravel()) if harness.output_array(r, "v") is not None else None
            t.check(got_vec is not None and np.array_equal(np.float32(got_vec),
                                                           np.float32(theirs["data"][0]["embedding"])),
                    "an embedding step answers the upstream's vector", str(r)[:300])

    with t.case("429 with Retry-After: retried after the wait"):
        control(up, fail_429=1, retry_after=1)
        t0 = time.time()
        r = t.call("Infer chat through one 429", broker.Infer, gen_request("chat", messages("after the wait")))
        took = time.time() - t0
        t.check(r is not None and out_texts(r, "text") == ["after the wait"], "answered after the retry")
        t.check(took >= 0.9, "the retry waited Retry-After (1 s): %.2f s" % took)
        control(up, fail_429=10, retry_after=0)
        t.expect_error("429 past max_attempts", broker.Infer, SC.RESOURCE_EXHAUSTED, "chat:", "HTTP 429",
                       "Rate limit reached", "after 3 attempts", args=(gen_request("chat", messages("x")),))
        control(up, fail_429=0, retry_after=None, fail_500=1)
        r = t.call("Infer chat through one 500", broker.Infer, gen_request("chat", messages("five hundred")))
        t.check(r is not None and out_texts(r, "text") == ["five hundred"], "a 500 is retried")

    with t.case("a stream dropped mid-way fails UNAVAILABLE, not retried after tokens went out"):
        up_post(up, "/_control/reset", {})
        control(up, drop_after=3)
        q = harness.RequestQueue()
        q.put(gen_request("chat", messages("count 10"), id="d1"))
        q.close()
        got = list(broker.InferStream(q, timeout=60))
        toks = [out_texts(g, "text")[0] for g in got if g.partial and out(g, "text") is not None]
        err = got[-1].error if got else None
        t.eq([x for x in toks if x], ["w0 ", "w1 ", "w2 "], "the three tokens sent before the drop arrived")
        if err is not None:
            t.check_status(err.code, err.message, SC.UNAVAILABLE, "then the stream's error", "chat:", "after")
        posts = [x for x in up_get(up, "/_control")["requests"] if x.startswith("POST")]
        t.eq(len(posts), 1, "not retried once tokens went to the caller")

    with t.case("a server that answers a stream request whole: one partial with everything"):
        up_post(up, "/_control/reset", {})
        control(up, ignore_stream=True, token_delay_ms=0)
        q = harness.RequestQueue()
        q.put(gen_request("chat", messages("all at once"), id="w1"))
        q.close()
        got = list(broker.InferStream(q, timeout=60))
        parts = [g for g in got if g.partial]
        t.check(len(parts) == 1 and out_texts(parts[0], "text") == ["all at once"] and
                out_texts(parts[0], "finish_reason") == ["stop"] and out_int(parts[0], "completion_tokens") == 3,
                "the whole text, finish_reason and usage in one partial", str(parts))
        t.check(got and not got[-1].partial and not got[-1].error.code, "then the final message")
        control(up, ignore_stream=False, token_delay_ms=30)

    with t.case("a caller that cancels mid-stream cancels the upstream request"):
        up_post(up, "/_control/reset", {})
        control(up, token_delay_ms=100)
        q = harness.RequestQueue()
        q.put(gen_request("chat", messages("count 100"), id="c1"))
        call = broker.InferStream(q, timeout=60)
        n = 0
        for resp in call:
            n += 1
            if n == 3:
                break
        call.cancel()
        q.close()
        st = ru.wait_for(lambda: up_get(up, "/_control")["disconnects"] >= 1, 8)
        t.check(st, "the upstream saw its client go away", str(up_get(up, "/_control")))
        t.eq(up_get(up, "/_control")["completed"], 0, "and did not send the whole answer")
        control(up, token_delay_ms=30)

    with t.case("deadline: min(the caller's, timeout_ms)"):
        r = t.call("RegisterEngine chat-short (timeout_ms 300)", ru.register, admin, "chat-short",
                   "http://%s/v1" % up.address, protocol="OPENAI", model="test-chat", api_key_file=keyfile,
                   timeout_ms=300)
        control(up, first_token_delay_ms=2000)
        t0 = time.time()
        t.expect_error("a caller with 30 s meets the engine's 300 ms", broker.Infer, SC.DEADLINE_EXCEEDED,
                       "chat-short", args=(gen_request("chat-short", messages("slow")),), timeout=30)
        t.check(time.time() - t0 < 1.9, "it ended at the engine's timeout, not the upstream's answer")
        control(up, first_token_delay_ms=0)

    with t.case("registration errors name the problem"):
        t.expect_error("an unknown upstream model", ru.register, SC.NOT_FOUND, "model 'nope' is not served",
                       "test-chat", admin=admin, name="x1", endpoint="http://%s/v1" % up.address, protocol="OPENAI",
                       model="nope", api_key_file=keyfile)
        bad = os.path.join(t.workdir, "bad.key")
        with open(bad, "w") as f:
            f.write("sk-wrong\n")
        try:  # the upstream quotes the key it was given back; junction's message must not
            ru.register(admin, "x2", "http://%s/v1//" % up.address, protocol="OPENAI", model="test-chat",
                        api_key_file=bad)
            t.fail("a wrong key", "registered")
        except grpc.RpcError as e:
            t.check_rpc_error(e, SC.UNAUTHENTICATED, "a wrong key", "HTTP 401", "Incorrect API key provided: ***")
            t.check("sk-wrong" not in (e.details() or ""), "the key quoted back by the server is scrubbed",
                    e.details())
        t.expect_error("no model", ru.register, SC.INVALID_ARGUMENT, "model is missing", admin=admin, name="x3",
                       endpoint="http://%s/v1" % up.address, protocol="OPENAI", api_key_file=keyfile)
        t.expect_error("an unreadable key file", ru.register, SC.INVALID_ARGUMENT, "option 'api_key_file'",
                       "cannot read", admin=admin, name="x4", endpoint="http://127.0.0.1:9/v1", protocol="OPENAI",
                       model="m", api_key_file="/nonexistent/key")
        for endpoint, what in (("127.0.0.1:80", "not an http:// or https:// URL"),
                               ("ftp://127.0.0.1/v1", "not an http:// or https:// URL"),
                               ("http:///v1", "endpoint"), ("http://h/v1?x=1", "query")):
            t.expect_error("endpoint %r" % endpoint, ru.register, SC.INVALID_ARGUMENT, what, admin=admin,
                           name="x5", endpoint=endpoint, protocol="OPENAI", model="m")
        t.expect_error("a bad kind", ru.register, SC.INVALID_ARGUMENT, "option 'kind'", admin=admin, name="x6",
                       endpoint="http://%s/v1" % up.address, protocol="OPENAI", model="test-chat", kind="images")
        t.expect_error("api_key_file on a gRPC protocol", ru.register, SC.INVALID_ARGUMENT,
                       "option 'api_key_file' applies to protocol openai only", admin=admin, name="x7",
                       endpoint="127.0.0.1:9", protocol="KSERVE_V2", api_key_file=keyfile)

    with t.case("upstream down: UNAVAILABLE, the breaker opens, not ready; back up, it recovers"):
        port = up.port
        up.kill()
        for i in range(4):
            try:
                broker.Infer(gen_request("chat", messages("x")), timeout=30)
            except grpc.RpcError as e:
                if i == 0:  # "chat: POST ...: Couldn't connect", or "model 'chat' is not ready" once a health check
                    # saw it down
                    t.check_rpc_error(e, SC.UNAVAILABLE, "a call to the dead upstream", "chat")
        line = 'junction_remote_breaker_state{endpoint="http://127.0.0.1:%d/v1",state="open"} 1' % port
        # Open after 3 failed attempts, or health checks (every 150 ms) that fail; half-open between (400 ms).
        t.check(ru.wait_for(lambda: line in http_get(srv, "/metrics"), 5), "metrics: the endpoint's breaker is open",
                "\n".join(x for x in http_get(srv, "/metrics").splitlines() if "breaker_state" in x))
        rem = json.loads(http_get(srv, "/console/api/remotes"))["remotes"]
        chat = [x for x in rem if x["name"] == "chat"]
        t.check(chat and chat[0]["breaker"] in ("open", "half_open"), "the console shows the breaker",
                str(chat))
        t.check(ru.wait_for(lambda: not ru.model_info(broker, "chat").ready, 5), "chat is not ready")
        up2 = start_upstream(t, port=port, extra=["--token-delay-ms", "1"])
        t.check(ru.wait_for(lambda: ru.model_info(broker, "chat").ready, 10), "ready again once it is back")
        r = ru.wait_for(lambda: _try(broker, gen_request("chat", messages("back again"))), 10, step=0.2)
        t.check(r is not None and r and out_texts(r, "text") == ["back again"], "and answers")
        up = up2

    with t.case("HTTPS: verified against tls_ca_file"):
        d = t.workdir
        crt, key = os.path.join(d, "up.crt"), os.path.join(d, "up.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                        "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        tls_up = start_upstream(t, extra=["--tls-cert", crt, "--tls-key", key])
        url = "https://%s/v1" % tls_up.address
        r = t.call("RegisterEngine over HTTPS with tls_ca_file", ru.register, admin, "chat-tls", url,
                   protocol="OPENAI", model="test-chat", api_key_file=keyfile, tls_ca_file=crt)
        if r:
            a = t.call("Infer chat-tls", broker.Infer, gen_request("chat-tls", messages("over tls")))
            t.check(a is not None and out_texts(a, "text") == ["over tls"], "answered over HTTPS")
            t.call("UnregisterEngine chat-tls", admin.UnregisterEngine,
                   pb.admin.UnregisterEngineRequest(name="chat-tls"))
        t.check(ru.wait_for(lambda: ru.engine_info(admin, "chat-tls") is None, 5), "unregistered")
        time.sleep(0.2)  # the endpoint is freed by the health thread's next pass (another TLS setting may follow)
        t.expect_error("HTTPS without a CA that trusts it", ru.register, SC.UNAVAILABLE, "engine 'chat-tls2'",
                       "certificate", admin=admin, name="chat-tls2", endpoint="https://%s/v1/" % tls_up.address,
                       protocol="OPENAI", model="test-chat", api_key_file=keyfile)

    with t.case("the API key reaches the upstream and appears nowhere else"):
        seen = up_get(up, "/_control")["authorization"]
        t.check(seen and all(a == "Bearer " + KEY for a in seen), "every request carried the bearer token",
                str(seen[:3]))
        listings = [str(admin.ListEngines(pb.admin.ListEnginesRequest(), timeout=30)),
                    str(broker.ListModels(pb.broker.ListModelsRequest(), timeout=30)),
                    str(v2.ModelMetadata(pb.v2.ModelMetadataRequest(name="chat"), timeout=30)),
                    http_get(srv, "/metrics"), http_get(srv, "/console/api/remotes"),
                    http_get(srv, "/v2/models/chat")]
        t.check(all(KEY not in x for x in listings), "not in ListEngines, ListModels, metadata, metrics, console")
        t.stop_server(srv)
        logs = srv.stderr_text() + "\n".join(srv.stdout_lines)
        t.check(KEY not in logs and "sk-junction" not in logs, "not in junction's stdout or stderr",
                "\n".join(x for x in logs.splitlines() if "sk-" in x))
        state = srv.argv[srv.argv.index("--state-dir") + 1]
        kept = ""
        for root, _, files in os.walk(state):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    kept += f.read().decode("utf-8", "replace")
        t.check("complete" in kept and keyfile in kept and KEY not in kept,
                "the state directory keeps the Admin registration with the key file's path, not the key")

    with t.case("restart: the registration comes back from the state directory, the key read from its file"):
        srv2 = t.start_server(["--state-dir", state, "--remotes", write_remotes(t, up, keyfile)])
        b2 = srv2.broker()
        r = t.call("Infer complete after the restart", b2.Infer,
                   gen_request("complete", "still here", input_name="prompt"))
        t.check(r is not None and out_texts(r, "text") == ["still here"], "the restored engine answers")
        t.stop_server(srv2)


def _try(broker, req):
    try:
        return broker.Infer(req, timeout=10)
    except grpc.RpcError:
        return None


if __name__ == "__main__":
    harness.run(main)
