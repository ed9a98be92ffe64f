#!/usr/bin/env node
/**
 * Times data preparation and training steps (after `npm run build`):
 *   node packages/train/scripts/bench.js [--model resnet20] [--batch 128] [--steps 3] [--backend auto]
 * Data: Fashion-MNIST if installed (else random images), 28x28 padded to 32x32, pad-4 crop + flip.
 */
const { parseArgs } = require('node:util');
const { values: a } = parseArgs({
  options: {
    model: { type: 'string', default: 'resnet20' },
    batch: { type: 'string', default: '128' },
    steps: { type: 'string', default: '3' },
    backend: { type: 'string', default: 'auto' },
  },
});
/** `--flag` as a whole number in [min, max]; anything else ends the script with a one-line error. */
function wholeNumber(flag, min, max) {
  const text = a[flag];
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) {
    console.error(`bench: --${flag} must be an integer from ${min} to ${max}; got ${text}`);
    process.exit(2);
  }
  return n;
}
const B = wholeNumber('batch', 1, 4096);
const STEPS = wholeNumber('steps', 1, 10000);
require('@resnet-ts/backend-node');
const tf = require('@tensorflow/tfjs-core');
const { useBackend, Rng, lossAndGradients } = require('@resnet-ts/core');
const { createModel } = require('@resnet-ts/zoo');
const { Batcher, SGD, channelStats, epochOrder, loadFashionMnist } = require('../dist/index.js');

(async () => {
  const backend = await useBackend(a.backend, { training: true });
  let data;
  try {
    data = loadFashionMnist('train');
  } catch {
    data = {
      images: new Uint8Array(4096 * 784).map(() => Math.random() * 255),
      labels: new Int32Array(4096),
      shape: [28, 28, 1],
      classes: [...'0123456789'],
    };
  }
  const batcher = new Batcher(data, B, { ...channelStats(data), padTo: [32, 32] });
  const order = epochOrder(data.labels.length, 0, 0);
  const rng = new Rng(0);
  const t0 = process.hrtime.bigint();
  const nb = 200;
  for (let i = 0; i < nb; i++) batcher.fill(order.subarray(i * B, (i + 1) * B), { pad: 4, flip: true }, rng);
  console.log(`data prep: ${(Number(process.hrtime.bigint() - t0) / 1e6 / nb).toFixed(3)} ms per batch of ${B}`);
  const model = createModel(a.model, { inChannels: 1 });
  const opt = new SGD(model.namedParameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
  const params = model.parameters();
  for (let s = 0; s < STEPS; s++) {
    const { x, labels, n } = batcher.fill(order.subarray(s * B, (s + 1) * B), { pad: 4, flip: true }, rng);
    const t = Date.now();
    const xt = tf.tensor4d(x, [n, 32, 32, 1]);
    const y = tf.tensor1d(labels, 'int32');
    const out = lossAndGradients(model, xt, y, { params });
    const loss = (await out.loss.data())[0];
    opt.step(out.grads, 0.1);
    tf.dispose([xt, y, out.loss, ...Object.values(out.grads)]);
    const ms = Date.now() - t;
    console.log(
      `${a.model} step ${s + 1} on ${backend}, batch ${n}: ${ms} ms (${((1000 * n) / ms).toFixed(1)} img/s), loss ${loss.toFixed(4)}, tensors ${tf.memory().numTensors}`,
    );
  }
})();
