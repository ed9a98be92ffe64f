/**
 * Weights loaded from a file are held once, not twice: once the native engine's compiled plan has
 * copied them, the model lets go of its own copies that can be read again from their file
 * (src/native/deferred-transpose.ts, core's io/rereadable.ts), and reads them back, unchanged, when
 * something needs them again — or says the file changed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setInferencePlan, useBackend, type ResNet } from '@resnet-ts/core';
import { FileError, loadWeightsInto, saveCheckpoint } from '@resnet-ts/core/node';
import { fromPretrained } from '@resnet-ts/zoo/node';
import { createModel } from '@resnet-ts/zoo';
import '../src/index.js';
import { DeferredTransposeValues } from '../src/native/deferred-transpose.js';
import { lastPlanFallback, loadAddon } from '../src/native/index.js';
import { describeNative, expectSameValues, input, logits, planRuns, randomizeBatchNorms } from './plan-helpers.js';

const entryOf = (t: tf.Tensor) => (tf.backend() as unknown as { data: { get(id: object): unknown } }).data.get(t.dataId);
const releasedWeights = (m: ResNet) =>
  m.parameters().filter((w) => {
    const e = entryOf(w);
    return e instanceof DeferredTransposeValues && e.released;
  });

describeNative('weights read again from their file after the plan copied them (native)', () => {
  let dir: string;
  let file: string;
  let source: ResNet;
  beforeAll(async () => {
    await useBackend('native');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'release-sources-'));
    file = path.join(dir, 'r20.safetensors');
    source = createModel('resnet20', { seed: 5 }).eval();
    randomizeBatchNorms(source, 6);
    await saveCheckpoint(file, source);
  });
  afterAll(async () => {
    source.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
    await useBackend('cpu');
  });

  const loaded = () => {
    const m = createModel('resnet20').eval();
    loadWeightsInto(m, file);
    return m;
  };

  test('the plan lets go of the file-backed sources; logits, other shapes and the kernels stay exact', () => {
    const model = loaded();
    const x = input([2, 32, 32, 3]);
    const before = tf.memory().numTensors;
    let planned = new Float32Array();
    expect(planRuns(() => (planned = logits(model, x, true)))).toBe(1);
    // ResNet-20's stage-3 filters (from 16,384 values on, read as views of their own buffers) are let go.
    const released = releasedWeights(model);
    expect(released.length).toBeGreaterThanOrEqual(6);
    expect(released.every((w) => w.rank === 4 && w.shape[3] === 64)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    expectSameValues(planned, logits(source, x, true), 0);
    // The second run rebuilds the plan with its Winograd convs from the file's values, and lets them go again.
    const count = released.length;
    expectSameValues(logits(model, x, true), logits(source, x, true), 0);
    expect(releasedWeights(model)).toHaveLength(count);
    expect(tf.memory().numTensors).toBe(before);

    // A new input shape compiles a new plan from the file's values.
    const x3 = input([3, 32, 32, 3], 9);
    expectSameValues(logits(model, x3, true), logits(source, x3, true), 0);
    // The tfjs kernels (and dataSync) read the released weights back from the file.
    expectSameValues(logits(model, x, false), logits(source, x, false), 0);
    expect(releasedWeights(model)).toHaveLength(0);
    tf.dispose([x, x3]);
    model.dispose();
  });

  test('the same for a checkpoint PyTorch saved (.pth: read storage by storage)', async () => {
    const pth = path.join(__dirname, '..', '..', 'core', 'test', 'fixtures', 'torch', 'cifar-resnet8-optionB.pth');
    const { model } = await fromPretrained(pth);
    const x = input([2, 32, 32, 3], 4);
    const before = logits(model, x, false); // the tfjs kernels: every weight reordered
    const again = (await fromPretrained(pth)).model;
    const planned = logits(again, x, true);
    expect(releasedWeights(again).length).toBeGreaterThanOrEqual(2); // its 64-channel 3x3 filters
    expectSameValues(planned, before, 1e-5);
    expectSameValues(logits(again, x, false), before, 0); // read back from the .pth
    tf.dispose(x);
    model.dispose();
    again.dispose();
  });

  test('a released weight needed again after its file changed is a one-line error, not other values', async () => {
    const model = loaded();
    const x = input([1, 32, 32, 3]);
    const planned = logits(model, x, true);
    const [weight] = releasedWeights(model);
    expect(weight).toBeDefined();
    const other = createModel('resnet20', { seed: 11 });
    await saveCheckpoint(file, other); // a new file under the same name
    try {
      expect(() => weight.dataSync()).toThrow(FileError);
      expect(() => weight.dataSync()).toThrow(/has changed since the model's weights were read from it .*load the model again/);
      const previous = setInferencePlan(false);
      try {
        expect(() => logits(model, x, false)).toThrow(FileError);
      } finally {
        setInferencePlan(previous);
      }
      // The plan keeps running the weights it copied: where oneDNN has Winograd kernels its second run
      // would rebuild it with them from the file, cannot, and says so; never the new file's logits.
      expectSameValues(logits(model, x, true), planned, 0);
      const conv32 = [1, 8, 8, 32, 3, 3, 32, 8, 8, 1, 1, 1, 1, 1, 1, 1, 1];
      if (loadAddon().addon!.convImpl(conv32, 'fwd').includes('wino')) {
        expect(lastPlanFallback() ?? '').toMatch(/kept without Winograd convs: .*has changed/);
      }
      // Gone altogether: the same kind of error, saying so.
      fs.rmSync(file);
      expect(() => weight.dataSync()).toThrow(/cannot be read again \(No such file.*keep the file while the model is in use/);
    } finally {
      await saveCheckpoint(file, source);
      other.dispose();
      tf.dispose(x);
      model.dispose();
    }
  });
});
