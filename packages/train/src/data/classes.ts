/**
 * Which model output each class of a data set is, for evaluating weights on data they were not
 * necessarily trained from (`resnet eval`): by NAME where the model stores class names (compared
 * by {@link classKey}: 'T-shirt_top' is 'T-shirt/top'; numbers as numbers: '01' is '1'), by number for
 * classes named '0', '1', ... (folders named by output index, when the model's labels are not numbers
 * themselves), ImageNet's WordNet-ID folders ('n01440764', ...) by sorted order when there is one per
 * output (as torchvision's ImageFolder pairs them, with a note), by the data set's own numbering for IDX and CIFAR data on a model
 * without names, and, for class folders on a model without names, by sorted folder order only when
 * the counts agree (with a note). Anything else is an error that says what to do: a class the model
 * does not know never silently borrows another output.
 */
import { DataError } from '../errors.js';

/** How the classes of a data set map onto a model's outputs (see the module comment). */
export interface ClassMatch {
  /** The model output of each data class (distinct outputs). */
  outputs: Int32Array;
  /** The name to report for each data class: the model's label where it has names, else the data's. */
  names: string[];
  /** How they were paired: by name, by output number, or by position (sorted folder order or the data's numbering). */
  by: 'name' | 'number' | 'position';
  /** A line to show the user (pairing by sorted folder order). */
  note?: string;
}

/** Options of {@link matchClasses}. */
export interface MatchClassesOptions {
  /**
   * true: the data's classes are sorted class-folder names (their order means nothing); false: the
   * data set's own numbered classes (IDX, CIFAR: label k is class k of the data set).
   */
  folders: boolean;
  /**
   * The model's labels are names it stores, even when they read '0', '1', ... (a classifier's
   * `origin.labels === 'named'`). Default: labels equal to their output numbers are taken as no names.
   */
  namedOutputs?: boolean;
}

/**
 * A class name as compared: lower case, without the characters other than letters and digits
 * (spaces, '-', '_', '/', which no folder name can hold); so 'T-shirt/top', 't-shirt_top',
 * 'T shirt top' and 'tshirt-top' are one name.
 */
