#!/usr/bin/python3
"""Images by URL (issue #18 item 5; broker/fetch): simple JSON {"image": "http://..."} fetched under --fetch-allow.

A loopback HTTP server written here (http.server, a thread) serves a Fashion-MNIST photo (tests/data/ankle-boot.png),
an oversized image (with and without Content-Length), a slow one, an HTML page, redirects and a 404, and counts the
requests it gets. Against junction serve --fetch-allow 127.0.0.1:PORT --fetch-max-bytes 100000 --fetch-timeout-ms 1500:
- the listed host is served: fashion-cnn answers exactly what it answers for the same bytes inline (base64), also
  through a redirect on the same host, and from a data: URI;
- refused, each with its reason in the message and its status: an unlisted host (403), a redirect to an unlisted host
  (403, the host named), oversize (400, both ways), slow (504, the timeout named), wrong content type (400), HTTP 404
  (400), a scheme other than http(s) (400);
- with --fetch-allow '*' (any public host): a private literal (10.x), a link-local one (169.254.169.254) and a name
  resolving to loopback (localhost) are refused as such (403) and the image server sees no request;
- without --fetch-allow: refused naming the flag (403); data: URIs still decode.

usage: /usr/bin/python3 tests/e2e/test_fetch.py /path/to/junction
"""
import base64
import http.server
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

PNG = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "ankle-boot.png"), "rb").read()
MAX_BYTES = 100000


class ImageServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ImageHandler)
        self.hits = {}
        self.lock = threading.Lock()

    @property
    def port(self):
        return self.server_address[1]

    def handle_error(self, request, client_address):
        pass  # junction closing a connection it gave up on (oversize, timeout) is expected here

    def count(self, path):
        with self.lock:
            return self.hits.get(path, 0)

    def total(self):
        with self.lock:
            return sum(self.hits.values())


class ImageHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, ctype, body, length=True, headers=()):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if length:
            self.wfile.write(body)
        else:
            for i in range(0, len(body), 16384):
                part = body[i:i + 16384]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")

    def do_GET(self):
        with self.server.lock:
            self.server.hits[self.path] = self.server.hits.get(self.path, 0) + 1
        p = self.path
        if p == "/boot.png":
            self.send(200, "image/png", PNG)
        elif p == "/big.png":
            self.send(200, "image/png", b"\x89PNG" + b"\0" * (3 * MAX_BYTES))
        elif p == "/big-chunked.png":
            self.send(200, "image/png", b"\x89PNG" + b"\0" * (3 * MAX_BYTES), length=False)
        elif p == "/slow.png":
            time.sleep(4)
            try:
                self.send(200, "image/png", PNG)
            except OSError:
                pass  # junction gave up and closed the connection
        elif p == "/page.html":
            self.send(200, "text/html; charset=utf-8", b"<html>not an image</html>")
        elif p == "/no-type":
            self.send(200, None, PNG)
        elif p == "/to-boot":
            self.send(302, "text/plain", b"moved", headers=[("Location", "/boot.png")])
        elif p == "/to-elsewhere":
            self.send(302, "text/plain", b"moved",
                      headers=[("Location", "http://127.0.0.2:%d/boot.png" % self.server.port)])
        elif p == "/to-ftp":
            self.send(302, "text/plain", b"moved", headers=[("Location", "ftp://127.0.0.1/boot.png")])
        else:
            self.send(404, "text/plain", b"no such image")


