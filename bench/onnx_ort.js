// ONNX Runtime's latency for one model, one thread: node onnx_ort.js ORT_MODULE_DIR MODEL.onnx BATCH [ITERATIONS]
// Inputs: random float32 with symbolic dims set to BATCH. Prints "median_us M mean_us A cpu_us C" per inference
// (session.run, awaited) after a warm-up, as bench/onnx_bench does for the adapter; CPU is the process's user +
// system time per run (ONNX Runtime's one thread plus Node's own work), its median.
const [ortDir, modelPath, batchArg, itersArg] = process.argv.slice(2);
const ort = require(ortDir);
const batch = parseInt(batchArg, 10), iters = parseInt(itersArg || '200', 10);

(async () => {
  const s = await ort.InferenceSession.create(modelPath, {intraOpNumThreads: 1, interOpNumThreads: 1,
                                                          executionMode: 'sequential'});
  // Shapes come from the model file; the bench models declare [batch, ...] with the first dim symbolic.
  const meta = JSON.parse(process.env.JN_BENCH_SHAPES);
  const feeds = {};
  for (const [name, dims] of Object.entries(meta)) {
    const shape = dims.map((d) => (d < 0 ? batch : d));
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.random() - 0.5;
    feeds[name] = new ort.Tensor('float32', data, shape);
  }
  for (let i = 0; i < (iters < 20 ? 2 : 20); i++) await s.run(feeds); // big models run few iterations
  const t = [], cpu = [];
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
    await s.run(feeds);
    const c = process.cpuUsage(c0);
    cpu.push(c.user + c.system);
    t.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  const sum = t.reduce((a, b) => a + b, 0);
  t.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  const half = Math.floor(iters / 2);
  console.log(`median_us ${t[half].toFixed(2)} mean_us ${(sum / iters).toFixed(2)} cpu_us ${cpu[half].toFixed(2)}`);
})().catch((e) => {
  console.error('onnx_ort: ' + e.message);
  process.exit(1);
});
