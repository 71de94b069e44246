"""Helpers shared by the remote-engine tests (test_remote_*.py): third-party model server processes and Admin
calls. Imported after harness.generate_stubs has run (harness.pb is filled)."""
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time

import harness
from harness import pb

HERE = os.path.dirname(os.path.abspath(__file__))
KSERVE_SERVER = os.path.join(HERE, "kserve_v2_model_server.py")
READY_RE = re.compile(r"serving on 127\.0\.0\.1:(\d+)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Process:
    """A helper server process (python) that prints 'serving on 127.0.0.1:PORT' when ready."""

    def __init__(self, argv, workdir):
        self.argv = argv
        self.workdir = workdir
        self.proc = None
        self.port = None

    def start(self, timeout=60):
        self.err = open(os.path.join(self.workdir, "helper-%d.log" % id(self)), "ab")
        self.proc = subprocess.Popen(harness.die_with_parent(self.argv), stdout=subprocess.PIPE, stderr=self.err,
                                     stdin=subprocess.DEVNULL)
        lines = queue.Queue()

        def read():
            for raw in self.proc.stdout:
                lines.put(raw.decode("utf-8", "replace"))
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.time()))
            except queue.Empty:
                break
            if line is None:
                break
            m = READY_RE.search(line)
            if m:
                self.port = int(m.group(1))
                return self
        self.kill()
        raise RuntimeError("%s did not start" % " ".join(self.argv))

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            if sig == signal.SIGSTOP:  # delivery is asynchronous: return once the process is really stopped
                for _ in range(500):
                    try:
                        with open("/proc/%d/stat" % self.proc.pid) as f:
                            if f.read().rsplit(")", 1)[1].split()[0] in ("T", "t"):
                                break
                    except OSError:
                        break
                    time.sleep(0.002)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except OSError:
                pass
            self.proc.kill()
            self.proc.wait(timeout=30)


def start_kserve(t, port=0):
    p = Process([harness.PYTHON, KSERVE_SERVER, "--port", str(port), "--stubs", pb.gen_dir], t.workdir)
    p.start()
    t.helpers = getattr(t, "helpers", [])
    t.helpers.append(p)
    return p


def kill_helpers(t):
    for p in getattr(t, "helpers", []):
        p.kill()


def register(admin, name, endpoint, protocol="KSERVE_V2", model="", version="", timeout=30, **options):
    req = pb.admin.RegisterEngineRequest(name=name, endpoint=endpoint, model=model, version=version,
                                         protocol=getattr(pb.admin, protocol) if isinstance(protocol, str)
                                         else protocol)
    for k, v in options.items():
        req.options[k] = str(v)
    return admin.RegisterEngine(req, timeout=timeout)


def engine_info(admin, name):
    for e in admin.ListEngines(pb.admin.ListEnginesRequest(), timeout=30).engines:
        if e.name == name:
            return e
    return None


def model_info(broker, name):
    for m in broker.ListModels(pb.broker.ListModelsRequest(), timeout=30).models:
        if m.name == name:
            return m
    return None


def wait_for(pred, timeout, step=0.05):
    """Polls pred() until true or timeout; returns the last value."""
    deadline = time.time() + timeout
    v = pred()
    while not v and time.time() < deadline:
        time.sleep(step)
        v = pred()
    return v
