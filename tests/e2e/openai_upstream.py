#!/usr/bin/python3
"""An OpenAI-compatible server for the tests (issue #18), written from OpenAI's API reference: the routes and body
shapes vLLM, llama.cpp's server and Ollama serve, with deterministic answers and injectable faults.

Routes (under /v1):
  GET  /v1/models                the --models ids
  POST /v1/chat/completions      messages -> an assistant message; "stream": true answers Server-Sent Events
                                 (chat.completion.chunk objects, chunked transfer encoding, `data: [DONE]`), with a
                                 usage chunk when stream_options.include_usage is true
  POST /v1/completions           prompt -> text (same tokens, same streaming)
  POST /v1/embeddings            input (a string or a list) -> deterministic vectors of --dim numbers
The tokens: the last message's content (the prompt for completions) split on spaces, each word a token ("word "
with its trailing space, the last one bare); "count N" instead gives N tokens "w0 ", "w1 ", ... max_tokens cuts the
list (finish_reason "length", else "stop"); n > 1 repeats the answer per choice. usage counts words: prompt_tokens
those of every message, completion_tokens the tokens sent. The embedding of a string s is embedding_of(s) below.

Controls (POST /_control with a JSON object; its fields change the next requests):
  token_delay_ms, first_token_delay_ms   sleep between stream chunks / before the first one (also --flags)
  fail_429: N, retry_after: S            the next N requests answer 429 (with Retry-After: S when given)
  fail_500: N                            the next N requests answer 500 (Retry-After likewise)
  drop_after: K                          the next stream closes its connection after K tokens (no [DONE])
  ignore_stream: true                    answer "stream": true requests with one JSON answer (a server that
                                         does not stream)
GET /_control answers what was seen: {"authorization": [every Authorization header], "disconnects": streams whose
client went away mid-stream, "completed": streams sent to the end, "requests": ["METHOD /path", ...],
"trace": [[traceparent, tracestate] of every POST that had a traceparent header (issue #22)]}.
POST /_control/reset forgets it all. With --api-key KEY every /v1 request needs "Authorization: Bearer KEY" (401
otherwise). With --tls-cert/--tls-key it serves HTTPS (HTTP/1.1).

Prints "serving on 127.0.0.1:PORT" once ready.
"""
import argparse
import hashlib
import json
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def embedding_of(text, dim):
    """A deterministic vector for a string: sha256 of (index, text) bytes as numbers in [-1, 1)."""
    out = []
    i = 0
    while len(out) < dim:
        digest = hashlib.sha256(("%d:" % i).encode() + text.encode("utf-8")).digest()
        for k in range(0, 32, 4):
            if len(out) < dim:
                (v,) = struct.unpack(">I", digest[k:k + 4])
                out.append(round(v / 2147483648.0 - 1.0, 6))
        i += 1
    return out


def tokens_for(text):
    words = text.split()
    if len(words) == 2 and words[0] == "count" and words[1].isdigit():
        return ["w%d " % i for i in range(int(words[1]))]
    return [w + " " for w in words[:-1]] + words[-1:]


