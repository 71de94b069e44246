#!/usr/bin/python3
"""Cluster mode end to end: three junction replicas on one etcd (Debian's etcd-server, started here on free ports).

- a pipeline put through replica B (gRPC Admin) is served by A and C within 1 s (the convergence time is printed); a
  remote engine registered through A (Admin.RegisterEngine, a KServe v2 server) is called through B and C within 1 s;
  one put through A over HTTP and deleted through C converges the same way;
- kill -9 of A: B and C keep serving, and a change on B still reaches C;
- conflicting concurrent updates of one pipeline through B and C: every refused one is FAILED_PRECONDITION naming
  the other replica's change; afterwards B, C and etcd agree on one version;
- a self-registered engine (a Python junction.v1.Engine process heartbeating to B) is served by C too; killed -9,
  it is gone from both after its TTL (the etcd lease ends);
- etcd stopped: B and C keep serving what they have; a change is refused at once with UNAVAILABLE; etcd restarted:
  a change made then reaches both;
- a malformed --registry URL stops the start with a message naming it.

usage: /usr/bin/python3 tests/e2e/test_cluster.py /path/to/junction
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402
import remote_util as ru  # noqa: E402
from harness import pb, infer_request, output_array  # noqa: E402

CONVERGE_S = 1.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Etcd:
    """Debian's etcd, one member, on free loopback ports, data in the test's work dir."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "etcd")
        self.client, self.peer = free_port(), free_port()
        self.proc = None

    @property
    def url(self):
        return "etcd://127.0.0.1:%d" % self.client

    def start(self):
        binary = shutil.which("etcd") or "/usr/bin/etcd"
        self.log = open(os.path.join(os.path.dirname(self.dir), "etcd.log"), "ab")
        self.proc = subprocess.Popen(
            [binary, "--name", "t", "--data-dir", self.dir,
             "--listen-client-urls", "http://127.0.0.1:%d" % self.client,
             "--advertise-client-urls", "http://127.0.0.1:%d" % self.client,
             "--listen-peer-urls", "http://127.0.0.1:%d" % self.peer,
             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % self.peer,
             "--initial-cluster", "t=http://127.0.0.1:%d" % self.peer],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/health" % self.client, timeout=1) as r:
                    if b"true" in r.read():
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("etcd did not become healthy within 30 s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def chain(name, steps=1, out="y"):
    return {
        "name": name,
        "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}],
        "steps": [{"id": "s%d" % i, "model": "identity", "inputs": {"input": "x" if i == 0 else "s%d.output" % (i - 1)}}
                  for i in range(steps)],
        "outputs": [{"name": out, "from": "s%d.output" % (steps - 1)}],
    }


def put(srv, d, timeout=harness.RPC_TIMEOUT):
    return srv.admin().PutPipeline(pb.admin.PutPipelineRequest(spec_json=json.dumps(d)), timeout=timeout)


def listed(srv):
    return {p.name: p for p in srv.admin().ListPipelines(pb.admin.ListPipelinesRequest(), timeout=10).pipelines}


def serves(srv, name, out="y"):
    x = np.arange(4, dtype=np.float32).reshape(2, 2)
    try:
        r = srv.broker().Infer(infer_request(name, x, input_name="x"), timeout=5)
    except grpc.RpcError:
        return False
    got = output_array(r, out)
    return got is not None and np.array_equal(got, x)


def wait_until(cond, limit):
    t0 = time.time()
    while time.time() - t0 < limit:
        if cond():
            return time.time() - t0
        time.sleep(0.02)
    return None


def main(t):
    etcd = Etcd(t.workdir).start()
    try:
        run(t, etcd)
    finally:
        ru.kill_helpers(t)
        etcd.stop()


def run(t, etcd):
    args = ["--registry", etcd.url, "--http-port", "any"]
    a = t.start_server(args, probe=False)
    b = t.start_server(args, probe=False)
    c = t.start_server(args, probe=False)

    with t.case("a put through B reaches A and C"):
        t.call("PutPipeline p1 through B", put, b, chain("p1"))
        for name, srv in (("A", a), ("C", c)):
            took = wait_until(lambda: serves(srv, "p1"), 10)
            t.check(took is not None and took <= CONVERGE_S, "replica %s serves p1 within %.1f s" % (name, CONVERGE_S),
                    "took %s" % took)
            print("     (p1 reached %s in %.0f ms)" % (name, (took or 0) * 1000), flush=True)

    with t.case("a remote engine registered through A is called through B and C"):
        # Each step is bounded well inside the test's time limit, so a stall names its step instead of timing out.
        t_start = time.time()
        ks = ru.start_kserve(t)
        print("     (KServe helper up in %.2f s)" % (time.time() - t_start), flush=True)
        t0 = time.time()
        t.call("RegisterEngine scale2 through A", ru.register, a.admin(), "scale2", ks.address, model="scale2",
               timeout=15)
        print("     (RegisterEngine answered in %.2f s)" % (time.time() - t0), flush=True)
        x = np.arange(6, dtype=np.float32).reshape(2, 3)

        def scales(srv):
            try:
                r = srv.broker().Infer(infer_request("scale2", x, input_name="x"), timeout=2)
            except grpc.RpcError:
                return False
            y = output_array(r, "y")
            return y is not None and np.array_equal(y, 2 * x)
        took = wait_until(lambda: scales(b) and scales(c), 10)
        t.check(took is not None and took <= CONVERGE_S, "B and C call scale2 within %.1f s" % CONVERGE_S, took)
        print("     (scale2, registered through A, answered through B and C %.0f ms after the registration's answer; "
              "%.0f ms from its start)" % ((took or 0) * 1000, (time.time() - t0) * 1000), flush=True)

    with t.case("a put through A over HTTP, deleted through C"):
        req = urllib.request.Request("http://%s/v1/pipelines/p2" % a.http_address, data=json.dumps(chain("p2", 2)).encode(),
                                     method="PUT", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            t.eq(r.status, 201, "PUT /v1/pipelines/p2 on A -> 201")
        took = wait_until(lambda: serves(b, "p2") and serves(c, "p2"), 10)
        t.check(took is not None and took <= CONVERGE_S, "B and C serve p2 within %.1f s" % CONVERGE_S, took)
        t.call("DeletePipeline p2 through C", c.admin().DeletePipeline, pb.admin.DeletePipelineRequest(name="p2"))
        took = wait_until(lambda: "p2" not in listed(a) and "p2" not in listed(b), 10)
        t.check(took is not None and took <= CONVERGE_S, "p2 is gone from A and B within %.1f s" % CONVERGE_S, took)

    with t.case("kill -9 of A"):
        a.proc.send_signal(signal.SIGKILL)
        a.wait(10)
        t.check(serves(b, "p1") and serves(c, "p1"), "B and C still serve p1 after A is killed")
        t.call("PutPipeline p3 through B (A dead)", put, b, chain("p3"))
        took = wait_until(lambda: serves(c, "p3"), 10)
        t.check(took is not None and took <= CONVERGE_S, "p3 reaches C within %.1f s with A dead" % CONVERGE_S, took)

    with t.case("conflicting concurrent updates through B and C"):
        results = {"ok": 0, "conflict": 0, "other": []}
        lock = threading.Lock()

        def writer(srv, tag):
            for i in range(25):
                d = chain("contested", 1 + (i % 3), out="y")
                d["description"] = "%s-%d" % (tag, i)
                try:
                    put(srv, d)
                    with lock:
                        results["ok"] += 1
                except grpc.RpcError as e:
                    with lock:
                        if e.code() == grpc.StatusCode.FAILED_PRECONDITION and "changed by another replica" in (
                                e.details() or ""):
                            results["conflict"] += 1
                        else:
                            results["other"].append("%s %s" % (e.code().name, e.details()))

        threads = [threading.Thread(target=writer, args=(srv, "%s%d" % (n, k)))
                   for n, srv in (("B", b), ("C", c)) for k in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
        print("     (%d updates applied, %d refused as conflicts)" % (results["ok"], results["conflict"]), flush=True)
        t.check(not results["other"], "every refused update is FAILED_PRECONDITION naming the other replica's change",
                results["other"][:3])
        t.check(results["ok"] > 0 and results["conflict"] > 0,
                "some updates win, and the conflicting ones are refused (none silently overwritten)",
                "%d ok, %d conflicts" % (results["ok"], results["conflict"]))
        took = wait_until(lambda: (listed(b).get("contested") or pb.pipeline.PipelineSpec()).description ==
                          (listed(c).get("contested") or pb.pipeline.PipelineSpec()).description != "", 10)
        t.check(took is not None, "B and C agree on one version of the contested pipeline afterwards",
                "%r vs %r" % (listed(b).get("contested"), listed(c).get("contested")))

    with t.case("a self-registered engine on every replica, gone after its lease when killed"):
        here = os.path.dirname(os.path.abspath(__file__))
        eng = ru.Process([harness.PYTHON, os.path.join(here, "native_engine_server.py"), "--stubs", pb.gen_dir,
                          "--broker", b.address, "--name", "py-double", "--interval-ms", "200", "--ttl-ms", "1500"],
                         t.workdir)
        eng.start()
        t.helpers = getattr(t, "helpers", []) + [eng]
        x = np.arange(4, dtype=np.float32).reshape(2, 2)

        def doubles(srv):
            try:
                r = srv.broker().Infer(infer_request("py-double", x, input_name="x"), timeout=5)
            except grpc.RpcError:
                return False
            y = output_array(r, "y")
            return y is not None and np.array_equal(y, 2 * x)
        took = wait_until(lambda: doubles(b) and doubles(c), 10)
        t.check(took is not None, "the engine heartbeating to B is served by B and by C", took)
        print("     (py-double served by B and C %.2f s after its start)" % (took or -1), flush=True)
        eng.kill()
        t0 = time.time()
        gone = wait_until(lambda: "py-double" not in [m.name for m in c.broker().ListModels(
            pb.broker.ListModelsRequest(), timeout=5).models], 15)
        t.check(gone is not None and gone <= 6, "killed -9, it is gone from C after its lease (%.2f s)" % (gone or -1),
                gone)
        gone_b = wait_until(lambda: "py-double" not in [m.name for m in b.broker().ListModels(
            pb.broker.ListModelsRequest(), timeout=5).models], 15)
        t.check(gone_b is not None, "and from B (%.2f s after the kill)" % (time.time() - t0))

    with t.case("etcd stopped, then restarted"):
        etcd.stop()
        time.sleep(0.5)
        t.check(serves(b, "p1") and serves(c, "p3"), "with etcd down, B and C keep serving what they have")
        t0 = time.time()
        t.expect_error("PutPipeline with etcd down -> UNAVAILABLE", b.admin().PutPipeline,
                       grpc.StatusCode.UNAVAILABLE, "cluster registry is unreachable",
                       args=(pb.admin.PutPipelineRequest(spec_json=json.dumps(chain("p4"))),), alive=False)
        t.check(time.time() - t0 < 5, "the refusal comes at once (%.2f s), not after a long hang" % (time.time() - t0))
        etcd.start()
        took = wait_until(lambda: _put_ok(b, chain("p4")), 20)
        t.check(took is not None, "after etcd restarts, a put through B succeeds again", took)
        took = wait_until(lambda: serves(c, "p4"), 10)
        t.check(took is not None and took <= 5, "and reaches C (%.2f s)" % (took or -1), took)

    with t.case("a malformed --registry"):
        r = subprocess.run([t.binary, "serve", "--grpc-port", "0", "--http-port", "0", "--registry", "etcd://nohost"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        err = r.stderr.decode(errors="replace")
        t.check(r.returncode != 0 and "etcd://nohost" in err and "host:port" in err,
                "--registry etcd://nohost -> refused, naming it", err[-300:])

    for srv in (b, c):
        t.stop_server(srv)


def _put_ok(srv, d):
    try:
        put(srv, d, timeout=5)
        return True
    except grpc.RpcError:
        return False


if __name__ == "__main__":
    harness.run(main)
