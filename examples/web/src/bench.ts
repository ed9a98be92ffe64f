/**
 * The benchmark page (bench.html): resnet-ts (tfjs wasm, threaded) against onnxruntime-web (wasm
 * execution provider, the same thread count) on the same seeded network, exported to ONNX by
 * @resnet-ts/onnx. Per work: both sides' logits are compared first (a disagreement is reported and the
 * work is not timed), then interleaved rounds, medians. Then both on WebGPU where the browser offers
 * an adapter (resnet-ts on tfjs's WebGPU backend, onnxruntime-web on its WebGPU execution provider),
 * each checked against onnxruntime-web's wasm logits.
 *
 * Query parameters (all optional): `works=resnet20:64,resnet50:1`, `rounds=7`, `threads=<1..8>`
 * (default one per core, at most 8), `webgpu=<works>|none` (default resnet20:8), `webgpuRounds=2`,
 * `logits=1` (put the logits into the result, for tests).
 *
 * The result: `#result` holds the JSON (`data-state` running | done | error); scripts/bench-browser.mjs reads it.
 */
/// <reference types="vite/client" />
import { useBackend } from '@resnet-ts/core';
import ortGlueUrl from 'onnxruntime-web/ort-wasm-simd-threaded.mjs?url';
import ortWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import ortAsyncifyGlueUrl from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.mjs?url';
import ortAsyncifyWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';
import { webgpuPlugin } from '@resnet-ts/backend-web';
import {
  agreement,
  inputData,
  inputDims,
  interleaved,
  median,
  onnxBytes,
  oursRunner,
  ortRunner,
  parseWorks,
  seededModel,
  workLabel,
  type Agreement,
  type BenchWork,
  type Runner,
} from './bench-runtimes';
import { configureWasm, wantedWasmThreads, wasmThreading } from './wasm-threads';

/** One timed side of a work. */
interface Timed {
  runtime: string;
  /** Its logits against the reference (onnxruntime-web on wasm), where the row is not the reference itself. */
  agreement?: Agreement;
  /** Median ms of the timed rounds. */
  ms: number;
  times: number[];
}

/** One work's result. */
interface WorkResult extends BenchWork {
  /** resnet-ts's logits against onnxruntime-web's, from the first (untimed) run of each. */
  agreement?: Agreement;
  rows: Timed[];
  /** resnet-ts median / onnxruntime-web median (below 1: resnet-ts is faster). */
  ratio?: number;
  logits?: { resnetTs: number[]; onnxruntime: number[] };
}

/** What the page reports. */
interface BenchResult {
  userAgent: string;
  crossOriginIsolated: boolean;
  hardwareConcurrency: number;
  threads: { resnetTs: number; onnxruntime: number };
  tfjsWasmBinary: string;
  onnxruntimeWeb: string;
  rounds: number;
  works: WorkResult[];
  webgpu: { adapter?: string; software?: boolean; skipped?: string; note?: string; rounds?: number; works: WorkResult[] };
  errors: string[];
}

/**
 * WebGPU's default work: small, because here WebGPU is SwiftShader, which runs ResNet-20 batch 8 in
 * ~6 s on 2 busy cores (batch 64 would take ~45 s a run, ResNet-50 minutes).
 */
const DEFAULT_WEBGPU = 'resnet20:8';

type Ort = typeof import('onnxruntime-web');

const $ = (sel: string) => document.querySelector(sel) as HTMLElement;
const asset = (p: string) => new URL(p, document.baseURI).href;

function setStatus(text: string): void {
  $('#bench-status').textContent = text;
}

function positiveInt(q: URLSearchParams, name: string, fallback: number): number {
  const raw = q.get(name);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error(`?${name}=${raw}: give a whole number from 1 to 1000.`);
  return n;
}

function addRow(w: BenchWork, cells: string[]): void {
  const tr = document.createElement('tr');
  tr.append(...[workLabel(w), ...cells].map((c) => Object.assign(document.createElement('td'), { textContent: c })));
  $('#bench-table tbody').append(tr);
}

const fmtDiff = (a?: Agreement) => (a ? `${a.maxAbsDiff.toExponential(1)}${a.agree ? '' : ' DISAGREE'}` : '');

/** Runs the two untimed warm-ups of each side; the first one's logits are compared. */
async function warmUpAndCompare(mine: Runner, ref: Runner | Float32Array, out: WorkResult, keepLogits: boolean): Promise<void> {
  const theirs = ref instanceof Float32Array ? ref : await ref.run();
  const ours = await mine.run();
  out.agreement = agreement(ours, theirs);
  if (keepLogits) out.logits = { resnetTs: [...ours], onnxruntime: [...theirs] };
  await mine.run();
  if (!(ref instanceof Float32Array)) await ref.run();
}

