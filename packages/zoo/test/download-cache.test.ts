/**
 * The disk cache keeps only usable downloads, against a local HTTP server on 127.0.0.1: a web page
 * served with HTTP 200 where weights were asked for (a login or error page), garbage, a truncated
 * file or a config.json that is not JSON is a one-line error that says what the URL served, and it
 * is not cached, so the next try downloads again; a bad file an older version cached is replaced; a
 * failed download leaves no empty folder behind.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import '@resnet-ts/backend-node';
import { SourceError, cachePath, cachedDownload, fromPretrained, pretrainedWeightsPath, sampleImages } from '@resnet-ts/zoo/node';

const NAME = 'resnet20-fashion-mnist';
const WEIGHTS = fs.readFileSync(pretrainedWeightsPath(NAME));
const SHIRT = sampleImages(NAME).find((s) => s.label === 'Shirt')!.file;
const HTML = '<!DOCTYPE html>\n<html><body>Please log in</body></html>\n';

/**
 * What each path serves: body and content type (status 200), or undefined for a 404; `claims`: a
 * false Content-Length sent instead of the body's, the connection dropped after the body.
 */
const routes = new Map<string, { body: Buffer | string; type?: string; chunked?: boolean; claims?: number }>();
const hits: Record<string, number> = {};
let server: http.Server;
let base: string;
let cache: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = (req.url ?? '').split('?')[0];
    hits[url] = (hits[url] ?? 0) + 1;
    const r = routes.get(url);
    if (!r) {
      res.writeHead(404, { 'content-type': 'text/html' });
      return void res.end('<html>not found</html>');
    }
    const headers: http.OutgoingHttpHeaders = { 'content-type': r.type ?? 'application/octet-stream' };
    if (!r.chunked) headers['content-length'] = r.claims ?? Buffer.byteLength(r.body);
    res.writeHead(200, headers);
    if (r.claims === undefined) return void res.end(r.body);
    res.write(r.body, () => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cache = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-ts-dlcache-'));
  process.env.RESNET_TS_CACHE = cache;
  process.env.RESNET_TS_HF_ENDPOINT = base;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  fs.rmSync(cache, { recursive: true, force: true });
});

/** Everything under the cache folder (files and folders), relative; the backends' remembered probes left out. */
function cacheEntries(): string[] {
  return (fs.readdirSync(cache, { recursive: true }) as string[]).filter((f) => !f.startsWith('probes')).sort();
}

async function errorOf(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => new Error('no error'),
    (err: Error) => err,
  );
  expect(e).toBeInstanceOf(SourceError);
  expect(e.message).not.toContain('\n');
  return e;
}

test('a login page served with HTTP 200 is an error naming it, is not cached, and the real file is fetched next time', async () => {
  routes.set('/swap.pth', { body: HTML, type: 'text/html; charset=utf-8' });
  const url = `${base}/swap.pth`;
  const e = await errorOf(fromPretrained(url));
  expect(e.message).toBe(
    `${url} did not serve a weights file but a web page (content-type text/html, ${Buffer.byteLength(HTML)} bytes starting '<!DOCTYPE html> <html><body>Plea'): ` +
      'a login, error or download page? Check the address; nothing was cached.',
  );
  expect(cacheEntries()).toEqual([]); // no file, no empty folder
  routes.set('/swap.pth', { body: WEIGHTS });
  const clf = await fromPretrained(url);
  expect((await clf.classify(SHIRT))[0].label).toBe('Shirt');
  clf.dispose();
  expect(hits['/swap.pth']).toBe(2);
  expect(fs.readFileSync(cachePath(url)).equals(WEIGHTS)).toBe(true);
});

test('a web page an older version cached is dropped and downloaded again', async () => {
  routes.set('/old.safetensors', { body: WEIGHTS });
  const url = `${base}/old.safetensors`;
  fs.mkdirSync(path.dirname(cachePath(url)), { recursive: true });
  fs.writeFileSync(cachePath(url), '<html>login</html>');
  const bytes = await cachedDownload(url);
  expect(Buffer.from(bytes!).equals(WEIGHTS)).toBe(true);
  expect(hits['/old.safetensors']).toBe(1);
  expect(fs.readFileSync(cachePath(url)).equals(WEIGHTS)).toBe(true);
});

