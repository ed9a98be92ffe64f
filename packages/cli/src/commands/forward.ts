import fs from 'node:fs';
import { Command } from 'commander';
import * as tf from '@tensorflow/tfjs-core';
import { ResNet, countNonFinite, fmtShape, parseNpyHeader } from '@resnet-ts/core';
import { loadNpy, readFileBytes, saveNpy } from '@resnet-ts/core/node';
import { UserError, checkNotInput, checkOutputFormat, loadModelWithWeights, selectBackend } from '../util.js';
import { choice, integer, number, opt, requiredOpt, text } from '../options.js';

interface ForwardOptions {
  model?: string;
  weights: string;
  classes?: number;
  timeout?: number;
  input: string;
  out: string;
  backend: string;
  layout: string;
}

/** `resnet forward`: eval-mode logits of a float32 .npy batch, written as .npy. */
export function registerForward(program: Command): void {
  program
    .command('forward')
    .description('run a model in eval mode on a .npy batch and write the logits as .npy')
    .addOption(
      requiredOpt('--weights <source>', 'weights: a file (resnet-ts checkpoint, safetensors or PyTorch .pth state dict), an http(s) URL, hf:owner/name or a shipped model', text('a file, URL or name')),
    )
    .addOption(requiredOpt('--input <file>', 'input batch, float32 .npy, NCHW [N, C, H, W] (or NHWC with --layout nhwc)', text('a file')))
    .addOption(requiredOpt('--out <file>', 'where to write the logits [N, classes]: a .npy file (float32), not --input', text('a file')))
    .addOption(opt('--model <name|spec.json>', 'zoo name or spec file (default: the spec stored in a resnet-ts checkpoint, else inferred from the weights)', text()))
    .addOption(opt('--classes <n>', 'number of classes of the head (default: from the weights)', integer(1, 1000000)))
    .addOption(opt('--timeout <seconds>', 'download time limit for a URL or hf: source (default 30)', number({ above: 0 })))
    .addOption(opt('--backend <name>', "engine: 'auto' or a name from `resnet backends`", text('an engine name'), 'auto'))
    .addOption(opt('--layout <nchw|nhwc>', 'layout of --input: nchw (PyTorch, default) or nhwc', choice(['nchw', 'nhwc'] as const), 'nchw'))
    .action(async (opts: ForwardOptions) => {
      // Before anything is loaded or written: the logits go to a .npy file that is not the input
      // (a folder is said to be one by the write, as for every output).
      if (!isFolder(opts.out)) checkOutputFormat(opts.out, 'NumPy .npy', 'forward', opts.weights);
      checkNotInput(opts.out, opts.input, '--out', '--input');
      await selectBackend(opts.backend);
      const model = await loadModelWithWeights(opts.model, opts.weights, { classes: opts.classes, timeout: opts.timeout });
      const x = loadNpy(opts.input);
      try {
        const c = model.spec.inChannels;
        const expected = opts.layout === 'nchw' ? `[N, ${c}, H, W]` : `[N, H, W, ${c}]`;
        const channelAxis = opts.layout === 'nchw' ? 1 : 3;
        if (x.rank !== 4 || x.shape[channelAxis] !== c) {
          const hint = shapeHint(x.shape, c, opts.layout);
          throw new UserError(`--input '${opts.input}' has shape ${fmtShape(x.shape)}; expected ${expected} (${opts.layout}).${hint}`);
        }
        if (x.dtype !== 'float32')
          throw new UserError(
            `--input '${opts.input}' holds ${npyDtypeName(opts.input)} values; expected float32, preprocessed as the model expects ` +
              '(e.g. (a / 255 - mean) / std, then a.astype(np.float32) in NumPy).',
          );
        if (x.shape.some((d) => d === 0))
          throw new UserError(`--input '${opts.input}' has shape ${fmtShape(x.shape)}: an empty batch or image; every dimension must be at least 1.`);
        const logits = tf.tidy(() => model.forward(opts.layout === 'nchw' ? tf.transpose(x, [0, 2, 3, 1]) : x, { training: false }));
        let note: string | null;
        try {
          await saveNpy(opts.out, logits);
          note = nonFiniteLogitsNote(logits, x, opts.input, model);
        } finally {
          logits.dispose();
        }
        process.stdout.write(`wrote logits ${fmtShape([x.shape[0], model.spec.numClasses])} to ${opts.out} (backend ${tf.getBackend()})\n`);
        if (note) process.stderr.write(note + '\n');
      } finally {
        x.dispose();
        model.dispose();
      }
    });
}

/** Whether `file` is an existing folder. */
function isFolder(file: string): boolean {
  try {
    return fs.statSync(file).isDirectory();
  } catch {
    return false;
  }
}

