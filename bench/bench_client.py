#!/usr/bin/python3
"""Helpers for bench/run.sh (Debian's /usr/bin/python3: grpcio 1.51, protobuf, numpy).

Subcommands
  payloads --stubs DIR --out DIR [--model M]
                                     write v1.bin / v2.bin: gRPC-framed junction.v1.InferRequest and
                                     inference.ModelInferRequest for model M (default "identity"; FP32 [1,16], 64
                                     raw bytes, input "input")
  check --addr A --method M --payload F --expect {echo,v1,v2} [--stubs DIR]
                                     one real grpcio unary call with the payload; exit 1 unless status OK and the
                                     answer is what the target should return
  h2load --target T --stdout F --log F [--set KEY=INT ...]
                                     summarise one h2load run as a JSON line (req/s, success counts, p50/p99 from
                                     the per-request log), with the --set figures (RSS) merged in
  streams --stubs DIR --addr A --pid P [--n 1000] [--channels 1] [--timeout 60]
                                     open N junction.v1.Broker/InferStream streams, send one identity request on
                                     each, wait for every answer, measure the server's RSS while all are open,
                                     then close them; prints JSON
  report --results F                 print the Markdown table from the JSON lines run.sh collected
"""
import argparse
import json
import os
import re
import struct
import sys
import time

V1_METHOD = "/junction.v1.Broker/Infer"
V2_METHOD = "/inference.GRPCInferenceService/ModelInfer"
STREAM_METHOD = "/junction.v1.Broker/InferStream"

# 16 FP32 values 0..15, little-endian: 64 raw bytes.
RAW = struct.pack("<16f", *[float(i) for i in range(16)])


def _import_stubs(stubs_dir):
    sys.path.insert(0, stubs_dir)
    from junction.v1 import broker_pb2, tensor_pb2  # noqa: E402
    from inference import grpc_service_pb2  # noqa: E402
    return broker_pb2, tensor_pb2, grpc_service_pb2


def _frame(msg_bytes):
    return b"\x00" + struct.pack(">I", len(msg_bytes)) + msg_bytes


def _unframe(data):
    if len(data) < 5 or data[0] != 0:
        raise SystemExit("payload is not an uncompressed gRPC frame")
    (n,) = struct.unpack(">I", data[1:5])
    if len(data) != 5 + n:
        raise SystemExit(f"payload frame says {n} bytes, file holds {len(data) - 5}")
    return data[5:]


def _v1_request(broker_pb2, tensor_pb2, rid="", model="identity"):
    req = broker_pb2.InferRequest(model=model, id=rid)
    v = req.inputs.add()
    v.name = "input"
    v.tensor.datatype = tensor_pb2.FP32
    v.tensor.shape.extend([1, 16])
    v.tensor.raw = RAW
    return req


def cmd_payloads(a):
    broker_pb2, tensor_pb2, v2 = _import_stubs(a.stubs)
    v1_req = _v1_request(broker_pb2, tensor_pb2, model=a.model)
    v2_req = v2.ModelInferRequest(model_name=a.model)
    inp = v2_req.inputs.add()
    inp.name = "input"
    inp.datatype = "FP32"
    inp.shape.extend([1, 16])
    v2_req.raw_input_contents.append(RAW)
    os.makedirs(a.out, exist_ok=True)
    for name, msg in (("v1.bin", v1_req), ("v2.bin", v2_req)):
        body = msg.SerializeToString()
        with open(os.path.join(a.out, name), "wb") as f:
            f.write(_frame(body))
        print(f"payload {name}: {len(body)} byte message, {len(body) + 5} bytes framed")


