// Runs many small ONNX models through ONNX Runtime (npm onnxruntime-node) in one process, for ops_vs_ort.py.
// usage: node ort_batch.js ORT_MODULE_DIR JOBS.json
// JOBS.json: [{"model": PATH, "inputs": {name: {"type", "dims", "data": base64}}, "out": PATH}, ...]; each job's
// outputs are written to its "out" path in the same form, or {"error": message} when ONNX Runtime refuses it.
// Types: float32 float64 float16 int8 int16 int32 int64 uint8 uint16 uint32 uint64 bool (raw little-endian).
const fs = require('fs');
const [ortDir, jobsPath] = process.argv.slice(2);
const ort = require(ortDir);

const arrays = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, int8: Int8Array, int16: Int16Array,
  int32: Int32Array, int64: BigInt64Array, uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array,
  uint64: BigUint64Array, bool: Uint8Array,
};

function toTensor(spec) {
  const buf = Buffer.from(spec.data, 'base64');
  const copy = new Uint8Array(buf.byteLength); // aligned for the typed array
  copy.set(buf);
  return new ort.Tensor(spec.type, new arrays[spec.type](copy.buffer), spec.dims);
}

(async () => {
  for (const job of JSON.parse(fs.readFileSync(jobsPath, 'utf8'))) {
    let out;
    try {
      const session = await ort.InferenceSession.create(job.model, {intraOpNumThreads: 1, interOpNumThreads: 1});
      const feeds = {};
      for (const [name, spec] of Object.entries(job.inputs))
        feeds[name] = toTensor(spec);
      const results = await session.run(feeds);
      out = {};
      for (const [name, t] of Object.entries(results)) {
        const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
        out[name] = {type: t.type, dims: Array.from(t.dims), data: bytes.toString('base64')};
      }
    } catch (e) {
      out = {error: String(e.message || e)};
    }
    fs.writeFileSync(job.out, JSON.stringify(out));
  }
})().catch((e) => {
  console.error('ort_batch: ' + e.message);
  process.exit(1);
});
