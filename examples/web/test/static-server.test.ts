/**
 * scripts/static-server.cjs refuses what lies outside the served folder, including a sibling folder
 * whose name starts with the served folder's (a prefix check served /..%2fsite-secret/s.txt), and
 * answers 400 to a malformed percent-escape (it threw URIError and killed the process).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

const { serveStatic } = require('../scripts/static-server.cjs') as {
  serveStatic: (dir: string) => Promise<{ url: string; close: () => Promise<void> }>;
};

/** GET of a raw path (not normalised by a URL parser): status and body. */
function get(base: string, rawPath: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    http
      .get({ host: hostname === 'localhost' ? '127.0.0.1' : hostname, port, path: rawPath }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

test('a sibling folder sharing the served folder name prefix is refused; a malformed escape is 400; the server lives on', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'static-server-'));
  fs.mkdirSync(path.join(root, 'site'));
  fs.mkdirSync(path.join(root, 'site-secret'));
  fs.writeFileSync(path.join(root, 'site', 'index.html'), 'HOME');
  fs.writeFileSync(path.join(root, 'site-secret', 's.txt'), 'SECRET');
  const server = await serveStatic(path.join(root, 'site'));
  try {
    expect(await get(server.url, '/..%2fsite-secret/s.txt')).toMatchObject({ status: 403 });
    expect((await get(server.url, '/..%2fsite-secret/s.txt')).body).not.toContain('SECRET');
    expect(await get(server.url, '/%E0%A4%A')).toMatchObject({ status: 400 });
    expect(await get(server.url, '/')).toEqual({ status: 200, body: 'HOME' });
  } finally {
    await server.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});
