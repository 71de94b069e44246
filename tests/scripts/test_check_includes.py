#!/usr/bin/python3
"""Tests for scripts/check-includes.py: the repository follows its include rules, and the checker catches, with
FILE:LINE, each kind of include the rules forbid (on small trees made here, with the real rules block)."""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(ROOT, "scripts", "check-includes.py")
RULES = re.search(r"^```include-rules\n.*?^```\n", open(os.path.join(ROOT, "docs", "ARCHITECTURE.md")).read(),
                  re.S | re.M).group(0)
failures = 0


def check(name, ok):
    global failures
    print(("ok   " if ok else "FAIL ") + name)
    failures += not ok


def run(root=None):
    cmd = ["/usr/bin/python3", SCRIPT] + (["--root", root] if root else [])
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def tree(files, rules=RULES):
    d = tempfile.mkdtemp(prefix="check_includes_")
    os.makedirs(os.path.join(d, "docs"))
    with open(os.path.join(d, "docs", "ARCHITECTURE.md"), "w") as f:
        f.write("# rules\n\n" + rules)
    base = {
        "broker/core/tensor.h": "",
        "broker/core/tensor.c": '#include "tensor.h"\n#include <stdio.h>\n',
        "broker/core/pipeline/run.c": '#include "internal.h"\n#include "tensor.h"\n',
        "broker/core/pipeline/internal.h": "",
        "broker/pb/pb.h": '#include "tensor.h"\n#include "junction/v1/broker.pb-c.h"\n',
        "broker/rpc/server.h": '#include "pb.h"\n',
        "broker/rpc/method.h": '#include "server.h"\n',
        "broker/http/server.h": "",
        "broker/remote/remotes.h": "",
        "broker/remote/endpoint.h": '#include "pb.h"\n',
        "broker/cli/serve.c": '#include "../rpc/server.h"\n#include "../http/server.h"\n#include "x.h"\n',
        "engines/builtin.c": '#include "tensor.h"\n#include "codec.h"\n',
        "adapters/codec/codec.h": "",
        "adapters/onnx/onnx.c": '#include "onnx.pb-c.h"\n#include "tensor.h"\n',
        "proto/junction/v1/broker.proto": "",
        "tests/t.c": '#include "server.h"\n',
    }
    base.update(files)
    for path, text in base.items():
        if text is None:
            continue
        os.makedirs(os.path.join(d, os.path.dirname(path)), exist_ok=True)
        with open(os.path.join(d, path), "w") as f:
            f.write(text)
    return d


def expect_violation(name, files, *wanted):
    rc, out = run(tree(files))
    check(f"{name}: exit 1", rc == 1)
    for w in wanted:
        check(f"{name}: says {w!r}", w in out)
    if rc != 1 or not all(w in out for w in wanted):
        print(out)


rc, out = run()
check("the repository follows its include rules", rc == 0)
if rc:
    print(out)

rc, out = run(tree({}))
check("a tree that follows the rules passes", rc == 0)
if rc:
    print(out)

expect_violation("core includes a front end",
                 {"broker/core/tensor.c": '#include "tensor.h"\n#include "../rpc/server.h"\n'},
                 "broker/core/tensor.c:2:", "broker/rpc/server.h", "broker/core may not include broker/rpc")
expect_violation("core includes a generated protobuf header",
                 {"broker/core/conv.c": '\n\n#include "junction/v1/broker.pb-c.h"\n'},
                 "broker/core/conv.c:3:", "may not include proto")
expect_violation("pb includes rpc", {"broker/pb/wire.c": '#include "method.h"\n'},
                 "broker/pb/wire.c:1:", "broker/rpc/method.h", "broker/pb may not include broker/rpc")
expect_violation("engines include a front end", {"engines/util/burn.c": '#include "../../broker/http/server.h"\n'},
                 "engines/util/burn.c:1:", "engines may not include broker/http")
expect_violation("an adapter includes another adapter", {"adapters/onnx/load.c": '#include "codec.h"\n'},
                 "adapters/onnx/load.c:1:", "adapters/onnx may not include adapters/codec")
expect_violation("rpc includes a remote engine's insides", {"broker/rpc/infer.c": '#include "endpoint.h"\n'},
                 "broker/rpc/infer.c:1:", "broker/rpc may not include broker/remote")
expect_violation("an ambiguous bare name", {"broker/remote/x.c": '#include "server.h"\n'},
                 "broker/remote/x.c:1:", "ambiguous", "write the path")
expect_violation("a folder without a rule", {"plugins/k.c": ""},
                 "plugins/k.c: no include rule covers this folder")

rc, out = run(tree({"broker/rpc/admin.c": '#include "remotes.h"\n'}))
check("rpc may use the remote engines' registry (remotes.h)", rc == 0)
if rc:
    print(out)

rc, out = run(tree({}, rules="# no rules here\n"))
check("no rules block: exit 2 naming the file", rc == 2 and "include-rules" in out)

# KNOWN_EXCEPTIONS, whatever the real list holds today: copies of the script with the list replaced.
script = open(SCRIPT).read()
LIST_RE = re.compile(r"^KNOWN_EXCEPTIONS = \[\n.*?^\]", re.S | re.M)
check("the script has a KNOWN_EXCEPTIONS list", LIST_RE.search(script) is not None)


def run_with_exceptions(entries, files):
    d = tree(files)
    with open(os.path.join(d, "check.py"), "w") as f:
        f.write(LIST_RE.sub(lambda m: "KNOWN_EXCEPTIONS = [\n" + entries + "]", script))
    p = subprocess.run(["/usr/bin/python3", os.path.join(d, "check.py"), "--root", d], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


entry = '    ("broker/rpc/method.h", "broker/remote/endpoint.h"),\n'
rc, out = run_with_exceptions(entry, {"broker/rpc/method.h": '#include "endpoint.h"\n'})
check("an include listed as a known exception passes", rc == 0 and "1 known exception(s) left" in out)
rc, out = run_with_exceptions(entry, {})
check("a known exception whose include is gone fails, asking for its line to go",
      rc == 1 and "delete its line from KNOWN_EXCEPTIONS" in out and "broker/rpc/method.h" in out)
rc, out = run_with_exceptions("", {})
check("with no known exception left, a clean tree passes", rc == 0)
if rc:
    print(out)

print(f"{failures} failed")
sys.exit(1 if failures else 0)
