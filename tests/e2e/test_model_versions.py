#!/usr/bin/python3
"""Model versions end to end (issue #20 item 3): `junction serve --models DIR` with Triton's repository layout,
DIR/<name>/<version>/model.onnx and DIR/<name>/config.json, models built here by python3-onnx's helper (version k
multiplies its input by k, so every answer says which version served it).

- scale: versions 1, 2, 3, 10 with {"latest": {"num_versions": 2}}: 3 and 10 are served, 10 by default ("10" is
  numerically after "3"); v2 gRPC model_version, REST /versions/{v}/infer, junction.v1 `version` and the CLI's
  --version pick one; an unserved version is NOT_FOUND naming the ones there are; ModelMetadata lists both (gRPC and
  REST); the statistics extension reports one item per version with its own counts.
- pick: {"specific": {"versions": [1, 3]}}; every: {"all": {}}; one: no config (Triton's default, the latest only).
- bad: a policy naming a version that is not there, and an unknown policy: each skipped with its file named, the
  server serves the rest.
- a pipeline step "scale@3" (and the version in JSON written back as "version": "3").
- the v2 repository extension with an admin token: gRPC RepositoryIndex / RepositoryModelLoad /
  RepositoryModelUnload and REST POST /v2/repository/index, /models/{m}/load, /unload; refused without the token;
  unload then load (a version added on disk meanwhile is served); loads while 4 threads call: every answer comes
  wholly from one version (y = k x with k the answer's model_version); unknown models and unsupported parameters
  named; the loaded set survives a restart on the same state directory.

usage: /usr/bin/python3 tests/e2e/test_model_versions.py /path/to/junction
"""
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import harness  # noqa: E402
from harness import pb, v2_request, v2_output_array  # noqa: E402

TIMEOUT = 30