/** NumPy's name of the dtype a `.npy` file stores (e.g. '<i8' -> int64, '|u1' -> uint8), read from its header. */
function npyDtypeName(file: string): string {
  // Read again only on this refusal: loadNpy has converted the values (int64 to int32) by now.
  const descr = parseNpyHeader(readFileBytes(file), file).descr;
  const m = /^[<>|=]?([biuf])(\d+)$/.exec(descr);
  if (!m) return `'${descr}'`;
  const kind = { b: 'bool', i: 'int', u: 'uint', f: 'float' }[m[1]]!;
  return kind === 'bool' ? 'bool' : `${kind}${Number(m[2]) * 8}`;
}

/**
 * A note when logits are NaN or Inf (written as they are, as PyTorch gives them), naming the cause
 * that can be seen: non-finite input values; else weights that make them (a NaN or Inf weight, or a
 * batch norm whose running_var is below 0, which gives NaN without a NaN weight); else, with input
 * and weights finite, float32 overflow inside the net (values beyond ±3.4e38), with the largest
 * |value| of each. Null when every logit is finite.
 */
function nonFiniteLogitsNote(logits: tf.Tensor, x: tf.Tensor, input: string, model: ResNet): string | null {
  const bad = countNonFinite(logits.dataSync());
  if (bad === 0) return null;
  const xs = x.dataSync();
  const inBad = countNonFinite(xs);
  const weights = weightsScan(model);
  let cause: string;
  if (inBad > 0) cause = `--input '${input}' holds ${inBad} NaN or Inf value${inBad === 1 ? '' : 's'}`;
  else if (weights.problem) cause = `the input is finite, so the weights make them: ${weights.problem}`;
  else
    cause =
      `values overflowed float32 (beyond ±3.4e38) inside the net; the input is finite, largest |value| ${fmtMagnitude(maxAbs(xs))}, ` +
      `and so are the weights (largest |value| ${fmtMagnitude(weights.maxAbs)}, no batch norm running_var below 0)`;
  return `note: ${bad} of ${logits.size} logits are NaN or Inf: ${cause}.`;
}

/** The largest |value| of `values` (0 when empty). */
function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m;
}

/** `3.2e+37`, `1.5`: three significant digits. */
function fmtMagnitude(v: number): string {
  return Number(v.toPrecision(3)).toString();
}

/**
 * What in the model's float tensors makes NaN or Inf without help from the input: NaN/Inf values
 * (first names), else a batch norm running_var below 0; null problem when neither. With the largest
 * |value| over all of them.
 */
function weightsScan(model: ResNet): { problem: string | null; maxAbs: number } {
  const nonFinite: string[] = [];
  const negativeVar: string[] = [];
  let count = 0;
  let largest = 0;
  for (const [name, v] of [...model.namedParameters(), ...model.namedBuffers()]) {
    if (v.dtype !== 'float32') continue;
    const values = v.dataSync() as Float32Array;
    const n = countNonFinite(values);
    if (n > 0) {
      count += n;
      nonFinite.push(name);
      continue;
    }
    largest = Math.max(largest, maxAbs(values));
    if (/(^|\.)running_var$/.test(name) && values.some((val) => val < 0)) negativeVar.push(name);
  }
  const first = (names: string[]) => names.slice(0, 3).join(', ') + (names.length > 3 ? `, ... (${names.length} tensors)` : '');
  const problem =
    nonFinite.length > 0
      ? `${count} NaN or Inf weight${count === 1 ? '' : 's'} (${first(nonFinite)})`
      : negativeVar.length > 0
        ? `a batch norm running_var below 0 (${first(negativeVar)})`
        : null;
  return { problem, maxAbs: largest };
}

/**
 * What to do with an input of the wrong shape for a model of `c` channels: one image lacks the batch
 * axis (x[None]); a 3-d batch of a 1-channel model's images lacks the channel axis (x[:, None] in
 * NCHW, x[..., None] in NHWC); a 4-d one with the channels on the other side is the other layout.
 */
function shapeHint(shape: readonly number[], c: number, layout: string): string {
  if (shape.length === 3) {
    if ((layout === 'nchw' ? shape[0] : shape[2]) === c) return ' Add a batch dimension (x[None] in NumPy).';
    return c === 1 ? ` Add the channel axis (${layout === 'nchw' ? 'x[:, None]' : 'x[..., None]'} in NumPy).` : '';
  }
  if (shape.length === 4 && shape[layout === 'nchw' ? 3 : 1] === c)
    return ` It looks like ${layout === 'nchw' ? 'NHWC: pass --layout nhwc' : 'NCHW: drop --layout nhwc'}.`;
  return '';
}
