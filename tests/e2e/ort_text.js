// Runs a text model in ONNX Runtime (npm onnxruntime-node) on token ids, one text at a time (no padding): the
// reference for tests/e2e/test_text_model.py and bench/transformers.sh.
//
//   node tests/e2e/ort_text.js MODEL.onnx ROWS.json OUT.json
//   node tests/e2e/ort_text.js --bench MODEL.onnx BATCH SEQ ITERS
//
// ROWS.json: [{"input_ids": [...], "attention_mask": [...], "token_type_ids": [...]}, ...]; the model's inputs are
// fed by name (those it has). OUT.json: [{"<output>": {"dims": [...], "data": [...]}, ...}, ...] for every output.
// --bench: fixed ids, batch x seq, prints {"ms_per_run" (the median), "cpu_ms_per_run" (median CPU), "runs",
// "ort_version", "threads"} after a warm-up run. ITERS 0: stepped, for bench/transformers_encoder.sh to interleave
// with junction's requests: prints {"ready"} after the warm-up, then one run per line read from stdin, each answered
// with {"ms", "cpu_ms"}.
// One intra-op thread, sequential execution (the machine's answer must not depend on its load).
// onnxruntime-node is looked up in $JUNCTION_ORT_NODE, else the checkout's .cache/onnxruntime (scripts/install-deps.sh
// --onnxruntime). Exit status 3 when it cannot be loaded, 1 on any other failure.
'use strict';
const fs = require('fs');
const path = require('path');

function loadOrt() {
  const dir = process.env.JUNCTION_ORT_NODE ||
    path.join(__dirname, '..', '..', '.cache', 'onnxruntime', 'node_modules', 'onnxruntime-node');
  try {
    return {ort: require(dir), version: require(path.join(dir, 'package.json')).version};
  } catch (e) {
    process.stderr.write(`ort_text: cannot load onnxruntime-node from ${dir}: ${e.message}\n`);
    process.exit(3);
  }
}

async function main() {
  const argv = process.argv.slice(2);
  const {ort, version} = loadOrt();
  const bench = argv[0] === '--bench';
  const modelPath = bench ? argv[1] : argv[0];
  const threads = Number(process.env.ORT_THREADS || 1);
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all'});
  const feed = (row, dims) => {
    const f = {};
    for (const name of session.inputNames)
      f[name] = new ort.Tensor('int64', BigInt64Array.from(row[name].map(BigInt)), dims);
    return f;
  };
  if (bench) {
    const [batch, seq, iters] = argv.slice(2).map(Number);
    const n = batch * seq, row = {input_ids: [], attention_mask: [], token_type_ids: []};
    for (let i = 0; i < n; i++) {
      row.input_ids.push(5 + (i * 7919) % 900);
      row.attention_mask.push(1);
      row.token_type_ids.push(0);
    }
    const f = feed(row, [batch, seq]);
    await session.run(f);
    if (iters === 0) { // stepped: one run per line read, so a driver can interleave it with another side's runs
      console.log(JSON.stringify({ready: true, ort_version: version, threads}));
      for await (const _ of require('readline').createInterface({input: process.stdin})) {
        const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
        await session.run(f);
        const c = process.cpuUsage(c0), ms = Number(process.hrtime.bigint() - t0) / 1e6;
        console.log(JSON.stringify({ms, cpu_ms: (c.user + c.system) / 1e3}));
      }
      return;
    }
    const times = [], cpus = [];
    for (let i = 0; i < iters; i++) {
      const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
      await session.run(f);
      const c = process.cpuUsage(c0);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      cpus.push((c.user + c.system) / 1e3);
    }
    const median = (a) => {
      a.sort((x, y) => x - y);
      return a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
    };
    // cpu_ms_per_run: the process's CPU time (every thread: ORT runs the graph off the JS thread), median.
    console.log(JSON.stringify({ms_per_run: median(times), cpu_ms_per_run: median(cpus), runs: iters, batch, seq,
                                ort_version: version, threads}));
    return;
  }
  const rows = JSON.parse(fs.readFileSync(argv[1], 'utf8'));
  const out = [];
  for (const row of rows) {
    const res = await session.run(feed(row, [1, row.input_ids.length]));
    const o = {};
    for (const name of session.outputNames)
      o[name] = {dims: res[name].dims, data: Array.from(res[name].data)};
    out.push(o);
  }
  fs.writeFileSync(argv[2], JSON.stringify(out));
  console.log(JSON.stringify({rows: rows.length, ort_version: version, threads}));
}

main().catch((e) => {
  process.stderr.write(`ort_text: ${e.stack || e}\n`);
  process.exit(1);
});
