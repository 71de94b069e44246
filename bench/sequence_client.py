"""bench/sequence.sh's client: a stateful stream's per-chunk cost against the same model called stateless with the
state sent and received by the caller (issue #17's benchmark row). Same run, same client, rounds interleaved.

  /usr/bin/python3 bench/sequence_client.py JUNCTION [--chunks N per round] [--rounds R] [--hidden H]

Builds an LSTM step (python3-onnx helper: input [1, 1, 40] -> hidden H, h and c carried) twice in a temporary model
repository: `vad` with config.json {"sequence": ...} (the broker carries h and c) and `vad_plain` without (the
client sends h and c and reads h_n and c_n back). One junction serves both; each round sends N chunks on one
Broker.InferStream per kind, kept open, one chunk at a time (the next chunk goes when the answer of the last came
back, as a microphone's chunks do), in blocks of 200 chunks alternating between the two streams (so a change in the
machine's load hits both alike); it measures the wall time per chunk and junction's CPU time per chunk
(/proc/PID/stat). Prints one line per round, the totals and the ratios stateful / stateless, and the per-round
wall-time ratios. The answers of the two are compared too (within 1e-5): both compute the same thing.
"""
import argparse
import json
import os
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(path, hidden, inp=40):
    rng = np.random.default_rng(3)
    W = (rng.standard_normal((1, 4 * hidden, inp)) * 0.2).astype(np.float32)
    R = (rng.standard_normal((1, 4 * hidden, hidden)) * 0.2).astype(np.float32)
    B = (rng.standard_normal((1, 8 * hidden)) * 0.1).astype(np.float32)
    vi = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, s)  # noqa: E731
    g = helper.make_graph(
        [helper.make_node("LSTM", ["x", "W", "R", "B", "", "h", "c"], ["y", "h_n", "c_n"], hidden_size=hidden)],
        "vad", [vi("x", [1, 1, inp]), vi("h", [1, 1, hidden]), vi("c", [1, 1, hidden])],
        [vi("y", [1, 1, 1, hidden]), vi("h_n", [1, 1, hidden]), vi("c_n", [1, 1, hidden])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(R, "R"), numpy_helper.from_array(B, "B")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    m.ir_version = 8
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(m.SerializeToString())


def stubs(tmp):
    out = os.path.join(tmp, "stubs")
    os.makedirs(out)
    protos = ["junction/v1/tensor.proto", "junction/v1/contract.proto", "junction/v1/broker.proto"]
    subprocess.check_call([sys.executable, "-m", "grpc_tools.protoc", "-I" + os.path.join(ROOT, "proto"),
                           "--python_out=" + out, "--grpc_python_out=" + out] + protos)
    sys.path.insert(0, out)


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("junction")
    ap.add_argument("--chunks", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=64)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-seq-")
    stubs(tmp)
    import grpc
    from junction.v1 import broker_pb2, broker_pb2_grpc, contract_pb2, tensor_pb2

    models = os.path.join(tmp, "models")
    build(os.path.join(models, "vad", "model.onnx"), a.hidden)
    build(os.path.join(models, "vad_plain", "model.onnx"), a.hidden)
    with open(os.path.join(models, "vad", "config.json"), "w") as f:
        json.dump({"sequence": {"state": [{"input": "h", "output": "h_n"}, {"input": "c", "output": "c_n"}]}}, f)
    srv = subprocess.Popen([a.junction, "serve", "--grpc-port", "0", "--http-port", "0", "--state-dir", "none",
                            "--models", models], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = None
    for line in srv.stdout:
        m = re.search(r"serving gRPC on 127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    ch = grpc.insecure_channel("127.0.0.1:%d" % port)
    stub = broker_pb2_grpc.BrokerStub(ch)
    ticks = os.sysconf("SC_CLK_TCK")
    H = a.hidden
    xs = [(np.random.default_rng(i).standard_normal((1, 1, 40))).astype(np.float32) for i in range(a.chunks)]

    def tensor(name, arr):
        arr = np.ascontiguousarray(arr, dtype="<f4")
        return contract_pb2.Value(name=name, tensor=tensor_pb2.Tensor(datatype=tensor_pb2.FP32, shape=list(arr.shape),
                                                                      raw=arr.tobytes()))

    def arr(resp, name):
        for v in resp.outputs:
            if v.name == name:
                return np.frombuffer(v.tensor.raw, "<f4").reshape(tuple(v.tensor.shape))
        raise RuntimeError("no output %s in %s" % (name, resp))

    class Stream:
        """One InferStream kept open; chunks go one at a time (the next when the last one's answer came back)."""

        def __init__(self, stateful):
            self.stateful, self.q, self.next = stateful, queue.Queue(), 0
            self.h = np.zeros((1, 1, H), np.float32)
            self.c = np.zeros((1, 1, H), np.float32)
            self.ys = []

            def reqs():
                while True:
                    r = self.q.get()
                    if r is None:
                        return
                    yield r

            self.call = stub.InferStream(reqs())

        def req(self, i):
            r = broker_pb2.InferRequest(model="vad" if self.stateful else "vad_plain", id=str(i))
            r.inputs.append(tensor("x", xs[i % len(xs)]))
            if not self.stateful:
                r.inputs.extend([tensor("h", self.h), tensor("c", self.c)])
                r.outputs.extend(["y", "h_n", "c_n"])
            return r

        def block(self, n):
            """n chunks; returns (wall seconds, junction CPU ticks)."""
            t0, k0 = time.perf_counter(), cpu_ticks(srv.pid)
            for _ in range(n):
                self.q.put(self.req(self.next))
                self.next += 1
                resp = next(self.call)
                if resp.error.code:
                    raise RuntimeError(resp.error.message)
                self.ys.append(arr(resp, "y"))
                if not self.stateful:
                    self.h, self.c = arr(resp, "h_n").copy(), arr(resp, "c_n").copy()
            return time.perf_counter() - t0, cpu_ticks(srv.pid) - k0

        def close(self):
            self.q.put(None)
            for _ in self.call:
                pass

    streams = {True: Stream(True), False: Stream(False)}
    for st in streams.values():  # warm-up
        st.block(200)
    block = 200
    wall = {True: 0.0, False: 0.0}
    cpu = {True: 0, False: 0}
    ratios = []
    n_blocks = max(1, a.chunks // block)
    for r in range(a.rounds):
        rw = {True: 0.0, False: 0.0}
        rc = {True: 0, False: 0}
        for b in range(n_blocks):  # blocks alternate, so a change of load hits both alike
            for stateful in (True, False) if (r + b) % 2 == 0 else (False, True):
                w, k = streams[stateful].block(block)
                rw[stateful] += w
                rc[stateful] += k
        for k in (True, False):
            wall[k] += rw[k]
            cpu[k] += rc[k]
        ratios.append(rw[True] / rw[False])
        n = n_blocks * block
        print("round %d: stateful %7.1f us/chunk wall %6.1f us CPU | stateless %7.1f us/chunk wall %6.1f us CPU"
              % (r, rw[True] / n * 1e6, rc[True] / ticks / n * 1e6, rw[False] / n * 1e6,
                 rc[False] / ticks / n * 1e6), flush=True)
    for st in streams.values():
        st.close()
    m = min(len(streams[True].ys), len(streams[False].ys))
    same = all(np.allclose(p, q, atol=1e-5) for p, q in zip(streams[True].ys[:m], streams[False].ys[:m]))
    srv.terminate()
    srv.wait(timeout=30)
    total = a.rounds * n_blocks * block
    mw = {k: wall[k] / total * 1e6 for k in wall}
    mc = {k: cpu[k] / ticks / total * 1e6 for k in cpu}
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print("LSTM step hidden %d, %d chunks x %d rounds in blocks of %d alternating, one at a time on one InferStream "
          "each; load average %s" % (H, n_blocks * block, a.rounds, block, load))
    print("| per chunk (all rounds) | stateful (broker carries h, c) | stateless (caller sends h, c) | ratio |")
    print("|---|---|---|---|")
    print("| wall time | %.1f us | %.1f us | %.3f |" % (mw[True], mw[False], mw[True] / mw[False]))
    print("| junction CPU | %.1f us | %.1f us | %.3f |" % (mc[True], mc[False], mc[True] / mc[False]))
    print("wall-time ratio per round: %s (median %.3f)" % (" ".join("%.3f" % x for x in ratios),
                                                             statistics.median(ratios)))
    print("answers equal (within 1e-5):", "yes" if same else "NO")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
