#!/usr/bin/python3
"""`junction perf` (issue #16 item 5) end to end: the real binary loads the real junction server (gRPC and REST) and
the Python KServe v2 server of these tests (kserve_v2_model_server.py, a third-party server without the statistics
extension), with short measurement windows so the whole file stays quick.

- concurrency range 1:4:1 over gRPC and HTTP (and 1:2 over HTTP through libcurl) on `identity` (FP32[-1,-1], so --shape is needed): four rows in the
  table and in the CSV, the CSV header is the documented one, throughput > 0, p50 <= p90 <= p95 <= p99, no errors;
  the server-side columns are filled when the server answers ModelStatistics (checked against its own figures:
  queue/compute never above the client's latency, overhead = client - server >= 0) and empty with a note otherwise;
- -b and --shape: the shape sent is the one printed; a -1 left without --shape, a --shape of the wrong rank and one
  naming no input are refused naming the input (exit status 2);
- --input-data: a JSON file in perf_analyzer's format (nested arrays, content+shape, b64) is sent entry by entry
  without errors; a file missing an input or with the wrong element count is refused naming entry and input;
- --request-rate-range with --request-distribution poisson: one row per rate, throughput near the rate;
- --streaming (ModelStreamInfer): no errors;
- failures: an unknown model (NOT_FOUND, named), an unreachable server (HOST:PORT named), and a model whose every
  request fails (KServe `picky` over gRPC; over HTTP, python3 -m http.server serving a metadata file and refusing
  POST with 501, through both HTTP clients): errors counted in the CSV, the first error's message shown, exit 1;
- against the KServe v2 server: rows, no errors, server columns empty and the note says UNIMPLEMENTED.

usage: /usr/bin/python3 tests/e2e/test_perf.py /path/to/junction
"""
import base64
import csv
import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402
import remote_util as ru  # noqa: E402
from harness import pb  # noqa: E402

# The columns README.md documents for -f FILE.
CSV_COLUMNS = ["concurrency", "request_rate", "throughput_infer_per_sec", "client_avg_us", "client_p50_us",
               "client_p90_us", "client_p95_us", "client_p99_us", "client_percentile_us", "requests", "errors",
               "stable", "windows", "server_queue_us", "server_compute_input_us", "server_compute_infer_us",
               "server_compute_output_us", "client_overhead_us", "server_cache_hit_ratio"]
SERVER_COLUMNS = ["server_queue_us", "server_compute_input_us", "server_compute_infer_us",
                  "server_compute_output_us", "client_overhead_us"]
# Short windows, a loose stability bound and few trials: the test checks behaviour, not this machine's steadiness.
QUICK = ["-p", "200", "-s", "50", "-r", "4"]


class Run:
    def __init__(self, rc, out, err, rows, header):
        self.rc, self.out, self.err, self.rows, self.header = rc, out, err, rows, header


def perf(t, args, name):
    path = os.path.join(t.workdir, name + ".csv")
    if os.path.exists(path):
        os.unlink(path)
    argv = [t.binary, "perf"] + list(args) + ["-f", path]
    p = subprocess.run(harness.die_with_parent(argv), capture_output=True, text=True, timeout=120)
    rows, header = [], None
    if os.path.exists(path):
        with open(path, newline="") as f:
            r = csv.reader(f)
            header = next(r, None)
            rows = [dict(zip(header, row)) for row in r] if header else []
    print("  $ junction perf %s -> %d\n    %s" % (" ".join(args), p.returncode,
                                                 (p.stdout + p.stderr).strip().replace("\n", "\n    ")), flush=True)
    return Run(p.returncode, p.stdout, p.stderr, rows, header)


def table_rows(out):
    """The table's data rows: the lines after the header that start with a number."""
    lines = out.splitlines()
    rows = []
    seen_header = False
    for line in lines:
        if line.strip().startswith(("concurrency", "rate (1/s)")):
            seen_header = True
            continue
        if seen_header and line.split() and line.split()[0].replace(".", "").isdigit():
            rows.append(line.split())
    return rows


def f(x):
    return float(x) if x != "" else None


