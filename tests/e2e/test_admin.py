#!/usr/bin/python3
"""junction.v1.Admin end to end: PutPipeline (spec and spec_json), DeletePipeline, ListPipelines.

- a pipeline put through either form is listed (ListModels type "pipeline", GetModel, v2 ModelMetadata) and called
  like any model (Infer, v2 ModelInfer); a re-put replaces it (replaced=true); ListPipelines gives back the spec;
- declared conversions (cast + scale + offset, an offset alone) travel through both forms and run;
- DeletePipeline, then calls are NOT_FOUND; deleting a built-in engine or an unknown name is refused;
- both / neither request forms, malformed specs (empty names, unknown enum values), a built-in engine's name, and
  compile errors (unknown model, cycle, lossy binding) are refused with code + message and leave nothing registered;
- 200 re-puts alternating two versions of one pipeline while 500 Infer calls run on it: every call answers with one
  of the two versions, whole.

The compiler's exact wording is not pinned: errors are asserted on the status code and the names they must carry
(step id, port, model). Messages of the Admin service's own checks are asserted exactly.

usage: /usr/bin/python3 tests/e2e/test_admin.py /path/to/junction
"""
import json
import os
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402
from harness import pb, infer_request, tensor_value, output_array, v2_request, v2_output_array  # noqa: E402

IA = grpc.StatusCode.INVALID_ARGUMENT
NF = grpc.StatusCode.NOT_FOUND
AE = grpc.StatusCode.ALREADY_EXISTS

# The two-step identity example of issue #3.
TWO_STEP = {
    "name": "two-step",
    "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}],
    "steps": [
        {"id": "a", "model": "identity", "inputs": {"input": "x"}},
        {"id": "b", "model": "identity", "inputs": {"input": "a.output"}},
    ],
    "outputs": [{"name": "y", "from": "b.output"}],
}

# A declared lossy conversion: FP64 in, y = FP32(x * 2 + 1).
AFFINE = {
    "name": "affine",
    "description": "x * 2 + 1 as FP32",
    "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP64", "shape": [-1, -1]}],
    "steps": [{"id": "scale-step", "model": "identity",
               "inputs": {"input": {"from": "x", "cast": "FP32", "scale": 2.0, "offset": 1.0}}}],
    "outputs": [{"name": "y", "from": "scale-step.output"}],
}

# An offset alone: y = x + 1, same datatype.
SHIFT = {
    "name": "shift",
    "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}],
    "steps": [{"id": "s", "model": "identity", "inputs": {"input": {"from": "x", "offset": 1.0}}}],
    "outputs": [{"name": "y", "from": "s.output"}],
}

# The two versions the concurrency case alternates between: different graphs, different output names.
FLIP_A = {
    "name": "flip",
    "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}],
    "steps": [
        {"id": "a", "model": "identity", "inputs": {"input": "x"}},
        {"id": "b", "model": "identity", "inputs": {"input": "a.output"}},
    ],
    "outputs": [{"name": "y", "from": "b.output"}],
}
FLIP_B = {
    "name": "flip",
    "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}],
    "steps": [{"id": "only", "model": "identity", "inputs": {"input": "x"}}],
    "outputs": [{"name": "z", "from": "only.output"}],
}


def variant(base, **changes):
    d = json.loads(json.dumps(base))
    d.update(changes)
    return d


def spec_pb(d):
    """junction.v1.PipelineSpec from the JSON shape."""
    s = pb.pipeline.PipelineSpec(name=d["name"], description=d.get("description", ""))
    for p in d.get("inputs", []):
        s.inputs.add(name=p["name"], kind=pb.contract.Kind.Value(p["kind"]),
                     datatype=pb.tensor.DataType.Value(p["datatype"]), shape=p.get("shape", []),
                     labels=p.get("labels", []))
    for st in d.get("steps", []):
        step = s.steps.add(id=st["id"], model=st["model"], version=st.get("version", ""))
        for port, b in st.get("inputs", {}).items():
            if isinstance(b, str):
                b = {"from": b}
            e = step.inputs[port]
            setattr(e, "from", b["from"])  # `from` is a Python keyword
            if "cast" in b:
                e.cast = pb.tensor.DataType.Value(b["cast"])
            e.scale = b.get("scale", 0.0)
            e.offset = b.get("offset", 0.0)
    for o in d.get("outputs", []):
        out = s.outputs.add(name=o["name"])
        setattr(out, "from", o["from"])
    return s


