#!/usr/bin/env node
// Decoding an image folder for training at 224x224 (torchvision's Resize(224) + CenterCrop(224) on PIL,
// pixel for pixel): seconds per image. Makes the folder first when missing: 24 JPEGs of 4000x3000
// (skimage's chelsea and coffee upscaled, 2 classes; Debian's python3-skimage). Loads it twice in one
// process; the second load is the one to quote. Peer: folder_decode_torch.py on the same folder.
//   node packages/train/bench/folder-decode.mjs [folder=/tmp/bigfolder]   (after npm run build)
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { loadImageFolder } from '@resnet-ts/train';

const folder = process.argv[2] ?? '/tmp/bigfolder';
if (!fs.existsSync(folder)) {
  const photos = '/usr/lib/python3/dist-packages/skimage/data/';
  for (const [cls, file] of [
    ['cat', 'chelsea.png'],
    ['coffee', 'coffee.png'],
  ]) {
    fs.mkdirSync(path.join(folder, cls), { recursive: true });
    for (let i = 0; i < 12; i++)
      await sharp(photos + file)
        .resize(4000, 3000, { fit: 'fill' })
        .modulate({ brightness: 0.8 + i * 0.03 })
        .jpeg({ quality: 90 })
        .toFile(path.join(folder, cls, `${i}.jpg`));
  }
}
for (let round = 0; round < 2; round++) {
  const t0 = performance.now();
  const ds = await loadImageFolder(folder, { size: [224, 224] });
  const s = (performance.now() - t0) / 1000;
  console.log(`resnet-ts loadImageFolder: ${ds.labels.length} images in ${s.toFixed(2)} s: ${(s / ds.labels.length).toFixed(3)} s/image`);
}