def post(srv, model, body):
    """(status, parsed JSON answer) of POST /v1/models/MODEL:predict."""
    req = urllib.request.Request("http://%s/v1/models/%s:predict" % (srv.http_address, model),
                                 data=json.dumps(body).encode(), headers={"Content-Type": "application/json"},
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def expect_refused(t, srv, url, status, *substrings, model="fashion-cnn"):
    code, answer = post(srv, model, {"image": url})
    msg = answer.get("error", "") if isinstance(answer, dict) else ""
    missing = [s for s in substrings if s not in msg]
    t.check(code == status and not missing, "%s refused with %d %r" % (url[:80], status, list(substrings)),
            "got %d %r" % (code, answer))
    return msg


def main(t):
    images = ImageServer()
    threading.Thread(target=images.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % images.port
    try:
        srv = t.start_server(["--http-port", "any", "--fetch-allow", "127.0.0.1:%d" % images.port,
                              "--fetch-max-bytes", str(MAX_BYTES), "--fetch-timeout-ms", "1500"])
        with t.case("a listed host is served: the classifier answers as for the bytes inline"):
            code, inline = post(srv, "fashion-cnn", {"image": base64.b64encode(PNG).decode()})
            t.eq(code, 200, "inline base64 answered")
            t.eq(inline.get("label"), "Ankle boot", "inline label")
            code, by_url = post(srv, "fashion-cnn", {"image": base + "/boot.png"})
            t.eq(code, 200, "by URL answered")
            t.eq(by_url, inline, "by URL: the same answer as inline")
            t.eq(images.count("/boot.png"), 1, "the image server got one request")
            code, redirected = post(srv, "fashion-cnn", {"image": base + "/to-boot"})
            t.eq((code, redirected), (200, inline), "a redirect on the listed host is followed")
            code, data = post(srv, "fashion-cnn", {"image": "data:image/png;base64," + base64.b64encode(PNG).decode()})
            t.eq((code, data), (200, inline), "a data: URI decodes to the same answer")
            code, batch = post(srv, "fashion-cnn", {"instances": [{"image": base + "/boot.png"},
                                                                  {"image": base64.b64encode(PNG).decode()}]})
            t.eq((code, batch), (200, {"predictions": [inline, inline]}), "instances mix URLs and base64")
            code, all_scores = post(srv, "demo-product", {"image": base + "/boot.png",
                                                          "title": "black leather ankle boots"})
            t.eq((code, all_scores.get("label")), (200, "Ankle boot"), "a pipeline's IMAGE input by URL")

        with t.case("refusals, with the reason"):
            before = images.total()
            expect_refused(t, srv, "http://127.0.0.2:%d/boot.png" % images.port, 403,
                           "input 'image'", "host '127.0.0.2' (port %d) is not in --fetch-allow" % images.port)
            expect_refused(t, srv, "http://127.0.0.1:%d/boot.png" % (images.port + 1 if images.port < 65535 else 1),
                           403, "is not in --fetch-allow")
            t.eq(images.total(), before, "unlisted hosts: no request reached the image server")
            expect_refused(t, srv, base + "/to-elsewhere", 403,
                           "redirected to 'http://127.0.0.2:%d/boot.png', whose host '127.0.0.2'" % images.port,
                           "is not in --fetch-allow")
            expect_refused(t, srv, base + "/to-ftp", 400, "scheme 'ftp' is not fetched")
            expect_refused(t, srv, base + "/big.png", 400, "is larger than %d bytes (--fetch-max-bytes)" % MAX_BYTES)
            expect_refused(t, srv, base + "/big-chunked.png", 400,
                           "is larger than %d bytes (--fetch-max-bytes)" % MAX_BYTES)
            start = time.monotonic()
            expect_refused(t, srv, base + "/slow.png", 504, "timed out after", "(--fetch-timeout-ms 1500)")
            t.check(time.monotonic() - start < 3.9, "the slow fetch was given up before the image came",
                    "%.1f s" % (time.monotonic() - start))
            expect_refused(t, srv, base + "/page.html", 400, "is 'text/html; charset=utf-8', expected image/...")
            expect_refused(t, srv, base + "/no-type", 400, "(no Content-Type)")
            expect_refused(t, srv, base + "/missing.png", 400, "answered HTTP 404")
            expect_refused(t, srv, "data:text/html;base64,PGh0bWw+", 400, "data: URI holds 'text/html'")
            msg = expect_refused(t, srv, "http://127.0.0.2:%d/boot.png?token=s3cret&x=1" % images.port, 403,
                                 "'http://127.0.0.2:%d/boot.png?...'" % images.port)
            t.check("s3cret" not in msg, "a URL's query is not echoed", msg)
            t.still_serving("refused fetches")

        with t.case("--fetch-allow '*': private, loopback and link-local addresses refused"):
            any_srv = t.start_server(["--http-port", "any", "--fetch-allow", "*", "--fetch-timeout-ms", "3000"],
                                     probe=False)
            before = images.total()
            expect_refused(t, any_srv, "http://10.1.2.3/x.png", 403, "resolves to 10.1.2.3, a private address",
                           "refused unless listed in --fetch-allow")
            expect_refused(t, any_srv, "http://169.254.169.254/latest/meta-data/", 403,
                           "169.254.169.254, a link-local address")
            expect_refused(t, any_srv, "http://localhost:%d/boot.png" % images.port, 403,
                           "host 'localhost' resolves to", "a loopback address")
            expect_refused(t, any_srv, "http://[::ffff:127.0.0.1]:%d/boot.png" % images.port, 403,
                           "a reserved or special-purpose address")
            t.eq(images.total(), before, "the image server saw none of them")
            t.stop_server(any_srv)

        with t.case("without --fetch-allow: refused naming the flag; data: URIs still decode"):
            off = t.start_server(["--http-port", "any"], probe=False)
            expect_refused(t, off, base + "/boot.png", 403,
                           "URL fetching is off: the server fetches only from hosts listed with --fetch-allow")
            code, data = post(off, "fashion-cnn", {"image": "data:image/png;base64," + base64.b64encode(PNG).decode()})
            t.eq((code, data.get("label")), (200, "Ankle boot"), "a data: URI without --fetch-allow")
            t.stop_server(off)

        with t.case("a bad --fetch-allow stops the start"):
            import subprocess
            r = subprocess.run([t.binary, "serve", "--grpc-port", "0", "--http-port", "0", "--fetch-allow",
                                "ok.host,bad host"], capture_output=True, timeout=60)
            t.check(r.returncode == 2 and b"--fetch-allow: entry 'bad host'" in r.stderr,
                    "exit status 2 naming the entry", "%d %r" % (r.returncode, r.stderr[-300:]))
        t.stop_server(srv)
    finally:
        images.shutdown()


if __name__ == "__main__":
    harness.run(main)
