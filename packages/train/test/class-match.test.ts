/**
 * Pairing a data set's classes with a model's outputs (`matchClasses`, used by `resnet eval`): by
 * name (ignoring case and punctuation: the folder 'T-shirt_top' is the label 'T-shirt/top'), by
 * number for folders '0', '1', ..., by position only where that is sound (IDX/CIFAR numbering, or
 * equal counts with a note); anything else refused in one line. And `evaluate` with that pairing:
 * a class is scored against ITS output, predictions of other outputs land in an "other" column.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@resnet-ts/backend-node';
import { Module, Shape, Tracer, useBackend } from '@resnet-ts/core';
import { IMAGENET_CLASSES } from '@resnet-ts/zoo';
import { FASHION_MNIST_CLASSES, classKey, evaluate, formatEvalReport, matchClasses } from '../src/index.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const FOLDERS = { folders: true };
const indices = (n: number) => Array.from({ length: n }, (_, i) => String(i));

describe('matchClasses', () => {
  test('folder names match the model labels by name, ignoring case and punctuation, in any order', () => {
    expect(classKey('T-shirt/top')).toBe(classKey('T-shirt_top'));
    expect(classKey('Ankle boot')).toBe(classKey('ankle_boot'));
    const folders = [...FASHION_MNIST_CLASSES.map((c) => c.replace('/', '_'))].sort();
    const m = matchClasses(folders, FASHION_MNIST_CLASSES, FOLDERS);
    expect(m.by).toBe('name');
    expect(folders[0]).toBe('Ankle boot');
    expect(m.outputs[0]).toBe(9);
    expect(m.names[folders.indexOf('T-shirt_top')]).toBe('T-shirt/top');
    expect(Array.from(m.outputs).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(m.note).toBeUndefined();
    // A subset of the model's classes keeps each one's own output.
    expect(Array.from(matchClasses(['coffee', 'moto'], ['astronaut', 'cat', 'coffee', 'moto'], FOLDERS).outputs)).toEqual([2, 3]);
  });

  test("folders named by output number: by number (leading zeros too), whatever the model's labels", () => {
    const m = matchClasses(['3', '7'], FASHION_MNIST_CLASSES, FOLDERS);
    expect([m.by, Array.from(m.outputs), m.names]).toEqual(['number', [3, 7], ['Dress', 'Sneaker']]);
    expect(Array.from(matchClasses(['00', '01', '02'], indices(3), FOLDERS).outputs)).toEqual([0, 1, 2]);
    expect(Array.from(matchClasses(indices(10), FASHION_MNIST_CLASSES, FOLDERS).outputs)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test("folders '0'..'10' for a model without names: refused, since sorted order (ImageFolder's) and numbers disagree", () => {
    const folders = Array.from({ length: 11 }, (_, k) => String(k)).sort();
    expect(() => matchClasses(folders, indices(11), FOLDERS)).toThrow(
      /^The model stores no class names, and the class folders are numbers whose sorted order \(0, 1, 10, 2, .*\) is not their numeric order: folder '10' is output 10 by number but output 2 by ImageFolder's order\. If the folders are output numbers, pad them with zeros \('10', '02'\); if the weights come from ImageFolder on these folders, rename each folder to its place in that order \('10' to '02'\), or use weights that store their class names\.$/,
    );
    // Zero-padded, the two orders agree: paired by number. A model with names pairs by name as before.
    const padded = folders.map((f) => f.padStart(2, '0')).sort();
    expect(Array.from(matchClasses(padded, indices(11), FOLDERS).outputs)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(Array.from(matchClasses(folders, folders, FOLDERS).outputs)).toEqual(folders.map((_, k) => k));
    // Weights that store the names '0'..'10' (a classifier's origin.labels 'named'): paired by name, folder '10' is output 10.
    expect(Array.from(matchClasses(folders, indices(11), { ...FOLDERS, namedOutputs: true }).outputs)).toEqual(folders.map(Number));
  });

  test("punctuation is ignored, not only turned into a separator: 'tshirt-top' is 'T-shirt/top', 'ankleboot' is 'Ankle boot'", () => {
    const m = matchClasses(['ankleboot', 'tshirt-top'], FASHION_MNIST_CLASSES, FOLDERS);
    expect([m.by, Array.from(m.outputs)]).toEqual(['name', [9, 0]]);
  });

  test('a model whose labels are numbers: folders are compared with them as numbers, never taken as output indices', () => {
    // Trained on folders '1', '2', '3' (outputs 0, 1, 2): folders '01', '02' are labels '1' and '2'.
    const m = matchClasses(['01', '02'], ['1', '2', '3'], FOLDERS);
    expect([m.by, Array.from(m.outputs), m.names]).toEqual(['name', [0, 1], ['1', '2']]);
    // Trained on '3', '5', '8': folders '0' and '1' are classes it does not know, not outputs 0 and 1.
    expect(() => matchClasses(['0', '1'], ['3', '5', '8'], FOLDERS)).toThrow(
      /^The data's class folders '0', '1' match none of the model's 3 labels/,
    );
  });

  test("ImageNet's WordNet-ID folders, one per output, are paired in sorted order with a note (torchvision's ImageFolder)", () => {
    const wnids = Array.from({ length: 1000 }, (_, i) => `n${String(1440764 + i).padStart(8, '0')}`);
    const m = matchClasses(wnids, IMAGENET_CLASSES, FOLDERS);
    expect([m.by, m.outputs[0], m.outputs[999], m.names[0]]).toEqual(['position', 0, 999, 'tench']);
    expect(m.note).toMatch(
      /^note: the class folders are named by WordNet ID \(ImageNet's layout\): paired with the model's outputs in sorted order/,
    );
    // Fewer folders than outputs: which IDs they are is unknown, so refused.
    expect(() => matchClasses(wnids.slice(0, 10), IMAGENET_CLASSES, FOLDERS)).toThrow(/match none of the model's 1000 labels/);
  });

  test('a class the model does not know is refused in one line naming it and the labels (truncated), with what to do', () => {
    expect(() => matchClasses(['cat', 'coffee'], FASHION_MNIST_CLASSES, FOLDERS)).toThrow(
      /^The data's class folders 'cat', 'coffee' match none of the model's 10 labels \(T-shirt\/top, Trouser, .*, Ankle boot; compared ignoring case and punctuation\): rename the folders to the model's labels, or evaluate weights trained on these classes\.$/,
    );
    const imagenet = () => matchClasses(['astronaut', 'cat', 'coffee', 'moto'], IMAGENET_CLASSES, FOLDERS);
    expect(imagenet).toThrow(
      /^The data's class folders 'astronaut', 'cat', 'coffee', 'moto' match none of the model's 1000 labels \(tench, goldfish, .*, \.\.\. \(1000 in all\); /,
    );
    expect(() => matchClasses(['Bag', 'zebra'], FASHION_MNIST_CLASSES, FOLDERS)).toThrow(
      /^The data's class folder 'zebra' matches none of/,
    );
    expect(() => matchClasses(['airplane', 'bird'], FASHION_MNIST_CLASSES, { folders: false })).toThrow(
      /: evaluate weights trained on this data set\.$/,
    );
  });

  test('a model without class names: position for IDX/CIFAR numbering; folders only with equal counts and a note, else refused', () => {
    const idx = matchClasses(FASHION_MNIST_CLASSES, indices(10), { folders: false });
    expect([idx.by, Array.from(idx.outputs), idx.names, idx.note]).toEqual([
      'position',
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      FASHION_MNIST_CLASSES,
      undefined,
    ]);
    const folders = matchClasses(['a', 'b', 'c', 'd'], indices(4), FOLDERS);
    expect([folders.by, Array.from(folders.outputs)]).toEqual(['position', [0, 1, 2, 3]]);
    expect(folders.note).toMatch(
      /^note: the model stores no class names: class folders are paired with its outputs in sorted order \('a' = output 0, 'b' = output 1, 'c' = output 2, \.\.\.\)/,
    );
    expect(() => matchClasses(['a', 'b', 'c', 'd'], indices(1000), FOLDERS)).toThrow(
      /^The data has 4 classes \(a, b, c, d\) but the model outputs 1000 and stores no class names to match them by: .*name the class folders by output number \(0 to 999\)\.$/,
    );
    expect(() => matchClasses(indices(12), indices(10), { folders: false })).toThrow(
      /^The data has 12 classes \(0, 1, .*\) but the model outputs 10/,
    );
  });

  test('two folders on one output, and a name several outputs share, are refused', () => {
    expect(() => matchClasses(['Ankle boot', 'ankle_boot'], FASHION_MNIST_CLASSES, FOLDERS)).toThrow(
      /^The class folders 'Ankle boot' and 'ankle_boot' are both the model's output 9 \('Ankle boot'\): merge them into one\.$/,
    );
    // ImageNet's 'Cardigan' (a corgi, 264) and 'cardigan' (a sweater, 474): the exact name decides, else it is ambiguous.
    expect(Array.from(matchClasses(['cardigan', 'Cardigan'], IMAGENET_CLASSES, FOLDERS).outputs)).toEqual([474, 264]);
    expect(() => matchClasses(['CARDIGAN'], IMAGENET_CLASSES, FOLDERS)).toThrow(
      /^The class folder 'CARDIGAN' matches several of the model's outputs \(264 'Cardigan', 474 'cardigan'\): rename it to one of these labels exactly, or name every class folder by its output number \(e\.g\. 264\)\.$/,
    );
  });
});

/** Logits that always favour output `favourite` of `outputs`. */
class Always extends Module {
  constructor(
    private readonly outputs: number,
    private readonly favourite: number,
  ) {
    super();
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() =>
      tf
        .oneHot(tf.fill([x.shape[0]], this.favourite, 'int32'), this.outputs)
        .mul(5)
        .add(tf.mean(x, [1, 2, 3]).reshape([-1, 1]).mul(0)),
    );
  }
  describe(input: Shape, _t: Tracer): Shape {
    return [this.outputs, ...input.slice(3)];
  }
}

