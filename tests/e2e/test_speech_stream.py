#!/usr/bin/python3
"""Streaming audio through a pipeline (issue #17 item 5 and the speech-pipeline test): an espeak-ng sentence
(resampled by sox to 44.1 kHz stereo, with silence around it) cut into 100 ms WAV chunks, sent as AUDIO on one
Broker.InferStream, each chunk with its own id, through

    audio (AUDIO) -> vad: a stateful energy detector (ONNX, config.json "sequence" + an AUDIO_TENSOR 16 kHz input,
                          so the compiler inserts decode -> down-mix -> resample to 16 kHz)
                  -> mel: log-mel (16 kHz mono, conversion inserted), only when vad.speech > 0.5
                  -> kw:  a small ONNX model on the spectrogram (y = sigmoid(0.1 * mean_t(w . mel[:, t])))

The broker carries the detector's state from chunk to chunk of the stream (its sequence), runs the stream's chunks
in arrival order, and skips mel and kw on chunks without speech. The reference runs the same steps in numpy,
carrying the state itself: the detector's recurrence, tests/e2e/audio_ref.log_mel and the model. Its input samples
are the broker's own audio-decode of each chunk (decode + resample is checked against scipy in test_audio.py), so
what is compared here is the pipeline: state, order, skipping, ids. The kw model also runs in ONNX Runtime
(onnxruntime-node, tests/e2e/ort_run.js) on the numpy spectrograms and must equal its numpy form. Two streams at
once never share state; a unary call (no stream) runs from the initial state.

usage: /usr/bin/python3 tests/e2e/test_speech_stream.py /path/to/junction
"""
import io
import json
import os
import subprocess
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from scipy.io import wavfile  # noqa: E402

import audio_ref as ref  # noqa: E402
import harness  # noqa: E402
from harness import pb  # noqa: E402

RATE = 44100
CHUNK = RATE // 10  # 100 ms
THRESHOLD = 2e-4
DECAY = 0.6
LOG_FLOOR = 1e-4
W = np.linspace(-0.5, 1.0, 80).astype(np.float32)


def save(model, path):
    model.ir_version = 8
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())


def build_vad(path):
    """e = mean(x^2); stateN = DECAY * state + (1 - DECAY) * e; speech = float(stateN > THRESHOLD)."""
    g = helper.make_graph(
        [helper.make_node("Mul", ["x", "x"], ["x2"]),
         helper.make_node("ReduceMean", ["x2"], ["e"], axes=[1], keepdims=1),
         helper.make_node("Mul", ["state", "decay"], ["s0"]),
         helper.make_node("Mul", ["e", "keep"], ["e1"]),
         helper.make_node("Add", ["s0", "e1"], ["stateN"]),
         helper.make_node("Greater", ["stateN", "thr"], ["on"]),
         helper.make_node("Cast", ["on"], ["onf"], to=TensorProto.FLOAT),
         helper.make_node("Reshape", ["onf", "one"], ["speech"])],
        "vad",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "S"]),
         helper.make_tensor_value_info("state", TensorProto.FLOAT, [1, 1])],
        [helper.make_tensor_value_info("speech", TensorProto.FLOAT, [1]),
         helper.make_tensor_value_info("stateN", TensorProto.FLOAT, [1, 1])],
        [numpy_helper.from_array(np.array([[DECAY]], np.float32), "decay"),
         numpy_helper.from_array(np.array([[1 - DECAY]], np.float32), "keep"),
         numpy_helper.from_array(np.array([[THRESHOLD]], np.float32), "thr"),
         numpy_helper.from_array(np.array([1], np.int64), "one")])
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


