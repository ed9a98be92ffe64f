/**
 * The two response headers that make a page cross-origin isolated (`crossOriginIsolated === true`):
 * then the browser gives it SharedArrayBuffer, tfjs's wasm backend loads its threaded SIMD binary and
 * onnxruntime-web runs on threads. Sent on every response by vite.config.ts (dev and preview) and by
 * scripts/static-server.cjs; an app's server must send them on its pages and on its worker scripts.
 */
const CROSS_ORIGIN_ISOLATION = Object.freeze({
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
});

module.exports = { CROSS_ORIGIN_ISOLATION };
