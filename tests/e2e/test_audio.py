#!/usr/bin/python3
"""Audio end to end (issue #17): speech made here with Debian's espeak-ng, tones and other rates/containers with sox,
sent to the real junction binary as AUDIO; results compared with numpy/scipy references (tests/e2e/audio_ref.py).

- decode + resample (audio-decode, libsoxr HQ) against scipy resample_poly (Kaiser beta 10): SNR >= 60 dB on
  band-limited signals (tones; speech low-passed by sox below 4 kHz, where both filters are flat); exact for 16-bit
  PCM WAV (and FLAC, lossless) at the same rate;
- FLAC / Ogg Vorbis / MP3 decode (lossy ones: length and SNR / correlation against the WAV they were made from);
- log-mel against the numpy implementation of the same definition (engines/audio/logmel.h): |difference| <= 2e-3
  in ln units wherever the band's energy is within e^-20 of the spectrogram's peak (float32 FFT vs float64);
- bad inputs (junk, AIFF, truncated WAV/FLAC, 400 kHz, zero channels, longer than --max-audio-seconds):
  INVALID_ARGUMENT naming the port and the reason;
- config.json "inputs" beside an ONNX model built with python3-onnx's helper: an AUDIO_TENSOR input at 16 kHz that
  takes encoded audio, and an input with a default callers leave out; bad configs name the file and the field;
- a pipeline AUDIO -> log-mel and -> the ONNX model (conversions inserted by the compiler), and simple JSON
  {"audio": base64} over HTTP.

usage: /usr/bin/python3 tests/e2e/test_audio.py /path/to/junction
"""
import base64
import http.client
import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

import audio_ref as ref  # noqa: E402
import harness  # noqa: E402
from harness import pb  # noqa: E402

SPEECH = "Junction serves models. This sentence is spoken by e speak, at twenty two kilohertz."


