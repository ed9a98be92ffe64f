/**
 * `decodeForClassifier` (how `resnet eval` reads image folders) words a file it cannot decode in one
 * line from the fields of zoo's `ImageDecodeError` (its reason), not by reading zoo's message: the
 * line is the same as before for zoo's messages, and stays right when zoo words them otherwise.
 */
import fs from 'node:fs';
import path from 'node:path';
import { IMAGENET_V1 } from '@resnet-ts/zoo';
import { ImageDecodeError } from '@resnet-ts/zoo/node';
import { IMAGE_FORMATS, decodeForClassifier } from '../src/index.js';
import { tmpDir } from './helpers.js';

const mockDecodeRgb = jest.fn();
jest.mock('@resnet-ts/zoo/node', () => {
  const actual = jest.requireActual<typeof import('@resnet-ts/zoo/node')>('@resnet-ts/zoo/node');
  return { ...actual, decodeRgb: (...args: Parameters<typeof actual.decodeRgb>) => mockDecodeRgb(...args) };
});

const dir = tmpDir('resnet-decode-errors-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const failure = (file: string) =>
  decodeForClassifier(file, IMAGENET_V1).then(
    () => 'decoded',
    (e: Error) => e.message,
  );

test("zoo's reason, without zoo's advice (which names tensors), for a file that is not an image", async () => {
  const actual = jest.requireActual<typeof import('@resnet-ts/zoo/node')>('@resnet-ts/zoo/node');
  mockDecodeRgb.mockImplementation(actual.decodeRgb);
  const file = path.join(dir, 'notes.png');
  fs.writeFileSync(file, 'not an image, just a text file with the wrong name\n');
  const zoo = (await actual.decodeRgb(file).catch((e: unknown) => e)) as ImageDecodeError;
  expect(zoo.problem).toBe('format');
  expect(await failure(file)).toBe(`Cannot decode image ${file}: ${zoo.reason.replace(/\.$/, '')}. Supported: ${IMAGE_FORMATS}.`);
  expect(await failure(file)).not.toMatch(/tensor|Give a/);
});

test("the reason field is what counts: zoo's message may say it in other words", async () => {
  const file = path.join(dir, 'photo.jpg');
  const reworded = new ImageDecodeError(`'${file}'`, 'the JPEG data ends early', 'format', 'JPEG');
  Object.defineProperty(reworded, 'message', { value: `Unreadable picture ${file} [the JPEG data ends early]; try a tensor.` });
  mockDecodeRgb.mockRejectedValue(reworded);
  expect(await failure(file)).toBe(`Cannot decode image ${file}: the JPEG data ends early. Supported: ${IMAGE_FORMATS}.`);
  const tooLarge = new ImageDecodeError(`'${file}'`, 'it is 20000x20000 pixels, over the limit. Downscale it first.', 'size');
  mockDecodeRgb.mockRejectedValue(tooLarge);
  expect(await failure(file)).toBe(
    `Cannot decode image ${file}: it is 20000x20000 pixels, over the limit. Downscale it first. Supported: ${IMAGE_FORMATS}.`,
  );
});
