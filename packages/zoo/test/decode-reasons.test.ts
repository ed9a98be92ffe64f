/**
 * Why an image cannot be decoded is said the same way by every path, and the same way every time:
 * an empty file (0 bytes) is "an empty file (0 bytes), not an image" from `decodeRgb` (predict,
 * classify) and in an image folder's skip notes (train/eval said "Input file contains unsupported
 * image format"); a truncated PNG decoded at the same time as other images keeps libpng's reason
 * (libvips' one error buffer lost it about 1 time in 8: "it could not be read (no reason given)").
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { loadImageFolder } from '@resnet-ts/train';
import { EMPTY_IMAGE_FILE, ImageDecodeError } from '@resnet-ts/zoo';
import { decodeRgb } from '@resnet-ts/zoo/node';

let dir: string;
const good: string[] = [];
let truncated: string;
let empty: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-decode-reasons-'));
  fs.mkdirSync(path.join(dir, 'cls'));
  for (let i = 0; i < 7; i++) {
    const noise = new Uint8Array(160 * 120 * 3).map((_, k) => (k * 7919 + i * 104729) % 251);
    const file = path.join(dir, 'cls', `good${i}.png`);
    await sharp(noise, { raw: { width: 160, height: 120, channels: 3 } })
      .png()
      .toFile(file);
    good.push(file);
  }
  truncated = path.join(dir, 'cls', 'truncated.png');
  const whole = fs.readFileSync(good[0]);
  fs.writeFileSync(truncated, whole.subarray(0, whole.length >> 1));
  empty = path.join(dir, 'cls', 'empty.jpg');
  fs.writeFileSync(empty, '');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function reasonOf(input: string | Uint8Array): Promise<ImageDecodeError> {
  const e = await decodeRgb(input).then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ImageDecodeError);
  return e as ImageDecodeError;
}

test('an empty file or empty bytes: "an empty file (0 bytes), not an image", from decodeRgb and in a folder\'s skip note', async () => {
  for (const [input, what] of [
    [empty, `'${empty}'`],
    [new Uint8Array(0), 'the image bytes'],
  ] as const) {
    const e = await reasonOf(input);
    expect([e.problem, e.reason, e.message]).toEqual([
      'empty',
      `it is ${EMPTY_IMAGE_FILE}`,
      `Cannot decode ${what}: it is ${EMPTY_IMAGE_FILE}.`,
    ]);
  }
  const skipped: [string, string][] = [];
  const data = await loadImageFolder(dir, { size: [8, 8], onSkip: (file, reason) => skipped.push([path.basename(file), reason]) });
  expect(data.labels.length).toBe(7);
  expect(skipped).toEqual([
    ['empty.jpg', 'it is an empty file (0 bytes), not an image'],
    ['truncated.png', 'it is damaged or cut short: libpng read error'],
  ]);
});

test("a truncated PNG decoded beside 7 others keeps libpng's reason, every time", async () => {
  const reasons = new Map<string, number>();
  for (let round = 0; round < 40; round++) {
    // The truncated file at every position among the others, in turn.
    const files = [...good];
    files.splice(round % 8, 0, truncated);
    const results = await Promise.all(
      files.map((f) =>
        decodeRgb(f).then(
          () => null,
          (e: ImageDecodeError) => e.reason,
        ),
      ),
    );
    expect(results.filter((r) => r !== null)).toHaveLength(1);
    const reason = results[round % 8]!;
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  expect([...reasons]).toEqual([['it is damaged or cut short: libpng read error', 40]]);
});
