/**
 * The page chromium.test.ts loads: backend-web's plug-ins plus the shared conformance suite
 * (packages/backend-node/src/conformance.ts), bundled by esbuild. The test calls
 * `window.resnetConformance(engine)`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { useBackend, probeBackends } from '@resnet-ts/core';
import { configureBackendWeb } from '@resnet-ts/backend-web';
import { createModel } from '@resnet-ts/zoo';
import { conformanceCases, runCase, type CaseResult } from '../../../backend-node/src/conformance';

configureBackendWeb({ wasmPaths: '/wasm/' });

interface PageReport {
  engine: string;
  available: boolean;
  reason?: string;
  results: CaseResult[];
  leaked: number;
}

async function run(engine: string): Promise<PageReport> {
  const probed = await probeBackends();
  const p = probed.find((x) => x.plugin.name === engine);
  if (!p || !p.availability.available)
    return { engine, available: false, reason: p?.availability.reason ?? 'not registered', results: [], leaked: 0 };
  await useBackend('cpu');
  const before = tf.memory().numTensors;
  const results: CaseResult[] = [];
  for (const c of conformanceCases({ createModel })) results.push(await runCase(c, engine, { switchBackend: (n) => useBackend(n) }));
  await useBackend('cpu');
  return { engine, available: true, reason: p.availability.reason, results, leaked: tf.memory().numTensors - before };
}

async function engines() {
  return (await probeBackends()).map((p) => ({ name: p.plugin.name, priority: p.priority, ...p.availability }));
}

Object.assign(window as unknown as Record<string, unknown>, { resnetConformance: run, resnetEngines: engines });
document.title = 'ready';