def put_json(d):
    return pb.admin.PutPipelineRequest(spec_json=json.dumps(d))


def put_spec(d):
    return pb.admin.PutPipelineRequest(spec=spec_pb(d))


def model_names(t, stub, what):
    r = t.call("ListModels (%s)" % what, stub.ListModels, pb.broker.ListModelsRequest())
    return None if r is None else {m.name: m.type for m in r.models}


def pipeline_names(t, admin, what):
    r = t.call("ListPipelines (%s)" % what, admin.ListPipelines, pb.admin.ListPipelinesRequest())
    return None if r is None else [p.name for p in r.pipelines]


def fp64_tensor(arr):
    a = np.ascontiguousarray(np.asarray(arr, dtype="<f8"))
    return pb.tensor.Tensor(datatype=pb.tensor.FP64, shape=list(a.shape), raw=a.tobytes())


def check_put(t, what, r, name, replaced):
    if r is None:
        return
    t.eq(r.name, name, "%s: name" % what)
    t.eq(r.replaced, replaced, "%s: replaced" % what)
    t.check("identity" in r.plan, "%s: the plan names the steps' model" % what, repr(r.plan))


def check_pipeline_answer(t, what, resp, x, model, out="y"):
    if resp is None:
        return
    t.eq(resp.model, model, "%s: response model" % what)
    t.eq([v.name for v in resp.outputs], [out], "%s: one output named %r" % (what, out))
    got = output_array(resp, out)
    t.check(got is not None and np.array_equal(got, x), "%s: %s equals the input" % (what, out),
            "got %r" % (got,))


def check_unchanged(t, stub, admin, models_before, pipes_before, what):
    """A refused put leaves nothing registered."""
    after = model_names(t, stub, "after " + what)
    if after is not None and models_before is not None:
        t.eq(after, models_before, "%s: ListModels unchanged" % what)
    pipes = pipeline_names(t, admin, "after " + what)
    if pipes is not None and pipes_before is not None:
        t.eq(pipes, pipes_before, "%s: ListPipelines unchanged" % what)


