/**
 * @resnet-ts/zoo/node: file access to the trained weights, model cards and sample images shipped
 * in this package (Node only; in a browser, serve `node_modules/@resnet-ts/zoo/weights/*` as static
 * assets and decode them with `decodeSafetensors` from @resnet-ts/core).
 */
import path from 'node:path';
import fs from 'node:fs';
import { SpecError } from '@resnet-ts/core';
import { ModelCard, PRETRAINED, findPretrained } from './pretrained.js';

const PACKAGE_DIR = path.join(__dirname, '..');

const WEIGHTS_DIR = path.join(PACKAGE_DIR, 'weights');

/**
 * The path of the weights file of a shipped model (Node only; in a browser serve the file from
 * `node_modules/@resnet-ts/zoo/weights/` as a static asset). The file is a resnet-ts checkpoint:
 * `loadCheckpoint(path)` from `@resnet-ts/core/node` rebuilds the model from its stored spec.
 */
export function pretrainedWeightsPath(name: string): string {
  const entry = findPretrained(name);
  if (!entry) {
    throw new SpecError(`No shipped weights called '${name}'. Shipped: ${PRETRAINED.map((e) => e.name).join(', ')}.`);
  }
  const file = path.join(WEIGHTS_DIR, entry.file);
  if (!fs.existsSync(file)) {
    throw new SpecError(`The weights of '${name}' are missing from this install (${file}); reinstall @resnet-ts/zoo.`);
  }
  return file;
}

/** The model card of a shipped model (accuracy measured, recipe, command and time to reproduce). */
export function modelCard(name: string): ModelCard {
  const file = pretrainedWeightsPath(name).replace(/\.safetensors$/, '.card.json');
  return JSON.parse(fs.readFileSync(file, 'utf8')) as ModelCard;
}

/**
 * Bundled sample images of a shipped model (PNG, from the data set's test split; see
 * samples/<name>/labels.json) with their true labels.
 */
export function sampleImages(name: string): { file: string; label: string }[] {
  pretrainedWeightsPath(name);
  const dir = path.join(PACKAGE_DIR, 'samples', name);
  const labelsFile = path.join(dir, 'labels.json');
  if (!fs.existsSync(labelsFile)) return [];
  const labels = JSON.parse(fs.readFileSync(labelsFile, 'utf8')) as Record<string, string>;
  return Object.keys(labels)
    .sort()
    .map((f) => ({ file: path.join(dir, f), label: labels[f] }));
}
