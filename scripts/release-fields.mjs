#!/usr/bin/env node
// Sets the release-related fields of every packages/*/package.json (and nothing else): exports (ESM
// wrapper + CJS + types per subpath, keeping subpaths others added), main/types, files, engines,
// license, repository, keywords, sideEffects, and the ESM-wrapper step of the build script.
// Each file is re-read right before it is written, so concurrent edits of other fields survive.
// Idempotent: run it again after a package gains a subpath export.
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const WRAP = 'node ../../scripts/esm-wrapper.mjs .';
const KEYWORDS = {
  core: ['resnet', 'residual-network', 'deep-learning', 'neural-network', 'tensorflow', 'tfjs', 'typescript'],
  blocks: ['resnet', 'residual-block', 'bottleneck', 'tfjs'],
  shortcuts: ['resnet', 'shortcut', 'projection', 'tfjs'],
  zoo: ['resnet', 'resnet50', 'cifar', 'imagenet', 'model-zoo', 'tfjs'],
  'backend-node': ['resnet', 'tfjs', 'backend', 'node', 'webgpu', 'wasm', 'onednn'],
  'backend-web': ['resnet', 'tfjs', 'backend', 'browser', 'webgpu', 'webgl', 'wasm'],
  onnx: ['resnet', 'onnx', 'export', 'tfjs'],
  train: ['resnet', 'training', 'sgd', 'data-augmentation', 'tfjs'],
  lab: ['resnet', 'experiments', 'lesion', 'degradation', 'tfjs'],
  cli: ['resnet', 'cli', 'tfjs'],
};
// Packages whose import registers plug-ins or loads gradients (bundlers must keep their bare imports).
const SIDE_EFFECTS = new Set(['core', 'blocks', 'shortcuts', 'zoo', 'backend-node', 'backend-web', 'lab', 'cli']);

const mjs = (p) => p.replace(/\.js$/, '.mjs');
const dts = (p) => p.replace(/\.js$/, '.d.ts');

function entry(target) {
  // The CommonJS file a subpath points at, whatever shape its condition object has now.
  if (typeof target === 'string') return target;
  return target?.require ?? target?.default ?? target?.node ?? null;
}

for (const name of fs.readdirSync(path.join(root, 'packages')).sort()) {
  const dir = path.join(root, 'packages', name);
  const file = path.join(dir, 'package.json');
  if (!fs.existsSync(file)) continue;
  const text = fs.readFileSync(file, 'utf8'); // re-read right before writing
  const pkg = JSON.parse(text);

  const exportsMap = {};
  const old = pkg.exports && typeof pkg.exports === 'object' ? pkg.exports : { '.': pkg.main ?? './dist/index.js' };
  for (const [sub, target] of Object.entries(old)) {
    const js = entry(target);
    if (sub === './package.json' || !js || !js.endsWith('.js') || !js.startsWith('./dist/')) {
      exportsMap[sub] = target;
      continue;
    }
    exportsMap[sub] = { types: (typeof target === 'object' && target.types) || dts(js), import: mjs(js), require: js };
  }
  exportsMap['./package.json'] = './package.json';
  pkg.exports = exportsMap;
  pkg.main = 'dist/index.js';
  pkg.types = 'dist/index.d.ts';

  const files = ['dist', 'README.md', 'LICENSE'];
  if (name === 'core') files.push('generated');
  if (fs.existsSync(path.join(dir, 'binding.gyp'))) files.push('binding.gyp');
  if (fs.existsSync(path.join(dir, 'native'))) files.push('native');
  if (fs.existsSync(path.join(dir, 'binding.gyp'))) files.push('build/Release/*.node');
  // Folders of static files a subpath exports (e.g. zoo's `./weights/*`, `./samples/*`).
  for (const target of Object.values(exportsMap)) {
    if (typeof target !== 'string' || target === './package.json' || target.startsWith('./dist/')) continue;
    const top = target.replace(/^\.\//, '').split('/')[0];
    if (top && !top.includes('*') && !files.includes(top)) files.push(top);
  }
  // Command shims outside dist/ (e.g. cli's bin/resnet.js).
  const bins = typeof pkg.bin === 'string' ? [pkg.bin] : Object.values(pkg.bin ?? {});
  for (const b of bins) {
    const top = b.replace(/^\.\//, '').split('/')[0];
    if (top !== 'dist' && !files.includes(top)) files.push(top);
  }
  for (const s of Object.values(pkg.scripts ?? {})) {
    const m = /\bnode\s+(scripts\/[\w./-]+)/.exec(s); // keep scripts an install step runs
    if (m && ['install', 'postinstall', 'preinstall'].some((k) => pkg.scripts[k] === s) && !files.includes(m[1])) files.push(m[1]);
  }
  // Build bookkeeping and maps pointing at sources that are not shipped stay out of the tarball.
  files.push('!dist/.tsbuildinfo', '!dist/**/*.map');
  pkg.files = files;
  pkg.engines = { ...(pkg.engines ?? {}), node: '>=20' };
  pkg.license = 'Apache-2.0';
  pkg.repository = { type: 'git', url: 'https://example.invalid/resnet-ts.git', ...(pkg.repository ?? {}), directory: `packages/${name}` };
  pkg.keywords = KEYWORDS[name] ?? ['resnet', 'tfjs'];
  pkg.sideEffects = SIDE_EFFECTS.has(name);
  pkg.scripts = pkg.scripts ?? {};
  if (pkg.scripts.build && !pkg.scripts.build.includes('esm-wrapper.mjs')) {
    const b = pkg.scripts.build;
    // The wrapper goes right after `tsc -b` (later steps, e.g. chmod of a bin, stay after it).
    pkg.scripts.build = b.includes('tsc -b') ? b.replace(/tsc -b(?![\w-])/, `tsc -b && ${WRAP}`) : `${b} && ${WRAP}`;
  }

  // `npm pack` / `npm publish` (changeset publish) refresh the wrappers, so a dist/ rebuilt with a
  // bare `tsc -b` never ships stale ESM named exports.
  if (!(pkg.scripts.prepack ?? '').includes('esm-wrapper.mjs')) {
    pkg.scripts.prepack = pkg.scripts.prepack ? `${pkg.scripts.prepack} && ${WRAP}` : WRAP;
  }

  const now = fs.readFileSync(file, 'utf8');
  if (now !== text) throw new Error(`${file} changed while being edited; run again`);
  const out = JSON.stringify(pkg, null, 2) + '\n';
  if (out !== text) fs.writeFileSync(file, out);
  console.log(`${out === text ? 'unchanged' : 'updated  '} packages/${name}/package.json`);
}
