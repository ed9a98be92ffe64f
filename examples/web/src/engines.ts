/** The engines: probing, switching, explaining the choice, and the engine pickers on the page. */
import { probeBackends, useBackend, type BackendAvailability, type BackendPlugin } from '@resnet-ts/core';
import { $, app } from './page';
import { wasmThreading } from './wasm-threads';

type Probed = { plugin: BackendPlugin; availability: BackendAvailability; priority: number };
let probed: Probed[] = [];
let backend = '';

/** The engine the nets run on now. */
export function currentEngine(): string {
  return backend;
}

/** Asks every registered engine whether it is available here (call once, before switching). */
export async function probeEngines(): Promise<void> {
  probed = await probeBackends();
}

function explain(chosen: string, requested: string): string {
  const me = probed.find((p) => p.plugin.name === chosen);
  const why = me?.availability.reason ? ` (${me.availability.reason})` : '';
  if (requested !== 'auto') return `requested with ?backend=${requested}${why}`;
  const better = probed
    .filter((p) => p.plugin.name !== chosen && me && p.plugin.priority > me.plugin.priority)
    .sort((a, b) => b.plugin.priority - a.plugin.priority)
    .map(
      (p) => `${p.plugin.name} ${p.availability.available ? 'not picked' : 'unavailable'}: ${p.availability.reason ?? 'no reason given'}`,
    );
  return `${better.length ? better.join('; ') + ' → ' : ''}picked ${chosen}${why}`;
}

function describeHardware(): void {
  const me = probed.find((p) => p.plugin.name === backend);
  const el = $('#no-gpu');
  const software = /software|swiftshader|fallback/i.test(me?.availability.reason ?? '');
  if (backend === 'wasm' || backend === 'cpu') {
    el.textContent = `No GPU in use: the nets run on the CPU (${backend === 'wasm' ? 'WebAssembly, XNNPACK' : 'plain JavaScript'}). Everything works, only slower.`;
  } else if (software) {
    el.textContent = `${backend} runs on a software rasteriser (no GPU here): correct, but slower than a real GPU.`;
  } else {
    el.textContent = '';
  }
  el.hidden = !el.textContent;
}

/** The #wasm-threads line: threads, binary and isolation of the wasm engine (hidden on other engines). */
function describeWasmThreads(): void {
  const el = $('#wasm-threads');
  el.hidden = backend !== 'wasm';
  if (el.hidden) return;
  const t = wasmThreading();
  el.textContent = t.summary;
  el.dataset.isolated = String(t.isolated);
  el.dataset.threads = String(t.threads);
  el.dataset.binary = t.binary;
}

export async function switchBackend(name: string, requested = name): Promise<void> {
  backend = await useBackend(name);
  $('#backend-name').textContent = backend;
  $('#backend-why').textContent = explain(backend, requested);
  app.dataset.backend = backend;
  ($('#backend-select') as HTMLSelectElement).value = backend;
  describeHardware();
  describeWasmThreads();
}

export function fillBackendSelect(): void {
  const sel = $<HTMLSelectElement>('#backend-select');
  sel.replaceChildren(
    ...[...probed]
      .sort((a, b) => b.plugin.priority - a.plugin.priority)
      .map((p) => {
        const o = document.createElement('option');
        o.value = p.plugin.name;
        const slow = p.availability.available && p.priority < p.plugin.priority ? ' (software rasteriser: slow)' : '';
        o.textContent = `${p.plugin.name}${p.availability.available ? slow : ` (unavailable: ${p.availability.reason ?? ''})`}`;
        o.disabled = !p.availability.available;
        return o;
      }),
  );
  sel.value = backend;
  // Ticked by default: the engines that are fast here. Software rasterisers (ranked below wasm by
  // backend-web) and the cpu reference can take minutes for a batch, so they start unticked.
  $('#compare-backends').replaceChildren(
    ...probed
      .filter((p) => p.availability.available)
      .map((p) => {
        const label = document.createElement('label');
        const box = document.createElement('input');
        box.type = 'checkbox';
        box.dataset.backend = p.plugin.name;
        const slow = p.plugin.name === 'cpu' || p.priority < p.plugin.priority;
        box.checked = !slow;
        label.title = p.availability.reason ?? '';
        label.append(box, ` ${p.plugin.name}${slow ? ' (slow here)' : ''}`);
        return label;
      }),
  );
}
