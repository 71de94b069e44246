#!/usr/bin/python3
"""Who may call what, end to end: bearer tokens, TLS and mutual TLS on the gRPC front end.

- tokens (--admin-token-file, --client-token-file): no token, a malformed authorization, a wrong token, the client
  token, the admin token — on unary inference (v1 and v2), model listing, a bidi InferStream, Admin calls; health
  and v2 ServerLive/ServerReady stay open; a client token on Admin is PERMISSION_DENIED; the tokens never appear on
  the server's stderr; an admin token alone leaves inference open;
- bad token files (missing, empty, with spaces) stop the start with a message naming the file, not the token;
- TLS (--tls-cert/--tls-key, certificates made here with openssl): a client trusting the test CA is served, a
  plaintext client is not; --tls-cert without --tls-key and a file that is not PEM are refused at start;
- mutual TLS (--tls-client-ca): a client certificate from the CA is served; no client certificate, or one from
  another CA, is not;
- remote engines over TLS (option tls_ca_file) and mutual TLS (tls_cert_file + tls_key_file) to another junction;
  plaintext to a TLS remote fails; a missing CA file is refused naming the option.

usage: /usr/bin/python3 tests/e2e/test_auth.py /path/to/junction
"""
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402
import remote_util as ru  # noqa: E402
from harness import pb, infer_request, output_array, v2_request, v2_output_array  # noqa: E402

UNAUTH = grpc.StatusCode.UNAUTHENTICATED
DENIED = grpc.StatusCode.PERMISSION_DENIED
ADMIN_TOKEN = "adm-7f3c9a1e5b2d4f60"
CLIENT_TOKEN = "cli-19e4b7c2a8d05f3e"


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def bearer(token):
    return [("authorization", "Bearer " + token)]


def openssl(t, *args):
    r = subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), r.stderr.decode(errors="replace")))


def make_ca(t, d, name):
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
    openssl(t, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt, "-days", "2",
            "-subj", "/CN=%s" % name)
    return key, crt


