/**
 * `resnet eval --data <image folder>` scores each image as `resnet predict` classifies it: zoo's
 * decoder (EXIF orientation, CMYK as PIL, BMP, alpha dropped, grayscale as RGB), the classifier's
 * resize/crop/pad with Pillow's antialiased bilinear, and its normalisation. For weights that store
 * no preprocessing that is the architecture's usual one (ImageNet's for a torchvision ResNet-18,
 * with predict's note); it used to be sharp's 'cover' resize straight to 224 and the folder's own
 * channel statistics, silently (loss 1.32 where PyTorch says 1.12 on these photos). PyTorch
 * (torchvision's `ResNet18_Weights.IMAGENET1K_V1.transforms()`) is the reference; skipped, saying
 * why, without torch. The shipped Fashion-MNIST model on a folder of its samples keeps working.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pythonSkipReason, runPython } from '../../../test-support/python';
import { ROOT, runCli } from './cli-run';

const PHOTOS = '/usr/lib/python3/dist-packages/skimage/data';
const SAMPLES = path.join(ROOT, 'packages', 'zoo', 'samples', 'resnet20-fashion-mnist');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-eval-transforms-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const run = (...args: string[]) => runCli(args, dir, 180_000);

interface EvalJson {
  n: number;
  loss: number;
  top1: number;
  confusion: number[][];
  classes: string[];
}
type Predictions = { source: string; top: { index: number; label: string; probability: number }[] }[];

/** confusion[true][predicted] of `labels` and `predicted` over `k` classes. */
function confusionOf(labels: number[], predicted: number[], k: number): number[][] {
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  labels.forEach((y, i) => m[y][predicted[i]]++);
  return m;
}

/**
 * Makes, in argv[1]: `photos/<class>/…` (5 classes of skimage photos at other sizes and aspect
 * ratios, some smaller than 224: PNG, JPEG, an RGBA PNG, grayscale PNGs and a JPEG of one, a BMP,
 * a CMYK JPEG, a JPEG rotated by its EXIF orientation) and `r18.pth`, a torchvision
 * resnet18(num_classes=5) state dict whose answers differ by image (BN statistics of these photos,
 * the head fitted on half of them). Prints PyTorch's loss, top-1 and per-image argmax under the
 * ImageNet V1 transforms, and under Resize(256), CenterCrop(224), Normalize(0.5, 0.5).
 */
