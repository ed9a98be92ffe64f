#!/usr/bin/env node
// Writes public/fashion-mnist-test-500.bin: the first N (default 500) images of the Fashion-MNIST
// test split, read from the IDX files of Debian's dataset-fashion-mnist
// (/usr/share/datasets/fashion-mnist/t10k-*-idx*-ubyte.gz; `apt-get install dataset-fashion-mnist`).
//
// Format (little-endian): 8 bytes magic "FMNIST01", uint32 count, uint16 height, uint16 width,
// then count*height*width uint8 pixels (0 = black background, as in the data set), then count
// uint8 labels (0..9). Usage: node scripts/make-testset.mjs [--count=500] [--dir=/usr/share/datasets/fashion-mnist]
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const arg = (n, d) =>
  process.argv
    .slice(2)
    .find((a) => a.startsWith(`--${n}=`))
    ?.split('=')[1] ?? d;
const dir = arg('dir', '/usr/share/datasets/fashion-mnist');
const count = Number(arg('count', 500));
const out = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'public', `fashion-mnist-test-${count}.bin`);

function readIdx(file, magic) {
  if (!fs.existsSync(file)) {
    console.error(`make-testset: ${file} is missing (apt-get install dataset-fashion-mnist).`);
    process.exit(2);
  }
  const buf = zlib.gunzipSync(fs.readFileSync(file));
  if (buf.readUInt32BE(0) !== magic) throw new Error(`${file}: not an IDX file with magic ${magic.toString(16)}`);
  return buf;
}

const images = readIdx(path.join(dir, 't10k-images-idx3-ubyte.gz'), 0x803);
const labels = readIdx(path.join(dir, 't10k-labels-idx1-ubyte.gz'), 0x801);
const [n, h, w] = [images.readUInt32BE(4), images.readUInt32BE(8), images.readUInt32BE(12)];
if (labels.readUInt32BE(4) !== n) throw new Error('image and label counts differ');
if (count > n || count < 1) throw new Error(`--count must be 1..${n}`);

const header = Buffer.alloc(16);
header.write('FMNIST01', 0, 'ascii');
header.writeUInt32LE(count, 8);
header.writeUInt16LE(h, 12);
header.writeUInt16LE(w, 14);
const px = images.subarray(16, 16 + count * h * w);
const lab = labels.subarray(8, 8 + count);
fs.writeFileSync(out, Buffer.concat([header, px, lab]));
const hist = new Array(10).fill(0);
for (const l of lab) hist[l]++;
console.log(
  `make-testset: wrote ${path.relative(process.cwd(), out)} (${count} images ${h}x${w}, ${16 + px.length + lab.length} bytes; per class ${hist.join(' ')})`,
);