def check_levels(t, what, run, levels, key="concurrency", stats=None):
    """The common checks of a successful run over `levels`."""
    t.eq(run.rc, 0, "%s: exit status 0" % what)
    t.eq(run.header, CSV_COLUMNS, "%s: the CSV header is the documented one" % what)
    t.eq([f(r[key]) for r in run.rows], [float(x) for x in levels], "%s: one CSV row per level" % what)
    t.eq(len(table_rows(run.out)), len(levels), "%s: one table row per level" % what)
    for r in run.rows:
        lv = r[key]
        t.check(f(r["throughput_infer_per_sec"]) > 0, "%s @%s: throughput > 0" % (what, lv), r)
        p = [f(r[c]) for c in ("client_p50_us", "client_p90_us", "client_p95_us", "client_p99_us")]
        t.check(p[0] > 0 and p == sorted(p), "%s @%s: 0 < p50 <= p90 <= p95 <= p99" % (what, lv), p)
        t.check(f(r["errors"]) == 0 and f(r["requests"]) > 0, "%s @%s: requests and no errors" % (what, lv), r)
        t.check(r["stable"] in ("0", "1") and int(r["windows"]) >= 1, "%s @%s: stable and windows" % (what, lv), r)
        if stats is True:
            vals = [f(r[c]) for c in SERVER_COLUMNS]
            t.check(None not in vals, "%s @%s: server columns filled (the server has statistics)" % (what, lv), r)
            if None not in vals:
                t.check(all(v >= 0 for v in vals[:4]) and sum(vals[:4]) <= f(r["client_avg_us"]),
                        "%s @%s: server times within the client's latency" % (what, lv), r)
        elif stats is False:
            t.check(all(r[c] == "" for c in SERVER_COLUMNS + ["server_cache_hit_ratio"]),
                    "%s @%s: server columns empty (no statistics extension)" % (what, lv), r)


def has_statistics(address):
    """Whether the server answers v2 ModelStatistics (junction once the statistics extension is in)."""
    with grpc.insecure_channel(address) as ch:
        try:
            pb.v2_grpc.GRPCInferenceServiceStub(ch).ModelStatistics(pb.v2.ModelStatisticsRequest(name="identity"),
                                                                    timeout=30)
            return True
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.UNIMPLEMENTED:
                return False
            raise


def main(t):
    try:
        run(t)
    finally:
        ru.kill_helpers(t)


