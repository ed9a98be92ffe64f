#!/usr/bin/env node
// Builds the oneDNN addon (build/Release/resnet_native.node) with node-gyp. Without oneDNN's headers
// and library it prints how to get them and exits 0: the native backend then reports itself
// unavailable and the other backends work as before.
//   RESNET_TS_SKIP_NATIVE=1   skip the build
//   DNNL_ROOT=/opt/dnnl       oneDNN installed outside the system paths (include/ and lib/)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SKIP_MSG = 'native engine skipped: oneDNN not found (apt-get install libdnnl-dev, then npm rebuild @resnet-ts/backend-node)';

if (process.env.RESNET_TS_SKIP_NATIVE === '1') {
  console.log('native engine skipped: RESNET_TS_SKIP_NATIVE=1');
  process.exit(0);
}

// 1. oneDNN present? Header + shared library in the usual places (or under $DNNL_ROOT).
const prefixes = [process.env.DNNL_ROOT, '/usr', '/usr/local', '/opt/homebrew', '/opt/intel/oneapi/dnnl/latest'].filter(Boolean);
const libNames = ['libdnnl.so', 'libdnnl.dylib'];
const libDirs = ['lib', 'lib64', 'lib/x86_64-linux-gnu', 'lib/aarch64-linux-gnu'];
let found = null;
for (const p of prefixes) {
  if (!existsSync(join(p, 'include', 'dnnl.hpp'))) continue;
  const libDir = libDirs.map((d) => join(p, d)).find((d) => libNames.some((n) => existsSync(join(d, n))));
  if (libDir) {
    found = { prefix: p, include: join(p, 'include'), libDir };
    break;
  }
}
if (!found) {
  console.log(SKIP_MSG);
  process.exit(0);
}

// 2. node-gyp and node-addon-api resolvable?
const require = createRequire(join(root, 'package.json'));
// node-gyp: the project's own, else the one npm bundles (npm exports its path to install scripts).
let gypBin = null;
try {
  gypBin = require.resolve('node-gyp/bin/node-gyp.js');
} catch {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) gypBin = fromNpm;
}
let addonApi = true;
try {
  require.resolve('node-addon-api');
} catch {
  addonApi = false;
}
if (!gypBin || !addonApi) {
  console.log(`native engine skipped: ${!gypBin ? 'node-gyp' : 'node-addon-api'} is not installed`);
  process.exit(0);
}

// 3. Build. Extra include/lib paths go through the environment (binding.gyp reads them).
const env = { ...process.env, RESNET_TS_DNNL_INCLUDE: found.include, RESNET_TS_DNNL_LIBDIR: found.libDir };
console.log(`native engine: building with oneDNN from ${found.prefix}`);
// Use the running Node's own headers when they are installed next to it (distro packages and the
// official tarballs both have <prefix>/include/node), so node-gyp needs no download.
const gypArgs = [gypBin, 'rebuild', '--release'];
const nodePrefix = resolve(dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(join(nodePrefix, 'include', 'node', 'node_api.h'))) {
  gypArgs.push(`--nodedir=${nodePrefix}`);
}
const r = spawnSync(process.execPath, gypArgs, { cwd: root, env, stdio: 'inherit' });
if (r.status !== 0) {
  // A failed compile must not break `npm install`; say so loudly and carry on without the engine.
  console.log(`native engine NOT built: node-gyp exited with ${r.status ?? r.signal}. The native backend will be unavailable.`);
  process.exit(0);
}
if (!existsSync(join(root, 'build', 'Release', 'resnet_native.node'))) {
  console.log('native engine NOT built: build/Release/resnet_native.node is missing after node-gyp.');
  process.exit(0);
}
console.log('native engine built: build/Release/resnet_native.node');
