#!/usr/bin/python3
"""The REST front end end to end (`junction serve --http-port any`), with Python's http.client / urllib, raw
sockets and curl:

- every KServe v2 REST endpoint for an engine (identity) and for pipelines (demo-chain, demo-tokens, demo-fanout):
  health, server and model metadata, model ready, infer with flat and nested data, ids, versions, requested
  outputs; answers equal to the gRPC front end's;
- Triton's binary-data extension both ways (bodies built by hand), FP32 and BYTES;
- POST /v1/models/{name}:predict in its simple shapes ({"text"}, {"<port>"}, {"instances"});
- errors: 400 with exactly the message gRPC gives for the same mistake, 404, 405 with Allow, 411, 413 (and the
  connection closed), 415, 503 for readiness and new work while shutdown drains a slow request;
- connections: 1000 requests on one keep-alive connection, pipelined requests on a raw socket answered in order,
  chunked uploads (http.client and curl), a malformed JSON body followed by a good request on the same connection;
- GET /metrics: Prometheus text whose junction_ request counters go up with HTTP calls;
- admin: GET /v1/models, /v1/models/{name}, /v1/pipelines, PUT/GET/DELETE /v1/pipelines/{name}.

usage: /usr/bin/python3 tests/e2e/test_http.py /path/to/junction
"""
import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402
from harness import pb, v2_request, v2_output_array  # noqa: E402

TIMEOUT = 30.0
JSON = {"Content-Type": "application/json"}
CURL = "/usr/bin/curl"


# HTTP helpers -------------------------------------------------------------------------------------------------------

class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except Exception:
            return None

    def error(self):
        j = self.json()
        return j.get("error") if isinstance(j, dict) else None

    def __repr__(self):
        b = self.body[:300]
        return "HTTP %d %r" % (self.status, b)


def call(conn, method, path, body=None, headers=None):
    """One request on an http.client connection; returns Resp."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode("utf-8")
    elif isinstance(body, str):
        body = body.encode("utf-8")
    hdrs = dict(JSON) if body is not None and method in ("POST", "PUT") else {}
    hdrs.update(headers or {})
    conn.request(method, path, body=body, headers=hdrs)
    r = conn.getresponse()
    data = r.read()
    return Resp(r.status, r.getheaders(), data)


class Client:
    """A keep-alive connection to the server's HTTP port."""

    def __init__(self, srv):
        self.conn = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=TIMEOUT)

    def __call__(self, method, path, body=None, headers=None):
        return call(self.conn, method, path, body, headers)

    def close(self):
        self.conn.close()


def v2_body(x, name="input", id=None, dtype="FP32", nested=True, **extra):
    a = np.asarray(x)
    d = {"inputs": [{"name": name, "shape": list(a.shape), "datatype": dtype,
                     "data": a.tolist() if nested else a.reshape(-1).tolist()}]}
    if id is not None:
        d["id"] = id
    d.update(extra)
    return d


def out_array(j, name, dtype=np.float32):
    for o in (j or {}).get("outputs", []):
        if o.get("name") == name:
            return np.asarray(o["data"], dtype=dtype).reshape(o["shape"])
    return None


