// A static file server for a built copy of the example on http://localhost (a secure context, as
// WebGPU needs), and the Chromium flags for WebGPU through SwiftShader in headless mode (see
// ENVIRONMENT.md). Used by test/page.test.ts and scripts/screenshot.mjs.
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const TYPES = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.png': 'image/png',
};

/** Serves `dir`; `extra` maps URL paths to files outside it. Resolves to `{url, close}`. */
async function serveStatic(dir, extra = {}) {
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent((req.url || '/').split('?')[0]);
    const file = extra[url] || path.join(dir, url.endsWith('/') ? `${url}index.html` : url);
    if (!extra[url] && !file.startsWith(dir)) return res.writeHead(403).end();
    if (!fs.existsSync(file) || !fs.statSync(file).isFile())
      return res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${url}`);
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' });
    res.end(fs.readFileSync(file));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://localhost:${server.address().port}/`, close: () => new Promise((r) => server.close(() => r())) };
}

const { CHROMIUM, CHROMIUM_FLAGS } = require('../../../scripts/chromium.cjs');

module.exports = { serveStatic, CHROMIUM, CHROMIUM_FLAGS };