describe('evaluate with paired outputs', () => {
  const data = {
    images: new Uint8Array(6 * 4).fill(9),
    labels: Int32Array.from([0, 0, 0, 1, 1, 1]),
    shape: [2, 2, 1] as [number, number, number],
    classes: ['coffee', 'moto'],
  };

  test("a model that always says 'astronaut' scores 0 on folders coffee and moto (not 'coffee 100 %'): predictions in 'other'", () => {
    const model = new Always(4, 0); // outputs: astronaut, cat, coffee, moto
    const prep = { mean: [0], std: [1] };
    evaluate(model, data, { preprocessing: prep, outputs: [2, 3] });
    const before = tf.memory().numTensors;
    const r = evaluate(model, data, { preprocessing: prep, outputs: [2, 3] });
    expect(tf.memory().numTensors).toBe(before);
    expect([r.top1, r.perClass, r.confusion, r.other, r.outputs]).toEqual([
      0,
      [0, 0],
      [
        [0, 0],
        [0, 0],
      ],
      [3, 3],
      4,
    ]);
    const report = formatEvalReport(r);
    expect(report).toMatch(
      /columns: predicted; other: an output that is none of these classes\):\n\s+0\s+1\s+other\n\s+coffee\s+0\s+0\s+3\n\s+moto\s+0\s+0\s+3$/,
    );
    // The same model and data without the pairing: what eval reported before (class k read as output k).
    expect(evaluate(model, data, { preprocessing: prep }).perClass).toEqual([1, 0]);
    // Given the model's labels, evaluate pairs by name itself, as resnet eval does.
    const labels = ['astronaut', 'cat', 'coffee', 'moto'];
    expect(evaluate(new Always(4, 2), data, { preprocessing: prep, labels }).perClass).toEqual([1, 0]);
    expect(evaluate(model, data, { preprocessing: prep, labels }).other).toEqual([3, 3]);
    const right = evaluate(new Always(4, 2), data, { preprocessing: prep, outputs: [2, 3] });
    expect([right.perClass, right.confusion, right.other]).toEqual([
      [1, 0],
      [
        [3, 0],
        [3, 0],
      ],
      [0, 0],
    ]);
  });

  test('outputs beyond the model are refused; a model with as many outputs as classes has no "other" column', () => {
    const prep = { mean: [0], std: [1] };
    expect(() => evaluate(new Always(2, 0), data, { preprocessing: prep, outputs: [1, 2] })).toThrow(
      /Data class 1 is mapped to output 2, but the model outputs 2 classes/,
    );
    const r = evaluate(new Always(2, 1), data, { preprocessing: prep });
    expect(r.other).toBeUndefined();
    expect(formatEvalReport(r)).not.toMatch(/other/);
  });
});
