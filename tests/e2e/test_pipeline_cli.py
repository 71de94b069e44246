#!/usr/bin/python3
"""`junction pipeline check FILE [--pipelines DIR]` and `junction serve --pipelines DIR` from the command line:

- check: a good file prints the plan (exit 0), also one that uses a demo pipeline or a pipeline of --pipelines DIR,
  and one read from stdin ('-');
- check: each kind of JSON error (syntax with line and column, missing / unknown / mistyped fields, bad values)
  -> exit 1 with `junction pipeline check: FILE: <path>: <what>`; compile errors -> exit 1 naming the step and the
  port (only those are asserted: the compiler's wording may change);
- usage: --help (exit 0), bad sub-commands and arguments (exit 2, usage on stderr);
- serve --pipelines: a bad file or a missing dir stops the start (exit 1, no ready line, the file and the reason on
  stderr); a good dir's pipelines are listed by ListModels with type "pipeline" next to the demo pipelines, and
  answer.

usage: /usr/bin/python3 tests/e2e/test_pipeline_cli.py /path/to/junction
"""
import json
import os
import re
import signal
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import harness  # noqa: E402
from harness import pb, infer_request, output_array  # noqa: E402

CLI_TIMEOUT = 30.0
READY_RE = re.compile(r"^junction: serving gRPC on \S+:\d+$", re.M)
ANY2 = [-1, -1]
CHECK_PREFIX = "junction pipeline check: "


# Helpers ------------------------------------------------------------------------------------------------------------