def raw_exchange(port, data, want_responses, timeout=TIMEOUT):
    """Sends raw bytes, reads until want_responses full responses arrived (or EOF). Returns (responses, eof)
    where each response is (status, headers dict lower-case, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        buf = b""
        out = []
        eof = False
        while len(out) < want_responses:
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    return out, True
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            hdrs = {}
            for line in lines[1:]:
                k, v = line.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
            n = int(hdrs.get("content-length", "0"))
            while len(buf) < n:
                chunk = s.recv(65536)
                if not chunk:
                    return out, True
                buf += chunk
            out.append((status, hdrs, buf[:n]))
            buf = buf[n:]
        if want_responses and out and out[-1][1].get("connection", "").lower() == "close":
            s.settimeout(5)
            try:
                eof = s.recv(1) == b""
            except socket.timeout:
                eof = False
        return out, eof
    finally:
        s.close()


def curl(args, timeout=TIMEOUT):
    p = subprocess.run([CURL, "-sS", "--max-time", str(int(timeout))] + args, capture_output=True, timeout=timeout + 5)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def grpc_details(fn, req):
    try:
        fn(req, timeout=TIMEOUT)
    except grpc.RpcError as e:
        return e.code(), e.details()
    return None, None


def metric_value(text, name, labels):
    """Value of `name{labels...}` (labels in the order the server prints them), 0 if absent."""
    want = "%s{%s}" % (name, ",".join('%s="%s"' % kv for kv in labels))
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return 0.0


# Cases --------------------------------------------------------------------------------------------------------------

def check_health_and_metadata(t, srv, c):
    r = c("GET", "/v2/health/live")
    t.check(r.status == 200 and r.body == b"", "GET /v2/health/live: 200, empty body", repr(r))
    r = c("GET", "/v2/health/ready")
    t.check(r.status == 200 and r.body == b"", "GET /v2/health/ready: 200, empty body", repr(r))
    r = c("HEAD", "/v2/health/ready")
    t.check(r.status == 200 and r.body == b"", "HEAD /v2/health/ready: 200", repr(r))
    r = c("GET", "/v2")
    j = r.json()
    t.check(r.status == 200 and r.header("Content-Type") == "application/json", "GET /v2: 200 JSON", repr(r))
    t.check(j and j.get("name") == "junction" and j.get("version") and isinstance(j.get("extensions"), list)
            and "binary_tensor_data" in j["extensions"], "GET /v2: name, version, extensions", repr(j))
    grpc_md = srv.v2().ModelMetadata(pb.v2.ModelMetadataRequest(name="identity"), timeout=TIMEOUT)
    for path in ("/v2/models/identity", "/v2/models/identity/versions/1", "/v2/models/iden%74ity"):
        r = c("GET", path)
        j = r.json() or {}
        t.eq((r.status, j.get("name"), j.get("versions"), j.get("platform")),
             (200, "identity", ["1"], grpc_md.platform), "GET %s: name, versions, platform" % path)
        t.eq(j.get("inputs"), [{"name": "input", "datatype": "FP32", "shape": [-1, -1]}],
             "GET %s: inputs as gRPC ModelMetadata gives them" % path)
        t.eq(j.get("outputs"), [{"name": m.name, "datatype": m.datatype, "shape": list(m.shape)}
                                for m in grpc_md.outputs], "GET %s: outputs" % path)
    r = c("GET", "/v2/models/demo-chain")
    j = r.json() or {}
    t.eq((r.status, j.get("name"), [i["name"] for i in j.get("inputs", [])], [o["name"] for o in j.get("outputs", [])]),
         (200, "demo-chain", ["x"], ["y"]), "GET /v2/models/demo-chain: a pipeline's metadata")
    for path in ("/v2/models/identity/ready", "/v2/models/identity/versions/1/ready", "/v2/models/demo-tokens/ready"):
        r = c("GET", path)
        t.check(r.status == 200 and r.body == b"", "GET %s: 200" % path, repr(r))
    code, details = grpc_details(srv.v2().ModelMetadata, pb.v2.ModelMetadataRequest(name="nope"))
    r = c("GET", "/v2/models/nope")
    t.eq((r.status, r.error()), (404, details), "GET /v2/models/nope: 404 with gRPC's NOT_FOUND message")
    r = c("GET", "/v2/models/nope/ready")
    t.eq(r.status, 404, "GET /v2/models/nope/ready: 404")
    code, details = grpc_details(srv.v2().ModelMetadata, pb.v2.ModelMetadataRequest(name="identity", version="2"))
    r = c("GET", "/v2/models/identity/versions/2/ready")
    t.eq((r.status, r.error()), (404, details), "GET .../versions/2/ready: 404 naming the version")


def check_infer(t, srv, c):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    v2 = srv.v2()
    for nested in (True, False):
        what = "POST /v2/models/identity/infer (%s data)" % ("nested" if nested else "flat")
        r = c("POST", "/v2/models/identity/infer", v2_body(x, id="req-1", nested=nested))
        j = r.json() or {}
        t.eq((r.status, j.get("model_name"), j.get("model_version"), j.get("id")), (200, "identity", "1", "req-1"),
             "%s: 200, model_name, model_version, id" % what)
        out = out_array(j, "output")
        t.check(out is not None and out.dtype == np.float32 and np.array_equal(out, x),
                "%s: output equals input bit for bit (FP32 round-trips through JSON)" % what, repr(j)[:300])
    g = v2.ModelInfer(v2_request("identity", x, raw=False), timeout=TIMEOUT)
    gout, _ = v2_output_array(g, "output")
    r = c("POST", "/v2/models/identity/versions/1/infer", v2_body(x))
    j = r.json() or {}
    t.check(r.status == 200 and np.array_equal(out_array(j, "output"), gout), "versions/1/infer: same answer as gRPC",
            repr(r))
    t.eq(j.get("id"), "", "infer without id: id is \"\"")

    # Pipelines.
    r = c("POST", "/v2/models/demo-chain/infer", v2_body(x, name="x"))
    j = r.json() or {}
    t.check(r.status == 200 and np.array_equal(out_array(j, "y"), x), "demo-chain infer: y = x", repr(r))
    r = c("POST", "/v2/models/demo-chain/infer", v2_body(x, name="x", outputs=[{"name": "a.output"}]))
    j = r.json() or {}
    t.check(r.status == 200 and [o["name"] for o in j.get("outputs", [])] == ["a.output"]
            and np.array_equal(out_array(j, "a.output"), x), "demo-chain infer: intermediate output a.output", repr(r))
    r = c("POST", "/v2/models/demo-fanout/infer",
          v2_body(x, name="x", outputs=[{"name": "yb"}, {"name": "ya"}], parameters={"burn_ms": 1}))
    j = r.json() or {}
    t.check(r.status == 200 and [o["name"] for o in j.get("outputs", [])] == ["yb", "ya"]
            and np.array_equal(out_array(j, "ya"), x) and np.array_equal(out_array(j, "yb"), x),
            "demo-fanout infer: requested outputs in requested order", repr(r))
    text = "这是一段文本。 Hello, World"
    body = {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [text]}]}
    r = c("POST", "/v2/models/demo-tokens/infer", body)
    j = r.json() or {}
    outs = j.get("outputs", [{}])
    t.check(r.status == 200 and outs[0].get("datatype") == "BYTES"
            and outs[0].get("data") == ["这", "是", "一", "段", "文", "本", "hello", "world"]
            and outs[0].get("shape") == [8], "demo-tokens infer: BYTES out as JSON strings", repr(j))
    req = pb.v2.ModelInferRequest(model_name="demo-tokens")
    req.inputs.add(name="text", datatype="BYTES", shape=[1]).contents.bytes_contents.append(text.encode())
    g = v2.ModelInfer(req, timeout=TIMEOUT)
    t.eq(outs[0].get("data"), [s.decode() for s in g.outputs[0].contents.bytes_contents],
         "demo-tokens infer: same tokens as gRPC")
    r = c("POST", "/v2/models/tokenize/infer", body)
    t.eq(r.status, 200, "tokenize (a streaming engine) over unary REST: 200")


# Mistakes that both front ends refuse: (what, model, REST body, gRPC request builder)
def _grpc_int32():
    req = pb.v2.ModelInferRequest(model_name="identity")
    req.inputs.add(name="input", datatype="INT32", shape=[1, 2]).contents.int_contents.extend([1, 2])
    return req


def _grpc_rank():
    req = pb.v2.ModelInferRequest(model_name="identity")
    req.inputs.add(name="input", datatype="FP32", shape=[2]).contents.fp32_contents.extend([1, 2])
    return req


def _grpc_named(name, model="identity"):
    req = pb.v2.ModelInferRequest(model_name=model)
    req.inputs.add(name=name, datatype="FP32", shape=[1, 2]).contents.fp32_contents.extend([1, 2])
    return req


def _grpc_output(name, params=None):
    req = _grpc_named("input")
    o = req.outputs.add(name=name)
    for k, v in (params or {}).items():
        o.parameters[k].int64_param = v
    return req


def _grpc_param(model, key, value):
    req = _grpc_named("input", model)
    req.parameters[key].string_param = value
    return req


def _grpc_dtype():
    req = pb.v2.ModelInferRequest(model_name="identity")
    req.inputs.add(name="input", datatype="FLOAT", shape=[1])
    return req


def _grpc_empty(model):
    return pb.v2.ModelInferRequest(model_name=model)


ONE_TWO = [[1.0, 2.0]]
SAME_MISTAKES = [
    ("wrong datatype", "identity", v2_body([[1, 2]], dtype="INT32"), _grpc_int32, 400),
    ("wrong rank", "identity", v2_body([1.0, 2.0]), _grpc_rank, 400),
    ("unknown input", "identity", v2_body(ONE_TWO, name="inp"), lambda: _grpc_named("inp"), 400),
    ("missing input", "identity", {"inputs": []}, lambda: _grpc_empty("identity"), 400),
    ("unknown output", "identity", v2_body(ONE_TWO, outputs=[{"name": "nope"}]), lambda: _grpc_output("nope"), 400),
    ("classification parameter", "identity",
     v2_body(ONE_TWO, outputs=[{"name": "output", "parameters": {"classification": 2}}]),
     lambda: _grpc_output("output", {"classification": 2}), 400),
    ("engine refuses a parameter", "burn", v2_body(ONE_TWO, parameters={"burn_ms": "lots"}),
     lambda: _grpc_param("burn", "burn_ms", "lots"), 400),
    ("unknown datatype", "identity", {"inputs": [{"name": "input", "shape": [1], "datatype": "FLOAT", "data": [1]}]},
     _grpc_dtype, 400),
    ("pipeline input of the wrong type", "demo-chain", v2_body([[1, 2]], name="x", dtype="INT32"),
     lambda: _grpc_named("y", "demo-chain"), None),
    ("unknown model", "nope", v2_body(ONE_TWO), lambda: _grpc_named("input", "nope"), 404),
]


def check_errors(t, srv, c):
    v2 = srv.v2()
    for what, model, body, build, status in SAME_MISTAKES:
        code, details = grpc_details(v2.ModelInfer, build())
        r = c("POST", "/v2/models/%s/infer" % model, body)
        if status is None:  # different mistakes on each side: both 400 naming the pipeline
            t.check(r.status == 400 and "demo-chain" in (r.error() or "") and code == grpc.StatusCode.INVALID_ARGUMENT,
                    "%s: 400 naming the pipeline" % what, "%r / %s %r" % (r, code, details))
            continue
        t.eq((r.status, r.error()), (status, details), "%s: HTTP %d with gRPC's message" % (what, status))

    # REST-only mistakes: 400 naming the input and the element.
    r = c("POST", "/v2/models/identity/infer", {"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32",
                                                            "data": [1, "x", 3]}]})
    t.eq((r.status, r.error()),
         (400, "model 'identity': input 'input': data[1] is a string, expected a number (FP32; non-finite values "
               "are \"NaN\", \"Infinity\", \"-Infinity\")"), "a string in FP32 data: 400 naming the element")
    r = c("POST", "/v2/models/identity/infer", {"inputs": [{"name": "input", "shape": [2, 2], "datatype": "FP32",
                                                            "data": [[1, 2], [3]]}]})
    t.eq((r.status, r.error()),
         (400, "model 'identity': input 'input': data nesting does not match shape [2,2]: data[1] has 1 elements, "
               "expected 2"), "nesting that does not match the shape: 400")

    # The web console answers / (issue #21; test_console.js drives it in a browser); --console off turns it off.
    r = c("GET", "/")
    t.check(r.status == 200 and r.header("Content-Type").startswith("text/html") and
            "script-src 'self'" in (r.header("Content-Security-Policy") or ""), "GET /: the console's page with its CSP",
            repr(r))
    # 404, 405, 415.
    for path in ("/v3", "/v2/models", "/v2/health", "/v2/models/identity/explain", "/v1/models/identity:explain",
                 "/v2/models/identity/versions/1/ready/x", "/metrics/x", "/v2/"):
        r = c("GET", path)
        t.check(r.status == 404 and r.error(), "GET %s: 404 with an error" % path, repr(r))
    for method, path, allow in (("GET", "/v2/models/identity/infer", "POST"), ("POST", "/v2/health/live", "GET, HEAD"),
                                ("DELETE", "/v1/models", "GET, HEAD"), ("PUT", "/v1/models/identity:predict", "POST"),
                                ("POST", "/v1/pipelines/demo-chain", "GET, HEAD, PUT, DELETE"),
                                ("PATCH", "/metrics", "GET, HEAD")):
        r = c(method, path, body=b"{}" if method in ("POST", "PUT", "PATCH") else None, headers=JSON)
        t.check(r.status == 405 and r.header("Allow") == allow and r.error(),
                "%s %s: 405 with Allow: %s" % (method, path, allow), "%r Allow=%r" % (r, r.header("Allow")))
    good = json.dumps(v2_body(ONE_TWO))
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/octet-stream",
                  "application/jsonx"):
        r = c("POST", "/v2/models/identity/infer", good, headers={"Content-Type": ctype})
        t.check(r.status == 415 and r.error(), "infer with Content-Type %s: 415" % ctype, repr(r))
    for ctype in ("application/json", "application/json; charset=utf-8", "Application/JSON"):
        r = c("POST", "/v2/models/identity/infer", good, headers={"Content-Type": ctype})
        t.eq(r.status, 200, "infer with Content-Type %s: 200" % ctype)
    r = call_no_ctype(srv, "/v2/models/identity/infer", good.encode())
    t.eq(r.status, 200, "infer without Content-Type: taken as JSON")
    r = c("POST", "/v1/models/identity:predict", '{"input": [1]}', headers={"Content-Type": "text/plain"})
    t.eq(r.status, 415, ":predict with text/plain: 415")
    r = c("PUT", "/v1/pipelines/p", "{}", headers={"Content-Type": "application/octet-stream"})
    t.eq(r.status, 415, "PUT pipeline with application/octet-stream: 415")

    # 411: a POST with neither Content-Length nor chunked (raw socket: clients add one).
    resp, _ = raw_exchange(srv.http_port, b"POST /v2/models/identity/infer HTTP/1.1\r\nHost: x\r\n"
                                          b"Content-Type: application/json\r\n\r\n", 1)
    t.check(len(resp) == 1 and resp[0][0] == 411, "POST without a length: 411", repr(resp))
    # A percent-escape that is malformed.
    r = c("GET", "/v2/models/iden%zzity")
    t.eq(r.status, 400, "malformed percent-escape in the path: 400")


def call_no_ctype(srv, path, body):
    conn = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=TIMEOUT)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return Resp(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def check_binary(t, srv, c):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5)).astype("<f4")
    header = json.dumps({"id": "bin", "inputs": [{"name": "input", "shape": [2, 5], "datatype": "FP32",
                                                  "parameters": {"binary_data_size": x.nbytes}}],
                         "outputs": [{"name": "output", "parameters": {"binary_data": True}}]}).encode()
    for pad in (b"", b" "):  # aligned and unaligned binary parts
        hb = header + pad
        r = c("POST", "/v2/models/identity/infer", hb + x.tobytes(),
              headers={"Inference-Header-Content-Length": str(len(hb)), "Content-Type": "application/octet-stream"})
        what = "binary in and out (JSON header of %d bytes)" % len(hb)
        hl = r.header("Inference-Header-Content-Length")
        if not t.check(r.status == 200 and hl is not None, "%s: 200 with Inference-Header-Content-Length" % what,
                       repr(r)):
            continue
        hl = int(hl)
        j = json.loads(r.body[:hl])
        o = j["outputs"][0]
        t.eq((j["id"], o["name"], o["datatype"], o["shape"], o.get("parameters", {}).get("binary_data_size"),
              "data" in o), ("bin", "output", "FP32", [2, 5], x.nbytes, False),
             "%s: the output's header (Triton's layout)" % what)
        got = np.frombuffer(r.body[hl:], dtype="<f4").reshape(2, 5)
        t.check(len(r.body) == hl + x.nbytes and np.array_equal(got, x), "%s: raw output bytes equal the input" % what)

    # binary_data_output at request level, JSON input; BYTES binary in the v2 raw layout.
    r = c("POST", "/v2/models/identity/infer", v2_body(x, parameters={"binary_data_output": True}))
    hl = int(r.header("Inference-Header-Content-Length") or -1)
    t.check(r.status == 200 and hl > 0 and np.array_equal(np.frombuffer(r.body[hl:], "<f4").reshape(2, 5), x),
            "binary_data_output=true: the answer is binary", repr(r))
    texts = ["a b", "这是"]
    raw = b"".join(struct.pack("<I", len(s.encode())) + s.encode() for s in texts[:1])
    hb = json.dumps({"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES",
                                 "parameters": {"binary_data_size": len(raw)}}],
                     "outputs": [{"name": "tokens", "parameters": {"binary_data": True}}]}).encode()
    r = c("POST", "/v2/models/demo-tokens/infer", hb + raw, headers={"Inference-Header-Content-Length": str(len(hb))})
    hl = int(r.header("Inference-Header-Content-Length") or -1)
    want = b"".join(struct.pack("<I", len(s)) + s for s in (b"a", b"b"))
    t.check(r.status == 200 and r.body[hl:] == want, "BYTES binary in and out (v2 raw layout) through a pipeline",
            repr(r))
    # Mistakes.
    r = c("POST", "/v2/models/identity/infer", header + x.tobytes()[:-1],
          headers={"Inference-Header-Content-Length": str(len(header))})
    t.check(r.status == 400 and "binary_data_size 40 exceeds the 39 bytes" in (r.error() or ""),
            "binary part too short: 400", repr(r))
    r = c("POST", "/v2/models/identity/infer", header + x.tobytes(),
          headers={"Inference-Header-Content-Length": "abc"})
    t.eq(r.status, 400, "Inference-Header-Content-Length not a number: 400")
    r = c("POST", "/v2/models/identity/infer", header + x.tobytes())
    t.check(r.status == 400, "binary data without Inference-Header-Content-Length: 400", repr(r))


def check_predict(t, srv, c):
    r = c("POST", "/v1/models/tokenize:predict", {"text": "这是一段文本。"})
    t.eq((r.status, r.json()), (200, {"tokens": ["这", "是", "一", "段", "文", "本"]}),
         ":predict {\"text\"} on a TEXT model")
    # A TEXT output holding one element is a string (the junction.v1 rule), several are a list.
    r = c("POST", "/v1/models/demo-tokens:predict", {"instances": [{"text": "Hello World"}, "a"]})
    t.eq((r.status, r.json()), (200, {"predictions": [{"tokens": ["hello", "world"]}, {"tokens": "a"}]}),
         ":predict {\"instances\"} on a pipeline")
    r = c("POST", "/v1/models/identity:predict", {"input": [1, 2.5]})
    t.eq((r.status, r.json()), (200, {"output": [[1.0, 2.5]]}), ":predict numeric port, batch dim added")
    r = c("POST", "/v1/models/demo-chain:predict", {"x": [[1, 2], [3, 4]]})
    t.eq((r.status, r.json()), (200, {"y": [[1.0, 2.0], [3.0, 4.0]]}), ":predict on demo-chain")
    r = c("POST", "/v1/models/identity:predict", {"image": "AAAA"})
    t.eq((r.status, r.error()), (400, "model 'identity': no IMAGE input to take \"image\" (the model's inputs are "
                                      "'input')"), ":predict {\"image\"} on a model without one: 400")
    r = c("POST", "/v1/models/nope:predict", {"text": "a"})
    t.eq(r.status, 404, ":predict unknown model: 404")
    r = c("POST", "/v1/models/burn:predict", {"input": [[1]], "parameters": {"burn_ms": "lots"}})
    code, details = grpc_details(srv.v2().ModelInfer, _grpc_param("burn", "burn_ms", "lots"))
    t.eq((r.status, r.error()), (400, details), ":predict parameters reach the engine (same message as gRPC)")


def check_connections(t, srv):
    # 1000 requests on one keep-alive connection.
    c = Client(srv)
    ok = 0
    sock = None
    same = True
    for i in range(1000):
        r = c("POST", "/v2/models/identity/infer", v2_body([[float(i)]], id=str(i)))
        j = r.json() or {}
        if r.status == 200 and j.get("id") == str(i) and out_array(j, "output")[0][0] == i:
            ok += 1
        if sock is None:
            sock = c.conn.sock
        elif c.conn.sock is not sock:
            same = False
    t.eq(ok, 1000, "1000 requests on one keep-alive connection all answered")
    t.check(same, "... over the same socket (no reconnect)")
    # A malformed body, then a good request on the same connection.
    r = c("POST", "/v2/models/identity/infer", b'{"inputs": [')
    t.check(r.status == 400 and "request JSON" in (r.error() or ""), "malformed JSON: 400", repr(r))
    r = c("POST", "/v2/models/identity/infer", v2_body([[1.0]], id="after"))
    t.check(r.status == 200 and (r.json() or {}).get("id") == "after" and c.conn.sock is sock,
            "the next request on the same connection succeeds", repr(r))
    r = c("POST", "/v1/models/identity:predict", b"\xff\xfe")
    t.eq(r.status, 400, "a body that is not UTF-8: 400")
    r = c("GET", "/v2/health/live")
    t.check(r.status == 200 and c.conn.sock is sock, "... and the connection still serves")
    c.close()

    # Pipelined: many requests in one write, answered in order.
    reqs = []
    for i in range(8):
        body = json.dumps(v2_body([[float(i)]], id="p%d" % i)).encode()
        model = "burn" if i % 3 == 0 else "identity"  # slow ones (worker pool) and inline ones mixed
        reqs.append(b"POST /v2/models/%s/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (model.encode(), len(body), body))
        if i == 4:
            reqs.append(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
    resp, _ = raw_exchange(srv.http_port, b"".join(reqs), len(reqs))
    got = []
    for status, _, body in resp:
        try:
            got.append((status, json.loads(body).get("id", "404")))
        except Exception:
            got.append((status, body[:50]))
    want = [(200, "p%d" % i) for i in range(5)] + [(404, "404")] + [(200, "p%d" % i) for i in range(5, 8)]
    t.eq(got, want, "9 pipelined requests on a raw socket answered in order")

    # Chunked upload with http.client and with curl.
    c = Client(srv)
    body = json.dumps(v2_body(np.arange(12, dtype=np.float32).reshape(3, 4), id="chunked")).encode()
    chunks = [body[i:i + 7] for i in range(0, len(body), 7)]
    c.conn.request("POST", "/v2/models/identity/infer", body=iter(chunks), headers=JSON, encode_chunked=True)
    r = c.conn.getresponse()
    j = json.loads(r.read())
    t.check(r.status == 200 and j.get("id") == "chunked"
            and np.array_equal(out_array(j, "output"), np.arange(12).reshape(3, 4)),
            "chunked upload (http.client, 7-byte chunks)", str(j)[:200])
    c.close()
    path = os.path.join(t.workdir, "chunked.json")
    with open(path, "wb") as f:
        f.write(body)
    rc, out, err = curl(["-H", "Content-Type: application/json", "-H", "Transfer-Encoding: chunked",
                         "--data-binary", "@" + path, "http://%s/v2/models/identity/infer" % srv.http_address])
    try:
        j = json.loads(out)
    except Exception:
        j = {}
    t.check(rc == 0 and j.get("id") == "chunked", "chunked upload (curl -H 'Transfer-Encoding: chunked')",
            "rc %d %r %s" % (rc, out[:200], err))


def check_curl(t, srv):
    base = "http://%s" % srv.http_address
    rc, out, err = curl(["-o", "/dev/null", "-w", "%{http_code}", base + "/v2/health/ready"])
    t.eq((rc, out), (0, b"200"), "curl GET /v2/health/ready: 200")
    rc, out, err = curl(["-H", "Content-Type: application/json", "-d", '{"text": "Hello curl"}',
                         base + "/v1/models/tokenize:predict"])
    t.eq((rc, out), (0, '{"tokens":["hello","curl"]}'.encode()), "curl :predict")
    rc, out, err = curl(["-d", '{"text": "x"}', "-w", "\n%{http_code}", base + "/v1/models/tokenize:predict"])
    t.check(rc == 0 and out.endswith(b"\n415") and b"Content-Type" in out,
            "curl -d without a JSON Content-Type: 415 saying what to add", repr(out))
    rc, out, err = curl(["-i", "-X", "DELETE", base + "/v2/health/live"])
    t.check(rc == 0 and out.startswith(b"HTTP/1.1 405") and b"\r\nAllow: GET, HEAD\r\n" in out,
            "curl DELETE on a GET path: 405 with Allow", repr(out[:300]))


def check_metrics(t, srv, c):
    r = c("GET", "/metrics")
    t.check(r.status == 200 and (r.header("Content-Type") or "").startswith("text/plain; version=0.0.4"),
            "GET /metrics: 200 text/plain; version=0.0.4", "%r %r" % (r, r.header("Content-Type")))
    text = r.body.decode()
    t.check("# TYPE junction_" in text, "GET /metrics: junction_ metric families", text[:300])
    labels = [("model", "identity"), ("frontend", "http"), ("outcome", "success")]
    before = metric_value(text, "junction_requests_total", labels)
    for i in range(5):
        c("POST", "/v2/models/identity/infer", v2_body([[1.0]]))
    c("POST", "/v1/models/identity:predict", {"input": [1]})
    after = metric_value(c("GET", "/metrics").body.decode(), "junction_requests_total", labels)
    t.eq(after - before, 6.0, "junction_requests_total{model=identity,frontend=http,outcome=success} +6 after 6 calls")
    failed = [("model", "identity"), ("frontend", "http"), ("outcome", "failure")]
    before = metric_value(c("GET", "/metrics").body.decode(), "junction_requests_total", failed)
    c("POST", "/v2/models/identity/infer", v2_body([1.0]))
    after = metric_value(c("GET", "/metrics").body.decode(), "junction_requests_total", failed)
    t.eq(after - before, 1.0, "a refused request counts as a failure")
    # The live output, after traffic, through Prometheus's own checker (Debian's prometheus package ships promtool;
    # scripts/install-deps.sh installs it, so a missing promtool is a failure, not a skip).
    live = c("GET", "/metrics").body
    try:
        chk = subprocess.run(["promtool", "check", "metrics"], input=live, capture_output=True, timeout=60)
        t.check(chk.returncode == 0, "promtool check metrics accepts the live /metrics output",
                (chk.stdout + chk.stderr).decode(errors="replace")[:2000])
    except FileNotFoundError:
        t.check(False, "promtool is installed (scripts/install-deps.sh)", "promtool not found on PATH")


PIPE = {
    "name": "http-pipe",
    "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}],
    "steps": [{"id": "a", "model": "identity", "inputs": {"input": "x"}},
              {"id": "b", "model": "burn", "inputs": {"input": "a.output"}}],
    "outputs": [{"name": "y", "from": "b.output"}],
}


def check_admin(t, srv, c):
    r = c("GET", "/v1/models")
    models = {m["name"]: m for m in (r.json() or {}).get("models", [])}
    t.check(r.status == 200 and {"identity", "burn", "tokenize", "demo-chain", "demo-tokens"} <= set(models),
            "GET /v1/models lists engines and pipelines", repr(r))
    m = models.get("identity", {})
    t.eq((m.get("type"), m.get("ready"), m.get("versions"), m.get("signature", {}).get("inputs")),
         ("engine", True, ["1"], [{"name": "input", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}]),
         "GET /v1/models: identity's ModelInfo")
    t.eq(models.get("demo-chain", {}).get("type"), "pipeline", "GET /v1/models: demo-chain is a pipeline")
    r = c("GET", "/v1/models/tokenize")
    j = r.json() or {}
    t.eq((r.status, j.get("name"), j.get("signature", {}).get("outputs")),
         (200, "tokenize", [{"name": "tokens", "kind": "TEXT", "datatype": "BYTES", "shape": [-1]}]),
         "GET /v1/models/tokenize: its signature")
    r = c("GET", "/v1/models/nope")
    t.eq(r.status, 404, "GET /v1/models/nope: 404")
    r = c("GET", "/v1/pipelines")
    names = [p["name"] for p in (r.json() or {}).get("pipelines", [])]
    t.check(r.status == 200 and {"demo-chain", "demo-fanout", "demo-tokens"} <= set(names) and "identity" not in names,
            "GET /v1/pipelines: pipelines only", repr(names))

    r = c("PUT", "/v1/pipelines/http-pipe", PIPE)
    j = r.json() or {}
    t.check(r.status == 201 and j.get("name") == "http-pipe" and j.get("replaced") is False
            and "a" in j.get("plan", ""), "PUT /v1/pipelines/http-pipe: 201 with the plan", repr(r))
    r = c("PUT", "/v1/pipelines/http-pipe", PIPE)
    t.check(r.status == 200 and (r.json() or {}).get("replaced") is True, "PUT again: 200, replaced", repr(r))
    r = c("GET", "/v1/pipelines/http-pipe")
    j = r.json() or {}
    t.eq((r.status, j.get("name"), [s["id"] for s in j.get("steps", [])]), (200, "http-pipe", ["a", "b"]),
         "GET /v1/pipelines/http-pipe: the spec")
    x = np.array([[1.0, 2.0]], dtype=np.float32)
    r = c("POST", "/v2/models/http-pipe/infer", v2_body(x, name="x", parameters={"burn_ms": 1}))
    t.check(r.status == 200 and np.array_equal(out_array(r.json(), "y"), x), "infer through the put pipeline", repr(r))
    g = srv.v2().ModelInfer(v2_request("http-pipe", x, input_name="x", raw=False), timeout=TIMEOUT)
    t.check(np.array_equal(v2_output_array(g, "y")[0], x), "... and over gRPC")
    r = c("PUT", "/v1/pipelines/other-name", PIPE)
    t.eq((r.status, r.error()), (400, "the path names pipeline 'other-name' but the spec's name is 'http-pipe'"),
         "PUT with a name that differs from the path: 400")
    bad = dict(PIPE, name="bad-pipe", steps=[{"id": "a", "model": "nosuch", "inputs": {"input": "x"}}],
               outputs=[{"name": "y", "from": "a.output"}])
    r = c("PUT", "/v1/pipelines/bad-pipe", bad)
    code, details = grpc_details(srv.admin().PutPipeline, pb.admin.PutPipelineRequest(spec_json=json.dumps(bad)))
    t.eq((r.status, r.error()), (404, details), "PUT naming an unknown model: 404 with the Admin service's message")
    r = c("PUT", "/v1/pipelines/p", b'{"name": ')
    t.check(r.status == 400 and "pipeline JSON" in (r.error() or ""), "PUT malformed JSON: 400", repr(r))
    r = c("PUT", "/v1/pipelines/identity", dict(PIPE, name="identity"))
    t.eq(r.status, 409, "PUT over an engine's name: 409")
    r = c("DELETE", "/v1/pipelines/http-pipe")
    t.eq((r.status, r.json()), (200, {"name": "http-pipe", "deleted": True}), "DELETE /v1/pipelines/http-pipe: 200")
    r = c("GET", "/v1/pipelines/http-pipe")
    t.eq(r.status, 404, "GET after DELETE: 404")
    r = c("POST", "/v2/models/http-pipe/infer", v2_body(x, name="x"))
    t.eq(r.status, 404, "infer after DELETE: 404")
    r = c("DELETE", "/v1/pipelines/http-pipe")
    t.eq(r.status, 404, "DELETE again: 404")
    code, details = grpc_details(srv.admin().DeletePipeline, pb.admin.DeletePipelineRequest(name="identity"))
    r = c("DELETE", "/v1/pipelines/identity")
    t.eq((r.status, r.error()), (400, details), "DELETE an engine: 400 with the Admin service's message")
    r = c("GET", "/v1/pipelines/identity")
    t.eq(r.status, 404, "GET /v1/pipelines/identity (an engine): 404")


def check_body_limit(t):
    srv = t.start_server(["--http-port", "any", "--http-max-body-mb", "1"], probe=False)
    c = Client(srv)
    small = v2_body(np.zeros((1, 1000), dtype=np.float32))
    r = c("POST", "/v2/models/identity/infer", small)
    t.eq(r.status, 200, "--http-max-body-mb 1: a small body is served")
    c.close()
    big = 2 << 20
    resp, eof = raw_exchange(srv.http_port, b"POST /v2/models/identity/infer HTTP/1.1\r\nHost: x\r\n"
                                            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % big, 1)
    t.check(len(resp) == 1 and resp[0][0] == 413, "a body over the limit: 413", repr(resp))
    t.check(eof, "... and the connection is closed")
    path = os.path.join(t.workdir, "big.json")
    with open(path, "wb") as f:
        f.write(b'{"inputs": [' + b" " * big + b"]}")
    rc, out, err = curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json",
                         "-H", "Transfer-Encoding: chunked", "--data-binary", "@" + path,
                         "http://%s/v2/models/identity/infer" % srv.http_address])
    t.check(out == b"413" or rc in (55, 56), "a chunked body over the limit: 413 (or the connection cut)",
            "rc %d out %r %s" % (rc, out, err))
    c = Client(srv)
    r = c("GET", "/v2/health/ready")
    t.eq(r.status, 200, "the server serves on after refusing big bodies")
    c.close()
    t.stop_server(srv)


def check_shutdown(t):
    srv = t.start_server(["--http-port", "any", "--workers", "2", "--grace-ms", "20000"], probe=False)
    slow = {}

    def slow_call():
        c = Client(srv)
        try:
            slow["r"] = c("POST", "/v2/models/burn/infer",
                          v2_body([[1.0, 2.0]], id="slow", parameters={"burn_ms": 3000, "burn_mode": "sleep"}))
        except Exception as e:  # pragma: no cover
            slow["r"] = e
        c.close()

    th = threading.Thread(target=slow_call)
    th.start()
    time.sleep(0.5)  # the slow request is in flight
    srv.signal(signal.SIGTERM)
    ready = None
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        c = Client(srv)
        try:
            ready = c("GET", "/v2/health/ready").status
        except Exception:
            ready = None
        c.close()
        if ready == 503:
            break
        time.sleep(0.05)
    t.eq(ready, 503, "during shutdown: GET /v2/health/ready answers 503")
    c = Client(srv)
    try:
        r = c("POST", "/v2/models/identity/infer", v2_body([[1.0]]))
        t.eq((r.status, r.error()), (503, "the server is shutting down"), "during shutdown: new inference gets 503")
        r = c("GET", "/v2/models/identity/ready")
        t.eq(r.status, 503, "during shutdown: model ready answers 503")
        r = c("GET", "/v2/health/live")
        t.eq(r.status, 200, "during shutdown: still live")
    except Exception as e:
        t.fail("requests during shutdown", repr(e))
    c.close()
    th.join(30)
    r = slow.get("r")
    t.check(isinstance(r, Resp) and r.status == 200 and (r.json() or {}).get("id") == "slow",
            "the request in flight at SIGTERM finishes with 200", repr(r))
    t.stop_server(srv)


def main(t):
    srv = t.start_server(["--http-port", "any", "--workers", "2"])
    t.check(srv.http_port is not None and srv.http_port > 0, "the server printed its HTTP line before the gRPC one",
            repr(srv.stdout_lines))
    c = Client(srv)
    for name, fn in (("health and metadata", check_health_and_metadata), ("v2 infer", check_infer),
                     ("errors", check_errors), ("binary data", check_binary), ("simple predict", check_predict),
                     ("metrics", check_metrics), ("admin", check_admin)):
        with t.case(name):
            fn(t, srv, c)
    c.close()
    with t.case("connections"):
        check_connections(t, srv)
    with t.case("curl"):
        check_curl(t, srv)
    t.still_serving("the HTTP checks")
    t.stop_server(srv)
    with t.case("body limit"):
        check_body_limit(t)
    with t.case("shutdown"):
        check_shutdown(t)


if __name__ == "__main__":
    harness.run(main)
