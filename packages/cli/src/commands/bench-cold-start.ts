/**
 * `resnet bench --cold-start`: process start to logits written, each contender in a fresh process,
 * in interleaved rounds (each round gives every contender a turn, in a rotating order: an untimed
 * process, then the timed one; medians):
 * `resnet forward` on a ResNet-50 batch 8 from a resnet-ts checkpoint, onnxruntime-node on the same
 * network's .onnx (session create + run + .npy written), and `resnet predict` with the shipped
 * ResNet-20 on one sample image. The two ResNet-50 contenders' logits must agree: a fast wrong
 * answer fails the bench instead of winning it.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { bench } from '@resnet-ts/backend-node';
import { loadNpy, saveNpy } from '@resnet-ts/core/node';
import { sampleImages } from '@resnet-ts/zoo/node';
import { writeResnet50Files } from './bench-onnxruntime.js';

/** One contender's cold starts. */
export interface ColdStartRow {
  name: string;
  /** Median wall time from spawning the process to its exit, logits written (ms). */
  medianMs: number;
  /** Every round's time (ms). */
  allMs: number[];
  /** medianMs / onnxruntime's, for the `resnet forward` rows when onnxruntime ran. */
  onnxruntimeRatio?: number;
  /** Largest |difference| of its logits from onnxruntime's (ResNet-50 rows). */
  maxAbsDiff?: number;
}

const BATCH = 8;
const SIZE = 224;
/** Logits of the same network from two runtimes that differ by more than this are a wrong answer. */
const MAX_LOGIT_DIFF = 1e-2;

/**
 * The onnxruntime contender, a CommonJS script run as `node <script> model.onnx x.npy y.npy` (input
 * named `input`, NCHW float32 batch 8 x 3 x 224 x 224): it loads onnxruntime-node (from `ortPath`) and
 * nothing of ours, so that its time is onnxruntime's alone. scripts/bench-cold-start.mjs uses it too.
 */
export function ortScript(ortPath: string): string {
  return `const ort = require(${JSON.stringify(ortPath)});
const fs = require('fs');
(async () => {
  const b = fs.readFileSync(process.argv[3]);
  const n = b.readUInt16LE(8);
  const data = new Float32Array(b.buffer.slice(b.byteOffset + 10 + n, b.byteOffset + b.length));
  const s = await ort.InferenceSession.create(process.argv[2], { intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const out = Object.values(await s.run({ input: new ort.Tensor('float32', data, [${BATCH}, 3, ${SIZE}, ${SIZE}]) }))[0];
  const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + out.dims.join(', ') + "), }";
  const h = Buffer.from(header.padEnd(64 * Math.ceil((10 + header.length + 1) / 64) - 11) + '\\n');
  const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, h.length & 255, h.length >> 8]);
  fs.writeFileSync(process.argv[4], Buffer.concat([pre, h, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength)]));
})().catch((e) => { console.error(e.message); process.exit(1); });
`;
}

/** The fixtures in `dir`: the bench's ResNet-50 as a resnet-ts checkpoint (and, with `onnx`, as ONNX), and an input batch (x.npy). */
async function writeFixtures(dir: string, onnx: boolean): Promise<{ checkpoint: string; onnxFile: string }> {
  const files = await writeResnet50Files(dir, onnx);
  const x = tf.randomNormal([BATCH, 3, SIZE, SIZE], 0, 1, 'float32', 0);
  try {
    await saveNpy(path.join(dir, 'x.npy'), x);
  } finally {
    x.dispose();
  }
  return files;
}

/** Wall ms of one run of `argv`; throws with its output when it fails. */
function timedRun(argv: string[], what: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 300_000 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) {
    const why = (r.stderr || r.stdout || r.error?.message || '').trim().split('\n').pop();
    throw new Error(`${what} failed (exit ${r.status ?? r.signal}): ${why}`);
  }
  return ms;
}

