/**
 * The example page: ResNet-20 (and plain-20) trained on Fashion-MNIST, shipped in @resnet-ts/zoo,
 * running on the best browser engine @resnet-ts/backend-web finds.
 *
 * Query parameters (all optional): `backend=auto|webgpu|webgl|wasm|cpu` (default auto), `n=<test
 * images for the lesion and backend runs>` (default 500), `weights=<url>` / `plainWeights=<url>`
 * (other checkpoints for ResNet-20 / plain-20), `threads=<1..8>` (wasm threads in a cross-origin-isolated
 * page; default one per core, at most 8).
 */
import * as tf from '@tensorflow/tfjs-core';
import { findPretrained } from '@resnet-ts/zoo';
import { PageError, accuracy, applyLesion, canDelete, classify, loadNet, loadTestSet, type Net, type TestSet } from './nets';
import { decodeImage, showGrey, toGrey28, type Grey28 } from './images';
import { currentEngine, fillBackendSelect, probeEngines, switchBackend } from './engines';
import { configureWasm, wantedWasmThreads } from './wasm-threads';
import { $, app, asset, params, pct, queueSettled, serial, setStatus, showError, weightsProgress } from './page';

/** The zoo's weight files, by their PRETRAINED entries (the file names are the zoo's). */
const RESNET_FILE = findPretrained('resnet20-fashion-mnist')?.file ?? 'resnet20-fashion-mnist.safetensors';
const PLAIN_FILE = findPretrained('plain20-fashion-mnist')?.file ?? 'plain20-fashion-mnist.safetensors';
const SAMPLES = 'zoo/samples/resnet20-fashion-mnist/';
const TESTSET = 'fashion-mnist-test-500.bin';

// ---- state ---------------------------------------------------------------------------------------
let resnet: Net | undefined;
let plain: Net | undefined;
let testSet: TestSet | undefined;
const off = new Set<number>();
let current: { image: Grey28; source: string } | undefined;

async function warmUp(): Promise<void> {
  // The first pass on a backend compiles its kernels/shaders: keep that out of the timings.
  for (const net of [resnet, plain]) {
    if (!net) continue;
    const [H, W] = net.input;
    tf.tidy(() => net.model.forward(tf.zeros([1, H, W, 1]), { training: false })).dispose();
    await tf.ready();
  }
  if (resnet) await classify(resnet, new Uint8Array(784));
}

// ---- classify ----------------------------------------------------------------------------------
async function classifyImage(image: Grey28, source: string): Promise<void> {
  current = { image, source };
  showGrey($<HTMLCanvasElement>('#seen'), image.pixels);
  $('#seen-note').textContent = `What the net sees (28x28): ${image.note}`;
  if (!resnet) return;
  const net = resnet;
  const { top, ms } = await serial(() => classify(net, image.pixels));
  const list = $('#top5');
  list.dataset.source = source;
  list.dataset.top = top[0].label;
  list.replaceChildren(
    ...top.map((t) => {
      const li = document.createElement('li');
      li.dataset.label = t.label;
      li.dataset.p = String(t.p);
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.style.width = `${Math.max(2, Math.round(110 * t.p))}px`;
      li.append(bar, `${t.label}  ${(100 * t.p).toFixed(1)} %`);
      return li;
    }),
  );
  const lesioned = net.model.blocks().filter((b) => !b.branchEnabled).length;
  $('#timing').textContent =
    `${source}: forward pass ${ms.toFixed(1)} ms on ${currentEngine()} (1 image, ResNet-20${lesioned ? `, ${lesioned} block(s) lesioned` : ''})`;
  $('#timing').dataset.ms = String(ms);
}

async function classifyFile(file: File): Promise<void> {
  try {
    await classifyImage(await decodeImage(file, file.name), file.name);
  } catch (e) {
    showError(e);
  }
}

async function loadSamples(): Promise<void> {
  let labels: Record<string, string>;
  try {
    const res = await fetch(asset(`${SAMPLES}labels.json`));
    if (!res.ok) throw new PageError(`Cannot read the sample list ${SAMPLES}labels.json: HTTP ${res.status}`);
    labels = (await res.json()) as Record<string, string>;
  } catch (e) {
    showError(e instanceof PageError ? e : new PageError(`Cannot read the sample list ${SAMPLES}labels.json: ${(e as Error).message}`));
    return;
  }
  $('#samples').replaceChildren(
    ...Object.keys(labels)
      .sort()
      .map((file) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.title = `${file} (true class: ${labels[file]})`;
        b.dataset.file = file;
        b.dataset.label = labels[file];
        const img = document.createElement('img');
        img.src = asset(SAMPLES + file);
        img.alt = labels[file];
        b.append(img);
        b.addEventListener('click', async () => {
          try {
            const res = await fetch(asset(SAMPLES + file));
            if (!res.ok) throw new PageError(`Cannot read the image ${file}: HTTP ${res.status}`);
            await classifyImage(await decodeImage(await res.blob(), file), file);
          } catch (e) {
            showError(e);
          }
        });
        return b;
      }),
  );
}

