/**
 * `resnet bench --compare onnxruntime`: the same network, exported by @resnet-ts/onnx, timed by
 * onnxruntime-node in the same run, in rounds interleaved with ours, on the forward rows (training
 * rows have no peer).
 * The built binary runs as a user runs it (onnxruntime does not load inside jest's sandbox).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { pythonSkipReason } from '../../../test-support/python';
import { pageFaultNote } from '../src/commands/bench-peers';

const bin = path.join(__dirname, '..', 'dist', 'bin.js');
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 240_000 });

test('--compare onnxruntime times the forward rows in onnxruntime-node and gives ours / theirs', () => {
  const r = run(
    'bench',
    '--engines',
    'native',
    '--works',
    'resnet20-forward:4,resnet20-train:4',
    '--repeats',
    '2',
    '--compare',
    'onnxruntime',
    '--json',
  );
  expect(r.stderr).not.toMatch(/onnxruntime failed|Error/);
  expect(r.status).toBe(0);
  // Ours and onnxruntime run in alternating rounds, not one after the other.
  expect(r.stderr).toMatch(/native resnet20 forward 32x32 batch 4 \(2 runs, interleaved with onnxruntime\)/);
  const out = JSON.parse(r.stdout) as {
    rows: { kind: string; ms: number; onnxruntimeMs: number | null; onnxruntimeRatio: number | null }[];
    onnxruntime: string;
  };
  expect(out.onnxruntime).toMatch(/^onnxruntime-node \S+ CPU/);
  const [forward, step] = out.rows;
  expect(forward.kind).toBe('resnet20-forward');
  expect(forward.onnxruntimeMs).toBeGreaterThan(0);
  expect(forward.onnxruntimeRatio).toBeCloseTo(forward.ms / forward.onnxruntimeMs!, 6);
  expect(step.kind).toBe('resnet20-train');
  expect(step.onnxruntimeMs).toBeNull();
}, 240_000);

test('the table gains onnxruntime columns; an unknown peer is a one-line error', () => {
  const table = run('bench', '--engines', 'native', '--works', 'resnet20-forward:2', '--repeats', '1', '--compare', 'onnxruntime');
  expect(table.status).toBe(0);
  expect(table.stdout).toMatch(/onnxruntime ms\s+ratio\n/);
  expect(table.stdout).toMatch(/resnet20 forward 32x32 batch 2\s.*\d\.\d\dx\n/);
  const bad = run('bench', '--compare', 'tensorflow');
  expect(bad.status).not.toBe(0);
  expect(bad.stderr.trim().split('\n')).toEqual([
    'resnet: --compare must be a comma-separated list of onnxruntime, pytorch, pytorch-channels-last; got tensorflow',
  ]);
}, 240_000);

test('--memory with --compare onnxruntime: the peak RSS of the same ResNet-50 forward in onnxruntime-node, and ours / theirs', () => {
  const r = run(
    'bench',
    '--engines',
    'native',
    '--works',
    'resnet20-forward:1',
    '--repeats',
    '1',
    '--compare',
    'onnxruntime',
    '--memory',
    '--json',
  );
  expect(r.status).toBe(0);
  type Peaks = { peakMB: number; deltaMB: number; reusedPeakMB: number; onnxruntimeReusedPeakMB: number; onnxruntimeReusedRatio: number };
  const { memory } = JSON.parse(r.stdout) as {
    memory: (Peaks & { engine: string; onnxruntimePeakMB: number; onnxruntimeDeltaMB: number; onnxruntimeRatio: number })[];
  };
  expect(memory).toHaveLength(1);
  const [m] = memory;
  expect(m.engine).toBe('native');
  // A ResNet-50 holds 25.6 M float32 weights (~98 MB): each process must have grown by at least that.
  expect(m.onnxruntimeDeltaMB).toBeGreaterThan(90);
  expect(m.deltaMB).toBeGreaterThan(90);
  expect(m.onnxruntimeRatio).toBeCloseTo(m.peakMB / m.onnxruntimePeakMB, 6);
  // After the third forward: a peak is never lower than after the first.
  expect(m.reusedPeakMB).toBeGreaterThanOrEqual(m.peakMB);
  expect(m.onnxruntimeReusedPeakMB).toBeGreaterThanOrEqual(m.onnxruntimePeakMB);
  expect(m.onnxruntimeReusedRatio).toBeCloseTo(m.reusedPeakMB / m.onnxruntimeReusedPeakMB, 6);
}, 240_000);

const torchMissing = pythonSkipReason(['torch', 'torchvision']);
if (torchMissing) console.log(`PyTorch peer test skipped: ${torchMissing}`);

(torchMissing ? test.skip : test)(
  '--compare onnxruntime,pytorch,pytorch-channels-last: two PyTorch servers (NCHW and channels_last) run every row in rounds interleaved with ours, forward and training; onnxruntime the forward rows',
  () => {
    const works = ['--works', 'resnet20-forward:2,resnet20-train:2', '--repeats', '2'];
    const r = run('bench', '--engines', 'native', ...works, '--compare', 'onnxruntime,pytorch,pytorch-channels-last', '--json');
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(
      /native resnet20 forward 32x32 batch 2 \(2 runs, interleaved with onnxruntime and PyTorch and PyTorch channels_last\)/,
    );
    expect(r.stderr).toMatch(/native resnet20 SGD step 32x32 batch 2 \(2 runs, interleaved with PyTorch and PyTorch channels_last\)/);
    type Row = {
      ms: number;
      torchMs: number;
      ratio: number;
      torchChannelsLastMs: number;
      torchChannelsLastRatio: number;
      onnxruntimeMs: number | null;
      onnxruntimeRatio: number | null;
      pageFaults: number | null;
      torchPageFaults: number | null;
      torchChannelsLastPageFaults: number | null;
    };
    const out = JSON.parse(r.stdout) as { rows: Row[]; pytorch: string; pytorchChannelsLast: string };
    // onnxruntime has no training step: its columns say null there, and hold its time on the forward row.
    expect(out.rows[0].onnxruntimeMs).toBeGreaterThan(0);
    expect(out.rows[0].onnxruntimeRatio).toBeCloseTo(out.rows[0].ms / out.rows[0].onnxruntimeMs!, 6);
    expect(out.rows[1]).toMatchObject({ onnxruntimeMs: null, onnxruntimeRatio: null });
    expect(out.pytorch).toMatch(/^PyTorch \S+ CPU, 2 threads, rounds interleaved with ours$/);
    // The server itself says it runs in channels_last.
    expect(out.pytorchChannelsLast).toMatch(
      /^PyTorch \S+ CPU, models and inputs in torch.channels_last, 2 threads, rounds interleaved with ours$/,
    );
    for (const row of out.rows) {
      // Page faults per timed run, ours counted around our runs, PyTorch's by its own process.
      for (const f of [row.pageFaults, row.torchPageFaults, row.torchChannelsLastPageFaults]) expect(f).toBeGreaterThanOrEqual(0);
      expect(row.torchMs).toBeGreaterThan(0);
      expect(row.ratio).toBeCloseTo(row.ms / row.torchMs, 6);
      expect(row.torchChannelsLastMs).toBeGreaterThan(0);
      expect(row.torchChannelsLastRatio).toBeCloseTo(row.ms / row.torchChannelsLastMs, 6);
    }
  },
  240_000,
);

test('--cold-start: resnet forward next to onnxruntime-node in fresh processes, their logits checked against each other, and resnet predict', () => {
  const r = run(
    'bench',
    '--engines',
    'native',
    '--works',
    'resnet20-forward:1',
    '--repeats',
    '1',
    '--compare',
    'onnxruntime',
    '--cold-start',
    '1',
    '--json',
  );
  expect(r.status).toBe(0);
  const { coldStart } = JSON.parse(r.stdout) as {
    coldStart: { name: string; medianMs: number; allMs: number[]; onnxruntimeRatio?: number; maxAbsDiff?: number }[];
  };
  const [forward, ort, predict] = coldStart;
  expect(coldStart.map((c) => c.name)).toEqual([
    'resnet forward, ResNet-50 b8, checkpoint',
    'onnxruntime-node, ResNet-50 b8, .onnx (create + run)',
    'resnet predict, shipped ResNet-20, one image',
  ]);
  for (const c of coldStart) expect(c.allMs).toHaveLength(1);
  expect(forward.maxAbsDiff).toBeLessThan(1e-2);
  expect(forward.onnxruntimeRatio).toBeCloseTo(forward.medianMs / ort.medianMs, 6);
  expect(predict.medianMs).toBeGreaterThan(0);
  // The fixtures (a ResNet-50 checkpoint and .onnx, ~200 MB) are removed afterwards.
  const fixtures = /fixtures in (\S+)\)/.exec(r.stderr)?.[1];
  expect(fixtures && fs.existsSync(fixtures)).toBe(false);
  const bad = run('bench', '--cold-start', '0');
  expect(bad.status).not.toBe(0);
  expect(bad.stderr.trim().split('\n')).toHaveLength(1);
}, 240_000);

test('a peer that took many more page faults per run than ours gets a note saying so, with both counts; a few do not', () => {
  const row = { engine: 'native', work: 'w', kind: 'resnet20-train' as const, batch: 128, repeats: 9, ms: 146, imagesPerSec: 877 };
  expect(pageFaultNote({ ...row, pageFaults: 133, torchPageFaults: 20352, torchChannelsLastPageFaults: 38692.5 })).toBe(
    "page faults per timed run: ours 133, PyTorch 20,352, PyTorch channels_last 38,693 (memory the peer's allocator gave back to the OS and faulted in again: part of its time)",
  );
  expect(pageFaultNote({ ...row, pageFaults: 133, torchPageFaults: 900, torchChannelsLastPageFaults: null })).toBeUndefined();
  // As many as ours: the work's own, not the allocator's.
  expect(pageFaultNote({ ...row, pageFaults: 5000, torchPageFaults: 6000 })).toBeUndefined();
});
