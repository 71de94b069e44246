// Runs an ONNX model through ONNX Runtime (npm onnxruntime-node) for the model-family tests.
// usage: node ort_run.js ORT_MODULE_DIR MODEL.onnx IN.json OUT.json
// IN.json: {"name": {"type": "float32"|"int64"|"int32"|"uint8"|"int8"|"bool", "dims": [..], "data": base64 little-endian},
// ...}
// OUT.json: the outputs in the same form. One intra-op thread, as the bench compares one thread each.
const fs = require('fs');
const [ortDir, modelPath, inPath, outPath] = process.argv.slice(2);
const ort = require(ortDir);

function toTensor(spec) {
  const buf = Buffer.from(spec.data, 'base64');
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const arrays = {int64: BigInt64Array, int32: Int32Array, int16: Int16Array, uint8: Uint8Array, int8: Int8Array,
                  bool: Uint8Array, float32: Float32Array};
  const data = new (arrays[spec.type] || Float32Array)(ab);
  return new ort.Tensor(spec.type, data, spec.dims);
}

(async () => {
  const opts = {intraOpNumThreads: 1, interOpNumThreads: 1};
  // JN_ORT_OPT=disabled: ONNX Runtime runs the graph as written (no fusions), e.g. a QDQ graph as float operators
  // between QuantizeLinear/DequantizeLinear instead of its fused integer kernels.
  if (process.env.JN_ORT_OPT) opts.graphOptimizationLevel = process.env.JN_ORT_OPT;
  const session = await ort.InferenceSession.create(modelPath, opts);
  const feeds = {};
  for (const [name, spec] of Object.entries(JSON.parse(fs.readFileSync(inPath, 'utf8'))))
    feeds[name] = toTensor(spec);
  const results = await session.run(feeds);
  const out = {};
  for (const [name, t] of Object.entries(results)) {
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out[name] = {type: t.type, dims: Array.from(t.dims), data: bytes.toString('base64')};
  }
  fs.writeFileSync(outPath, JSON.stringify(out));
})().catch((e) => {
  console.error('ort_run: ' + e.message);
  process.exit(1);
});
