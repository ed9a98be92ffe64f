/**
 * `resnet bench`'s table (`bench.formatRows`): a column pair per peer that timed the rows, ratios as
 * ours / theirs, '-' where a peer has no counterpart (e.g. onnxruntime on a training row).
 */
import { bench } from '../src/index.js';

const work = (kind: 'resnet20-forward' | 'resnet20-train', batch: number): bench.BenchWork => ({ kind, batch });

test('every peer that timed a row gets its columns; a row it did not time shows "-"', () => {
  const forward = { ...bench.makeRow('native', work('resnet20-forward', 128), [50, 52, 54]), torchMs: 100, ratio: 0.52 };
  Object.assign(forward, { torchChannelsLastMs: 80, torchChannelsLastRatio: 0.65, onnxruntimeMs: 65, onnxruntimeRatio: 0.8 });
  const step = { ...bench.makeRow('native', work('resnet20-train', 128), [200]), torchMs: 250, ratio: 0.8 };
  Object.assign(step, { torchChannelsLastMs: 240, torchChannelsLastRatio: 0.83, onnxruntimeMs: null, onnxruntimeRatio: null });
  const [header, , first, second] = bench.formatRows([forward, step]).split('\n');
  expect(header.split(/\s{2,}/)).toEqual([
    'engine',
    'work',
    'ms (median)',
    'images/s',
    'runs',
    'PyTorch ms',
    'ratio',
    'PyTorch channels_last ms',
    'ratio',
    'onnxruntime ms',
    'ratio',
  ]);
  expect(
    first
      .trim()
      .split(/\s{2,}/)
      .slice(2),
  ).toEqual(['52.0', '2461.5', '3', '100.0', '0.52x', '80.0', '0.65x', '65.0', '0.80x']);
  expect(
    second
      .trim()
      .split(/\s{2,}/)
      .slice(-4),
  ).toEqual(['240.0', '0.83x', '-', '-']);
  // Without a channels_last peer, no such columns.
  expect(bench.formatRows([bench.makeRow('native', work('resnet20-forward', 2), [1])])).not.toMatch(/channels_last/);
});
