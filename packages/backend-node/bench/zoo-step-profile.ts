/**
 * Per-kernel profile of one SGD step (train-mode BN, softmax cross-entropy, gradients of every
 * parameter) of zoo models as users train them (1-channel 32x32 input, batch 128): where a step's
 * time goes on an engine. Prints ms per step (mean of 3 after 3 warm-ups) and the 12 costliest kernels.
 *   node bench/run.mjs bench/zoo-step-profile.ts [backend=native] plain20 resnet20 ...
 */
import * as tf from '@tensorflow/tfjs-core';
import { lossAndGradients, useBackend } from '@resnet-ts/core';
import { createModel } from '@resnet-ts/zoo';
import '../src/index.js';

async function main(): Promise<void> {
  const [backend = 'native', ...names] = process.argv.slice(2);
  await useBackend(backend);
  for (const name of names.length ? names : ['plain20', 'resnet20']) {
    const model = createModel(name, { seed: 1, inChannels: 1 });
    const x = tf.randomUniform([128, 32, 32, 1]);
    const labels = tf.oneHot(
      tf.tensor1d(
        Array.from({ length: 128 }, (_, i) => i % 10),
        'int32',
      ),
      10,
    );
    const params = model.parameters();
    const step = () => {
      const { loss, grads } = lossAndGradients(model, x, labels, { params });
      loss.dataSync();
      tf.dispose([loss, ...Object.values(grads)]);
    };
    for (let i = 0; i < 3; i++) step();
    const t0 = performance.now();
    for (let i = 0; i < 3; i++) step();
    const ms = (performance.now() - t0) / 3;
    const profile = await tf.profile(() => step());
    const byKernel = new Map<string, number>();
    for (const k of profile.kernels)
      byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0));
    const top = [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 12);
    console.log(`${name} on ${backend}: ${ms.toFixed(0)} ms per step; ${top.map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);
    tf.dispose([x, labels]);
    model.dispose();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
