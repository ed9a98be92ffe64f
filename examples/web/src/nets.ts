/**
 * The model side of the page: load trained weights with the zoo's `fromPretrained` (spec, labels and
 * preprocessing come with them; the Cache API keeps them), prepare 28x28 grey images with the zoo's
 * preprocessing, and classify / score a batch. Uses only the published packages.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ResNet, ResidualBlock } from '@resnet-ts/core';
import { fromPretrained, planResize, toModelInput, type ImagePreprocessing } from '@resnet-ts/zoo';

/** An error whose message is meant for the page (a file that cannot be read, a bad image). */
export class PageError extends Error {}

/** A trained net plus what is needed to feed it. */
export interface Net {
  name: string;
  url: string;
  model: ResNet;
  classes: string[];
  /** Stored with the weights (28x28 padded to 32x32, mean/std of Fashion-MNIST for the zoo's nets). */
  preprocessing: ImagePreprocessing;
  /** [height, width] of the network input (28x28 images are centred on a black canvas of this size). */
  input: [number, number];
}

/** Bytes of a static file, or a PageError saying which file and why it could not be read. */
export async function fetchBytes(url: string, what: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new PageError(`Cannot read ${what} from ${url}: ${(e as Error).message}`);
  }
  if (!res.ok)
    throw new PageError(
      `Cannot read ${what} from ${url}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''} (is the file there?)`,
    );
  if ((res.headers.get('content-type') ?? '').includes('text/html')) {
    throw new PageError(`Cannot read ${what} from ${url}: the server answered with an HTML page, not the file (is the file there?)`);
  }
  return new Uint8Array(await res.arrayBuffer());
}

/** Progress of a weights download: bytes so far and the size when the server says it. */
export type LoadProgress = (loaded: number, total: number | undefined) => void;

/**
 * Loads trained weights through the zoo's one resolver (`fromPretrained`: the Cache API keeps them
 * after the first download), with their spec, labels and preprocessing.
 */
export async function loadNet(name: string, url: string, onProgress?: LoadProgress): Promise<Net> {
  try {
    const clf = await fromPretrained(url, { onProgress: (e) => onProgress?.(e.loaded, e.total) });
    return { name, url, model: clf.model, classes: [...clf.labels], preprocessing: clf.preprocessing, input: clf.preprocessing.padTo ?? [28, 28] };
  } catch (e) {
    const status = (e as { status?: number }).status;
    const why = status ? `HTTP ${status} (is the file there?)` : (e as Error).message;
    throw new PageError(`Cannot read the weights of ${name} from ${url}: ${why}`);
  }
}

/**
 * 28x28 grey images (uint8, 0 = background) as a net's input: the zoo's preprocessing (the same
 * code `fromPretrained(...).classify` runs in Node and the browser) pads them to the net's input
 * size with black and normalises with the mean/std stored with the weights.
 */
export function toInput(net: Net, pixels: Uint8Array, count: number, h = 28, w = 28): Float32Array {
  const p = { ...net.preprocessing, resize: undefined, crop: undefined, channels: 1 as const };
  const plan = planResize(h, w, p);
  const per = plan.height * plan.width;
  const out = new Float32Array(count * per);
  for (let n = 0; n < count; n++) out.set(toModelInput(pixels.subarray(n * h * w, (n + 1) * h * w), plan, p), n * per);
  return out;
}

/** Top-k classes of one 28x28 image, and how long the forward pass (with the read-back) took. */
export async function classify(net: Net, pixels: Uint8Array, k = 5): Promise<{ top: { label: string; p: number }[]; ms: number }> {
  const [H, W] = net.input;
  const x = tf.tensor4d(toInput(net, pixels, 1), [1, H, W, 1]);
  const t0 = performance.now();
  const probs = tf.tidy(() => tf.softmax(net.model.forward(x, { training: false })));
  const p = (await probs.data()) as Float32Array;
  const ms = performance.now() - t0;
  x.dispose();
  probs.dispose();
  const top = Array.from(p)
    .map((v, i) => ({ label: net.classes[i] ?? String(i), p: v }))
    .sort((a, b) => b.p - a.p)
    .slice(0, k);
  return { top, ms };
}

/** The first `count` images of a test set and their labels. */
export interface TestSet {
  pixels: Uint8Array;
  labels: Uint8Array;
  count: number;
  h: number;
  w: number;
}

/** Reads the page's test-set file (see scripts/make-testset.mjs for the format). */
export async function loadTestSet(url: string, limit: number): Promise<TestSet> {
  const bytes = await fetchBytes(url, 'the Fashion-MNIST test images');
  const magic = new TextDecoder().decode(bytes.subarray(0, 8));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (magic !== 'FMNIST01' || bytes.length < 16) throw new PageError(`Cannot read the test images (${url}): not an FMNIST01 file.`);
  const n = dv.getUint32(8, true);
  const h = dv.getUint16(12, true);
  const w = dv.getUint16(14, true);
  if (bytes.length !== 16 + n * h * w + n)
    throw new PageError(`Cannot read the test images (${url}): ${bytes.length} bytes, expected ${16 + n * h * w + n}.`);
  const count = Math.max(1, Math.min(limit, n));
  return {
    pixels: bytes.subarray(16, 16 + count * h * w),
    labels: bytes.subarray(16 + n * h * w, 16 + n * h * w + count),
    count,
    h,
    w,
  };
}

/** Accuracy of a net on a test set (eval mode, in chunks) and the time it took. */
export async function accuracy(net: Net, set: TestSet, chunk = 100): Promise<{ accuracy: number; correct: number; ms: number }> {
  const [H, W] = net.input;
  const input = toInput(net, set.pixels, set.count, set.h, set.w);
  let correct = 0;
  const t0 = performance.now();
  for (let s = 0; s < set.count; s += chunk) {
    const b = Math.min(chunk, set.count - s);
    const pred = tf.tidy(() =>
      tf.argMax(net.model.forward(tf.tensor4d(input.subarray(s * H * W, (s + b) * H * W), [b, H, W, 1]), { training: false }), 1),
    );
    const ids = (await pred.data()) as Int32Array;
    pred.dispose();
    for (let i = 0; i < b; i++) if (ids[i] === set.labels[s + i]) correct++;
  }
  return { accuracy: correct / set.count, correct, ms: performance.now() - t0 };
}

/** Whether a block's residual branch can be deleted (always in a ResNet; in a plain net only where it keeps the shape). */
export function canDelete(b: ResidualBlock): boolean {
  return b.residual || (b.stride === 1 && b.inChannels === b.outChannels);
}

/** Switches the branches of a net's blocks on/off (`off` holds block indices); undeletable blocks stay on. */
export function applyLesion(net: Net, off: ReadonlySet<number>): number[] {
  const applied: number[] = [];
  net.model.blocks().forEach((b, i) => {
    b.branchEnabled = !(off.has(i) && canDelete(b));
    if (!b.branchEnabled) applied.push(i);
  });
  return applied;
}