function setUpInputs(): void {
  const input = $<HTMLInputElement>('#file');
  input.addEventListener('change', () => {
    if (input.files?.[0]) void classifyFile(input.files[0]);
    input.value = '';
  });
  const drop = $('#drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const file = e.dataTransfer?.files?.[0];
    if (file) void classifyFile(file);
    else showError(new PageError('Cannot read what was dropped: drop an image file.'));
  });
  // The drawing pad: light strokes on black, like the data set.
  const pad = $<HTMLCanvasElement>('#pad');
  const ctx = pad.getContext('2d')!;
  const clear = () => {
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, pad.width, pad.height);
  };
  clear();
  let last: [number, number] | null = null;
  const at = (e: PointerEvent): [number, number] => {
    const r = pad.getBoundingClientRect();
    return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height];
  };
  pad.addEventListener('pointerdown', (e) => {
    pad.setPointerCapture(e.pointerId);
    last = at(e);
  });
  pad.addEventListener('pointermove', (e) => {
    if (!last) return;
    const p = at(e);
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 16;
    ctx.lineCap = ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(...last);
    ctx.lineTo(...p);
    ctx.stroke();
    last = p;
  });
  const end = () => {
    if (last) void classifyImage(toGrey28(pad, pad.width, pad.height), 'drawing');
    last = null;
  };
  pad.addEventListener('pointerup', end);
  pad.addEventListener('pointercancel', () => (last = null));
  $('#clear').addEventListener('click', clear);
  $('#classify-drawing').addEventListener('click', () => void classifyImage(toGrey28(pad, pad.width, pad.height), 'drawing'));
}

// ---- lesion ------------------------------------------------------------------------------------
const baseline = new Map<string, number>();
let lesionRuns = 0;
let lesionWanted = false;

function renderRow(id: string, net: Net | undefined, r?: { accuracy: number; ms: number }, note = ''): void {
  const row = $(`#${id}`);
  const cell = (c: string) => row.querySelector(`.${c}`) as HTMLElement;
  if (!net || !r) {
    cell('now').textContent = net ? '…' : 'no weights';
    return;
  }
  const base = baseline.get(net.name);
  row.dataset.base = String(base ?? '');
  row.dataset.now = String(r.accuracy);
  cell('base').textContent = base === undefined ? '' : pct(base);
  cell('now').textContent = pct(r.accuracy) + note;
  const d = base === undefined ? 0 : r.accuracy - base;
  cell('delta').textContent = off.size ? `${d >= 0 ? '+' : ''}${(100 * d).toFixed(1)} pts` : '';
  cell('delta').className = `delta${d < -0.1 ? ' drop-neg' : ''}`;
  cell('ms').textContent = `${Math.round(r.ms)} ms`;
}

async function runLesion(): Promise<void> {
  if (!testSet) return;
  const set = testSet;
  const status = $('#lesion-status');
  status.dataset.state = 'running';
  status.textContent = `running ${set.count} test images on ${currentEngine()}…`;
  const notes: string[] = [];
  for (const [id, net] of [
    ['acc-resnet', resnet],
    ['acc-plain', plain],
  ] as const) {
    if (!net) {
      renderRow(id, undefined);
      continue;
    }
    let intact: Awaited<ReturnType<typeof accuracy>> | undefined;
    if (!baseline.has(net.name)) {
      applyLesion(net, new Set());
      intact = await accuracy(net, set);
      baseline.set(net.name, intact.accuracy);
    }
    const applied = applyLesion(net, off);
    const kept = [...off].filter((i) => !applied.includes(i));
    if (kept.length) {
      const names = net.model.blockNames();
      notes.push(`${net.name} keeps ${kept.map((i) => names[i]).join(', ')} (changes the shape; no shortcut to fall back on)`);
    }
    // Nothing lesioned and the intact run just done: no need to run the same batch twice.
    renderRow(id, net, applied.length === 0 && intact ? intact : await accuracy(net, set), kept.length ? ' *' : '');
  }
  lesionRuns++;
  status.dataset.state = 'done';
  status.dataset.run = String(lesionRuns);
  status.textContent = `${set.count} test images on ${currentEngine()}, ${off.size ? `${off.size} block(s) off` : 'all blocks on'}.${notes.length ? ' * ' + notes.join('; ') + '.' : ''}`;
}

/** Reruns after a toggle; toggles made while a run is under way are folded into one more run. */
function requestLesion(): Promise<void> {
  if (lesionWanted) return queueSettled().then(() => undefined);
  lesionWanted = true;
  $('#lesion-status').dataset.state = 'running';
  return serial(async () => {
    lesionWanted = false;
    await runLesion();
  });
}

function buildToggles(): void {
  const ref = resnet ?? plain;
  if (!ref) return;
  const names = ref.model.blockNames();
  const plainBlocks = plain?.model.blocks();
  $('#toggles').replaceChildren(
    ...names.map((name, i) => {
      const label = document.createElement('label');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.checked = true;
      box.dataset.block = String(i);
      box.id = `block-${i}`;
      const plainOk = !plainBlocks || canDelete(plainBlocks[i]);
      label.title = plainOk ? `block ${name}` : `block ${name}: plain-20 keeps it (changes the shape)`;
      label.append(box, ` ${name}${plainOk ? '' : '*'}`);
      box.addEventListener('change', () => {
        if (box.checked) off.delete(i);
        else off.add(i);
        label.classList.toggle('off', !box.checked);
        void requestLesion().catch(showError);
      });
      return label;
    }),
  );
}

