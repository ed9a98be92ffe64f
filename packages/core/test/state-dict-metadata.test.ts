/**
 * A torchvision state dict written by resnet-ts keeps the spec, classes and preprocessing in its
 * metadata (`stateDictMetadata`, read back by `parseCheckpointMetadata`); `hiddenArchitecture` names
 * what its keys alone cannot say (plain vs residual, ResNet v1 vs v1.5, option A's padding); and
 * `inferSpec` tells pre-activation blocks by their bn1 (over conv1's input), with or without a final
 * batch norm, and refuses conv-only shortcut projections in one line. On real files written and
 * read back by core's Node helpers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  RawStateDict,
  ResNet,
  ResNetSpec,
  UnsupportedArchitectureError,
  hiddenArchitecture,
  inferSpec,
  parseCheckpointMetadata,
  specDifferences,
  stateDictMetadata,
} from '@resnet-ts/core';
import { openSafetensors, readWeightsFile, saveSafetensors } from '@resnet-ts/core/node';
import { getModelSpec } from '@resnet-ts/zoo';
import { useBackend } from './setup.js';

let dir: string;
beforeAll(async () => {
  await useBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resnet-sd-meta-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Writes the torch-layout state dict of `spec`'s model (minus `drop`) with `metadata`; returns the file. */
async function writeStateDict(name: string, spec: ResNetSpec, metadata: Record<string, string> = {}, drop = /^$/): Promise<string> {
  const model = new ResNet(spec);
  const state = model.stateDict({ layout: 'torch' });
  const file = path.join(dir, `${name}.safetensors`);
  try {
    await saveSafetensors(file, new Map([...state].filter(([k]) => !drop.test(k))), metadata);
  } finally {
    for (const t of state.values()) t.dispose();
    model.dispose();
  }
  return file;
}

/** The tensor names and shapes of a safetensors file (its header only). */
function shapesOf(file: string): [string, number[]][] {
  const f = openSafetensors(file);
  try {
    return f.entries.map((e) => [e.name, e.shape]);
  } finally {
    f.close();
  }
}

test('stateDictMetadata: format pt and the fields of a checkpoint, read back by parseCheckpointMetadata', async () => {
  const spec = getModelSpec('plain20', { inChannels: 1 });
  const classes = Array.from({ length: 10 }, (_, i) => `c${i}`);
  const file = await writeStateDict('plain', spec, stateDictMetadata(spec, { classes, preprocessing: { mean: [0.5], std: [0.25] } }));
  const raw = readWeightsFile(file);
  const info = parseCheckpointMetadata(raw.metadata, file);
  expect(info).toMatchObject({ format: 'pt', spec, classes, preprocessing: { mean: [0.5], std: [0.25] }, extraPrefixes: [] });
  expect(() => stateDictMetadata(spec, { classes: ['a'] })).toThrow('1 class names given for a model with 10 outputs.');
});

test.each<[string, ResNetSpec, { field: string; actual: RegExp; instead: string }[]]>([
  ['resnet20', getModelSpec('resnet20'), []],
  ['resnet20, padding after given', getModelSpec('resnet20', { shortcutParams: { padding: 'after' } }), []],
  ['resnet50', { ...getModelSpec('resnet50'), numClasses: 10 }, []],
  ['preact-resnet18', { ...getModelSpec('preact-resnet18'), numClasses: 10 }, []],
  [
    'plain20',
    getModelSpec('plain20'),
    [{ field: 'residual', actual: /^this net is plain \(no shortcuts\)$/, instead: 'a residual resnet20' }],
  ],
  [
    'resnet50-v1',
    { ...getModelSpec('resnet50-v1'), numClasses: 10 },
    [
      {
        field: 'strideMode',
        actual: /^this resnet50 is ResNet v1 /,
        instead: "ResNet v1.5 (a bottleneck's stride on its 3x3 conv, as torchvision's)",
      },
    ],
  ],
  [
    'resnet20, padding split',
    getModelSpec('resnet20', { shortcutParams: { padding: 'split' } }),
    [
      {
        field: 'shortcutParams',
        actual: /half before and half after .*\(padding 'split'\)$/,
        instead: 'a resnet20 that pads them all after the identity channels',
      },
    ],
  ],
])('hiddenArchitecture: %s', async (name, spec, want) => {
  const file = await writeStateDict(name.replace(/\W+/g, '_'), spec);
  const facts = hiddenArchitecture(spec, shapesOf(file));
  expect(facts.map((f) => f.field)).toEqual(want.map((w) => w.field));
  facts.forEach((f, i) => {
    expect(f.actual).toMatch(want[i].actual);
    expect(f.instead).toBe(want[i].instead);
  });
});

/** kuangliu-style CIFAR pre-activation net: bare 3x3 stem, preact-basic blocks, no final batch norm. */
const PREACT: ResNetSpec = {
  stem: 'cifar',
  stemWidth: 8,
  stemNorm: 'none',
  finalNorm: 'none',
  stages: [8, 16, 32].map((width, i) => ({ block: 'preact-basic', width, depth: 2, stride: i === 0 ? 1 : 2 })),
  shortcut: 'B',
  numClasses: 10,
};

test('inferSpec: pre-activation blocks without a final batch norm (bn1 over the input channels), not post-activation ones', async () => {
  const raw: RawStateDict = readWeightsFile(await writeStateDict('preact', PREACT));
  const spec = inferSpec(raw);
  expect(specDifferences(spec, PREACT)).toEqual([]);
  expect(spec.stages.map((s) => s.block)).toEqual(['preact-basic', 'preact-basic', 'preact-basic']);
  // Post-activation blocks of the same shapes stay basic (their bn1 is over conv1's output).
  const post = { ...getModelSpec('resnet20'), stages: PREACT.stages.map((s) => ({ ...s, block: 'basic' })), stemWidth: 8, shortcut: 'B' };
  expect(specDifferences(inferSpec(readWeightsFile(await writeStateDict('post', post))), post)).toEqual([]);
});

test('inferSpec: conv-only shortcut projections (kuangliu PreActResNet) are refused in one line saying what is not built', async () => {
  const raw = readWeightsFile(await writeStateDict('convonly', PREACT, {}, /downsample\.1\./));
  let error: unknown;
  try {
    inferSpec(raw);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(UnsupportedArchitectureError);
  expect((error as Error).message).toMatch(
    /^These weights are of an architecture resnet-ts does not build: a pre-activation net without a final batch norm \(no 'bn.weight'\) and with shortcut projections of a 1x1 conv alone, without a batch norm \(the first in block layer2\.0\), as in kuangliu's CIFAR PreActResNet; resnet-ts's projections are a 1x1 conv and a batch norm\. resnet-ts builds /,
  );
  expect((error as Error).message).not.toContain('\n');
});
