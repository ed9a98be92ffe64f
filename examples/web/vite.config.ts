/**
 * Vite config of the browser example. Everything the page needs at run time is a static file:
 *
 *   zoo/weights/*   the trained weights and model cards shipped in @resnet-ts/zoo (`./weights/*` export)
 *   zoo/samples/*   the sample images shipped in @resnet-ts/zoo (`./samples/*` export)
 *   tfjs-wasm/*     the wasm binaries of @tensorflow/tfjs-backend-wasm
 *   fashion-mnist-test-500.bin   the first 500 Fashion-MNIST test images (public/, made by scripts/make-testset.mjs)
 *
 * `zooAndWasmAssets()` serves the package files in `vite dev` and copies them into the build, the
 * way an app that installed the packages from npm would.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { defineConfig, type Plugin } from 'vite';

const here = import.meta.dirname;
const req = createRequire(path.join(here, 'package.json'));

/** A URL prefix of the page mapped to a folder of an installed package. */
interface Mount {
  url: string;
  dir: string;
  files: RegExp;
}

/** The folders of the installed packages that the page serves as static files. */
export function assetMounts(): Mount[] {
  // Resolved through the packages' exports, as any installed copy would be.
  const zooSamples = path.dirname(path.dirname(req.resolve('@resnet-ts/zoo/samples/resnet20-fashion-mnist/labels.json')));
  const zooWeights = path.dirname(req.resolve('@resnet-ts/zoo/weights/resnet20-fashion-mnist.card.json'));
  const wasm = path.join(path.dirname(req.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  return [
    { url: 'zoo/weights/', dir: zooWeights, files: /\.(safetensors|json)$/ },
    { url: 'zoo/samples/', dir: zooSamples, files: /\.(png|json)$/ },
    { url: 'tfjs-wasm/', dir: wasm, files: /^tfjs-backend-wasm[\w-]*\.wasm$/ },
  ];
}

function listFiles(dir: string, pattern: RegExp, prefix = ''): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory()
        ? listFiles(path.join(dir, e.name), pattern, `${prefix}${e.name}/`)
        : pattern.test(e.name)
          ? [`${prefix}${e.name}`]
          : [],
    );
}

const TYPES: Record<string, string> = { '.wasm': 'application/wasm', '.json': 'application/json', '.png': 'image/png' };

/** Serves the package folders in `vite dev` (404 for a missing file) and copies them into the build. */
export function zooAndWasmAssets(mounts: Mount[] = assetMounts()): Plugin {
  return {
    name: 'resnet-ts-example-assets',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const url = decodeURIComponent((req.url ?? '').split('?')[0]).replace(/^\/+/, '');
        const mount = mounts.find((m) => url.startsWith(m.url));
        if (!mount) return next();
        const rel = url.slice(mount.url.length);
        const file = path.join(mount.dir, rel);
        if (rel.includes('..') || !mount.files.test(path.basename(rel)) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
          res.statusCode = 404;
          res.end(`not found: ${url}`);
          return;
        }
        res.setHeader('content-type', TYPES[path.extname(file)] ?? 'application/octet-stream');
        res.end(fs.readFileSync(file));
      });
    },
    generateBundle() {
      for (const m of mounts) {
        for (const rel of listFiles(m.dir, m.files)) {
          this.emitFile({ type: 'asset', fileName: `${m.url}${rel}`, source: fs.readFileSync(path.join(m.dir, rel)) });
        }
      }
    },
  };
}

export default defineConfig({
  root: here,
  base: './',
  // A missing weights file must be a 404 the page reports, not index.html.
  appType: 'mpa',
  plugins: [zooAndWasmAssets()],
  // The packages are CommonJS with an ES-module wrapper: pre-bundle them in `vite dev` even when
  // they are linked (npm workspaces), as they are when installed from npm.
  optimizeDeps: {
    include: ['@resnet-ts/core', '@resnet-ts/blocks', '@resnet-ts/shortcuts', '@resnet-ts/zoo', '@resnet-ts/backend-web'],
  },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
});
