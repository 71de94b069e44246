#!/usr/bin/python3
"""fashion-cnn -> prompt-template -> chat, streaming (issue #18: "A pipeline fashion-cnn -> prompt-template -> chat
streaming through InferStream and through /openai/v1").

`chat` is an openai remote against tests/e2e/openai_upstream.py, which answers the last message's words one token at
a time (with a delay between tokens), so the streamed answer is the prompt the template wrote. The pipeline `look`:
  inputs  prompt TEXT, image IMAGE
  cnn     fashion-cnn (image)                      -> scores CLASSIFICATION
  p       prompt-template (category <- cnn.scores, prompt <- prompt;
          "The photo shows a {{category.label}} ({{category.score}}). {{prompt}}", system "be brief")
                                                   -> messages (a chat message list)
  llm     chat (messages <- p.messages)            -> text, streamed
It has the generate signature with an IMAGE input, so:
- Broker.InferStream: several partials, in order, whose text joins into the prompt holding fashion-cnn's own label
  and score for the photo;
- POST /openai/v1/chat/completions with `stream: true` and the photo as an `image_url` part (an http URL served by a
  loopback image server under --fetch-allow, and a data: URI): SSE chunks whose content joins into the same text,
  ending with data: [DONE]; unary as well;
- an image_url on a host not in --fetch-allow: 403 in OpenAI's error shape, naming the flag; a chat with no image
  for the pipeline's IMAGE input: 400.

usage: /usr/bin/python3 tests/e2e/test_llm_pipeline.py /path/to/junction
"""
import base64
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import remote_util as ru  # noqa: E402
from harness import pb  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
UPSTREAM = os.path.join(HERE, "openai_upstream.py")
PNG = open(os.path.join(HERE, "..", "data", "ankle-boot.png"), "rb").read()
TEMPLATE = "The photo shows a {{category.label}} ({{category.score}}). {{prompt}}"
PIPELINE = {
    "name": "look",
    "inputs": [{"name": "prompt", "kind": "TEXT", "datatype": "BYTES", "shape": [-1]},
               {"name": "image", "kind": "IMAGE", "datatype": "BYTES", "shape": [-1]}],
    "steps": [{"id": "cnn", "model": "fashion-cnn", "inputs": {"image": "image"}},
              {"id": "p", "model": "prompt-template", "parameters": {"template": TEMPLATE, "system": "be brief"},
               "inputs": {"category": "cnn.scores", "prompt": "prompt"}},
              {"id": "llm", "model": "chat", "inputs": {"messages": "p.messages"}}],
    "outputs": [{"name": "text", "from": "llm.text"}],
}


class Images(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PNG)))
        self.end_headers()
        self.wfile.write(PNG)


def curl(args, timeout=60):
    r = subprocess.run(["curl", "-sS", "-N", "-D", "-"] + args, capture_output=True, timeout=timeout)
    head, _, body = r.stdout.decode("utf-8", "replace").partition("\r\n\r\n")
    return head, body


def chat_body(content, stream):
    return {"model": "look", "stream": stream, "messages": [{"role": "user", "content": content}]}


def sse_docs(body):
    """(JSON documents, ended with [DONE]) of a raw SSE body."""
    docs, done = [], False
    for line in body.split("\n"):
        if line.startswith("data: "):
            if line[6:] == "[DONE]":
                done = True
            else:
                docs.append(json.loads(line[6:]))
    return docs, done


def main(t):
    try:
        run(t)
    finally:
        ru.kill_helpers(t)