/** resnet-ts (wasm) against onnxruntime-web (wasm EP) on one work. */
async function benchWasm(
  ort: Ort,
  w: BenchWork,
  rounds: number,
  keepLogits: boolean,
  result: BenchResult,
): Promise<void> {
  const out: WorkResult = { ...w, rows: [] };
  result.works.push(out);
  setStatus(`${workLabel(w)}: seeded model, ONNX export, onnxruntime-web session…`);
  const model = seededModel(w);
  const nchw = inputData(inputDims(w));
  const ours = oursRunner(model, w, nchw);
  let theirs: Runner | undefined;
  try {
    theirs = await ortRunner(ort, onnxBytes(model), w, nchw);
    setStatus(`${workLabel(w)}: warm-up and logits check…`);
    await warmUpAndCompare(ours, theirs, out, keepLogits);
    if (!out.agreement!.agree) {
      result.errors.push(`${workLabel(w)}: resnet-ts and onnxruntime-web disagree (max abs diff ${out.agreement!.maxAbsDiff}): not timed.`);
      return;
    }
    setStatus(`${workLabel(w)}: ${rounds} interleaved rounds…`);
    const [t1, t2] = await interleaved([ours, theirs], rounds);
    out.rows = [
      { runtime: 'resnet-ts wasm', ms: median(t1), times: t1 },
      { runtime: 'onnxruntime-web wasm', ms: median(t2), times: t2 },
    ];
    out.ratio = out.rows[0].ms / out.rows[1].ms;
    addRow(w, ['resnet-ts wasm', out.rows[0].ms.toFixed(1), out.ratio.toFixed(2), fmtDiff(out.agreement)]);
    addRow(w, ['onnxruntime-web wasm', out.rows[1].ms.toFixed(1), '1.00', '(reference)']);
  } finally {
    ours.dispose();
    await theirs?.dispose();
    model.dispose();
  }
}

/** A work's ONNX bytes and onnxruntime-web's wasm logits for them: what the WebGPU rows are checked against. */
interface OrtReference {
  bytes: Uint8Array;
  logits: Float32Array;
}

/** The ONNX bytes of a work's seeded model and onnxruntime-web's logits for them (wasm EP), made on the current tfjs backend. */
async function ortReference(ort: Ort, w: BenchWork): Promise<OrtReference> {
  const model = seededModel(w);
  try {
    const bytes = onnxBytes(model);
    const theirs = await ortRunner(ort, bytes, w, inputData(inputDims(w)));
    return { bytes, logits: await theirs.run().finally(() => theirs.dispose()) };
  } finally {
    model.dispose();
  }
}

/**
 * resnet-ts and onnxruntime-web (its WebGPU execution provider) on WebGPU on one work, each checked
 * against onnxruntime-web's wasm logits before the two are timed in interleaved rounds.
 */
async function benchWebgpu(ortGpu: Ort, w: BenchWork, reference: OrtReference, rounds: number, result: BenchResult): Promise<void> {
  const out: WorkResult = { ...w, rows: [] };
  result.webgpu.works.push(out);
  setStatus(`${workLabel(w)} on WebGPU: compiling shaders…`);
  const model = seededModel(w);
  const nchw = inputData(inputDims(w));
  const ours = oursRunner(model, w, nchw);
  let theirs: Runner | undefined;
  try {
    await warmUpAndCompare(ours, reference.logits, out, false);
    theirs = await ortRunner(ortGpu, reference.bytes, w, nchw, 'webgpu');
    const theirsAgreement = agreement(await theirs.run(), reference.logits);
    await theirs.run();
    for (const [who, a] of [
      ['resnet-ts', out.agreement!],
      ['onnxruntime-web', theirsAgreement],
    ] as const) {
      if (!a.agree) result.errors.push(`${workLabel(w)}: ${who} on WebGPU disagrees with onnxruntime-web on wasm (max abs diff ${a.maxAbsDiff}): not timed.`);
    }
    if (!out.agreement!.agree || !theirsAgreement.agree) return;
    setStatus(`${workLabel(w)} on WebGPU: ${rounds} interleaved rounds…`);
    const [t1, t2] = await interleaved([ours, theirs], rounds);
    out.rows = [
      { runtime: 'resnet-ts webgpu', ms: median(t1), times: t1, agreement: out.agreement },
      { runtime: 'onnxruntime-web webgpu', ms: median(t2), times: t2, agreement: theirsAgreement },
    ];
    out.ratio = out.rows[0].ms / out.rows[1].ms;
    const sw = result.webgpu.software ? ' (software adapter)' : '';
    addRow(w, [`resnet-ts webgpu${sw}`, out.rows[0].ms.toFixed(1), out.ratio.toFixed(2), fmtDiff(out.agreement)]);
    addRow(w, [`onnxruntime-web webgpu${sw}`, out.rows[1].ms.toFixed(1), '1.00', fmtDiff(theirsAgreement)]);
  } finally {
    ours.dispose();
    await theirs?.dispose();
    model.dispose();
  }
}