def sh(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_audio(d):
    """The files every check uses, made with espeak-ng and sox."""
    p = lambda n: os.path.join(d, n)  # noqa: E731
    sh("espeak-ng", "-w", p("speech22.wav"), SPEECH)
    sh("sox", p("speech22.wav"), "-r", "44100", "-c", "2", "-b", "16", p("speech44s.wav"))
    sh("sox", p("speech22.wav"), "-r", "16000", "-c", "1", "-b", "16", p("speech16.wav"))
    sh("sox", p("speech16.wav"), p("speech16.flac"))
    # band-limited below 4 kHz (sox's sinc low-pass): where both resamplers are flat
    sh("sox", p("speech22.wav"), "-r", "44100", "-c", "2", "-b", "16", p("speech44s_lp.wav"), "sinc", "-4000",
       "gain", "-n", "-3")
    sh("sox", "-n", "-r", "44100", "-c", "2", "-b", "16", p("tones44s.wav"), "synth", "2", "sine", "440", "sine",
       "1000", "gain", "-6")
    sh("sox", "-n", "-r", "48000", "-c", "1", "-b", "16", p("tone48.wav"), "synth", "1.5", "sine", "2500", "gain",
       "-6")
    sh("sox", p("speech44s.wav"), p("speech44s.flac"))
    sh("sox", p("speech44s.wav"), "-C", "6", p("speech44s.ogg"))
    sh("sox", p("speech44s.wav"), "-C", "192", p("speech44s.mp3"))
    sh("sox", p("speech44s.wav"), p("speech44s.aiff"))
    sh("sox", "-n", "-r", "16000", "-c", "1", "-b", "16", p("long16.wav"), "synth", "3", "sine", "300")
    files = {}
    for n in os.listdir(d):
        with open(p(n), "rb") as f:
            files[n] = f.read()
    wav = bytearray(files["tone48.wav"])
    hi = bytearray(wav)
    hi[24:28] = (400000).to_bytes(4, "little")
    hi[28:32] = (800000).to_bytes(4, "little")
    files["rate400k.wav"] = bytes(hi)
    zero = bytearray(wav)
    zero[22:24] = (0).to_bytes(2, "little")
    files["zero_channels.wav"] = bytes(zero)
    files["truncated.wav"] = files["speech44s.wav"][:len(files["speech44s.wav"]) // 3]
    files["truncated.flac"] = files["speech44s.flac"][:len(files["speech44s.flac"]) // 3]
    files["truncated.ogg"] = files["speech44s.ogg"][:len(files["speech44s.ogg"]) // 3]
    files["junk.bin"] = bytes(range(256)) * 4
    return files


def audio_value(name, data):
    return pb.contract.Value(name=name, tensor=pb.tensor.Tensor(name=name, datatype=pb.tensor.BYTES, shape=[1],
                                                                 strings=[data]))


def call(t, stub, model, inputs, what, params=None):
    req = harness.infer_request(model, values=inputs, params=params)
    return t.call(what, stub.Infer, req)


def out(resp, name):
    for v in resp.outputs:
        if v.name == name and v.WhichOneof("value") == "tensor":
            tt = v.tensor
            dt = {pb.tensor.FP32: "<f4", pb.tensor.INT64: "<i8"}[tt.datatype]
            return np.frombuffer(tt.raw, dtype=dt).reshape(tuple(tt.shape))
    return None


def decode(t, stub, data, rate, what, channels=1):
    r = call(t, stub, "audio-decode", [audio_value("audio", data)], what,
             params={"sample_rate": rate, "channels": channels})
    return None if r is None else out(r, "samples")


def build_amean(path):
    """y[n] = mean(input[n, :]) * float(sr); samples = shape(input)."""
    g = helper.make_graph(
        [helper.make_node("ReduceMean", ["input"], ["m"], axes=[1], keepdims=1),
         helper.make_node("Cast", ["sr"], ["srf"], to=TensorProto.FLOAT),
         helper.make_node("Mul", ["m", "srf"], ["y"]),
         helper.make_node("Shape", ["input"], ["samples"])],
        "audio_mean",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", "S"]),
         helper.make_tensor_value_info("sr", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1]),
         helper.make_tensor_value_info("samples", TensorProto.INT64, [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(m.SerializeToString())


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


PIPELINE = {
    "name": "speech-features",
    "description": "AUDIO -> log-mel (16 kHz mono, conversion inserted) and -> amean (its AUDIO_TENSOR port)",
    "inputs": [{"name": "audio", "kind": "AUDIO", "datatype": "BYTES", "shape": [-1]}],
    "steps": [
        {"id": "mel", "model": "log-mel", "inputs": {"samples": "audio"}},
        {"id": "mean", "model": "amean", "inputs": {"input": "audio"}},
    ],
    "outputs": [{"name": "mel", "from": "mel.mel"}, {"name": "y", "from": "mean.y"}],
}


def main(t):
    d = os.path.join(t.workdir, "audio")
    os.makedirs(d)
    files = make_audio(d)
    models = os.path.join(t.workdir, "models")
    build_amean(os.path.join(models, "amean", "model.onnx"))
    write(os.path.join(models, "amean", "config.json"), json.dumps(
        {"inputs": {"input": {"kind": "AUDIO_TENSOR", "sample_rate": 16000}, "sr": {"default": [16000]}}}))
    bad_cfgs = {
        "bad_input": {"inputs": {"nope": {"default": [1]}}},
        "bad_default": {"inputs": {"sr": {"default": [1.5]}}},
        "bad_kind": {"inputs": {"sr": {"kind": "AUDIO_TENSOR"}}},
        "bad_field": {"inputs": {"input": {"kind": "AUDIO_TENSOR", "rate": 16000}}},
    }
    for name, cfg in bad_cfgs.items():
        build_amean(os.path.join(models, name, "model.onnx"))
        write(os.path.join(models, name, "config.json"), json.dumps(cfg))
    pipes = os.path.join(t.workdir, "pipelines")
    write(os.path.join(pipes, "speech.json"), json.dumps(PIPELINE))

    srv = t.start_server(["--models", models, "--pipelines", pipes, "--http-port", "any"])
    stub = srv.broker()

    with t.case("decode: exact for 16-bit PCM WAV and FLAC at the same rate"):
        rate, x = ref.read_wav(files["speech16.wav"])
        got = decode(t, stub, files["speech16.wav"], 16000, "audio-decode speech16.wav")
        t.check(got is not None and got.shape == (1, 1, x.shape[1]) and np.array_equal(got[0, 0], x[0].astype(np.float32)),
                "16 kHz mono 16-bit WAV decodes to int16 / 32768 exactly (%d samples)" % x.shape[1])
        got = decode(t, stub, files["speech16.flac"], 0, "audio-decode speech16.flac")
        t.check(got is not None and np.array_equal(got[0, 0], x[0].astype(np.float32)),
                "FLAC of the same audio decodes to the same samples exactly")
        r = call(t, stub, "audio-decode", [pb.contract.Value(name="audio", audio=pb.contract.Audio(
            data=files["speech16.wav"], format="wav"))], "audio-decode with a typed v1 Audio value",
            params={"sample_rate": 16000})
        t.check(r is not None and np.array_equal(out(r, "samples")[0, 0], x[0].astype(np.float32)),
                "junction.v1 Value.audio (typed) decodes as the BYTES tensor does")
        rate, xs = ref.read_wav(files["speech44s.wav"])
        got = decode(t, stub, files["speech44s.wav"], 0, "audio-decode channels=0", channels=0)
        t.check(got is not None and got.shape == (1, 2, xs.shape[1]) and np.array_equal(got[0], xs.astype(np.float32)),
                "44.1 kHz stereo kept as encoded (channels=0, sample_rate=0): [1, 2, %d] exact" % xs.shape[1])

    with t.case("decode + resample vs scipy resample_poly"):
        for name, rate_out in (("tones44s.wav", 16000), ("speech44s_lp.wav", 16000), ("tone48.wav", 16000),
                               ("speech44s_lp.wav", 22050)):
            want = ref.decode_resample_mono(files[name], rate_out)
            got = decode(t, stub, files[name], rate_out, "audio-decode %s -> %d" % (name, rate_out))
            if got is None:
                continue
            g = got[0, 0].astype(np.float64)
            snr = ref.snr_db(want, g, trim=64)
            t.check(abs(len(g) - len(want)) <= 1 and snr >= 60.0,
                    "%s -> %d Hz mono: %d samples (reference %d), SNR %.1f dB >= 60" % (name, rate_out, len(g),
                                                                                   len(want), snr))

    with t.case("lossy containers: Ogg/Vorbis and MP3"):
        want = ref.decode_resample_mono(files["speech44s.wav"], 16000)
        got = decode(t, stub, files["speech44s.ogg"], 16000, "audio-decode ogg")
        if got is not None:
            g = got[0, 0].astype(np.float64)
            snr = ref.snr_db(want, g, trim=64)
            t.check(abs(len(g) - len(want)) <= 1 and snr >= 10, "Ogg/Vorbis: %d samples (WAV %d), SNR %.1f dB vs the "
                    "WAV it was made from" % (len(g), len(want), snr))
        got = decode(t, stub, files["speech44s.mp3"], 16000, "audio-decode mp3")
        if got is not None:
            g = got[0, 0].astype(np.float64)
            n = min(len(g), len(want))
            # the MP3 encoder's delay shifts the signal: best normalized correlation over shifts up to 0.1 s
            best = max(np.dot(want[:n - 1600], g[s:s + n - 1600]) /
                       (np.linalg.norm(want[:n - 1600]) * np.linalg.norm(g[s:s + n - 1600]) + 1e-12)
                       for s in range(0, 1600, 1))
            t.check(abs(len(g) - len(want)) <= 1600 and best >= 0.95,
                    "MP3: %d samples (WAV %d), correlation %.4f >= 0.95" % (len(g), len(want), best))

    with t.case("log-mel vs numpy"):
        rate, x = ref.read_wav(files["speech16.wav"])
        samples = x[0].astype(np.float32)[None, :]
        for params in ({}, {"n_fft": 512, "hop": 128, "n_mels": 40, "fmin": 50.0, "fmax": 7600.0, "power": 1.0},
                       {"window": "rect", "n_mels": 64, "log_floor": 1e-6}):
            r = t.call("log-mel %r" % params, stub.Infer,
                       harness.infer_request("log-mel", samples, input_name="samples", params=params))
            if r is None:
                continue
            got = out(r, "mel")[0].astype(np.float64)
            kw = {k: v for k, v in params.items()}
            want = ref.log_mel(samples[0].astype(np.float64), **kw)
            mask = want >= want.max() - 20
            diff = np.abs(got - want)[mask].max() if got.shape == want.shape else float("inf")
            t.check(got.shape == want.shape and diff <= 2e-3,
                    "log-mel %s: shape %s (numpy %s), max |diff| %.2e <= 2e-3 over %d of %d values" %
                    (params or "defaults", got.shape, want.shape, diff, int(mask.sum()), mask.size))
        r1 = call(t, stub, "log-mel", [audio_value("samples", files["speech44s.wav"])], "log-mel of AUDIO")
        dec = decode(t, stub, files["speech44s.wav"], 16000, "audio-decode 44.1 kHz stereo")
        r2 = t.call("log-mel of decoded samples", stub.Infer,
                    harness.infer_request("log-mel", dec[0] if dec is not None else None, input_name="samples"))
        t.check(r1 is not None and r2 is not None and np.array_equal(out(r1, "mel"), out(r2, "mel")),
                "log-mel given encoded audio (AUDIO_TENSOR port, conversion to 16 kHz mono) equals log-mel of "
                "audio-decode's samples")

    with t.case("bad inputs: INVALID_ARGUMENT naming the port and the reason"):
        inv = grpc.StatusCode.INVALID_ARGUMENT
        for name, subs in (("junk.bin", ("input 'audio'", "unsupported container or with a corrupt header")),
                           ("speech44s.aiff", ("input 'audio'", "unsupported container AIFF")),
                           ("truncated.wav", ("input 'audio'", "WAV is truncated")),
                           ("truncated.flac", ("input 'audio'", "FLAC stream is truncated or corrupt")),
                           ("truncated.ogg", ("input 'audio'", "Ogg stream is truncated at byte")),
                           ("rate400k.wav", ("input 'audio'", "sample rate 400000 Hz is outside 1..384000 Hz")),
                           ("zero_channels.wav", ("input 'audio'", "declares zero channels"))):
            t.expect_error("audio-decode %s" % name, stub.Infer, inv, "model 'audio-decode'", *subs,
                           args=(harness.infer_request("audio-decode", values=[audio_value("audio", files[name])]),))
        t.expect_error("amean (ONNX, AUDIO_TENSOR port) given junk", stub.Infer, inv, "model 'amean'",
                       "input 'input'", "unsupported container",
                       args=(harness.infer_request("amean", values=[audio_value("input", files["junk.bin"])]),))
        t.expect_error("empty audio", stub.Infer, inv, "input 'audio'", "empty",
                       args=(harness.infer_request("audio-decode", values=[audio_value("audio", b"")]),))

    with t.case("config.json inputs: AUDIO_TENSOR kind and a default"):
        info = t.call("GetModel amean", stub.GetModel, pb.broker.GetModelRequest(name="amean"))
        if info is not None:
            ports = {p.name: p for p in info.signature.inputs}
            t.check(ports["input"].kind == pb.contract.AUDIO_TENSOR and ports["input"].sample_rate == 16000,
                    "amean's input is AUDIO_TENSOR at 16000 Hz in its signature")
            t.check(ports["sr"].has_default, "amean's sr input says it has a default")
        rate, x = ref.read_wav(files["speech16.wav"])
        r = call(t, stub, "amean", [audio_value("input", files["speech16.wav"])], "amean with encoded audio, no sr")
        if r is not None:
            want = np.float32(x[0].astype(np.float32).mean(dtype=np.float64)) * 16000
            y = out(r, "y")
            t.check(abs(float(y[0, 0]) - float(want)) <= 1e-4 * max(1.0, abs(float(want))),
                    "y = mean(samples) * 16000 (default sr): %.6g vs numpy %.6g" % (y[0, 0], want))
            t.eq(out(r, "samples").tolist(), [1, x.shape[1]], "the model saw [1, %d] samples" % x.shape[1])
        r = call(t, stub, "amean", [audio_value("input", files["speech44s.wav"])], "amean with 44.1 kHz stereo")
        if r is not None:
            n16 = len(ref.decode_resample_mono(files["speech44s.wav"], 16000))
            t.check(abs(int(out(r, "samples")[1]) - n16) <= 1,
                    "44.1 kHz stereo converted to 16 kHz mono before the model: %d samples" % out(r, "samples")[1])
        sr = pb.contract.Value(name="sr", tensor=pb.tensor.Tensor(name="sr", datatype=pb.tensor.INT64, shape=[1],
                                                                  raw=np.array([2], "<i8").tobytes()))
        r = call(t, stub, "amean", [harness.tensor_value("input", harness.fp32_tensor([[0.5, 0.25]])), sr],
                 "amean with samples and sr given")
        t.check(r is not None and float(out(r, "y")[0, 0]) == 0.75, "a given sr overrides the default (0.375 * 2)")
        err = srv.stderr_text()
        for name, sub in (("bad_input", "config.json: inputs.nope: the model has no input 'nope'"),
                          ("bad_default", "config.json: inputs.sr.default[0] = 1.5 does not fit INT64"),
                          ("bad_kind", "config.json: inputs.sr.kind: AUDIO_TENSOR needs FP32 samples"),
                          ("bad_field", "config.json: inputs.input: unknown field 'rate'")):
            t.check("model '%s' skipped" % name in err and sub in err,
                    "model %s skipped, the message names the file and the field (%s)" % (name, sub),
                    "\n".join(l for l in err.splitlines() if name in l))

    with t.case("pipeline: AUDIO -> log-mel and the ONNX model"):
        data = files["speech44s.wav"]
        r = call(t, stub, "speech-features", [audio_value("audio", data)], "speech-features pipeline")
        m = call(t, stub, "log-mel", [audio_value("samples", data)], "log-mel direct")
        a = call(t, stub, "amean", [audio_value("input", data)], "amean direct")
        if r is not None and m is not None and a is not None:
            t.check(np.array_equal(out(r, "mel"), out(m, "mel")), "pipeline's mel equals log-mel called directly "
                    "(%s)" % (out(r, "mel").shape,))
            t.check(np.array_equal(out(r, "y"), out(a, "y")), "pipeline's y equals amean called directly")

    with t.case("simple JSON {\"audio\": base64}"):
        conn = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=30)
        body = json.dumps({"audio": base64.b64encode(files["speech16.wav"]).decode()})
        conn.request("POST", "/v1/models/amean:predict", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        ans = json.loads(resp.read())
        rate, x = ref.read_wav(files["speech16.wav"])
        want = float(np.float32(x[0].astype(np.float32).mean(dtype=np.float64)) * 16000)
        t.check(resp.status == 200 and abs(ans["y"][0][0] - want) <= 1e-4 * max(1.0, abs(want)),
                "POST /v1/models/amean:predict {\"audio\": ...} -> y %r (numpy %.6g)" % (ans.get("y"), want))
        body = json.dumps({"audio": "data:audio/wav;base64," + base64.b64encode(files["speech16.wav"]).decode()})
        conn.request("POST", "/v1/models/amean:predict", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        ans2 = json.loads(resp.read())
        t.check(resp.status == 200 and ans2.get("y") == ans.get("y"),
                "the same audio as a data: URL (what the console sends) -> the same y (%r)" % ans2)
        body = json.dumps({"audio": "data:image/png;base64," + base64.b64encode(files["speech16.wav"]).decode()})
        conn.request("POST", "/v1/models/amean:predict", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        ans3 = json.loads(resp.read())
        t.check(resp.status == 400 and "audio/" in ans3.get("error", ""),
                "a data: URL typed image/png for an audio input: 400 (%s)" % ans3.get("error"))
        body = json.dumps({"audio": base64.b64encode(files["rate400k.wav"]).decode()})
        conn.request("POST", "/v1/models/audio-decode:predict", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        ans = json.loads(resp.read())
        t.check(resp.status == 400 and "sample rate 400000 Hz" in ans.get("error", ""),
                "a 400 kHz WAV over simple JSON: 400 naming the rate (%s)" % ans.get("error"))
        conn.close()

    with t.case("--max-audio-seconds"):
        small = t.start_server(["--max-audio-seconds", "2"], probe=False)
        s2 = small.broker()
        t.expect_error("3 s of audio with --max-audio-seconds 2", s2.Infer, grpc.StatusCode.INVALID_ARGUMENT,
                       "input 'audio'", "3.0 s long, longer than the limit of 2 s (--max-audio-seconds)", alive=False,
                       args=(harness.infer_request("audio-decode", values=[audio_value("audio", files["long16.wav"])]),))
        r = call(t, s2, "audio-decode", [audio_value("audio", files["tone48.wav"])], "1.5 s within the limit")
        t.check(r is not None, "1.5 s of audio passes with --max-audio-seconds 2")
        t.stop_server(small)


harness.run(main)