test.each([
  [
    'an HTML page without an HTML content type',
    { body: HTML },
    /did not serve a weights file but a web page \(content-type application\/octet-stream, \d+ bytes starting '<!DOCTYPE html>/,
  ],
  [
    'garbage',
    { body: Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) },
    /did not serve a weights file \(content-type application\/octet-stream, 12 bytes starting 01 02 03 04 05 06 07 08\): expected safetensors or a PyTorch/,
  ],
  [
    'a truncated safetensors file without a size',
    { body: WEIGHTS.subarray(0, 5000), chunked: true },
    /served a truncated or corrupt weights file \(.*5000 bytes.*\): header length \d+ runs past the end of the file \(5000 bytes\).* Retry, or check the address; nothing was cached\.$/,
  ],
  [
    'a truncated PyTorch zip',
    { body: Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(2000)]) },
    /served a truncated or corrupt weights file .*: no end-of-central-directory record/,
  ],
])('%s is refused and not cached', async (_what, route, message) => {
  const name = `/bad-${Object.keys(hits).length}.pth`;
  routes.set(name, route);
  const before = cacheEntries();
  const e = await errorOf(cachedDownload(`${base}${name}`));
  expect(e.message).toMatch(message);
  expect(cacheEntries()).toEqual(before);
});

test('a Content-Length that lies (50 GB for a 1 MB body) is a one-line error, not a stack trace, and nothing is cached', async () => {
  routes.set('/lies.safetensors', { body: WEIGHTS, claims: 50e9 });
  const before = cacheEntries();
  const e = await errorOf(cachedDownload(`${base}/lies.safetensors`));
  expect(e.message).toMatch(
    new RegExp(
      `^Download of .*/lies\\.safetensors broke off after \\d+ of 50000000000 bytes: the server closed the connection \\(.*\\)\\. Retry; nothing was saved\\.$`,
    ),
  );
  expect(cacheEntries()).toEqual(before);
});

test('failed downloads leave no empty folder: a 404, a checksum mismatch, the optional files of a hub repo', async () => {
  const before = cacheEntries();
  await errorOf(fromPretrained(`${base}/missing.safetensors`));
  routes.set('/w.safetensors', { body: WEIGHTS });
  await errorOf(cachedDownload(`${base}/w.safetensors`, { sha256: '0'.repeat(64) }));
  expect(cacheEntries()).toEqual(before);
  // A hub repo with only pytorch_model.bin: config.json and model.safetensors are 404s, each remembered
  // by an empty '.absent' marker (the hub source then loads offline), and no partial or empty entry.
  routes.set('/acme/binonly/resolve/main/pytorch_model.bin', { body: WEIGHTS });
  const clf = await fromPretrained('hf:acme/binonly');
  clf.dispose();
  const entry = (name: string) => cachePath(`${base}/acme/binonly/resolve/main/${name}`);
  const absent = ['config.json', 'model.safetensors'].map((n) => `${entry(n)}.absent`);
  const added = cacheEntries().filter((f) => !before.includes(f));
  const expected = [entry('pytorch_model.bin'), ...absent].flatMap((f) => [path.dirname(f), f]).map((f) => path.relative(cache, f));
  expect(added.sort()).toEqual(expected.sort());
  for (const f of absent) expect(fs.statSync(f).size).toBe(0);
});

test('a hub config.json that is a web page or not JSON is refused and not cached', async () => {
  routes.set('/acme/page/resolve/main/config.json', { body: HTML, type: 'text/html' });
  routes.set('/acme/page/resolve/main/model.safetensors', { body: WEIGHTS });
  const before = cacheEntries();
  const e = await errorOf(fromPretrained('hf:acme/page'));
  expect(e.message).toMatch(/config\.json did not serve JSON but a web page \(content-type text\/html/);
  routes.set('/acme/page/resolve/main/config.json', { body: '{"id2label": ', type: 'application/json' });
  expect((await errorOf(cachedDownload(`${base}/acme/page/resolve/main/config.json`))).message).toMatch(
    /config\.json did not serve JSON \(content-type application\/json, .*\): .*JSON/,
  );
  expect(cacheEntries()).toEqual(before);
});
