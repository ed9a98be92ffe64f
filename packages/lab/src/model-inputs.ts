/**
 * The inputs of the experiments that study a trained net (lesion, paths): the model named on the
 * command line with its weights, and the test set prepared the way the net was trained.
 */
import type { ResNet, ResNetSpec } from '@resnet-ts/core';
import {
  DataPair,
  Dataset,
  LoadDataOptions,
  Preprocessing,
  channelStats,
  cifarPadTo,
  classifierEvaluation,
  limitImages,
  loadData,
  matchClasses,
} from '@resnet-ts/train';
import { PRETRAINED } from '@resnet-ts/zoo';
import { fromPretrained } from '@resnet-ts/zoo/node';
import { CommandHost, ExperimentInputError } from './command.js';

/** A (trained) model, its data and preprocessing, and a label for reports. */
export interface ModelAndData {
  model: ResNet;
  pair: DataPair;
  prep: Preprocessing;
  /** e.g. `resnet20-fashion-mnist (the zoo's ... weights) on fashion-mnist`. */
  label: string;
}

/** Which net to load: a zoo name, shipped weights' name or spec file, and/or a weights file. */
export interface ModelChoice {
  model?: string;
  weights?: string;
  /** The data set (name or folder) the test images come from. */
  data: string;
  /** The zoo name used when neither `model` nor `weights` is given (untrained, with a warning). */
  fallback: string;
  /** The command's options that name `model` and `weights`, for messages (default `--model`, `--weights`). */
  flags?: { model: string; weights: string };
}

/**
 * Loads the model (its spec from the weights file when `model` is absent; the zoo's shipped
 * weights for a name like `resnet20-fashion-mnist`) and the data, with the preprocessing stored with
 * the weights (else the data's own channel statistics: a split folder's studied split's; 28x28 images padded to 32x32 for CIFAR stems).
 * The caller disposes the model.
 */