def message_text(content):
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: the text ones
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.reset()

    def reset(self):
        with self.lock:
            self.token_delay_ms = self.args.token_delay_ms
            self.first_token_delay_ms = self.args.first_token_delay_ms
            self.fail_429 = 0
            self.fail_500 = 0
            self.retry_after = None
            self.drop_after = None
            self.ignore_stream = False
            self.authorization = []
            self.disconnects = 0
            self.completed = 0
            self.requests = []
            self.trace = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "openai-upstream-test/1"

    def log_message(self, fmt, *args):  # quiet: the tests read /_control instead
        pass

    def setup(self):
        super().setup()
        # As real servers do (uvicorn, llama.cpp): without it, a chunk written while the previous one is unacknowledged
        # waits for the client's delayed ACK (40 ms) on a reused connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # ---- plumbing ----

    def send_json(self, status, obj, headers=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, message, etype="invalid_request_error", code=None, param=None, headers=None):
        self.send_json(status, {"error": {"message": message, "type": etype, "param": param, "code": code}},
                       headers)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None

    @property
    def state(self):
        return self.server.state

    # ---- routes ----

    def do_GET(self):
        if self.path == "/_control":
            st = self.state
            with st.lock:
                self.send_json(200, {"authorization": list(st.authorization), "disconnects": st.disconnects,
                                     "completed": st.completed, "requests": list(st.requests),
                                     "trace": list(st.trace)})
            return
        if not self.admit():
            return
        if self.path.rstrip("/") == "/v1/models":
            self.send_json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 1700000000, "owned_by": "test"}
                for m in self.server.models]})
            return
        self.error(404, "no route GET %s" % self.path, code="not_found")

    def do_POST(self):
        if self.path == "/_control/reset":
            self.read_body()
            self.state.reset()
            self.send_json(200, {})
            return
        if self.path == "/_control":
            body = self.read_body() or {}
            st = self.state
            with st.lock:
                for key in ("token_delay_ms", "first_token_delay_ms", "fail_429", "fail_500", "retry_after",
                            "drop_after", "ignore_stream"):
                    if key in body:
                        setattr(st, key, body[key])
            self.send_json(200, {})
            return
        body = self.read_body()
        if not self.admit():
            return
        routes = {"/v1/chat/completions": self.chat, "/v1/completions": self.completions,
                  "/v1/embeddings": self.embeddings}
        route = routes.get(self.path)
        if not route:
            self.error(404, "no route POST %s" % self.path, code="not_found")
            return
        if not isinstance(body, dict):
            self.error(400, "the body is not a JSON object")
            return
        model = body.get("model")
        if model not in self.server.models:
            self.error(404, "The model `%s` does not exist" % model, code="model_not_found")
            return
        route(body)

    def admit(self):
        """Records the request; answers the injected faults (POSTs only: health checks read GET /v1/models) and a
        missing key. True when it may go on."""
        st = self.state
        auth = self.headers.get("Authorization")
        with st.lock:
            st.requests.append("%s %s" % (self.command, self.path))
            if auth is not None:
                st.authorization.append(auth)
            if self.command == "POST" and self.headers.get("traceparent") is not None:
                st.trace.append([self.headers.get("traceparent"), self.headers.get("tracestate")])
            fault = None
            if self.command != "POST":
                pass
            elif st.fail_429 > 0:
                st.fail_429 -= 1
                fault = 429
            elif st.fail_500 > 0:
                st.fail_500 -= 1
                fault = 500
            retry_after = st.retry_after
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        if fault == 429:
            self.error(429, "Rate limit reached for requests", etype="requests", code="rate_limit_exceeded",
                       headers=headers)
            return False
        if fault == 500:
            self.error(500, "The server had an error while processing your request", etype="server_error",
                       headers=headers)
            return False
        key = self.server.api_key
        if key is not None and auth != "Bearer " + key:
            given = (auth or "")[len("Bearer "):]  # quoted back whole, the worst a server may do
            self.error(401, "Incorrect API key provided: %s" % given, code="invalid_api_key")
            return False
        return True

    # ---- generation ----

    def generate(self, body, chat):
        if chat:
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                self.error(400, "'messages' must be a non-empty list", param="messages")
                return
            text = message_text(messages[-1].get("content"))
            prompt_tokens = sum(len(message_text(m.get("content")).split()) for m in messages)
        else:
            prompt = body.get("prompt")
            if not isinstance(prompt, str):
                self.error(400, "'prompt' must be a string", param="prompt")
                return
            text = prompt
            prompt_tokens = len(prompt.split())
        toks = tokens_for(text)
        finish = "stop"
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, int) and max_tokens < len(toks):
            toks = toks[:max_tokens]
            finish = "length"
        n = body.get("n", 1)
        if not isinstance(n, int) or n < 1 or n > 16:
            self.error(400, "'n' must be an integer in [1, 16]", param="n")
            return
        ident = "cmpl-%d" % int(time.time() * 1000)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(toks),
                 "total_tokens": prompt_tokens + len(toks)}
        with self.state.lock:
            ignore_stream = self.state.ignore_stream
        if not body.get("stream") or ignore_stream:
            with self.state.lock:
                wait = (self.state.first_token_delay_ms + self.state.token_delay_ms * max(0, len(toks) - 1)) / 1000.0
            if wait:
                time.sleep(wait)
            out = "".join(toks)
            if chat:
                choices = [{"index": i, "message": {"role": "assistant", "content": out}, "finish_reason": finish,
                            "logprobs": None} for i in range(n)]
                obj = "chat.completion"
            else:
                choices = [{"index": i, "text": out, "finish_reason": finish, "logprobs": None} for i in range(n)]
                obj = "text_completion"
            self.send_json(200, {"id": ident, "object": obj, "created": int(time.time()), "model": body["model"],
                                 "choices": choices, "usage": usage})
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self.stream(ident, body["model"], chat, toks, n, finish, usage if include_usage else None)

    def stream(self, ident, model, chat, toks, n, finish, usage):
        st = self.state
        with st.lock:
            delay = st.token_delay_ms / 1000.0
            first_delay = st.first_token_delay_ms / 1000.0
            drop_after = st.drop_after
            st.drop_after = None
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        obj = "chat.completion.chunk" if chat else "text_completion"

        def chunk(choices, extra=None):
            c = {"id": ident, "object": obj, "created": int(time.time()), "model": model, "choices": choices}
            if extra:
                c.update(extra)
            return "data: %s\n\n" % json.dumps(c)

        def piece(i, delta, reason=None):
            if chat:
                return {"index": i, "delta": delta, "finish_reason": reason, "logprobs": None}
            return {"index": i, "text": delta.get("content", ""), "finish_reason": reason, "logprobs": None}

        def send(text):
            data = text.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        try:
            if chat:
                send(chunk([piece(i, {"role": "assistant", "content": ""}) for i in range(n)]))
            if first_delay:
                time.sleep(first_delay)
            for k, tok in enumerate(toks):
                if drop_after is not None and k >= drop_after:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if k and delay:
                    time.sleep(delay)
                send(chunk([piece(i, {"content": tok}) for i in range(n)]))
            if drop_after is not None and drop_after >= len(toks):
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            send(chunk([piece(i, {}, finish) for i in range(n)]))
            if usage is not None:
                send(chunk([], {"usage": usage}))
            send("data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            with st.lock:
                st.disconnects += 1
            self.close_connection = True
            return
        with st.lock:
            st.completed += 1

    def chat(self, body):
        self.generate(body, True)

    def completions(self, body):
        self.generate(body, False)

    def embeddings(self, body):
        inp = body.get("input")
        if isinstance(inp, str):
            inp = [inp]
        if not isinstance(inp, list) or not inp or not all(isinstance(s, str) for s in inp):
            self.error(400, "'input' must be a string or a list of strings", param="input")
            return
        data = [{"object": "embedding", "index": i, "embedding": embedding_of(s, self.server.dim)}
                for i, s in enumerate(inp)]
        words = sum(len(s.split()) for s in inp)
        self.send_json(200, {"object": "list", "data": data, "model": body["model"],
                             "usage": {"prompt_tokens": words, "total_tokens": words}})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the listen backlog (socketserver's 5 resets connections when many arrive at once)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):  # a client gone is no error here
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--models", default="test-chat,test-embed", help="comma-separated model ids")
    ap.add_argument("--api-key", default=None)
    ap.add_argument("--dim", type=int, default=8, help="embedding dimension")
    ap.add_argument("--token-delay-ms", type=float, default=0)
    ap.add_argument("--first-token-delay-ms", type=float, default=0)
    ap.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (and --tls-key)")
    ap.add_argument("--tls-key")
    args = ap.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.models = [m for m in args.models.split(",") if m]
    server.api_key = args.api_key
    server.dim = args.dim
    server.state = State(args)
    print("serving on 127.0.0.1:%d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
