#!/usr/bin/python3
"""Native remote engines (issue #5): junction.v1.Engine (engine.proto) between two junctions, and self-registration
by Admin.Heartbeat.

- junction -> junction: a second junction serves junction.v1.Engine for all its models (Describe, Infer,
  InferStream); registered natively in the first one, its identity, tokenize (a streaming engine) and demo-chain
  (a pipeline) answer through the first one's Broker.Infer, v2 ModelInfer and InferStream exactly as the second
  one answers directly; the streaming engine streams through the broker (partials, then the final message); the
  remote's errors keep their code and get the engine name in front; when the second junction goes away the engines
  turn not ready and calls fail UNAVAILABLE;
- self-registration: a Python process implementing junction.v1.Engine heartbeats every 200 ms with a 1500 ms TTL:
  it appears (leased, ready) and answers; killed with -9 it is not ready within 2 x the renewal period (plus the
  broker's 50 ms tick), and gone after its TTL; restarted, it is back; bad heartbeats are refused.

usage: /usr/bin/python3 tests/e2e/test_remote_native.py /path/to/junction
"""
import os
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402
import remote_util as ru  # noqa: E402
from harness import pb, infer_request, output_array  # noqa: E402

SC = grpc.StatusCode
HERE = os.path.dirname(os.path.abspath(__file__))
INTERVAL_MS, TTL_MS = 200, 1500
FAST = dict(health_interval_ms=150, health_timeout_ms=500, breaker_cooldown_ms=300)


def text_request(model, text, id=""):
    return pb.broker.InferRequest(model=model, id=id,
                                  inputs=[pb.contract.Value(name="text", text=pb.contract.Text(text=text))])


def stream_all(stub, requests, timeout=30):
    q = harness.RequestQueue()
    for r in requests:
        q.put(r)
    q.close()
    return list(stub.InferStream(q, timeout=timeout))


def outputs_of(resp):
    return [(v.name, v.SerializeToString()) for v in resp.outputs]


def main(t):
    try:
        run(t)
    finally:
        ru.kill_helpers(t)


