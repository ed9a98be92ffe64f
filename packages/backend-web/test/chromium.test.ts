/**
 * backend-web in a real browser: esbuild bundles test/page/main.ts (backend-web's plug-ins + the
 * shared conformance suite), a local HTTP server serves it on http://localhost (WebGPU needs a
 * secure context), and Debian's Chromium, driven by playwright-core, runs the conformance cases on
 * webgpu (SwiftShader) and wasm against the in-page cpu backend.
 *
 * Skipped, with the reason in the test name, when /usr/bin/chromium is missing
 * (scripts/system-deps/backends.sh installs it).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { conformance } from '@resnet-ts/backend-node';

const { CHROMIUM, CHROMIUM_FLAGS: FLAGS } = require('../../../scripts/chromium.cjs') as { CHROMIUM: string; CHROMIUM_FLAGS: string[] };
const ENGINES = ['webgpu', 'wasm'];
const root = path.resolve(__dirname, '../../..');

interface PageReport {
  engine: string;
  available: boolean;
  reason?: string;
  results: conformance.CaseResult[];
  leaked: number;
}

// Case names, known before the browser runs (jest collects tests synchronously).
const caseNames = conformance
  .conformanceCases({ createModel: () => ({ forward: () => null as never, parameters: () => [], dispose: () => undefined }) })
  .map((c) => c.name);

if (!fs.existsSync(CHROMIUM)) {
  test.skip(`chromium conformance: SKIPPED, ${CHROMIUM} is missing (run scripts/system-deps/backends.sh or apt-get install chromium)`, () =>
    undefined);
} else {
  const reports = new Map<string, PageReport>();
  let engineTable = '';
  let cleanup: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    const esbuild = await import('esbuild');
    const { chromium } = await import('playwright-core');
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-ts-chromium-'));
    const alias = Object.fromEntries(
      ['core', 'blocks', 'shortcuts', 'zoo', 'backend-web'].map((p) => [
        `@resnet-ts/${p}`,
        path.join(root, 'packages', p, 'src', 'index.ts'),
      ]),
    );
    const built = await esbuild.build({
      entryPoints: [path.join(__dirname, 'page', 'main.ts')],
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'browser',
      target: 'es2020',
      alias,
      define: { 'process.env.NODE_ENV': '"production"' },
      logLevel: 'silent',
    });
    const js = built.outputFiles[0].text;
    const wasmDir = path.join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
    const server = http.createServer((req, res) => {
      const url = (req.url ?? '/').split('?')[0];
      if (url === '/') {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<!doctype html><meta charset="utf-8"><title>loading</title><script src="/main.js"></script>');
      } else if (url === '/main.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' });
        res.end(js);
      } else if (url.startsWith('/wasm/') && /^[\w.-]+\.wasm$/.test(url.slice(6)) && fs.existsSync(path.join(wasmDir, url.slice(6)))) {
        res.writeHead(200, { 'content-type': 'application/wasm' });
        res.end(fs.readFileSync(path.join(wasmDir, url.slice(6))));
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
    });
    cleanup = async () => {
      await context.close().catch(() => undefined);
      await new Promise((r) => server.close(r));
      fs.rmSync(tmp, { recursive: true, force: true });
    };
    const page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://localhost:${port}/`);
    await page
      .waitForFunction(() => document.title === 'ready' || document.title === 'error', undefined, { timeout: 60000 })
      .catch(() => {
        throw new Error(`the test page did not load: ${errors.join('; ') || 'timeout'}`);
      });
    const engines = (await page.evaluate('window.resnetEngines()')) as {
      name: string;
      priority: number;
      available: boolean;
      reason?: string;
    }[];
    engineTable = engines
      .map((e) => `${e.name} (${e.priority}): ${e.available ? 'available' : 'unavailable'}, ${e.reason ?? ''}`)
      .join('\n  ');
    process.stdout.write(`chromium engines:\n  ${engineTable}\n`);
    for (const engine of ENGINES) {
      reports.set(engine, (await page.evaluate(`window.resnetConformance(${JSON.stringify(engine)})`)) as PageReport);
    }
    process.stdout.write(`chromium conformance:\n${conformance.formatResults([...reports.values()].flatMap((r) => r.results))}\n`);
  }, 300000);

  afterAll(async () => {
    await cleanup?.();
  });

  for (const engine of ENGINES) {
    describe(`chromium ${engine}`, () => {
      test('is available in headless Chromium', () => {
        const r = reports.get(engine);
        if (!r?.available) throw new Error(`${engine} is not available in Chromium: ${r?.reason ?? 'no report'}\n  ${engineTable}`);
      });
      for (const name of caseNames) {
        test(name, () => {
          const r = reports.get(engine);
          if (!r?.available) {
            console.log(`chromium conformance: SKIPPED ${engine} / ${name}: ${r?.reason ?? 'no report'}`);
            return;
          }
          const res = r.results.find((x) => x.name === name);
          if (!res) throw new Error(`no result for ${name}`);
          if (!res.pass) throw new Error(`${engine} differs from cpu: ${conformance.formatResults([res])}`);
        });
      }
      test('no tensors leaked in the page', () => {
        const r = reports.get(engine);
        if (r?.available) expect(r.leaked).toBe(0);
      });
    });
  }
}
