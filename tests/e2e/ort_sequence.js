// Runs a stateful ONNX model in ONNX Runtime (npm onnxruntime-node) over a sequence of requests, carrying the state
// itself: the reference the sequence tests (test_sequence.py) compare junction's broker-held state against.
//
//   node tests/e2e/ort_sequence.js SPEC.json OUT.json
//
// SPEC.json: {"model": "m.onnx", "state": [["state", "stateN"], ...],   (input fed by output, per pair)
//             "initial": {"state": {"dims": [1, 4], "data": [0, 0, 0, 0]}, ...},
//             "steps": [{"x": {"dims": [1, 4], "data": [...]}}, ...], "outputs": ["y", "stateN"]}
// OUT.json: {"outputs": [{"y": [...], "stateN": [...]}, ...], "ort_version": "..."} (one entry per step, FP32 values
// as numbers). One intra-op thread, sequential execution. onnxruntime-node is found as in ort_run.js.
'use strict';
const fs = require('fs');
const path = require('path');

function loadOrt() {
  const dir = process.env.JUNCTION_ORT_NODE ||
    path.join(__dirname, '..', '..', '.cache', 'onnxruntime', 'node_modules', 'onnxruntime-node');
  try {
    return {ort: require(dir), version: require(path.join(dir, 'package.json')).version};
  } catch (e) {
    process.stderr.write(`ort_sequence: cannot load onnxruntime-node from ${dir}: ${e.message}\n`);
    process.exit(3);
  }
}

async function main() {
  const [specPath, outPath] = process.argv.slice(2);
  const spec = JSON.parse(fs.readFileSync(specPath, 'utf8'));
  const {ort, version} = loadOrt();
  const session = await ort.InferenceSession.create(spec.model, {
    intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential'});
  const f32 = (t) => new ort.Tensor('float32', Float32Array.from(t.data), t.dims);
  const state = {};
  for (const [input] of spec.state)
    state[input] = f32(spec.initial[input]);
  const outputs = [];
  for (const step of spec.steps) {
    const feeds = {...state};
    for (const [name, t] of Object.entries(step))
      feeds[name] = f32(t);
    const res = await session.run(feeds);
    const got = {};
    for (const name of spec.outputs)
      got[name] = Array.from(res[name].data);
    for (const [input, output] of spec.state)
      state[input] = res[output];
    outputs.push(got);
  }
  fs.writeFileSync(outPath, JSON.stringify({outputs, ort_version: version}));
}

main().catch((e) => {
  process.stderr.write(`ort_sequence: ${e.stack || e}\n`);
  process.exit(1);
});
