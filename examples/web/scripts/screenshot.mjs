#!/usr/bin/env node
/* global document */
// Takes the README's screenshot of the example (docs/web-example.png at the repository root): builds
// the page with the normal config (the packages' dist/, as an installed app gets them; run
// `npm run build` at the root first), serves it on http://localhost, opens it in Debian's Chromium
// (playwright-core), classifies a bundled sample, switches one block off and saves the page.
//   node scripts/screenshot.mjs [--out=../../docs/web-example.png] [--backend=auto] [--n=500] [--block=4]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { serveStatic, CHROMIUM, CHROMIUM_FLAGS } = require('./static-server.cjs');
const { chromium } = require('playwright-core');

const here = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const repo = path.resolve(here, '../..');
const opt = (n, d) =>
  process.argv
    .slice(2)
    .find((a) => a.startsWith(`--${n}=`))
    ?.split('=')[1] ?? d;
const out = path.resolve(opt('out', path.join(repo, 'docs/web-example.png')));
const backend = opt('backend', 'auto');
const n = Number(opt('n', 500));
const block = Number(opt('block', 4));

if (!fs.existsSync(CHROMIUM)) {
  console.error(`screenshot: ${CHROMIUM} is missing (scripts/system-deps/backends.sh installs it).`);
  process.exit(2);
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-ts-example-shot-'));
const site = path.join(tmp, 'site');
execFileSync(process.execPath, [path.join(here, 'scripts/build.mjs'), `--out=${site}`], { cwd: here, stdio: 'inherit' });

const query = `backend=${backend}&n=${n}`;
const server = await serveStatic(site);
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, deviceScaleFactor: 1 });
  await page.goto(`${server.url}?${query}`);
  await page.waitForFunction(() => document.querySelector('#app').dataset.state !== 'loading', undefined, { timeout: 600000 });
  await page.click('#samples button[data-file="7-Sneaker.png"]');
  await page.waitForFunction(() => document.querySelector('#top5').dataset.source === '7-Sneaker.png');
  const run = await page.locator('#lesion-status').getAttribute('data-run');
  await page.click(`#block-${block}`);
  await page.waitForFunction(
    (r) => document.querySelector('#lesion-status').dataset.state === 'done' && document.querySelector('#lesion-status').dataset.run !== r,
    run,
    { timeout: 600000 },
  );
  // The page's URL is a random localhost port: keep it out of the picture.
  await page.evaluate(() => {
    const why = document.querySelector('#backend-why');
    why.textContent = why.textContent.replace(/https?:\/\/localhost:\d+\//g, './');
  });
  fs.mkdirSync(path.dirname(out), { recursive: true });
  await page.screenshot({ path: out, fullPage: true });
  console.log(
    `screenshot: ${path.relative(process.cwd(), out)} (${await page.locator('#backend-name').innerText()}; ${(await page.locator('#lesion-status').innerText()).trim()})`,
  );
} finally {
  await browser.close();
  await server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
}
