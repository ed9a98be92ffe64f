import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '@resnet-ts/core';
import { createModel } from '@resnet-ts/zoo';
import { conformance } from '@resnet-ts/backend-node';
test('dbg', async () => {
  const f = (a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, 3, 2, 1);
  const g = (a: tf.Tensor) => tf.maxPool(tf.pad(a, [[0,0],[1,1],[1,1],[0,0]], -1e9) as tf.Tensor4D, 3, 2, 'valid');
  const x0 = conformance.seeded([2, 9, 9, 4], 1700);
  const xd = await x0.data();
  for (const b of ['cpu', 'wasm', 'webgpu']) {
    await useBackend(b);
    const x = tf.tensor(xd, [2, 9, 9, 4]);
    const c = conformance.seeded([2, 5, 5, 4], 99);
    const d1 = await tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f(a), c)))(x).data();
    const d2 = await tf.grad((a: tf.Tensor) => tf.sum(tf.mul(g(a), c)))(x).data();
    console.log(b, f(x).shape, conformance.relativeError(d2, d1), Array.from(d1.slice(0, 8)).map(v => v.toFixed(2)).join(' '), '|', Array.from(d2.slice(0, 8)).map(v => v.toFixed(2)).join(' '));
  }
  await useBackend('cpu');
  let t = Date.now();
  const c = conformance.resnet20Case(createModel);
  tf.dispose(await c.run()); console.log('cpu resnet20', Date.now() - t);
  await useBackend('webgpu');
  t = Date.now(); tf.dispose(await c.run()); console.log('webgpu resnet20', Date.now() - t);
  t = Date.now(); tf.dispose(await c.run()); console.log('webgpu resnet20 again', Date.now() - t);
});
