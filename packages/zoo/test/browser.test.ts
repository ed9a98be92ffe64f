/**
 * fromPretrained in a real browser (Debian's Chromium through playwright-core): the zoo's browser
 * resolver, bundled from the packages' sources with esbuild, loads the shipped ResNet-20 from a local
 * server with progress events, keeps it in the Cache API (the second load makes no request), and
 * classifies a bundled image given as a URL, an <img> and ImageData exactly as Node does (same
 * preprocessing implementation). Skipped, with the reason in the test name, without Chromium.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import '@resnet-ts/backend-node';
import { fromPretrained, sampleImages } from '@resnet-ts/zoo/node';

const { CHROMIUM, CHROMIUM_FLAGS } = require('../../../scripts/chromium.cjs') as { CHROMIUM: string; CHROMIUM_FLAGS: string[] };
const ROOT = path.join(__dirname, '..', '..', '..');
const ZOO = path.join(__dirname, '..');
const NAME = 'resnet20-fashion-mnist';
const hasChromium = fs.existsSync(CHROMIUM);

const ENTRY = `
import { configureBackendWeb } from '@resnet-ts/backend-web';
import { useBackend } from '@resnet-ts/core';
import { configureBrowserSources, fromPretrained } from '@resnet-ts/zoo';
window.run = async () => {
  await useBackend('cpu');
  configureBrowserSources({ zooWeightsUrl: '/weights/' });
  const events = [];
  const clf = await fromPretrained('${NAME}', { onProgress: (e) => events.push(e) });
  const byUrl = await clf.classify('/samples/6-Shirt.png', { topk: 2 });
  const img = new Image();
  img.src = '/samples/6-Shirt.png';
  const byImg = await clf.classify(img, { topk: 2 });
  const canvas = new OffscreenCanvas(28, 28);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const byPixels = await clf.classify(ctx.getImageData(0, 0, 28, 28), { topk: 2 });
  clf.dispose();
  const again = await fromPretrained('${NAME}');
  const cached = (await (await caches.open('resnet-ts')).keys()).map((r) => new URL(r.url).pathname);
  again.dispose();
  return { events, byUrl, byImg, byPixels, cached, training: clf.model.training, labels: clf.labels };
};
// A checksum asked for is checked on relative URLs and shipped names too; a web page or a broken file
// is never cached, and one an older version cached is downloaded again.
window.sourceChecks = async () => {
  const failure = (p) => p.then(() => 'loaded', (e) => e.message);
  const wrong = '0'.repeat(64);
  const relative = await failure(fromPretrained('/weights/${NAME}.safetensors', { sha256: wrong }));
  const shipped = await failure(fromPretrained('${NAME}', { sha256: wrong }));
  const page = await failure(fromPretrained('/flaky/model.safetensors'));
  const afterPage = await failure(fromPretrained('/flaky/model.safetensors'));
  const cache = await caches.open('resnet-ts');
  const poisoned = new URL('/weights/${NAME}.safetensors', location.href).href;
  await cache.put(poisoned, new Response('<!doctype html><title>app</title>'));
  const afterPoison = await failure(fromPretrained('${NAME}'));
  const stored = new Uint8Array(await (await cache.match(poisoned)).arrayBuffer()).length;
  // A download cancelled through signal after its first bytes (a server that never finishes): fetch's AbortError, nothing cached.
  const controller = new AbortController();
  const onProgress = (e) => e.loaded > 0 && controller.abort();
  const aborted = await fromPretrained('/slow/model.safetensors', { signal: controller.signal, onProgress }).then(() => 'loaded', (e) => e.name);
  const slowCached = (await cache.keys()).some((r) => r.url.includes('/slow/'));
  return { relative, shipped, page, afterPage, afterPoison, stored, aborted, slowCached };
};
// wasm whose .wasm files are not served: the message says where they were looked for.
window.wasmMissing = async () => {
  configureBackendWeb({ wasmPaths: '/no-wasm/' });
  return useBackend('wasm').then(() => 'started', (e) => e.message);
};
// classify on another engine (webgpu: its synchronous reads gave zeros on SwiftShader and lost the device).
window.classifyOn = async (engine) => {
  try {
    await useBackend(engine);
  } catch (e) {
    return { unavailable: e.message };
  }
  const clf = await fromPretrained('${NAME}');
  const first = await clf.classify('/samples/6-Shirt.png', { topk: 2 });
  const second = await clf.classify('/samples/6-Shirt.png', { topk: 2 });
  clf.dispose();
  return { first, second };
};
`;

(hasChromium ? describe : describe.skip)(`fromPretrained in Chromium${hasChromium ? '' : ` (skipped: ${CHROMIUM} missing)`}`, () => {
  let dir = '';
  let server: http.Server;
  let base = '';
  const hits: Record<string, number> = {};

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-zoo-browser-'));
    const esbuild = await import('esbuild');
    const src = (p: string) => path.join(ROOT, 'packages', p, 'src', 'index.ts');
    await esbuild.build({
      stdin: { contents: ENTRY, resolveDir: ROOT, loader: 'js' },
      bundle: true,
      format: 'esm',
      outfile: path.join(dir, 'bundle.js'),
      alias: Object.fromEntries(['core', 'blocks', 'shortcuts', 'zoo', 'backend-web'].map((p) => [`@resnet-ts/${p}`, src(p)])),
      logLevel: 'error',
    });
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><script type="module" src="/bundle.js"></script>');
    const files: Record<string, string> = {
      '/': path.join(dir, 'index.html'),
      '/bundle.js': path.join(dir, 'bundle.js'),
      [`/weights/${NAME}.safetensors`]: path.join(ZOO, 'weights', `${NAME}.safetensors`),
      '/samples/6-Shirt.png': path.join(ZOO, 'samples', NAME, '6-Shirt.png'),
    };
    server = http.createServer((req, res) => {
      const url = (req.url ?? '/').split('?')[0];
      hits[url] = (hits[url] ?? 0) + 1;
      // A single-page app's fallback: its index.html for a missing file, the weights once they are there.
      if (url === '/flaky/model.safetensors' && hits[url] === 1)
        return void res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><html><body>app</body></html>');
      if (url === '/slow/model.safetensors') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 1 << 20 });
        return void res.write(Buffer.alloc(1000)); // never finishes
      }
      const file = url === '/flaky/model.safetensors' ? files[`/weights/${NAME}.safetensors`] : files[url];
      if (!file) return void res.writeHead(404).end();
      const body = fs.readFileSync(file);
      res.writeHead(200, { 'content-type': url.endsWith('.js') ? 'text/javascript' : url === '/' ? 'text/html' : 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://localhost:${(server.address() as AddressInfo).port}/`;
  }, 120_000);

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('loads with progress into the Cache API and classifies a URL, an <img> and ImageData as Node does', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(base);
      await page.waitForFunction(() => typeof (window as unknown as { run?: unknown }).run === 'function');
      type Top = { label: string; index: number; probability: number }[];
      const r = (await page.evaluate(() => (window as unknown as { run: () => Promise<unknown> }).run())) as {
        events: { loaded: number; total?: number }[];
        byUrl: Top;
        byImg: Top;
        byPixels: Top;
        cached: string[];
        training: boolean;
        labels: string[];
      };
      expect(errors).toEqual([]);
      const size = fs.statSync(path.join(ZOO, 'weights', `${NAME}.safetensors`)).size;
      expect(r.events.at(-1)).toMatchObject({ loaded: size, total: size });
      expect(hits[`/weights/${NAME}.safetensors`]).toBe(1); // the second load came from the Cache API
      expect(r.cached).toEqual([`/weights/${NAME}.safetensors`]);
      expect(r.training).toBe(false);
      const node = await fromPretrained(NAME);
      const ref = await node.classify(sampleImages(NAME)[6].file, { topk: 2 });
      node.dispose();
      for (const top of [r.byUrl, r.byImg, r.byPixels]) {
        expect(top.map((t) => t.label)).toEqual(ref.map((t) => t.label));
        expect(Math.abs(top[0].probability - ref[0].probability)).toBeLessThan(1e-4);
      }
      console.log(`browser: ${r.byUrl[0].label} ${(100 * r.byUrl[0].probability).toFixed(2)} %, Node: ${ref[0].label} ${(100 * ref[0].probability).toFixed(2)} %`);
      // On WebGPU (SwiftShader here) too, twice: the same answer as Node, and the device still there.
      type OnEngine = { unavailable?: string; first: Top; second: Top };
      const gpu = (await page.evaluate(() => (window as unknown as { classifyOn: (e: string) => Promise<unknown> }).classifyOn('webgpu'))) as OnEngine;
      if (gpu.unavailable) console.log(`SKIP classify on webgpu: ${gpu.unavailable}`);
      else
        for (const top of [gpu.first, gpu.second]) {
          expect(top.map((t) => t.label)).toEqual(ref.map((t) => t.label));
          expect(Math.abs(top[0].probability - ref[0].probability)).toBeLessThan(1e-4);
        }
      const checks = (await page.evaluate(() => (window as unknown as { sourceChecks: () => Promise<unknown> }).sourceChecks())) as Record<string, unknown>;
      expect(checks).toEqual({
        relative: expect.stringMatching(/^Checksum mismatch for \/weights\/resnet20-fashion-mnist\.safetensors: expected sha256 0{64}, got [0-9a-f]{64}\. The file was not cached/),
        shipped: expect.stringMatching(/^Checksum mismatch for .*resnet20-fashion-mnist\.safetensors: expected sha256 0{64}/),
        page: expect.stringMatching(/^\/flaky\/model\.safetensors did not serve a weights file but a web page \(content-type text\/html, .*; nothing was cached\.$/),
        afterPage: 'loaded',
        afterPoison: 'loaded',
        stored: size,
        aborted: 'AbortError',
        slowCached: false,
      });
      const wasm = await page.evaluate(() => (window as unknown as { wasmMissing: () => Promise<string> }).wasmMissing());
      expect(wasm).toMatch(/Are the \.wasm files of @tensorflow\/tfjs-backend-wasm\/dist\/ served at "\/no-wasm\/"\? Set configureBackendWeb\(\{ wasmPaths \}\)/);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 180_000);
});
