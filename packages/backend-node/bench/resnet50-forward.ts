/**
 * ResNet-50 forward (inference), 224x224x3, written with plain tf ops: bottleneck blocks [3,4,6,3],
 * batch norm with running statistics (FusedBatchNorm) or folded into the convs (--fold: fused
 * conv + bias + relu, as an exported inference model would run).
 *   node bench/run.mjs bench/resnet50-forward.ts [backend=native] [batch=1] [reps=10] [--fold]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { nativePlugin } from '../src/native/index.js';

const [backend = 'native', batchS = '1', repsS = '10'] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const fold = process.argv.includes('--fold');
const batch = Number(batchS),
  reps = Number(repsS);

type Layer = (x: tf.Tensor) => tf.Tensor;
function convBn(ci: number, co: number, k: number, s: number, relu: boolean): Layer {
  const w = tf.mul(tf.randomNormal([k, k, ci, co]), Math.sqrt(2 / (k * k * ci))) as tf.Tensor4D;
  const pad = (k - 1) / 2;
  if (fold) {
    const b = tf.mul(tf.randomNormal([co]), 0.01) as tf.Tensor1D;
    return (x) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w, strides: s, pad, bias: b, activation: relu ? 'relu' : 'linear' });
  }
  const mean = tf.mul(tf.randomNormal([co]), 0.01) as tf.Tensor1D;
  const variance = tf.add(tf.mul(tf.randomUniform([co]), 0.1), 1) as tf.Tensor1D;
  const gamma = tf.ones([co]) as tf.Tensor1D,
    beta = tf.zeros([co]) as tf.Tensor1D;
  return (x) => {
    const y = tf.batchNorm4d(tf.conv2d(x as tf.Tensor4D, w, s, pad), mean, variance, beta, gamma, 1e-5);
    return relu ? tf.relu(y) : y;
  };
}
function bottleneck(ci: number, mid: number, s: number): Layer {
  const co = mid * 4;
  const a = convBn(ci, mid, 1, 1, true),
    b = convBn(mid, mid, 3, s, true),
    c = convBn(mid, co, 1, 1, false);
  const proj = s !== 1 || ci !== co ? convBn(ci, co, 1, s, false) : null;
  return (x) => tf.relu(tf.add(c(b(a(x))), proj ? proj(x) : x));
}

async function main(): Promise<void> {
  if (backend === 'native') await nativePlugin.setup();
  else await tf.setBackend(backend);
  const stem = convBn(3, 64, 7, 2, true);
  const blocks: Layer[] = [];
  let ci = 64;
  for (const [mid, n, s] of [
    [64, 3, 1],
    [128, 4, 2],
    [256, 6, 2],
    [512, 3, 2],
  ]) {
    for (let i = 0; i < n; i++) {
      blocks.push(bottleneck(ci, mid, i === 0 ? s : 1));
      ci = mid * 4;
    }
  }
  const fcW = tf.mul(tf.randomNormal([2048, 1000]), 0.01),
    fcB = tf.zeros([1000]);
  const x = tf.randomNormal([batch, 224, 224, 3]);
  const fwd = (): void => {
    tf.tidy(() => {
      let h = tf.maxPool(stem(x) as tf.Tensor4D, 3, 2, 1) as tf.Tensor;
      for (const b of blocks) h = b(h);
      tf.add(tf.matMul(tf.mean(h, [1, 2]), fcW), fcB).dataSync();
    });
  };
  fwd();
  const wall: number[] = [];
  const c0 = process.cpuUsage();
  for (let i = 0; i < reps; i++) {
    const s = performance.now();
    fwd();
    wall.push(performance.now() - s);
  }
  const c = process.cpuUsage(c0);
  wall.sort((p, q) => p - q);
  console.log(
    `ResNet-50 forward ${backend}${fold ? ' (BN folded)' : ''}, batch ${batch}, 224x224x3: median ${wall[wall.length >> 1].toFixed(1)} ms, min ${wall[0].toFixed(1)} ms, cpu ${((c.user + c.system) / 1000 / reps).toFixed(1)} ms (${reps} reps)`,
  );
}
void main();
