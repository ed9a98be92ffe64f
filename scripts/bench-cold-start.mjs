#!/usr/bin/env node
// Cold start, side by side (issue 16 item 3): wall time from process start to logits written, for
//   - `resnet forward` on torchvision's ResNet-50, batch 8 (weights from the .pth PyTorch saved, and
//     from the resnet-ts checkpoint `resnet convert` makes of it),
//   - onnxruntime-node in a fresh Node process: session create from the .onnx torch.onnx.export
//     wrote (opset 13, same weights) + run + .npy written,
//   - PyTorch in a fresh python3: import torch/torchvision, load the .pth, forward, np.save,
//   - `resnet predict` with the shipped ResNet-20 on a shipped sample (no peer: the target is 0.5 s).
// Rounds are interleaved (each round runs every contender once, in a rotating order); medians are
// reported, and every contender's logits are checked against PyTorch's (max abs diff), so a fast
// wrong answer cannot pass. Needs the built CLI, /usr/bin/python3 with torch + torchvision, and
// onnxruntime-node (a devDependency of @resnet-ts/onnx).
//
//   node scripts/bench-cold-start.mjs [--rounds=5] [--json]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { parseNpyHeader } = createRequire(import.meta.url)(path.join(root, 'packages', 'core', 'dist', 'index.js'));
const args = process.argv.slice(2);
const rounds = Number(args.find((a) => a.startsWith('--rounds='))?.split('=')[1] ?? 5);
const asJson = args.includes('--json');
const PY = '/usr/bin/python3';
const resnet = path.join(root, 'packages', 'cli', 'bin', 'resnet.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cold-start-'));
const f = (name) => path.join(tmp, name);

function run(cmd, argv, what) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { encoding: 'utf8', cwd: root, maxBuffer: 64 << 20, env: { ...process.env, OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? '2' } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return ms;
}

/** The float32 values of a .npy file, through core's header parser. */
function readNpy(file) {
  const b = fs.readFileSync(file);
  const h = parseNpyHeader(b, file);
  if (h.descr !== '<f4') throw new Error(`${file}: not little-endian float32 (${h.descr})`);
  return new Float32Array(b.buffer.slice(b.byteOffset + h.dataStart, b.byteOffset + b.length));
}
const maxDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

// ---- fixtures: torchvision ResNet-50 (seeded), its .pth, its ONNX export, an input batch, PyTorch's logits
run(
  PY,
  [
    '-c',
    `
import torch, torchvision, numpy as np
torch.manual_seed(0)
m = torchvision.models.resnet50().eval()
torch.save(m.state_dict(), ${JSON.stringify(f('r50.pth'))})
x = torch.from_numpy(np.random.RandomState(0).randn(8, 3, 224, 224).astype('float32'))
np.save(${JSON.stringify(f('x.npy'))}, x.numpy())
torch.onnx.export(m, x, ${JSON.stringify(f('r50.onnx'))}, opset_version=13, input_names=['input'], output_names=['logits'])
with torch.no_grad():
    np.save(${JSON.stringify(f('ref.npy'))}, m(x).numpy())
`,
  ],
  'making the fixtures',
);
run(process.execPath, [resnet, 'convert', f('r50.pth'), f('r50.safetensors'), '--to', 'resnet-ts', '--model', 'resnet50'], 'resnet convert');
// The onnxruntime contender: the same script `resnet bench --cold-start` runs.
const { ortScript } = createRequire(import.meta.url)(path.join(root, 'packages', 'cli', 'dist', 'commands', 'bench-cold-start.js'));
fs.writeFileSync(f('ort.cjs'), ortScript(path.join(root, 'node_modules', 'onnxruntime-node')));
fs.writeFileSync(
  f('torch_forward.py'),
  `import sys, torch, torchvision, numpy as np
torch.set_num_threads(2)
m = torchvision.models.resnet50()
m.load_state_dict(torch.load(sys.argv[1]))
m.eval()
with torch.no_grad():
    np.save(sys.argv[3], m(torch.from_numpy(np.load(sys.argv[2]))).numpy())
`,
);

const sample = path.join(root, 'packages', 'zoo', 'samples', 'resnet20-fashion-mnist', '7-Sneaker.png');
const contenders = [
  { name: 'resnet forward, ResNet-50 b8, weights .pth', argv: [process.execPath, resnet, 'forward', '--weights', f('r50.pth'), '--input', f('x.npy'), '--out', f('y-pth.npy')], out: 'y-pth.npy' },
  { name: 'resnet forward, ResNet-50 b8, resnet-ts checkpoint', argv: [process.execPath, resnet, 'forward', '--weights', f('r50.safetensors'), '--input', f('x.npy'), '--out', f('y-st.npy')], out: 'y-st.npy' },
  { name: 'onnxruntime-node, ResNet-50 b8, .onnx (create + run)', argv: [process.execPath, f('ort.cjs'), f('r50.onnx'), f('x.npy'), f('y-ort.npy')], out: 'y-ort.npy' },
  { name: 'PyTorch 1.13, ResNet-50 b8, .pth (import + load + run)', argv: [PY, f('torch_forward.py'), f('r50.pth'), f('x.npy'), f('y-torch.npy')], out: 'y-torch.npy' },
  { name: 'resnet predict, shipped ResNet-20, one image', argv: [process.execPath, resnet, 'predict', '--model', 'resnet20-fashion-mnist', sample] },
];

const times = contenders.map(() => []);
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < contenders.length; k++) {
    const i = (k + r) % contenders.length; // rotate the order so no contender always runs first
    const c = contenders[i];
    times[i].push(run(c.argv[0], c.argv.slice(1), c.name));
  }
}
const ref = readNpy(f('ref.npy'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = contenders.map((c, i) => ({
  name: c.name,
  medianMs: median(times[i]),
  allMs: times[i].map((t) => Math.round(t)),
  maxAbsDiffVsPyTorch: c.out ? maxDiff(readNpy(f(c.out)), ref) : undefined,
}));
const ort = rows[2].medianMs;
if (asJson) {
  process.stdout.write(JSON.stringify({ rounds, rows, load: os.loadavg() }, null, 2) + '\n');
} else {
  console.log(`cold start, ${rounds} interleaved rounds, median wall ms (process start to logits written); load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  for (const r of rows)
    console.log(
      `  ${r.name.padEnd(56)} ${r.medianMs.toFixed(0).padStart(6)} ms` +
        (r.name.startsWith('resnet forward') ? `  ${(r.medianMs / ort).toFixed(2)}x onnxruntime` : '') +
        (r.maxAbsDiffVsPyTorch !== undefined ? `  max |diff| vs PyTorch ${r.maxAbsDiffVsPyTorch.toExponential(1)}` : '') +
        `  [${r.allMs.join(', ')}]`,
    );
}
fs.rmSync(tmp, { recursive: true, force: true });
const wrong = rows.filter((r) => r.maxAbsDiffVsPyTorch !== undefined && !(r.maxAbsDiffVsPyTorch < 1e-2));
if (wrong.length) {
  console.error(`bench-cold-start: logits differ from PyTorch's: ${wrong.map((r) => r.name).join('; ')}`);
  process.exit(1);
}
