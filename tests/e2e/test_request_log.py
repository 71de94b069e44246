#!/usr/bin/python3
"""The request log and redaction, end to end (issue #22): the real binary, python3-grpcio and curl as clients.

- one line per request in a CloudEvents envelope, read back as JSON: door (grpc-v1, grpc-v2, rest-v2, simple-json),
  model, version, status name and number, sizes, request id; an unknown model is logged NOT_FOUND;
- --redact: a text with an e-mail address, a phone number and a card number comes out masked (gRPC v1 and curl on
  REST v2), a Luhn-invalid digit run is left alone, a redacted port's value appears nowhere in the file;
- with --client-token-file on and calls carrying the token (gRPC metadata and HTTP Authorization), the token appears
  nowhere in the log;
- the OpenAI-compatible door on an `openai` remote that needs an API key: door openai-chat, and neither the key nor
  the caller's token is in the log;
- rotation under concurrent load: 8 threads x 100 calls with --request-log-max-bytes 4096: every request id exactly
  once across FILE and FILE.1 .. FILE.K, and junction_request_log_dropped_total is 0;
- --request-log - writes the lines to standard output, after the ready lines;
- --request-log-sample 0 logs nothing; a bad --redact file stops the start naming the file and the field.

usage: /usr/bin/python3 tests/e2e/test_request_log.py /path/to/junction
"""
import glob
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
from harness import pb, infer_request, v2_request  # noqa: E402

TOKEN = "cli-7e1d5a90c3b4f826"
SECRET = "s3cr3t-Passw0rd-991"
TEXT = ("write to bob.smith@example.com or call +1 555-123-4567; card 4111 1111 1111 1111; "
        "order 1234 5678 9012 3456")
RAW = ["bob.smith@example.com", "555-123-4567", "4111 1111 1111 1111"]


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def read_log(path):
    """Lines of FILE and FILE.1 .. FILE.K (oldest first), each parsed."""
    files = sorted(glob.glob(path + ".*"), key=lambda p: -int(p.rsplit(".", 1)[1])) + [path]
    lines = []
    for p in files:
        if os.path.exists(p):
            with open(p) as f:
                lines += [json.loads(l) for l in f if l.strip()]
    return lines, files


def whole_text(path):
    text = ""
    for p in glob.glob(path + "*"):
        with open(p, errors="replace") as f:
            text += f.read()
    return text


def metric(srv, name):
    with urllib.request.urlopen("http://%s/metrics" % srv.http_address, timeout=30) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