def run(t):
    srv = t.start_server(["--http-port", "any"])
    g, h = srv.address, srv.http_address
    stats = has_statistics(g)
    print("  (server statistics extension: %s)" % ("yes" if stats else "no"), flush=True)

    with t.case("gRPC, concurrency 1:4:1 on identity"):
        r = perf(t, ["-m", "identity", "-u", g, "--shape", "input:16", "--concurrency-range", "1:4:1"] + QUICK,
                 "grpc")
        check_levels(t, "grpc", r, [1, 2, 3, 4], stats=stats)
        t.check("inputs: input FP32[1,16]" in r.out, "grpc: the inputs line shows the shape sent", r.out)
        if not stats:
            t.check("no statistics extension" in r.err and "UNIMPLEMENTED" in r.err,
                    "grpc: a note says why the server columns are empty", r.err)

    with t.case("HTTP, concurrency 1:4:1 on identity"):
        r = perf(t, ["-m", "identity", "--protocol", "http", "-u", h, "--shape", "input:16",
                     "--concurrency-range", "1:4:1"] + QUICK, "http")
        check_levels(t, "http", r, [1, 2, 3, 4], stats=stats)
        if not stats:
            t.check("no statistics extension" in r.err and "404" in r.err,
                    "http: a note says why the server columns are empty", r.err)
        r = perf(t, ["-m", "identity", "--protocol", "http", "--http-client", "curl", "-u", h, "--shape", "input:16",
                     "--concurrency-range", "1:2"] + QUICK, "http-curl")
        check_levels(t, "http through libcurl", r, [1, 2], stats=stats)
        t.check("(http, libcurl)" in r.out, "http through libcurl: the header says so", r.out)

    with t.case("-b and --shape"):
        r = perf(t, ["-m", "identity", "-u", g, "-b", "3", "--shape", "input:5", "--input-data", "zero"] + QUICK,
                 "batch")
        check_levels(t, "-b 3 --shape input:5", r, [1], stats=stats)
        t.check("inputs: input FP32[3,5]" in r.out, "-b fills the -1 batch dimension, --shape the rest", r.out)
        r = perf(t, ["-m", "identity", "-u", g, "--shape", "input:2,7"] + QUICK, "fullshape")
        t.check(r.rc == 0 and "inputs: input FP32[2,7]" in r.out, "--shape with every dimension", r.out + r.err)
        r = perf(t, ["-m", "identity", "-u", g] + QUICK, "noshape")
        t.eq(r.rc, 2, "a -1 left without --shape: exit status 2")
        t.check("input 'input' has a variable dimension" in r.err and "--shape input:" in r.err,
                "the message names the input and the flag", r.err)
        r = perf(t, ["-m", "identity", "-u", g, "--shape", "input:1,2,3"] + QUICK, "badrank")
        t.check(r.rc == 2 and "--shape input" in r.err and "give 2 dimensions" in r.err,
                "--shape of the wrong rank is refused", r.err)
        r = perf(t, ["-m", "identity", "-u", g, "--shape", "nope:3"] + QUICK, "badname")
        t.check(r.rc == 2 and "has no input 'nope'" in r.err, "--shape naming no input is refused", r.err)

    with t.case("--input-data FILE.json"):
        data = {"data": [
            {"input": [[1.0, 2.0, 3.0, 4.0]]},
            {"input": {"content": [5, 6, 7, 8, 9, 10], "shape": [2, 3]}},
            {"input": {"b64": base64.b64encode(np.arange(4, dtype="<f4").tobytes()).decode()}},
        ]}
        path = os.path.join(t.workdir, "data.json")
        with open(path, "w") as fh:
            json.dump(data, fh)
        r = perf(t, ["-m", "identity", "-u", g, "--input-data", path, "--shape", "input:4"] + QUICK, "json")
        check_levels(t, "json data", r, [1], stats=stats)
        t.check("(3 data entries, sent in turn)" in r.out, "the three entries are used", r.out)
        r = perf(t, ["-m", "identity", "--protocol", "http", "-u", h, "--input-data", path,
                     "--shape", "input:4"] + QUICK, "json-http")
        check_levels(t, "json data over http", r, [1], stats=stats)
        bad = os.path.join(t.workdir, "bad.json")
        with open(bad, "w") as fh:
            json.dump({"data": [{"input": [1, 2, 3, 4]}, {"other": [1]}]}, fh)
        r = perf(t, ["-m", "identity", "-u", g, "--input-data", bad, "--shape", "input:4"] + QUICK, "badjson")
        t.check(r.rc == 2 and "entry 1" in r.err and "no input 'other'" in r.err,
                "an entry naming an unknown input is refused", r.err)
        with open(bad, "w") as fh:
            json.dump({"data": [{"input": [1, 2, 3]}]}, fh)
        r = perf(t, ["-m", "identity", "-u", g, "--input-data", bad, "--shape", "input:4"] + QUICK, "badcount")
        t.check(r.rc == 2 and "entry 0" in r.err and "3 elements" in r.err and "needs 4" in r.err,
                "an entry with the wrong element count is refused", r.err)

    with t.case("--request-rate-range with poisson"):
        r = perf(t, ["-m", "identity", "-u", g, "--shape", "input:16", "--request-rate-range", "100:200:100",
                     "--request-distribution", "poisson", "-p", "500", "-s", "50", "-r", "4"], "rate")
        check_levels(t, "poisson", r, [100, 200], key="request_rate", stats=stats)
        for row in r.rows:
            rate, tp = f(row["request_rate"]), f(row["throughput_infer_per_sec"])
            t.check(0.5 * rate <= tp <= 1.5 * rate, "poisson @%g: throughput %.1f near the rate" % (rate, tp), row)
            t.eq(row["concurrency"], "", "poisson @%g: no concurrency in a rate row" % rate)

    with t.case("--percentile"):
        r = perf(t, ["-m", "identity", "-u", g, "--shape", "input:16", "--percentile", "95"] + QUICK, "pct")
        check_levels(t, "--percentile 95", r, [1], stats=stats)
        if r.rows:
            t.eq(r.rows[0]["client_percentile_us"], r.rows[0]["client_p95_us"],
                 "--percentile 95: client_percentile_us is the p95 latency")
        t.check("p95 us" in r.out.split("\n")[2] and "avg us" not in r.out, "the table's column says p95", r.out)

    with t.case("--streaming"):
        r = perf(t, ["-m", "identity", "-u", g, "--shape", "input:16", "--streaming",
                     "--concurrency-range", "2"] + QUICK, "stream")
        check_levels(t, "streaming", r, [2], stats=stats)

    with t.case("failures"):
        r = perf(t, ["-m", "no-such-model", "-u", g] + QUICK, "nomodel")
        t.check(r.rc == 1 and "'no-such-model'" in r.err and g in r.err and "NOT_FOUND" in r.err,
                "an unknown model: exit status 1, model, server and status named", r.err)
        r = perf(t, ["-m", "no-such-model", "--protocol", "http", "-u", h] + QUICK, "nomodel-http")
        t.check(r.rc == 1 and "'no-such-model'" in r.err and "HTTP 404" in r.err,
                "an unknown model over HTTP: exit status 1, named", r.err)
        dead = "127.0.0.1:1"
        r = perf(t, ["-m", "identity", "-u", dead] + QUICK, "dead")
        t.check(r.rc == 1 and "cannot reach" in r.err and dead in r.err, "an unreachable server is named", r.err)
        r = perf(t, ["-m", "identity", "--protocol", "http", "-u", dead] + QUICK, "dead-http")
        t.check(r.rc == 1 and "cannot reach" in r.err and dead in r.err, "an unreachable HTTP server is named",
                r.err)
        r = perf(t, ["-m", "identity", "-u", g, "--concurrency-range", "4:1"], "badrange")
        t.check(r.rc == 2 and "END 1 is below START 4" in r.err, "a backwards range is refused", r.err)

    with t.case("HTTP: every request fails (a static file server answers metadata, refuses POST)"):
        root = os.path.join(t.workdir, "static")
        os.makedirs(os.path.join(root, "v2", "models"))
        with open(os.path.join(root, "v2", "models", "m"), "w") as fh:
            json.dump({"name": "m", "versions": ["1"], "platform": "static",
                       "inputs": [{"name": "x", "datatype": "INT32", "shape": [-1, 3]}],
                       "outputs": [{"name": "y", "datatype": "INT32", "shape": [-1, 3]}]}, fh)
        static = ru.Process([harness.PYTHON, "-u", "-m", "http.server", "--bind", "127.0.0.1", "0"], t.workdir)
        static.proc = subprocess.Popen(harness.die_with_parent(static.argv), cwd=root, stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
        t.helpers = getattr(t, "helpers", []) + [static]
        line = static.proc.stdout.readline()
        port = line.split(" port ")[1].split()[0] if " port " in line else None
        t.check(port is not None, "python3 -m http.server started", line)
        for client in ("wire", "curl"):
            r = perf(t, ["-m", "m", "--protocol", "http", "--http-client", client, "-u", "127.0.0.1:%s" % port,
                         "--concurrency-range", "2"] + QUICK, "static-" + client)
            t.eq(r.rc, 1, "%s: every request failed: exit status 1" % client)
            t.check(len(r.rows) == 1 and f(r.rows[0]["errors"]) > 0 and r.rows[0]["errors"] == r.rows[0]["requests"],
                    "%s: the CSV counts the errors (errors == requests > 0)" % client, r.rows)
            t.check("HTTP 501" in r.err and "every request failed" in r.err,
                    "%s: the first error (HTTP 501) is shown" % client, r.err)
            t.check("inputs: x INT32[1,3]" in r.out, "%s: the inputs come from GET /v2/models/m" % client, r.out)

    ks = ru.start_kserve(t)
    with t.case("the KServe v2 server (no statistics extension)"):
        r = perf(t, ["-m", "scale2", "-u", ks.address, "--shape", "x:1,4", "--concurrency-range", "1:2"] + QUICK,
                 "kserve")
        check_levels(t, "kserve", r, [1, 2], stats=False)
        t.check("no statistics extension" in r.err and "UNIMPLEMENTED" in r.err,
                "kserve: the note says the server has no statistics", r.err)

    with t.case("every request fails (KServe `picky`): errors counted"):
        r = perf(t, ["-m", "picky", "-u", ks.address, "--shape", "x:1,2"] + QUICK, "picky")
        t.eq(r.rc, 1, "every request failed: exit status 1")
        t.check(len(r.rows) == 1 and f(r.rows[0]["errors"]) > 0 and r.rows[0]["errors"] == r.rows[0]["requests"],
                "the CSV counts the errors (errors == requests > 0)", r.rows)
        t.check("FAILED_PRECONDITION: picky says no" in r.err and "every request failed" in r.err,
                "the first error's message is shown", r.err)

    t.stop_server(srv)


if __name__ == "__main__":
    harness.run(main)
