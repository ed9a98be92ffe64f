/**
 * Which data set a set of IDX files holds, from their content (never from their path): a copy of
 * Fashion-MNIST in a folder called `digits/` is still Fashion-MNIST.
 *
 * How: the training labels decide. Fashion-MNIST's 60,000 training labels are recognised by their
 * SHA-256 (of the decoded label bytes, so `.gz` or not does not matter; taken from the official
 * files as Debian's `dataset-fashion-mnist` ships them), MNIST's by their published per-digit counts
 * (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949). Anything else is a generic IDX data
 * set whose classes are named by their label numbers (and flips stay off: the content is unknown).
 */
import crypto from 'node:crypto';
import { Dataset, FASHION_MNIST_CLASSES, MNIST_CLASSES } from './dataset.js';

/** SHA-256 of Fashion-MNIST's decoded training labels (train-labels-idx1-ubyte without its 8-byte header). */
export const FASHION_MNIST_TRAIN_LABELS_SHA256 = '657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7';

/** SHA-256 of Fashion-MNIST's decoded test labels (t10k-labels-idx1-ubyte without its header): for a folder of the test files only. */
export const FASHION_MNIST_TEST_LABELS_SHA256 = '3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9';

/** MNIST's training images per digit 0-9. */
export const MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];

/** MNIST's test images per digit 0-9. */
export const MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];

/** What an IDX data set is. */
export interface IdxIdentity {
  kind: 'fashion-mnist' | 'mnist' | 'idx';
  classes: string[];
  /** Whether mirror images keep their class (clothes yes, digits no, unknown content: no). */
  flip: boolean;
}

/**
 * Identifies IDX data by its labels (see the module comment): the training labels, or with `split`
 * 'test' the test labels of a folder that holds only those (`resnet eval`), by the test files' own
 * SHA-256 and per-digit counts.
 */
export function identifyIdx(data: Dataset, split: 'train' | 'test' = 'train'): IdxIdentity {
  const labels = data.labels;
  const bytes = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) bytes[i] = labels[i];
  const sha = crypto.createHash('sha256').update(bytes).digest('hex');
  const [fashionSha, mnistCounts] =
    split === 'train' ? [FASHION_MNIST_TRAIN_LABELS_SHA256, MNIST_TRAIN_COUNTS] : [FASHION_MNIST_TEST_LABELS_SHA256, MNIST_TEST_COUNTS];
  if (sha === fashionSha) return { kind: 'fashion-mnist', classes: FASHION_MNIST_CLASSES, flip: true };
  const counts = new Array<number>(10).fill(0);
  let max = 0;
  for (const l of labels) {
    if (l < 10) counts[l]++;
    max = Math.max(max, l);
  }
  if (max < 10 && counts.every((c, k) => c === mnistCounts[k])) return { kind: 'mnist', classes: MNIST_CLASSES, flip: false };
  return { kind: 'idx', classes: Array.from({ length: max + 1 }, (_, k) => String(k)), flip: false };
}
