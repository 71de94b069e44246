"""End-to-end test harness for the junction binary (run with Debian's /usr/bin/python3).

Each test script does:

    import harness
    def main(t):               # t is a harness.Suite
        srv = t.start_server()  # real binary, --grpc-port 0 (and --http-port 0), port parsed from its ready line
        ...
    harness.run(main)

and is run as `/usr/bin/python3 tests/e2e/test_x.py /path/to/junction` (or with JUNCTION_BIN set). It prints one
line per check and closes with exactly `N passed, M failed`; the exit status is non-zero on any failure.

Stubs are generated at test time from /work/main/proto (../../proto from here) into a temporary directory:
  1. `/usr/bin/python3 -m grpc_tools.protoc` (Debian python3-grpc-tools; it bundles protoc 3.5.1 and emits old-style
     descriptor code). On Debian bookworm (grpcio 1.51, protobuf 4.21 with the cpp backend) that code imports and
     works: this is the path that is used there.
  2. Fallback, if (1) fails or its output does not import/round-trip under the installed protobuf:
     `protoc --python_out --grpc_python_out --plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin`
     (Debian protobuf-compiler 3.21 + protobuf-compiler-grpc), whose output matches protobuf 4.21.
grpc/health/v1/health.proto would generate a Python package `grpc.health...` that clashes with grpcio's own `grpc`
package, so it is copied to jn_health/v1/health.proto first (the proto package, and so the wire names
/grpc.health.v1.Health/..., are unchanged).

Tests assert behaviour (status codes and messages), never timings; deadlines exist only so nothing hangs.
"""
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.dont_write_bytecode = True

import grpc  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))
PYTHON = "/usr/bin/python3"
PROTO_FILES = [
    "junction/v1/tensor.proto",
    "junction/v1/contract.proto",
    "junction/v1/broker.proto",
    "junction/v1/pipeline.proto",
    "junction/v1/admin.proto",
    "junction/v1/engine.proto",
    "inference/grpc_service.proto",
    "jn_health/v1/health.proto",  # copied from grpc/health/v1/health.proto, see above
]
SANITIZER_RE = re.compile(r"ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|SUMMARY: \w+Sanitizer")
READY_RE = re.compile(r"^junction: serving gRPC on 127\.0\.0\.1:(\d+)$")
# Printed before the gRPC line when HTTP is on (tests that want HTTP pass --http-port any; all others get
# --http-port 0, HTTP off, so parallel servers never collide on the default port 8000).
HTTP_READY_RE = re.compile(r"^junction: serving HTTP on 127\.0\.0\.1:(\d+)$")

# Generous per-RPC deadline: only there so that a broken server fails a check instead of hanging the suite.
RPC_TIMEOUT = 30.0
# How long the server may take to print its ready line (ASan builds start slower).
START_TIMEOUT = 60.0

CODE_NAMES = {c.value[0]: c for c in grpc.StatusCode}


class pb:
    """Generated modules, filled by generate_stubs()."""

    tensor = contract = broker = broker_grpc = v2 = v2_grpc = health = health_grpc = None
    pipeline = admin = admin_grpc = None
    engine = engine_grpc = None
    generator = None


_SMOKE = r"""
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
from junction.v1 import tensor_pb2, contract_pb2, broker_pb2, broker_pb2_grpc
from inference import grpc_service_pb2, grpc_service_pb2_grpc
from jn_health.v1 import health_pb2, health_pb2_grpc
r = broker_pb2.InferRequest(model="m", id="x", inputs=[contract_pb2.Value(name="a", tensor=tensor_pb2.Tensor(
    datatype=tensor_pb2.FP32, shape=[1, 2], raw=b"12345678"))])
r.parameters["k"].int64_value = 3
r2 = broker_pb2.InferRequest.FromString(r.SerializeToString())
assert r2 == r and r2.inputs[0].WhichOneof("value") == "tensor" and r2.parameters["k"].int64_value == 3
v = grpc_service_pb2.ModelInferRequest(model_name="m")
v.parameters["p"].string_param = "s"
v.inputs.add(name="i", datatype="FP32", shape=[1]).contents.fp32_contents.append(1.0)
assert grpc_service_pb2.ModelInferRequest.FromString(v.SerializeToString()) == v
assert health_pb2.HealthCheckResponse.SERVICE_UNKNOWN == 3
assert broker_pb2.DESCRIPTOR.services_by_name["Broker"].full_name == "junction.v1.Broker"
assert health_pb2.DESCRIPTOR.services_by_name["Health"].full_name == "grpc.health.v1.Health"
from junction.v1 import pipeline_pb2, admin_pb2, admin_pb2_grpc
ps = pipeline_pb2.PipelineSpec(name="p", steps=[pipeline_pb2.PipelineStep(id="a", model="m")])
ps.steps[0].inputs["input"].CopyFrom(pipeline_pb2.Binding(**{"from": "x", "cast": tensor_pb2.FP32}))
assert admin_pb2.PutPipelineRequest.FromString(admin_pb2.PutPipelineRequest(spec=ps).SerializeToString()).spec == ps
"""


