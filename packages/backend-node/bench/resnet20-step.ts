/**
 * CIFAR ResNet-20 (3 stages x 3 basic blocks, 16/32/64 channels, projection shortcuts, training-mode
 * batch norm) written with plain tf ops: SGD step and forward timings, plus a per-kernel profile.
 *   node bench/run.mjs bench/resnet20-step.ts [backend=native] [batch=32] [reps=5] [channels=3] [--profile]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { nativePlugin, nativeBufferPool } from '../src/native/index.js';

const [backend = 'native', batchS = '32', repsS = '5', chS = '3'] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const profile = process.argv.includes('--profile');
const batch = Number(batchS),
  reps = Number(repsS),
  channels = Number(chS);

const vars: tf.Variable[] = [];
function param(shape: number[], init: 'he' | 'one' | 'zero'): tf.Variable {
  const fan = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const t = init === 'one' ? tf.ones(shape) : init === 'zero' ? tf.zeros(shape) : tf.mul(tf.randomNormal(shape), Math.sqrt(2 / fan));
  const v = tf.variable(t);
  vars.push(v);
  return v;
}
type Layer = (x: tf.Tensor, train: boolean) => tf.Tensor;
function conv(ci: number, co: number, k: number, s: number): Layer {
  const w = param([k, k, ci, co], 'he');
  return (x) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, (k - 1) / 2);
}
function bn(c: number): Layer {
  const g = param([c], 'one'),
    b = param([c], 'zero');
  return (x) => {
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    return tf.batchNorm4d(x as tf.Tensor4D, mean as tf.Tensor1D, variance as tf.Tensor1D, b as tf.Tensor1D, g as tf.Tensor1D, 1e-5);
  };
}
function block(ci: number, co: number, s: number): Layer {
  const c1 = conv(ci, co, 3, s),
    b1 = bn(co),
    c2 = conv(co, co, 3, 1),
    b2 = bn(co);
  const proj = s !== 1 || ci !== co ? [conv(ci, co, 1, s), bn(co)] : null;
  return (x, t) => {
    const h = b2(c2(tf.relu(b1(c1(x, t), t)), t), t);
    const sc = proj ? proj[1](proj[0](x, t), t) : x;
    return tf.relu(tf.add(h, sc));
  };
}
let stem: Layer[] = [];
const blocks: Layer[] = [];
let fcW: tf.Variable, fcB: tf.Variable;
function build(): void {
  stem = [conv(channels, 16, 3, 1), bn(16)];
  let ci = 16;
  for (const [co, s] of [
    [16, 1],
    [32, 2],
    [64, 2],
  ]) {
    for (let i = 0; i < 3; i++) {
      blocks.push(block(ci, co, i === 0 ? s : 1));
      ci = co;
    }
  }
  fcW = param([64, 10], 'he');
  fcB = param([10], 'zero');
}
function model(x: tf.Tensor, t: boolean): tf.Tensor {
  let h = tf.relu(stem[1](stem[0](x, t), t));
  for (const b of blocks) h = b(h, t);
  return tf.add(tf.matMul(tf.mean(h, [1, 2]), fcW), fcB);
}

async function main(): Promise<void> {
  if (backend === 'native') await nativePlugin.setup();
  else await tf.setBackend(backend);
  build();
  const x = tf.randomNormal([batch, 32, 32, channels]);
  const labels = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32'), 10);
  const opt = tf.train.sgd(0.01);
  const step = (): void => {
    const cost = opt.minimize(() => tf.losses.softmaxCrossEntropy(labels, model(x, true)) as tf.Scalar, true, vars);
    cost?.dataSync();
    cost?.dispose();
  };
  const fwd = (): void => {
    tf.tidy(() => model(x, true).dataSync());
  };
  // Wall time, and CPU time of the process (all threads): on a shared machine the CPU time per step
  // is the steadier measure of the work done.
  const time = (f: () => void): { wall: number[]; cpu: number } => {
    f();
    const wall: number[] = [];
    const c0 = process.cpuUsage();
    for (let i = 0; i < reps; i++) {
      const s = performance.now();
      f();
      wall.push(performance.now() - s);
    }
    const c = process.cpuUsage(c0);
    return { wall: wall.sort((a, b) => a - b), cpu: (c.user + c.system) / 1000 / reps };
  };
  const st = time(step),
    ft = time(fwd);
  if (backend === 'native') {
    const ps = nativeBufferPool.stats();
    console.log(
      `buffer pool: ${(ps.pooledBytes / 2 ** 20).toFixed(0)} MiB pooled (cap ${(ps.cap / 2 ** 20).toFixed(0)} MiB), ${ps.hits} hits, ${ps.misses} misses`,
    );
  }
  const fmt = ({ wall, cpu }: { wall: number[]; cpu: number }): string =>
    `median ${wall[wall.length >> 1].toFixed(1)} ms, min ${wall[0].toFixed(1)} ms, cpu ${cpu.toFixed(1)} ms`;
  console.log(`ResNet-20 ${backend}, batch ${batch}, 32x32x${channels}: SGD step ${fmt(st)}; forward ${fmt(ft)} (${reps} reps)`);
  for (const [what, f] of profile
    ? ([
        ['SGD step', step],
        ['forward', fwd],
      ] as const)
    : []) {
    const p = await tf.profile(f);
    const byKernel = new Map<string, { ms: number; n: number }>();
    for (const k of p.kernels) {
      const e = byKernel.get(k.name) ?? { ms: 0, n: 0 };
      e.ms += k.kernelTimeMs as number;
      e.n++;
      byKernel.set(k.name, e);
    }
    const rows = [...byKernel].sort((a, b) => b[1].ms - a[1].ms);
    const total = rows.reduce((a, [, e]) => a + e.ms, 0);
    console.log(`${what}: kernel time ${total.toFixed(1)} ms in ${p.kernels.length} kernel calls:`);
    for (const [name, e] of rows.slice(0, 12)) console.log(`  ${name.padEnd(24)} ${e.ms.toFixed(2).padStart(8)} ms  x${e.n}`);
  }
}
void main();