const FIXTURE = `
import sys, os, json, torch, torchvision
from PIL import Image, ImageOps
from torchvision import transforms as T
out, D = sys.argv[1], sys.argv[2]
torch.set_num_threads(2)
torch.manual_seed(0)
m = torchvision.models.resnet18(num_classes=5).eval()
def img(name): return Image.open(os.path.join(D, name))
def save(cls, name, im, **kw):
    os.makedirs(os.path.join(out, 'photos', cls), exist_ok=True)
    im.save(os.path.join(out, 'photos', cls, name), **kw)
c = img('chelsea.png')
save('cat', 'chelsea.png', c)
save('cat', 'wide.png', c.resize((400, 180), Image.BICUBIC))
save('cat', 'tall.jpg', c.resize((260, 500), Image.BICUBIC), quality=90)
save('cat', 'small.bmp', c.resize((150, 100), Image.BICUBIC))
save('cat', 'cmyk.jpg', c.crop((0, 0, 380, 300)).convert('CMYK'), quality=95)
a = img('astronaut.png')
save('astronaut', 'astronaut.png', a)
save('astronaut', 'crop.png', a.crop((100, 0, 412, 480)))
save('astronaut', 'small.jpg', a.resize((200, 150), Image.BICUBIC), quality=95)
save('astronaut', 'rgba.png', img('horse.png'))
exif = Image.Exif(); exif[0x0112] = 6
save('astronaut', 'exif6.jpg', a.resize((360, 240), Image.BICUBIC), quality=95, exif=exif)
k = img('coffee.png')
save('coffee', 'coffee.png', k)
save('coffee', 'tiny.png', k.resize((120, 80), Image.BICUBIC))
save('coffee', 'logo-rgba.png', img('logo.png'))
save('coffee', 'rocket.jpg', img('rocket.jpg').convert('RGB'), quality=92)
save('gray', 'camera.png', img('camera.png'))
save('gray', 'coins.png', img('coins.png'))
save('gray', 'page.png', img('page.png'))
save('gray', 'moon.jpg', img('moon.png'), quality=90)
save('other', 'motorcycle.png', img('motorcycle_left.png'))
save('other', 'ihc.png', img('ihc.png').resize((300, 310), Image.BICUBIC))
save('other', 'phantom.png', img('phantom.png'))
save('other', 'hubble.jpg', img('hubble_deep_field.jpg'))
# torchvision's ImageFolder, but with the EXIF orientation applied as predict does (a photo as viewers show it).
load = lambda p: ImageOps.exif_transpose(Image.open(p)).convert('RGB')
def folder(tf):
    ds = torchvision.datasets.ImageFolder(os.path.join(out, 'photos'), transform=tf, loader=load)
    return ds, torch.stack([x for x, _ in ds]), torch.tensor([y for _, y in ds])
ds, xs, ys = folder(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms())
for b in m.modules():
    if isinstance(b, torch.nn.BatchNorm2d): b.momentum = None
m.train()
with torch.no_grad(): m(xs)
m.eval()
with torch.no_grad(): feats = torch.flatten(m.avgpool(m.layer4(m.layer3(m.layer2(m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(xs))))))))), 1)
fit = torch.arange(len(ys)) % 4 < 2
opt = torch.optim.SGD(m.fc.parameters(), lr=0.02)
for _ in range(30):
    opt.zero_grad(); torch.nn.functional.cross_entropy(m.fc(feats[fit]), ys[fit]).backward(); opt.step()
torch.save(m.state_dict(), os.path.join(out, 'r18.pth'))
def scores(x):
    with torch.no_grad(): logits = m(x)
    top2 = logits.topk(2).values
    return {'loss': torch.nn.functional.cross_entropy(logits, ys).item(), 'argmax': logits.argmax(1).tolist(),
            'margin': (top2[:, 0] - top2[:, 1]).min().item()}
half = folder(T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)]))[1]
print(json.dumps({'classes': ds.classes, 'files': [os.path.relpath(p, out) for p, _ in ds.samples], 'labels': ys.tolist(),
                  'imagenet': scores(xs), 'half': scores(half)}))
`;

interface Scores {
  loss: number;
  argmax: number[];
  margin: number;
}
interface Reference {
  classes: string[];
  files: string[];
  labels: number[];
  imagenet: Scores;
  half: Scores;
}

