/**
 * Threads for tfjs's wasm backend: the example's servers (scripts/static-server.cjs, `vite dev`,
 * `vite preview`) send COOP/COEP, so the page is cross-origin isolated, tfjs loads its threaded SIMD
 * binary and XNNPACK runs on the thread count the page asks for; without the headers the page falls back
 * to one thread and says why. Both give the same logits. Real headless Chromium (playwright-core);
 * skipped, with the reason in the test name, when /usr/bin/chromium is missing.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';

const { serveStatic, CHROMIUM, CHROMIUM_FLAGS } = require('../scripts/static-server.cjs') as {
  serveStatic: (
    dir: string,
    extra?: Record<string, string>,
    options?: { isolated?: boolean },
  ) => Promise<{ url: string; close: () => Promise<void> }>;
  CHROMIUM: string;
  CHROMIUM_FLAGS: string[];
};
const { CROSS_ORIGIN_ISOLATION } = require('../scripts/isolation.cjs') as { CROSS_ORIGIN_ISOLATION: Record<string, string> };

const here = path.resolve(__dirname, '..');
const THREADED = 'tfjs-backend-wasm-threaded-simd.wasm';

interface WasmLine {
  isolated: string | null;
  threads: number;
  binary: string | null;
  text: string;
  wasmRequests: string[];
  cores: number;
}

/** Starts `vite dev` or `vite preview` (Vite's API, the example's config) on a free port; resolves to its URL. */
function startVite(mode: 'dev' | 'preview', outDir: string): Promise<{ url: string; proc: ChildProcess }> {
  const code = `
    import { createServer, preview } from 'vite';
    const configFile = ${JSON.stringify(path.join(here, 'vite.config.ts'))};
    const server = ${JSON.stringify(mode)} === 'dev'
      ? await (await createServer({ configFile, logLevel: 'silent', server: { port: 0, host: '127.0.0.1' } })).listen()
      : await preview({ configFile, logLevel: 'silent', build: { outDir: ${JSON.stringify(outDir)} }, preview: { port: 0, host: '127.0.0.1' } });
    console.log('URL ' + server.resolvedUrls.local[0]);`;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: here, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /URL (\S+)/.exec(out);
      if (m) resolve({ url: m[1].replace('127.0.0.1', 'localhost'), proc });
    });
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    proc.on('exit', (c) => reject(new Error(`vite ${mode} exited (${c}): ${out}`)));
  });
}

