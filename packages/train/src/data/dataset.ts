import crypto from 'node:crypto';

/**
 * A data set held in memory as typed arrays: `images` is N*H*W*C in NHWC order (uint8 pixels or
 * floats), `labels` has N class indices, `classes` names the classes.
 */
export interface Dataset {
  images: Uint8Array | Float32Array;
  labels: Int32Array | Uint8Array;
  /** [height, width, channels] of one image. */
  shape: [number, number, number];
  classes: string[];
  /** Where it came from (for messages and checkpoint metadata). */
  source?: string;
  /**
   * How decoded image files were brought to `shape` (stored with the weights so that predict decodes
   * the same way): the shorter side resized to `resize`, then a centre `crop`.
   */
  decoding?: { resize: number; crop: [number, number] };
  /** The decoder (and its version) that made the pixels of decoded image files (see the zoo's `imageDecoderVersion`). */
  decoder?: string;
}

/** Number of images in a data set. */
export function datasetSize(d: Dataset): number {
  return d.labels.length;
}

/** The first `n` images (views, no copy). */
export function takeFirst(d: Dataset, n: number): Dataset {
  if (n >= d.labels.length) return d;
  const per = d.shape[0] * d.shape[1] * d.shape[2];
  return { ...d, images: d.images.subarray(0, n * per), labels: d.labels.subarray(0, n) };
}

/** The images at `indices`, copied into a new data set. */
export function subset(d: Dataset, indices: ArrayLike<number>): Dataset {
  const per = d.shape[0] * d.shape[1] * d.shape[2];
  const images = d.images instanceof Float32Array ? new Float32Array(indices.length * per) : new Uint8Array(indices.length * per);
  const labels = d.labels instanceof Int32Array ? new Int32Array(indices.length) : new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    images.set(d.images.subarray(j * per, (j + 1) * per), i * per);
    labels[i] = d.labels[j];
  }
  return { ...d, images, labels };
}

/**
 * A short hash of what a data set holds: its shape, class names, labels and pixels, in order. Two
 * loads of the same images give the same fingerprint wherever they lie; an image edited, replaced or
 * moved to another class folder changes it, even when the size, classes and statistics stay the same.
 */
export function datasetFingerprint(d: Dataset): string {
  const hash = crypto.createHash('sha256');
  hash.update(JSON.stringify({ shape: d.shape, classes: d.classes, pixels: d.images instanceof Float32Array ? 'float32' : 'uint8' }));
  // Labels as int32 whatever array holds them: the same labels give the same bytes.
  hash.update(new Uint8Array(Int32Array.from(d.labels).buffer));
  hash.update(new Uint8Array(d.images.buffer, d.images.byteOffset, d.images.byteLength));
  return hash.digest('hex').slice(0, 16);
}

/**
 * Checks that the shape is [height, width, channels] of whole numbers and that the pixel values make
 * one image per label; `what` names the data (file, folder or set).
 */
export function validateImages(d: Dataset, what: string, errorFactory: (m: string) => Error): void {
  const { shape } = d;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((v) => Number.isInteger(v) && v >= 1))
    throw errorFactory(
      `${what}: shape is ${JSON.stringify(shape)}; it must be [height, width, channels], whole numbers >= 1: give one image's size.`,
    );
  const per = shape[0] * shape[1] * shape[2];
  if (d.images?.length !== d.labels?.length * per) {
    throw errorFactory(
      `${what}: ${d.images?.length} pixel values do not make ${d.labels?.length} images of ${shape.join('x')} (${d.labels?.length * per} values): ` +
        "give one label per image and the images' shape.",
    );
  }
}

/**
 * Checks that sizes agree ({@link validateImages}) and that every label is a whole number within
 * [0, classes); `what` names the file(s).
 */
export function validateDataset(d: Dataset, what: string, errorFactory: (m: string) => Error): void {
  validateImages(d, what, errorFactory);
  const k = d.classes.length;
  for (let i = 0; i < d.labels.length; i++) {
    const l = d.labels[i];
    if (!(Number.isInteger(l) && l >= 0 && l < k))
      throw errorFactory(
        `${what}: label ${l} of item ${i} is out of range [0, ${k - 1}]: labels must be whole-number indices into the ${k} classes; fix the labels, or give every class in classes.`,
      );
  }
}

/** Names of Fashion-MNIST's 10 classes, in label order (0 = 'T-shirt/top' ... 9 = 'Ankle boot'). */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];
/** Names of MNIST's 10 classes: the digits '0' to '9', in label order. */
export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
/** Names of CIFAR-10's 10 classes, in label order (0 = 'airplane' ... 9 = 'truck'). */
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
