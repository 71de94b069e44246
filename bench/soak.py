#!/usr/bin/python3
"""Soak (issue #9; a benchmark, not a test): junction under steady load for a long time while a remote engine flaps.

One `junction serve` with a KServe v2 remote (tests/e2e/kserve_v2_model_server.py, registered as `scale2` through
--remotes). For DURATION seconds, with grpc.aio on one event loop:
  - OPEN_STREAMS InferStreams stay open, each sending an `identity` request every STREAM_PERIOD seconds;
  - UNARY_TASKS tasks call unary Infer in a loop, alternating `identity` and the remote `scale2`;
  - the remote server is killed (SIGKILL) and restarted on the same port every FLAP_PERIOD seconds.
Every answer is checked. Every SAMPLE seconds it reads junction's RSS and open file descriptors from /proc. At the end:
RSS growth after the warm-up (first WARMUP seconds), fd growth, errors by status code and model (calls to `scale2`
while the remote is down are expected to fail UNAVAILABLE; anything else is counted as unexplained).

usage: /usr/bin/python3 bench/soak.py /path/to/junction     (env: DURATION=600 WARMUP=60 OPEN_STREAMS=1000
       UNARY_TASKS=8 STREAM_PERIOD=2 FLAP_PERIOD=30 SAMPLE=10)
"""
import asyncio
import collections
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.dont_write_bytecode = True

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402

ENV = os.environ.get
DURATION = float(ENV("DURATION", "600"))
WARMUP = float(ENV("WARMUP", "60"))
OPEN_STREAMS = int(ENV("OPEN_STREAMS", "1000"))
UNARY_TASKS = int(ENV("UNARY_TASKS", "8"))
STREAM_PERIOD = float(ENV("STREAM_PERIOD", "2"))
FLAP_PERIOD = float(ENV("FLAP_PERIOD", "30"))
SAMPLE = float(ENV("SAMPLE", "10"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_sample(pid):
    with open("/proc/%d/status" % pid) as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return rss, len(os.listdir("/proc/%d/fd" % pid))


class Remote:
    def __init__(self, port, stubs, work):
        self.port, self.stubs, self.work, self.proc = port, stubs, work, None

    def start(self):
        self.proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "e2e", "kserve_v2_model_server.py"),
                                      "--port", str(self.port), "--stubs", self.stubs],
                                     stdout=subprocess.PIPE, stderr=open(os.path.join(self.work, "remote.log"), "ab"))
        line = self.proc.stdout.readline().decode()
        if "serving on" not in line:
            raise RuntimeError("remote did not start: %r" % line)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