if (!fs.existsSync(CHROMIUM)) {
  test.skip(`wasm threads in the example: SKIPPED, ${CHROMIUM} is missing (run scripts/system-deps/backends.sh or apt-get install chromium)`, () =>
    undefined);
} else {
  let browser: Browser;
  let tmp = '';
  let site = '';
  const servers: { close: () => Promise<void> }[] = [];
  const urls = { isolated: '', plain: '' };

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-ts-example-threads-'));
    site = path.join(tmp, 'site');
    execFileSync(process.execPath, [path.join(here, 'scripts/build.mjs'), `--out=${site}`, '--sources'], { cwd: here, stdio: 'pipe' });
    for (const isolated of [true, false]) {
      const s = await serveStatic(site, {}, { isolated });
      servers.push(s);
      urls[isolated ? 'isolated' : 'plain'] = s.url;
    }
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  }, 180000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    for (const s of servers) await s.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** Opens the demo on wasm and reads its #wasm-threads line once the page is ready. */
  async function openDemo(base: string): Promise<{ page: Page; line: WasmLine; errors: string[] }> {
    const page = await browser.newPage();
    const errors: string[] = [];
    const wasmRequests: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('request', (r) => /\.wasm$/.test(r.url()) && wasmRequests.push(path.basename(r.url())));
    await page.goto(`${base}?backend=wasm&n=40`);
    await page.waitForFunction(() => document.querySelector<HTMLElement>('#app')!.dataset.state !== 'loading', undefined, { timeout: 240000 });
    const el = page.locator('#wasm-threads');
    const line: WasmLine = {
      isolated: await el.getAttribute('data-isolated'),
      threads: Number(await el.getAttribute('data-threads')),
      binary: await el.getAttribute('data-binary'),
      text: await el.innerText(),
      wasmRequests,
      cores: await page.evaluate(() => navigator.hardwareConcurrency),
    };
    return { page, line, errors };
  }

  /** ResNet-20's logits (3 images) from the benchmark page on tfjs wasm. */
  async function logits(base: string): Promise<{ values: number[]; threads: number; isolated: boolean }> {
    const page = await browser.newPage();
    try {
      await page.goto(`${base}bench.html?works=resnet20:3&rounds=1&webgpu=none&logits=1`);
      await page.waitForFunction(() => ['done', 'error'].includes(document.querySelector<HTMLElement>('#result')!.dataset.state!), undefined, {
        timeout: 240000,
      });
      const r = JSON.parse(await page.locator('#result').innerText());
      expect(r.errors).toEqual([]);
      return { values: r.works[0].logits.resnetTs, threads: r.threads.resnetTs, isolated: r.crossOriginIsolated };
    } finally {
      await page.close();
    }
  }

  test('the static server sends COOP/COEP on pages and .wasm files (and not when told not to)', async () => {
    for (const file of ['', 'bench.html', `tfjs-wasm/${THREADED}`]) {
      const res = await fetch(urls.isolated + file);
      expect(res.status).toBe(200);
      for (const [name, value] of Object.entries(CROSS_ORIGIN_ISOLATION)) expect(res.headers.get(name)).toBe(value);
      expect((await fetch(urls.plain + file)).headers.get('cross-origin-embedder-policy')).toBeNull();
    }
  });

  test('isolated: tfjs loads the threaded SIMD binary and runs on one thread per core (at most 8), shown on the page', async () => {
    const { page, line, errors } = await openDemo(urls.isolated);
    try {
      console.log(`example page, isolated: ${line.text} (${line.cores} logical cores)`);
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
      expect(line.isolated).toBe('true');
      expect(line.binary).toBe(THREADED);
      expect(line.wasmRequests).toContain(THREADED);
      expect(line.threads).toBe(Math.min(line.cores, 8));
      expect(line.text).toContain(`wasm on ${line.threads} thread`);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 300000);

  test('not isolated: the single-threaded SIMD binary, one thread, and the page says why', async () => {
    const { page, line, errors } = await openDemo(urls.plain);
    try {
      console.log(`example page, not isolated: ${line.text}`);
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(false);
      expect(line.isolated).toBe('false');
      expect(line.threads).toBe(1);
      expect(line.binary).toBe('tfjs-backend-wasm-simd.wasm');
      expect(line.wasmRequests).not.toContain(THREADED);
      expect(line.text).toMatch(/not cross-origin isolated.*one thread.*COOP\/COEP/);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 300000);

  test('threaded and single-threaded wasm give the same logits', async () => {
    const threaded = await logits(urls.isolated);
    const single = await logits(urls.plain);
    expect(threaded.isolated).toBe(true);
    expect(single.isolated).toBe(false);
    expect(single.threads).toBe(1);
    expect(threaded.values).toHaveLength(30);
    const diff = Math.max(...threaded.values.map((v, i) => Math.abs(v - single.values[i])));
    console.log(`ResNet-20 logits, ${threaded.threads} threads vs 1: max abs diff ${diff}`);
    expect(threaded.values.every(Number.isFinite)).toBe(true);
    expect(diff).toBeLessThanOrEqual(1e-5);
  }, 300000);

  test('a ?threads= that is not a thread count is a one-line error on the page', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${urls.isolated}bench.html?threads=99&webgpu=none`);
      await page.waitForFunction(() => document.querySelector<HTMLElement>('#result')!.dataset.state === 'error', undefined, { timeout: 60000 });
      const r = JSON.parse(await page.locator('#result').innerText());
      expect(r.errors).toEqual([expect.stringMatching(/\?threads=99 is not a thread count: give a whole number from 1 to 8\./)]);
    } finally {
      await page.close();
    }
  }, 120000);

  for (const mode of ['dev', 'preview'] as const) {
    test(`vite ${mode} serves the pages and the threaded binary cross-origin isolated`, async () => {
      const { url, proc } = await startVite(mode, site);
      try {
        for (const file of ['', 'bench.html', `tfjs-wasm/${THREADED}`]) {
          const res = await fetch(url + file);
          expect(res.status).toBe(200);
          for (const [name, value] of Object.entries(CROSS_ORIGIN_ISOLATION)) expect(res.headers.get(name)).toBe(value);
        }
        const page = await browser.newPage();
        try {
          await page.goto(`${url}bench.html?works=none&webgpu=none`);
          expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
        } finally {
          await page.close();
        }
      } finally {
        proc.kill();
      }
    }, 180000);
  }
}
