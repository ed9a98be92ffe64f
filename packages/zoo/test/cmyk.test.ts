/**
 * CMYK JPEGs (print files, e.g. from a photo agency) decode to the RGB that PIL's `convert('RGB')`
 * gives, the colours torchvision models saw in training; a colour-managed conversion differed by up
 * to ~40 levels. The reference comes from /usr/bin/python3's PIL at test time (skipped with the reason
 * printed when PIL or Debian's python3-skimage photos are missing).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cmykToRgb, decodeRgb } from '@resnet-ts/zoo/node';
import { pythonSkipReason, runPython } from '../../../test-support/python';

const PHOTO = '/usr/lib/python3/dist-packages/skimage/data/chelsea.png';

/** Writes `name`.jpg (CMYK, optionally with EXIF orientation 6) and `name`.rgb (PIL's RGB bytes) into dir. */
const MAKE = `
import sys
from PIL import Image, ImageOps
src, out, exif = sys.argv[1], sys.argv[2], sys.argv[3] == '1'
im = Image.open(src).convert('RGB').convert('CMYK')
if exif:
    e = Image.Exif(); e[0x0112] = 6
    im.save(out + '.jpg', quality=95, exif=e.tobytes())
else:
    im.save(out + '.jpg', quality=95)
back = Image.open(out + '.jpg')
assert back.mode == 'CMYK', back.mode
rgb = ImageOps.exif_transpose(back).convert('RGB')
open(out + '.rgb', 'wb').write(rgb.tobytes())
print(rgb.height, rgb.width)
`;

function skipReason(): string | null {
  const noPil = pythonSkipReason(['PIL']);
  if (noPil) return noPil;
  if (!fs.existsSync(PHOTO)) return `${PHOTO} not found (apt-get install python3-skimage)`;
  return null;
}

describe('CMYK JPEGs', () => {
  const skip = skipReason();
  let dir = '';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-cmyk-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test.each([
    ['upright', false],
    ['EXIF orientation 6', true],
  ])("decode to PIL's convert('RGB') exactly (%s)", async (_what, exif) => {
    if (skip) {
      console.log(`SKIP CMYK check: ${skip}`);
      return;
    }
    const stem = path.join(dir, exif ? 'rotated' : 'upright');
    const stdout = runPython(['-c', MAKE, PHOTO, stem, exif ? '1' : '0']);
    const [h, w] = stdout.trim().split(' ').map(Number);
    const want = fs.readFileSync(`${stem}.rgb`);
    const got = await decodeRgb(`${stem}.jpg`);
    expect([got.height, got.width]).toEqual([h, w]);
    let maxDiff = 0;
    for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(want[i] - got.rgb[i]));
    expect(maxDiff).toBe(0);
  });

  test("cmykToRgb rounds as Pillow's MULDIV255", () => {
    // (c, m, y, k) -> Pillow's values, worked by hand: nk = 255 - k; v = nk - ((t >> 8) + t) >> 8 with t = c * nk + 128.
    expect([...cmykToRgb(new Uint8Array([111, 134, 153, 0, 0, 0, 0, 255, 255, 255, 255, 0, 100, 50, 0, 60]))]).toEqual([
      144, 121, 102, 0, 0, 0, 0, 0, 0, 119, 157, 195,
    ]);
  });
});
