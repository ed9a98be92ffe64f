/**
 * Running a ResNet's pieces by hand: stem, blocks in any order with any branches deleted, pool and
 * classifier. The lesion and path experiments (and their tests) build on these.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ResNet, ResidualBlock } from '@resnet-ts/core';
import { ExperimentInputError } from './command.js';

const EVAL = { training: false };

/** The stem's output (the input of the first block), eval mode. */
export function stemForward(model: ResNet, x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    let y = x;
    for (const m of model.stem) y = m.forward(y, EVAL);
    return y;
  });
}

/**
 * What follows the last block, as `ResNet.forward` runs it: the final batch norm and ReLU of
 * pre-activation nets (`model.head`, empty for the others), pool and classifier: logits.
 */
export function headForward(model: ResNet, h: tf.Tensor, ctx: { training: boolean } = EVAL): tf.Tensor2D {
  return tf.tidy(() => {
    let y = h;
    for (const m of model.head) y = m.forward(y, ctx);
    return model.fc.forward(model.pool.forward(y)) as tf.Tensor2D;
  });
}

/**
 * Runs the blocks listed in `order` (indices into `model.blocks()`) on `h`, eval mode, with the
 * branches of the blocks in `deleted` removed (`branchEnabled = false`: relu(shortcut(x))). The
 * blocks' flags are restored afterwards.
 */
export function blocksForward(model: ResNet, h: tf.Tensor, order?: readonly number[], deleted: ReadonlySet<number> = new Set()): tf.Tensor {
  const blocks = model.blocks();
  const seq = order ?? blocks.map((_, i) => i);
  // An index that names no block (deleting block 99 of 9) gave the full model's logits, read as a lesion's.
  const bad = [...seq, ...deleted].find((i) => !(Number.isInteger(i) && i >= 0 && i < blocks.length));
  if (bad !== undefined)
    throw new ExperimentInputError(`block index ${bad} names no block: the model has ${blocks.length} (0 to ${blocks.length - 1}).`);
  const saved = blocks.map((b) => b.branchEnabled);
  try {
    blocks.forEach((b, i) => (b.branchEnabled = !deleted.has(i)));
    return tf.tidy(() => {
      let y = h;
      for (const i of seq) y = blocks[i].forward(y, EVAL);
      return y;
    });
  } finally {
    blocks.forEach((b, i) => (b.branchEnabled = saved[i]));
  }
}

/** Logits of the model with blocks re-ordered and/or deleted: stem → blocks → pool → fc. */
export function lesionedForward(model: ResNet, x: tf.Tensor, order?: readonly number[], deleted?: ReadonlySet<number>): tf.Tensor2D {
  return tf.tidy(() => headForward(model, blocksForward(model, stemForward(model, x), order, deleted)));
}

/** Whether a block keeps its input's shape (stride 1, same channels): it can be deleted from a plain net or swapped with a like block. */
export function preservesShape(b: ResidualBlock): boolean {
  return b.stride === 1 && b.inChannels === b.outChannels;
}

/** Whether a block's branch can be deleted: always in a residual net; in a plain net only where it preserves the shape. */
export function canDelete(b: ResidualBlock): boolean {
  return b.residual || preservesShape(b);
}
