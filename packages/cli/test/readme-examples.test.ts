/**
 * Every README example (each block after a `<!-- example -->` marker, in the root and every package
 * README) runs exactly as written — an ES module as .mjs, CommonJS as .cjs, nothing wrapped — and in
 * the derived other module form, against the built workspace packages (scripts/readme-examples.mjs;
 * `npm run test:pack` repeats this from packed tarballs in a fresh project).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..');

test('every README example runs as written and in the derived module form', () => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'readme-examples.mjs')], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
  console.log(r.stdout.split('\n').filter((l) => /^(PASS|FAIL|readme)/.test(l)).join('\n'));
  expect(r.stdout).toMatch(/readme-examples: all passed/);
  expect(r.status).toBe(0);
  // The traps of issue 14 stay fixed: these READMEs' examples run as written.
  for (const name of ['root-1.mjs', 'zoo-1.mjs', 'train-1.mjs', 'train-2.mjs', 'backend-node-1.mjs', 'onnx-1.mjs']) expect(r.stdout).toMatch(new RegExp(`^PASS  ${name.replace('.', '\\.')} `, 'm'));
}, 600_000);
