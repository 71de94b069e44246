#!/usr/bin/python3
"""prompt-template in a pipeline (issue #18 item 4): fashion-cnn -> prompt-template, the classifier's answer
written into a prompt.

- junction.v1 Infer (gRPC) of the pipeline `describe` (loaded with --pipelines) with a Fashion-MNIST photo and a
  question: the text holds the label fashion-cnn gives for the same photo (called on its own) and its score, written
  in the shortest form that reads back as the same float32; the step's parameter `lang` and the call's parameter
  `tone` both reach the template;
- the same pipeline over simple JSON with the photo given by URL (a loopback image server, --fetch-allow);
- InferStream answers the same text;
- PUT /v1/pipelines with a template that reads an unbound CLASSIFICATION field, or that leaves a bound input unread,
  is refused with 400 naming the step; GET gives the step's parameters back;
- a name the template reads that nobody gives: INVALID_ARGUMENT naming it;
- prompt-template called on its own, every name a parameter.

usage: /usr/bin/python3 tests/e2e/test_prompt_template.py /path/to/junction
"""
import http.server
import json
import os
import re
import sys
import threading
import urllib.error
import urllib.request

import grpc
import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import pb  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PNG = open(os.path.join(HERE, "..", "data", "ankle-boot.png"), "rb").read()
TEMPLATE = ("Answer in {{lang}}, {{tone}}. The photo shows a {{category.label}} ({{category.score}}). {{question}}")
PIPELINE = {
    "name": "describe",
    "inputs": [{"name": "image", "kind": "IMAGE", "datatype": "BYTES", "shape": [-1]},
               {"name": "question", "kind": "TEXT", "datatype": "BYTES", "shape": [-1]}],
    "steps": [{"id": "cnn", "model": "fashion-cnn", "inputs": {"image": "image"}},
              {"id": "p", "model": "prompt-template", "parameters": {"template": TEMPLATE, "lang": "English"},
               "inputs": {"category": "cnn.scores", "question": "question"}}],
    "outputs": [{"name": "prompt", "from": "p.text"}],
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


def call_http(srv, method, path, body=None):
    req = urllib.request.Request("http://%s%s" % (srv.http_address, path), method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def request(question, tone=None):
    req = pb.broker.InferRequest(model="describe", inputs=[
        pb.contract.Value(name="image", image=pb.contract.Image(data=PNG)),
        pb.contract.Value(name="question", text=pb.contract.Text(text=question))])
    if tone is not None:
        req.parameters["tone"].string_value = tone
    return req


def main(t):
    pdir = os.path.join(t.workdir, "pipelines")
    os.makedirs(pdir)
    with open(os.path.join(pdir, "describe.json"), "w") as f:
        json.dump(PIPELINE, f)
    images = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Images)
    threading.Thread(target=images.serve_forever, daemon=True).start()
    try:
        srv = t.start_server(["--http-port", "any", "--pipelines", pdir,
                              "--fetch-allow", "127.0.0.1:%d" % images.server_address[1]])
        stub = srv.broker()
        with t.case("fashion-cnn -> prompt-template over gRPC"):
            cnn = t.call("fashion-cnn alone", stub.Infer, pb.broker.InferRequest(model="fashion-cnn", inputs=[
                pb.contract.Value(name="image", image=pb.contract.Image(data=PNG))]))
            c = cnn.outputs[0].classification
            label, score = c.labels[0], c.scores[0]
            t.eq(label, "Ankle boot", "fashion-cnn's label")
            r = t.call("describe", stub.Infer, request("Is it waterproof?", tone="briefly"))
            text = r.outputs[0].text.text if r else ""
            t.eq(r.outputs[0].name if r else None, "prompt", "the output is the pipeline's 'prompt'")
            m = re.fullmatch(r"Answer in English, briefly\. The photo shows a (.+) \(([^)]+)\)\. Is it waterproof\?",
                             text)
            t.check(m is not None, "the text follows the template", repr(text))
            if m:
                t.eq(m.group(1), label, "the text holds the classifier's label")
                t.eq(np.float32(float(m.group(2))), np.float32(score), "the text holds its score (float32 round trip)")
                t.check(len(m.group(2)) <= 10, "the score in its shortest form", m.group(2))
            t.expect_error("a name the template reads that nobody gives", stub.Infer,
                           grpc.StatusCode.INVALID_ARGUMENT, "pipeline 'describe': step 'p'", "'{{tone}}'",
                           "names neither an input nor a parameter", args=(request("Is it waterproof?"),))

        with t.case("InferStream answers the same text"):
            r1 = t.call("unary", stub.Infer, request("Which size?", tone="politely"))
            answers = list(stub.InferStream(iter([request("Which size?", tone="politely")]), timeout=60))
            t.eq(len(answers), 1, "one answer on the stream")
            t.eq(answers[0].outputs[0].text.text if answers else None, r1.outputs[0].text.text if r1 else "",
                 "the stream's text is the unary one")

        with t.case("simple JSON with the photo by URL"):
            code, answer = call_http(srv, "POST", "/v1/models/describe:predict", {
                "image": "http://127.0.0.1:%d/boot.png" % images.server_address[1], "question": "Any other colours?",
                "parameters": {"tone": "in one line"}})
            t.eq(code, 200, "answered")
            t.check(answer.get("prompt", "").startswith("Answer in English, in one line. The photo shows a Ankle boot ("),
                    "the prompt", repr(answer))

        with t.case("step parameters through the admin API"):
            code, got = call_http(srv, "GET", "/v1/pipelines/describe")
            t.eq((code, got.get("steps", [{}, {}])[1].get("parameters")), (200, PIPELINE["steps"][1]["parameters"]),
                 "GET gives the step's parameters back")
            bad = json.loads(json.dumps(PIPELINE))
            bad["name"] = "bad"
            bad["steps"][1]["parameters"]["template"] = "{{question.label}} {{category}}"
            code, answer = call_http(srv, "PUT", "/v1/pipelines/bad", bad)
            t.check(code == 400 and "pipeline 'bad': step 'p': template: input 'question' is TEXT; .label and .score "
                    "read a CLASSIFICATION" in answer.get("error", ""), "a field on a TEXT input is refused",
                    "%d %r" % (code, answer))
            bad["steps"][1]["parameters"]["template"] = "{{question}}"
            code, answer = call_http(srv, "PUT", "/v1/pipelines/bad", bad)
            t.check(code == 400 and "input 'category' is bound, but the template never reads it" in
                    answer.get("error", ""), "a bound input the template never reads is refused",
                    "%d %r" % (code, answer))

        with t.case("step parameters through Admin (the PipelineSpec message)"):
            admin = srv.admin()
            listed = t.call("ListPipelines", admin.ListPipelines, pb.admin.ListPipelinesRequest())
            step = next((s for p in listed.pipelines if p.name == "describe" for s in p.steps if s.id == "p"), None) \
                if listed else None
            t.eq(json.loads(step.parameters_json) if step else None, PIPELINE["steps"][1]["parameters"],
                 "ListPipelines gives the step's parameters_json")
            spec = pb.pipeline.PipelineSpec(name="described", inputs=[
                pb.contract.Port(name="question", kind=pb.contract.TEXT, datatype=pb.tensor.BYTES, shape=[-1])])
            st = spec.steps.add(id="p", model="prompt-template",
                                parameters_json=json.dumps({"template": "Q: {{question}} ({{lang}})", "lang": "fr"}))
            st.inputs["question"].CopyFrom(pb.pipeline.Binding(**{"from": "question"}))
            spec.outputs.add(name="prompt", **{"from": "p.text"})
            r = t.call("PutPipeline with parameters_json", admin.PutPipeline, pb.admin.PutPipelineRequest(spec=spec))
            t.check(r is not None, "registered")
            a = t.call("call it", stub.Infer, pb.broker.InferRequest(model="described", inputs=[
                pb.contract.Value(name="question", text=pb.contract.Text(text="Combien ?"))]))
            t.eq(a.outputs[0].text.text if a else None, "Q: Combien ? (fr)", "its text")

        with t.case("prompt-template on its own"):
            code, answer = call_http(srv, "POST", "/v1/models/prompt-template:predict", {"parameters": {
                "template": "{{a}} + {{b}} = {{c}} \\{{not a placeholder}}", "a": 0.1, "b": 2, "c": True}})
            t.eq((code, answer), (200, {"text": "0.1 + 2 = true {{not a placeholder}}",
                                        "messages": json.dumps([{"role": "user", "content": "0.1 + 2 = true "
                                                                 "{{not a placeholder}}"}], separators=(",", ":"))}),
                 "every name a parameter; the same text as a chat message list")
        t.stop_server(srv)
    finally:
        images.shutdown()


if __name__ == "__main__":
    harness.run(main)
