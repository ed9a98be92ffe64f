import { Command } from 'commander';
import fs from 'node:fs';
import { ResNet, StateDictError } from '@resnet-ts/core';
import type { CheckpointInfo, ResNetSpec } from '@resnet-ts/core';
import {
  CHECKPOINT_FORMAT,
  HiddenFact,
  hiddenArchitecture,
  loadWeightsInto,
  openSafetensors,
  parseCheckpointMetadata,
  rewriteSafetensors,
  saveCheckpoint,
  saveSafetensors,
  stateDictMetadata,
  weightsFileFormat,
} from '@resnet-ts/core/node';
import { UserError, checkOutputFormat, loadClassifier, selectBackend } from '../util.js';
import { choice, opt, text } from '../options.js';
import { PreprocessingFlags, addPreprocessingOptions, preprocessingOverride } from '../preprocessing-options.js';
import { preprocessingToStore } from '../preprocessing-note.js';

interface ConvertOptions extends PreprocessingFlags {
  to?: string;
  model?: string;
  classes?: string;
  json?: boolean;
}

/** Prints the result line, or with --json one JSON object; first, on stderr, a note on the output's name (see checkOutputFormat). */
function wrote(
  opts: ConvertOptions,
  fields: { output: string; format: string; tensors: number; dropped?: string[] },
  text: string,
  nameNote: string | undefined,
): void {
  if (nameNote) process.stderr.write(`${nameNote}\n`);
  process.stdout.write(opts.json ? JSON.stringify({ event: 'wrote', ...fields }) + '\n' : text + '\n');
}

/** `resnet convert`: resnet-ts checkpoint <-> plain torchvision state dict (both safetensors). */
export function registerConvert(program: Command): void {
  const command = program
    .command('convert')
    .description('convert between a resnet-ts checkpoint and a plain torchvision state dict (safetensors)')
    .argument('<in>', 'input: a resnet-ts checkpoint, or weights to convert to one (safetensors or PyTorch .pth file, URL, hf:owner/name)')
    .argument('<out>', 'output .safetensors (convert writes only safetensors; ONNX: resnet export-onnx)')
    .addOption(opt('--to <format>', 'torchvision | resnet-ts (default: the other one)', choice(['torchvision', 'resnet-ts'] as const)))
    .addOption(opt('--model <name|spec.json>', 'architecture of a state dict (default: its stored spec, else inferred from it)', text()))
    .addOption(opt('--classes <file.json>', 'JSON list of class names to store', text('a file')))
    .option('--json', 'print the result as one JSON object');
  // --to resnet-ts stores them in the checkpoint, for predict/eval to use without flags.
  addPreprocessingOptions(command, true);
  command.action(async (input: string, output: string, opts: ConvertOptions) => {
    const nameNote = checkOutputFormat(output, 'safetensors', 'convert', input);
    const preprocessing = preprocessingOverride(opts);
    const info = localSafetensorsInfo(input);
    const isOurs = info?.format?.startsWith('resnet-ts/') ?? false;
    // A resnet-ts checkpoint given preprocessing flags is rewritten with them (--to resnet-ts).
    const to = opts.to ?? (isOurs && !preprocessing ? 'torchvision' : 'resnet-ts');
    if (to === 'torchvision') {
      if (preprocessing)
        throw new UserError(
          "--mean, --std, --resize and --crop are stored by --to resnet-ts; --to torchvision keeps the source's own (in metadata PyTorch ignores). Convert with the flags to resnet-ts first, then that file --to torchvision.",
        );
      const { spec, kept, dropped } = isOurs
        ? await rewriteCheckpoint(input, output, info as CheckpointInfo, opts)
        : await saveFromSource(input, output, info, opts);
      noteHiddenArchitecture(spec, output);
      wrote(
        opts,
        { output, format: 'torchvision', tensors: kept.length, dropped },
        `wrote ${output}: ${kept.length} tensors (torchvision state dict)${dropped.length ? `, dropped ${dropped.length} non-model tensors (${dropped.slice(0, 3).join(', ')}${dropped.length > 3 ? ', ...' : ''})` : ''}`,
        nameNote,
      );
      return;
    }
    if (isOurs && !opts.model && !preprocessing) throw new UserError(`'${input}' is already a resnet-ts checkpoint (${info?.format}).`);
    const classes = opts.classes ? readClassNames(opts.classes) : undefined;
    await selectBackend('cpu');
    // The one resolver: any source and naming convention; the architecture from --model or the weights.
    const clf = await loadClassifier({ model: opts.model, weights: input, preprocessing });
    const model = clf.model;
    try {
      if (classes && classes.length !== model.spec.numClasses) {
        throw new UserError(`--classes lists ${classes.length} names but the model has ${model.spec.numClasses} classes.`);
      }
      const labels = classes ?? namedLabels(clf.labels);
      await saveCheckpoint(output, model, {
        classes: labels,
        preprocessing: preprocessingToStore(clf, opts),
        metadata: { converted_from: input.split(/[\\/]/).pop() ?? input },
      });
      const tensors = model.paramLayouts().size;
      wrote(
        opts,
        { output, format: CHECKPOINT_FORMAT, tensors },
        `wrote ${output}: ${tensors} tensors (${CHECKPOINT_FORMAT} checkpoint)`,
        nameNote,
      );
    } finally {
      model.dispose();
    }
  });
}

