import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import '@resnet-ts/backend-node';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '@resnet-ts/core';
import { ExperimentFailedError, IdentityResult, forwardNet, identityFindings, identityWinner, initParams, layerMetrics, runIdentity, taskData } from '@resnet-ts/lab';

beforeAll(async () => {
  await useBackend('cpu');
});

const fro = (a: number[]) => Math.sqrt(a.reduce((s, v) => s + v * v, 0));

describe('identity experiment', () => {
  test('same seed, same parameters for both nets; metrics as defined', () => {
    const d = 2;
    const w = 4;
    const p = initParams(7, d, w, 2);
    const q = initParams(7, d, w, 2);
    expect(Array.from(p.w[1].dataSync())).toEqual(Array.from(q.w[1].dataSync()));
    const { x } = taskData(d, 5, 0);
    for (const net of ['plain', 'residual'] as const) {
      const m = layerMetrics(net, p, x);
      // by hand, layer by layer, with plain arrays
      const W = p.w.map((v) => Array.from(v.dataSync()));
      const eye = Array.from({ length: w * w }, (_, i) => (i % (w + 1) === 0 ? 1 : 0));
      let h = tf.tidy(() => tf.relu(tf.add(tf.matMul(x, p.win), p.bin)).arraySync() as number[][]);
      for (let k = 0; k < 2; k++) {
        expect(m.relDistToIdentity[k]).toBeCloseTo(fro(W[k].map((v, i) => v - eye[i])) / Math.sqrt(w), 5);
        expect(m.relWeightNorm[k]).toBeCloseTo(fro(W[k]) / Math.sqrt(w), 5);
        // z = h W + b (b = 0 at init), W stored [in, out] row-major
        const z = h.map((row) => Array.from({ length: w }, (_, j) => row.reduce((s, v, i) => s + v * W[k][i * w + j], 0)));
        expect(m.relBranchOutput[k]).toBeCloseTo(fro(z.flat()) / fro(h.flat()), 4);
        const next = z.map((row, r) => row.map((v, j) => Math.max(0, net === 'plain' ? v : v + h[r][j])));
        expect(m.relChange[k]).toBeCloseTo(fro(next.flat().map((v, i) => v - h.flat()[i])) / fro(h.flat()), 4);
        h = next;
      }
      const y = forwardNet(net, p, x);
      expect(y.shape).toEqual([5, d]);
      y.dispose();
    }
    tf.dispose([x, p.win, p.bin, ...p.w, ...p.b, p.wout, p.bout, q.win, q.bin, ...q.w, ...q.b, q.wout, q.bout]);
  });

  test('a small run writes the report; the closeness metric is per net as defined', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-identity-'));
    const r = await runIdentity({
      out,
      dims: [1],
      seeds: 1,
      steps: 40,
      width: 4,
      samples: 16,
      curveEvery: 5,
      threshold: 20,
      command: 'test',
    });
    const [plain, residual] = r.result.summary;
    expect(plain.net).toBe('plain');
    expect(plain.closeness).toBe(plain.meanRelDistToIdentity);
    expect(residual.closeness).toBe(residual.meanRelWeightNorm);
    // threshold 20 is reached within a few steps: a net that outputs ~0 has MSE E[(4x + 3)^2] = 16/3 + 9 ≈ 14.3 on x ~ U[-1, 1]
    expect(r.result.runs.every((run) => run.stepsToThreshold !== null && run.stepsToThreshold <= 40)).toBe(true);
    expect(r.result.runs[0].curve.length).toBe(9);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8'));
    expect(json).toMatchObject({ experiment: 'identity', command: 'test', engine: 'cpu', seed: 0 });
    expect(typeof json.wallSeconds).toBe('number');
    const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md).toContain('![loss-d1.svg](loss-d1.svg)');
    // The default starts the extra layers small (the claim's regime), and the report says what it found.
    expect(r.result.options.initScale).toBe(0.1);
    expect(md).toContain('**Finding:** this run');
    expect(md).toMatch(/y = 4x \+ 3: residual .* plain .* — (the residual layers .* supports the title|the plain layers .* does \*\*not\*\* support the title|neither net got there first|cannot tell: .*)\./);
    expect(md).not.toMatch(/issue/i);
    expect(fs.readFileSync(path.join(out, 'loss-d1.svg'), 'utf8')).toContain('</svg>');
    expect(fs.readdirSync(out).filter((f) => f.includes('.tmp'))).toEqual([]);
    fs.rmSync(out, { recursive: true });
  });

  test('the findings name the net that reached the target first and whether that supports the title', () => {
    const run = (task: string, net: 'plain' | 'residual', seed: number, steps: number | null) => ({ task, net, seed, stepsToThreshold: steps });
    const summary = (task: string, d: number) =>
      (['plain', 'residual'] as const).map((net) => ({ task, d, net, init: { relWeightNorm: 0.14, relDistToIdentity: 1, relBranchOutput: 0.1, relChange: 0.1 } }));
    const result = (runs: ReturnType<typeof run>[], initScale: number) =>
      ({ options: { dims: [1, 8], steps: 100, threshold: 1e-3, initScale }, runs, summary: [...summary('t1', 1), ...summary('t8', 8)] }) as unknown as IdentityResult;
    const r = result(
      [run('t1', 'plain', 0, null), run('t1', 'residual', 0, 50), run('t1', 'plain', 1, 80), run('t1', 'residual', 1, 60),
       run('t8', 'plain', 0, 30), run('t8', 'residual', 0, 40), run('t8', 'plain', 1, 30), run('t8', 'residual', 1, 40)],
      0.1,
    );
    expect(identityWinner(r, 't1')).toBe('residual'); // more seeds reached
    expect(identityWinner(r, 't8')).toBe('plain'); // same seeds, fewer steps
    const text = identityFindings(r).join('\n');
    expect(text).toContain('this run gives a mixed answer');
    expect(text).toContain('- t1: residual 55 steps, plain 1/2 seeds within 100 steps (mean 80) — the residual layers (pushing W to zero) got there first: supports the title.');
    expect(text).toContain('- t8: residual 40 steps, plain 30 steps — the plain layers (fitting W = I) got there first: does **not** support the title.');
    expect(text).toContain('start small');
    const full = identityFindings(result([run('t1', 'plain', 0, 10), run('t1', 'residual', 0, 20), run('t8', 'plain', 0, 10), run('t8', 'residual', 0, null)], 1)).join('\n');
    // One seed each: 10 against 20 steps cannot be told from noise; t8 is decided by who reached the threshold at all.
    expect(full).toContain('this run contradicts the claim on 1 of 2 tasks and cannot tell on the others');
    expect(full).toContain('- t1: residual 20 steps, plain 10 steps — cannot tell: one seed each, and a difference in steps cannot be told from noise.');
    expect(full).toContain('no head start');
    // Three seeds whose steps spread more than the gap of the means (the committed identity-kaiming run's d = 1): no winner.
    const noisy = result(
      [[252, 229], [362, 528], [317, 238]].flatMap(([p, r], seed) => [run('t1', 'plain', seed, p), run('t1', 'residual', seed, r), run('t8', 'plain', seed, 100), run('t8', 'residual', seed, 50 + seed)]),
      1,
    );
    expect(identityWinner(noisy, 't1')).toBeNull();
    expect(identityWinner(noisy, 't8')).toBe('residual'); // 51 ± 1 against 100 ± 0
    expect(identityFindings(noisy).join('\n')).toMatch(/- t1: residual 331\.7 steps, plain 310\.3 steps — cannot tell: the 21\.33-step gap is within twice its standard error over seeds \(\d+(\.\d+)? steps\)\./);
    // Neither net reached the threshold anywhere: inconclusive, not mixed.
    const none = identityFindings(result([run('t1', 'plain', 0, null), run('t1', 'residual', 0, null), run('t8', 'plain', 0, null), run('t8', 'residual', 0, null)], 0.1)).join('\n');
    expect(none).toContain('this run is inconclusive: neither net got there first on any task');
    expect(none).toContain('neither net reached the threshold: inconclusive');
    expect(none).not.toContain('mixed');
    // Every run diverged (final MSE NaN): said so, not 'not reached'.
    const nan = (task: string, net: 'plain' | 'residual') => ({ ...run(task, net, 0, null), finalTrainMse: NaN });
    const div = identityFindings(result([nan('t1', 'plain'), nan('t1', 'residual'), nan('t8', 'plain'), nan('t8', 'residual')], 0.1)).join('\n');
    expect(div).toContain('this run is inconclusive: training diverged in every run');
    expect(div).toContain('residual not reached in 100 steps (training diverged in 1/1 seed: final MSE not finite)');
  });

  test('identity where every run diverges writes its report and throws', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-identity-nan-'));
    await expect(runIdentity({ out, dims: [1], steps: 20, seeds: 1, optimizer: 'sgd', lr: 1e9, command: 'test' })).rejects.toThrow(ExperimentFailedError);
    expect(fs.readFileSync(path.join(out, 'report.md'), 'utf8')).toMatch(/training diverged in every run/);
    fs.rmSync(out, { recursive: true });
  });
});
