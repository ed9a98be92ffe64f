// Core's fused train-mode batch norm op: the composite path (no kernel on this backend) and the
// gradient core registers for the kernel (its portable composite form), against tf.moments + tf.batchNorm.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelBackend, TensorInfo } from '@tensorflow/tfjs-core';
import { BATCH_NORM_TRAIN, batchNormTrain } from '@resnet-ts/core';
import { useBackend } from './setup';

beforeAll(async () => {
  await useBackend('cpu');
});

function reference(x: tf.Tensor, g: tf.Tensor1D, b: tf.Tensor1D, eps: number) {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return { y: tf.batchNorm4d(x as tf.Tensor4D, mean as tf.Tensor1D, variance as tf.Tensor1D, b, g, eps), mean, variance };
}

/** y + 0.5 * sum(mean) + 0.25 * sum(variance), weighted by r: gradients flow through the statistics too. */
function loss(op: typeof reference, x: tf.Tensor, g: tf.Tensor1D, b: tf.Tensor1D, r: tf.Tensor): tf.Scalar {
  const { y, mean, variance } = op(x, g, b, 1e-3);
  return tf.add(tf.sum(tf.mul(y, r)), tf.add(tf.mul(tf.sum(mean), 0.5), tf.mul(tf.sum(variance), 0.25))) as tf.Scalar;
}

function maxRel(a: tf.Tensor, ref: tf.Tensor): number {
  const av = a.dataSync(),
    rv = ref.dataSync();
  let d = 0,
    s = 0;
  for (let i = 0; i < rv.length; i++) {
    d = Math.max(d, Math.abs(av[i] - rv[i]));
    s = Math.max(s, Math.abs(rv[i]));
  }
  return d / Math.max(s, 1e-12);
}

function compare(): void {
  tf.tidy(() => {
    const x = tf.randomNormal([3, 5, 4, 6], 0.7, 2, 'float32', 1);
    const g = tf.randomUniform([6], 0.5, 1.5, 'float32', 2) as tf.Tensor1D;
    const b = tf.randomUniform([6], -1, 1, 'float32', 3) as tf.Tensor1D;
    const r = tf.randomNormal(x.shape, 0, 1, 'float32', 4);
    const ours = batchNormTrain(x, g, b, 1e-3);
    const ref = reference(x, g, b, 1e-3);
    expect(maxRel(ours.y, ref.y)).toBeLessThan(1e-6);
    expect(maxRel(ours.mean, ref.mean)).toBeLessThan(1e-6);
    expect(maxRel(ours.variance, ref.variance)).toBeLessThan(1e-6);
    const gOurs = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
      loss(batchNormTrain, xx, gg as tf.Tensor1D, bb as tf.Tensor1D, r),
    )([x, g, b]);
    const gRef = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => loss(reference, xx, gg as tf.Tensor1D, bb as tf.Tensor1D, r))([
      x,
      g,
      b,
    ]);
    gOurs.forEach((t, i) => expect(maxRel(t, gRef[i])).toBeLessThan(1e-5));
  });
}

test('without a kernel on the backend, batchNormTrain is tf.moments + tf.batchNorm (values and gradients)', () => {
  expect(tf.getKernel(BATCH_NORM_TRAIN, 'cpu')).toBeUndefined();
  compare();
});

test('with a forward kernel but no backward one, the registered gradient (portable composite) is right', async () => {
  // A plain JS forward kernel for cpu, registered for this test only.
  tf.registerKernel({
    kernelName: BATCH_NORM_TRAIN,
    backendName: 'cpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const be = backend as KernelBackend & {
        readSync(id: unknown): Float32Array;
        makeTensorInfo(s: number[], d: string, v: Float32Array): TensorInfo;
      };
      const { x, scale, offset } = inputs as Record<string, TensorInfo>;
      const eps = (attrs as { varianceEpsilon: number }).varianceEpsilon;
      const xv = be.readSync(x.dataId),
        sv = be.readSync(scale.dataId),
        ov = be.readSync(offset.dataId);
      const c = x.shape[x.shape.length - 1],
        n = xv.length / c;
      const mean = new Float32Array(c),
        variance = new Float32Array(c),
        y = new Float32Array(xv.length);
      for (let j = 0; j < c; j++) {
        let m = 0;
        for (let i = 0; i < n; i++) m += xv[i * c + j];
        m /= n;
        let v = 0;
        for (let i = 0; i < n; i++) v += (xv[i * c + j] - m) ** 2;
        v /= n;
        mean[j] = m;
        variance[j] = v;
        for (let i = 0; i < n; i++) y[i * c + j] = ((xv[i * c + j] - m) / Math.sqrt(v + eps)) * sv[j] + ov[j];
      }
      return [
        be.makeTensorInfo(x.shape, 'float32', y),
        be.makeTensorInfo([c], 'float32', mean),
        be.makeTensorInfo([c], 'float32', variance),
      ];
    },
  });
  try {
    const names = (
      await tf.profile(() => {
        const x = tf.randomNormal([2, 3, 3, 4], 0, 1, 'float32', 5);
        tf.tidy(() => tf.dispose(Object.values(batchNormTrain(x, tf.ones([4]) as tf.Tensor1D, tf.zeros([4]) as tf.Tensor1D, 1e-5))));
        x.dispose();
      })
    ).kernels.map((k) => k.name);
    expect(names).toContain(BATCH_NORM_TRAIN);
    expect(names).not.toContain('FusedBatchNorm');
    compare();
  } finally {
    tf.unregisterKernel(BATCH_NORM_TRAIN, 'cpu');
  }
});
