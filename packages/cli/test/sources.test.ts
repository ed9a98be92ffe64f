/**
 * The CLI on the zoo's one resolver, run built as a user runs it: shipped names, a torchvision
 * ResNet-50 `.pth` with ImageNet labels (made by the real PyTorch at test time; skipped with the
 * reason printed where /usr/bin/python3 has no torch), a fine-tuned 10-class head, `--classes`,
 * hf: and URL sources against a local HTTP server on 127.0.0.1, `models` filtering and parameters.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pythonSkipReason, runPython } from '../../../test-support/python';
import { runCli } from './cli-run';

const ZOO = path.join(__dirname, '..', '..', 'zoo');
const SHIRT = path.join(ZOO, 'samples', 'resnet20-fashion-mnist', '6-Shirt.png');
const WEIGHTS = fs.readFileSync(path.join(ZOO, 'weights', 'resnet20-fashion-mnist.safetensors'));
const PHOTO = '/usr/lib/python3/dist-packages/skimage/data/chelsea.png';

let cache = '';
let server: http.Server;
let base = '';

/**
 * Runs the CLI without blocking this process (the HTTP server lives here), with the test's cache and
 * hub endpoint (the shared runner of cli-run.ts; killed after the longest test's 3 minutes).
 */
const run = (...args: string[]) => runCli(args, process.cwd(), 180_000, { RESNET_TS_CACHE: cache, RESNET_TS_HF_ENDPOINT: base });

beforeAll(async () => {
  cache = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-cli-cache-'));
  server = http.createServer((req, res) => {
    if (req.url === '/acme/fmnist/resolve/main/model.safetensors') {
      res.writeHead(200, { 'content-length': WEIGHTS.length });
      res.end(WEIGHTS);
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  fs.rmSync(cache, { recursive: true, force: true });
});

test('predict with a shipped name, with its file, and from hf: prints the same labels in the same format', async () => {
  const shipped = await run('predict', '--model', 'resnet20-fashion-mnist', '--top', '2', SHIRT);
  expect(shipped.status).toBe(0);
  expect(shipped.stdout).toMatch(/^.*6-Shirt\.png\n\s+\d+\.\d\d % {2}Shirt\n\s+\d+\.\d\d % {2}T-shirt\/top\n$/);
  const hub = await run('predict', '--weights', 'hf:acme/fmnist', '--top', '2', SHIRT);
  expect(hub.stderr).toBe('');
  expect(hub.stdout).toBe(shipped.stdout);
  const missing = await run('predict', '--weights', `${base}/nothing.safetensors`, SHIRT);
  expect(missing.status).toBe(1);
  expect(missing.stderr).toMatch(/^resnet: .*answered HTTP 404.*check the name\.\n$/);
  expect(fs.readdirSync(cache, { recursive: true }).filter((f) => String(f).endsWith('nothing.safetensors'))).toEqual([]);
}, 120_000);

test('models lists parameters and shipped accuracy and filters by a pattern; summary takes a shipped name', async () => {
  const r = await run('models', 'resnet5*');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/^resnet50\s+25,557,032\s+ResNet-50/m);
  expect(r.stdout).not.toMatch(/^resnet18/m);
  const shipped = await run('models', 'fashion');
  expect(shipped.stdout).toMatch(/^resnet20-fashion-mnist\s+269,434\s+top-1 93\.58 % on fashion-mnist/m);
  const s = await run('summary', 'resnet20-fashion-mnist');
  expect(s.status).toBe(0);
  expect(s.stdout).toContain('Total params: 269,434');
}, 120_000);

describe('PyTorch files (made by torch at test time)', () => {
  const skip = pythonSkipReason(['torch', 'torchvision']);
  let dir = '';
  let ref: { top: number[]; labels: string[] };
  beforeAll(() => {
    if (skip) return console.log(`SKIP CLI .pth tests: ${skip}`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-cli-pth-'));
    const script = `
import sys, json, torch, torchvision
from PIL import Image
from torchvision.models import ResNet50_Weights
torch.set_num_threads(2)
torch.manual_seed(50)
m = torchvision.models.resnet50().eval()
torch.save(m.state_dict(), sys.argv[1] + '/resnet50.pth')
x = ResNet50_Weights.IMAGENET1K_V1.transforms()(Image.open(sys.argv[2]).convert('RGB')).unsqueeze(0)
with torch.no_grad():
    top = m(x)[0].topk(3).indices.tolist()
torch.manual_seed(10)
ft = torchvision.models.resnet18()
ft.fc = torch.nn.Linear(512, 10)
torch.save(ft.state_dict(), sys.argv[1] + '/finetuned10.pth')
cats = ResNet50_Weights.IMAGENET1K_V1.meta['categories']
print(json.dumps({'top': top, 'labels': [cats[i] for i in top]}))
`;
    ref = JSON.parse(runPython(['-c', script, dir, PHOTO])) as typeof ref;
  }, 120_000);
  afterAll(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  test('predict --model resnet50 --weights resnet50.pth prints ImageNet labels, torchvision’s top-3', async () => {
    if (skip) return;
    const r = await run('predict', '--model', 'resnet50', '--weights', path.join(dir, 'resnet50.pth'), '--top', '3', '--json', PHOTO);
    expect(r.stderr).toBe('');
    const [pred] = JSON.parse(r.stdout) as { top: { index: number; label: string }[] }[];
    expect(pred.top.map((t) => t.index)).toEqual(ref.top);
    expect(pred.top.map((t) => t.label)).toEqual(ref.labels);
  }, 180_000);

  test('a fine-tuned 10-class torchvision ResNet-18: head size from the checkpoint; a wrong --classes is one line', async () => {
    if (skip) return;
    const file = path.join(dir, 'finetuned10.pth');
    const ok = await run('predict', '--model', 'resnet18', '--weights', file, '--top', '3', PHOTO);
    expect(ok.status).toBe(0);
    expect(ok.stdout.split('\n').slice(1, 4).every((l) => /^\s+\d+\.\d\d % {2}\d$/.test(l))).toBe(true);
    const said = await run('predict', '--model', 'resnet18', '--weights', file, '--classes', '10', '--top', '1', PHOTO);
    expect(said.status).toBe(0);
    const wrong = await run('predict', '--model', 'resnet18', '--weights', file, '--classes', '5', PHOTO);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/^resnet: .*fc\.weight.*\n$/);
  }, 180_000);
});