def build_kw(path):
    """y = sigmoid(0.1 * mean_t(sum_m W[m] mel[n, m, t]))."""
    g = helper.make_graph(
        [helper.make_node("Transpose", ["mel"], ["mt"], perm=[0, 2, 1]),
         helper.make_node("MatMul", ["mt", "w"], ["p"]),
         helper.make_node("ReduceMean", ["p"], ["m"], axes=[1], keepdims=0),
         helper.make_node("Mul", ["m", "tenth"], ["z"]),
         helper.make_node("Sigmoid", ["z"], ["y"])],
        "kw",
        [helper.make_tensor_value_info("mel", TensorProto.FLOAT, ["N", 80, "T"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(W.reshape(80, 1), "w"),
         numpy_helper.from_array(np.array([0.1], np.float32), "tenth")])
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


PIPELINE = {
    "name": "speech-stream",
    "description": "AUDIO chunks -> stateful VAD -> log-mel and kw only on chunks with speech",
    "inputs": [{"name": "audio", "kind": "AUDIO", "datatype": "BYTES", "shape": [-1]}],
    "steps": [
        {"id": "vad", "model": "vad", "inputs": {"x": "audio"}},
        {"id": "mel", "model": "log-mel", "inputs": {"samples": "audio"},
         "when": {"from": "vad.speech", "above": 0.5}},
        {"id": "kw", "model": "kw", "inputs": {"mel": "mel.mel"}},
    ],
    "outputs": [{"name": "speech", "from": "vad.speech"}, {"name": "score", "from": "kw.y", "optional": True}],
}


def wav_bytes(samples_int16):
    b = io.BytesIO()
    wavfile.write(b, RATE, samples_int16)
    return b.getvalue()


def make_chunks(d):
    src, wav = os.path.join(d, "speech22.wav"), os.path.join(d, "speech44s.wav")
    subprocess.run(["espeak-ng", "-w", src, "Streaming speech, one tenth of a second at a time."], check=True)
    subprocess.run(["sox", src, "-r", str(RATE), "-c", "2", "-b", "16", wav, "pad", "0.5", "0.6"], check=True)
    rate, x = wavfile.read(wav)
    assert rate == RATE and x.ndim == 2 and x.shape[1] == 2
    n = x.shape[0] // CHUNK
    return [wav_bytes(x[i * CHUNK:(i + 1) * CHUNK]) for i in range(n)]


def audio_value(name, data):
    return pb.contract.Value(name=name, tensor=pb.tensor.Tensor(name=name, datatype=pb.tensor.BYTES, shape=[1],
                                                                 strings=[data]))


def out(resp, name):
    for v in resp.outputs:
        if v.name == name and v.WhichOneof("value") == "tensor":
            return np.frombuffer(v.tensor.raw, dtype="<f4").reshape(tuple(v.tensor.shape))
    return None


def request(chunk, id):
    return harness.infer_request("speech-stream", values=[audio_value("audio", chunk)], id=id,
                                 params={"log_floor": LOG_FLOOR})


def run_stream(srv, chunks, tag):
    """Every chunk on one InferStream, all sent at once; answers keyed by id."""
    resps = srv.broker().InferStream(iter([request(c, "%s-%03d" % (tag, i)) for i, c in enumerate(chunks)]),
                                     timeout=120)
    got = {}
    for r in resps:
        if r.HasField("error") and r.error.code != 0:
            got[r.id] = "error %d %s" % (r.error.code, r.error.message)
        else:
            got[r.id] = (out(r, "speech"), out(r, "score"))
    return got


def run_ort(t, model, x, out_path):
    """The model in ONNX Runtime (npm onnxruntime-node, tests/e2e/ort_run.js) on x (float32 [N, ...])."""
    in_path = out_path + ".in.f32"
    np.ascontiguousarray(x, dtype="<f4").tofile(in_path)
    p = subprocess.run(["node", os.path.join(os.path.dirname(os.path.abspath(__file__)), "ort_run.js"), model,
                        in_path, ",".join(str(d) for d in x.shape), out_path, "100"],
                       capture_output=True, text=True, timeout=300)
    if not t.check(p.returncode == 0, "onnxruntime-node runs %s on %d spectrograms" % (os.path.basename(model),
                                                                                         x.shape[0]),
                   "exit %d: %s" % (p.returncode, (p.stderr or p.stdout).strip()[-800:])):
        return None
    return np.fromfile(out_path, dtype="<f4").reshape(x.shape[0], -1)


def spectrograms(samples, want):
    """The numpy log-mel of every chunk the reference calls speech, stacked [n, 80, T]."""
    return np.stack([ref.log_mel(x.astype(np.float64), log_floor=LOG_FLOOR).astype(np.float32)
                     for x, (s, _) in zip(samples, want) if s > 0.5])


def reference(samples):
    """numpy, carrying the detector's state: per chunk (speech, score or None)."""
    state = np.float32(0)
    res = []
    for x in samples:
        x = x.astype(np.float32)
        e = np.float32(np.mean(x * x, dtype=np.float32))
        state = np.float32(DECAY) * state + np.float32(1 - DECAY) * e
        speech = float(state > np.float32(THRESHOLD))
        score = None
        if speech > 0.5:
            mel = ref.log_mel(x.astype(np.float64), log_floor=LOG_FLOOR)
            z = 0.1 * np.mean(W.astype(np.float64) @ mel)
            score = 1 / (1 + np.exp(-z))
        res.append((speech, score))
    return res


def compare(t, got, want, tag):
    ids = ["%s-%03d" % (tag, i) for i in range(len(want))]
    t.check(sorted(got) == ids, "%s: every chunk answered once, under its own id (%d answers)" % (tag, len(got)),
            "ids: %r" % sorted(got)[:5])
    bad = []
    worst = 0.0
    for i, (w_speech, w_score) in zip(ids, want):
        g = got.get(i)
        if not isinstance(g, tuple) or g[0] is None or float(g[0][0]) != w_speech:
            bad.append("%s: got %r, want speech %r" % (i, g, w_speech))
            continue
        if (g[1] is None) != (w_score is None):
            bad.append("%s: score %r, want %r (kw must run exactly on speech chunks)" % (i, g[1], w_score))
            continue
        if w_score is not None:
            worst = max(worst, abs(float(g[1].reshape(-1)[0]) - w_score))
    t.check(not bad and worst <= 1e-4, "%s: speech flags equal the numpy reference carrying the state, scores "
            "within 1e-4 (max |diff| %.2e)" % (tag, worst), "\n".join(bad[:8]))


def main(t):
    d = os.path.join(t.workdir, "speech")
    os.makedirs(d)
    chunks = make_chunks(d)
    models = os.path.join(t.workdir, "models")
    build_vad(os.path.join(models, "vad", "model.onnx"))
    with open(os.path.join(models, "vad", "config.json"), "w") as f:
        json.dump({"inputs": {"x": {"kind": "AUDIO_TENSOR", "sample_rate": 16000}},
                   "sequence": {"state": [{"input": "state", "output": "stateN"}]}}, f)
    build_kw(os.path.join(models, "kw", "model.onnx"))
    pipes = os.path.join(t.workdir, "pipelines")
    os.makedirs(pipes)
    with open(os.path.join(pipes, "speech.json"), "w") as f:
        json.dump(PIPELINE, f)
    srv = t.start_server(["--models", models, "--pipelines", pipes])
    stub = srv.broker()

    with t.case("the broker's decode of each chunk (the reference's input)"):
        samples = []
        for i, c in enumerate(chunks):
            r = t.call("audio-decode chunk %d" % i, stub.Infer,
                       harness.infer_request("audio-decode", values=[audio_value("audio", c)]))
            samples.append(out(r, "samples")[0, 0] if r is not None else np.zeros(1600, np.float32))
        want = reference(samples)
        n_speech = sum(1 for s, _ in want if s > 0.5)
        t.check(0 < n_speech < len(want), "%d chunks of 100 ms, %d with speech by the reference (silence around "
                "the sentence)" % (len(want), n_speech))
        stateless = [reference([x])[0][0] for x in samples]
        held = [i for i in range(len(want)) if want[i][0] != stateless[i]]
        mels = spectrograms(samples, want)
        y_ort = run_ort(t, os.path.join(models, "kw", "model.onnx"), mels, os.path.join(d, "kw.out.f32"))
        if y_ort is not None:
            y_np = np.array([sc for s, sc in want if s > 0.5])
            diff = float(np.abs(y_ort[:, 0] - y_np).max())
            t.check(diff <= 1e-5, "the kw model in ONNX Runtime on the numpy spectrograms equals its numpy form "
                    "(max |diff| %.2e over %d chunks)" % (diff, len(y_np)))
        t.check(len(held) > 0, "the state matters: %d chunks are flagged differently with the state carried than "
                "each alone (the detector's decay holds speech on after the sentence)" % len(held))

    with t.case("one InferStream: state carried, chunks in order, non-speech skipped"):
        compare(t, run_stream(srv, chunks, "s1"), want, "s1")

    with t.case("two streams at once never share state"):
        results = {}
        order = [chunks, chunks[::-1]]
        def go(k):  # noqa: E306
            results[k] = run_stream(srv, order[k], "p%d" % k)
        ths = [threading.Thread(target=go, args=(k,)) for k in range(2)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        compare(t, results.get(0, {}), want, "p0")
        compare(t, results.get(1, {}), reference(samples[::-1]), "p1")

    with t.case("a unary call runs from the initial state"):
        i = held[0] if held else 0
        r = t.call("unary speech-stream", stub.Infer, request(chunks[i], "u"))
        alone = reference([samples[i]])[0]
        t.check(r is not None and float(out(r, "speech")[0]) == alone[0] != want[i][0],
                "chunk %d alone: speech %r, as the reference from the initial state (in the stream: %r)" %
                (i, alone[0], want[i][0]))

    with t.case("the signature"):
        info = t.call("GetModel vad", stub.GetModel, pb.broker.GetModelRequest(name="vad"))
        if info is not None:
            ins = {p.name: p for p in info.signature.inputs}
            t.check(list(ins) == ["x"] and ins["x"].kind == pb.contract.AUDIO_TENSOR and ins["x"].sample_rate == 16000,
                    "vad's public signature: x AUDIO_TENSOR 16000 Hz (the state input hidden)")


harness.run(main)
