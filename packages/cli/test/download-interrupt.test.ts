/**
 * Ctrl-C (SIGINT) or SIGTERM while `resnet predict --weights <url>` downloads, against a local HTTP
 * server on 127.0.0.1 that sends part of the file and then stalls: the process dies by the signal
 * and leaves nothing in the download cache (no partial file, no temporary, no empty folder); what a
 * SIGKILL leaves (which no handler can clean) does not confuse the next run, which downloads the
 * file into the cache as if nothing had happened. Build first: `npx tsc -b packages/cli`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BIN, ROOT, runCli } from './cli-run';

const ZOO = path.join(ROOT, 'packages', 'zoo');
const WEIGHTS = fs.readFileSync(path.join(ZOO, 'weights', 'resnet20-fashion-mnist.safetensors'));
const SHIRT = path.join(ZOO, 'samples', 'resnet20-fashion-mnist', '6-Shirt.png');

/** Whether the server sends the whole file, or its first 4096 bytes and then nothing. */
let stall = true;
let server: http.Server;
let base = '';
let cache = '';

beforeAll(async () => {
  server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': WEIGHTS.length });
    if (stall) res.write(WEIGHTS.subarray(0, 4096));
    else res.end(WEIGHTS);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cache = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-cli-interrupt-'));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  fs.rmSync(cache, { recursive: true, force: true });
});

/** Everything under the cache (files and folders), relative and sorted; the backends' remembered probes left out. */
function cacheEntries(): string[] {
  return (fs.readdirSync(cache, { recursive: true }) as string[]).filter((f) => !f.startsWith('probes')).sort();
}

/** Waits until the download's temporary file holds bytes (polling), or fails after 30 s. */
async function downloading(): Promise<void> {
  const end = Date.now() + 30_000;
  while (Date.now() < end) {
    const tmp = cacheEntries().find((f) => f.endsWith('.tmp'));
    if (tmp && fs.statSync(path.join(cache, tmp)).size > 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the download never started; the cache holds ${JSON.stringify(cacheEntries())}`);
}

/** Starts `resnet predict --weights <url>`, sends `signal` once the download is under way; how it ended. */
async function interrupted(
  url: string,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'predict', '--weights', url, SHIRT], { env: { ...process.env, RESNET_TS_CACHE: cache } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('close', (code, sig) => r({ code, signal: sig })),
  );
  try {
    await downloading();
  } finally {
    child.kill(signal);
  }
  return { ...(await closed), stderr };
}

test.each(['SIGINT', 'SIGTERM'] as const)(
  '%s during a download: the process dies by it and the cache holds no file, temporary or empty folder',
  async (signal) => {
    stall = true;
    const r = await interrupted(`${base}/${signal}.safetensors`, signal);
    expect({ code: r.code, signal: r.signal, stack: r.stderr.includes('\n    at ') }).toEqual({ code: null, signal, stack: false });
    expect(cacheEntries()).toEqual([]);
  },
  60_000,
);

test('what a SIGKILL leaves (a folder and a temporary) does not confuse the next run, which caches the whole file', async () => {
  stall = true;
  const url = `${base}/killed.safetensors`;
  const before = cacheEntries();
  const r = await interrupted(url, 'SIGKILL');
  expect(r.signal).toBe('SIGKILL');
  const [folder, ...left] = cacheEntries().filter((f) => !before.includes(f));
  expect(left).toEqual([expect.stringMatching(new RegExp(`^${folder}/\\.killed\\.safetensors\\.\\d+\\.\\w+\\.tmp$`))]);
  stall = false;
  const again = await runCli(['predict', '--weights', url, SHIRT], cache, 60_000, { RESNET_TS_CACHE: cache });
  expect({ status: again.status, stderr: again.stderr }).toEqual({ status: 0, stderr: '' });
  expect(again.stdout).toMatch(/Shirt/);
  expect(cacheEntries().filter((f) => !before.includes(f))).toEqual([folder, `${folder}/killed.safetensors`]);
  expect(fs.readFileSync(path.join(cache, folder, 'killed.safetensors')).equals(WEIGHTS)).toBe(true);
}, 60_000);
