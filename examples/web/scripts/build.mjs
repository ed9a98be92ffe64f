#!/usr/bin/env node
// Builds the example with Vite's programmatic API (the same config as `vite build`).
//   node scripts/build.mjs [--out=<dir>] [--sources]
// --sources: inside the resnet-ts repository, take @resnet-ts/* from the packages' TypeScript
// sources instead of their built dist/ (what the e2e test does, like jest, so it never runs
// against a stale build). Prints the output folder.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const here = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const outDir = path.resolve(args.find((a) => a.startsWith('--out='))?.slice(6) ?? path.join(here, 'dist'));
const repo = path.resolve(here, '../..');
const alias = args.includes('--sources')
  ? ['core', 'blocks', 'shortcuts', 'zoo', 'backend-web', 'onnx'].map((p) => ({
      find: new RegExp(`^@resnet-ts/${p}$`),
      replacement: path.join(repo, 'packages', p, 'src', 'index.ts'),
    }))
  : [];

const t0 = Date.now();
await build({
  root: here,
  configFile: path.join(here, 'vite.config.ts'),
  logLevel: 'warn',
  resolve: { alias },
  build: { outDir, emptyOutDir: true },
});
console.log(
  `built ${path.relative(process.cwd(), outDir) || '.'} in ${((Date.now() - t0) / 1000).toFixed(1)} s${alias.length ? " (from the packages' sources)" : ''}`,
);
