// The ONNX Runtime side of bench/vision.sh: the exported fashion-cnn in onnxruntime-node, timed in-process.
//
//   node bench/vision_ort.js MODEL.onnx BATCH THREADS SECONDS
//
// One session with intraOpNumThreads = THREADS (interOpNumThreads 1, sequential execution, all graph
// optimizations), fed BATCH pseudo-random [0, 1) images of 1x28x28 at a time (the same input tensor every run, as
// bench_vision does). One untimed warm-up second, then the clock runs only around session.run calls. Prints one
// JSON line like bench_vision's. onnxruntime-node is looked up as in tests/e2e/ort_run.js ($JUNCTION_ORT_NODE, else
// the checkout's .cache/onnxruntime/node_modules/onnxruntime-node).
'use strict';
const path = require('path');

async function main() {
  const [modelPath, batchArg, threadsArg, secondsArg] = process.argv.slice(2);
  if (!secondsArg) {
    process.stderr.write('usage: node vision_ort.js MODEL.onnx BATCH THREADS SECONDS\n');
    process.exit(2);
  }
  const dir = process.env.JUNCTION_ORT_NODE ||
    path.join(__dirname, '..', '.cache', 'onnxruntime', 'node_modules', 'onnxruntime-node');
  const ort = require(dir);
  const version = require(path.join(dir, 'package.json')).version;
  const batch = Number(batchArg), threads = Number(threadsArg), seconds = Number(secondsArg);
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all'});
  const data = new Float32Array(batch * 28 * 28);
  let s = 12345n;
  for (let i = 0; i < data.length; i++) {
    s = (s * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    data[i] = Number(s >> 40n) / (1 << 24);
  }
  const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', data, [batch, 1, 28, 28])};
  let rate = 0, perCpu = 0;
  for (const budget of [1.0, seconds]) {
    let n = 0;
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    let t = t0;
    while (Number(t - t0) / 1e9 < budget) {
      await session.run(feeds);
      n += batch;
      t = process.hrtime.bigint();
    }
    rate = n / (Number(t - t0) / 1e9);
    const c = process.cpuUsage(c0);
    perCpu = n / ((c.user + c.system) / 1e6);
  }
  console.log(JSON.stringify({side: 'onnxruntime', what: `cnn batch ${batch}`, threads, images_per_s: +rate.toFixed(1),
                              images_per_cpu_s: +perCpu.toFixed(1), ort_version: version}));
}

main().catch((e) => {
  process.stderr.write(`vision_ort: ${e.stack || e}\n`);
  process.exit(1);
});