/** A classifier's labels to store, or undefined when they are only the output numbers ('0', '1', ...). */
function namedLabels(labels: readonly string[]): string[] | undefined {
  return labels.some((l, i) => l !== String(i)) ? [...labels] : undefined;
}

/** What `--to torchvision` wrote: the model's spec (kept in the file's metadata) and the tensors. */
interface Written {
  spec: ResNetSpec;
  kept: string[];
  dropped: string[];
}

/** The class names a torchvision state dict of `spec` stores: `--classes`, else `source`'s. */
function classesFor(opts: ConvertOptions, spec: ResNetSpec, source: string[] | undefined): string[] | undefined {
  if (!opts.classes) return source;
  const classes = readClassNames(opts.classes);
  if (classes.length !== spec.numClasses)
    throw new UserError(`--classes lists ${classes.length} names but the model has ${spec.numClasses} classes.`);
  return classes;
}

/**
 * A resnet-ts checkpoint to a torchvision state dict: its model tensors copied as stored (dtypes
 * unchanged; optimizer state dropped) after every shape is checked against the stored spec, with the
 * spec, class names and preprocessing kept in the metadata (`stateDictMetadata`).
 */
async function rewriteCheckpoint(input: string, output: string, info: CheckpointInfo, opts: ConvertOptions): Promise<Written> {
  if (!info.spec) throw new UserError(`'${input}' has no "spec" metadata; cannot tell the model's keys apart.`);
  const spec = info.spec;
  await selectBackend('cpu');
  const model = new ResNet(spec);
  const keys = new Set(model.paramLayouts().keys());
  try {
    // Every model tensor must have the shape the stored spec implies before anything is written.
    const check = loadWeightsInto(model, input, { strict: false });
    if (check.mismatched.length) loadWeightsInto(model, input, { strict: true });
  } finally {
    model.dispose();
  }
  const metadata = stateDictMetadata(spec, { classes: classesFor(opts, spec, info.classes), preprocessing: info.preprocessing });
  const { kept, dropped } = await rewriteSafetensors(input, output, { keep: (k) => keys.has(k), metadata });
  const missing = [...keys].filter((k) => !kept.includes(k) && !k.endsWith('num_batches_tracked'));
  if (missing.length) {
    fs.rmSync(output, { force: true });
    throw new StateDictError(`'${input}' lacks model keys: ${missing.slice(0, 12).join(', ')}.`, missing, [], []);
  }
  return { spec, kept, dropped };
}

