#!/usr/bin/env node
// Packaging test: `npm pack` every package, install the tarballs into a fresh project outside the
// repository (no workspace links), then in that project
//   1. load every `exports` subpath of every package with require() and with import(), and check
//      that its `types` file is in the tarball;
//   2. run every `bin` command with --help;
//   3. run each package README's example as CommonJS (.cjs) and as an ES module (.mjs).
// Assumes the packages are built (`npm run build`). Prints the tarballs installed and the examples
// run, pass/fail; exits non-zero on any failure. A README without an example is reported as
// "no example" (a failure only with --require-examples).
//
// Which code is an example: the first ```js fence after each `<!-- example -->` marker (every one
// runs), else the first ```js fence under a `## Example` heading (js, javascript, cjs, mjs, or
// ts/typescript, whose types are stripped with esbuild). Each runs first exactly as written (with
// import: as .mjs; with require: as .cjs, unwrapped, so `require` with top-level `await` fails as it
// would for a user), then in the derived other form: `const x = require('m')` -> `import * as x from 'm'`,
// `const {a, b: c} = require('m')` -> `import {a, b as c} from 'm'`, `require('m')` -> `import 'm'`
// (and the reverse; top-level `await` in a derived CJS form is wrapped in an async function).
//
// Options: --keep (leave the temp folder), --only=core,zoo (examples of these only; all are installed), --require-examples,
//          --online (no --prefer-offline), --timeout=<s per example, default 180>.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exampleForms, extractExamples } from './readme-example.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const args = process.argv.slice(2);
const flag = (n) => args.includes(`--${n}`);
const opt = (n, d) => args.find((a) => a.startsWith(`--${n}=`))?.split('=')[1] ?? d;
const only = opt('only') ? new Set(opt('only').split(',')) : null;
const timeoutMs = Number(opt('timeout', 180)) * 1000;
const t0 = Date.now();
const secs = (t) => ((Date.now() - t) / 1000).toFixed(1) + ' s';
const log = (s) => console.log(s);

// ---- the packages -------------------------------------------------------------------------------
const pkgs = fs
  .readdirSync(path.join(root, 'packages'))
  .sort()
  .map((dir) => ({ dir, abs: path.join(root, 'packages', dir) }))
  .filter((p) => fs.existsSync(path.join(p.abs, 'package.json')))
  .map((p) => ({ ...p, json: JSON.parse(fs.readFileSync(path.join(p.abs, 'package.json'), 'utf8')) }))
  .filter((p) => !p.json.private);
for (const p of pkgs) {
  const main = path.join(p.abs, p.json.main ?? 'dist/index.js');
  if (!fs.existsSync(main)) {
    console.error(`pack-test: ${path.relative(root, main)} is missing: run \`npm run build\` first.`);
    process.exit(2);
  }
}

