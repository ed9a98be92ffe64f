/**
 * Benchmark logic shared by `resnet bench` and `npm run bench -w @resnet-ts/backend-node`: time
 * ResNet work (forward, SGD training step) on the current engine, side by side with peers in
 * interleaved rounds (the PyTorch peer, bench/peer_pytorch.py, runs as a server: bench-pytorch.ts).
 *
 * The model comes in as a factory (`createModel` of @resnet-ts/zoo) so this package keeps depending
 * on core only.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { lossAndGradients, sgdStep } from '@resnet-ts/core';

/** A model as far as the bench needs one (a core ResNet). */
export interface BenchModel {
  /** Logits for an NHWC batch `x`; `ctx.training` selects train-mode batch norm. */
  forward(x: tf.Tensor, ctx?: { training: boolean }): tf.Tensor;
  /** The trainable variables (updated by the SGD step). */
  parameters(): tf.Variable[];
  /** Frees the model's variables. */
  dispose(): void;
}
/** Builds a named model ('resnet20', 'resnet18' or 'resnet50') with a seed, e.g. @resnet-ts/zoo's `createModel`. */
export type BenchModelFactory = (name: string, overrides: { seed: number }) => BenchModel;

/** What a benchmark row times: resnet20 forward or SGD step (32x32 input), or resnet18 / resnet50 forward (224x224). */
export type WorkKind = 'resnet20-forward' | 'resnet20-train' | 'resnet18-forward' | 'resnet50-forward';

/** One timed piece of work. */
export interface BenchWork {
  kind: WorkKind;
  batch: number;
}

/** The rows: resnet20 forward b32, resnet20 SGD step b32, resnet50 forward b1. */
export const DEFAULT_WORKS: BenchWork[] = [
  { kind: 'resnet20-forward', batch: 32 },
  { kind: 'resnet20-train', batch: 32 },
  { kind: 'resnet50-forward', batch: 1 },
];

/** `--full` adds the larger batches the PyTorch peer also measures. */
export const FULL_WORKS: BenchWork[] = [
  { kind: 'resnet20-forward', batch: 32 },
  { kind: 'resnet20-forward', batch: 128 },
  { kind: 'resnet20-train', batch: 32 },
  { kind: 'resnet20-train', batch: 128 },
  { kind: 'resnet18-forward', batch: 1 },
  { kind: 'resnet50-forward', batch: 1 },
  { kind: 'resnet50-forward', batch: 8 },
];

/** Human-readable label of a work, e.g. `resnet20 SGD step 32x32 batch 32`. */
export function workLabel(w: BenchWork): string {
  const what = {
    'resnet20-forward': 'resnet20 forward 32x32',
    'resnet20-train': 'resnet20 SGD step 32x32',
    'resnet18-forward': 'resnet18 forward 224x224',
    'resnet50-forward': 'resnet50 forward 224x224',
  }[w.kind];
  return `${what} batch ${w.batch}`;
}

/** The zoo network a work runs: `resnet20`, `resnet18` or `resnet50`. */
export function workModel(w: BenchWork): 'resnet20' | 'resnet18' | 'resnet50' {
  return w.kind.split('-')[0] as 'resnet20' | 'resnet18' | 'resnet50';
}

/** Parses `kind:batch` (e.g. `resnet20-train:128`) into a work; throws on anything else. */
export function parseWork(text: string): BenchWork {
  const m = /^(resnet20-forward|resnet20-train|resnet18-forward|resnet50-forward):(\d+)$/.exec(text.trim());
  if (!m)
    throw new Error(`bad work '${text}': expected resnet20-forward:32, resnet20-train:128, resnet18-forward:1, resnet50-forward:1, ...`);
  return { kind: m[1] as WorkKind, batch: Number(m[2]) };
}

/** Median of `xs` (mean of the two middle values for an even count); does not modify `xs`. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** What a peer that times itself (another process) reports for one run. */
export interface OwnTiming {
  /** Its own milliseconds, used instead of the wall time around the call. */
  ms: number;
  /** Minor page faults of its process during the run, when it counts them. */
  pageFaults?: number;
}

/** A prepared, repeatable piece of work: `run()` does it once and waits for its results. */
export interface PreparedWork {
  /**
   * Does the work once; resolves when its results are read back. A peer that times itself resolves
   * to its own milliseconds (a number, or {@link OwnTiming} with its page faults too).
   */
  run(): Promise<void | number | OwnTiming | undefined>;
  /** Frees what the work holds (model, tensors, a peer's session). */
  dispose(): void;
}

