#!/usr/bin/python3
"""`junction model inspect [--json] FILE.onnx` and `junction model operators [--readme]` from the command line, on
models built here with python3-onnx's helper:

- a model that loads (dynamic batch, an unused ai.onnx.ml import): exit 0, the signature with -1 for the symbolic
  dim, both opset imports, the operator histogram (Relu counted twice), "result: loads";
- a model with two unsupported nodes (a made-up default-domain operator and a node of domain com.example), each
  followed by a supported node: exit 1, both refused nodes named with their reasons, the nodes downstream listed as
  unchecked, the histogram naming the com.example domain;
- --json of both, parsed and checked field by field (and the same facts as the text); a name that is not UTF-8
  comes out with '?' for each invalid byte, the JSON still valid;
- a model whose opset is newer than the adapter follows: exit 1, a refusal of the whole model (nulls in JSON);
- a truncated file, an empty file, a missing file: exit 2 and a message naming the file; usage errors: exit 2;
- `model operators` lists what the loader accepts: every listed operator of the default domain is not refused as
  "operator not supported" (checked on a one-node model per operator), and `--readme` has the marker lines;
- `junction help` lists the model command.

usage: /usr/bin/python3 tests/e2e/test_model_cli.py /path/to/junction
"""
import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402

CLI_TIMEOUT = 60.0


def run_cli(t, args):
    """(status, stdout, stderr); a command still running after CLI_TIMEOUT is killed and reported."""
    try:
        p = subprocess.run([t.binary] + args, stdin=subprocess.DEVNULL, capture_output=True, timeout=CLI_TIMEOUT)
    except subprocess.TimeoutExpired:
        t.fail("junction %s terminates" % " ".join(args), "still running after %.0f s (killed)" % CLI_TIMEOUT)
        return None, "", ""
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def save(t, name, model):
    path = os.path.join(t.workdir, name)
    onnx.save(model, path)
    return path


def good_model():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    w = numpy_helper.from_array(np.full((4, 3, 3, 3), 0.1, np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu1"),
             helper.make_node("Relu", ["r"], ["r2"], name="relu2"),
             helper.make_node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["y"], name="flat")]
    g = helper.make_graph(nodes, "good", [x], [y], [w])
    return helper.make_model(g, producer_name="model-cli-test", producer_version="1",
                             opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])


def bad_model():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="first"),
             helper.make_node("FrobnicateTheWidgets", ["a"], ["b"], name="frob"),
             helper.make_node("Relu", ["b"], ["c"], name="after_frob"),
             helper.make_node("Gadget", ["c"], ["d"], name="gadget", domain="com.example"),
             helper.make_node("Sigmoid", ["d"], ["y"], name="after_gadget")]
    g = helper.make_graph(nodes, "bad", [x], [y])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])


