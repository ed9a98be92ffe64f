/**
 * Vite config of the browser example. Everything the page needs at run time is a static file:
 *
 *   zoo/weights/*   the trained weights and model cards shipped in @resnet-ts/zoo (`./weights/*` export)
 *   zoo/samples/*   the sample images shipped in @resnet-ts/zoo (`./samples/*` export)
 *   tfjs-wasm/*     the wasm binaries of @tensorflow/tfjs-backend-wasm (with the threaded SIMD one)
 *   fashion-mnist-test-500.bin   the first 500 Fashion-MNIST test images (public/, made by scripts/make-testset.mjs)
 *
 * `resnetTsAssets()` of `@resnet-ts/backend-web/vite` serves the package files in `vite dev` and
 * copies them into the build, the way an app that installed the packages from npm would (no hand-copying).
 *
 * Two pages: index.html (the demo) and bench.html (resnet-ts against onnxruntime-web on the same
 * network, see README). Both are cross-origin isolated in `vite dev` and `vite preview`
 * (scripts/static-server.cjs sends the same headers), so that tfjs's wasm backend and onnxruntime-web
 * can run on threads.
 */
import { defaultClientConditions, defineConfig, type Plugin } from 'vite';
import { createRequire } from 'node:module';
import { resnetTsAssets } from '@resnet-ts/backend-web/vite';

const { CROSS_ORIGIN_ISOLATION } = createRequire(import.meta.url)('./scripts/isolation.cjs') as {
  CROSS_ORIGIN_ISOLATION: Record<string, string>;
};

const here = import.meta.dirname;

/**
 * Sends COOP/COEP on every response of `vite dev` and `vite preview` (pages, scripts, workers, .wasm):
 * with them the page is cross-origin isolated, gets SharedArrayBuffer, and the wasm runtimes use
 * threads. Registered before resnetTsAssets() so that its files carry the headers too.
 */
function crossOriginIsolation(): Plugin {
  const setHeaders = (_req: unknown, res: { setHeader(name: string, value: string): void }, next: () => void) => {
    for (const [name, value] of Object.entries(CROSS_ORIGIN_ISOLATION)) res.setHeader(name, value);
    next();
  };
  return {
    name: 'cross-origin-isolation',
    configureServer: (server) => void server.middlewares.use(setHeaders),
    configurePreviewServer: (server) => void server.middlewares.use(setHeaders),
  };
}

export default defineConfig({
  root: here,
  base: './',
  // A missing weights file must be a 404 the page reports, not index.html.
  appType: 'mpa',
  plugins: [crossOriginIsolation(), resnetTsAssets({ root: here }) as unknown as Plugin],
  // onnxruntime-web without its .wasm/.mjs inlined: bench.ts gives it their URLs (imported with ?url), so
  // that its thread workers start from its self-contained Emscripten glue file and not from a chunk of the app.
  resolve: { conditions: [...defaultClientConditions, 'onnxruntime-web-use-extern-wasm'] },
  // The packages are CommonJS with an ES-module wrapper: pre-bundle them in `vite dev` even when
  // they are linked (npm workspaces), as they are when installed from npm. onnxruntime-web is left alone.
  optimizeDeps: {
    include: ['@resnet-ts/core', '@resnet-ts/blocks', '@resnet-ts/shortcuts', '@resnet-ts/zoo', '@resnet-ts/backend-web', '@resnet-ts/onnx'],
    exclude: ['onnxruntime-web'],
  },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
    rolldownOptions: {
      input: { main: `${here}/index.html`, bench: `${here}/bench.html` },
      // Shorten names, but do not rewrite code: tfjs's threaded wasm starts its workers from the text of
      // its Emscripten factory (Function.prototype.toString), whose `typeof _scriptDir !== "undefined"`
      // guard the compressor would drop ("ReferenceError: e is not defined" in every worker, and the
      // wasm backend never starts).
      output: { minify: { compress: false, mangle: true } },
    },
  },
});
