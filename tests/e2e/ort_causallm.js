// The reference generation loop for ONNX causal language models (issue #19 item 3): ONNX Runtime (npm
// onnxruntime-node) running a Hugging Face GPT-2-layout export greedily with its KV cache, as the tests and
// bench/causallm.sh compare Junction against.
//
//   node tests/e2e/ort_causallm.js MODEL.onnx PROMPTS.json MAX_NEW EOS_ID [--time]
//
// PROMPTS.json: a JSON list of prompts, each a list of token ids. For each prompt: the first step runs the whole
// prompt with empty past tensors (sequence length 0), then one token per step, present.{i}.* fed back as
// past_key_values.{i}.*, attention_mask all ones, position_ids counting from 0; the next token is the argmax of the
// last logits row (first index on ties); stops after MAX_NEW tokens or at EOS_ID (included; -1 = none). Prints one
// JSON line: {"tokens": [[ids...], ...], "ort_version", "threads": 1} and with --time also "decode_ms_per_token"
// (the mean time of the one-token steps, the prompt's step excluded), "decode_ms_median" and "decode_cpu_ms_median"
// (the median wall and process CPU time of one such step: the median ignores the steps a loaded machine stalled).
// One intra-op thread, sequential execution.
//
// onnxruntime-node is looked up in $JUNCTION_ORT_NODE, else in the checkout's .cache/onnxruntime/node_modules.
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
    process.stderr.write(`ort_causallm: cannot load onnxruntime-node from ${dir}: ${e.message}\n`);
    process.exit(3);
  }
}

async function main() {
  const args = process.argv.slice(2);
  const time = args.includes('--time');
  const [modelPath, promptsPath, maxNewArg, eosArg] = args.filter((a) => a !== '--time');
  if (!eosArg) {
    process.stderr.write('usage: node ort_causallm.js MODEL.onnx PROMPTS.json MAX_NEW EOS_ID [--time]\n');
    process.exit(1);
  }
  const {ort, version} = loadOrt();
  const prompts = JSON.parse(fs.readFileSync(promptsPath, 'utf8'));
  const maxNew = Number(maxNewArg), eos = Number(eosArg);
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all'});
  const md = session.inputMetadata || null;
  const pastNames = session.inputNames.filter((n) => n.startsWith('past_key_values.'));
  // [heads, head_dim] of each past input: from the metadata when this ORT version offers it, else from a probe run.
  const dims = {};
  if (md && !Array.isArray(md)) {
    for (const n of pastNames) dims[n] = [md[n].shape[1], md[n].shape[3]];
  } else if (Array.isArray(md)) {
    for (const m of md) if (pastNames.includes(m.name)) dims[m.name] = [m.shape[1], m.shape[3]];
  }
  const usesPos = session.inputNames.includes('position_ids');
  const out = [];
  let decodeMs = 0, decodeSteps = 0;
  const stepMs = [], stepCpuMs = [];
  for (const prompt of prompts) {
    const past = {};
    for (const n of pastNames) {
      const [h, d] = dims[n];
      past[n] = new ort.Tensor('float32', new Float32Array(0), [1, h, 0, d]);
    }
    let ids = prompt.slice(), total = 0;
    const gen = [];
    for (let step = 0; step < maxNew; step++) {
      const s = ids.length;
      const feeds = {input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, s]),
                     attention_mask: new ort.Tensor('int64', new BigInt64Array(total + s).fill(1n), [1, total + s])};
      if (usesPos)
        feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from(ids.map((_, k) => BigInt(total + k))), [1, s]);
      Object.assign(feeds, past);
      const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
      const res = await session.run(feeds);
      const t1 = process.hrtime.bigint(), c = process.cpuUsage(c0);
      if (step > 0) {
        decodeMs += Number(t1 - t0) / 1e6;
        decodeSteps++;
        stepMs.push(Number(t1 - t0) / 1e6);
        stepCpuMs.push((c.user + c.system) / 1e3);
      }
      const logits = res.logits, v = logits.dims[2];
      const row = logits.data.subarray((s - 1) * v, s * v);
      let best = 0;
      for (let k = 1; k < v; k++) if (row[k] > row[best]) best = k;
      for (const n of pastNames) past[n] = res[n.replace('past_key_values.', 'present.')];
      total += s;
      gen.push(best);
      if (best === eos) break;
      ids = [best];
    }
    out.push(gen);
  }
  const r = {tokens: out, ort_version: version, threads: 1};
  const median = (a) => {
    if (!a.length) return null;
    a.sort((x, y) => x - y);
    return a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
  };
  if (time) {
    r.decode_ms_per_token = decodeSteps ? decodeMs / decodeSteps : null;
    r.decode_ms_median = median(stepMs);
    r.decode_cpu_ms_median = median(stepCpuMs); // the process's CPU (ORT runs off the JS thread)
  }
  console.log(JSON.stringify(r));
}

main().catch((e) => {
  process.stderr.write(`ort_causallm: ${e.stack || e}\n`);
  process.exit(1);
});
