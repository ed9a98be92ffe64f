/**
 * Runs an ONNX model in onnxruntime-node in a plain Node process (jest's vm sandbox breaks
 * onnxruntime's `instanceof Float32Array` check on its outputs).
 * Usage: node ort-run.js <model.onnx> <job.json>; job = {inputName, outputName, dims, input: file of raw float32}.
 * Prints {dims, output: file of raw float32} as JSON.
 */
const fs = require('node:fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, jobFile] = process.argv.slice(2);
  const job = JSON.parse(fs.readFileSync(jobFile, 'utf8'));
  const session = await ort.InferenceSession.create(fs.readFileSync(model));
  const buf = fs.readFileSync(job.input);
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const out = await session.run({ [job.inputName]: new ort.Tensor('float32', data, job.dims) });
  const y = out[job.outputName];
  const file = job.input + '.out';
  fs.writeFileSync(file, Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
  process.stdout.write(JSON.stringify({ dims: y.dims, output: file }));
}
main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