def generate_stubs(workdir):
    """Generates the Python stubs into workdir/gen and imports them into `pb`. Returns a description."""
    src = os.path.join(workdir, "proto")
    shutil.copytree(PROTO_ROOT, src)
    os.makedirs(os.path.join(src, "jn_health", "v1"))
    shutil.move(os.path.join(src, "grpc", "health", "v1", "health.proto"),
                os.path.join(src, "jn_health", "v1", "health.proto"))
    shutil.rmtree(os.path.join(src, "grpc"))
    attempts = [
        ("grpc_tools.protoc", [PYTHON, "-m", "grpc_tools.protoc"]),
        ("protoc + grpc_python_plugin",
         ["protoc", "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"]),
    ]
    errors = []
    for label, cmd in attempts:
        out = os.path.join(workdir, "gen-" + label.split()[0].replace(".", "_"))
        os.makedirs(out)
        argv = cmd + ["-I", src, "--python_out=" + out, "--grpc_python_out=" + out] + PROTO_FILES
        try:
            p = subprocess.run(argv, cwd=src, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            errors.append("%s: %s" % (label, e))
            continue
        if p.returncode != 0:
            errors.append("%s: exit %d: %s" % (label, p.returncode, p.stderr.strip()))
            continue
        smoke = subprocess.run([PYTHON, "-c", _SMOKE, out], capture_output=True, text=True, timeout=120)
        if smoke.returncode != 0:
            errors.append("%s: generated code does not work: %s" % (label, smoke.stderr.strip()[-2000:]))
            continue
        sys.path.insert(0, out)
        from junction.v1 import tensor_pb2, contract_pb2, broker_pb2, broker_pb2_grpc
        from inference import grpc_service_pb2, grpc_service_pb2_grpc
        from jn_health.v1 import health_pb2, health_pb2_grpc
        from junction.v1 import pipeline_pb2, admin_pb2, admin_pb2_grpc
        pb.pipeline, pb.admin, pb.admin_grpc = pipeline_pb2, admin_pb2, admin_pb2_grpc
        from junction.v1 import engine_pb2, engine_pb2_grpc
        pb.engine, pb.engine_grpc = engine_pb2, engine_pb2_grpc
        pb.gen_dir = out
        pb.tensor, pb.contract, pb.broker, pb.broker_grpc = tensor_pb2, contract_pb2, broker_pb2, broker_pb2_grpc
        pb.v2, pb.v2_grpc = grpc_service_pb2, grpc_service_pb2_grpc
        pb.health, pb.health_grpc = health_pb2, health_pb2_grpc
        pb.generator = label
        return label
    raise RuntimeError("cannot generate Python stubs:\n  " + "\n  ".join(errors))


# Server process ------------------------------------------------------------------------------------------------------

SETPRIV = shutil.which("setpriv")  # util-linux (essential in Debian)


def die_with_parent(argv):
    """argv, run so that the kernel SIGKILLs the process when this test process dies (a ctest timeout): setpriv sets
    PR_SET_PDEATHSIG and execs argv, keeping the pid. Not a preexec_fn: that makes subprocess fork() and run Python in
    the child, which can hang in a process with threads (gRPC's, the tests' load threads) before exec; without it
    subprocess spawns with vfork and runs nothing in the child."""
    return [SETPRIV, "--pdeathsig", "KILL", "--"] + list(argv) if SETPRIV else list(argv)


class Server:
    """The real junction binary, started with `serve --grpc-port 0 --host 127.0.0.1 [extra args]`, plus
    `--http-port 0` (HTTP off) unless the extra args set --http-port, and `--state-dir <a fresh temp dir>` unless
    they set --state-dir."""

    def __init__(self, binary, args=(), workdir=None):
        self.binary = binary
        self.args = list(args)
        http = [] if "--http-port" in self.args else ["--http-port", "0"]
        # Every server keeps its run-time registrations in a state directory of its own (tests run in parallel and
        # must not restore each other's pipelines), unless the test names one.
        state = [] if "--state-dir" in self.args else [
            "--state-dir", tempfile.mkdtemp(prefix="junction-state-", dir=workdir or tempfile.gettempdir())]
        self.argv = [binary, "serve", "--grpc-port", "0", "--host", "127.0.0.1"] + http + state + self.args
        self.proc = None
        self.port = None
        self.http_port = None  # set when the server printed its HTTP line
        self.stdout_lines = []
        self._lines = queue.Queue()
        self._stderr_path = None
        self._stderr_file = None
        self._workdir = workdir or tempfile.gettempdir()
        self._channels = []
        self._reader = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    @property
    def http_address(self):
        return "127.0.0.1:%d" % self.http_port

    def start(self, timeout=START_TIMEOUT):
        fd, self._stderr_path = tempfile.mkstemp(prefix="junction-stderr-", suffix=".log", dir=self._workdir)
        self._stderr_file = os.fdopen(fd, "wb")
        self.proc = subprocess.Popen(die_with_parent(self.argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._stderr_file)
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise RuntimeError("%s: no ready line within %.0f s\n%s" % (" ".join(self.argv), timeout,
                                                                         self.stderr_tail()))
        if line is not None:
            m = HTTP_READY_RE.match(line)
            if m:  # the HTTP line comes first; the gRPC line says the server is ready
                self.http_port = int(m.group(1))
                try:
                    line = self._lines.get(timeout=timeout)
                except queue.Empty:
                    self.kill()
                    raise RuntimeError("%s: no gRPC ready line within %.0f s after the HTTP line\n%s"
                                       % (" ".join(self.argv), timeout, self.stderr_tail()))
        if line is None:
            rc = self.proc.wait()
            raise RuntimeError("%s: exited with status %s before printing its ready line\n%s"
                               % (" ".join(self.argv), rc, self.stderr_tail()))
        m = READY_RE.match(line)
        if not m:
            self.kill()
            raise RuntimeError("%s: first stdout line is %r, expected 'junction: serving gRPC on 127.0.0.1:PORT'"
                               % (" ".join(self.argv), line))
        self.port = int(m.group(1))
        return self

    def _read_stdout(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stdout_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def channel(self, **options):
        opts = {
            "grpc.max_receive_message_length": -1,
            "grpc.max_send_message_length": -1,
            "grpc.enable_http_proxy": 0,
            "grpc.enable_retries": 0,
        }
        opts.update(options)
        ch = grpc.insecure_channel(self.address, options=list(opts.items()))
        self._channels.append(ch)
        return ch

    def broker(self, channel=None):
        return pb.broker_grpc.BrokerStub(channel or self.channel())

    def v2(self, channel=None):
        return pb.v2_grpc.GRPCInferenceServiceStub(channel or self.channel())

    def health(self, channel=None):
        return pb.health_grpc.HealthStub(channel or self.channel())

    def admin(self, channel=None):
        return pb.admin_grpc.AdminStub(channel or self.channel())

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.running():
            self.proc.send_signal(sig)

    def wait(self, timeout):
        """Exit status, or None if still running after timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def close_channels(self):
        for ch in self._channels:
            try:
                ch.close()
            except Exception:
                pass
        self._channels = []

    def kill(self):
        """Always safe; SIGKILLs the process if it is still running."""
        self.close_channels()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self._stderr_file is not None and not self._stderr_file.closed:
            self._stderr_file.close()

    def stderr_text(self):
        if not self._stderr_path:
            return ""
        try:
            if self._stderr_file is not None and not self._stderr_file.closed:
                self._stderr_file.flush()
            with open(self._stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stderr_tail(self, n=40):
        lines = self.stderr_text().splitlines()
        if not lines:
            return "(server stderr is empty)"
        return "server stderr (last %d lines):\n    " % min(n, len(lines)) + "\n    ".join(lines[-n:])


# Checks --------------------------------------------------------------------------------------------------------------

class CheckFailed(Exception):
    pass


class Suite:
    """Counts checks. A failed check prints FAIL and goes on; `case` isolates whole groups from exceptions."""

    def __init__(self, binary, workdir):
        self.binary = binary
        self.workdir = workdir
        self.passed = 0
        self.failed = 0
        self.failures = []
        self.servers = []
        self.server = None  # the server that expect_error's "still serving" check probes

    # counting
    def ok(self, what):
        self.passed += 1
        print("ok   %s" % what, flush=True)
        return True

    def fail(self, what, detail=""):
        self.failed += 1
        msg = "FAIL %s" % what + (": %s" % detail if detail else "")
        self.failures.append(msg)
        print(msg, flush=True)
        return False

    def check(self, cond, what, detail=""):
        return self.ok(what) if cond else self.fail(what, detail)

    def eq(self, got, want, what):
        return self.check(got == want, what, "expected %r, got %r" % (want, got))

    def case(self, name):
        return _Case(self, name)

    # servers
    def start_server(self, args=(), probe=True):
        srv = Server(self.binary, args, self.workdir)
        self.servers.append(srv)
        srv.start()
        if probe:
            self.server = srv
        return srv

    def stop_server(self, srv, sig=signal.SIGTERM, timeout=60.0):
        """Signals the server, checks it exits 0 and printed exactly its one ready line."""
        srv.close_channels()
        srv.signal(sig)
        rc = srv.wait(timeout)
        if rc is None:
            self.fail("server exits after %s" % signal.Signals(sig).name,
                      "still running after %.0f s; killed\n%s" % (timeout, srv.stderr_tail()))
            srv.kill()
            return None
        srv.kill()
        self.check(rc == 0, "server exits with status 0 after %s" % signal.Signals(sig).name,
                   "exit status %d\n%s" % (rc, srv.stderr_tail()))
        if srv.http_port is None:
            self.check(len(srv.stdout_lines) == 1, "server printed exactly one stdout line",
                       "stdout lines: %r" % srv.stdout_lines[:10])
        else:
            self.check(len(srv.stdout_lines) == 2, "server printed exactly its HTTP and gRPC lines",
                       "stdout lines: %r" % srv.stdout_lines[:10])
        self.check_sanitizer_reports(srv)
        if self.server is srv:
            self.server = None
        return rc

    def check_cut_off(self, fut, what, timeout=60):
        """A call future the server's shutdown cut off (past --grace-ms) must end with an error: not succeed, not
        stay pending."""
        try:
            fut.result(timeout=timeout)
            self.fail("%s ends with an error" % what, "it succeeded")
        except grpc.RpcError as e:
            self.check(e.code() != grpc.StatusCode.OK, "%s ends with an error (%s)" % (what, e.code().name))
        except grpc.FutureTimeoutError:
            self.fail("%s ends" % what, "still pending")

    def check_sanitizer_reports(self, srv):
        """Sanitizer builds: any ASan/UBSan/LSan report on the server's stderr is a failure (most also make the exit
        status non-zero, which is checked separately)."""
        err = srv.stderr_text()
        hits = [l for l in err.splitlines() if SANITIZER_RE.search(l)]
        return self.check(not hits, "no sanitizer reports on the server's stderr", "\n    ".join(hits[:10]))

    # RPC checks
    def call(self, what, fn, *args, **kwargs):
        """Runs an RPC that must succeed; returns its result, or None after recording a failure."""
        kwargs.setdefault("timeout", RPC_TIMEOUT)
        try:
            return fn(*args, **kwargs)
        except grpc.RpcError as e:
            self.fail(what, "RPC failed: %s" % describe_rpc_error(e))
            return None

    def expect_error(self, what, fn, code, *substrings, alive=True, **kwargs):
        """Runs fn (an RPC callable plus its arguments in kwargs['args']) expecting a grpc.RpcError with `code` whose
        details contain every substring; then checks the server is still serving."""
        args = kwargs.pop("args", ())
        kwargs.setdefault("timeout", RPC_TIMEOUT)
        try:
            res = fn(*args, **kwargs)
        except grpc.RpcError as e:
            self.check_rpc_error(e, code, what, *substrings)
        else:
            self.fail(what, "expected %s %s, the call succeeded: %s"
                      % (code.name, _fmt_subs(substrings), _short(res)))
        if alive:
            self.still_serving(what)

    def check_rpc_error(self, err, code, what, *substrings):
        got_code = err.code() if hasattr(err, "code") else None
        details = (err.details() if hasattr(err, "details") else str(err)) or ""
        missing = [s for s in substrings if s not in details]
        if got_code != code or missing:
            return self.fail(what, "expected %s %s, got %s %r" % (code.name, _fmt_subs(substrings),
                                                                     got_code.name if got_code else got_code, details))
        return self.ok(what)

    def check_status(self, code_num, message, code, what, *substrings):
        """For in-stream errors given as (int code, message)."""
        missing = [s for s in substrings if s not in (message or "")]
        want = code.value[0]
        if code_num != want or missing:
            got = CODE_NAMES.get(code_num)
            return self.fail(what, "expected %s %s, got %s %r" % (code.name, _fmt_subs(substrings),
                                                                     got.name if got else code_num, message))
        return self.ok(what)

    def still_serving(self, after):
        """The probe server is alive and answers an identity Infer correctly."""
        srv = self.server
        if srv is None:
            return True
        what = "server still serving after: %s" % after
        if not srv.running():
            return self.fail(what, "process exited with status %s\n%s" % (srv.proc.poll(), srv.stderr_tail()))
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        try:
            stub = getattr(srv, "_probe_stub", None)
            if stub is None:
                stub = srv._probe_stub = srv.broker()
            r = stub.Infer(infer_request("identity", x, id="probe"), timeout=RPC_TIMEOUT)
        except grpc.RpcError as e:
            return self.fail(what, "identity Infer failed: %s\n%s" % (describe_rpc_error(e), srv.stderr_tail()))
        out = output_array(r, "output")
        return self.check(out is not None and np.array_equal(out, x), what, "identity answered %s" % _short(r))

    def summary(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)


class _Case:
    def __init__(self, suite, name):
        self.suite, self.name = suite, name

    def __enter__(self):
        print("--- %s" % self.name, flush=True)
        return self

    def __exit__(self, et, ev, tb):
        if et is None or not issubclass(et, Exception):
            return False  # SystemExit (the test was signalled), KeyboardInterrupt: stop everything
        self.suite.fail("%s: unexpected exception" % self.name,
                        "".join(traceback.format_exception(et, ev, tb)).rstrip())
        return True  # go on with the next case


def _fmt_subs(subs):
    return ("with details containing %r" % (list(subs),)) if subs else ""


def _short(x, n=300):
    s = str(x).replace("\n", " ")
    return s if len(s) <= n else s[:n] + "..."


def describe_rpc_error(e):
    code = e.code() if hasattr(e, "code") else None
    det = e.details() if hasattr(e, "details") else str(e)
    return "%s %r" % (code.name if code else code, det)


# Message builders / readers ------------------------------------------------------------------------------------------

def fp32_tensor(arr, name=""):
    a = np.ascontiguousarray(np.asarray(arr, dtype="<f4"))
    return pb.tensor.Tensor(name=name, datatype=pb.tensor.FP32, shape=list(a.shape), raw=a.tobytes())


def tensor_value(name, tensor):
    return pb.contract.Value(name=name, tensor=tensor)


def set_param(params_map, key, value):
    """junction.v1 Parameter map entry from a Python value."""
    p = params_map[key]
    if isinstance(value, bool):
        p.bool_value = value
    elif isinstance(value, int):
        p.int64_value = value
    elif isinstance(value, float):
        p.double_value = value
    else:
        p.string_value = value


def set_v2_param(params_map, key, value):
    p = params_map[key]
    if isinstance(value, bool):
        p.bool_param = value
    elif isinstance(value, int):
        p.int64_param = value
    elif isinstance(value, float):
        p.double_param = value
    else:
        p.string_param = value


def infer_request(model, arr=None, id="", params=None, outputs=None, input_name="input", values=None):
    """junction.v1 InferRequest with one FP32 tensor input (or the given Values)."""
    req = pb.broker.InferRequest(model=model, id=id)
    if values is not None:
        req.inputs.extend(values)
    elif arr is not None:
        req.inputs.append(tensor_value(input_name, fp32_tensor(arr)))
    for k, v in (params or {}).items():
        set_param(req.parameters, k, v)
    if outputs:
        req.outputs.extend(outputs)
    return req


def tensor_array(t):
    """numpy array of a junction.v1 Tensor with raw FP32 data (None if it is not one)."""
    if t.datatype != pb.tensor.FP32:
        return None
    n = int(np.prod(t.shape)) if len(t.shape) else 1
    if len(t.raw) != 4 * n:
        return None
    return np.frombuffer(t.raw, dtype="<f4").reshape(tuple(t.shape))


def output_array(resp, name):
    for v in resp.outputs:
        if v.name == name and v.WhichOneof("value") == "tensor":
            return tensor_array(v.tensor)
    return None


def v2_request(model, arr=None, id="", raw=True, params=None, outputs=None, input_name="input"):
    req = pb.v2.ModelInferRequest(model_name=model, id=id)
    if arr is not None:
        a = np.ascontiguousarray(np.asarray(arr, dtype="<f4"))
        inp = req.inputs.add(name=input_name, datatype="FP32", shape=list(a.shape))
        if raw:
            req.raw_input_contents.append(a.tobytes())
        else:
            inp.contents.fp32_contents.extend(a.reshape(-1).tolist())
    for k, v in (params or {}).items():
        set_v2_param(req.parameters, k, v)
    for o in outputs or ():
        req.outputs.add(name=o)
    return req


def v2_output_array(resp, name):
    """FP32 output from a ModelInferResponse, whether raw or typed; (array, form) or (None, reason)."""
    for i, o in enumerate(resp.outputs):
        if o.name != name:
            continue
        if o.datatype != "FP32":
            return None, "datatype %r" % o.datatype
        shape = tuple(o.shape)
        if resp.raw_output_contents:
            if i >= len(resp.raw_output_contents):
                return None, "no raw_output_contents entry %d" % i
            return np.frombuffer(resp.raw_output_contents[i], dtype="<f4").reshape(shape), "raw"
        return np.asarray(o.contents.fp32_contents, dtype=np.float32).reshape(shape), "typed"
    return None, "no output %r" % name


class RequestQueue:
    """A request iterator for a client stream that yields what is put into it until close()."""

    _END = object()

    def __init__(self):
        self._q = queue.Queue()

    def put(self, item):
        self._q.put(item)

    def close(self):
        self._q.put(self._END)

    def __iter__(self):
        return self

    def __next__(self):
        item = self._q.get()
        if item is self._END:
            raise StopIteration
        return item


def next_or_none(it, timeout):
    """Next message from a response stream, waiting at most `timeout` seconds in a helper thread.
    Returns ('msg', m), ('end', None) or ('error', RpcError), or ('timeout', None)."""
    box = queue.Queue()

    def pull():
        try:
            box.put(("msg", next(it)))
        except StopIteration:
            box.put(("end", None))
        except grpc.RpcError as e:
            box.put(("error", e))
        except Exception as e:  # pragma: no cover
            box.put(("error", e))

    threading.Thread(target=pull, daemon=True).start()
    try:
        return box.get(timeout=timeout)
    except queue.Empty:
        return ("timeout", None)


def unary_raw(channel, method):
    """A generic unary callable sending/receiving raw bytes (identity serializers)."""
    return channel.unary_unary(method, request_serializer=None, response_deserializer=None)


# Entry point ---------------------------------------------------------------------------------------------------------

def binary_from_argv():
    if len(sys.argv) > 1:
        return os.path.abspath(sys.argv[1])
    env = os.environ.get("JUNCTION_BIN")
    if env:
        return os.path.abspath(env)
    return None


def run(main):
    """Parses argv, generates stubs, runs main(suite), always kills the servers, prints the summary, exits."""
    binary = binary_from_argv()
    if not binary:
        sys.stderr.write("usage: %s /path/to/junction   (or set JUNCTION_BIN)\n" % sys.argv[0])
        sys.exit(2)
    # A SIGTERM/SIGINT to the test (ctest timeout, ^C) still runs the cleanup below.
    def _on_signal(signum, frame):
        raise SystemExit("killed by signal %d" % signum)
    signal.signal(signal.SIGTERM, _on_signal)
    workdir = tempfile.mkdtemp(prefix="junction-e2e-")
    suite = Suite(binary, workdir)
    interrupted = False
    try:
        if not os.access(binary, os.X_OK):
            suite.fail("binary %s is executable" % binary)
        else:
            how = generate_stubs(workdir)
            print("stubs generated with %s (grpcio %s)" % (how, grpc.__version__), flush=True)
            try:
                main(suite)
            except Exception:
                suite.fail("test script raised", traceback.format_exc().rstrip())
    except Exception:
        suite.fail("harness setup", traceback.format_exc().rstrip())
    except BaseException as e:  # SystemExit from the signal handler, KeyboardInterrupt
        interrupted = True
        suite.fail("test interrupted", repr(e))
    finally:
        for srv in suite.servers:
            if srv.running() and not interrupted:  # not stopped by the test itself: SIGTERM it, check its exit status, then kill
                try:
                    suite.stop_server(srv)
                except Exception:
                    suite.fail("stopping the server", traceback.format_exc().rstrip())
            srv.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    if suite.failures:
        print("\nfailures:", flush=True)
        for f in suite.failures:
            print("  " + f.splitlines()[0], flush=True)
    suite.summary()
    sys.stdout.flush()
    os._exit(0 if suite.failed == 0 and suite.passed > 0 else 1)