describe('a torchvision ResNet-18 without stored preprocessing on a folder of photos', () => {
  const skip =
    pythonSkipReason(['torch', 'torchvision', 'PIL']) ??
    (fs.existsSync(path.join(PHOTOS, 'chelsea.png')) ? null : `${PHOTOS} not found (apt-get install python3-skimage)`);
  let ref: Reference;
  const right = (s: Scores) => s.argmax.filter((p, i) => p === ref.labels[i]).length;
  beforeAll(() => {
    if (skip) return console.log(`SKIP eval against PyTorch's transforms: ${skip}`);
    ref = JSON.parse(
      runPython(['-c', FIXTURE, dir, PHOTOS], { timeout: 150_000, what: 'the photo folder and ResNet-18 fixture' }),
    ) as Reference;
    // The fixture is meant to tell images apart: several classes predicted, no near-tie that float error could flip.
    expect(new Set(ref.imagenet.argmax).size).toBeGreaterThanOrEqual(3);
    expect(ref.imagenet.margin).toBeGreaterThan(1e-3);
  }, 180_000);

  test("eval gives PyTorch's loss and top-1 under the ImageNet transforms, with predict's note once", async () => {
    if (skip) return;
    const r = await run('eval', '--weights', 'r18.pth', '--data', 'photos', '--json');
    expect(r.status).toBe(0);
    const e = JSON.parse(r.stdout) as EvalJson;
    expect(e.classes).toEqual(ref.classes);
    expect(e.n).toBe(ref.labels.length);
    expect(Math.abs(e.loss - ref.imagenet.loss)).toBeLessThan(1e-3);
    expect(Math.round(e.top1 * e.n)).toBe(right(ref.imagenet));
    expect(e.confusion).toEqual(confusionOf(ref.labels, ref.imagenet.argmax, ref.classes.length));
    // What was assumed, as predict says it, once.
    expect(r.stderr.match(/does not store its preprocessing/g)).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^note: r18\.pth does not store its preprocessing; assumed the usual for its architecture: resize short side 256, centre crop 224x224, mean 0\.485\/0\.456\/0\.406, std 0\.229\/0\.224\/0\.225, 3 channels\./m,
    );
  }, 180_000);

  test("predict gives each image the answer eval's confusion matrix counts (and PyTorch's)", async () => {
    if (skip) return;
    const [ev, pr] = await Promise.all([
      run('eval', '--weights', 'r18.pth', '--data', 'photos', '--json'),
      run('predict', '--model', 'resnet18', '--weights', 'r18.pth', '--top', '1', '--json', ...ref.files),
    ]);
    expect([ev.status, pr.status]).toEqual([0, 0]);
    const preds = JSON.parse(pr.stdout) as Predictions;
    expect(preds.map((p) => p.source)).toEqual(ref.files);
    const argmax = preds.map((p) => p.top[0].index);
    expect(argmax).toEqual(ref.imagenet.argmax);
    expect((JSON.parse(ev.stdout) as EvalJson).confusion).toEqual(confusionOf(ref.labels, argmax, ref.classes.length));
  }, 180_000);

  test('--mean/--std replace the normalisation: PyTorch with Normalize(0.5, 0.5), and no note', async () => {
    if (skip) return;
    const r = await run('eval', '--weights', 'r18.pth', '--data', 'photos', '--mean', '0.5,0.5,0.5', '--std', '0.5,0.5,0.5', '--json');
    expect(r.status).toBe(0);
    const e = JSON.parse(r.stdout) as EvalJson;
    expect(Math.abs(e.loss - ref.half.loss)).toBeLessThan(1e-3);
    expect(Math.round(e.top1 * e.n)).toBe(right(ref.half));
    expect(e.confusion).toEqual(confusionOf(ref.labels, ref.half.argmax, ref.classes.length));
    expect(r.stderr).not.toContain('does not store its preprocessing');
  }, 180_000);
});

test('the shipped resnet20-fashion-mnist on a folder of its samples: what predict says of each, every one right', async () => {
  // Class = the name after the dash (T_shirt_top and Ankle_boot are paired with 'T-shirt/top' and 'Ankle boot' by name).
  const files: string[] = [];
  for (const f of fs.readdirSync(SAMPLES).filter((f) => f.endsWith('.png'))) {
    const cls = f.replace(/^\d+-|\.png$/g, '');
    fs.mkdirSync(path.join(dir, 'fm', cls), { recursive: true });
    fs.copyFileSync(path.join(SAMPLES, f), path.join(dir, 'fm', cls, f));
    files.push(path.join('fm', cls, f));
  }
  const [ev, pr] = await Promise.all([
    run('eval', '--model', 'resnet20-fashion-mnist', '--data', 'fm', '--json'),
    run('predict', '--model', 'resnet20-fashion-mnist', '--top', '10', '--json', ...files),
  ]);
  expect([ev.status, ev.stderr, pr.status]).toEqual([0, '', 0]);
  const e = JSON.parse(ev.stdout) as EvalJson;
  expect([e.n, e.top1]).toEqual([10, 1]);
  // The mean cross-entropy of predict's probabilities of each image's class.
  const byName = (s: string) => s.replace(/_/g, ' ').replace('T shirt top', 'T-shirt/top');
  const preds = JSON.parse(pr.stdout) as Predictions;
  const loss =
    -preds.reduce((sum, p) => sum + Math.log(p.top.find((t) => t.label === byName(p.source.split(path.sep)[1]))!.probability), 0) /
    preds.length;
  expect(Math.abs(e.loss - loss)).toBeLessThan(1e-4);
}, 180_000);
