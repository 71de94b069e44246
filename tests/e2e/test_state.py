#!/usr/bin/python3
"""Nothing lost on restart: the state directory (`junction serve --state-dir DIR`) end to end.

- pipelines put through Admin (gRPC) and PUT /v1/pipelines (HTTP) are served again after a restart, deletions stay
  deleted, a re-put keeps its latest version;
- kill -9 in the middle of 200 concurrent PutPipeline calls (8 at a time): after a restart every acknowledged pipeline
  is listed and answers; nothing half-written is served;
- a corrupt (one byte changed) or torn (truncated) state.json is reported on stderr and the previous state is used;
  both files unusable -> the start is refused naming both; a state dir that is a file -> refused naming it;
- a record that cannot be served at start (it uses a pipeline that is gone) is reported and kept, and is served again
  once what it needs is back; `--state-dir none` keeps nothing.

usage: /usr/bin/python3 tests/e2e/test_state.py /path/to/junction
"""
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402
from harness import pb, infer_request, output_array  # noqa: E402


def chain(name, steps=1, model="identity", out="y"):
    return {
        "name": name,
        "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}],
        "steps": [{"id": "s%d" % i, "model": model, "inputs": {"input": "x" if i == 0 else "s%d.output" % (i - 1)}}
                  for i in range(steps)],
        "outputs": [{"name": out, "from": "s%d.output" % (steps - 1)}],
    }


def put(admin, d, timeout=harness.RPC_TIMEOUT):
    return admin.PutPipeline(pb.admin.PutPipelineRequest(spec_json=json.dumps(d)), timeout=timeout)


def names(t, srv, what):
    r = t.call("ListPipelines (%s)" % what, srv.admin().ListPipelines, pb.admin.ListPipelinesRequest())
    return set(p.name for p in r.pipelines) if r else set()


def answers(t, srv, name, out="y", what=""):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    r = t.call("Infer %s %s" % (name, what), srv.broker().Infer, infer_request(name, x, input_name="x"))
    got = output_array(r, out) if r else None
    return got is not None and np.array_equal(got, x)