def main(t):
    srv = t.start_server(["--workers", "4"])
    ch = srv.channel()
    admin = srv.admin(ch)
    stub = srv.broker(ch)
    v2 = srv.v2(ch)
    rng = np.random.default_rng(3)

    # Pipelines the binary registers by itself (built-in demos), if any: the ones this test puts come on top.
    base = []
    with t.case("pipelines at start"):
        r = t.call("ListPipelines at start", admin.ListPipelines, pb.admin.ListPipelinesRequest())
        if r is not None:
            base = [p.name for p in r.pipelines]
            t.eq(base, sorted(base), "ListPipelines at start: sorted by name")
            t.check("two-step" not in base and "affine" not in base and "flip" not in base,
                    "ListPipelines at start: none of this test's names", str(base))
            models = model_names(t, stub, "at start")
            if models is not None:
                t.eq(sorted(n for n, ty in models.items() if ty == "pipeline"), base,
                     "ListModels at start: the same pipelines")

    with t.case("PutPipeline with spec_json (the two-step example)"):
        r = t.call("PutPipeline two-step (spec_json)", admin.PutPipeline, put_json(TWO_STEP))
        check_put(t, "PutPipeline two-step (spec_json)", r, "two-step", False)

    with t.case("the pipeline is a model"):
        models = model_names(t, stub, "after put")
        if models is not None:
            t.eq(models.get("two-step"), "pipeline", "ListModels: two-step has type 'pipeline'")
            t.eq(models.get("identity"), "engine", "ListModels: identity still type 'engine'")
        m = t.call("GetModel two-step", stub.GetModel, pb.broker.GetModelRequest(name="two-step"))
        if m is not None:
            t.eq(m.type, "pipeline", "GetModel two-step: type")
            t.eq([(p.name, p.kind, p.datatype, list(p.shape)) for p in m.signature.inputs],
                 [("x", pb.contract.TENSOR, pb.tensor.FP32, [-1, -1])], "GetModel two-step: inputs")
            t.eq([(p.name, p.datatype, list(p.shape)) for p in m.signature.outputs],
                 [("y", pb.tensor.FP32, [-1, -1])], "GetModel two-step: outputs")
        md = t.call("v2 ModelMetadata two-step", v2.ModelMetadata, pb.v2.ModelMetadataRequest(name="two-step"))
        if md is not None:
            t.eq(md.name, "two-step", "ModelMetadata two-step: name")
            t.eq([(i.name, i.datatype, list(i.shape)) for i in md.inputs], [("x", "FP32", [-1, -1])],
                 "ModelMetadata two-step: inputs")
            t.eq([(o.name, o.datatype, list(o.shape)) for o in md.outputs], [("y", "FP32", [-1, -1])],
                 "ModelMetadata two-step: outputs")
        r = t.call("v2 ModelReady two-step", v2.ModelReady, pb.v2.ModelReadyRequest(name="two-step"))
        t.check(r is not None and r.ready, "ModelReady two-step: true", str(r))

        x = rng.standard_normal((3, 4)).astype(np.float32)
        r = t.call("Infer two-step", stub.Infer, infer_request("two-step", x, id="p1", input_name="x"))
        check_pipeline_answer(t, "Infer two-step", r, x, "two-step")
        if r is not None:
            t.eq(r.id, "p1", "Infer two-step: id echoed")
        r = t.call("Infer two-step outputs=['y']", stub.Infer,
                   infer_request("two-step", x, input_name="x", outputs=["y"]))
        check_pipeline_answer(t, "Infer two-step outputs=['y']", r, x, "two-step")
        t.expect_error("Infer two-step with the step's input name instead of x", stub.Infer, IA, "'two-step'",
                       "'x'", args=(infer_request("two-step", x),))
        for raw in (True, False):
            form = "raw" if raw else "typed"
            r = t.call("v2 ModelInfer two-step (%s)" % form, v2.ModelInfer,
                       v2_request("two-step", x, id="v2-" + form, raw=raw, input_name="x"))
            if r is not None:
                t.eq(r.model_name, "two-step", "v2 ModelInfer two-step (%s): model_name" % form)
                got, how = v2_output_array(r, "y")
                t.eq(how, form, "v2 ModelInfer two-step (%s): response form" % form)
                t.check(got is not None and np.array_equal(got, x), "v2 ModelInfer two-step (%s): y equals x" % form,
                        "got %r" % (got,))

    with t.case("PutPipeline with spec replaces"):
        r = t.call("PutPipeline two-step again (spec)", admin.PutPipeline, put_spec(TWO_STEP))
        check_put(t, "re-put two-step (spec)", r, "two-step", True)
        x = rng.standard_normal((1, 5)).astype(np.float32)
        r = t.call("Infer two-step after the replace", stub.Infer, infer_request("two-step", x, input_name="x"))
        check_pipeline_answer(t, "Infer two-step after the replace", r, x, "two-step")
        # A replaced version with a different output: calls see the new one.
        r = t.call("PutPipeline two-step with output w (spec)", admin.PutPipeline,
                   put_spec(variant(TWO_STEP, outputs=[{"name": "w", "from": "a.output"}])))
        check_put(t, "re-put two-step with output w", r, "two-step", True)
        r = t.call("Infer two-step (output w)", stub.Infer, infer_request("two-step", x, input_name="x"))
        check_pipeline_answer(t, "Infer two-step (output w)", r, x, "two-step", out="w")
        r = t.call("PutPipeline two-step back to the example (spec_json)", admin.PutPipeline, put_json(TWO_STEP))
        check_put(t, "re-put two-step (spec_json)", r, "two-step", True)
        r = t.call("Infer two-step (back to y)", stub.Infer, infer_request("two-step", x, input_name="x"))
        check_pipeline_answer(t, "Infer two-step (back to y)", r, x, "two-step")

    with t.case("declared conversion through the protobuf form"):
        r = t.call("PutPipeline affine (spec)", admin.PutPipeline, put_spec(AFFINE))
        check_put(t, "PutPipeline affine (spec)", r, "affine", False)
        x = np.array([[0.0, 1.5, -2.0], [4.0, 0.25, 100.0]])
        req = infer_request("affine", values=[tensor_value("x", fp64_tensor(x))])
        r = t.call("Infer affine with FP64", stub.Infer, req)
        if r is not None:
            t.eq([v.name for v in r.outputs], ["y"], "Infer affine: one output y")
            got = output_array(r, "y")  # None unless FP32
            t.check(got is not None and np.array_equal(got, (x * 2 + 1).astype(np.float32)),
                    "Infer affine: y = FP32(x * 2 + 1)", "got %r" % (got,))

    with t.case("an offset alone declares out = in + offset, in both forms"):
        for form, make in (("spec_json", put_json), ("spec", put_spec)):
            r = t.call("PutPipeline shift (%s)" % form, admin.PutPipeline, make(SHIFT))
            check_put(t, "PutPipeline shift (%s)" % form, r, "shift", form == "spec")
            x = np.array([[1.0, -2.5]], dtype=np.float32)
            r = t.call("Infer shift (%s)" % form, stub.Infer, infer_request("shift", x, input_name="x"))
            if r is not None:
                got = output_array(r, "y")
                t.check(got is not None and np.array_equal(got, x + 1), "Infer shift (%s): y = x + 1" % form,
                        "got %r" % (got,))
        r = t.call("ListPipelines with shift", admin.ListPipelines, pb.admin.ListPipelinesRequest())
        got = [p for p in r.pipelines if p.name == "shift"] if r is not None else []
        t.check(got == [spec_pb(SHIFT)], "ListPipelines shift: offset 1, scale 0 (none declared)", str(got))
        t.call("DeletePipeline shift", admin.DeletePipeline, pb.admin.DeletePipelineRequest(name="shift"))

    with t.case("ListPipelines"):
        r = t.call("ListPipelines", admin.ListPipelines, pb.admin.ListPipelinesRequest())
        if r is not None:
            t.eq([p.name for p in r.pipelines], sorted(base + ["affine", "two-step"]), "ListPipelines: names, sorted")
            by_name = {p.name: p for p in r.pipelines}
            for d in (TWO_STEP, AFFINE):
                got = by_name.get(d["name"])
                want = spec_pb(d)
                t.check(got == want, "ListPipelines %s: the spec as put" % d["name"],
                        "got %s\nwant %s" % (got, want))
            aff = by_name.get("affine")
            if aff is not None and aff.steps and "input" in aff.steps[0].inputs:
                b = aff.steps[0].inputs["input"]
                t.eq((getattr(b, "from"), b.cast, b.scale, b.offset), ("x", pb.tensor.FP32, 2.0, 1.0),
                     "ListPipelines affine: binding from/cast/scale/offset")
            two = by_name.get("two-step")
            if two is not None and two.steps:
                b = two.steps[0].inputs["input"]
                t.eq((b.cast, b.scale, b.offset), (pb.tensor.DATA_TYPE_UNSPECIFIED, 0.0, 0.0),
                     "ListPipelines two-step: no conversion declared = unspecified cast, scale 0")
            # What ListPipelines gives is a valid spec: putting it back replaces each pipeline with itself.
            for p in r.pipelines:
                res = t.call("PutPipeline %s as listed" % p.name, admin.PutPipeline,
                             pb.admin.PutPipelineRequest(spec=p))
                if res is not None:
                    t.eq((res.name, res.replaced), (p.name, True), "PutPipeline %s as listed: replaced" % p.name)
            again = t.call("ListPipelines after putting each back", admin.ListPipelines,
                           pb.admin.ListPipelinesRequest())
            if again is not None:
                t.check(list(again.pipelines) == list(r.pipelines), "ListPipelines unchanged by putting each back",
                        "before %s\nafter %s" % (r, again))
        models = model_names(t, stub, "ListPipelines vs ListModels")
        if models is not None:
            t.eq(sorted(n for n, ty in models.items() if ty == "pipeline"), sorted(base + ["affine", "two-step"]),
                 "ListModels: the same pipelines")

    with t.case("request form errors"):
        models0 = model_names(t, stub, "before form errors")
        pipes0 = pipeline_names(t, admin, "before form errors")
        both = pb.admin.PutPipelineRequest(spec=spec_pb(variant(TWO_STEP, name="both")),
                                           spec_json=json.dumps(variant(TWO_STEP, name="both")))
        t.expect_error("PutPipeline with both spec and spec_json", admin.PutPipeline, IA,
                       "give exactly one of spec or spec_json", args=(both,))
        t.expect_error("PutPipeline with neither", admin.PutPipeline, IA, "give exactly one of spec or spec_json",
                       args=(pb.admin.PutPipelineRequest(),))
        # Malformed protobuf form: the message names the field.
        bad = spec_pb(TWO_STEP)
        bad.name = ""
        t.expect_error("spec with an empty name", admin.PutPipeline, IA, "spec.name is empty",
                       args=(pb.admin.PutPipelineRequest(spec=bad),))
        bad = spec_pb(variant(TWO_STEP, name="bad-from"))
        setattr(bad.steps[1].inputs["input"], "from", "")
        t.expect_error("spec with an empty binding source", admin.PutPipeline, IA,
                       "spec.steps[1].inputs['input'].from is empty", args=(pb.admin.PutPipelineRequest(spec=bad),))
        bad = spec_pb(variant(TWO_STEP, name="bad-id"))
        bad.steps[0].id = ""
        t.expect_error("spec with an empty step id", admin.PutPipeline, IA, "spec.steps[0].id is empty",
                       args=(pb.admin.PutPipelineRequest(spec=bad),))
        bad = spec_pb(variant(TWO_STEP, name="bad-model"))
        bad.steps[1].model = ""
        t.expect_error("spec with an empty step model", admin.PutPipeline, IA, "spec.steps[1].model is empty",
                       args=(pb.admin.PutPipelineRequest(spec=bad),))
        bad = spec_pb(variant(TWO_STEP, name="bad-out"))
        bad.outputs[0].name = ""
        t.expect_error("spec with an empty output name", admin.PutPipeline, IA, "spec.outputs[0].name is empty",
                       args=(pb.admin.PutPipelineRequest(spec=bad),))
        bad = spec_pb(variant(TWO_STEP, name="bad-dtype"))
        bad.inputs[0].datatype = 99  # proto3 enums are open: unknown values travel
        t.expect_error("spec with an unknown datatype value", admin.PutPipeline, IA,
                       "spec.inputs[0].datatype: unknown value 99", args=(pb.admin.PutPipelineRequest(spec=bad),))
        bad = spec_pb(variant(TWO_STEP, name="bad-kind"))
        bad.inputs[0].kind = pb.contract.KIND_UNSPECIFIED
        t.expect_error("spec with an unset input kind", admin.PutPipeline, IA, "spec.inputs[0].kind",
                       args=(pb.admin.PutPipelineRequest(spec=bad),))
        bad = spec_pb(variant(TWO_STEP, name="bad-cast"))
        bad.steps[0].inputs["input"].cast = 77
        t.expect_error("spec with an unknown cast value", admin.PutPipeline, IA,
                       "spec.steps[0].inputs['input'].cast: unknown value 77",
                       args=(pb.admin.PutPipelineRequest(spec=bad),))
        bad = spec_pb(variant(TWO_STEP, name="dup-input"))
        bad.inputs.add(name="x", kind=pb.contract.TENSOR, datatype=pb.tensor.FP32, shape=[-1])
        t.expect_error("spec with a pipeline input declared twice", admin.PutPipeline, IA, "spec.inputs[1]", "'x'",
                       args=(pb.admin.PutPipelineRequest(spec=bad),))
        # Malformed JSON form: the message says it is the JSON.
        t.expect_error("spec_json that is not JSON", admin.PutPipeline, IA, "spec_json",
                       args=(pb.admin.PutPipelineRequest(spec_json="{\"name\": "),))
        bad_json = variant(TWO_STEP, name="bad-json")
        bad_json["steps"][1]["inputs"]["input"] = 42
        t.expect_error("spec_json with a number as a binding", admin.PutPipeline, IA, "spec_json", "steps[1]",
                       args=(put_json(bad_json),))
        check_unchanged(t, stub, admin, models0, pipes0, "form errors")

    with t.case("built-in engine names"):
        models0 = model_names(t, stub, "before built-in names")
        pipes0 = pipeline_names(t, admin, "before built-in names")
        for name in ("identity", "burn"):
            t.expect_error("PutPipeline named %r (spec_json)" % name, admin.PutPipeline, AE, name,
                           args=(put_json(variant(TWO_STEP, name=name)),))
            t.expect_error("PutPipeline named %r (spec)" % name, admin.PutPipeline, AE, name,
                           args=(put_spec(variant(TWO_STEP, name=name)),))
        check_unchanged(t, stub, admin, models0, pipes0, "built-in names")
        m = t.call("GetModel identity after the refused puts", stub.GetModel,
                   pb.broker.GetModelRequest(name="identity"))
        if m is not None:
            t.eq(m.type, "engine", "identity is still the built-in engine")

    with t.case("compile errors leave nothing registered"):
        models0 = model_names(t, stub, "before compile errors")
        pipes0 = pipeline_names(t, admin, "before compile errors")
        unknown = {
            "name": "broken-unknown",
            "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}],
            "steps": [
                {"id": "first-step", "model": "identity", "inputs": {"input": "x"}},
                {"id": "lookup-step", "model": "no-such-model", "inputs": {"input": "first-step.output"}},
            ],
            "outputs": [{"name": "y", "from": "lookup-step.output"}],
        }
        cycle = {
            "name": "broken-cycle",
            "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}],
            "steps": [
                {"id": "entry", "model": "identity", "inputs": {"input": "x"}},
                {"id": "ping", "model": "identity", "inputs": {"input": "pong.output"}},
                {"id": "pong", "model": "identity", "inputs": {"input": "ping.output"}},
            ],
            "outputs": [{"name": "y", "from": "pong.output"}, {"name": "e", "from": "entry.output"}],
        }
        lossy = {
            "name": "broken-dtype",
            "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP64", "shape": [-1, -1]}],
            "steps": [{"id": "narrow-step", "model": "identity", "inputs": {"input": "x"}}],
            "outputs": [{"name": "y", "from": "narrow-step.output"}],
        }
        for form, make in (("spec_json", put_json), ("spec", put_spec)):
            t.expect_error("unknown model (%s) -> NOT_FOUND naming the step and the model" % form, admin.PutPipeline,
                           NF, "lookup-step", "no-such-model", args=(make(unknown),))
            t.expect_error("cycle (%s) -> INVALID_ARGUMENT naming its steps" % form, admin.PutPipeline, IA, "ping",
                           "pong", args=(make(cycle),))
            t.expect_error("FP64 into an FP32 port without a declared cast (%s) -> INVALID_ARGUMENT" % form,
                           admin.PutPipeline, IA, "narrow-step", "'input'", "FP64", "FP32", args=(make(lossy),))
        check_unchanged(t, stub, admin, models0, pipes0, "compile errors")
        for name in ("broken-unknown", "broken-cycle", "broken-dtype"):
            t.expect_error("Infer %s after its refused put -> NOT_FOUND" % name, stub.Infer, NF, name,
                           args=(infer_request(name, np.ones((1, 1), dtype=np.float32), input_name="x"),))
        # A refused replacement keeps the old version whole.
        broken_two = variant(TWO_STEP, steps=[{"id": "a", "model": "identity", "inputs": {"input": "x"}},
                                              {"id": "b", "model": "no-such-model", "inputs": {"input": "a.output"}}])
        t.expect_error("replacing two-step with a broken version -> NOT_FOUND", admin.PutPipeline, NF, "no-such-model",
                       args=(put_json(broken_two),))
        x = rng.standard_normal((2, 2)).astype(np.float32)
        r = t.call("Infer two-step after the refused replacement", stub.Infer,
                   infer_request("two-step", x, input_name="x"))
        check_pipeline_answer(t, "two-step after the refused replacement", r, x, "two-step")

    with t.case("limits: steps per pipeline and nesting depth"):
        def chain_of(name, n, model="identity", port="input", out="output"):
            return {"name": name,
                    "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}],
                    "steps": [{"id": "s%d" % i, "model": model,
                               "inputs": {port: "x" if i == 0 else "s%d.%s" % (i - 1, out)}} for i in range(n)],
                    "outputs": [{"name": "y", "from": "s%d.%s" % (n - 1, out)}]}
        t.expect_error("PutPipeline with 257 steps -> INVALID_ARGUMENT", admin.PutPipeline, IA, "257 steps",
                       "at most 256", args=(put_json(chain_of("too-long", 257)),))
        t.call("PutPipeline with 256 steps (the limit) is accepted", admin.PutPipeline,
               put_json(chain_of("longest", 256)))
        # nest-1 uses identity; nest-k uses nest-(k-1): nest-8 is 8 deep (accepted), nest-9 would be 9.
        t.call("PutPipeline nest-1", admin.PutPipeline, put_json(chain_of("nest-1", 1)))
        for k in range(2, 9):
            t.call("PutPipeline nest-%d" % k, admin.PutPipeline,
                   put_json(chain_of("nest-%d" % k, 1, model="nest-%d" % (k - 1), port="x", out="y")))
        t.expect_error("PutPipeline nesting 9 deep -> INVALID_ARGUMENT naming the step and the limit", admin.PutPipeline,
                       IA, "step 's0' uses pipeline 'nest-8'", "at most 8 deep",
                       args=(put_json(chain_of("nest-9", 1, model="nest-8", port="x", out="y")),))
        x = np.ones((1, 2), dtype=np.float32)
        r = t.call("Infer nest-8", stub.Infer, infer_request("nest-8", x, input_name="x"))
        t.check(r is not None and np.array_equal(output_array(r, "y"), x), "nest-8 (8 deep) answers")
        for k in range(8, 0, -1):
            t.call("DeletePipeline nest-%d" % k, admin.DeletePipeline, pb.admin.DeletePipelineRequest(name="nest-%d" % k))
        t.call("DeletePipeline longest", admin.DeletePipeline, pb.admin.DeletePipelineRequest(name="longest"))

    with t.case("DeletePipeline"):
        r = t.call("DeletePipeline two-step", admin.DeletePipeline, pb.admin.DeletePipelineRequest(name="two-step"))
        if r is not None:
            t.eq(r.ByteSize(), 0, "DeletePipeline: empty response")
        x = np.ones((1, 2), dtype=np.float32)
        t.expect_error("Infer two-step after delete -> NOT_FOUND", stub.Infer, NF, "'two-step'",
                       args=(infer_request("two-step", x, input_name="x"),))
        t.expect_error("v2 ModelInfer two-step after delete -> NOT_FOUND", v2.ModelInfer, NF, "'two-step'",
                       args=(v2_request("two-step", x, input_name="x"),))
        t.expect_error("ModelMetadata two-step after delete -> NOT_FOUND", v2.ModelMetadata, NF, "'two-step'",
                       args=(pb.v2.ModelMetadataRequest(name="two-step"),))
        models = model_names(t, stub, "after delete")
        if models is not None:
            t.check("two-step" not in models, "ListModels: two-step gone after delete", str(models))
        t.eq(pipeline_names(t, admin, "after delete"), sorted(base + ["affine"]), "ListPipelines after delete")
        t.expect_error("DeletePipeline two-step again -> NOT_FOUND", admin.DeletePipeline, NF, "two-step",
                       args=(pb.admin.DeletePipelineRequest(name="two-step"),))
        t.expect_error("DeletePipeline never-was -> NOT_FOUND", admin.DeletePipeline, NF, "never-was",
                       args=(pb.admin.DeletePipelineRequest(name="never-was"),))
        t.expect_error("DeletePipeline identity (a built-in engine) -> INVALID_ARGUMENT", admin.DeletePipeline, IA,
                       "identity", args=(pb.admin.DeletePipelineRequest(name="identity"),))
        t.expect_error("DeletePipeline with an empty name -> INVALID_ARGUMENT", admin.DeletePipeline, IA,
                       "name is empty", args=(pb.admin.DeletePipelineRequest(),))
        m = t.call("GetModel identity after the refused delete", stub.GetModel,
                   pb.broker.GetModelRequest(name="identity"))
        t.check(m is not None and m.type == "engine", "identity still registered after the refused delete", str(m))
        # A deleted name can be put again.
        r = t.call("PutPipeline two-step after delete", admin.PutPipeline, put_json(TWO_STEP))
        check_put(t, "PutPipeline two-step after delete", r, "two-step", False)
        r = t.call("Infer two-step after re-put", stub.Infer, infer_request("two-step", x, input_name="x"))
        check_pipeline_answer(t, "Infer two-step after re-put", r, x, "two-step")

    with t.case("malformed protobuf bytes"):
        for method in ("/junction.v1.Admin/PutPipeline", "/junction.v1.Admin/DeletePipeline",
                       "/junction.v1.Admin/ListPipelines"):
            t.expect_error("%s with a truncated field -> INVALID_ARGUMENT" % method, harness.unary_raw(ch, method),
                           IA, args=(b"\x0a\xff\xff\xff\xff\x0f",))

    with t.case("concurrent PutPipeline and Infer"):
        r = t.call("PutPipeline flip (version A)", admin.PutPipeline, put_json(FLIP_A))
        check_put(t, "PutPipeline flip", r, "flip", False)
        put_errors, put_not_replaced, infer_bad = [], [], []
        seen = {"y": 0, "z": 0}
        start = threading.Barrier(2)
        # The puts are spread over the whole run of infers by progress, not by time: put i waits until the infer
        # thread has finished i * 500 / 200 calls (or has stopped), so calls keep running while versions change.
        progress = threading.Condition()
        infers_done = [0, False]  # calls finished, infer thread stopped

        def putter():
            a = srv.admin(srv.channel())
            start.wait()
            for i in range(200):
                with progress:
                    progress.wait_for(lambda: infers_done[1] or infers_done[0] >= i * 500 // 200,
                                      timeout=harness.RPC_TIMEOUT)
                req = put_spec(FLIP_B) if i % 2 == 0 else put_json(FLIP_A)
                try:
                    res = a.PutPipeline(req, timeout=harness.RPC_TIMEOUT)
                    if not res.replaced:
                        put_not_replaced.append(i)
                except grpc.RpcError as e:
                    put_errors.append("put %d: %s" % (i, harness.describe_rpc_error(e)))

        def inferrer():
            b = srv.broker(srv.channel())
            start.wait()
            try:
                infer_all(b)
            finally:
                with progress:
                    infers_done[1] = True
                    progress.notify_all()

        def infer_all(b):
            for i in range(500):
                with progress:
                    infers_done[0] = i
                    progress.notify_all()
                x = np.array([[i, 0.5, -i]], dtype=np.float32)
                try:
                    res = b.Infer(infer_request("flip", x, id=str(i), input_name="x"), timeout=harness.RPC_TIMEOUT)
                except grpc.RpcError as e:
                    infer_bad.append("infer %d: %s" % (i, harness.describe_rpc_error(e)))
                    continue
                names = [v.name for v in res.outputs]
                if names not in (["y"], ["z"]):
                    infer_bad.append("infer %d: outputs %r" % (i, names))
                    continue
                got = output_array(res, names[0])
                if res.id != str(i) or got is None or not np.array_equal(got, x):
                    infer_bad.append("infer %d: wrong answer %r (id %r)" % (i, got, res.id))
                    continue
                seen[names[0]] += 1

        threads = [threading.Thread(target=putter), threading.Thread(target=inferrer)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=600)
        t.check(not any(th.is_alive() for th in threads), "concurrent puts and infers finished")
        t.check(not put_errors, "200 concurrent PutPipeline calls all succeed", "; ".join(put_errors[:5]))
        t.check(not put_not_replaced, "every concurrent PutPipeline replaced the previous version",
                "not replaced: %r" % put_not_replaced[:10])
        t.check(not infer_bad, "500 Infer calls during the puts: each a whole answer of version A (y) or B (z)",
                "%d bad, first: %s" % (len(infer_bad), "; ".join(infer_bad[:5])))
        print("     (answers: %d from version A, %d from version B)" % (seen["y"], seen["z"]), flush=True)
        # The last put (i = 199) was version A.
        x = np.ones((2, 2), dtype=np.float32)
        r = t.call("Infer flip after the puts", stub.Infer, infer_request("flip", x, input_name="x"))
        check_pipeline_answer(t, "Infer flip after the puts (the last version put)", r, x, "flip", out="y")
        t.eq(pipeline_names(t, admin, "after the concurrent puts"), sorted(base + ["affine", "flip", "two-step"]),
             "ListPipelines after the concurrent puts")

    t.stop_server(srv)


if __name__ == "__main__":
    harness.run(main)