def scale_model(k):
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "k"], ["y"], name="scale")], "scale",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        [numpy_helper.from_array(np.array([float(k)], np.float32), "k")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def put_versions(d, name, versions, config=None):
    for v in versions:
        os.makedirs(os.path.join(d, name, str(v)), exist_ok=True)
        with open(os.path.join(d, name, str(v), "model.onnx"), "wb") as f:
            f.write(scale_model(v).SerializeToString())
    if config is not None:
        with open(os.path.join(d, name, "config.json"), "w") as f:
            json.dump(config, f)


def y_of(r):
    y, _ = v2_output_array(r, "y")
    return None if y is None else float(y[0][0])


def http_json(srv, path, body=None):
    rq = urllib.request.Request("http://%s%s" % (srv.http_address, path),
                                data=None if body is None else json.dumps(body).encode(),
                                headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(rq, timeout=TIMEOUT) as resp:
        return json.loads(resp.read())


def main(t):
    d = os.path.join(t.workdir, "models")
    put_versions(d, "scale", [1, 2, 3, 10], {"version_policy": {"latest": {"num_versions": 2}}})
    put_versions(d, "pick", [1, 2, 3], {"version_policy": {"specific": {"versions": [1, 3]}}})
    put_versions(d, "every", [1, 2], {"version_policy": {"all": {}}})
    put_versions(d, "one", [4, 5])
    put_versions(d, "bad", [1], {"version_policy": {"specific": {"versions": [7]}}})
    put_versions(d, "worse", [1], {"version_policy": {"newest": {}}})
    pdir = os.path.join(t.workdir, "pipelines")
    os.makedirs(pdir, exist_ok=True)
    with open(os.path.join(pdir, "p.json"), "w") as f:
        json.dump({"name": "at3", "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, 2]}],
                   "steps": [{"id": "s", "model": "scale@3", "inputs": {"x": "x"}}],
                   "outputs": [{"name": "y", "from": "s.y"}]}, f)
    srv = t.start_server(["--models", d, "--pipelines", pdir, "--http-port", "any"])
    ch = srv.channel()
    v2 = srv.v2(ch)
    stub = srv.broker(ch)
    x = np.ones((1, 2), np.float32)

    with t.case("the version policy decides what is served; the default is the highest"):
        got = {}
        for name, versions in (("scale", ["", "3", "10"]), ("pick", ["", "1", "3"]), ("every", ["", "1", "2"]),
                               ("one", ["", "5"])):
            for v in versions:
                req = v2_request(name, x, input_name="x")
                req.model_version = v
                r = t.call("%s version %r" % (name, v), v2.ModelInfer, req)
                got[(name, v)] = (y_of(r), r.model_version) if r else None
        t.eq(got, {("scale", ""): (10.0, "10"), ("scale", "3"): (3.0, "3"), ("scale", "10"): (10.0, "10"),
                   ("pick", ""): (3.0, "3"), ("pick", "1"): (1.0, "1"), ("pick", "3"): (3.0, "3"),
                   ("every", ""): (2.0, "2"), ("every", "1"): (1.0, "1"), ("every", "2"): (2.0, "2"),
                   ("one", ""): (5.0, "5"), ("one", "5"): (5.0, "5")},
             "each call is answered by the version asked for (y = k x), the highest by default")
    with t.case("a version not served is NOT_FOUND naming those there are"):
        for name, v, avail in (("scale", "2", "'3', '10'"), ("pick", "2", "'1', '3'"), ("one", "4", "'5'")):
            req = v2_request(name, x, input_name="x")
            req.model_version = v
            try:
                v2.ModelInfer(req, timeout=TIMEOUT)
                t.check(False, "%s version %s: refused" % (name, v), "answered")
            except grpc.RpcError as e:
                t.check_rpc_error(e, grpc.StatusCode.NOT_FOUND, "%s version %s" % (name, v),
                                  "model '%s' has no version '%s' (available: %s)" % (name, v, avail))
    with t.case("bad version policies: skipped, the file named"):
        err = srv.stderr_tail() if hasattr(srv, "stderr_tail") else ""
        t.check("model 'bad' skipped" in err and "version_policy.specific: there is no version 7" in err,
                "bad: skipped for its missing version 7", err[-800:])
        t.check("model 'worse' skipped" in err and "worse/config.json: version_policy: expected one of" in err,
                "worse: skipped for its unknown policy", err[-800:])
    with t.case("REST, junction.v1 and the CLI pick versions too"):
        r = http_json(srv, "/v2/models/scale/versions/3/infer",
                      {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 1]}]})
        t.eq((r["model_version"], r["outputs"][0]["data"][0]), ("3", 3.0), "REST /versions/3/infer")
        r = http_json(srv, "/v2/models/scale/infer",
                      {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 1]}]})
        t.eq((r["model_version"], r["outputs"][0]["data"][0]), ("10", 10.0), "REST default: 10")
        req = harness.infer_request("scale", x, input_name="x")
        req.version = "3"
        r = t.call("v1 Infer version 3", stub.Infer, req)
        if r:
            t.eq(r.version, "3", "junction.v1 Infer version 3 answers as version 3")
        p = subprocess.run([t.binary, "infer", "--server", srv.address, "--model", "scale", "--version", "3",
                            "--input", "x=1,1", "--json"], capture_output=True, text=True, timeout=60)
        t.check(p.returncode == 0 and "3" in p.stdout and '"version": "3"' in p.stdout.replace('":"', '": "'),
                "junction infer --version 3", p.stdout[:400] + p.stderr[:400])
    with t.case("metadata lists the versions served"):
        r = t.call("ModelMetadata scale", v2.ModelMetadata, pb.v2.ModelMetadataRequest(name="scale"))
        if r:
            t.eq(list(r.versions), ["3", "10"], "gRPC ModelMetadata versions")
        t.eq(http_json(srv, "/v2/models/scale")["versions"], ["3", "10"], "REST metadata versions")
        t.eq(http_json(srv, "/v2/models/pick")["versions"], ["1", "3"], "REST metadata versions of pick")
        r = t.call("v1 GetModel scale", stub.GetModel, pb.broker.GetModelRequest(name="scale", version="3"))
        if r:
            t.eq(list(r.versions), ["3", "10"], "junction.v1 GetModel versions")
        r = t.call("v1 ListModels", stub.ListModels, pb.broker.ListModelsRequest())
        if r:
            mine = [(m.name, list(m.versions)) for m in r.models if m.name in ("scale", "pick", "every", "one")]
            t.eq(mine, [("every", ["1", "2"]), ("one", ["5"]), ("pick", ["1", "3"]), ("scale", ["3", "10"])],
                 "junction.v1 ListModels: one entry per name with its versions")
    with t.case("statistics: one item per version"):
        st = http_json(srv, "/v2/models/scale/stats")["model_stats"]
        counts = {s["version"]: s["inference_stats"]["success"]["count"] for s in st}
        t.eq(sorted(counts), ["10", "3"], "scale stats: versions 3 and 10")
        t.check(counts.get("3", 0) >= 3 and counts.get("10", 0) >= 3, "each version counted its own calls",
                repr(counts))
        r = t.call("gRPC ModelStatistics scale", v2.ModelStatistics, pb.v2.ModelStatisticsRequest(name="scale"))
        if r:
            t.eq(sorted((m.version, m.inference_stats.success.count) for m in r.model_stats),
                 sorted(counts.items()), "gRPC ModelStatistics: the same items")
        st3 = http_json(srv, "/v2/models/scale/versions/3/stats")["model_stats"]
        t.eq([s["version"] for s in st3], ["3"], "versions/3/stats: that version only")
    with t.case("a pipeline step calls model@version"):
        r = t.call("at3", v2.ModelInfer, v2_request("at3", x, input_name="x"))
        if r:
            t.eq(y_of(r), 3.0, "at3: scale@3 answered (y = 3 x)")
    t.stop_server(srv)