def run(t):
    far = t.start_server(probe=False)
    near = t.start_server()
    broker, v2, admin = near.broker(), near.v2(), near.admin()
    far_broker = far.broker()

    with t.case("junction.v1.Engine on the remote junction"):
        eng = pb.engine_grpc.EngineStub(far.channel())
        d = t.call("Describe identity", eng.Describe, pb.engine.DescribeRequest(model="identity"))
        t.check(d is not None and [p.name for p in d.signature.inputs] == ["input"] and not d.streams,
                "Describe gives the signature", str(d))
        d = t.call("Describe tokenize", eng.Describe, pb.engine.DescribeRequest(model="tokenize"))
        t.check(d is not None and d.streams, "a streaming engine says so")
        t.expect_error("Describe an unknown model", eng.Describe, SC.NOT_FOUND, "nope",
                       args=(pb.engine.DescribeRequest(model="nope"),))

    with t.case("register the remote junction's models natively"):
        for name, model in (("far-identity", "identity"), ("far-tokenize", "tokenize"), ("far-chain", "demo-chain"),
                            ("far-burn", "burn")):
            r = t.call("RegisterEngine %s" % name, ru.register, admin, name, far.address, protocol="NATIVE",
                       model=model, **FAST)
            if r and name == "far-tokenize":
                t.check(r.streams, "far-tokenize streams")
        m = ru.model_info(broker, "far-identity")
        t.check(m is not None and m.platform == "junction_remote" and m.ready, "listed, platform junction_remote",
                str(m))

    with t.case("calls through the broker equal the remote junction's own answers"):
        x = np.random.default_rng(3).standard_normal((3, 4)).astype(np.float32)
        r = t.call("Infer far-identity", broker.Infer, infer_request("far-identity", x, id="n1"))
        t.check(r is not None and np.array_equal(output_array(r, "output"), x) and r.id == "n1",
                "far-identity returns its input")
        r = t.call("v2 ModelInfer far-identity", v2.ModelInfer, harness.v2_request("far-identity", x))
        if r:
            y, _ = harness.v2_output_array(r, "output")
            t.check(y is not None and np.array_equal(y, x), "through v2 ModelInfer too")
        r = t.call("Infer far-chain (a pipeline over there)", broker.Infer, infer_request("far-chain", x,
                                                                                        input_name="x"))
        t.check(r is not None and np.array_equal(output_array(r, "y"), x), "far-chain answers")
        text = "Hello brave new World of engines"
        mine = t.call("Infer far-tokenize", broker.Infer, text_request("far-tokenize", text))
        theirs = t.call("Infer tokenize on the remote", far_broker.Infer, text_request("tokenize", text))
        if mine and theirs:
            t.eq(outputs_of(mine), outputs_of(theirs), "unary tokenize through the broker = the remote's own")

    with t.case("a streaming engine streams through the broker (InferStream end to end)"):
        text = "one two three four five"
        mine = t.call("InferStream far-tokenize", stream_all, broker,
                      [text_request("far-tokenize", text, id="s1"), text_request("far-tokenize", "six", id="s2")])
        theirs = t.call("InferStream tokenize on the remote", stream_all, far_broker,
                        [text_request("tokenize", text, id="s1"), text_request("tokenize", "six", id="s2")])
        if mine is not None and theirs is not None:
            for rid in ("s1", "s2"):
                m = [x for x in mine if x.id == rid]
                th = [x for x in theirs if x.id == rid]
                t.check(len(m) >= 2 and all(x.partial for x in m[:-1]) and not m[-1].partial and
                        not m[-1].outputs, "request %s: partial answers, then the final empty one" % rid,
                        str([(x.partial, len(x.outputs)) for x in m]))
                t.eq([outputs_of(x) for x in m], [outputs_of(x) for x in th],
                     "request %s: the same partials as the remote's own stream" % rid)
            t.eq(len([x for x in mine if x.id == "s1"]), 6, "five tokens, five partials, one final")

    with t.case("the remote's errors keep their code, prefixed by the engine name"):
        t.expect_error("far-burn with a bad parameter", broker.Infer, SC.INVALID_ARGUMENT,
                       "far-burn: model 'burn': parameter 'burn_mode'",
                       args=(infer_request("far-burn", np.ones((1, 1)), params={"burn_mode": "bogus"}),))
        t.expect_error("a native registration of an unknown remote model", ru.register, SC.NOT_FOUND,
                       "engine 'far-nope'", "model 'nope'", admin=admin, name="far-nope", endpoint=far.address,
                       protocol="NATIVE", model="nope")

    with t.case("the remote junction goes away"):
        t.stop_server(far)
        t.check(ru.wait_for(lambda: not ru.model_info(broker, "far-identity").ready, 10), "far-identity not ready")
        t.expect_error("Infer far-identity", broker.Infer, SC.UNAVAILABLE, "far-identity",
                       args=(infer_request("far-identity", np.ones((1, 1))),))
        for name in ("far-identity", "far-tokenize", "far-chain", "far-burn"):
            t.call("UnregisterEngine %s" % name, admin.UnregisterEngine, pb.admin.UnregisterEngineRequest(name=name))

    with t.case("self-registration with a lease"):
        def start_engine():
            p = ru.Process([harness.PYTHON, os.path.join(HERE, "native_engine_server.py"), "--stubs", pb.gen_dir,
                            "--broker", near.address, "--name", "py-double", "--interval-ms", str(INTERVAL_MS),
                            "--ttl-ms", str(TTL_MS)], t.workdir)
            p.start()
            t.helpers = getattr(t, "helpers", []) + [p]
            return p

        eng = start_engine()
        t.check(ru.wait_for(lambda: (ru.model_info(broker, "py-double") or pb.broker.ModelInfo()).ready, 20),
                "the engine registered itself and is ready")
        x = np.arange(6, dtype=np.float32).reshape(3, 2)
        r = t.call("Infer py-double", broker.Infer, infer_request("py-double", x, input_name="x"))
        t.check(r is not None and np.array_equal(output_array(r, "y"), x * 2), "it answers 2x")
        e = ru.engine_info(admin, "py-double")
        t.check(e is not None and e.leased and e.protocol == pb.admin.NATIVE and e.since_heartbeat_ms < 1000,
                "ListEngines: leased, native, renewed recently", str(e))
        t.expect_error("a heartbeat whose ttl is shorter than 2 intervals", admin.Heartbeat, SC.INVALID_ARGUMENT,
                       "ttl_ms", args=(pb.admin.HeartbeatRequest(name="hb", endpoint=eng.address, model="double",
                                                                  interval_ms=500, ttl_ms=600),))
        t.expect_error("a heartbeat for a built-in engine's name", admin.Heartbeat, SC.ALREADY_EXISTS, "identity",
                       args=(pb.admin.HeartbeatRequest(name="identity", endpoint=eng.address, model="double",
                                                       interval_ms=500, ttl_ms=2000),))

        eng.signal(signal.SIGKILL)
        killed = time.time()
        t.check(ru.wait_for(lambda: not ru.model_info(broker, "py-double").ready, 5, 0.01),
                "killed -9: not ready")
        took = time.time() - killed
        # The bound is the broker's (2 x interval after the last heartbeat, which came before the kill, + its 50 ms
        # tick); the rest of the slack is this script's polling over RPC on a loaded machine.
        t.check(took <= 2 * INTERVAL_MS / 1000.0 + 0.3, "within 2 x the renewal period (+ tick and polling)",
                "%.3f s" % took)
        t.expect_error("Infer py-double while it is down", broker.Infer, SC.UNAVAILABLE, "py-double",
                       args=(infer_request("py-double", x, input_name="x"),))
        t.check(ru.wait_for(lambda: ru.model_info(broker, "py-double") is None, 10, 0.02), "gone after the TTL")
        gone = time.time() - killed
        t.check(TTL_MS / 1000.0 - INTERVAL_MS / 1000.0 - 0.1 <= gone <= TTL_MS / 1000.0 + 1.0,
                "removed about TTL after the last heartbeat", "%.3f s after the kill" % gone)
        t.check(ru.engine_info(admin, "py-double") is None, "ListEngines no longer has it")

        start_engine()
        t.check(ru.wait_for(lambda: (ru.model_info(broker, "py-double") or pb.broker.ModelInfo()).ready, 20),
                "restarted: it is back")
        r = t.call("Infer py-double again", broker.Infer, infer_request("py-double", x, input_name="x"))
        t.check(r is not None and np.array_equal(output_array(r, "y"), x * 2), "and answers")

    t.still_serving("native remotes")


if __name__ == "__main__":
    harness.run(main)