async function benchAllWebgpu(ort: Ort, works: BenchWork[], rounds: number, result: BenchResult): Promise<void> {
  if (!works.length) return void (result.webgpu.skipped = 'not asked for (webgpu=none)');
  const probe = await webgpuPlugin.isAvailable();
  if (!probe.available) return void (result.webgpu.skipped = probe.reason ?? 'no WebGPU adapter');
  result.webgpu.adapter = probe.reason;
  result.webgpu.software = probe.priority !== undefined && probe.priority < webgpuPlugin.priority;
  result.webgpu.rounds = rounds;
  result.webgpu.note = result.webgpu.software
    ? 'WebGPU runs on a software adapter (SwiftShader: the shaders execute on the CPU). These rows show that both ' +
      "runtimes' WebGPU paths give the same logits as onnxruntime-web on wasm and what they cost on this CPU; " +
      'they say nothing about speed on a real GPU, nor which runtime would be faster there.'
    : 'WebGPU runs on a GPU adapter.';
  // The references first, on wasm: the export reads every weight back, which WebGPU would do with a sync read per tensor.
  const references: OrtReference[] = [];
  for (const w of works) references.push(await ortReference(ort, w));
  await useBackend('webgpu');
  // onnxruntime-web's WebGPU build: its own module, glue and binary (asyncify), same thread count for its CPU part.
  const ortGpu = await import('onnxruntime-web/webgpu');
  ortGpu.env.wasm.wasmPaths = { mjs: asset(ortAsyncifyGlueUrl), wasm: asset(ortAsyncifyWasmUrl) };
  ortGpu.env.wasm.numThreads = ort.env.wasm.numThreads;
  for (const [i, w] of works.entries()) await benchWebgpu(ortGpu, w, references[i], rounds, result);
}

async function main(result: BenchResult): Promise<void> {
  const q = new URLSearchParams(location.search);
  const works = parseWorks(q.get('works') ?? 'resnet20:64,resnet50:1');
  const rounds = positiveInt(q, 'rounds', 7);
  const gpuWorks = parseWorks(q.get('webgpu') ?? DEFAULT_WEBGPU);
  const gpuRounds = positiveInt(q, 'webgpuRounds', 2);
  const threads = wantedWasmThreads();
  const keepLogits = q.get('logits') === '1';

  setStatus('Starting tfjs wasm…');
  configureWasm(asset('tfjs-wasm/'), threads);
  await useBackend('wasm');
  const wasm = wasmThreading();
  $('#bench-threads').textContent = wasm.summary;
  const ort = await import('onnxruntime-web/wasm');
  // Its Emscripten glue (also the script of its thread workers) and binary, served by Vite as assets.
  ort.env.wasm.wasmPaths = { mjs: asset(ortGlueUrl), wasm: asset(ortWasmUrl) };
  ort.env.wasm.numThreads = threads;
  Object.assign(result, {
    crossOriginIsolated: wasm.isolated,
    threads: { resnetTs: wasm.threads, onnxruntime: wasm.isolated ? threads : 1 },
    tfjsWasmBinary: wasm.binary,
    onnxruntimeWeb: ort.env.versions.web ?? 'unknown',
    rounds,
  });
  for (const w of works) await benchWasm(ort, w, rounds, keepLogits, result);
  await benchAllWebgpu(ort, gpuWorks, gpuRounds, result);
  if (result.webgpu.note || result.webgpu.skipped) $('#bench-webgpu').textContent = result.webgpu.note ?? `WebGPU: ${result.webgpu.skipped}`;
}

const result: BenchResult = {
  userAgent: navigator.userAgent,
  crossOriginIsolated: globalThis.crossOriginIsolated === true,
  hardwareConcurrency: navigator.hardwareConcurrency,
  threads: { resnetTs: 0, onnxruntime: 0 },
  tfjsWasmBinary: '',
  onnxruntimeWeb: '',
  rounds: 0,
  works: [],
  webgpu: { works: [] },
  errors: [],
};
const box = $('#result');
box.dataset.state = 'running';
main(result)
  .catch((e: unknown) => result.errors.push(`The benchmark stopped: ${(e as Error)?.message ?? String(e)}`))
  .finally(() => {
    box.textContent = JSON.stringify(result, null, 2);
    box.dataset.state = result.errors.length ? 'error' : 'done';
    setStatus(result.errors.length ? `Finished with errors: ${result.errors.join(' ')}` : 'Done.');
  });