def make_leaf(t, d, name, ca_key, ca_crt, server):
    key, csr, crt = (os.path.join(d, name + ext) for ext in (".key", ".csr", ".crt"))
    openssl(t, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=%s" % name)
    ext = write(os.path.join(d, name + ".ext"),
                "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n" if server
                else "extendedKeyUsage=clientAuth\n")
    openssl(t, "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial", "-out", crt,
            "-days", "2", "-extfile", ext)
    return key, crt


def read(path):
    with open(path, "rb") as f:
        return f.read()


def start_fails(t, what, args, *substrings):
    """`junction serve ARGS` must exit non-zero before serving, its stderr naming every substring."""
    argv = [t.binary, "serve", "--grpc-port", "0", "--http-port", "0", "--host", "127.0.0.1", "--state-dir", "none"] + args
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
    except subprocess.TimeoutExpired:
        return t.fail(what, "still running after 60 s (it should have refused to start)")
    err = r.stderr.decode(errors="replace")
    missing = [s for s in substrings if s not in err]
    t.check(r.returncode != 0 and not missing and b"serving gRPC" not in r.stdout,
            what, "exit %d, stderr %r (missing %r)" % (r.returncode, err[-400:], missing))
    return err


def tokens(t):
    d = t.workdir
    admin_file = write(os.path.join(d, "admin.token"), ADMIN_TOKEN + "\n")
    client_file = write(os.path.join(d, "client.token"), "  " + CLIENT_TOKEN + "\n\n")
    srv = t.start_server(["--admin-token-file", admin_file, "--client-token-file", client_file, "--http-port", "any"],
                         probe=False)
    broker, v2, admin, health = srv.broker(), srv.v2(), srv.admin(), srv.health()
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    req = infer_request("identity", x, id="a1")

    with t.case("tokens: inference"):
        t.expect_error("Infer without a token -> UNAUTHENTICATED", broker.Infer, UNAUTH, "client token",
                       "Bearer", args=(req,))
        t.expect_error("Infer with a wrong token -> UNAUTHENTICATED", broker.Infer, UNAUTH, "not valid",
                       args=(req,), metadata=bearer("nope"))
        t.expect_error("Infer with 'Basic ...' -> UNAUTHENTICATED", broker.Infer, UNAUTH, "Bearer <token>",
                       args=(req,), metadata=[("authorization", "Basic " + CLIENT_TOKEN)])
        t.expect_error("Infer with the token as a prefix of the right one -> UNAUTHENTICATED", broker.Infer,
                       UNAUTH, args=(req,), metadata=bearer(CLIENT_TOKEN[:-1]))
        for who, tok in (("client", CLIENT_TOKEN), ("admin", ADMIN_TOKEN)):
            r = t.call("Infer with the %s token" % who, broker.Infer, req, metadata=bearer(tok))
            if r:
                t.check(np.array_equal(output_array(r, "output"), x), "Infer with the %s token: the answer" % who)
        r = t.call("v2 ModelInfer with the client token", v2.ModelInfer, v2_request("identity", x),
                   metadata=bearer(CLIENT_TOKEN))
        if r:
            t.check(np.array_equal(v2_output_array(r, "output")[0], x), "v2 ModelInfer with the client token: answer")
        t.expect_error("v2 ModelInfer without a token -> UNAUTHENTICATED", v2.ModelInfer, UNAUTH,
                       args=(v2_request("identity", x),))
        t.expect_error("ListModels without a token -> UNAUTHENTICATED", broker.ListModels, UNAUTH,
                       args=(pb.broker.ListModelsRequest(),))
        t.call("ListModels with the client token", broker.ListModels, pb.broker.ListModelsRequest(),
               metadata=bearer(CLIENT_TOKEN))

    with t.case("tokens: a bidi stream"):
        try:
            got = list(broker.InferStream(iter([req]), timeout=harness.RPC_TIMEOUT))
            t.fail("InferStream without a token -> UNAUTHENTICATED", "the stream answered %d messages" % len(got))
        except grpc.RpcError as e:
            t.check_rpc_error(e, UNAUTH, "InferStream without a token -> UNAUTHENTICATED", "client token")
        msgs = t.call("InferStream with the client token", lambda **kw: list(broker.InferStream(iter([req]), **kw)),
                      metadata=bearer(CLIENT_TOKEN))
        t.check(msgs and msgs[0].id == "a1" and np.array_equal(output_array(msgs[0], "output"), x),
                "InferStream with the client token: the answer", harness._short(msgs))

    with t.case("tokens: open probes"):
        r = t.call("Health Check without a token", health.Check, pb.health.HealthCheckRequest(service=""))
        t.check(r is not None and r.status == pb.health.HealthCheckResponse.SERVING, "health SERVING, no token")
        r = t.call("v2 ServerLive without a token", v2.ServerLive, pb.v2.ServerLiveRequest())
        t.check(r is not None and r.live, "v2 ServerLive without a token: live")
        r = t.call("v2 ServerReady without a token", v2.ServerReady, pb.v2.ServerReadyRequest())
        t.check(r is not None and r.ready, "v2 ServerReady without a token: ready")

    with t.case("tokens: admin"):
        lp = pb.admin.ListPipelinesRequest()
        t.expect_error("Admin ListPipelines without a token -> UNAUTHENTICATED", admin.ListPipelines, UNAUTH,
                       "admin token", args=(lp,))
        t.expect_error("Admin ListPipelines with the client token -> PERMISSION_DENIED", admin.ListPipelines,
                       DENIED, "admin token", args=(lp,), metadata=bearer(CLIENT_TOKEN))
        t.expect_error("Admin DeletePipeline with the client token -> PERMISSION_DENIED (nothing deleted)",
                       admin.DeletePipeline, DENIED, args=(pb.admin.DeletePipelineRequest(name="demo-chain"),),
                       metadata=bearer(CLIENT_TOKEN))
        r = t.call("Admin ListPipelines with the admin token", admin.ListPipelines, lp, metadata=bearer(ADMIN_TOKEN))
        t.check(r is not None and "demo-chain" in [p.name for p in r.pipelines],
                "Admin ListPipelines with the admin token: demo-chain still there")

    with t.case("tokens: HTTP"):
        http_tokens(t, srv)

    t.stop_server(srv)
    err = srv.stderr_text()
    t.check(ADMIN_TOKEN not in err and CLIENT_TOKEN not in err, "neither token appears on the server's stderr")

    with t.case("tokens: an admin token alone leaves inference open"):
        srv = t.start_server(["--admin-token-file", admin_file], probe=False)
        r = t.call("Infer without a token (no client token configured)", srv.broker().Infer, req)
        t.check(r is not None and np.array_equal(output_array(r, "output"), x), "Infer open: the answer")
        t.expect_error("Admin without a token -> UNAUTHENTICATED", srv.admin().ListPipelines, UNAUTH,
                       args=(pb.admin.ListPipelinesRequest(),))
        t.stop_server(srv)

    with t.case("tokens: bad token files stop the start"):
        missing = os.path.join(d, "missing.token")
        start_fails(t, "a missing token file -> refused, naming it", ["--client-token-file", missing], missing)
        empty = write(os.path.join(d, "empty.token"), " \n")
        start_fails(t, "an empty token file -> refused, naming it", ["--admin-token-file", empty], empty, "empty")
        spaced = write(os.path.join(d, "spaced.token"), "two words\n")
        err = start_fails(t, "a token with a space -> refused, naming the file", ["--client-token-file", spaced],
                          spaced, "printable ASCII")
        t.check(err is not None and "two words" not in err, "the refused token is not printed")


def http(srv, method, path, body=None, token=None):
    """(status, headers, body text) of one HTTP request."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request("http://%s%s" % (srv.http_address, path), method=method, headers=headers,
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def http_tokens(t, srv):
    infer = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}]}
    st, h, body = http(srv, "POST", "/v2/models/identity/infer", infer)
    t.check(st == 401 and "Bearer" in (h.get("WWW-Authenticate") or "") and "client token" in body,
            "HTTP infer without a token -> 401 + WWW-Authenticate: Bearer", (st, dict(h), body))
    st, _, body = http(srv, "POST", "/v2/models/identity/infer", infer, token="wrong")
    t.check(st == 401 and "not valid" in body, "HTTP infer with a wrong token -> 401", (st, body))
    st, _, body = http(srv, "POST", "/v2/models/identity/infer", infer, token=CLIENT_TOKEN)
    t.check(st == 200 and json.loads(body)["outputs"][0]["data"] == [1, 2], "HTTP infer with the client token -> 200",
            (st, body))
    st, _, _ = http(srv, "GET", "/v1/models")
    t.eq(st, 401, "GET /v1/models without a token -> 401")
    for path in ("/v2/health/live", "/v2/health/ready", "/metrics"):
        st, _, _ = http(srv, "GET", path)
        t.eq(st, 200, "GET %s without a token -> 200 (open for probes and scrapers)" % path)
    spec = {"name": "via-http", "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}],
            "steps": [{"id": "a", "model": "identity", "inputs": {"input": "x"}}],
            "outputs": [{"name": "y", "from": "a.output"}]}
    st, _, body = http(srv, "PUT", "/v1/pipelines/via-http", spec, token=CLIENT_TOKEN)
    t.check(st == 403 and "admin token" in body, "PUT /v1/pipelines with the client token -> 403", (st, body))
    st, _, body = http(srv, "PUT", "/v1/pipelines/via-http", spec, token=ADMIN_TOKEN)
    t.eq(st, 201, "PUT /v1/pipelines with the admin token -> 201")
    st, _, _ = http(srv, "GET", "/v1/pipelines/via-http", token=CLIENT_TOKEN)
    t.eq(st, 200, "GET /v1/pipelines/NAME with the client token -> 200 (reading is inference's)")
    st, _, _ = http(srv, "DELETE", "/v1/pipelines/via-http", token=CLIENT_TOKEN)
    t.eq(st, 403, "DELETE /v1/pipelines/NAME with the client token -> 403")
    st, _, _ = http(srv, "DELETE", "/v1/pipelines/via-http", token=ADMIN_TOKEN)
    t.eq(st, 200, "DELETE /v1/pipelines/NAME with the admin token -> 200")


def tls(t):
    d = os.path.join(t.workdir, "pki")
    os.makedirs(d, exist_ok=True)
    ca_key, ca_crt = make_ca(t, d, "test-ca")
    srv_key, srv_crt = make_leaf(t, d, "server", ca_key, ca_crt, server=True)
    cli_key, cli_crt = make_leaf(t, d, "client", ca_key, ca_crt, server=False)
    rogue_key, rogue_crt = make_ca(t, d, "rogue-ca")
    rcli_key, rcli_crt = make_leaf(t, d, "rogue-client", rogue_key, rogue_crt, server=False)
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    req = infer_request("identity", x)

    def secure_stub(srv, cert=None, key=None):
        creds = grpc.ssl_channel_credentials(root_certificates=read(ca_crt),
                                             private_key=read(key) if key else None,
                                             certificate_chain=read(cert) if cert else None)
        ch = grpc.secure_channel(srv.address, creds, options=[("grpc.enable_http_proxy", 0)])
        srv._channels.append(ch)
        return srv.broker(ch)

    with t.case("TLS"):
        srv = t.start_server(["--tls-cert", srv_crt, "--tls-key", srv_key], probe=False)
        r = t.call("TLS: Infer from a client trusting the CA", secure_stub(srv).Infer, req)
        t.check(r is not None and np.array_equal(output_array(r, "output"), x), "TLS: the answer")
        t.expect_error("TLS: a plaintext client is not served -> UNAVAILABLE", srv.broker().Infer,
                       grpc.StatusCode.UNAVAILABLE, args=(req,), timeout=5)
        t.stop_server(srv)

    with t.case("mutual TLS"):
        srv = t.start_server(["--tls-cert", srv_crt, "--tls-key", srv_key, "--tls-client-ca", ca_crt], probe=False)
        r = t.call("mTLS: Infer with a client certificate from the CA", secure_stub(srv, cli_crt, cli_key).Infer, req)
        t.check(r is not None and np.array_equal(output_array(r, "output"), x), "mTLS: the answer")
        t.expect_error("mTLS: no client certificate -> UNAVAILABLE", secure_stub(srv).Infer,
                       grpc.StatusCode.UNAVAILABLE, args=(req,), timeout=5)
        t.expect_error("mTLS: a client certificate from another CA -> UNAVAILABLE",
                       secure_stub(srv, rcli_crt, rcli_key).Infer, grpc.StatusCode.UNAVAILABLE, args=(req,),
                       timeout=5)
        t.stop_server(srv)

    with t.case("remote engines over TLS and mutual TLS"):
        far = t.start_server(["--tls-cert", srv_crt, "--tls-key", srv_key], probe=False)
        broker = t.start_server([], probe=False)
        admin = broker.admin()
        r = t.call("RegisterEngine far-id over TLS (tls_ca_file)", ru.register, admin, "far-id", far.address,
                   protocol="NATIVE", model="identity", tls_ca_file=ca_crt)
        y = t.call("Infer far-id", broker.broker().Infer, req) if r else None
        t.check(y is not None and np.array_equal(output_array(y, "output"), x), "far-id answers through TLS")
        t.expect_error("the same endpoint in plaintext while it is open with TLS -> INVALID_ARGUMENT", ru.register,
                       grpc.StatusCode.INVALID_ARGUMENT, "already in use with other TLS options",
                       args=(admin, "far-plain", far.address), alive=False, protocol="NATIVE", model="identity")
        other = t.start_server([], probe=False)
        t.expect_error("RegisterEngine in plaintext to a TLS server -> UNAVAILABLE", ru.register,
                       grpc.StatusCode.UNAVAILABLE, args=(other.admin(), "far-plain", far.address), alive=False,
                       protocol="NATIVE", model="identity", timeout=20)
        t.stop_server(other)
        t.expect_error("RegisterEngine with a CA file that does not exist -> INVALID_ARGUMENT naming the option",
                       ru.register, grpc.StatusCode.INVALID_ARGUMENT, "tls_ca_file", "not-there.pem",
                       args=(admin, "far-bad", "127.0.0.1:1"), alive=False, protocol="NATIVE", model="identity",
                       tls_ca_file=os.path.join(d, "not-there.pem"))
        t.stop_server(far)
        mfar = t.start_server(["--tls-cert", srv_crt, "--tls-key", srv_key, "--tls-client-ca", ca_crt], probe=False)
        r = t.call("RegisterEngine mfar-id over mutual TLS", ru.register, admin, "mfar-id", mfar.address,
                   protocol="NATIVE", model="identity", tls_ca_file=ca_crt, tls_cert_file=cli_crt,
                   tls_key_file=cli_key)
        y = t.call("Infer mfar-id", broker.broker().Infer, req) if r else None
        t.check(y is not None and np.array_equal(output_array(y, "output"), x), "mfar-id answers through mutual TLS")
        t.stop_server(mfar)
        t.stop_server(broker)

    with t.case("TLS: bad configuration stops the start"):
        start_fails(t, "--tls-cert without --tls-key -> refused", ["--tls-cert", srv_crt], "--tls-key")
        not_pem = write(os.path.join(d, "not.pem"), "hello\n")
        start_fails(t, "a certificate that is not PEM -> refused, naming the file",
                    ["--tls-cert", not_pem, "--tls-key", srv_key], not_pem, "not a PEM file")
        start_fails(t, "a missing key file -> refused, naming the flag and file",
                    ["--tls-cert", srv_crt, "--tls-key", os.path.join(d, "nope.key")], "--tls-key", "nope.key")


def main(t):
    tokens(t)
    tls(t)


if __name__ == "__main__":
    harness.run(main)
