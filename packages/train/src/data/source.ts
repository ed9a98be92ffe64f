/**
 * What a data argument (`--data`) names, decided in one place for the loader and the CLI: a data set
 * by name (fashion-mnist, mnist, cifar10, cifar100 and their spellings), or an existing folder. A
 * value that looks like a path is a missing folder ("No such folder"), never an unknown name; a file
 * is said to be a file; only a bare word is an unknown data set (with the closest names, when the
 * caller lends a suggester).
 */
import fs from 'node:fs';
import { fileError } from '@resnet-ts/core/node';
import { DataError } from '../errors.js';

/** The data sets known by name, as messages list them. */
export const DATA_SET_NAMES = ['fashion-mnist', 'mnist', 'cifar10', 'cifar100'] as const;

/** One of {@link DATA_SET_NAMES}. */
export type DataSetName = (typeof DATA_SET_NAMES)[number];

/** Every accepted spelling (lower case) of each name. */
const SPELLINGS: Record<DataSetName, readonly string[]> = {
  'fashion-mnist': ['fashion-mnist', 'fashion_mnist', 'fashionmnist'],
  mnist: ['mnist'],
  cifar10: ['cifar10', 'cifar-10'],
  cifar100: ['cifar100', 'cifar-100'],
};

/** What a data argument names. */
export type DataSource = { kind: 'name'; name: DataSetName } | { kind: 'folder'; dir: string };

/** The closest of `names` to a mistyped `word` (e.g. the CLI's edit-distance helper). */
export type NameSuggester = (word: string, names: readonly string[]) => string[];

const WHAT_FOLDER = 'a folder of IDX files, CIFAR batches or class sub-folders of images';
const NAMES = DATA_SET_NAMES.join(', ');

/** Whether `spec` is written as a path (holds a separator, or starts with `.` or `~`) rather than a name. */
const looksLikePath = (spec: string) => /[\\/]/.test(spec) || /^[.~]/.test(spec);

/**
 * What `spec` names (see the module comment); throws a {@link DataError} that names the real cause
 * when it names nothing: `No such folder`, `is a file`, or `Unknown data set` (+ "Did you mean").
 */
export function identifyDataSource(spec: string, suggest?: NameSuggester): DataSource {
  const lower = spec.toLowerCase();
  for (const name of DATA_SET_NAMES) if (SPELLINGS[name].includes(lower)) return { kind: 'name', name };
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(spec, { throwIfNoEntry: false });
  } catch (e) {
    throw fileError(e, spec, 'read');
  }
  if (st?.isDirectory()) return { kind: 'folder', dir: spec };
  if (st) throw new DataError(`'${spec}' is a file, not a data set: give ${WHAT_FOLDER}, or one of ${NAMES}.`);
  if (looksLikePath(spec)) throw new DataError(`No such folder: '${spec}'. Give ${WHAT_FOLDER}, or one of ${NAMES}.`);
  const close = suggest?.(spec, DATA_SET_NAMES) ?? [];
  throw new DataError(
    `Unknown data set '${spec}': use ${NAMES}, or the path of ${WHAT_FOLDER}.` +
      (close.length ? ` Did you mean ${close.map((n) => `'${n}'`).join(' or ')}?` : ''),
  );
}