export async function loadModelAndData(choice: ModelChoice, host: CommandHost): Promise<ModelAndData> {
  const { model: modelArg, weights } = choice;
  const shippedName = modelArg && !weights && host.shippedWeights(modelArg) ? modelArg : undefined;
  const source = weights ?? shippedName;
  if (!source) return untrained(choice, host);
  // The one resolver of weights, architecture and preprocessing (as `resnet eval` uses it).
  const clf = await fromPretrained(source, { model: weights && modelArg ? modelSpecArg(modelArg, host) : undefined });
  try {
    const prep = clf.preprocessing;
    const imageSize = Array.isArray(prep.resize) ? prep.resize : prep.crop;
    // An image folder is decoded as predict prepares an image for this classifier (and eval reads it).
    const loaded = await loadStudiedData(choice.data, host, { imageSize, channels: prep.channels, preprocessing: prep });
    const flags = choice.flags ?? { model: '--model', weights: '--weights' };
    checkModelFitsData(clf.model, loaded, weights ? `${flags.weights} ${weights}` : `${flags.model} ${shippedName}`, choice);
    const pair = withModelLabels(loaded, clf.labels, clf.origin.labels === 'named', host);
    const test = pair.test ?? pair.train;
    // Normalised and padded as `resnet eval` scores the same data.
    const evaluation = classifierEvaluation(clf, pair, test);
    const name = modelArg && !shippedName ? modelArg : depthName(clf.model);
    const label = `${name} ${shippedName ? `(the zoo's ${shippedName} weights)` : `(weights ${weights})`} on ${pair.kind}`;
    return { model: clf.model, pair, prep: evaluation, label };
  } catch (e) {
    clf.dispose();
    throw e;
  }
}

const count = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * What one command (one host) has read: each data set, with its decode options, once; and the notes
 * its reads logged. A command that studies two nets on the same data (`lesion` with a plain net)
 * neither decodes the images twice nor repeats a note (a skipped image) for the second net.
 */
const readByCommand = new WeakMap<CommandHost, { loads: Map<string, Promise<DataPair>>; said: Set<string> }>();

/**
 * The images the experiments study, read as `resnet eval` reads them: a named data set's test split;
 * a folder of class sub-folders whole (`val: 0`); of train/ val/ test/ folders only test/ (else val/),
 * by its own class folders (`evaluatedSplitOnly`: train/ is not read, and its classes constrain nothing;
 * the folders are paired with the model's outputs by name). Notes (skipped images) go to the host's log,
 * once per command: the same data with the same decode options is read once per host (the callers
 * only read the pair; `withModelLabels` makes new datasets), and a note an earlier read already
 * logged (the same folder decoded at another size) is not repeated.
 */
function loadStudiedData(
  data: string,
  host: CommandHost,
  decode: Pick<LoadDataOptions, 'imageSize' | 'channels' | 'preprocessing'> = {},
): Promise<DataPair> {
  let read = readByCommand.get(host);
  if (!read) readByCommand.set(host, (read = { loads: new Map(), said: new Set() }));
  const { loads, said } = read;
  const key = JSON.stringify([data, decode.imageSize ?? null, decode.channels ?? null, decode.preprocessing ?? null]);
  let pair = loads.get(key);
  if (!pair) {
    const log = host.reporting.log;
    const once =
      log &&
      ((m: string) => {
        if (said.has(m)) return;
        said.add(m);
        log(m);
      });
    pair = loadData(data, { ...decode, val: 0, evaluatedSplitOnly: true, log: once });
    loads.set(key, pair);
  }
  return pair;
}

/**
 * Refuses trained weights that cannot read the lab's data, before anything runs: their input
 * channels and classes must be the data's (an ImageNet model on Fashion-MNIST would otherwise fail
 * inside its first conv, or score 1000 outputs against 10 labels). Class folders may be any of the
 * model's classes (`withModelLabels` pairs them by name, as `resnet eval` does, and refuses a folder it
 * has no output for). The one check of every experiment that studies a trained net; the message says
 * what the lab needs and where to get it.
 */
function checkModelFitsData(model: ResNet, pair: DataPair, named: string, choice: ModelChoice): void {
  const test = pair.test ?? pair.train;
  const [channels, classes] = [test.shape[2], test.classes.length];
  const [inChannels, numClasses] = [model.spec.inChannels ?? 3, model.spec.numClasses];
  if (inChannels === channels && (numClasses === classes || pair.kind === 'folder')) return;
  // The zoo's weights trained on this data, of the family of the net asked for (resnet or plain).
  const shipped = PRETRAINED.map((e) => e.name).filter((n) => n.endsWith(`-${pair.kind}`));
  const like = shipped.find((n) => n.startsWith(choice.fallback.replace(/\d+$/, ''))) ?? shipped[0];
  const data = pair.kind === 'folder' ? `'${choice.data}'` : pair.kind;
  throw new ExperimentInputError(
    `${named} holds a model with ${count(inChannels, 'input channel')} and ${count(numClasses, 'class', 'classes')}, but the data (${data}) has ` +
      `${count(channels, 'channel')} and ${count(classes, 'class', 'classes')}: give weights of a model with ${count(channels, 'input channel')} and ` +
      `${count(classes, 'class', 'classes')} trained on ${data}${like ? `, like the zoo's ${like}` : ''} (train one with \`resnet train --data ${choice.data}\`).`,
  );
}

/**
 * The test images labelled by the model's outputs: class folders are paired with the outputs by name
 * (`matchClasses`, as `resnet eval` pairs them, never by sorted position) and shuffled with a fixed
 * seed, so that the experiments' first n images (`--limit`) are a mix of every class.
 */
function withModelLabels(pair: DataPair, labels: readonly string[], namedOutputs: boolean, host: CommandHost): DataPair {
  const folder = pair.kind === 'folder';
  const key = pair.test ? 'test' : 'train';
  const set = pair[key]!;
  const match = matchClasses(set.classes, labels, { folders: folder, namedOutputs });
  if (match.note) host.reporting.log?.(match.note);
  const relabelled: Dataset = { ...set, labels: Int32Array.from(set.labels, (l) => match.outputs[l]), classes: [...labels] };
  const mixed = folder ? limitImages(relabelled, relabelled.labels.length, { mix: true, seed: 0 }) : relabelled;
  return { ...pair, [key]: mixed };
}

/** `--model` next to `--weights`: a zoo name as is, a spec file through the host (as the CLI reads it). */
function modelSpecArg(modelArg: string, host: CommandHost): string | ResNetSpec {
  return modelArg.endsWith('.json') ? host.loadModel(modelArg, {}).spec : modelArg;
}

/** No weights: the named (or fallback) architecture with its initial weights, and a warning. */
async function untrained(choice: ModelChoice, host: CommandHost): Promise<ModelAndData> {
  const name = choice.model ?? choice.fallback;
  const pair = await loadStudiedData(choice.data, host);
  const test = pair.test ?? pair.train;
  const model = host.loadModel(name, { inChannels: test.shape[2], numClasses: test.classes.length });
  host.reporting.log?.(`warning: no --weights: running on the UNTRAINED ${name} (initial weights); train one with \`resnet train\` and pass --weights`);
  model.eval();
  const padTo = cifarPadTo(model.spec.stem, test.shape);
  return { model, pair, prep: { ...channelStats(pair.train), ...(padTo ? { padTo } : {}) }, label: `${name} (untrained) on ${pair.kind}` };
}

/** `ResNet-20`, `plain-56`, ... from the blocks of a model. */
function depthName(model: ResNet): string {
  const blocks = model.blocks();
  const depth = blocks.length * (blocks[0]?.typeName.toLowerCase().includes('bottleneck') ? 3 : 2) + 2;
  return `${model.spec.residual ? 'ResNet' : 'plain'}-${depth}`;
}

/** The options of the experiments that study one trained net. */
export const MODEL_OPTION_HELP =
  "zoo name, shipped weights' name or spec file (default: the spec stored in --weights; on fashion-mnist without --weights: the zoo's resnet20-fashion-mnist)";
