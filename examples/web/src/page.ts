/** The page: DOM helpers, error list, progress bar, status line, and the one queue every tensor job runs through. */
import { PageError } from './nets';

/** The page's query parameters (?backend=, ?n=, ?weights=, ?plainWeights=). */
export const params = new URLSearchParams(location.search);
/** A URL relative to the page. */
export const asset = (p: string) => new URL(p, document.baseURI).href;

/** The page element matching `sel`. */
export const $ = <T extends HTMLElement = HTMLElement>(sel: string) => document.querySelector(sel) as T;
/** The page's root (its data-state/data-backend attributes are what the end-to-end test waits on). */
export const app = $('#app');
/** A fraction as a percentage with one decimal. */
export const pct = (a: number) => `${(100 * a).toFixed(1)} %`;

/** Adds a one-line message to the page's error list (and to the console). */
export function showError(e: unknown): void {
  const msg = e instanceof PageError ? e.message : `Unexpected error: ${(e as Error)?.message ?? String(e)}`;
  const li = document.createElement('li');
  li.textContent = msg;
  $('#errors').append(li);
  console.warn(msg);
}
/** The weights progress bar (#weights-progress): one part per file, summed. */
export function weightsProgress(files: number): (i: number) => (loaded: number, total: number | undefined) => void {
  const bar = $<HTMLProgressElement>('#weights-progress');
  const parts = Array.from({ length: files }, () => ({ loaded: 0, total: 0 }));
  return (i) => (loaded, total) => {
    parts[i] = { loaded, total: total ?? Math.max(loaded, parts[i].total) };
    const sum = parts.reduce((a, b) => ({ loaded: a.loaded + b.loaded, total: a.total + b.total }), { loaded: 0, total: 0 });
    bar.max = Math.max(1, sum.total);
    bar.value = sum.loaded;
    bar.dataset.loaded = String(sum.loaded);
    bar.hidden = parts.every((x) => x.total > 0 && x.loaded >= x.total);
  };
}

/** The status line's text. */
export function setStatus(text: string): void {
  $('#status').textContent = text;
}

/** One queue for everything that runs tensors, so backend switches never interleave with runs. */
let queue: Promise<unknown> = Promise.resolve();
export function serial<T>(job: () => Promise<T>): Promise<T> {
  const next = queue.then(job, job);
  queue = next.catch(() => undefined);
  return next;
}

/** Settles when every job queued so far has finished. */
export function queueSettled(): Promise<unknown> {
  return queue;
}