def run(t):
    up = ru.Process([harness.PYTHON, UPSTREAM, "--port", "0", "--token-delay-ms", "20"], t.workdir).start()
    t.helpers = getattr(t, "helpers", []) + [up]
    images = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Images)
    threading.Thread(target=images.serve_forever, daemon=True).start()
    img_url = "http://127.0.0.1:%d/boot.png" % images.server_address[1]
    remotes = os.path.join(t.workdir, "remotes.json")
    with open(remotes, "w") as f:
        json.dump([{"name": "chat", "endpoint": "http://%s/v1" % up.address, "protocol": "openai",
                    "model": "test-chat"}], f)
    pdir = os.path.join(t.workdir, "pipelines")
    os.makedirs(pdir)
    with open(os.path.join(pdir, "look.json"), "w") as f:
        json.dump(PIPELINE, f)
    try:
        srv = t.start_server(["--http-port", "any", "--remotes", remotes, "--pipelines", pdir,
                              "--fetch-allow", "127.0.0.1:%d" % images.server_address[1]])
        stub = srv.broker()
        cnn = t.call("fashion-cnn alone", stub.Infer, pb.broker.InferRequest(model="fashion-cnn", inputs=[
            pb.contract.Value(name="image", image=pb.contract.Image(data=PNG))]))
        label = cnn.outputs[0].classification.labels[0] if cnn else "?"
        score = cnn.outputs[0].classification.scores[0] if cnn else 0.0
        shows = re.compile(r"The photo shows a (.+) \(([0-9.e-]+)\)\. ")

        def check_text(text, what, question):
            m = shows.match(text)
            t.check(m is not None and m.group(1) == label and abs(float(m.group(2)) - score) < 1e-6
                    and text.endswith(question), "%s: the prompt with fashion-cnn's %s (%s)" % (what, label, score),
                    repr(text))

        with t.case("Broker.InferStream: the tokens stream through the pipeline"):
            req = pb.broker.InferRequest(model="look", inputs=[
                pb.contract.Value(name="prompt", text=pb.contract.Text(text="Is it waterproof?")),
                pb.contract.Value(name="image", image=pb.contract.Image(data=PNG))])
            answers = list(stub.InferStream(iter([req]), timeout=60))
            deltas = [v.text.text for a in answers if a.partial for v in a.outputs if v.name == "text"]
            t.check(len([d for d in deltas if d]) >= 8, "one partial per token", len(deltas))
            check_text("".join(deltas), "InferStream", "Is it waterproof?")
            t.check(answers and not answers[-1].partial, "the stream ends with its final message")

        with t.case("/openai/v1/chat/completions, stream: true, the photo by URL"):
            url = "http://%s/openai/v1/chat/completions" % srv.http_address
            content = [{"type": "text", "text": "Is it waterproof?"},
                       {"type": "image_url", "image_url": {"url": img_url}}]
            head, raw = curl(["-H", "Content-Type: application/json", "-d", json.dumps(chat_body(content, True)), url])
            t.check(head.startswith("HTTP/1.1 200") and "text/event-stream" in head, "200, text/event-stream",
                    head[:200] + raw[:300])
            docs, done = sse_docs(raw)
            pieces = [c.get("delta", {}).get("content") or "" for d in docs for c in d.get("choices", [])]
            t.check(done and len([p for p in pieces if p]) >= 8, "chunks, then data: [DONE]", raw[-200:])
            check_text("".join(pieces), "/openai/v1 stream", "assistant:")
            t.check("Is it waterproof?" in "".join(pieces), "the question reached the template", "".join(pieces))

        with t.case("/openai/v1/chat/completions unary, the photo as a data: URI"):
            content = [{"type": "image_url", "image_url": {"url": "data:image/png;base64," +
                                                           base64.b64encode(PNG).decode()}},
                       {"type": "text", "text": "Which size?"}]
            head, raw = curl(["-H", "Content-Type: application/json", "-d", json.dumps(chat_body(content, False)), url])
            doc = json.loads(raw or "{}")
            text = (doc.get("choices") or [{}])[0].get("message", {}).get("content", "")
            check_text(text, "unary", "assistant:")

        with t.case("refusals in OpenAI's shape"):
            content = [{"type": "text", "text": "Is it?"},
                       {"type": "image_url", "image_url": {"url": "http://127.0.0.2:%d/boot.png"
                                                           % images.server_address[1]}}]
            head, raw = curl(["-H", "Content-Type: application/json", "-d", json.dumps(chat_body(content, True)), url])
            err = json.loads(raw or "{}").get("error", {})
            t.check(head.startswith("HTTP/1.1 403") and "is not in --fetch-allow" in err.get("message", ""),
                    "an unlisted image host: 403 naming --fetch-allow", head[:60] + raw[:300])
            head, raw = curl(["-H", "Content-Type: application/json", "-d",
                              json.dumps(chat_body("no photo here", False)), url])
            err = json.loads(raw or "{}").get("error", {})
            t.check(head.startswith("HTTP/1.1 400") and "image" in err.get("message", ""),
                    "no image for the IMAGE input: 400", head[:60] + raw[:300])
        t.stop_server(srv)
    finally:
        images.shutdown()


if __name__ == "__main__":
    harness.run(main)