/** Largest |a - b| over two .npy files of the same shape (Infinity when the shapes differ or a value is not finite). */
function maxAbsDiff(fileA: string, fileB: string): number {
  const [a, b] = [loadNpy(fileA), loadNpy(fileB)];
  try {
    if (a.shape.join() !== b.shape.join()) return Infinity;
    const [va, vb] = [a.dataSync(), b.dataSync()];
    let m = 0;
    for (let i = 0; i < va.length; i++) {
      const d = Math.abs(va[i] - vb[i]);
      m = Number.isFinite(d) ? Math.max(m, d) : Infinity;
    }
    return m;
  } finally {
    tf.dispose([a, b]);
  }
}

/**
 * Runs the cold-start contenders `rounds` times each, interleaved. `ortPath` is onnxruntime-node's
 * entry (its row and the logit check are left out without it). Failures (a contender that fails,
 * logits that disagree) are pushed onto `failures`; the rows that could be timed are returned.
 */
export async function coldStart(o: {
  rounds: number;
  ortPath?: string;
  failures: string[];
  log: (line: string) => void;
}): Promise<ColdStartRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-bench-cold-'));
  const f = (name: string) => path.join(dir, name);
  const resnet = path.join(__dirname, '..', '..', 'bin', 'resnet.js');
  try {
    o.log(`bench: cold start, ${o.rounds} interleaved rounds (fixtures in ${dir}) ...`);
    const net = await writeFixtures(dir, Boolean(o.ortPath));
    const sample = sampleImages('resnet20-fashion-mnist')[0].file;
    const contenders = [
      {
        name: 'resnet forward, ResNet-50 b8, checkpoint',
        argv: [process.execPath, resnet, 'forward', '--weights', net.checkpoint, '--input', f('x.npy'), '--out', f('y.npy')],
        out: 'y.npy',
      },
      ...(o.ortPath
        ? [
            {
              name: 'onnxruntime-node, ResNet-50 b8, .onnx (create + run)',
              argv: [process.execPath, f('ort.cjs'), net.onnxFile, f('x.npy'), f('y-ort.npy')],
              out: 'y-ort.npy',
            },
          ]
        : []),
      {
        name: 'resnet predict, shipped ResNet-20, one image',
        argv: [process.execPath, resnet, 'predict', '--model', 'resnet20-fashion-mnist', sample],
      },
    ];
    if (o.ortPath) fs.writeFileSync(f('ort.cjs'), ortScript(o.ortPath));
    // The bench's one interleaving (bench.timeInterleaved): each timed process runs right after an
    // untimed one of the same contender, so none of them always follows the same other program.
    const works = contenders.map((c) => ({ run: async () => timedRun(c.argv, c.name), dispose: () => undefined }));
    const times = await bench.timeInterleaved(works, { repeats: o.rounds, warmup: 0 });
    const rows: ColdStartRow[] = contenders.map((c, i) => ({
      name: c.name,
      medianMs: bench.median(times[i]),
      allMs: times[i].map(Math.round),
    }));
    if (o.ortPath) {
      const diff = maxAbsDiff(f('y.npy'), f('y-ort.npy'));
      rows[0].maxAbsDiff = diff;
      rows[0].onnxruntimeRatio = rows[0].medianMs / rows[1].medianMs;
      if (!(diff <= MAX_LOGIT_DIFF)) o.failures.push(`cold start: resnet forward's logits differ from onnxruntime's by ${diff}`);
    }
    return rows;
  } catch (e) {
    o.failures.push(`cold start: ${(e as Error).message}`);
    return [];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The cold-start rows as text under the bench table. */
export function formatColdStart(rows: ColdStartRow[]): string {
  const lines = ['', 'cold start: process start to logits written (median ms of fresh processes, interleaved rounds)'];
  for (const r of rows)
    lines.push(
      `  ${r.name.padEnd(52)} ${r.medianMs.toFixed(0).padStart(6)} ms` +
        (r.onnxruntimeRatio !== undefined ? `  ${r.onnxruntimeRatio.toFixed(2)}x onnxruntime` : '') +
        (r.maxAbsDiff !== undefined ? `  max |logit diff| ${r.maxAbsDiff.toExponential(1)}` : '') +
        `  [${r.allMs.join(', ')}]`,
    );
  return lines.join('\n');
}
