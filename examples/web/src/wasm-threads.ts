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

/**
 * Asks backend-web's wasm engine for `threads` threads, its binaries served under `wasmPaths`. Call
 * before `useBackend`; backend-web lifts tfjs's half-the-cores cap so the count is honoured.
 */
export function configureWasm(wasmPaths: string, threads: number): void {
  configureBackendWeb({ wasmPaths, wasmThreads: threads });
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