def http_put(srv, d):
    req = urllib.request.Request("http://%s/v1/pipelines/%s" % (srv.http_address, d["name"]),
                                 data=json.dumps(d).encode(), method="PUT",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status


def start_fails(t, what, state_dir, *substrings):
    argv = [t.binary, "serve", "--grpc-port", "0", "--http-port", "0", "--host", "127.0.0.1", "--state-dir", state_dir]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    err = r.stderr.decode(errors="replace")
    missing = [s for s in substrings if s not in err]
    t.check(r.returncode != 0 and not missing, what, "exit %d, stderr %r (missing %r)" % (r.returncode, err[-500:],
                                                                                           missing))


def restart_cycle(t):
    d = os.path.join(t.workdir, "state-a")
    srv = t.start_server(["--state-dir", d, "--http-port", "any"])
    admin = srv.admin()
    with t.case("puts through gRPC and HTTP, a delete, a re-put"):
        for n in ("keep-1", "keep-2", "gone"):
            t.call("PutPipeline %s" % n, put, admin, chain(n))
        t.call("PutPipeline keep-2 again, 3 steps and output z", put, admin, chain("keep-2", 3, out="z"))
        t.eq(http_put(srv, chain("via-http", 2)), 201, "PUT /v1/pipelines/via-http -> 201")
        t.call("DeletePipeline gone", admin.DeletePipeline, pb.admin.DeletePipelineRequest(name="gone"))
    t.stop_server(srv)
    srv = t.start_server(["--state-dir", d])
    with t.case("after a restart"):
        got = names(t, srv, "after restart")
        t.check({"keep-1", "keep-2", "via-http"} <= got and "gone" not in got,
                "after a restart: keep-1, keep-2, via-http listed; gone not", sorted(got))
        t.check(answers(t, srv, "keep-1"), "keep-1 answers after the restart")
        t.check(answers(t, srv, "keep-2", out="z"), "keep-2 answers with its latest version (output z)")
        t.check(answers(t, srv, "via-http"), "via-http (put over HTTP) answers after the restart")
        t.check("3 of 3 records restored" in srv.stderr_text(), "the server says 3 of 3 records restored",
                srv.stderr_tail(5))
    t.stop_server(srv)
    return d


def kill_during_burst(t):
    d = os.path.join(t.workdir, "state-burst")
    srv = t.start_server(["--state-dir", d])
    acked, lock, stop = [], threading.Lock(), threading.Event()
    counter = iter(range(200))

    def worker():
        admin = srv.admin()
        while not stop.is_set():
            with lock:
                i = next(counter, None)
            if i is None:
                return
            name = "burst-%03d" % i
            try:
                put(admin, chain(name, 1 + i % 3))
            except grpc.RpcError:
                return  # the server died under us: not acknowledged
            with lock:
                acked.append(name)
                if len(acked) == 100:
                    srv.proc.send_signal(signal.SIGKILL)
                    stop.set()

    with t.case("kill -9 during 200 concurrent registrations"):
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
        srv.wait(30)
        t.check(len(acked) >= 100, "at least 100 registrations acknowledged before the kill", len(acked))
        srv2 = t.start_server(["--state-dir", d])
        got = names(t, srv2, "after kill -9")
        lost = sorted(set(acked) - got)
        t.check(not lost, "every acknowledged registration is back after kill -9 (%d acknowledged, %d listed)"
                % (len(acked), len([n for n in got if n.startswith("burst-")])), "lost: %r" % lost[:10])
        bad = [n for n in sorted(got) if n.startswith("burst-") and not answers(t, srv2, n, what="after kill -9")]
        t.check(not bad, "every restored burst pipeline answers", bad[:10])
        t.stop_server(srv2)


def corruption(t, d):
    path = os.path.join(d, "state.json")
    with t.case("a corrupt state.json: reported, the previous state used"):
        data = bytearray(open(path, "rb").read())
        data[len(data) // 2] ^= 0x20
        open(path, "wb").write(bytes(data))
        srv = t.start_server(["--state-dir", d])
        err = srv.stderr_text()
        t.check("unusable" in err and "checksum" in err and "state.json.prev" in err,
                "stderr reports the corrupt file and the fallback", srv.stderr_tail(5))
        got = names(t, srv, "after corruption")
        # The previous state is the set before the last change (the DELETE of 'gone'), so 'gone' is back: the last
        # good state, served whole.
        t.check({"keep-1", "keep-2", "via-http", "gone"} <= got, "the previous state's pipelines are served",
                sorted(got))
        t.stop_server(srv)
    with t.case("a torn state.json: reported, the previous state used"):
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) - 7])
        srv = t.start_server(["--state-dir", d])
        t.check("torn" in srv.stderr_text(), "stderr says the state file is torn", srv.stderr_tail(5))
        t.check("keep-1" in names(t, srv, "after a torn file"), "keep-1 still served")
        t.stop_server(srv)
    with t.case("both files unusable: refused"):
        for f in ("state.json", "state.json.prev"):
            open(os.path.join(d, f), "wb").write(b"junction-state 1 5 00000000\nhello")
        start_fails(t, "both state files corrupt -> the start is refused naming both", d, "state.json:",
                    "state.json.prev:", "checksum")
    with t.case("a state dir that is a file: refused"):
        f = os.path.join(t.workdir, "not-a-dir")
        open(f, "w").write("x")
        start_fails(t, "--state-dir naming a file -> refused naming it", f, f)


def unrestorable(t):
    d = os.path.join(t.workdir, "state-deps")
    pdir = os.path.join(t.workdir, "pdir")
    os.makedirs(pdir, exist_ok=True)
    with open(os.path.join(pdir, "base.json"), "w") as f:
        json.dump(chain("base"), f)
    srv = t.start_server(["--state-dir", d, "--pipelines", pdir])
    on_base = chain("on-base")
    on_base["steps"][0]["model"] = "base"
    on_base["steps"][0]["inputs"] = {"x": "x"}
    on_base["outputs"] = [{"name": "y", "from": "s0.y"}]
    with t.case("a record whose dependency is gone at start"):
        t.call("PutPipeline on-base (uses base from --pipelines)", put, srv.admin(), on_base)
        t.stop_server(srv)
        srv = t.start_server(["--state-dir", d])  # no --pipelines: base is gone
        err = srv.stderr_text()
        t.check("pipeline 'on-base' not restored (kept in the state directory)" in err and "'base'" in err,
                "on-base is reported as not restored, naming base", srv.stderr_tail(5))
        t.check("on-base" not in names(t, srv, "without base"), "on-base is not served without base")
        t.stop_server(srv)
        srv = t.start_server(["--state-dir", d, "--pipelines", pdir])
        t.check(answers(t, srv, "on-base"), "with base back, on-base is restored and answers")
        t.stop_server(srv)
    with t.case("--state-dir none keeps nothing"):
        srv = t.start_server(["--state-dir", "none"])
        t.call("PutPipeline ephemeral", put, srv.admin(), chain("ephemeral"))
        t.stop_server(srv)
        srv = t.start_server(["--state-dir", "none"])
        t.check("ephemeral" not in names(t, srv, "none"), "with --state-dir none a put does not survive a restart")
        t.stop_server(srv)


def main(t):
    d = restart_cycle(t)
    kill_during_burst(t)
    corruption(t, d)
    unrestorable(t)


if __name__ == "__main__":
    harness.run(main)
