/**
 * An image over the decoder's pixel limit (a guard against decompression bombs) is refused for its
 * size, with the size, not as if its format were wrong. The file is a PNG whose header says
 * 30000x30000 (a few hundred bytes: the decoder refuses it before reading the pixels). Decode errors
 * are `ImageDecodeError`s whose reason and kind of problem are fields, so that callers (the CLI, the
 * trainer's folder notes) need not read the message's wording.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { SpecError } from '@resnet-ts/core';
import { ImageDecodeError, decodeRgb } from '@resnet-ts/zoo/node';

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A greyscale PNG header of width x height with one row of pixel data. */
function pngHeader(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit greyscale, no interlace
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    sig,
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.alloc(width + 1))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

test('a 30000x30000 image is refused for its size, naming it, not its format', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-huge-'));
  try {
    const file = path.join(dir, 'huge.png');
    fs.writeFileSync(file, pngHeader(30000, 30000));
    await expect(decodeRgb(file)).rejects.toThrow(
      /^Cannot decode '.*huge\.png': it is 30000x30000 pixels \(900 megapixels\), which exceeds the decoder's limit of 268 megapixels .*Downscale it first/,
    );
    await expect(decodeRgb(file)).rejects.not.toThrow(/Give a JPEG/);
    const e = await decodeRgb(file).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(ImageDecodeError);
    expect(e).toMatchObject({
      image: `'${file}'`,
      problem: 'size',
      code: 'SPEC',
      reason: expect.stringMatching(/^it is 30000x30000 pixels/),
    });
    expect((e as ImageDecodeError).fileMessage).toBe((e as Error).message);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a file that is not an image: the decoder's reason as a field, and a message without tensors for callers that take none", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-not-image-'));
  try {
    const file = path.join(dir, 'notes.png');
    fs.writeFileSync(file, 'not an image, just a text file with the wrong name\n');
    const e = (await decodeRgb(file).catch((err: unknown) => err)) as ImageDecodeError;
    expect(e).toBeInstanceOf(ImageDecodeError);
    expect(e).toBeInstanceOf(SpecError);
    expect(e).toMatchObject({ image: `'${file}'`, problem: 'format', code: 'SPEC' });
    expect(e.reason).not.toMatch(/\n|Give a|tensor/);
    expect(e.message).toBe(
      `Cannot decode '${file}' as an image (${e.reason}). Give a JPEG, PNG, WebP, TIFF, GIF, AVIF, BMP, PPM, PGM or PBM file, or a tensor.`,
    );
    expect(e.fileMessage).toBe(
      `Cannot decode '${file}' as an image (${e.reason}). Give a JPEG, PNG, WebP, TIFF, GIF, AVIF, BMP, PPM, PGM or PBM file.`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("sharp's failures in words a user can act on: damaged or cut-short files, without libvips' internals", async () => {
  const { sharpFailureReason } = await import('@resnet-ts/zoo');
  expect(sharpFailureReason('Input file has corrupt header:')).toBe('its header is damaged');
  expect(
    sharpFailureReason(
      'Input file has corrupt header: VipsJpeg: premature end of JPEG image\nVipsJpeg: Bogus marker length\nVipsJpeg: premature end of JPEG image',
    ),
  ).toBe('it is damaged or cut short: premature end of JPEG image');
  expect(sharpFailureReason('vipspng: libpng read error')).toBe('it is damaged or cut short: libpng read error');
  expect(sharpFailureReason('Warning treated as error due to failOn setting')).toBe('it is damaged or cut short');
  expect(sharpFailureReason('Unknown error')).toMatch(/^it could not be read \(no reason given\): it may be damaged or cut short$/);
  expect(sharpFailureReason('Input file contains unsupported image format')).toBe('Input file contains unsupported image format');
  // A real file cut short, end to end.
  const sharp = (await import('sharp')).default;
  const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 9, g: 9, b: 9 } } })
    .png()
    .toBuffer();
  const cut = path.join(os.tmpdir(), `resnet-cut-${process.pid}.png`);
  fs.writeFileSync(cut, png.subarray(0, png.length - 30));
  try {
    const e = (await decodeRgb(cut).catch((err: unknown) => err)) as ImageDecodeError;
    expect(e.reason).toMatch(/^it (is damaged or cut short|could not be read)/);
  } finally {
    fs.rmSync(cut, { force: true });
  }
});
