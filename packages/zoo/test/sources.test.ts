/**
 * fromPretrained from every kind of source, against a local HTTP server on 127.0.0.1 started here
 * (hub layout, plus routes that 404, stall and drop the connection): nothing reaches the internet.
 * Each failure is a one-line error that says what to do, and the disk cache never holds a partial file.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { fromPretrained, pretrainedWeightsPath, sampleImages, cachePath, cachedDownload } from '@resnet-ts/zoo/node';

const NAME = 'resnet20-fashion-mnist';
const WEIGHTS = fs.readFileSync(pretrainedWeightsPath(NAME));
const SHA = crypto.createHash('sha256').update(WEIGHTS).digest('hex');
/** A legacy (pre-1.6, `_use_new_zipfile_serialization=False`) torch.save state dict, made by PyTorch. */
const LEGACY = fs.readFileSync(path.join(__dirname, '..', '..', 'core', 'test', 'fixtures', 'torch', 'cifar-resnet8-optionA.legacy.th'));
const SHIRT = sampleImages(NAME).find((s) => s.label === 'Shirt')!.file;
const HUB_LABELS = ['tee', 'trousers', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'boot'];

let server: http.Server;
let base: string;
const hits: Record<string, number> = {};
const sockets = new Set<import('node:net').Socket>();