def run_cli(t, args, stdin=None):
    """(status, stdout, stderr); a command still running after CLI_TIMEOUT is killed and reported."""
    try:
        p = subprocess.run([t.binary] + args, input=stdin.encode() if stdin is not None else None,
                           stdin=None if stdin is not None else subprocess.DEVNULL, capture_output=True,
                           timeout=CLI_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        t.fail("junction %s terminates" % " ".join(args), "still running after %.0f s (killed); stdout %r"
               % (CLI_TIMEOUT, (e.stdout or b"")[:300]))
        return None, "", ""
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def port(name, kind="TENSOR", datatype="FP32", shape=ANY2):
    return {"name": name, "kind": kind, "datatype": datatype, "shape": list(shape)}


def pipeline(name, steps, outputs, inputs=None):
    return {"name": name, "inputs": inputs if inputs is not None else [port("x")], "steps": steps,
            "outputs": [{"name": n, "from": f} for n, f in outputs]}


def step(id, model, **inputs):
    return {"id": id, "model": model, "inputs": inputs}


class Files:
    """Files in a directory of the suite's work dir."""

    def __init__(self, t, name):
        self.dir = os.path.join(t.workdir, name)
        os.makedirs(self.dir, exist_ok=True)

    def write(self, name, content):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(content if isinstance(content, str) else json.dumps(content, indent=2))
        return path


def expect_check_ok(t, what, args, must_mention, stdin=None):
    rc, out, err = run_cli(t, ["pipeline", "check"] + args, stdin)
    if rc is None:
        return
    t.eq(rc, 0, "%s: exit status 0" % what) or print("    stderr: %r" % err[:1000])
    missing = [m for m in must_mention if m not in out]
    t.check(not missing, "%s: the plan mentions %s" % (what, must_mention), "missing %r in stdout %r"
            % (missing, out[:1000]))
    t.eq(err, "", "%s: nothing on stderr" % what)


def expect_check_fails(t, what, path, must_mention):
    """check FILE exits 1 with one message line `junction pipeline check: FILE: ...` holding every substring."""
    rc, out, err = run_cli(t, ["pipeline", "check", path])
    if rc is None:
        return
    t.eq(rc, 1, "%s: exit status 1" % what) or print("    stdout: %r stderr: %r" % (out[:500], err[:500]))
    t.eq(out, "", "%s: no plan on stdout" % what)
    t.check(err.startswith(CHECK_PREFIX + path + ": "), "%s: stderr starts with '%s<file>: '" % (what, CHECK_PREFIX),
            "stderr %r" % err[:500])
    t.eq(len(err.strip().splitlines()), 1, "%s: one line on stderr" % what)
    message = err[len(CHECK_PREFIX + path + ": "):]  # the file name must not be what matches
    missing = [m for m in must_mention if m not in message]
    t.check(not missing, "%s: the message names %s" % (what, must_mention), "missing %r in %r"
            % (missing, err[:1000]))
    if os.environ.get("JN_SHOW_MESSAGES"):
        print("    " + err.strip())


def expect_usage_error(t, args):
    what = "junction %s" % " ".join(args)
    rc, out, err = run_cli(t, args)
    if rc is None:
        return
    t.eq(rc, 2, "%s: exit status 2" % what)
    t.check("usage: junction pipeline" in err, "%s: usage on stderr" % what, "stderr %r" % err[:500])
    t.eq(out, "", "%s: nothing on stdout" % what)


def expect_serve_fails(t, what, dir, must_mention):
    args = ["serve", "--grpc-port", "0", "--host", "127.0.0.1", "--pipelines", dir]
    rc, out, err = run_cli(t, args)
    if rc is None:
        return
    t.eq(rc, 1, "%s: exit status 1" % what)
    t.check(not READY_RE.search(out), "%s: no ready line" % what, "stdout %r" % out[:300])
    t.check(err.startswith("junction serve: "), "%s: stderr starts with 'junction serve: '" % what,
            "stderr %r" % err[:500])
    missing = [m for m in must_mention if m not in err]
    t.check(not missing, "%s: stderr names %s" % (what, must_mention), "missing %r in %r" % (missing, err[:1000]))


# Cases ------------------------------------------------------------------------------------------------------------

GOOD = pipeline("cli-good", [step("first", "identity", input="x"), step("second", "burn", input="first.output")],
                [("y", "second.output")])

# (file name, JSON text, substrings of the message after "junction pipeline check: FILE: ")
JSON_ERRORS = [
    ("syntax.json", '{\n  "name": "p",\n  "inputs": [,]\n}\n', ["pipeline JSON: line 3, column 14: "]),
    ("truncated.json", '{"name": "p", "inputs": [', ["pipeline JSON: line 1, column "]),
    ("not-object.json", '["p"]', ["pipeline JSON: expected an object at the top level, got an array"]),
    ("duplicate-key.json",
     json.dumps(GOOD)[:-1] + ', "name": "again"}', ["pipeline JSON: line 1, column ", "duplicate object key"]),
    ("no-name.json", {k: v for k, v in GOOD.items() if k != "name"}, ["pipeline JSON: missing 'name'"]),
    ("empty-name.json", dict(GOOD, name=""), ["name: must not be empty"]),
    ("unknown-top.json", dict(GOOD, stepz=[]), ["pipeline JSON: unknown field 'stepz'"]),
    ("no-model.json", pipeline("p", [{"id": "first", "inputs": {"input": "x"}}], [("y", "first.output")]),
     ["steps[0]: missing 'model'"]),
    ("typo-model.json",
     pipeline("p", [{"id": "first", "modle": "identity", "inputs": {"input": "x"}}], [("y", "first.output")]),
     ["steps[0]: unknown field 'modle'"]),
    ("bad-binding.json",
     pipeline("p", [step("first", "identity", input="x"), step("second", "identity", input=["first.output"])],
              [("y", "second.output")]),
     ["steps[1].inputs.input: expected a string or an object"]),
    ("bad-cast.json",
     pipeline("p", [step("first", "identity", input={"from": "x", "cast": "FP33"})], [("y", "first.output")]),
     ["steps[0].inputs.input.cast: unknown datatype 'FP33'"]),
    ("bad-datatype.json",
     pipeline("p", [step("first", "identity", input="x")], [("y", "first.output")],
              inputs=[port("x", datatype="FP33")]),
     ["inputs[0].datatype: unknown datatype 'FP33'"]),
    ("bad-kind.json",
     pipeline("p", [step("first", "identity", input="x")], [("y", "first.output")], inputs=[port("x", kind="TXT")]),
     ["inputs[0].kind: unknown kind 'TXT'"]),
    ("bad-dim.json",
     pipeline("p", [step("first", "identity", input="x")], [("y", "first.output")],
              inputs=[port("x", shape=[-1, -5])]),
     ["inputs[0].shape[1]: dimension -5 is not allowed"]),
    ("bad-rank.json",
     pipeline("p", [step("first", "identity", input="x")], [("y", "first.output")],
              inputs=[port("x", shape=[1] * 9)]),
     ["inputs[0].shape: rank 9 is more than 8"]),
    ("bad-output.json", dict(GOOD, outputs=[{"name": "y", "from": 3}]), ["outputs[0].from: expected a string"]),
    ("bad-scale.json",
     pipeline("p", [step("first", "identity", input={"from": "x", "scale": "2"})], [("y", "first.output")]),
     ["steps[0].inputs.input.scale: expected a number"]),
]

# (file name, spec, substrings: the step id and the port name, and what the compiler must name)
COMPILE_ERRORS = [
    ("unknown-model.json", pipeline("p", [step("stepone", "no-such-model", input="x")], [("y", "stepone.output")]),
     ["stepone", "no-such-model"]),
    ("unknown-port.json",
     pipeline("p", [step("stepone", "identity", input="x", wrongport="x")], [("y", "stepone.output")]),
     ["stepone", "wrongport"]),
    ("unbound-input.json",
     pipeline("p", [step("stepone", "identity")], [("y", "stepone.output")], inputs=[]),
     ["stepone", "input"]),
    ("bad-source.json",
     pipeline("p", [step("stepone", "identity", input="x"), step("steptwo", "identity", input="nowhere.output")],
              [("y", "steptwo.output")]),
     ["steptwo", "nowhere"]),
    ("type-mismatch.json",
     pipeline("p", [step("stepone", "identity", input="x")], [("y", "stepone.output")],
              inputs=[port("x", kind="TEXT", datatype="BYTES", shape=[-1])]),
     ["stepone", "input"]),
    ("cycle.json",
     pipeline("p", [step("stepone", "identity", input="steptwo.output"),
                    step("steptwo", "identity", input="stepone.output")], [("y", "steptwo.output")], inputs=[]),
     ["stepone", "steptwo"]),
    ("dangling-output.json",
     pipeline("p", [step("stepone", "identity", input="x")], [("y", "stepone.nosuchoutput")]),
     ["stepone", "nosuchoutput"]),
]


def main(t):
    with t.case("help and usage"):
        for args in (["pipeline", "--help"], ["pipeline", "check", "--help"]):
            rc, out, err = run_cli(t, args)
            if rc is not None:
                t.eq(rc, 0, "junction %s: exit status 0" % " ".join(args))
                t.check("junction pipeline check FILE" in out and "--pipelines DIR" in out,
                        "junction %s: usage on stdout" % " ".join(args), out[:300])
        rc, out, err = run_cli(t, ["--help"])
        t.check(rc == 0 and "pipeline" in out, "junction --help lists the pipeline command", out[:500])
        rc, out, err = run_cli(t, ["serve", "--help"])
        t.check(rc == 0 and "--pipelines DIR" in out, "junction serve --help mentions --pipelines DIR", out[:2000])
        good = Files(t, "usage").write("good.json", GOOD)
        expect_usage_error(t, ["pipeline"])
        expect_usage_error(t, ["pipeline", "lint", good])
        expect_usage_error(t, ["pipeline", "check"])
        expect_usage_error(t, ["pipeline", "check", good, good])
        expect_usage_error(t, ["pipeline", "check", good, "--pipelines"])
        expect_usage_error(t, ["pipeline", "check", good, "--bogus"])

    with t.case("check: good pipelines"):
        files = Files(t, "good")
        path = files.write("good.json", GOOD)
        expect_check_ok(t, "check a two-step file", [path], ["cli-good", "first", "second", "identity", "burn"])
        nested = pipeline("cli-nested", [step("outer", "demo-chain", x="x")], [("y", "outer.y")])
        expect_check_ok(t, "check a file using the demo pipeline demo-chain",
                        [files.write("nested.json", nested)], ["cli-nested", "outer", "demo-chain"])
        widened = pipeline("cli-widen", [step("first", "identity", input="x")], [("y", "first.output")],
                           inputs=[port("x", datatype="INT16")])
        expect_check_ok(t, "check a file with an inserted cast (INT16 -> FP32)",
                        [files.write("widen.json", widened)], ["cli-widen", "first"])
        declared = pipeline("cli-declared",
                            [step("first", "identity", input={"from": "x", "cast": "FP32", "scale": 0.5,
                                                              "offset": 1})],
                            [("y", "first.output")], inputs=[port("x", datatype="INT64")])
        expect_check_ok(t, "check a file with a declared cast (INT64 -> FP32, scale, offset)",
                        [files.write("declared.json", declared)], ["cli-declared", "first"])
        expect_check_ok(t, "check stdin ('-')", ["-"], ["cli-good", "first", "second"], stdin=json.dumps(GOOD))

        # --pipelines DIR: FILE may use DIR's pipelines (loaded in file-name order: 20 uses 10).
        lib = Files(t, "lib")
        lib.write("10-base.json", pipeline("lib-base", [step("s", "identity", input="x")], [("y", "s.output")]))
        lib.write("20-mid.json", pipeline("lib-mid", [step("s", "lib-base", x="x")], [("y", "s.y")]))
        top = files.write("top.json", pipeline("cli-top", [step("uses", "lib-mid", x="x")], [("y", "uses.y")]))
        expect_check_ok(t, "check with --pipelines DIR using DIR's pipelines", [top, "--pipelines", lib.dir],
                        ["cli-top", "uses", "lib-mid"])
        expect_check_ok(t, "check with --pipelines DIR before FILE", ["--pipelines", lib.dir, top], ["cli-top"])
        expect_check_fails(t, "check without --pipelines: the pipeline it uses is unknown", top, ["uses", "lib-mid"])

    with t.case("check: JSON errors"):
        files = Files(t, "json-errors")
        for name, content, mention in JSON_ERRORS:
            expect_check_fails(t, "check %s" % name, files.write(name, content), mention)
        missing = os.path.join(files.dir, "missing.json")
        expect_check_fails(t, "check a missing file", missing, ["cannot open"])

    with t.case("check: compile errors"):
        files = Files(t, "compile-errors")
        for name, spec, mention in COMPILE_ERRORS:
            expect_check_fails(t, "check %s" % name, files.write(name, spec), mention)
        engine_name = files.write("engine-name.json", dict(GOOD, name="identity"))
        expect_check_fails(t, "check a pipeline named like an engine", engine_name, ["identity"])

    with t.case("check: a bad --pipelines DIR"):
        files = Files(t, "check-bad-dir")
        bad_dir = Files(t, "check-bad-dir/lib")
        bad_dir.write("01-ok.json", pipeline("ok", [step("s", "identity", input="x")], [("y", "s.output")]))
        bad_file = bad_dir.write("02-bad.json", pipeline("p", [{"id": "s", "inputs": {}}], [("y", "s.output")]))
        good = files.write("good.json", GOOD)
        rc, out, err = run_cli(t, ["pipeline", "check", good, "--pipelines", bad_dir.dir])
        if rc is not None:
            t.eq(rc, 1, "check --pipelines with a bad file: exit status 1")
            t.check(err.startswith(CHECK_PREFIX + bad_file + ": steps[0]: missing 'model'"),
                    "check --pipelines with a bad file: stderr names the file and the reason", err[:500])
            t.eq(out, "", "check --pipelines with a bad file: no plan")

    with t.case("serve --pipelines: rejected at start"):
        bad = Files(t, "serve-bad")
        bad.write("10-good.json", GOOD)
        bad_path = bad.write("20-two.json", pipeline("two", [{"id": "s", "inputs": {"input": "x"}}],
                                                     [("y", "s.output")]))
        expect_serve_fails(t, "serve with a file missing a model", bad.dir,
                           [bad_path + ": steps[0]: missing 'model'"])
        syntax = Files(t, "serve-syntax")
        syntax_path = syntax.write("one.json", "{\n  \"name\": \"p\"\n  \"steps\": []\n}\n")
        expect_serve_fails(t, "serve with a syntax error", syntax.dir, [syntax_path + ": pipeline JSON: line 3"])
        compile_err = Files(t, "serve-compile")
        ce_path = compile_err.write("one.json", COMPILE_ERRORS[1][1])
        expect_serve_fails(t, "serve with a compile error", compile_err.dir, [ce_path + ": ", "stepone", "wrongport"])
        missing = os.path.join(t.workdir, "no-such-dir")
        expect_serve_fails(t, "serve with a missing directory", missing, [missing])

    with t.case("serve --pipelines: a good directory"):
        good = Files(t, "serve-good")
        good.write("10-good.json", GOOD)
        good.write("20-uses-good.json", pipeline("cli-uses-good", [step("inner", "cli-good", x="x")],
                                                 [("z", "inner.y")]))
        good.write("README.txt", "not a pipeline: ignored")
        srv = t.start_server(["--pipelines", good.dir])
        stub = srv.broker()
        r = t.call("ListModels", stub.ListModels, pb.broker.ListModelsRequest())
        if r is not None:
            types = {m.name: m.type for m in r.models}
            for name in ("cli-good", "cli-uses-good", "demo-chain", "demo-fanout", "demo-tokens"):
                t.eq(types.get(name), "pipeline", "ListModels lists %s with type 'pipeline'" % name)
            t.eq(types.get("identity"), "engine", "ListModels lists identity with type 'engine'")
            t.check("README" not in " ".join(types), "only *.json files are loaded", str(sorted(types)))
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        for name, out_name in (("cli-good", "y"), ("cli-uses-good", "z"), ("demo-chain", "y")):
            r = t.call("Infer %s" % name, stub.Infer,
                       infer_request(name, x, input_name="x", params={"burn_ms": 1, "burn_mode": "sleep"}))
            got = output_array(r, out_name) if r is not None else None
            t.check(got is not None and np.array_equal(got, x), "%s answers its input as %s" % (name, out_name),
                    str(r)[:300])
        t.stop_server(srv, signal.SIGTERM)


if __name__ == "__main__":
    harness.run(main)