export function classKey(name: string): string {
  return name
    .normalize('NFC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '');
}

/** Whether `labels` are real names rather than the output numbers '0', '1', ... that stand in for none. */
export function hasClassNames(labels: readonly string[]): boolean {
  return labels.some((l, i) => l !== String(i));
}

/** Up to `max` names, then how many in all. */
function listed(names: readonly string[], max = 10): string {
  return names.slice(0, max).join(', ') + (names.length > max ? `, ... (${names.length} in all)` : '');
}

const quoted = (names: readonly string[]) => listed(names.map((n) => `'${n}'`));

const NUMBER = /^\d{1,9}$/;

/**
 * The output whose label is `name` (exactly, else by {@link classKey}, else as the same number:
 * folder '01' is label '1'); -1: none; a list: several.
 */
function outputNamed(name: string, labels: readonly string[]): number | number[] {
  const find = (same: (l: string) => boolean) => labels.flatMap((l, i) => (same(l) ? [i] : []));
  const exact = find((l) => l === name);
  if (exact.length === 1) return exact[0];
  const key = classKey(name);
  let similar = exact.length ? exact : find((l) => classKey(l) === key);
  if (!similar.length && NUMBER.test(name)) similar = find((l) => NUMBER.test(l) && Number(l) === Number(name));
  return similar.length === 1 ? similar[0] : similar.length ? similar : -1;
}

/** ImageNet's folder layout: one folder per class named by its WordNet ID, sorted as the outputs are. */
const WORDNET_ID = /^n\d{8}$/;

/** Data classes named '0', '1', ... (leading zeros allowed) below `outputs`: their numbers. */
function numbered(classes: readonly string[], outputs: number): number[] | undefined {
  const numbers = classes.map((c) => (NUMBER.test(c) ? Number(c) : NaN));
  return numbers.every((k) => k < outputs) ? numbers : undefined;
}

/** 'class folder(s)' or 'class(es)': what the data's classes are, for `n` of them. */
function noun(options: MatchClassesOptions, n: number): string {
  return (options.folders ? 'class folder' : 'class') + (n === 1 ? '' : options.folders ? 's' : 'es');
}

/** Refuses two data classes on one output (e.g. folders 'Ankle boot' and 'ankle_boot'). */
function checkDistinct(classes: readonly string[], outputs: Int32Array, labels: readonly string[], options: MatchClassesOptions): void {
  const first = new Map<number, number>();
  outputs.forEach((o, k) => {
    const j = first.get(o);
    if (j !== undefined)
      throw new DataError(
        `The ${noun(options, 2)} '${classes[j]}' and '${classes[k]}' are both the model's output ${o} ('${labels[o]}'): merge them into one.`,
      );
    first.set(o, k);
  });
}

/** A data class whose name several model labels share (ImageNet's 'Cardigan' and 'cardigan' for 'CARDIGAN'). */
function ambiguous(name: string, outputs: number[], labels: readonly string[], options: MatchClassesOptions): DataError {
  return new DataError(
    `The ${noun(options, 1)} '${name}' matches several of the model's outputs (${outputs.map((o) => `${o} '${labels[o]}'`).join(', ')}): ` +
      (options.folders
        ? `rename it to one of these labels exactly, or name every class folder by its output number (e.g. ${outputs[0]}).`
        : 'evaluate weights trained on this data set.'),
  );
}

/** Data classes the model has no label for. */
function unknown(names: string[], labels: readonly string[], options: MatchClassesOptions): DataError {
  return new DataError(
    `The data's ${noun(options, names.length)} ${quoted(names)} ${names.length === 1 ? 'matches' : 'match'} none of the model's ${labels.length} labels ` +
      `(${listed(labels)}; compared ignoring case and punctuation): ` +
      (options.folders
        ? "rename the folders to the model's labels, or evaluate weights trained on these classes."
        : 'evaluate weights trained on this data set.'),
  );
}

/** A model without class names whose number of outputs does not fit the data's classes. */
function counts(classes: readonly string[], outputs: number, options: MatchClassesOptions): DataError {
  return new DataError(
    `The data has ${classes.length} classes (${listed(classes)}) but the model outputs ${outputs} and stores no class names to match them by: ` +
      `evaluate weights trained on this data (a resnet train checkpoint stores its class names)` +
      (options.folders ? `, or name the class folders by output number (0 to ${outputs - 1}).` : '.'),
  );
}

/**
 * Refuses class folders named by number whose sorted order differs from their numeric order ('10'
 * sorts before '2') for a model without class names: by number folder '10' is output 10, but weights
 * trained with torchvision's ImageFolder on these folders number them in sorted order ('10' is output
 * 2). Either reading may be the model's, so neither is guessed.
 */
function checkNumberedFolders(classes: readonly string[], outputs: number): void {
  if (!classes.every((c) => NUMBER.test(c))) return;
  const sorted = [...classes].sort();
  const byNumber = [...classes].sort((a, b) => Number(a) - Number(b));
  const k = sorted.findIndex((c, i) => c !== byNumber[i]);
  if (k < 0) return;
  const c = sorted[k];
  const width = String(outputs - 1).length;
  throw new DataError(
    `The model stores no class names, and the class folders are numbers whose sorted order (${listed(sorted, 4)}: torchvision's ImageFolder numbers folders so) ` +
      `is not their numeric order: folder '${c}' is output ${Number(c)} by number but output ${k} by ImageFolder's order. ` +
      `If the folders are output numbers, pad them with zeros ('${c.padStart(width, '0')}', '${'2'.padStart(width, '0')}'); ` +
      `if the weights come from ImageFolder on these folders, rename each folder to its place in that order ('${c}' to '${String(k).padStart(width, '0')}'), or use weights that store their class names.`,
  );
}

/**
 * Pairs the classes of a data set with a model's outputs, whose `labels` name them ('0', '1', ...
 * when the model stores no names); see the module comment for the rules. Throws a
 * {@link DataError} that says what to do when they cannot be paired.
 */
export function matchClasses(classes: readonly string[], labels: readonly string[], options: MatchClassesOptions): ClassMatch {
  const named = options.namedOutputs === true || hasClassNames(labels);
  const pair = (outputs: Int32Array, by: ClassMatch['by'], note?: string): ClassMatch => {
    checkDistinct(classes, outputs, labels, options);
    return { outputs, names: named ? Array.from(outputs, (o) => labels[o]) : [...classes], by, ...(note ? { note } : {}) };
  };
  if (!named && options.folders) checkNumberedFolders(classes, labels.length);
  const found = classes.map((c) => outputNamed(c, labels));
  const several = found.findIndex((o) => Array.isArray(o));
  if (several >= 0) throw ambiguous(classes[several], found[several] as number[], labels, options);
  if (found.every((o) => o !== -1)) return pair(Int32Array.from(found as number[]), 'name');
  // Folders named by number are output numbers, unless the model's labels are numbers themselves
  // (then they were compared as labels above, and a number the model has no label for is unknown).
  const numbers = named && labels.some((l) => NUMBER.test(l)) ? undefined : numbered(classes, labels.length);
  if (numbers) return pair(Int32Array.from(numbers), 'number');
  if (options.folders && classes.length === labels.length && classes.every((c) => WORDNET_ID.test(c)))
    return pair(
      Int32Array.from(classes, (_, k) => k),
      'position',
      `note: the class folders are named by WordNet ID (ImageNet's layout): paired with the model's outputs in sorted order, as torchvision's ImageFolder does ('${classes[0]}' = output 0, '${labels[0]}')`,
    );
  if (named)
    throw unknown(
      classes.filter((_, k) => found[k] === -1),
      labels,
      options,
    );
  if (classes.length > labels.length || (options.folders && classes.length !== labels.length))
    throw counts(classes, labels.length, options);
  const position = Int32Array.from(classes, (_, k) => k);
  if (!options.folders) return pair(position, 'position');
  const first = classes.slice(0, 3).map((c, k) => `'${c}' = output ${k}`);
  return pair(
    position,
    'position',
    `note: the model stores no class names: class folders are paired with its outputs in sorted order (${first.join(', ')}, ...); ` +
      `name the folders by output number (0 to ${labels.length - 1}) to pair them explicitly`,
  );
}