def wait_lines(srv, n, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (metric(srv, "junction_request_log_lines_total") or 0) >= n:
            return True
        time.sleep(0.05)
    return False


def text_value(name, text):
    return pb.contract.Value(name=name, text=pb.contract.Text(text=text))


def curl_json(t, url, body, token=None):
    argv = ["curl", "-sS", "-H", "Content-Type: application/json", "--data-binary", json.dumps(body), url]
    if token:
        argv[1:1] = ["-H", "Authorization: Bearer " + token]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    t.check(r.returncode == 0, "curl %s" % url.rsplit("/", 1)[-1], r.stderr)
    return json.loads(r.stdout) if r.stdout.strip() else None


def test_masking_and_tokens(t):
    d = t.workdir
    log = os.path.join(d, "masked.jsonl")
    rules = write(os.path.join(d, "redact.json"), json.dumps(
        {"ports": ["b"], "patterns": ["email", "phone", "card", "iban"], "regex": ["ACME-[0-9]{6}"]}))
    tok = write(os.path.join(d, "client.token"), TOKEN + "\n")
    srv = t.start_server(["--http-port", "any", "--request-log", log, "--request-log-payloads", "--redact", rules,
                          "--client-token-file", tok])
    md = [("authorization", "Bearer " + TOKEN)]
    stub = srv.broker()
    r = t.call("v1 Infer spam-text", stub.Infer, infer_request("spam-text", id="v1-text",
               values=[text_value("text", TEXT)]), metadata=md)
    t.check(r is not None, "v1 Infer spam-text answered")
    t.call("v1 Infer identity", stub.Infer, infer_request("identity", np.array([[1.5, 2.5]], "f4"), id="v1-id"),
           metadata=md + [("traceparent", "00-%s-00f067aa0ba902b7-01" % TRACE_ID)])
    t.call("v2 ModelInfer identity", srv.v2().ModelInfer, v2_request("identity", np.array([[3.0]], "f4"),
           id="v2-id"), metadata=md)
    try:
        stub.Infer(infer_request("no-such-model", np.array([[1.0]], "f4"), id="v1-missing"), metadata=md,
                   timeout=harness.RPC_TIMEOUT)
        t.fail("unknown model refused")
    except grpc.RpcError as e:
        t.eq(e.code(), grpc.StatusCode.NOT_FOUND, "unknown model refused NOT_FOUND")
    resps = list(stub.InferStream(iter([infer_request("identity", np.array([[float(i)]], "f4"), id="st-%d" % i)
                                        for i in range(2)]), metadata=md, timeout=harness.RPC_TIMEOUT))
    t.eq(sorted(r.id for r in resps), ["st-0", "st-1"], "InferStream answered")
    base = "http://%s" % srv.http_address
    curl_json(t, base + "/v2/models/spam-text/infer", {"id": "rest-text", "inputs": [
        {"name": "text", "datatype": "BYTES", "shape": [1], "data": [TEXT]}]}, TOKEN)
    curl_json(t, base + "/v1/models/similarity:predict", {"a": "hello there", "b": SECRET}, TOKEN)
    try:
        stub.Infer(infer_request("identity", np.array([[1.0]], "f4"), id="no-entry"),
                   metadata=[("authorization", "Bearer wrong-" + TOKEN)], timeout=harness.RPC_TIMEOUT)
        t.fail("a wrong token is refused")
    except grpc.RpcError as e:
        t.eq(e.code(), grpc.StatusCode.UNAUTHENTICATED, "a wrong token is refused UNAUTHENTICATED")
    t.check(wait_lines(srv, 8), "eight lines written (junction_request_log_lines_total)")
    lines, _ = read_log(log)
    by_id = {l["data"].get("request_id"): l for l in lines}
    t.eq(len(lines), 8, "one line per request")
    for l in lines:
        t.check(l.get("specversion") == "1.0" and l.get("type") == "junction.request" and
                l.get("source", "").startswith("junction/") and l.get("datacontenttype") == "application/json"
                and l.get("time", "").endswith("Z"), "CloudEvents envelope (%s)" % l["data"].get("door"), repr(l))
    t.check(len({l["id"] for l in lines}) == 8, "event ids are distinct")
    st = by_id.get("st-1", {}).get("data", {})
    t.check(st.get("door") == "grpc-v1-stream" and st.get("response_bytes", 0) > 0 and
            st.get("inputs", [{}])[0].get("values") == [1.0], "stream line: door grpc-v1-stream, sizes, input",
            repr(st))
    v1 = by_id.get("v1-id", {}).get("data", {})
    t.eq((v1.get("door"), v1.get("model"), v1.get("version"), v1.get("status")),
         ("grpc-v1", "identity", "1", {"code": "OK", "number": 0}), "v1 line: door, model, version, status")
    t.check(v1.get("request_bytes", 0) > 0 and v1.get("response_bytes", 0) > 0 and v1.get("latency_us", -1) >= 0,
            "v1 line: sizes and latency", repr(v1))
    t.eq(v1.get("inputs", [{}])[0].get("values"), [1.5, 2.5], "v1 line: the FP32 input's values")
    t.eq(v1.get("traceid"), TRACE_ID, "v1 line: the caller's trace id (traceparent metadata)")
    t.check("traceid" not in by_id.get("v2-id", {}).get("data", {}), "a call without a trace has no traceid field")
    t.eq(by_id.get("v2-id", {}).get("data", {}).get("door"), "grpc-v2", "v2 line: door grpc-v2")
    miss = by_id.get("v1-missing", {}).get("data", {})
    t.eq((miss.get("model"), miss.get("status")), ("no-such-model", {"code": "NOT_FOUND", "number": 5}),
         "unknown model: NOT_FOUND with the name asked for")
    for rid, door in (("v1-text", "grpc-v1"), ("rest-text", "rest-v2")):
        data = by_id.get(rid, {}).get("data", {})
        t.eq(data.get("door"), door, "%s: door %s" % (rid, door))
        vals = data.get("inputs", [{}])[0].get("values", [""])
        t.eq(vals, ["write to [EMAIL] or call [PHONE]; card [CARD]; order 1234 5678 9012 3456"],
             "%s: e-mail, phone and card masked, the Luhn-invalid run left alone" % rid)
    sim = [l["data"] for l in lines if l["data"].get("door") == "simple-json"]
    t.check(len(sim) == 1 and [i.get("values") for i in sim[0].get("inputs", [])] == [["hello there"], "[REDACTED]"],
            "simple-json line: the redacted port is [REDACTED]", repr(sim))
    text = whole_text(log)
    for raw in RAW:
        t.check(raw not in text, "'%s' appears nowhere in the log" % raw)
    t.check(SECRET not in text, "the redacted port's value appears nowhere in the log")
    t.check(TOKEN not in text, "the token appears nowhere in the log")
    t.check("no-entry" not in text, "a call refused by the token check is not logged")
    t.check("authorization" not in text.lower() and "bearer" not in text.lower(),
            "no authorization field in the log")
    t.check(TOKEN not in srv.stderr_text(), "the token is not on the server's stderr")
    t.stop_server(srv)


def test_rotation_under_load(t):
    log = os.path.join(t.workdir, "rotated.jsonl")
    srv = t.start_server(["--http-port", "any", "--request-log", log, "--request-log-max-bytes", "4096",
                          "--request-log-keep", "1000"])
    threads, per = 8, 100
    errors = []

    def load(k):
        ch = srv.channel()
        stub = pb.broker_grpc.BrokerStub(ch)
        for i in range(per):
            try:
                stub.Infer(infer_request("identity", np.array([[float(i)]], "f4"), id="t%d-%d" % (k, i)),
                           timeout=harness.RPC_TIMEOUT)
            except grpc.RpcError as e:
                errors.append(harness.describe_rpc_error(e))

    ths = [threading.Thread(target=load, args=(k,)) for k in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    t.eq(errors, [], "%d x %d calls answered" % (threads, per))
    t.check(wait_lines(srv, threads * per), "every line written")
    t.eq(metric(srv, "junction_request_log_dropped_total"), 0.0, "no line dropped")
    rotations = metric(srv, "junction_request_log_rotations_total") or 0
    t.stop_server(srv)
    lines, files = read_log(log)
    ids = [l["data"].get("request_id") for l in lines]
    want = {"t%d-%d" % (k, i) for k in range(threads) for i in range(per)}
    t.check(rotations >= 20 and len(files) >= 20, "the log rotated (%d rotations, %d files)" % (rotations, len(files)))
    t.check(all(os.path.getsize(p) <= 4096 for p in files if os.path.exists(p)), "no file past --request-log-max-bytes")
    t.eq(len(ids), len(want), "as many lines as calls across FILE and FILE.1..K")
    t.eq(set(ids), want, "every request id is there")
    t.eq(len(ids), len(set(ids)), "no request id twice")


def test_sample_and_bad_config(t):
    log = os.path.join(t.workdir, "sampled.jsonl")
    srv = t.start_server(["--http-port", "any", "--request-log", log, "--request-log-sample", "0"])
    for i in range(20):
        t.call("identity", srv.broker().Infer, infer_request("identity", np.array([[1.0]], "f4")))
    t.eq(metric(srv, "junction_request_log_lines_total"), 0.0, "--request-log-sample 0: no line")
    t.stop_server(srv)
    bad = write(os.path.join(t.workdir, "bad-redact.json"), '{"patterns": ["email", "mail"]}')
    r = subprocess.run([t.binary, "serve", "--grpc-port", "0", "--http-port", "0", "--state-dir", "none",
                        "--request-log", log, "--redact", bad], capture_output=True, text=True, timeout=60)
    t.check(r.returncode != 0 and bad in r.stderr and "patterns[1]" in r.stderr and "'mail'" in r.stderr,
            "a bad --redact file stops the start naming the file and the field", r.stderr)
    r = subprocess.run([t.binary, "serve", "--grpc-port", "0", "--http-port", "0", "--redact", bad],
                       capture_output=True, text=True, timeout=60)
    t.check(r.returncode != 0 and "--request-log" in r.stderr, "--redact without --request-log is refused",
            r.stderr)


def test_stdout(t):
    srv = t.start_server(["--http-port", "any", "--request-log", "-"])
    for i in range(3):
        t.call("identity", srv.broker().Infer, infer_request("identity", np.array([[1.0]], "f4"), id="std-%d" % i))
    t.check(wait_lines(srv, 3), "--request-log -: three lines written")
    srv.close_channels()
    srv.signal(harness.signal.SIGTERM)
    t.eq(srv.wait(60), 0, "--request-log -: the server exits 0")
    lines = [l for l in srv.stdout_lines if l.startswith("{")]
    ids = sorted(json.loads(l)["data"]["request_id"] for l in lines)
    t.eq(ids, ["std-0", "std-1", "std-2"], "--request-log -: the lines are on standard output after the ready lines")
    t.check(srv.stdout_lines[:2] == [l for l in srv.stdout_lines if l.startswith("junction: serving")],
            "--request-log -: the ready lines come first", repr(srv.stdout_lines[:4]))
    t.check_sanitizer_reports(srv)
    srv.kill()


def test_openai_door(t):
    """The OpenAI-compatible door on an `openai` remote that needs an API key: the line names the door, and neither
    the upstream's key nor the caller's token is in the log."""
    import remote_util as ru
    up_key = "sk-upstream-5c1e9a7d3b"
    up = ru.Process([harness.PYTHON, os.path.join(os.path.dirname(os.path.abspath(__file__)), "openai_upstream.py"),
                     "--port", "0", "--api-key", up_key], t.workdir).start()
    t.helpers = getattr(t, "helpers", []) + [up]
    keyfile = write(os.path.join(t.workdir, "upstream.key"), up_key + "\n")
    remotes = write(os.path.join(t.workdir, "openai-remotes.json"), json.dumps([
        {"name": "chat", "endpoint": "http://%s/v1" % up.address, "protocol": "openai", "model": "test-chat",
         "options": {"api_key_file": keyfile}}]))
    log = os.path.join(t.workdir, "openai.jsonl")
    tok = write(os.path.join(t.workdir, "client2.token"), TOKEN + "\n")
    srv = t.start_server(["--http-port", "any", "--remotes", remotes, "--request-log", log,
                          "--request-log-payloads", "--client-token-file", tok])
    url = "http://%s/openai/v1/chat/completions" % srv.http_address
    answer = curl_json(t, url, {"model": "chat", "messages": [{"role": "user", "content": "hello there"}]}, TOKEN)
    t.check(bool(answer and answer.get("choices")), "openai chat answered", repr(answer)[:300])
    missing = curl_json(t, url, {"model": "nope", "messages": [{"role": "user", "content": "hi"}]}, TOKEN)
    t.check(bool(missing and missing.get("error")), "openai chat on an unknown model fails", repr(missing)[:300])
    t.check(wait_lines(srv, 2), "two lines written")
    lines, _ = read_log(log)
    doors = sorted(l["data"].get("door") for l in lines)
    t.eq(doors, ["openai-chat", "openai-chat"], "the lines name the door openai-chat")
    ok = [l["data"] for l in lines if l["data"].get("model") == "chat"]
    t.check(ok and ok[0]["status"]["code"] == "OK" and ok[0].get("request_bytes", 0) > 0,
            "the chat call: OK, with its request size", repr(ok)[:400])
    failed = [l["data"] for l in lines if l["data"].get("model") == "nope"]
    t.check(failed and failed[0]["status"]["code"] == "NOT_FOUND", "the unknown model is logged NOT_FOUND",
            repr(failed)[:400])
    text = whole_text(log)
    for secret, what in ((up_key, "the upstream's API key"), (TOKEN, "the caller's token")):
        t.check(secret not in text, "%s appears nowhere in the log" % what)
    t.stop_server(srv)


def main(t):
    with t.case("masking, redacted ports, tokens"):
        test_masking_and_tokens(t)
    with t.case("rotation under concurrent load"):
        test_rotation_under_load(t)
    with t.case("standard output"):
        test_stdout(t)
    with t.case("the OpenAI door and API keys"):
        test_openai_door(t)
    with t.case("sampling and a bad redaction file"):
        test_sample_and_bad_config(t)


if __name__ == "__main__":
    harness.run(main)