/** `work` on the current engine, ready to run again and again (model, input and optimiser state built once). */
export function prepareWork(work: BenchWork, createModel: BenchModelFactory): PreparedWork {
  const name = workModel(work);
  const size = name === 'resnet20' ? 32 : 224;
  const model = createModel(name, { seed: 1 });
  const x = tf.randomUniform([work.batch, size, size, 3], -1, 1, 'float32', 1);
  if (work.kind !== 'resnet20-train') {
    return {
      run: async () => {
        const y = model.forward(x, { training: false });
        await y.data();
        y.dispose();
      },
      dispose: () => {
        model.dispose();
        x.dispose();
      },
    };
  }
  // SGD with momentum 0.9 and weight decay 1e-4, train-mode batch norm (what the paper trains with).
  const labels = tf.tidy(() =>
    tf.oneHot(
      tf.tensor1d(
        Array.from({ length: work.batch }, (_, i) => i % 10),
        'int32',
      ),
      10,
    ),
  );
  const params = model.parameters();
  const velocity = params.map((p) => {
    const zero = tf.zerosLike(p);
    const v = tf.variable(zero, false);
    zero.dispose();
    return v;
  });
  const lr = 0.01;
  return {
    run: async () => {
      const { loss, grads } = lossAndGradients(model, x, labels, { params });
      tf.tidy(() =>
        params.forEach((p, i) => {
          const next = sgdStep(p, grads[p.name], velocity[i], { lr, momentum: 0.9, weightDecay: 1e-4 });
          velocity[i].assign(next.buf!);
          p.assign(next.param);
        }),
      );
      tf.dispose(Object.values(grads));
      await loss.data();
      loss.dispose();
    },
    dispose: () => {
      model.dispose();
      tf.dispose([x, labels, ...velocity]);
    },
  };
}

/**
 * Untimed runs before timing, at the least, whenever any warm-up is asked for. The first run creates
 * the oneDNN primitives and fills the native engine's buffer pool, but the next one or two are still
 * slow (measured on the native engine, ResNet-20 SGD step batch 128: 2,298, 527, 401, 397, 404 ms),
 * so one warm-up run put slow runs into the median of five. The PyTorch peer gets the same number.
 */
export function effectiveWarmup(work: BenchWork, warmup: number): number {
  if (warmup <= 0) return 0;
  return Math.max(warmup, work.kind === 'resnet20-train' ? 3 : 2);
}

/** Milliseconds of each timed run, after `warmup` untimed runs (raised by {@link effectiveWarmup}). */
export async function timeWork(
  work: BenchWork,
  createModel: BenchModelFactory,
  options: { repeats?: number; warmup?: number } = {},
): Promise<number[]> {
  const { repeats = 5, warmup = 3 } = options;
  const step = prepareWork(work, createModel);
  try {
    return (await timeInterleaved([step], { repeats, warmup: effectiveWarmup(work, warmup) }))[0];
  } finally {
    step.dispose();
  }
}

/** Pause before each turn of {@link timeInterleaved} when several runtimes take turns. */
const INTERLEAVE_SETTLE_MS = 200;

/**
 * Times several prepared works side by side: each is run `warmup` times untimed, then in round r
 * every work takes one turn, in an order rotated by r, so that a change in the machine's speed
 * (another process, frequency, a noisy neighbour) falls on all of them alike.
 *
 * With several works, a turn is a pause, one untimed run and the timed run right after it, so that
 * what runs just before a timed run is always the same work. Timed right after another runtime, a
 * run paid for that runtime's traces (measured, BENCHMARKS.md "Who ran just before"): onnxruntime's
 * ResNet-18 batch 1 took 17.2 ms after a PyTorch forward and 10.5 ms after ours, and the rotation
 * put the same runtime before each work in every round, so one work paid for it every time.
 * Returns each work's ms per round; `pageFaults[i]`, when given, receives the minor page faults of
 * each timed run of work i (null where a peer in another process does not count them).
 */
export async function timeInterleaved(
  steps: PreparedWork[],
  options: { repeats: number; warmup: number; pageFaults?: (number | null)[][] },
): Promise<number[][]> {
  for (const step of steps) for (let i = 0; i < options.warmup; i++) await step.run();
  const times = steps.map(() => [] as number[]);
  const alone = steps.length === 1;
  for (let r = 0; r < options.repeats; r++) {
    for (let k = 0; k < steps.length; k++) {
      const i = (k + r) % steps.length;
      if (!alone) {
        // Let the previous runtime's worker threads stop spinning (onnxruntime spins by default), then take the turn's untimed run.
        await new Promise((resolve) => setTimeout(resolve, INTERLEAVE_SETTLE_MS));
        await steps[i].run();
      }
      const f0 = process.resourceUsage().minorPageFault;
      const t0 = performance.now();
      const own = await steps[i].run();
      const wall = performance.now() - t0;
      times[i].push(typeof own === 'number' ? own : own ? own.ms : wall);
      // In this process: its own faults; a peer elsewhere: what it counted, if anything.
      const faults = own == null ? process.resourceUsage().minorPageFault - f0 : typeof own === 'object' ? own.pageFaults : undefined;
      options.pageFaults?.[i]?.push(faults ?? null);
    }
  }
  return times;
}

