/**
 * Vite config of the browser example. Everything the page needs at run time is a static file:
 *
 *   zoo/weights/*   the trained weights and model cards shipped in @resnet-ts/zoo (`./weights/*` export)
 *   zoo/samples/*   the sample images shipped in @resnet-ts/zoo (`./samples/*` export)
 *   tfjs-wasm/*     the wasm binaries of @tensorflow/tfjs-backend-wasm
 *   fashion-mnist-test-500.bin   the first 500 Fashion-MNIST test images (public/, made by scripts/make-testset.mjs)
 *
 * `resnetTsAssets()` of `@resnet-ts/backend-web/vite` serves the package files in `vite dev` and
 * copies them into the build, the way an app that installed the packages from npm would (no hand-copying).
 */
import { defineConfig, type Plugin } from 'vite';
import { resnetTsAssets } from '@resnet-ts/backend-web/vite';

const here = import.meta.dirname;

export default defineConfig({
  root: here,
  base: './',
  // A missing weights file must be a 404 the page reports, not index.html.
  appType: 'mpa',
  plugins: [resnetTsAssets({ root: here }) as unknown as Plugin],
  // The packages are CommonJS with an ES-module wrapper: pre-bundle them in `vite dev` even when
  // they are linked (npm workspaces), as they are when installed from npm.
  optimizeDeps: {
    include: ['@resnet-ts/core', '@resnet-ts/blocks', '@resnet-ts/shortcuts', '@resnet-ts/zoo', '@resnet-ts/backend-web'],
  },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
});
