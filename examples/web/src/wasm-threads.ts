/**
 * tfjs's wasm backend on threads. In a cross-origin-isolated page (served with
 * `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`) the
 * browser offers SharedArrayBuffer, and tfjs loads `tfjs-backend-wasm-threaded-simd.wasm` and runs
 * XNNPACK on a pool of workers; without the headers it loads `tfjs-backend-wasm-simd.wasm` and runs
 * on one thread (same results, slower). Used by the demo page and the benchmark page.
 */
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { configureBackendWeb } from '@resnet-ts/backend-web';

/** tfjs's threaded binary starts a pool of 8 workers; more threads would start workers while it initialises. */
export const MAX_WASM_THREADS = 8;

/**
 * The thread count to ask for: `?threads=N` (1 to 8) when given, else one per logical core
 * (`navigator.hardwareConcurrency`), at most 8. Throws on a `?threads=` that is not a whole number in range.
 */
export function wantedWasmThreads(search: string = location.search): number {
  const raw = new URLSearchParams(search).get('threads');
  if (raw === null || raw === '') return Math.max(1, Math.min(navigator.hardwareConcurrency || 1, MAX_WASM_THREADS));
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_WASM_THREADS) {
    throw new Error(`?threads=${raw} is not a thread count: give a whole number from 1 to ${MAX_WASM_THREADS}.`);
  }
  return n;
}

let wanted = 1;

/** Asks backend-web's wasm engine for `threads` threads, its binaries served under `wasmPaths`. Call before `useBackend`. */
export function configureWasm(wasmPaths: string, threads: number): void {
  wanted = threads;
  configureBackendWeb({ wasmPaths, wasmThreads: threads });
}

/**
 * Runs `init` (a `useBackend` call that may start the wasm engine) so that tfjs honours the thread
 * count. tfjs 4.22's wasm backend caps XNNPACK's pool at half of `navigator.hardwareConcurrency`
 * (it assumes two hyper-threads per core, backend.cc), read once as it starts: on a 2-core machine
 * that is one thread whatever `setThreadsCount` says. While `init` runs, the page's navigator reports
 * twice the wanted threads, so the cap is the count asked for; afterwards it reports the truth again.
 */
export async function liftingTfjsThreadCap<T>(init: () => Promise<T>): Promise<T> {
  Object.defineProperty(navigator, 'hardwareConcurrency', { configurable: true, get: () => 2 * wanted });
  try {
    return await init();
  } finally {
    delete (navigator as { hardwareConcurrency?: number }).hardwareConcurrency;
  }
}

/** What tfjs's wasm backend got, once initialised. */
export interface WasmThreading {
  /** `crossOriginIsolated` of the page. */
  isolated: boolean;
  /** Threads XNNPACK runs on (tfjs's `getThreadsCount()`). */
  threads: number;
  /** The tfjs wasm binary the page fetched, e.g. `tfjs-backend-wasm-threaded-simd.wasm`. */
  binary: string;
  /** One line for the page. */
  summary: string;
}

/** Describes the initialised wasm backend (call after `useBackend('wasm')`). */
export function wasmThreading(): WasmThreading {
  const isolated = globalThis.crossOriginIsolated === true;
  const threads = getThreadsCount();
  const fetched = performance
    .getEntriesByType('resource')
    .map((e) => e.name.split('?')[0].split('/').pop() ?? '')
    .filter((name) => /^tfjs-backend-wasm[\w-]*\.wasm$/.test(name));
  const binary = fetched.pop() ?? 'unknown';
  const summary = isolated
    ? `wasm on ${threads} thread${threads === 1 ? '' : 's'} (${binary}; the page is cross-origin isolated)`
    : `wasm on ${threads} thread${threads === 1 ? '' : 's'} (${binary}): the page is not cross-origin isolated, ` +
      'so there is no SharedArrayBuffer and tfjs falls back to one thread. Serve it with the COOP/COEP headers (see the README).';
  return { isolated, threads, binary, summary };
}