// ---- run ----------------------------------------------------------------------------------------
/** Python scripts the built JavaScript under `dir` names in a string literal ('peer_pytorch.py'). */
function scriptsNamedIn(dir) {
  if (!fs.existsSync(dir)) return [];
  const names = new Set();
  for (const f of fs.readdirSync(dir, { recursive: true })) {
    if (!String(f).endsWith('.js')) continue;
    for (const m of fs.readFileSync(path.join(dir, f), 'utf8').matchAll(/['"]([\w.-]+\.py)['"]/g)) names.add(m[1]);
  }
  return [...names].sort();
}

function sh(cmd, argv, cwd, extra = {}) {
  return execFileSync(cmd, argv, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, ...extra });
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-ts-pack-'));
const tarDir = path.join(tmp, 'tarballs');
const app = path.join(tmp, 'app');
fs.mkdirSync(tarDir);
fs.mkdirSync(path.join(app, 'examples'), { recursive: true });
const failures = [];
let exitCode = 0;
try {
  // 1. pack (build assumed; each package's prepack only refreshes its ESM wrappers)
  let t = Date.now();
  const tarballs = [];
  for (const p of pkgs) {
    const out = JSON.parse(sh('npm', ['pack', '--json', '--pack-destination', tarDir], p.abs));
    const info = out[0];
    tarballs.push({ pkg: p, file: path.join(tarDir, info.filename), size: info.size, files: info.files.map((f) => f.path) });
  }
  log(`pack-test: packed ${tarballs.length} packages in ${secs(t)} into ${tarDir}`);

  // 2. a fresh project outside the repository; the tarballs plus tfjs from the registry
  t = Date.now();
  const tfjsRange = pkgs[0].json.peerDependencies?.['@tensorflow/tfjs-core'] ?? '^4.22.0';
  fs.writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'resnet-ts-pack-test-app', version: '0.0.0', private: true }, null, 2) + '\n',
  );
  // Same registry settings as the repository (e.g. onnxruntime-node-install=skip), none of its workspace.
  if (fs.existsSync(path.join(root, '.npmrc'))) fs.copyFileSync(path.join(root, '.npmrc'), path.join(app, '.npmrc'));
  const installArgs = [
    'install',
    '--no-audit',
    '--no-fund',
    '--no-package-lock',
    ...(flag('online') ? [] : ['--prefer-offline']),
    ...tarballs.map((b) => b.file),
    `@tensorflow/tfjs-core@${tfjsRange}`,
    `@tensorflow/tfjs-backend-cpu@${tfjsRange}`,
  ];
  const inst = spawnSync('npm', installArgs, { cwd: app, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (inst.status !== 0) {
    console.error(inst.stdout + inst.stderr);
    throw new Error(`npm install of the tarballs failed (exit ${inst.status})`);
  }
  // No workspace links: every @resnet-ts package must be a real folder inside the app.
  for (const b of tarballs) {
    const where = path.join(app, 'node_modules', b.pkg.json.name);
    if (fs.lstatSync(where).isSymbolicLink() || fs.realpathSync(where).startsWith(root))
      throw new Error(`${b.pkg.json.name} is linked to the repository`);
  }
  log(`pack-test: installed into ${app} in ${secs(t)}`);
  log('\ntarballs installed:');
  for (const b of tarballs)
    log(`  ${path.basename(b.file).padEnd(36)} ${(b.size / 1024).toFixed(1).padStart(7)} kB  ${b.files.length} files`);
  log(
    `  + @tensorflow/tfjs-core@${require_version(app, '@tensorflow/tfjs-core')}, @tensorflow/tfjs-backend-cpu@${require_version(app, '@tensorflow/tfjs-backend-cpu')} (registry)`,
  );

  // 3. every exports subpath, both ways, and its types file in the tarball
  t = Date.now();
  log('\nexports (require / import / types):');
  const subpaths = [];
  const assets = [];
  for (const b of tarballs) {
    for (const [sub, target] of Object.entries(b.pkg.json.exports ?? { '.': b.pkg.json.main })) {
      if (sub === './package.json') continue;
      if (sub.includes('*')) {
        // A pattern of static files (e.g. zoo's `./weights/*`): the tarball must hold files it matches.
        const esc = (x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
        const re = new RegExp(`^${String(target).replace(/^\.\//, '').split('*').map(esc).join('.+')}$`);
        const n = b.files.filter((f) => re.test(f)).length;
        assets.push({ spec: `${b.pkg.json.name}/${sub.slice(2)}`, n });
        continue;
      }
      const spec = sub === '.' ? b.pkg.json.name : `${b.pkg.json.name}/${sub.slice(2)}`;
      const types = typeof target === 'object' ? target.types : null;
      subpaths.push({ spec, types, typesOk: !types || b.files.includes(types.replace(/^\.\//, '')) });
    }
  }
  const probe = path.join(app, 'probe-exports.mjs');
  fs.writeFileSync(
    probe,
    `import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\n` +
      `const specs = ${JSON.stringify(subpaths.map((s) => s.spec))};\nconst out = {};\n` +
      `for (const s of specs) {\n  const r = { require: 'ok', import: 'ok' };\n  let c, m;\n` +
      `  try { c = require(s); } catch (e) { r.require = String(e.message).split('\\n')[0]; }\n` +
      `  try { m = await import(s); } catch (e) { r.import = String(e.message).split('\\n')[0]; }\n` +
      `  if (c && m) {\n    const missing = Object.keys(c).filter((k) => k !== '__esModule' && k !== 'default' && !(k in m));\n` +
      `    if (missing.length) r.import = 'named exports missing in ESM: ' + missing.join(', ');\n` +
      `    else if (m.default !== c) r.import = 'ESM default is not the CommonJS module (two instances)';\n  }\n  out[s] = r;\n}\n` +
      `console.log(JSON.stringify(out));\n`,
  );
  const pr = spawnSync('node', [probe], { cwd: app, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  let probed = {};
  try {
    probed = JSON.parse(pr.stdout.trim().split('\n').pop());
  } catch {
    failures.push('exports probe');
    console.error(pr.stdout + pr.stderr);
  }
  for (const s of subpaths) {
    const r = probed[s.spec] ?? { require: 'not run', import: 'not run' };
    const ok = r.require === 'ok' && r.import === 'ok' && s.typesOk;
    if (!ok) failures.push(`exports ${s.spec}`);
    log(
      `  ${ok ? 'PASS' : 'FAIL'}  ${s.spec.padEnd(28)} require: ${r.require}; import: ${r.import}; types: ${s.typesOk ? 'ok' : `${s.types} not in tarball`}`,
    );
  }
  for (const a of assets) {
    if (!a.n) failures.push(`exports ${a.spec}`);
    log(`  ${a.n ? 'PASS' : 'FAIL'}  ${a.spec.padEnd(28)} static files: ${a.n} in the tarball`);
  }
  // Scripts the built code runs by file name (the PyTorch peers of `resnet bench`) must ship too, in
  // its own tarball or in one of the others it depends on (the CLI runs @resnet-ts/backend-node's).
  for (const b of tarballs) {
    for (const name of scriptsNamedIn(path.join(b.pkg.abs, 'dist'))) {
      const shipped = tarballs.some((t) => t.files.some((f) => path.basename(f) === name));
      if (!shipped) failures.push(`script ${b.pkg.json.name}: ${name}`);
      log(`  ${shipped ? 'PASS' : 'FAIL'}  ${`${b.pkg.json.name}: ${name}`.padEnd(28)} ${shipped ? 'in the tarball' : 'run by the code but not in the tarball ("files" in package.json)'}`);
    }
  }
  log(`  (${secs(t)})`);

  // 3b. every command a package declares in `bin`, through the link npm made
  for (const b of tarballs) {
    const bins = typeof b.pkg.json.bin === 'string' ? { [b.pkg.json.name.split('/').pop()]: b.pkg.json.bin } : (b.pkg.json.bin ?? {});
    for (const name of Object.keys(bins)) {
      const te = Date.now();
      const r = spawnSync(path.join(app, 'node_modules', '.bin', name), ['--help'], { cwd: app, encoding: 'utf8', timeout: timeoutMs });
      const ok = r.status === 0 && /usage/i.test(r.stdout + r.stderr);
      if (!ok) failures.push(`bin ${name}`);
      log(
        `  ${ok ? 'PASS' : 'FAIL'}  bin: ${`${name} --help`.padEnd(23)} ${secs(te)}${ok ? '' : `  exit ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`}`,
      );
    }
  }

  // 4. README examples, CJS and ESM
  log('\nREADME examples:');
  const noExample = [];
  for (const b of tarballs.filter((x) => !only || only.has(x.pkg.dir))) {
    const readmePath = path.join(b.pkg.abs, 'README.md');
    const inTarball = b.files.includes('README.md');
    const examples = fs.existsSync(readmePath) ? extractExamples(fs.readFileSync(readmePath, 'utf8')) : [];
    if (!inTarball || examples.length === 0) {
      const why = !fs.existsSync(readmePath) ? 'no README' : !inTarball ? 'README not in tarball' : 'no example';
      noExample.push(b.pkg.dir);
      if (!inTarball && fs.existsSync(readmePath)) failures.push(`${b.pkg.dir}: README not in tarball`);
      log(`  ----  ${b.pkg.dir.padEnd(14)} ${why}`);
      continue;
    }
    for (const [i, { kind, src, asWritten }] of examples.flatMap((ex, n) => exampleForms(ex).map((f) => [n, f]))) {
      const name = `${b.pkg.dir}${examples.length > 1 ? `-${i + 1}` : ''}.${kind}${asWritten ? '' : ' (derived)'}`;
      const file = path.join(app, 'examples', `${b.pkg.dir}-${i + 1}.${kind}`);
      fs.writeFileSync(file, src);
      const te = Date.now();
      const r = spawnSync('node', [file], { cwd: path.join(app, 'examples'), encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
      const ok = r.status === 0;
      if (!ok) failures.push(`example ${name}`);
      const firstOut = (r.stdout ?? '').split('\n').find((l) => /[A-Za-z0-9]/.test(l) && !/TensorFlow\.js in Node|tfjs-node/.test(l)) ?? '';
      log(
        `  ${ok ? 'PASS' : 'FAIL'}  ${name.padEnd(28)} ${secs(te).padStart(7)}  ${ok ? firstOut.slice(0, 70) : `exit ${r.status ?? r.signal}`}`,
      );
      if (!ok) {
        const tail = ((r.stdout ?? '') + (r.stderr ?? '')).trim().split('\n').slice(-15).join('\n      ');
        log(`      ${tail}`);
      }
    }
  }
  if (noExample.length) {
    log(`\nno example in README: ${noExample.join(', ')}`);
    if (flag('require-examples')) failures.push(`no example: ${noExample.join(', ')}`);
  }
} catch (e) {
  failures.push(String(e.message ?? e));
  console.error(`pack-test: ${e.stack ?? e}`);
} finally {
  if (flag('keep')) log(`\n(kept ${tmp})`);
  else fs.rmSync(tmp, { recursive: true, force: true });
}
exitCode = failures.length ? 1 : 0;
log(`\npack-test: ${failures.length ? `FAILED (${failures.length}): ${failures.join('; ')}` : 'all passed'} in ${secs(t0)}`);
process.exit(exitCode);

function require_version(dir, name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return '?';
  }
}
