#!/usr/bin/python3
"""The junction command line: --help, bad flags and bad commands (usage on stderr, exit 2), and a server started
with every serve flag.

usage: /usr/bin/python3 tests/e2e/test_cli.py /path/to/junction
"""
import os
import re
import signal
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import harness  # noqa: E402
from harness import pb, infer_request  # noqa: E402

CLI_TIMEOUT = 30.0
READY_RE = re.compile(r"^junction: serving gRPC on \S+:\d+$", re.M)


def run_cli(t, args):
    """(status, stdout, stderr); a command still running after CLI_TIMEOUT is killed and reported."""
    argv = [t.binary] + args
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=CLI_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        t.fail("junction %s terminates" % " ".join(args), "still running after %.0f s (killed); stdout %r"
               % (CLI_TIMEOUT, (e.stdout or b"")[:300]))
        return None, "", ""
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def expect_help(t, args, must_mention):
    what = "junction %s" % " ".join(args)
    rc, out, err = run_cli(t, args)
    if rc is None:
        return
    t.eq(rc, 0, "%s: exit status 0" % what)
    text = out + err
    t.check(text.strip() != "", "%s: prints help" % what)
    missing = [w for w in must_mention if w not in text]
    t.check(not missing, "%s: help mentions %s" % (what, must_mention), "missing %r in %r" % (missing, text[:500]))
    t.check(not READY_RE.search(out), "%s: does not start a server" % what, out[:200])


def expect_usage_error(t, args):
    what = "junction %s" % " ".join(args)
    rc, out, err = run_cli(t, args)
    if rc is None:
        return
    t.eq(rc, 2, "%s: exit status 2" % what)
    t.check("usage" in err.lower(), "%s: usage on stderr" % what, "stderr %r" % err[:500])
    t.check(not READY_RE.search(out), "%s: does not start a server" % what, out[:200])


def main(t):
    with t.case("--help"):
        expect_help(t, ["--help"], ["serve"])
        expect_help(t, ["serve", "--help"], ["--grpc-port", "--host"])

    with t.case("bad usage"):
        expect_usage_error(t, ["serve", "--bogus"])
        expect_usage_error(t, ["nope"])
        expect_usage_error(t, ["serve", "--grpc-port"])
        expect_usage_error(t, ["serve", "--grpc-port", "abc", "--host", "127.0.0.1"])
        expect_usage_error(t, ["serve", "--grpc-port", "0", "--host", "127.0.0.1", "--threads", "x"])
        expect_usage_error(t, ["serve", "--grpc-port", "0", "--host", "127.0.0.1", "--max-message-mb", "lots"])

    with t.case("serve with every flag"):
        srv = t.start_server(["--threads", "2", "--workers", "2", "--grace-ms", "1000", "--max-message-mb", "8"])
        t.check(srv.port > 0, "ready line gives a real port", str(srv.port))
        v2 = srv.v2()
        r = t.call("ServerLive", v2.ServerLive, pb.v2.ServerLiveRequest())
        t.check(r is not None and r.live, "ServerLive true")
        x = np.arange(4, dtype=np.float32).reshape(2, 2)
        r = t.call("burn via the worker pool", srv.broker().Infer,
                   infer_request("burn", x, params={"burn_ms": 1, "burn_mode": "sleep"}))
        t.check(r is not None and harness.output_array(r, "output") is not None
                and np.array_equal(harness.output_array(r, "output"), x), "burn answers its input")
        t.stop_server(srv, signal.SIGINT)


if __name__ == "__main__":
    harness.run(main)