ADMIN_TOKEN = "repo-admin-token-0123456789"


def auth():
    return [("authorization", "Bearer " + ADMIN_TOKEN)]


def http_post(srv, path, body=None, token=ADMIN_TOKEN):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    rq = urllib.request.Request("http://%s%s" % (srv.http_address, path), method="POST", headers=headers,
                                data=json.dumps(body).encode() if body is not None else b"")
    try:
        with urllib.request.urlopen(rq, timeout=TIMEOUT) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def index_of(v2, ready=False):
    r = v2.RepositoryIndex(pb.v2.RepositoryIndexRequest(ready=ready), timeout=TIMEOUT, metadata=auth())
    return sorted((m.name, m.version, m.state, m.reason) for m in r.models)


def group_repository(t):
    d = os.path.join(t.workdir, "repo")
    put_versions(d, "rep", [1, 2], {"version_policy": {"all": {}}})
    os.makedirs(os.path.join(d, "flat"), exist_ok=True)
    with open(os.path.join(d, "flat", "model.onnx"), "wb") as f:
        f.write(scale_model(7).SerializeToString())
    token_file = os.path.join(t.workdir, "admin.token")
    with open(token_file, "w") as f:
        f.write(ADMIN_TOKEN + "\n")
    state = os.path.join(t.workdir, "repo-state")
    args = ["--models", d, "--admin-token-file", token_file, "--http-port", "any", "--state-dir", state]
    srv = t.start_server(args)
    v2 = srv.v2(srv.channel())
    x = np.ones((1, 2), np.float32)

    with t.case("repository: admin calls, refused without the token"):
        try:
            v2.RepositoryIndex(pb.v2.RepositoryIndexRequest(), timeout=TIMEOUT)
            t.check(False, "RepositoryIndex without a token: refused", "answered")
        except grpc.RpcError as e:
            t.eq(e.code(), grpc.StatusCode.UNAUTHENTICATED, "RepositoryIndex without a token: UNAUTHENTICATED")
        status, _ = http_post(srv, "/v2/repository/index", {}, token=None)
        t.eq(status, 401, "POST /v2/repository/index without a token: 401")
        r = v2.ServerMetadata(pb.v2.ServerMetadataRequest(), timeout=TIMEOUT)
        t.check("model_repository" in r.extensions, "ServerMetadata lists model_repository", repr(list(r.extensions)))
    with t.case("repository index, unload, load (gRPC and REST)"):
        t.eq(index_of(v2), [("flat", "", "READY", ""), ("rep", "1", "READY", ""), ("rep", "2", "READY", "")],
             "RepositoryIndex: every model and version, READY")
        status, doc = http_post(srv, "/v2/repository/index", {"ready": True})
        t.eq((status, sorted((m["name"], m["version"], m["state"]) for m in doc)),
             (200, [("flat", "", "READY"), ("rep", "1", "READY"), ("rep", "2", "READY")]), "REST index ready")
        v2.RepositoryModelUnload(pb.v2.RepositoryModelUnloadRequest(model_name="rep"), timeout=TIMEOUT,
                                 metadata=auth())
        t.eq(index_of(v2), [("flat", "", "READY", ""), ("rep", "1", "UNAVAILABLE", "unloaded"),
                            ("rep", "2", "UNAVAILABLE", "unloaded")], "after unload: UNAVAILABLE, unloaded")
        t.eq(index_of(v2, ready=True), [("flat", "", "READY", "")], "ready=true: only the loaded one")
        try:
            v2.ModelInfer(v2_request("rep", x, input_name="x"), timeout=TIMEOUT)
            t.check(False, "rep after unload: NOT_FOUND", "answered")
        except grpc.RpcError as e:
            t.eq(e.code(), grpc.StatusCode.NOT_FOUND, "rep after unload: NOT_FOUND")
        put_versions(d, "rep", [3])  # a new version on disk
        status, doc = http_post(srv, "/v2/repository/models/rep/load", {})
        t.eq((status, doc), (200, {}), "REST load rep")
        t.eq(index_of(v2, ready=True), [("flat", "", "READY", ""), ("rep", "1", "READY", ""), ("rep", "2", "READY", ""),
                                        ("rep", "3", "READY", "")], "after load: versions 1, 2 and the new 3")
        r = v2.ModelInfer(v2_request("rep", x, input_name="x"), timeout=TIMEOUT)
        t.eq((r.model_version, y_of(r)), ("3", 3.0), "rep's default is now 3")
        status, doc = http_post(srv, "/v2/repository/models/flat/unload", {"parameters": {"unload_dependents": True}})
        t.eq((status, doc), (200, {}), "REST unload flat (unload_dependents accepted)")
        v2.RepositoryModelLoad(pb.v2.RepositoryModelLoadRequest(model_name="flat"), timeout=TIMEOUT, metadata=auth())
        r = v2.ModelInfer(v2_request("flat", x, input_name="x"), timeout=TIMEOUT)
        t.eq(y_of(r), 7.0, "flat loaded again by gRPC")
    with t.case("repository errors named"):
        try:
            v2.RepositoryModelLoad(pb.v2.RepositoryModelLoadRequest(model_name="nope"), timeout=TIMEOUT,
                                   metadata=auth())
            t.check(False, "load nope: refused", "loaded")
        except grpc.RpcError as e:
            t.check_rpc_error(e, grpc.StatusCode.NOT_FOUND, "load nope", "model 'nope'", "nope/model.onnx")
        req = pb.v2.RepositoryModelLoadRequest(model_name="rep")
        req.parameters["config"].string_param = "{}"
        try:
            v2.RepositoryModelLoad(req, timeout=TIMEOUT, metadata=auth())
            t.check(False, "load with config: refused", "loaded")
        except grpc.RpcError as e:
            t.check_rpc_error(e, grpc.StatusCode.UNIMPLEMENTED, "load with config", "parameter 'config' is not supported")
        status, doc = http_post(srv, "/v2/repository/models/rep/load", {"parameters": {"file:1/model.onnx": "AA=="}})
        t.check(status == 501 and "parameter 'file:1/model.onnx' is not supported" in doc.get("error", ""),
                "REST load with a file parameter: 501 naming it", repr((status, doc)))
        status, doc = http_post(srv, "/v2/repository/index", {"ready": "yes"})
        t.check(status == 400 and "'ready' must be a boolean" in doc.get("error", ""), "REST index: bad ready",
                repr((status, doc)))
        try:
            v2.RepositoryIndex(pb.v2.RepositoryIndexRequest(repository_name="other"), timeout=TIMEOUT,
                               metadata=auth())
            t.check(False, "index of another repository: refused", "answered")
        except grpc.RpcError as e:
            t.check_rpc_error(e, grpc.StatusCode.NOT_FOUND, "index of another repository", "no repository 'other'")
    with t.case("loads while calls run: each call served wholly by one version"):
        stop, bad, seen, calls = threading.Event(), [], set(), [0]

        def caller():
            while not stop.is_set():
                try:
                    r = v2.ModelInfer(v2_request("rep", x, input_name="x"), timeout=TIMEOUT)
                    k = float(r.model_version)
                    seen.add(r.model_version)
                    if y_of(r) != k:
                        bad.append("version %s answered %r" % (r.model_version, y_of(r)))
                except grpc.RpcError as e:
                    bad.append(e.details())
                calls[0] += 1

        threads = [threading.Thread(target=caller) for _ in range(4)]
        for th in threads:
            th.start()
        for k in range(8):
            policy = {"latest": {"num_versions": 1}} if k % 2 == 0 else {"specific": {"versions": [1, 2]}}
            with open(os.path.join(d, "rep", "config.json"), "w") as f:
                json.dump({"version_policy": policy}, f)
            v2.RepositoryModelLoad(pb.v2.RepositoryModelLoadRequest(model_name="rep"), timeout=TIMEOUT,
                                   metadata=auth())
        stop.set()
        for th in threads:
            th.join()
        t.eq(bad[:3], [], "%d calls across 8 loads: no broken or failed answer" % calls[0])
        t.check(seen >= {"2", "3"}, "both defaults were served (3 with latest 1, 2 with specific [1, 2])", repr(seen))
    t.stop_server(srv)
    with t.case("the loaded set survives a restart on the same state directory"):
        srv = t.start_server(args)
        v2 = srv.v2(srv.channel())
        t.eq(index_of(v2, ready=True), [("flat", "", "READY", ""), ("rep", "1", "READY", ""), ("rep", "2", "READY", "")],
             "after restart: the last load's versions (specific [1, 2])")
        t.stop_server(srv)


def all_groups(t):
    with t.case("group: versions"):
        main(t)
    with t.case("group: repository"):
        group_repository(t)


if __name__ == "__main__":
    harness.run(all_groups)
