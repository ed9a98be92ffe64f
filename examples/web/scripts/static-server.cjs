// A static file server for a built copy of the example on http://localhost (a secure context, as
// WebGPU needs), cross-origin isolated like `vite dev` (COOP/COEP on every response, so the wasm
// runtimes use threads), and the Chromium flags for WebGPU through SwiftShader in headless mode (see
// ENVIRONMENT.md). Used by the tests, scripts/screenshot.mjs and scripts/bench-browser.mjs.
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const TYPES = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.png': 'image/png',
};

const { CROSS_ORIGIN_ISOLATION } = require('./isolation.cjs');

/**
 * Whether `file` lies in `dir` (a prefix test would let `/..%2fsite-secret/` reach a sibling folder
 * `site-secret` of `site`).
 */
function inside(dir, file) {
  const rel = path.relative(path.resolve(dir), path.resolve(file));
  return rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

/**
 * Serves `dir`; `extra` maps URL paths to files outside it. Resolves to `{url, close}`.
 * `options.isolated` (default true): send the cross-origin isolation headers; false serves the page
 * the way a server without them would (the wasm runtimes then fall back to one thread).
 */
async function serveStatic(dir, extra = {}, options = {}) {
  const isolated = options.isolated ?? true;
  const server = http.createServer((req, res) => {
    if (isolated) for (const [name, value] of Object.entries(CROSS_ORIGIN_ISOLATION)) res.setHeader(name, value);
    let url;
    try {
      url = decodeURIComponent((req.url || '/').split('?')[0]);
    } catch {
      return res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request: malformed percent-escape in the URL');
    }
    const file = extra[url] || path.join(dir, url.endsWith('/') ? `${url}index.html` : url);
    if (!extra[url] && !inside(dir, file)) return res.writeHead(403).end();
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