def cmd_check(a):
    import grpc

    with open(a.payload, "rb") as f:
        body = _unframe(f.read())
    with grpc.insecure_channel(a.addr) as ch:
        call = ch.unary_unary(a.method)  # bytes in, bytes out
        try:
            resp, info = call.with_call(body, timeout=a.timeout)
        except grpc.RpcError as e:
            print(f"check {a.method} on {a.addr}: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    if info.code() != grpc.StatusCode.OK:
        print(f"check {a.method}: status {info.code().name}", file=sys.stderr)
        return 1
    if a.expect == "echo":
        ok, what = resp == body, "echoed bytes"
    elif a.expect == "v1":
        broker_pb2, _, _ = _import_stubs(a.stubs)
        r = broker_pb2.InferResponse.FromString(resp)
        out = {o.name: o for o in r.outputs}
        ok = "output" in out and out["output"].tensor.raw == RAW and list(out["output"].tensor.shape) == [1, 16]
        what = f"InferResponse outputs={sorted(out)}"
    else:
        _, _, v2 = _import_stubs(a.stubs)
        r = v2.ModelInferResponse.FromString(resp)
        names = [o.name for o in r.outputs]
        ok = names == ["output"] and list(r.raw_output_contents) == [RAW] and list(r.outputs[0].shape) == [1, 16]
        what = f"ModelInferResponse outputs={names}"
    print(f"check {a.method}: grpc status OK, {len(resp)} byte answer, {what}: {'ok' if ok else 'WRONG'}")
    return 0 if ok else 1


def _percentile(sorted_vals, q):
    # Nearest-rank percentile: the smallest value with at least q% of samples at or below it.
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, int(-(-q * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def cmd_h2load(a):
    with open(a.stdout) as f:
        text = f.read()
    m = re.search(r"finished in [^,]+, ([0-9.]+) req/s", text)
    r = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored",
                  text)
    if not m or not r:
        raise SystemExit(f"cannot parse h2load output {a.stdout}")
    elapsed, non200 = [], 0
    with open(a.log) as f:
        for line in f:
            parts = line.split("\t")
            if len(parts) < 3:
                continue
            if parts[1] != "200":
                non200 += 1
            elapsed.append(int(parts[2]))
    elapsed.sort()
    out = {
        "kind": "load",
        "target": a.target,
        "rps": float(m.group(1)),
        "done": int(r.group(3)),
        "succeeded": int(r.group(4)),
        "failed": int(r.group(5)) + int(r.group(6)),
        "non200": non200,
        "p50_ms": _percentile(elapsed, 50) / 1000.0,
        "p99_ms": _percentile(elapsed, 99) / 1000.0,
    }
    for kv in a.set:
        k, _, v = kv.partition("=")
        out[k] = int(v)
    print(json.dumps(out))


def _rss(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def cmd_streams(a):
    import asyncio
    import grpc
    import grpc.aio

    broker_pb2, tensor_pb2, _ = _import_stubs(a.stubs)

    async def run():
        channels = [grpc.aio.insecure_channel(a.addr) for _ in range(a.channels)]
        methods = [
            ch.stream_stream(STREAM_METHOD, request_serializer=broker_pb2.InferRequest.SerializeToString,
                             response_deserializer=broker_pb2.InferResponse.FromString)
            for ch in channels
        ]
        before = _rss(a.pid)
        calls = []

        async def open_one(i):
            call = methods[i % len(methods)]()
            calls.append(call)
            await call.write(_v1_request(broker_pb2, tensor_pb2, rid=str(i)))
            resp = await call.read()
            if resp is grpc.aio.EOF:
                raise RuntimeError(f"stream {i}: closed before answering")
            if resp.HasField("error") and resp.error.code != 0:
                raise RuntimeError(f"stream {i}: error {resp.error.code}: {resp.error.message}")
            if resp.id != str(i):
                raise RuntimeError(f"stream {i}: answer carries id '{resp.id}'")

        t0 = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(open_one(i) for i in range(a.n))), a.timeout)
        t_open = time.monotonic() - t0
        await asyncio.sleep(0.5)  # let the server settle with every stream open
        held = _rss(a.pid)
        for c in calls:
            await c.done_writing()
        codes = await asyncio.wait_for(asyncio.gather(*(c.code() for c in calls)), a.timeout)
        bad = [c for c in codes if c != grpc.StatusCode.OK]
        for ch in channels:
            await ch.close()
        await asyncio.sleep(0.5)
        after = _rss(a.pid)
        return {
            "streams": a.n, "channels": a.channels, "open_s": round(t_open, 3),
            "rss_before_kb": before["VmRSS"], "rss_held_kb": held["VmRSS"], "hwm_held_kb": held["VmHWM"],
            "rss_after_close_kb": after["VmRSS"], "non_ok_closes": len(bad),
        }

    try:
        res = asyncio.run(run())
    except asyncio.TimeoutError:
        print(f"streams: not all {a.n} streams answered within {a.timeout}s (server stream limit?)", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - report any client-side failure plainly
        print(f"streams: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(res))
    return 0 if res["non_ok_closes"] == 0 else 1


# ---- report ---------------------------------------------------------------------------------------------------

TARGET_RPS_VS_ECHO = 0.6
TARGET_RPS_VS_PY = 6.0
TARGET_IDLE_MB = 30.0
TARGET_STREAMS_MB = 100.0


def _median(vals):
    vals = sorted(v for v in vals if v is not None)
    if not vals:
        return None
    n = len(vals)
    return vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2


def _mb(kb):
    return None if kb is None else kb / 1024.0


def _fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def cmd_report(a):
    runs, streams, meta = {}, None, {}
    with open(a.results) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            kind = rec.get("kind")
            if kind == "load":
                runs.setdefault(rec["target"], []).append(rec)
            elif kind == "streams":
                streams = rec
            elif kind == "meta":
                meta.update(rec)

    order = [("junction_v1", "junction `Broker/Infer`"), ("junction_v2", "junction v2 `ModelInfer`"),
             ("echo", "thin C-core echo"), ("python", "Python grpcio echo")]
    agg = {}
    for key, _ in order:
        rs = runs.get(key)
        if not rs:
            continue
        agg[key] = {
            "rps": _median([r["rps"] for r in rs]),
            "p50": _median([r["p50_ms"] for r in rs]),
            "p99": _median([r["p99_ms"] for r in rs]),
            "idle": _median([r["idle_rss_kb"] for r in rs]),
            "after": _median([r["after_rss_kb"] for r in rs]),
            "hwm": max(r["after_hwm_kb"] for r in rs),
            "failed": sum(r["failed"] + r["non200"] for r in rs),
            "n": len(rs),
        }
    echo_rps = agg.get("echo", {}).get("rps")
    py_rps = agg.get("python", {}).get("rps")

    def ratio(x, base):
        return None if x is None or not base else x / base

    print(f"Load: {meta.get('load', '?')}; rounds: {meta.get('rounds', '?')} (figures are medians over rounds, "
          f"peak RSS is the max)")
    print(f"Machine: {meta.get('machine', '?')}; date: {meta.get('date', '?')}")
    print()
    print("| target | req/s | p50 ms | p99 ms | x thin echo | x Python | idle RSS MB | RSS after load MB "
          "| peak RSS MB | failed |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key, label in order:
        g = agg.get(key)
        if not g:
            print(f"| {label} | not run | | | | | | | | |")
            continue
        print(f"| {label} | {_fmt(g['rps'], '.0f')} | {_fmt(g['p50'], '.2f')} | {_fmt(g['p99'], '.2f')} "
              f"| {_fmt(ratio(g['rps'], echo_rps), '.2f')} | {_fmt(ratio(g['rps'], py_rps), '.1f')} "
              f"| {_fmt(_mb(g['idle']), '.1f')} | {_fmt(_mb(g['after']), '.1f')} | {_fmt(_mb(g['hwm']), '.1f')} "
              f"| {g['failed']} |")
    print()

    checks = []
    for key, label in order[:2]:
        g = agg.get(key)
        r_echo = ratio(g["rps"], echo_rps) if g else None
        r_py = ratio(g["rps"], py_rps) if g else None
        checks.append((f"{label} req/s >= {TARGET_RPS_VS_ECHO} x thin echo", _fmt(r_echo, ".2f") + " x",
                       None if r_echo is None else r_echo >= TARGET_RPS_VS_ECHO))
        checks.append((f"{label} req/s >= {TARGET_RPS_VS_PY:g} x Python", _fmt(r_py, ".1f") + " x",
                       None if r_py is None else r_py >= TARGET_RPS_VS_PY))
    idle = meta.get("junction_idle_rss_kb")
    checks.append((f"junction idle RSS right after start <= {TARGET_IDLE_MB:g} MB", _fmt(_mb(idle), ".1f") + " MB",
                   None if idle is None else _mb(idle) <= TARGET_IDLE_MB))
    if streams and "rss_held_kb" in streams:
        held = streams["rss_held_kb"]
        checks.append((f"junction RSS holding {streams['streams']} open InferStreams <= {TARGET_STREAMS_MB:g} MB",
                       f"{_mb(held):.1f} MB (before {_mb(streams['rss_before_kb']):.1f}, after close "
                       f"{_mb(streams['rss_after_close_kb']):.1f}; {streams['channels']} connection(s), all open "
                       f"in {streams['open_s']} s)",
                       _mb(held) <= TARGET_STREAMS_MB))
    else:
        why = (streams or {}).get("error", "not run")
        checks.append((f"junction RSS holding open InferStreams <= {TARGET_STREAMS_MB:g} MB", why, None))

    print("| target | measured | met |")
    print("|---|---|---|")
    for what, val, ok in checks:
        print(f"| {what} | {val} | {'n/a' if ok is None else ('yes' if ok else '**NO**')} |")
    return 0


def main():
    ap = argparse.ArgumentParser(description="bench/run.sh helpers")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("payloads")
    p.add_argument("--stubs", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="identity")
    p = sub.add_parser("check")
    p.add_argument("--addr", required=True)
    p.add_argument("--method", required=True)
    p.add_argument("--payload", required=True)
    p.add_argument("--expect", choices=["echo", "v1", "v2"], required=True)
    p.add_argument("--stubs")
    p.add_argument("--timeout", type=float, default=10.0)
    p = sub.add_parser("h2load")
    p.add_argument("--target", required=True)
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--stdout", required=True)
    p.add_argument("--log", required=True)
    p = sub.add_parser("streams")
    p.add_argument("--stubs", required=True)
    p.add_argument("--addr", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--timeout", type=float, default=60.0)
    p = sub.add_parser("report")
    p.add_argument("--results", required=True)
    a = ap.parse_args()
    fn = {"payloads": cmd_payloads, "check": cmd_check, "h2load": cmd_h2load,
          "streams": cmd_streams, "report": cmd_report}[a.cmd]
    return fn(a) or 0


if __name__ == "__main__":
    sys.exit(main())
