#!/usr/bin/env node
/* global document, URLSearchParams, setInterval, clearInterval */
// resnet-ts against onnxruntime-web in one headless Chromium run (bench.html, see the README):
// builds the example, serves it cross-origin isolated on http://localhost, opens the benchmark page
// and prints a table and the page's JSON. Exits 1 when the page reports an error (a disagreement of
// the logits included: a wrong computation is never timed), 2 on a bad option.
//
//   npm run bench:browser -w examples/web -- [options]
//   --works=resnet20:64,resnet50:1   networks and batch sizes (default)
//   --rounds=7                       interleaved timed rounds per work (after 2 untimed runs per side)
//   --threads=N                      wasm threads of both runtimes (default: one per core, at most 8)
//   --webgpu=<works>|none            resnet-ts on WebGPU (default resnet20:8: SwiftShader is slow)
//   --webgpu-rounds=2
//   --json=<file>                    also write the JSON there
//   --site=<dir>                     serve this build instead of building
//   --sources                        build from the packages' TypeScript sources (no `npm run build` needed)
//   --timeout=<s>                    give up after this many seconds (default 3600)
//   --help                           print this and exit
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { serveStatic, CHROMIUM, CHROMIUM_FLAGS } = require('./static-server.cjs');
const here = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

const OPTIONS = ['works', 'rounds', 'threads', 'webgpu', 'webgpu-rounds', 'json', 'site', 'sources', 'timeout', 'help'];
/** Options whose value is a whole number in [min, max]: checked before anything is built or started. */
const COUNTS = { rounds: [1, 1000], threads: [1, 64], 'webgpu-rounds': [1, 1000], timeout: [1, 86400] };

/** A bad option: one line, exit code 2 (the header's promise). */
const badOption = (message) => Object.assign(new Error(message), { exit: 2 });

function parseArgs(argv) {
  const opts = {};
  for (const a of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m || !OPTIONS.includes(m[1])) throw badOption(`unknown option '${a}' (options: ${OPTIONS.map((o) => `--${o}`).join(' ')})`);
    opts[m[1]] = m[2] ?? 'true';
  }
  for (const [name, [min, max]] of Object.entries(COUNTS)) {
    const v = opts[name];
    if (v !== undefined && !(/^\d+$/.test(v) && Number(v) >= min && Number(v) <= max))
      throw badOption(`--${name} must be a whole number from ${min} to ${max}; got '${v}'`);
  }
  return opts;
}

/** The usage: this file's header comment. */
function usage() {
  const text = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8');
  return text
    .split('\n')
    .slice(2)
    .filter((l) => l.startsWith('//'))
    .map((l) => l.replace(/^\/\/ ?/, ''))
    .join('\n');
}

/** The page's query string from the options (the page validates the values and reports bad ones). */
function query(opts) {
  const q = new URLSearchParams();
  for (const [opt, param] of [
    ['works', 'works'],
    ['rounds', 'rounds'],
    ['threads', 'threads'],
    ['webgpu', 'webgpu'],
    ['webgpu-rounds', 'webgpuRounds'],
  ])
    if (opts[opt] !== undefined) q.set(param, opts[opt]);
  return q.toString();
}

const pad = (s, n) => String(s).padEnd(n);
const ms = (row) => (row ? row.ms.toFixed(1) : '-');

const diff = (a) => (a ? `${a.maxAbsDiff === null ? 'NaN' : a.maxAbsDiff.toExponential(1)}${a.agree ? '' : ' DISAGREE'}` : '-');

/** The human-readable table of a result. */
export function formatResult(r, chromium) {
  const lines = [
    `Chromium ${chromium}, ${r.hardwareConcurrency} logical cores, cross-origin isolated: ${r.crossOriginIsolated}`,
    `threads: resnet-ts ${r.threads.resnetTs} (${r.tfjsWasmBinary}), onnxruntime-web ${r.onnxruntimeWeb} ${r.threads.onnxruntime}; ` +
      `${r.rounds} interleaved rounds after 2 untimed runs per side, medians in ms`,
    '',
    `${pad('work', 20)}${pad('resnet-ts wasm', 16)}${pad('onnxruntime-web', 17)}${pad('ours/theirs', 13)}max abs diff of logits`,
  ];
  for (const w of r.works) {
    const [ours, theirs] = w.rows;
    lines.push(
      `${pad(`${w.model} batch ${w.batch}`, 20)}${pad(ms(ours), 16)}${pad(ms(theirs), 17)}${pad(w.ratio ? `${w.ratio.toFixed(2)}x` : '-', 13)}${diff(w.agreement)}`,
    );
  }
  lines.push('');
  if (r.webgpu.works.length) {
    lines.push(`WebGPU (${r.webgpu.adapter}), ${r.webgpu.rounds} interleaved rounds after 2 untimed runs per side; diffs against onnxruntime-web on wasm:`);
    lines.push(`${pad('work', 20)}${pad('resnet-ts webgpu', 18)}${pad('onnxruntime-web', 17)}${pad('ours/theirs', 13)}max abs diffs (ours, theirs)`);
    for (const w of r.webgpu.works) {
      const [ours, theirs] = w.rows;
      lines.push(
        `${pad(`${w.model} batch ${w.batch}`, 20)}${pad(ms(ours), 18)}${pad(ms(theirs), 17)}${pad(w.ratio ? `${w.ratio.toFixed(2)}x` : '-', 13)}` +
          `${diff(w.agreement)}, ${diff(theirs?.agreement)}`,
      );
    }
  }
  lines.push(r.webgpu.note ?? `WebGPU: ${r.webgpu.skipped ?? 'not run'}`);
  for (const e of r.errors) lines.push(`ERROR: ${e}`);
  return lines.join('\n');
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.help) {
    console.log(usage());
    return 0;
  }
  if (!fs.existsSync(CHROMIUM)) throw Object.assign(new Error(`${CHROMIUM} is missing (scripts/system-deps/backends.sh or apt-get install chromium)`), { exit: 2 });
  let tmp;
  let site = opts.site && path.resolve(opts.site);
  if (!site) {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-ts-bench-web-'));
    site = path.join(tmp, 'site');
    execFileSync(process.execPath, [path.join(here, 'scripts/build.mjs'), `--out=${site}`, ...(opts.sources ? ['--sources'] : [])], { stdio: ['ignore', 2, 2] });
  }
  const server = await serveStatic(site);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  try {
    const page = await browser.newPage();
    const consoleErrors = [];
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    await page.goto(`${server.url}bench.html?${query(opts)}`);
    const timeout = Number(opts.timeout ?? 3600) * 1000;
    let last = '';
    const progress = setInterval(async () => {
      const s = await page.locator('#bench-status').innerText().catch(() => '');
      if (s && s !== last) process.stderr.write(`  ${(last = s)}\n`);
    }, 2000);
    try {
      await page.waitForFunction(() => ['done', 'error'].includes(document.querySelector('#result').dataset.state), undefined, { timeout });
    } finally {
      clearInterval(progress);
    }
    const result = JSON.parse(await page.locator('#result').innerText());
    for (const e of consoleErrors) result.errors.push(`browser console: ${e}`);
    console.log(formatResult(result, browser.version()));
    console.log(JSON.stringify(result, null, 2));
    if (opts.json) fs.writeFileSync(opts.json, `${JSON.stringify(result, null, 2)}\n`);
    return result.errors.length ? 1 : 0;
  } finally {
    await browser.close().catch(() => undefined);
    await server.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`bench:browser: ${e.message}`);
    process.exit(e.exit ?? 1);
  },
);
