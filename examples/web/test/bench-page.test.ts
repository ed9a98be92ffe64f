/**
 * The benchmark page end to end, quickly: `scripts/bench-browser.mjs` builds the example from the
 * packages' sources, serves it cross-origin isolated, and runs bench.html in headless Chromium on
 * ResNet-20 batch 2 (2 rounds) and on WebGPU batch 1 (1 round, both runtimes): resnet-ts and
 * onnxruntime-web run on the same thread count and give the same logits, and the script prints the table and the JSON. The
 * logits check itself (what keeps a wrong computation from being timed) is tested in Node. The
 * Chromium part is skipped, with the reason in the test name, when /usr/bin/chromium is missing.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { agreement, interleaved, median, parseWorks, type Runner } from '../src/bench-runtimes';

const { CHROMIUM } = require('../scripts/static-server.cjs') as { CHROMIUM: string };
const here = path.resolve(__dirname, '..');
const SCRIPT = path.join(here, 'scripts/bench-browser.mjs');

describe('benchmark helpers (Node)', () => {
  test('logits agree within 1e-4 of their scale; an offset, a NaN or a wrong length never agrees', () => {
    const ref = new Float32Array([1, -4, 2.5, 0]);
    expect(agreement(new Float32Array([1, -4, 2.5, 0.0002]), ref)).toEqual({ maxAbsDiff: expect.closeTo(0.0002, 7), scale: 4, agree: true });
    expect(agreement(new Float32Array([1, -4, 2.5, 0.001]), ref).agree).toBe(false);
    const nan = agreement(new Float32Array([NaN, -4, 2.5, 0]), ref);
    expect(Number.isNaN(nan.maxAbsDiff)).toBe(true);
    expect(nan.agree).toBe(false);
    expect(agreement(new Float32Array([1, -4, 2.5]), ref).agree).toBe(false);
  });

  test('works parse; a bad one is a one-line error that shows the form', () => {
    expect(parseWorks('resnet20:64, resnet50:1')).toEqual([
      { model: 'resnet20', batch: 64 },
      { model: 'resnet50', batch: 1 },
    ]);
    expect(parseWorks('none')).toEqual([]);
    expect(() => parseWorks('resnet18:4')).toThrow(/'resnet18:4' is not a work: write model:batch .* e\.g\. resnet20:64,resnet50:1/);
    expect(() => parseWorks('resnet20:0')).toThrow(/not a work/);
  });

  test('rounds interleave, alternating which side goes first; the median is the middle', async () => {
    const order: string[] = [];
    const runner = (name: string): Runner => ({ run: async () => (order.push(name), new Float32Array()), dispose: () => undefined });
    const times = await interleaved([runner('a'), runner('b')], 3);
    expect(order).toEqual(['a', 'b', 'b', 'a', 'a', 'b']);
    expect(times.map((t) => t.length)).toEqual([3, 3]);
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  test('the script refuses an unknown option with one line and exit code 2', () => {
    const r = spawnSync(process.execPath, [SCRIPT, '--wroks=resnet20:2'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(/^bench:browser: unknown option '--wroks=resnet20:2' \(options: --works /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  test('bad values are refused before anything is built or started; --help prints the usage', () => {
    for (const [arg, message] of [
      ['--rounds=0', /^bench:browser: --rounds must be a whole number from 1 to 1000; got '0'$/],
      ['--threads=abc', /^bench:browser: --threads must be a whole number from 1 to 64; got 'abc'$/],
      ['--timeout=-5', /^bench:browser: --timeout must be a whole number from 1 to 86400; got '-5'$/],
    ] as const) {
      const r = spawnSync(process.execPath, [SCRIPT, arg], { encoding: 'utf8' });
      expect([arg, r.status, r.stderr.trim()]).toEqual([arg, 2, expect.stringMatching(message)]);
    }
    const help = spawnSync(process.execPath, [SCRIPT, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--rounds=7');
    expect(help.stdout).toContain('--help');
  });
});

if (!fs.existsSync(CHROMIUM)) {
  test.skip(`benchmark page: SKIPPED, ${CHROMIUM} is missing (run scripts/system-deps/backends.sh or apt-get install chromium)`, () => undefined);
} else {
  describe('benchmark page in headless Chromium (ResNet-20 batch 2, 2 rounds)', () => {
    let stdout = '';
    let status: number | null = null;
    let result: {
      crossOriginIsolated: boolean;
      hardwareConcurrency: number;
      threads: { resnetTs: number; onnxruntime: number };
      tfjsWasmBinary: string;
      works: { model: string; batch: number; rows: { runtime: string; ms: number; times: number[] }[]; agreement: ReturnType<typeof agreement>; ratio: number }[];
      webgpu: {
        skipped?: string;
        software?: boolean;
        note?: string;
        works: { rows: { runtime: string; ms: number; agreement: ReturnType<typeof agreement> }[]; agreement: ReturnType<typeof agreement> }[];
      };
      errors: string[];
    };

    beforeAll(() => {
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-ts-bench-test-'));
      const json = path.join(tmp, 'result.json');
      try {
        const r = spawnSync(
          process.execPath,
          [SCRIPT, '--sources', '--works=resnet20:2', '--rounds=2', '--webgpu=resnet20:1', '--webgpu-rounds=1', `--json=${json}`, '--timeout=400'],
          { cwd: here, encoding: 'utf8', timeout: 480000 },
        );
        stdout = r.stdout;
        status = r.status;
        if (r.status !== 0) console.log(r.stdout, r.stderr);
        result = JSON.parse(fs.readFileSync(json, 'utf8'));
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
      console.log(stdout.slice(0, stdout.indexOf('{')));
    }, 500000);

    test('runs to the end without errors and prints the table and the JSON', () => {
      expect(result.errors).toEqual([]);
      expect(status).toBe(0);
      expect(stdout).toMatch(/^work +resnet-ts wasm +onnxruntime-web +ours\/theirs +max abs diff of logits$/m);
      expect(stdout).toMatch(/^resnet20 batch 2 +\d+\.\d +\d+\.\d +\d+\.\d\dx +\d\.\de-\d+$/m);
      expect(JSON.parse(stdout.slice(stdout.indexOf('\n{') + 1))).toEqual(result);
    });

    test('both runtimes run threaded on the same thread count in a cross-origin-isolated page', () => {
      expect(result.crossOriginIsolated).toBe(true);
      expect(result.tfjsWasmBinary).toBe('tfjs-backend-wasm-threaded-simd.wasm');
      expect(result.threads.resnetTs).toBe(Math.min(result.hardwareConcurrency, 8));
      expect(result.threads.onnxruntime).toBe(result.threads.resnetTs);
    });

    test('resnet-ts and onnxruntime-web give the same logits, and both are timed', () => {
      const [w] = result.works;
      expect(w).toMatchObject({ model: 'resnet20', batch: 2 });
      expect(w.agreement.agree).toBe(true);
      expect(w.agreement.maxAbsDiff).toBeLessThanOrEqual(1e-4 * w.agreement.scale);
      expect(w.rows.map((r) => r.runtime)).toEqual(['resnet-ts wasm', 'onnxruntime-web wasm']);
      for (const r of w.rows) {
        expect(r.times).toHaveLength(2);
        expect(r.ms).toBeGreaterThan(0);
      }
      expect(w.ratio).toBeCloseTo(w.rows[0].ms / w.rows[1].ms, 6);
    });

    test('WebGPU: both runtimes checked against onnxruntime-web on wasm and said to be on a software adapter, or skipped with the reason', () => {
      if (result.webgpu.skipped) {
        expect(result.webgpu.skipped).not.toBe('');
        return;
      }
      const [g] = result.webgpu.works;
      expect(g.rows.map((r) => r.runtime)).toEqual(['resnet-ts webgpu', 'onnxruntime-web webgpu']);
      for (const r of g.rows) {
        expect(r.agreement.agree).toBe(true);
        expect(r.ms).toBeGreaterThan(0);
      }
      expect(stdout).toMatch(/^work +resnet-ts webgpu +onnxruntime-web +ours\/theirs +max abs diffs \(ours, theirs\)$/m);
      if (result.webgpu.software) expect(result.webgpu.note).toMatch(/software adapter.*nothing about speed on a real GPU/);
      expect(stdout).toContain(result.webgpu.note);
    });
  });
}