function route(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = (req.url ?? '').split('?')[0];
  hits[url] = (hits[url] ?? 0) + 1;
  const send = (body: Buffer | string, type = 'application/octet-stream') => {
    res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  if (url === '/files/w.safetensors' || url === '/files/other.safetensors' || url === '/acme/fmnist/resolve/main/model.safetensors') return send(WEIGHTS);
  if (url === '/acme/fmnist/resolve/main/config.json') {
    return send(JSON.stringify({ id2label: Object.fromEntries(HUB_LABELS.map((l, i) => [String(i), l])) }), 'application/json');
  }
  if (url === '/acme/binonly/resolve/main/pytorch_model.bin') return send(WEIGHTS);
  if (url === '/acme/twelve/resolve/main/model.safetensors') return send(WEIGHTS);
  if (url === '/acme/twelve/resolve/main/config.json') {
    return send(JSON.stringify({ id2label: Object.fromEntries([...HUB_LABELS, 'hat', 'scarf'].map((l, i) => [String(i), l])) }), 'application/json');
  }
  if (url === '/files/legacy.pth') return send(LEGACY);
  if (url === '/files/legacy-cut.pth') {
    res.writeHead(200, { 'content-type': 'application/octet-stream' }); // no length: a cut reads as a clean end
    return void res.end(LEGACY.subarray(0, Math.floor(LEGACY.length * 0.6)));
  }
  if (url === '/files/slow.safetensors') {
    res.writeHead(200, { 'content-length': WEIGHTS.length });
    res.write(WEIGHTS.subarray(0, 1000));
    return; // never finishes
  }
  if (url === '/files/dropped.safetensors') {
    res.writeHead(200, { 'content-length': WEIGHTS.length });
    res.write(WEIGHTS.subarray(0, WEIGHTS.length >> 1), () => res.socket?.destroy());
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found');
}

let cache: string;

beforeAll(async () => {
  server = http.createServer(route);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cache = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-ts-cache-'));
  process.env.RESNET_TS_CACHE = cache;
  process.env.RESNET_TS_HF_ENDPOINT = base;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
  fs.rmSync(cache, { recursive: true, force: true });
});

/** Every file under the cache, with temp files. */
function cacheFiles(): string[] {
  return fs.existsSync(cache) ? (fs.readdirSync(cache, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(cache, f)).isFile()) : [];
}

test('a shipped name gives an eval-mode classifier that labels the sample Shirt as Shirt, leaking no tensors', async () => {
  const clf = await fromPretrained(NAME);
  expect(clf.model.training).toBe(false);
  expect(clf.preprocessing).toMatchObject({ resize: [28, 28], padTo: [32, 32], channels: 1 });
  await clf.classify(SHIRT); // the first eval forward caches the folded conv+BN weights
  const before = tf.memory().numTensors;
  const top = await clf.classify(SHIRT, { topk: 3 });
  await clf.classify(fs.readFileSync(SHIRT));
  expect(tf.memory().numTensors).toBe(before);
  expect(top).toHaveLength(3);
  expect(top[0].label).toBe('Shirt');
  expect(top[0].index).toBe(6);
  expect(top[0].probability).toBeGreaterThan(top[1].probability);
  // Eval mode: forward does not move the BN running statistics.
  const runningMean = () => {
    const sd = clf.model.stateDict();
    const v = Array.from(sd.get('bn1.running_mean')!.dataSync());
    tf.dispose([...sd.values()]);
    return v;
  };
  const m0 = runningMean();
  await clf.classify([SHIRT, SHIRT]);
  expect(runningMean()).toEqual(m0);
  expect(tf.memory().numTensors).toBe(before);
  clf.dispose();
  expect(tf.memory().numTensors).toBeLessThan(before);
});

test('a file that is not an image is one line that says what to give, and a failed batch leaks no tensors', async () => {
  const clf = await fromPretrained(NAME);
  await clf.classify(SHIRT);
  const before = tf.memory().numTensors;
  const err = await clf.classify([SHIRT, pretrainedWeightsPath(NAME)]).catch((e: Error) => e);
  expect((err as Error).message).toMatch(/^Cannot decode '.*\.safetensors' as an image \(.*\)\. Give a JPEG, PNG, WebP, TIFF, GIF, AVIF, BMP, PPM, PGM or PBM file, or a tensor\.$/);
  expect((err as Error).message).not.toContain('\n');
  expect(tf.memory().numTensors).toBe(before);
  clf.dispose();
});

test('an architecture name without shipped weights says how to give the weights', async () => {
  await expect(fromPretrained('resnet50')).rejects.toThrow(/architecture without shipped weights.*model: 'resnet50'/);
  await expect(fromPretrained('no-such-file.safetensors')).rejects.toThrow(/^No such file: 'no-such-file.safetensors'\. Give a weights file/);
});

test('a URL is streamed with progress, cached, verified by sha256, and served from the cache the second time', async () => {
  const url = `${base}/files/w.safetensors`;
  const events: { loaded: number; total?: number }[] = [];
  const clf = await fromPretrained(url, { sha256: SHA, onProgress: (e) => events.push(e) });
  expect(events.at(-1)).toEqual({ source: url, loaded: WEIGHTS.length, total: WEIGHTS.length });
  expect(events.length).toBeGreaterThan(1);
  expect(fs.readFileSync(cachePath(url)).equals(WEIGHTS)).toBe(true);
  expect((await clf.classify(SHIRT))[0].label).toBe('Shirt');
  clf.dispose();
  const again = await fromPretrained(url);
  expect(hits['/files/w.safetensors']).toBe(1);
  again.dispose();
});

test('a checksum given for a local file or a shipped name is checked, as for a download', async () => {
  const file = pretrainedWeightsPath('resnet20-fashion-mnist');
  const right = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  const wrong = '0'.repeat(64);
  for (const source of [file, 'resnet20-fashion-mnist'])
    await expect(fromPretrained(source, { sha256: wrong })).rejects.toThrow(
      new RegExp(`^Checksum mismatch for .*resnet20-fashion-mnist\\.safetensors: expected sha256 0{64}, got ${right}; check the file and the checksum\\.$`),
    );
  const ok = await fromPretrained(file, { sha256: right.toUpperCase() });
  ok.dispose();
  await expect(fromPretrained(file, { sha256: 'abc' })).rejects.toThrow(/^sha256 must be 64 hex digits; got 'abc'\.$/);
});

test('hf:owner/name reads model.safetensors and takes the labels from config.json id2label', async () => {
  const clf = await fromPretrained('hf:acme/fmnist');
  expect(clf.labels).toEqual(HUB_LABELS);
  expect(clf.origin.labels).toBe('named');
  expect((await clf.classify(SHIRT))[0].label).toBe('shirt');
  clf.dispose();
  const bin = await fromPretrained('hf:acme/binonly');
  expect(hits['/acme/binonly/resolve/main/model.safetensors']).toBe(1);
  expect(hits['/acme/binonly/resolve/main/pytorch_model.bin']).toBe(1);
  bin.dispose();
  // Loaded again: the files the repo lacks are remembered as absent and the weights come from the cache,
  // so a hub source works offline once downloaded (config.json was asked for every time).
  const hitsBefore = { ...hits };
  (await fromPretrained('hf:acme/binonly')).dispose();
  expect(hits).toEqual(hitsBefore);
  await expect(fromPretrained('hf:acme/missing')).rejects.toThrow(
    /neither model.safetensors nor pytorch_model.bin for acme\/missing@main\. Check the repo id \(in Node a file found absent is remembered in the disk cache as '<name>\.absent': delete those to look again\)\.$/,
  );
  await expect(fromPretrained('hf:not a repo')).rejects.toThrow(/write hf:owner\/name/);
  // A revision or name that would climb out of the repo once the URL is normalised: refused, nothing fetched.
  const before = Object.values(hits).reduce((a, b) => a + b, 0);
  for (const id of ['hf:acme/net@../../x', 'hf:../acme@main', 'hf:acme/net@v1//x'])
    await expect(fromPretrained(id)).rejects.toThrow(/is not a hub id: its owner, name and revision may not hold '\.', '\.\.' or empty parts\./);
  expect(Object.values(hits).reduce((a, b) => a + b, 0)).toBe(before);
});

test("a config.json whose id2label does not name the model's outputs is not used (its first labels were), with a note", async () => {
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  try {
    const clf = await fromPretrained('hf:acme/twelve');
    const shipped = await fromPretrained(NAME);
    expect(clf.labels).toEqual(shipped.labels); // the checkpoint's own names
    expect(clf.labels).not.toEqual(HUB_LABELS);
    clf.dispose();
    shipped.dispose();
    expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([
      "note: hf:acme/twelve (model.safetensors): config.json's id2label names 12 classes, not the model's 10 outputs 0..9; its labels are not used. Give classes to name them.",
    ]);
  } finally {
    warn.mockRestore();
  }
});

describe('bad input: one line that says what to do, and no partial file in the cache', () => {
  test.each([
    ['a 404', '/files/missing.safetensors', {}, /answered HTTP 404 Not Found: no such file there; check the name\.$/],
    ['a checksum mismatch', '/files/other.safetensors', { sha256: '0'.repeat(64) }, /Checksum mismatch .* expected sha256 0{64}, got [0-9a-f]{64}\. The file was not cached/],
    ['a stalled server (timeout)', '/files/slow.safetensors', { timeoutMs: 300 }, /stalled: nothing received for 0\.3 s\. Retry, or raise timeoutMs/],
    ['a dropped connection', '/files/dropped.safetensors', {}, /(ended after \d+ of \d+ bytes|broke off after \d+ of \d+ bytes: .*|failed \(.*\))\.? .*[Rr]etry; nothing was saved\.$/],
  ])('%s', async (_what, route, options, message) => {
    const before = cacheFiles();
    const err = await fromPretrained(`${base}${route}`, options).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('\n');
    expect(cacheFiles()).toEqual(before);
  });

  test('a time limit longer than setTimeout keeps (~24.8 days) is no limit, not an instant "stalled"', async () => {
    const clf = await fromPretrained(`${base}/files/w.safetensors?v=long-timeout`, { timeoutMs: 1e12 });
    clf.dispose();
  });

  test('a download cancelled through signal: rejects with the AbortError as fetch does, caches nothing, closes the connection', async () => {
    const before = cacheFiles();
    const controller = new AbortController();
    const onProgress = (e: { loaded: number }) => {
      if (e.loaded > 0) controller.abort(); // after the first bytes of a server that never finishes
    };
    const err = await fromPretrained(`${base}/files/slow.safetensors?v=abort`, { signal: controller.signal, onProgress }).catch((e: Error) => e);
    expect([(err as Error).name, (err as Error).constructor.name]).toEqual(['AbortError', 'DOMException']); // jest's realm has another DOMException
    expect(cacheFiles()).toEqual(before);
    // A signal aborted already, with the caller's own reason: that reason, nothing fetched.
    const hitsBefore = hits['/files/w.safetensors'] ?? 0;
    const reason = new Error('user left the page');
    await expect(fromPretrained(`${base}/files/w.safetensors?v=pre-aborted`, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(hits['/files/w.safetensors'] ?? 0).toBe(hitsBefore);
    // The same URL downloads in full once no one aborts it.
    (await fromPretrained(`${base}/files/w.safetensors?v=pre-aborted`, { signal: controller.signal.aborted ? undefined : controller.signal })).dispose();
  });

  test('a legacy .pth cut short without a Content-Length is refused and not cached; one cut in the cache is downloaded again', async () => {
    const before = cacheFiles();
    await expect(cachedDownload(`${base}/files/legacy-cut.pth`)).rejects.toThrow(
      /\/files\/legacy-cut\.pth served a truncated or corrupt weights file \(.*\): .*it is truncated\. Retry, or check the address; nothing was cached\.$/,
    );
    expect(cacheFiles()).toEqual(before);
    const url = `${base}/files/legacy.pth`;
    fs.mkdirSync(path.dirname(cachePath(url)), { recursive: true });
    fs.writeFileSync(cachePath(url), LEGACY.subarray(0, LEGACY.length >> 1)); // what a full disk or an older version left
    const hitsBefore = hits['/files/legacy.pth'] ?? 0;
    expect(Buffer.from((await cachedDownload(url))!).equals(LEGACY)).toBe(true);
    expect(hits['/files/legacy.pth']).toBe(hitsBefore + 1);
    expect(fs.readFileSync(cachePath(url)).equals(LEGACY)).toBe(true);
    // Weights without class names: labels are the output numbers, and the classifier says so.
    const clf = await fromPretrained(url);
    expect([clf.origin.labels, clf.labels.slice(0, 3)]).toEqual(['numbers', ['0', '1', '2']]);
    clf.dispose();
  });

  test('an unreachable host', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await expect(fromPretrained(`http://127.0.0.1:${port}/w.safetensors`)).rejects.toThrow(/failed \(ECONNREFUSED\)\. Check the address and your connection/);
  });

  test('a download interrupted by a killed process leaves only a temp file, removed by the next download', async () => {
    const url = `${base}/files/w.safetensors?v=2`;
    const dir = path.dirname(cachePath(url));
    fs.mkdirSync(dir, { recursive: true });
    const stale = path.join(dir, `.${path.basename(cachePath(url))}.999999.abcdef.tmp`);
    fs.writeFileSync(stale, WEIGHTS.subarray(0, 100));
    const clf = await fromPretrained(url);
    expect(fs.existsSync(stale)).toBe(false);
    expect(fs.readdirSync(dir)).toEqual([path.basename(cachePath(url))]);
    clf.dispose();
  });
});