async def main_async(binary, work):
    harness.generate_stubs(work)
    pb = harness.pb
    rport = free_port()
    remote = Remote(rport, pb.gen_dir, work)
    remote.start()
    remotes = os.path.join(work, "remotes.json")
    with open(remotes, "w") as f:
        f.write('[{"name": "scale2", "endpoint": "127.0.0.1:%d", "protocol": "kserve_v2", "model": "scale2"}]' % rport)
    srv = harness.Server(binary, ["--remotes", remotes, "--state-dir", "none"], work).start()
    pid = srv.proc.pid
    target = "127.0.0.1:%d" % srv.port
    opts = [("grpc.max_concurrent_streams", 0), ("grpc.enable_retries", 0)]
    channels = [grpc.aio.insecure_channel(target, options=opts) for _ in range(4)]
    stubs = [pb.broker_grpc.BrokerStub(ch) for ch in channels]
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    counts = collections.Counter()
    errors = collections.Counter()
    remote_down = {"down": False}
    t_end = time.monotonic() + DURATION
    samples = []

    def req(model, i):
        return harness.infer_request(model, x, id=str(i), input_name="x" if model == "scale2" else "input")

    async def stream_task(k):
        stub = stubs[k % len(stubs)]
        q = asyncio.Queue()

        async def requests():
            while True:
                item = await q.get()
                if item is None:
                    return
                yield item
        call = stub.InferStream(requests())
        i = 0
        try:
            while time.monotonic() < t_end:
                await q.put(req("identity", i))
                m = await call.read()
                out = harness.output_array(m, "output")
                if out is None or not np.array_equal(out, x):
                    errors[("stream", "wrong answer")] += 1
                else:
                    counts["stream"] += 1
                i += 1
                await asyncio.sleep(STREAM_PERIOD)
            await q.put(None)
            await call.done_writing() if hasattr(call, "done_writing") else None
        except grpc.aio.AioRpcError as e:
            errors[("stream", e.code().name)] += 1

    async def unary_task(k):
        stub = stubs[k % len(stubs)]
        i = 0
        while time.monotonic() < t_end:
            model = "scale2" if i % 2 else "identity"
            try:
                r = await stub.Infer(req(model, i), timeout=10)
                want = 2 * x if model == "scale2" else x
                got = harness.output_array(r, "y" if model == "scale2" else "output")
                if got is None or not np.array_equal(got, want):
                    errors[(model, "wrong answer")] += 1
                else:
                    counts[model] += 1
            except grpc.aio.AioRpcError as e:
                explained = model == "scale2" and e.code() in (grpc.StatusCode.UNAVAILABLE,
                                                                grpc.StatusCode.DEADLINE_EXCEEDED)
                errors[(model, e.code().name + ("" if explained else " (unexplained)"))] += 1
                await asyncio.sleep(0.05)
            i += 1

    async def flapper():
        while time.monotonic() < t_end:
            await asyncio.sleep(FLAP_PERIOD / 2)
            remote.kill()
            counts["flaps"] += 1
            await asyncio.sleep(FLAP_PERIOD / 2)
            await asyncio.get_running_loop().run_in_executor(None, remote.start)

    async def sampler():
        t0 = time.monotonic()
        while time.monotonic() < t_end:
            rss, fds = proc_sample(pid)
            samples.append((time.monotonic() - t0, rss, fds))
            await asyncio.sleep(SAMPLE)

    tasks = [asyncio.create_task(stream_task(k)) for k in range(OPEN_STREAMS)]
    tasks += [asyncio.create_task(unary_task(k)) for k in range(UNARY_TASKS)]
    tasks += [asyncio.create_task(flapper()), asyncio.create_task(sampler())]
    await asyncio.gather(*tasks, return_exceptions=True)
    rss, fds = proc_sample(pid)
    samples.append((DURATION, rss, fds))
    for ch in channels:
        await ch.close()
    remote.kill()
    srv.signal(signal.SIGTERM)
    rc = srv.wait(60)

    after = [s for s in samples if s[0] >= WARMUP]
    base = after[0] if after else samples[0]
    end = samples[-1]
    growth = (end[1] - base[1]) * 100.0 / base[1]
    unexplained = {k: v for k, v in errors.items() if "unexplained" in k[1] or k[1] == "wrong answer"}
    print("soak: %.0f s, %d open streams, %d unary tasks, remote flapped %d times" % (DURATION, OPEN_STREAMS,
                                                                                   UNARY_TASKS, counts["flaps"]))
    print("| what | value |\n|---|---|")
    print("| answers (streams / identity / scale2) | %d / %d / %d |" % (counts["stream"], counts["identity"],
                                                                      counts["scale2"]))
    print("| RSS after warm-up (%.0f s) -> end | %d kB -> %d kB (%+.1f %%) |" % (base[0], base[1], end[1], growth))
    print("| open fds after warm-up -> end | %d -> %d |" % (base[2], end[2]))
    print("| errors | %s |" % (", ".join("%s %s: %d" % (k[0], k[1], v) for k, v in sorted(errors.items())) or "none"))
    print("| unexplained errors | %d |" % sum(unexplained.values()))
    print("| junction exit status after SIGTERM | %s |" % rc)
    print("RSS samples (s, kB, fds): %s" % " ".join("%.0f:%d:%d" % s for s in samples))
    ok = growth <= 5.0 and end[2] <= base[2] + 8 and not unexplained and rc == 0
    print("soak targets (RSS growth <= 5 %%, no fd leak, only explained errors, clean exit): %s" %
          ("met" if ok else "NOT met"))
    return 0 if ok else 1


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    work = tempfile.mkdtemp(prefix="junction-soak-")
    return asyncio.run(main_async(sys.argv[1], work))


if __name__ == "__main__":
    sys.exit(main())
