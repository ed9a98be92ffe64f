/**
 * The conformance suite (src/conformance.ts) on every registered Node engine, each compared with
 * the cpu backend. Engines that cannot run here are listed as skipped tests whose names carry the
 * reason (and a console line), never as passes.
 *
 * Jest collects tests synchronously, so availability is decided before collection by cheap
 * synchronous checks (module resolution; for webgpu a child process asks Dawn for an adapter; for
 * native the addon load). An engine that passes the pre-check but fails setup fails its tests.
 */
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '@resnet-ts/core';
import { createModel } from '@resnet-ts/zoo';
import { nodePlugins, conformance, probeEngines } from '@resnet-ts/backend-node';

const { conformanceCases, runCase, formatResults } = conformance;
type CaseResult = conformance.CaseResult;

function isInstalled(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

/** Asks Dawn for an adapter in a child process (a sync answer for jest's collection phase). */
function webgpuPrecheck(): string | null {
  if (!isInstalled('webgpu')) return "the 'webgpu' package is not installed";
  const script = `
    const path = require('path'), fs = require('fs'), os = require('os');
    if (!process.env.XDG_RUNTIME_DIR) { const d = path.join(os.tmpdir(), 'resnet-ts-xdg-' + process.getuid()); fs.mkdirSync(d, {recursive: true, mode: 0o700}); process.env.XDG_RUNTIME_DIR = d; }
    const arch = process.platform === 'darwin' ? 'universal' : process.arch;
    const { create } = require(path.join(path.dirname(require.resolve('webgpu')), 'dist', process.platform + '-' + arch, 'dawn.node'));
    create([]).requestAdapter().then(a => { process.stdout.write(a ? 'ADAPTER ' + (a.info.description || a.info.vendor) : 'NOADAPTER'); process.exit(0); },
      e => { process.stdout.write('ERROR ' + e.message); process.exit(0); });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60000, cwd: __dirname });
  const out = r.stdout ?? '';
  if (out.startsWith('ADAPTER')) return null;
  if (out.startsWith('NOADAPTER'))
    return 'Dawn found no WebGPU adapter (needs a Vulkan driver; on Debian 12 Mesa >= 25 from bookworm-backports)';
  return `Dawn failed: ${(out || r.stderr || String(r.error)).trim().split('\n')[0]}`;
}

function nativePrecheck(): string | null {
  try {
    const mod = require('../src/native/index') as { loadAddon?: () => { addon: unknown; error?: string } };
    if (!mod.loadAddon) return null;
    const { addon, error } = mod.loadAddon();
    return addon ? null : (error ?? 'the oneDNN addon is not built');
  } catch (e) {
    return `the native engine failed to load: ${(e as Error).message.split('\n')[0]}`;
  }
}

/** null when the engine should run here, else why not. */
function precheck(name: string): string | null {
  switch (name) {
    case 'tfjs-node-gpu':
      return isInstalled('@tensorflow/tfjs-node-gpu') ? null : '@tensorflow/tfjs-node-gpu is not installed (optional peer dependency)';
    case 'tfjs-node':
      return isInstalled('@tensorflow/tfjs-node') ? null : '@tensorflow/tfjs-node is not installed (optional peer dependency)';
    case 'webgpu':
      return webgpuPrecheck();
    case 'native':
      return nativePrecheck();
    case 'wasm':
      return isInstalled('@tensorflow/tfjs-backend-wasm') ? null : '@tensorflow/tfjs-backend-wasm is not installed';
    default:
      return null;
  }
}

const cases = conformanceCases({ createModel });
const switchBackend = (name: string) => useBackend(name);
const all: CaseResult[] = [];

afterAll(() => {
  if (all.length) process.stdout.write(`\nconformance results (error relative to cpu):\n${formatResults(all)}\n`);
});

test('every Node engine is probed with a reason when unavailable', async () => {
  const rows = await probeEngines();
  expect(rows.map((r) => r.name).sort()).toEqual(nodePlugins.map((p) => p.name).sort());
  for (const r of rows) if (!r.available) expect(r.reason).toBeTruthy();
  expect(rows.filter((r) => r.auto)).toHaveLength(1);
});

for (const plugin of nodePlugins) {
  const reason = precheck(plugin.name);
  if (reason) {
    console.log(`conformance: SKIPPED engine '${plugin.name}': ${reason}`);
    test.skip(`${plugin.name}: SKIPPED, ${reason}`, () => undefined);
    continue;
  }
  describe(`engine ${plugin.name}`, () => {
    let before = 0;
    beforeAll(async () => {
      await useBackend('cpu');
      before = tf.memory().numTensors;
    });
    for (const c of cases) {
      if (plugin.name === 'cpu' && c.fastReferenceFilterGradient) {
        // cpu is the reference; its stock filter gradient would take ~4 min for this step.
        test.skip(`${c.name}: SKIPPED on cpu, it is the reference (see src/conformance.ts)`, () => undefined);
        continue;
      }
      test(c.name, async () => {
        const r = await runCase(c, plugin.name, { switchBackend });
        all.push(r);
        if (r.failure) throw new Error(`${plugin.name}: ${r.failure}`);
        if (!r.pass) throw new Error(`${plugin.name} differs from cpu: ${formatResults([r])}`);
        expect(r.error).toBeLessThanOrEqual(r.tolerance);
      });
    }
    test('no tensors leaked', () => {
      expect(tf.memory().numTensors).toBe(before);
    });
  });
}