/**
 * Any other source (a shipped model's name, a PyTorch .pth, a URL, hf:owner/name) to a torchvision
 * state dict: loaded by the one resolver (names mapped by their convention, the architecture from
 * --model or the weights), then written with its spec, class names and preprocessing in the metadata.
 * A local safetensors file that is no resnet-ts checkpoint already is a state dict in these names.
 */
async function saveFromSource(input: string, output: string, info: CheckpointInfo | undefined, opts: ConvertOptions): Promise<Written> {
  if (info)
    throw new UserError(
      info.spec
        ? `'${input}' is already a torchvision state dict (the resnet-ts spec in its metadata); \`resnet convert ${input} <out.safetensors>\` makes a resnet-ts checkpoint of it.`
        : `'${input}' is already a plain state dict (no resnet-ts metadata).`,
    );
  await selectBackend('cpu');
  const clf = await loadClassifier({ model: opts.model, weights: input });
  const model = clf.model;
  try {
    const metadata = stateDictMetadata(model.spec, {
      classes: classesFor(opts, model.spec, namedLabels(clf.labels)),
      preprocessing: preprocessingToStore(clf, {}),
    });
    const state = model.stateDict({ layout: 'torch' });
    try {
      await saveSafetensors(output, state, metadata);
    } finally {
      for (const t of state.values()) t.dispose();
    }
    return { spec: model.spec, kept: [...state.keys()], dropped: [] };
  } finally {
    model.dispose();
  }
}

/**
 * One line on stderr when the written keys cannot say what the spec says (plain vs residual, ResNet v1
 * vs v1.5, option A's padding): resnet-ts builds the net from the metadata, a tool that reads only the
 * tensors builds another.
 */
function noteHiddenArchitecture(spec: ResNetSpec, output: string): void {
  const f = openSafetensors(output);
  let facts: HiddenFact[];
  try {
    facts = hiddenArchitecture(
      spec,
      f.entries.map((e) => [e.name, e.shape] as const),
    );
  } finally {
    f.close();
  }
  if (facts.length === 0) return;
  const them = facts.length > 1 ? 'them' : 'that';
  process.stderr.write(
    `note: a torchvision state dict cannot say ${facts.map((f) => f.actual).join(', nor that ')}; resnet-ts reads ${them} back from the file's metadata, ` +
      `but a tool that reads only the tensors (torchvision, PyTorch) would build ${facts.map((f) => f.instead).join(', ')}\n`,
  );
}

/**
 * The class names of `--classes <file.json>`: a JSON list of strings, one per output. A name given
 * twice is written as given (PyTorch Hub's ImageNet list has 'crane' and 'maillot' twice), with a
 * note: `eval` pairs class folders with outputs by name, and cannot pick one of the two.
 */
function readClassNames(file: string): string[] {
  let classes: unknown;
  try {
    classes = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new UserError(
        `No such file: '${file}' (--classes takes a JSON file listing the class names in output order, e.g. ["cat", "dog"]).`,
      );
    throw new UserError(`Cannot read --classes '${file}': ${(e as Error).message}`);
  }
  if (!Array.isArray(classes) || !classes.every((c) => typeof c === 'string'))
    throw new UserError(`--classes '${file}' must be a JSON list of strings.`);
  const names = classes as string[];
  const first = new Map<string, number>();
  for (const [i, c] of names.entries()) {
    const j = first.get(c);
    if (j !== undefined)
      process.stderr.write(
        `note: --classes '${file}' names '${c}' twice (entries ${j + 1} and ${i + 1}); written as given, but \`resnet eval\` cannot pair a folder named '${c}' with one of them.\n`,
      );
    else first.set(c, i);
  }
  return names;
}

/** The metadata of a local safetensors file, or undefined for another kind of source (a .pth, a URL...). */
function localSafetensorsInfo(input: string): CheckpointInfo | undefined {
  if (!fs.existsSync(input) || fs.statSync(input).isDirectory()) return undefined;
  if (weightsFileFormat(input) !== 'safetensors') return undefined;
  const f = openSafetensors(input);
  try {
    return parseCheckpointMetadata(f.metadata, input);
  } finally {
    f.close();
  }
}
