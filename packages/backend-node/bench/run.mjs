#!/usr/bin/env node
// Bundles a TypeScript bench (workspace sources, no build needed) with esbuild and runs it.
//   node bench/run.mjs bench/resnet20-step.ts [args...]
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const [entry, ...args] = process.argv.slice(2);
const outfile = join(mkdtempSync(join(tmpdir(), 'resnet-bench-')), 'bench.cjs');
await build({
  entryPoints: [resolve(entry)],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile,
  external: ['@tensorflow/*'],
  nodePaths: [join(root, 'node_modules'), join(root, '..', '..', 'node_modules')],
  // Workspace packages from their sources (no build needed).
  plugins: [
    {
      name: 'workspace-src',
      setup(b) {
        b.onResolve({ filter: /^@resnet-ts\/[a-z-]+$/ }, (a) => ({ path: join(root, '..', a.path.split('/')[1], 'src', 'index.ts') }));
      },
    },
  ],
  logLevel: 'warning',
});
const env = {
  ...process.env,
  RESNET_TS_NATIVE_ADDON: join(root, 'build', 'Release', 'resnet_native.node'),
  NODE_PATH: join(root, '..', '..', 'node_modules'),
};
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
const r = spawnSync(process.execPath, [...nodeArgs, outfile, ...args], { stdio: 'inherit', env });
rmSync(dirname(outfile), { recursive: true, force: true }); // the bundle (BENCH_NODE_ARGS' profiles go elsewhere)
process.exit(r.status ?? 1);