def one_node_model(op):
    """A one-node model for `op` that is structurally plausible; used only to see the operator is not refused as
    unknown (other refusals, arity or dtypes, may happen: only 'operator not supported' is asserted absent)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    g = helper.make_graph([helper.make_node(op, ["x"], ["y"], name="the_node")], "one", [x], [y])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])


def main(t):
    good = save(t, "good.onnx", good_model())
    bad = save(t, "bad.onnx", bad_model())

    with t.case("inspect: a model that loads"):
        rc, out, err = run_cli(t, ["model", "inspect", good])
        t.eq(rc, 0, "exit status 0 for a model that loads")
        t.check("  input  x: TENSOR FP32 [-1, 3, 8, 8]" in out, "input x: FP32 [-1, 3, 8, 8]", out)
        t.check("  output y: TENSOR FP32 [-1, 4]" in out, "output y: FP32 [-1, 4]", out)
        t.check("opsets: ai.onnx 17, ai.onnx.ml 3" in out, "both opset imports", out)
        hist = {}
        for line in out.splitlines():
            parts = line.split()
            if line.startswith("  ") and len(parts) == 2 and parts[1].isdigit():
                hist[parts[0]] = int(parts[1])
        t.eq(hist, {"Conv": 1, "Relu": 2, "GlobalAveragePool": 1, "Flatten": 1}, "operator histogram")
        t.check("operators (5 nodes)" in out, "node count 5", out)
        t.check("producer: model-cli-test 1" in out, "producer", out)
        t.check("result: loads" in out and "refused" not in out, "says it loads, nothing refused", out)
        t.eq(err, "", "nothing on stderr")

    with t.case("inspect: two unsupported nodes"):
        rc, out, err = run_cli(t, ["model", "inspect", bad])
        t.eq(rc, 1, "exit status 1 when something is refused")
        t.check("refused (2):" in out, "two refusals", out)
        t.check("  FrobnicateTheWidgets (node 'frob'): operator not supported" in out,
                "the made-up operator is named with its node and reason", out)
        t.check("  com.example Gadget (node 'gadget'): domain 'com.example' is not supported" in out,
                "the com.example node is named with its domain, node and reason", out)
        t.check("Relu (node 'after_frob'): not checked further: input 'b' comes from a refused node" in out,
                "the node after the first refusal is listed as unchecked", out)
        t.check("Sigmoid (node 'after_gadget')" in out, "the node after the second refusal is listed", out)
        t.check("com.example Gadget" in out.split("refused (2)")[0], "the histogram names the com.example domain",
                out)
        t.check("result: refused (2 refused, 2 unchecked)" in out, "result line", out)

    with t.case("inspect --json"):
        rc, out, err = run_cli(t, ["model", "inspect", "--json", good])
        t.eq(rc, 0, "--json: exit status 0 for the good model")
        try:
            j = json.loads(out)
        except ValueError as e:
            t.fail("--json prints one JSON object", "%s: %r" % (e, out[:300]))
            j = None
        if j is not None:
            t.eq(j["loads"], True, "loads true")
            t.eq(j["file"], good, "file")
            t.eq(j["ir_version"], good_model().ir_version, "ir_version")
            t.eq(j["inputs"], [{"name": "x", "kind": "TENSOR", "dtype": "FP32", "shape": [-1, 3, 8, 8]}], "inputs")
            t.eq(j["outputs"], [{"name": "y", "kind": "TENSOR", "dtype": "FP32", "shape": [-1, 4]}], "outputs")
            t.eq(j["opsets"], [{"domain": "", "version": 17}, {"domain": "ai.onnx.ml", "version": 3}], "opsets")
            t.eq(j["nodes"], 5, "nodes")
            t.eq(j["operators"], [{"domain": "", "op_type": "Conv", "count": 1},
                                  {"domain": "", "op_type": "Relu", "count": 2},
                                  {"domain": "", "op_type": "GlobalAveragePool", "count": 1},
                                  {"domain": "", "op_type": "Flatten", "count": 1}], "operators in first-seen order")
            t.eq((j["refused"], j["unchecked"]), ([], []), "nothing refused or unchecked")
        rc, out, err = run_cli(t, ["model", "inspect", bad, "--json"])
        t.eq(rc, 1, "--json: exit status 1 for the refused model (option after the file too)")
        j = json.loads(out) if out.strip().startswith("{") else None
        t.check(j is not None, "--json of the refused model parses", out[:300])
        if j is not None:
            t.eq(j["loads"], False, "loads false")
            t.eq([(r["op_type"], r["domain"], r["node"]) for r in j["refused"]],
                 [("FrobnicateTheWidgets", "", "frob"), ("Gadget", "com.example", "gadget")],
                 "both refused nodes, in graph order, with their domains")
            t.eq(j["refused"][0]["reason"], "operator not supported", "reason of the made-up operator")
            t.check("domain 'com.example' is not supported" in j["refused"][1]["reason"], "reason of the domain",
                    j["refused"][1]["reason"])
            t.eq([r["node"] for r in j["unchecked"]], ["after_frob", "after_gadget"], "unchecked nodes")
            t.eq(j["inputs"], [{"name": "x", "kind": "TENSOR", "dtype": "FP32", "shape": [-1, 3]}],
                 "declared inputs of the refused model")
            t.eq({(o["domain"], o["op_type"]): o["count"] for o in j["operators"]},
                 {("", "Relu"): 2, ("", "FrobnicateTheWidgets"): 1, ("com.example", "Gadget"): 1, ("", "Sigmoid"): 1},
                 "histogram with domains")

    with t.case("inspect --json: names that are not UTF-8"):
        raw = one_node_model("Nope").SerializeToString().replace(b"Nope", b"N\xffpe")
        path = os.path.join(t.workdir, "not_utf8.onnx")
        with open(path, "wb") as f:
            f.write(raw)
        rc, out, err = run_cli(t, ["model", "inspect", "--json", path])
        j = json.loads(out) if out.strip().startswith("{") else {}
        t.check(rc == 1 and [r["op_type"] for r in j.get("refused", [])] == ["N?pe"],
                "an operator name with an invalid byte is reported with '?' in valid JSON", "%r %r" % (rc, out[:300]))

    with t.case("inspect: a refusal of the whole model"):
        m = good_model()
        m.opset_import[0].version = 99
        newer = save(t, "newer.onnx", m)
        rc, out, err = run_cli(t, ["model", "inspect", newer])
        t.eq(rc, 1, "opset 99: exit status 1")
        t.check("model: opset 99 is newer than" in out, "the model-level reason", out)
        rc, out, err = run_cli(t, ["model", "inspect", "--json", newer])
        j = json.loads(out) if out.strip().startswith("{") else {}
        r = j.get("refused", [{}])[0]
        t.check(r.get("op_type") is None and r.get("node") is None and "opset 99" in r.get("reason", ""),
                "--json: op_type and node null, the reason given", out[:400])

    with t.case("inspect: unreadable and unparsable files"):
        data = open(good, "rb").read()
        trunc = os.path.join(t.workdir, "truncated.onnx")
        with open(trunc, "wb") as f:
            f.write(data[:len(data) // 2])
        rc, out, err = run_cli(t, ["model", "inspect", trunc])
        t.eq(rc, 2, "truncated file: exit status 2")
        t.check(trunc in err and "not an ONNX model" in err, "the message names the file", err)
        t.eq(out, "", "nothing on stdout for a truncated file")
        empty = os.path.join(t.workdir, "empty.onnx")
        open(empty, "wb").close()
        rc, out, err = run_cli(t, ["model", "inspect", empty])
        t.check(rc == 2 and empty in err and "no graph" in err, "empty file: exit 2 naming it", "%r %r" % (rc, err))
        missing = os.path.join(t.workdir, "missing.onnx")
        rc, out, err = run_cli(t, ["model", "inspect", "--json", missing])
        t.check(rc == 2 and missing in err and "cannot open" in err, "missing file: exit 2 naming it",
                "%r %r" % (rc, err))
        for args, what in ((["model"], "no sub-command"), (["model", "inspect"], "no file"),
                           (["model", "inspect", "--frob", good], "unknown option"),
                           (["model", "inspect", good, bad], "two files"), (["model", "nope"], "unknown sub-command"),
                           (["model", "operators", "--nope"], "operators: unknown argument")):
            rc, out, err = run_cli(t, args)
            t.check(rc == 2 and "usage: junction model inspect" in err, "usage error (%s): exit 2, usage" % what,
                    "%r %r" % (rc, err[:200]))

    with t.case("model operators"):
        rc, out, err = run_cli(t, ["model", "operators"])
        t.eq(rc, 0, "operators: exit status 0")
        ops = [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("ai.onnx ")]
        t.check(len(ops) > 50 and ops == sorted(ops) and len(set(ops)) == len(ops),
                "the default domain's operators, sorted, each once", out[:300])
        for must in ("Conv", "Gemm", "MatMul", "Relu", "Constant"):
            t.check(must in ops, "lists %s" % must)
        t.check("FrobnicateTheWidgets" not in ops, "does not list the made-up operator")
        unknown = []
        for op in ops:
            path = save(t, "one_%s.onnx" % op, one_node_model(op))
            rc, out_one, err_one = run_cli(t, ["model", "inspect", "--json", path])
            j = json.loads(out_one) if out_one.strip().startswith("{") else None
            if j is None or any(r["reason"] == "operator not supported" for r in j["refused"]):
                unknown.append(op)
        t.eq(unknown, [], "no listed operator is refused as 'operator not supported'")
        rc, out, err = run_cli(t, ["model", "operators", "--readme"])
        lines = out.splitlines()
        t.check(rc == 0 and lines[0].startswith("<!-- operators:begin") and lines[-1] == "<!-- operators:end -->",
                "--readme: the block between its marker lines", out[:200])
        words = " ".join(lines[1:-1]).replace(",", " ").replace(".", " ").split()
        t.check(all(op in words for op in ops), "--readme names every listed operator")

    with t.case("help"):
        rc, out, err = run_cli(t, ["help"])
        t.check(rc == 0 and "  model " in out, "junction help lists the model command", out)


if __name__ == "__main__":
    harness.run(main)
