// Runs an ONNX model in ONNX Runtime (npm onnxruntime-node) over a file of FP32 rows and writes its first output.
//
//   node tests/e2e/ort_run.js MODEL.onnx INPUT.f32 N,D1,D2,... OUTPUT.f32 [BATCH [OPT_LEVEL]]
//
// INPUT.f32 holds N rows of shape D1 x D2 x ... as little-endian float32 (row-major); they are fed to the model's
// only input BATCH rows at a time (default 100) and the model's first output is appended to OUTPUT.f32 in the same
// layout. Prints one JSON line: {"rows", "output", "output_shape", "ort_version", "threads"}. One intra-op thread,
// sequential execution: the answer must not depend on the machine. OPT_LEVEL is ORT's graphOptimizationLevel
// (default 'all'; 'disabled' runs a QDQ model as its float operators, without fusing it into integer kernels).
//
// onnxruntime-node is looked up in $JUNCTION_ORT_NODE (the package directory), else in the checkout's
// .cache/onnxruntime/node_modules/onnxruntime-node (scripts/install-deps.sh --onnxruntime puts it there).
// Exit status 3 when it cannot be loaded, 1 on any other failure.
'use strict';
const fs = require('fs');
const path = require('path');

function loadOrt() {
  const dir = process.env.JUNCTION_ORT_NODE ||
    path.join(__dirname, '..', '..', '.cache', 'onnxruntime', 'node_modules', 'onnxruntime-node');
  try {
    return {ort: require(dir), version: require(path.join(dir, 'package.json')).version};
  } catch (e) {
    process.stderr.write(`ort_run: cannot load onnxruntime-node from ${dir}: ${e.message}\n` +
                         'ort_run: install it with scripts/install-deps.sh --onnxruntime\n');
    process.exit(3);
  }
}

async function main() {
  const [modelPath, inputPath, shapeArg, outputPath, batchArg, optArg] = process.argv.slice(2);
  if (!outputPath) {
    process.stderr.write('usage: node ort_run.js MODEL.onnx INPUT.f32 N,D1,... OUTPUT.f32 [BATCH]\n');
    process.exit(1);
  }
  const {ort, version} = loadOrt();
  const shape = shapeArg.split(',').map(Number);
  const rows = shape[0], rowLen = shape.slice(1).reduce((a, b) => a * b, 1);
  const batch = Number(batchArg || 100);
  const buf = fs.readFileSync(inputPath);
  if (buf.length !== rows * rowLen * 4)
    throw new Error(`${inputPath} has ${buf.length} bytes, shape ${shape} needs ${rows * rowLen * 4}`);
  const all = new Float32Array(buf.buffer, buf.byteOffset, rows * rowLen);

  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: optArg || 'all'});
  const inputName = session.inputNames[0], outputName = session.outputNames[0];
  const out = fs.openSync(outputPath, 'w');
  let outShape = null;
  for (let s = 0; s < rows; s += batch) {
    const b = Math.min(batch, rows - s);
    const x = new ort.Tensor('float32', all.slice(s * rowLen, (s + b) * rowLen), [b, ...shape.slice(1)]);
    const res = await session.run({[inputName]: x});
    const y = res[outputName];
    outShape = [rows, ...y.dims.slice(1)];
    fs.writeSync(out, Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
  }
  fs.closeSync(out);
  console.log(JSON.stringify({rows, output: outputName, output_shape: outShape, ort_version: version, threads: 1}));
}

main().catch((e) => {
  process.stderr.write(`ort_run: ${e.stack || e}\n`);
  process.exit(1);
});