// ---------------------------------------------------------------------------------------------
// PyTorch peer

/** The Python interpreter that runs the PyTorch peer. */
export const PYTHON = '/usr/bin/python3';

/** Path of bench/peer_pytorch.py (next to src/ and dist/). */
export function peerScriptPath(): string {
  return path.join(__dirname, '..', 'bench', 'peer_pytorch.py');
}

/** null when PyTorch can run, else why not. */
export function pytorchUnavailableReason(): string | null {
  if (!fs.existsSync(PYTHON)) return `${PYTHON} not found`;
  const r = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) return (r.stderr || r.error?.message || 'import torch failed').trim().split('\n').pop() ?? 'import torch failed';
  return null;
}

// ---------------------------------------------------------------------------------------------
// Rows

/** One row of the benchmark table: an engine's timing of one work, optionally next to PyTorch's. */
export interface BenchRow {
  /** The engine (backend) name. */
  engine: string;
  /** The work's label (see {@link workLabel}). */
  work: string;
  /** The work's kind. */
  kind: WorkKind;
  /** The work's batch size. */
  batch: number;
  /** Number of timed runs (0 when skipped). */
  repeats: number;
  /** Untimed warm-up runs before the timed ones (when the row was timed by `resnet bench`). */
  warmup?: number;
  /** Median ms (null when skipped). */
  ms: number | null;
  /** Throughput from the median (null when skipped). */
  imagesPerSec: number | null;
  /** PyTorch's median ms for the same work (null when the peer did not time it). */
  torchMs?: number | null;
  /** ours / PyTorch (how many times slower). */
  ratio?: number | null;
  /** PyTorch's median ms with models and inputs in `torch.channels_last` (null when that peer did not time it). */
  torchChannelsLastMs?: number | null;
  /** ours / PyTorch channels_last. */
  torchChannelsLastRatio?: number | null;
  /** onnxruntime-node's median ms for the same forward work (null when it did not time it). */
  onnxruntimeMs?: number | null;
  /** ours / onnxruntime (how many times slower). */
  onnxruntimeRatio?: number | null;
  /** Our median minor page faults per timed run (the process's, around the run); null when not counted. */
  pageFaults?: number | null;
  /** PyTorch's, counted by its process (see bench/peer_pytorch.py). */
  torchPageFaults?: number | null;
  /** PyTorch channels_last's. */
  torchChannelsLastPageFaults?: number | null;
  /** onnxruntime-node's (it runs in our process: the faults around its run). */
  onnxruntimePageFaults?: number | null;
  /** Why the work was skipped or anything else worth printing under the table. */
  note?: string;
}

/** A table row from the run times of a work (`null` times: skipped, with `note` saying why); `ms` is their median. */
export function makeRow(engine: string, work: BenchWork, times: number[] | null, note?: string): BenchRow {
  const ms = times && times.length ? median(times) : null;
  return {
    engine,
    work: workLabel(work),
    kind: work.kind,
    batch: work.batch,
    repeats: times?.length ?? 0,
    ms,
    imagesPerSec: ms ? (work.batch * 1000) / ms : null,
    ...(note ? { note } : {}),
  };
}

/**
 * The rows as an aligned plain-text table (with PyTorch and onnxruntime columns and ratios when
 * those peers ran), followed by their notes.
 */
export function formatRows(rows: BenchRow[]): string {
  const fmt = (x: number | null | undefined, d = 1) => (x == null ? '-' : x.toFixed(d));
  const ratio = (x: number | null | undefined) => (x == null ? '-' : `${x.toFixed(2)}x`);
  const withOrt = rows.some((r) => r.onnxruntimeMs !== undefined);
  const withCl = rows.some((r) => r.torchChannelsLastMs !== undefined);
  const table = [
    [
      'engine',
      'work',
      'ms (median)',
      'images/s',
      'runs',
      'PyTorch ms',
      'ratio',
      ...(withCl ? ['PyTorch channels_last ms', 'ratio'] : []),
      ...(withOrt ? ['onnxruntime ms', 'ratio'] : []),
    ],
    ...rows.map((r) => [
      r.engine,
      r.work,
      fmt(r.ms),
      fmt(r.imagesPerSec),
      String(r.repeats),
      fmt(r.torchMs),
      ratio(r.ratio),
      ...(withCl ? [fmt(r.torchChannelsLastMs), ratio(r.torchChannelsLastRatio)] : []),
      ...(withOrt ? [fmt(r.onnxruntimeMs), ratio(r.onnxruntimeRatio)] : []),
    ]),
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((t) => t[i].length)));
  const lines = table.map((t) => t.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  const notes = rows.filter((r) => r.note).map((r) => `note: ${r.engine} ${r.work}: ${r.note}`);
  return [...lines, ...notes].join('\n');
}
