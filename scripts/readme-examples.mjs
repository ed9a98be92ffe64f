#!/usr/bin/env node
// Runs every README example (see readme-example.mjs: each `<!-- example -->` fence, as written and
// in the derived other module form) against the workspace's built packages: the quick check that
// `npm run test:pack` repeats from packed tarballs in a fresh project.
//   node scripts/readme-examples.mjs [--only=zoo,core] [--timeout=<s per example, default 180>]
// Examples run in a scratch folder under node_modules/.cache (so `@resnet-ts/*` resolve to the
// workspace) with the repository root's README as `root`. Exits non-zero on any failure.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exampleForms, extractExamples } from './readme-example.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (n, d) => args.find((a) => a.startsWith(`--${n}=`))?.split('=')[1] ?? d;
const only = opt('only') ? new Set(opt('only').split(',')) : null;
const timeoutMs = Number(opt('timeout', 180)) * 1000;

const readmes = [
  { name: 'root', file: path.join(root, 'README.md') },
  ...fs
    .readdirSync(path.join(root, 'packages'))
    .sort()
    .map((dir) => ({ name: dir, file: path.join(root, 'packages', dir, 'README.md') })),
].filter((r) => fs.existsSync(r.file) && (!only || only.has(r.name)));

const work = path.join(root, 'node_modules', '.cache', `readme-examples-${process.pid}`);
fs.mkdirSync(work, { recursive: true });
const failures = [];
try {
  for (const r of readmes) {
    const examples = extractExamples(fs.readFileSync(r.file, 'utf8'));
    examples.forEach((ex, i) => {
      for (const { kind, src, asWritten } of exampleForms(ex)) {
        const name = `${r.name}-${i + 1}.${kind}`;
        const file = path.join(work, name);
        fs.writeFileSync(file, src);
        const t = Date.now();
        const run = spawnSync(process.execPath, [file], { cwd: work, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
        const ok = run.status === 0;
        if (!ok) failures.push(name);
        const first = (run.stdout ?? '').split('\n').find((l) => /\w/.test(l)) ?? '';
        console.log(`${ok ? 'PASS' : 'FAIL'}  ${`${name}${asWritten ? '' : ' (derived)'}`.padEnd(30)} ${((Date.now() - t) / 1000).toFixed(1).padStart(6)} s  ${ok ? first.slice(0, 80) : `exit ${run.status ?? run.signal}`}`);
        if (!ok) console.log(`      ${((run.stdout ?? '') + (run.stderr ?? '')).trim().split('\n').slice(-12).join('\n      ')}`);
      }
    });
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
console.log(failures.length ? `readme-examples: FAILED: ${failures.join(', ')}` : 'readme-examples: all passed');
process.exit(failures.length ? 1 : 0);
