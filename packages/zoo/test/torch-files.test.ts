/**
 * fromPretrained on PyTorch files as people hold them, made at test time by the real PyTorch
 * (skipped with the reason printed where /usr/bin/python3 has no torch): a torchvision ResNet-50
 * `.pth` classifies a photo with ImageNet labels and the same top-5 as torchvision; a ResNet-18
 * fine-tuned to 10 classes takes its head size from the checkpoint.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import '@resnet-ts/backend-node';
import { IMAGENET_CLASSES } from '@resnet-ts/zoo';
import { fromPretrained } from '@resnet-ts/zoo/node';
import { pythonSkipReason, runPython } from '../../../test-support/python';

const PHOTO = '/usr/lib/python3/dist-packages/skimage/data/chelsea.png';

const MAKE = `
import sys, json, torch, torchvision
from PIL import Image
from torchvision.models import ResNet50_Weights
out = sys.argv[1]
torch.set_num_threads(2)
torch.manual_seed(50)
m = torchvision.models.resnet50().eval()
torch.save(m.state_dict(), out + '/resnet50.pth')
x = ResNet50_Weights.IMAGENET1K_V1.transforms()(Image.open(sys.argv[2]).convert('RGB')).unsqueeze(0)
with torch.no_grad():
    top = torch.softmax(m(x), 1)[0].topk(5)
torch.manual_seed(10)
ft = torchvision.models.resnet18()
ft.fc = torch.nn.Linear(512, 10)
torch.save({'epoch': 3, 'state_dict': ft.state_dict()}, out + '/finetuned10.pth')
print(json.dumps({'index': top.indices.tolist(), 'p': top.values.tolist()}))
`;

describe('PyTorch .pth files made by torch.save', () => {
  const skip = pythonSkipReason(['torch', 'torchvision', 'PIL']);
  let dir = '';
  let ref: { index: number[]; p: number[] };
  beforeAll(() => {
    if (skip) {
      console.log(`SKIP .pth tests: ${skip}`);
      return;
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-pth-'));
    ref = JSON.parse(runPython(['-c', MAKE, dir, PHOTO], { what: 'making the .pth files' })) as typeof ref;
  }, 120_000);
  afterAll(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  test('a torchvision ResNet-50 .pth gives ImageNet labels and torchvision’s top-5 on a photo', async () => {
    if (skip) return;
    const clf = await fromPretrained(path.join(dir, 'resnet50.pth'), { model: 'resnet50' });
    const top = await clf.classify(PHOTO, { topk: 5 });
    expect(top.map((t) => t.index)).toEqual(ref.index);
    top.forEach((t, i) => {
      expect(t.label).toBe(IMAGENET_CLASSES[ref.index[i]]);
      expect(Math.abs(t.probability - ref.p[i])).toBeLessThan(1e-4);
    });
    clf.dispose();
    // Without { model } the architecture comes from the weights.
    const inferred = await fromPretrained(path.join(dir, 'resnet50.pth'));
    expect(inferred.model.spec.stages.map((s) => s.depth)).toEqual([3, 4, 6, 3]);
    expect((await inferred.classify(PHOTO, { topk: 1 }))[0].index).toBe(ref.index[0]);
    inferred.dispose();
  }, 120_000);

  test('the README’s .pth example runs as written (resnet50.pth and cat.jpg next to it) and prints ImageNet labels', () => {
    if (skip) return;
    const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
    const code = /```js\n([^`]*fromPretrained\('resnet50\.pth'[^`]*)\n```/.exec(readme)?.[1];
    expect(code).toBeDefined();
    // Inside node_modules so that the example's imports resolve to this workspace.
    const cacheDir = path.join(__dirname, '..', '..', '..', 'node_modules', '.cache');
    fs.mkdirSync(cacheDir, { recursive: true });
    const work = fs.mkdtempSync(path.join(cacheDir, 'readme-pth-'));
    try {
      fs.copyFileSync(path.join(dir, 'resnet50.pth'), path.join(work, 'resnet50.pth'));
      fs.copyFileSync(PHOTO, path.join(work, 'cat.jpg'));
      fs.writeFileSync(path.join(work, 'example.mjs'), code!);
      const r = spawnSync(process.execPath, ['example.mjs'], { cwd: work, encoding: 'utf8', timeout: 120_000 });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`label: '${IMAGENET_CLASSES[ref.index[0]]}'`);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }, 120_000);

  test('a ResNet-18 fine-tuned to 10 classes: head size from the checkpoint, labels by index or as given', async () => {
    if (skip) return;
    const file = path.join(dir, 'finetuned10.pth');
    const clf = await fromPretrained(file, { model: 'resnet18' });
    expect(clf.model.spec.numClasses).toBe(10);
    expect(clf.labels).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    const top = await clf.classify(PHOTO, { topk: 3 });
    expect(top).toHaveLength(3);
    expect(top[0].label).toBe(String(top[0].index));
    clf.dispose();
    const names = 'abcdefghij'.split('');
    const named = await fromPretrained(file, { model: 'resnet18', classes: names });
    expect(named.labels).toEqual(names);
    named.dispose();
    await expect(fromPretrained(file, { model: 'resnet18', classes: 1000 })).rejects.toThrow(/fc\.weight/);
    await expect(fromPretrained(file, { model: 'resnet50' })).rejects.toThrow(/do not match|missing|mis-shaped/);
  }, 120_000);
});