// ---- compare backends ----------------------------------------------------------------------------
async function compareBackends(): Promise<void> {
  if (!testSet) return;
  const set = testSet;
  const status = $('#compare-status');
  const table = $('#compare-table');
  const body = table.querySelector('tbody')!;
  body.replaceChildren();
  table.hidden = false;
  status.dataset.state = 'running';
  const home = currentEngine();
  const names = [...document.querySelectorAll<HTMLInputElement>('#compare-backends input:checked')].map((b) => b.dataset.backend!);
  try {
    for (const name of names) {
      status.textContent = `running on ${name}…`;
      await switchBackend(name, 'auto');
      await warmUp();
      const row = document.createElement('tr');
      row.dataset.backend = name;
      const cells: string[] = [name];
      let ms = 0;
      for (const net of [resnet, plain]) {
        if (!net) {
          cells.push('no weights');
          continue;
        }
        applyLesion(net, off);
        const r = await accuracy(net, set);
        ms += r.ms;
        row.dataset[net === resnet ? 'resnet' : 'plain'] = String(r.accuracy);
        cells.push(pct(r.accuracy));
      }
      cells.push(`${(ms / set.count / (plain ? 2 : 1)).toFixed(2)}`);
      cells.push(resnet ? `${(await classify(resnet, current?.image.pixels ?? new Uint8Array(784))).ms.toFixed(1)} ms` : '');
      row.replaceChildren(
        ...cells.map((c, i) => {
          const td = document.createElement(i ? 'td' : 'th');
          td.textContent = c;
          return td;
        }),
      );
      body.append(row);
    }
  } finally {
    await switchBackend(home, params.get('backend') ?? 'auto');
  }
  status.dataset.state = 'done';
  status.textContent = `${set.count} test images${off.size ? ` with ${off.size} block(s) off` : ''} on ${names.join(', ') || 'no backend (tick one)'}.`;
}

// ---- start -------------------------------------------------------------------------------------
/** ?threads=, or the default when it is missing or wrong (a wrong one is reported on the page). */
function wasmThreads(): number {
  try {
    return wantedWasmThreads();
  } catch (e) {
    showError(new PageError(`${(e as Error).message} Using the default.`));
    return wantedWasmThreads('');
  }
}

async function start(): Promise<void> {
  // The .wasm files are served under tfjs-wasm/ (resnetTsAssets); threads take effect where the page
  // is cross-origin isolated (vite.config.ts and scripts/static-server.cjs send COOP/COEP).
  configureWasm(asset('tfjs-wasm/'), wasmThreads());
  await probeEngines();
  const requested = params.get('backend') ?? 'auto';
  try {
    await switchBackend(requested, requested);
  } catch (e) {
    showError(new PageError(`${(e as Error).message} Falling back to auto.`));
    await switchBackend('auto', 'auto');
  }
  fillBackendSelect();
  setUpInputs();
  const n = Number(params.get('n') ?? 500);
  $('#n-images').textContent = String(n);
  setStatus('Loading the weights and test images…');
  const progress = weightsProgress(2);
  const [r, p, t] = await Promise.allSettled([
    loadNet('ResNet-20', params.get('weights') ?? asset(`zoo/weights/${RESNET_FILE}`), progress(0)),
    loadNet('plain-20', params.get('plainWeights') ?? asset(`zoo/weights/${PLAIN_FILE}`), progress(1)),
    loadTestSet(asset(TESTSET), Number.isFinite(n) && n > 0 ? n : 500),
  ]);
  if (r.status === 'fulfilled') resnet = r.value;
  else showError(r.reason);
  if (p.status === 'fulfilled') plain = p.value;
  else showError(p.reason);
  if (t.status === 'fulfilled') testSet = t.value;
  else showError(t.reason);
  $('#n-images').textContent = String(testSet?.count ?? n);
  await loadSamples();
  await serial(warmUp);
  buildToggles();
  $<HTMLSelectElement>('#backend-select').addEventListener('change', (e) => {
    const name = (e.target as HTMLSelectElement).value;
    void serial(async () => {
      await switchBackend(name);
      baseline.clear();
      await warmUp();
    })
      .then(() => requestLesion())
      .then(() => current && classifyImage(current.image, current.source))
      .catch(showError);
  });
  $('#compare').addEventListener('click', () => void serial(compareBackends).catch(showError));
  setStatus(`Ready: ${[resnet && 'ResNet-20', plain && 'plain-20'].filter(Boolean).join(' and ') || 'no model'} loaded.`);
  await requestLesion();
  app.dataset.state = 'ready';
}

start().catch((e) => {
  showError(e);
  setStatus('Failed to start.');
  app.dataset.state = 'error';
});
