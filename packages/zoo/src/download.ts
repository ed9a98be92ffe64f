/**
 * Streaming HTTP(S) downloads with progress, a time limit and one-line errors, on the `fetch` of
 * Node 20+ and browsers alike. Callers decide where the bytes go (a temp file in Node's disk cache,
 * memory and the Cache API in a browser).
 */
import { ResNetError, checkWeightsComplete, detectWeightsFormat } from '@resnet-ts/core';

/** A source that could not be fetched or verified; the message says what to do. */
export class SourceError extends ResNetError {
  constructor(
    message: string,
    /** HTTP status when the server answered with an error. */
    readonly status?: number,
  ) {
    super(message, 'SOURCE');
  }
}

/** Progress of one download. `total` is undefined when the server does not say the size. */
export interface ProgressEvent {
  /** What is being fetched (URL or file name). */
  source: string;
  loaded: number;
  total?: number;
}

/** Options of {@link streamDownload}. */
export interface DownloadOptions {
  /** Called as bytes arrive (and once with the size for a cache hit). */
  onProgress?: (e: ProgressEvent) => void;
  /** Abort when the server sends nothing for this long, in ms (connect, headers and between chunks). Default 30000. */
  timeoutMs?: number;
  /** Returns undefined instead of throwing on HTTP 404 (for optional files such as config.json). */
  optional?: boolean;
  /** Called once the server answered with a body, before it streams: its Content-Type and size when given. */
  onResponse?: (response: { contentType?: string; total?: number }) => void;
  /**
   * Stops the download when aborted (e.g. `AbortSignal.timeout(ms)` or a page's cancel button): the call
   * rejects with the signal's reason, as `fetch` does (an `AbortError` unless the caller gave another),
   * and nothing is cached.
   */
  signal?: AbortSignal;
}

/** Hex SHA-256 of bytes with WebCrypto (Node 20+ and browsers). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** The `sha256` a caller gave, in lower case (undefined when none); a {@link SourceError} unless 64 hex digits. */
export function expectedSha256(sha256: string | undefined): string | undefined {
  const want = sha256?.toLowerCase();
  if (want !== undefined && !/^[0-9a-f]{64}$/.test(want)) throw new SourceError(`sha256 must be 64 hex digits; got '${sha256}'.`);
  return want;
}

function describe(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  return err.cause?.code ?? err.cause?.message ?? err.message;
}

/** The longest delay setTimeout keeps (2^31 - 1 ms); longer ones fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Streams `url`, calling `onChunk` for each piece of the body in order. Resolves with the number of
 * bytes, or undefined for a 404 with `optional`. Throws a {@link SourceError} for an unreachable
 * host, an HTTP error, a server that goes silent for `timeoutMs`, a body shorter than its
 * Content-Length, or a connection dropped mid-body (saying how far it got); the caller discards
 * what it received.
 */
export async function streamDownload(url: string, onChunk: (chunk: Uint8Array) => void | Promise<void>, options: DownloadOptions = {}): Promise<number | undefined> {
  const timeoutMs = options.timeoutMs ?? 30000;
  const controller = new AbortController();
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    // setTimeout fires at once past 2^31 - 1 ms (~24.8 days): a longer limit is as good as none.
    if (timeoutMs > MAX_TIMER_MS) return;
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
  };
  const fail = (e: unknown): never => {
    if (options.signal?.aborted) throw options.signal.reason;
    if (e instanceof SourceError) throw e;
    if (timedOut) throw new SourceError(`Download of ${url} stalled: nothing received for ${timeoutMs / 1000} s. Retry, or raise timeoutMs (CLI: --timeout <seconds>).`);
    throw new SourceError(`Download of ${url} failed (${describe(e)}). Check the address and your connection, then retry; nothing was saved.`);
  };
  options.signal?.throwIfAborted();
  const stop = () => controller.abort();
  options.signal?.addEventListener('abort', stop);
  arm();
  try {
    let res: Response;
    try {
      res = await fetch(url, { signal: controller.signal, redirect: 'follow' });
    } catch (e) {
      return fail(e);
    }
    if (res.status === 404 && options.optional) {
      await res.body?.cancel();
      return undefined;
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new SourceError(
        `${url} answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}: ${res.status === 404 ? 'no such file there; check the name' : res.status === 401 || res.status === 403 ? 'access denied (private or gated file)' : 'the server failed; retry later'}.`,
        res.status,
      );
    }
    const header = res.headers.get('content-length');
    const total = header !== null && /^\d+$/.test(header) && !res.headers.get('content-encoding') ? Number(header) : undefined;
    options.onResponse?.({ contentType: res.headers.get('content-type') ?? undefined, total });
    const reader = res.body.getReader();
    let loaded = 0;
    options.onProgress?.({ source: url, loaded, total });
    for (;;) {
      let part: ReadableStreamReadResult<Uint8Array>;
      try {
        part = await reader.read();
      } catch (e) {
        if (timedOut || options.signal?.aborted || e instanceof SourceError) return fail(e);
        const of = total !== undefined ? ` of ${total}` : '';
        throw new SourceError(
          `Download of ${url} broke off after ${loaded}${of} bytes: the server closed the connection (${describe(e)}). Retry; nothing was saved.`,
        );
      }
      if (part.done) break;
      arm();
      loaded += part.value.byteLength;
      await onChunk(part.value);
      options.onProgress?.({ source: url, loaded, total });
      options.signal?.throwIfAborted(); // aborted from onProgress: not a byte more
    }
    if (total !== undefined && loaded !== total) {
      throw new SourceError(`Download of ${url} ended after ${loaded} of ${total} bytes (connection dropped). Retry; nothing was saved.`);
    }
    return loaded;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', stop);
    if (options.signal?.aborted) controller.abort(); // the connection is closed, not left to drain
  }
}

/** Downloads `url` into memory (browser use, small files); see {@link streamDownload}. */
export async function downloadBytes(url: string, options: DownloadOptions = {}): Promise<Uint8Array | undefined> {
  const parts: Uint8Array[] = [];
  const n = await streamDownload(url, (c) => void parts.push(c), options);
  if (n === undefined) return undefined;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

/** What a download must be: a weights file (safetensors, PyTorch), or JSON (a hub's config.json). */
export type DownloadKind = 'weights' | 'json';

/** The kind of file `url` names: JSON for a `*.json` path, else weights. */
export function downloadKind(url: string): DownloadKind {
  return /\.json$/i.test(new URL(url).pathname) ? 'json' : 'weights';
}

/** The first bytes as text when they are printable (`'<html>…'`, blanks collapsed), else as hex. */
function startOf(bytes: Uint8Array): string {
  const head = bytes.subarray(0, 32);
  if (head.length && head.every((b) => (b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d))
    return `'${String.fromCharCode(...head)
      .replace(/\s+/g, ' ')
      .trim()}'`;
  return [...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** Whether a body is a web page: served as HTML, or starting (after blanks) with a tag. */
function isWebPage(bytes: Uint8Array, contentType?: string): boolean {
  if (contentType && /^\s*(text\/html|application\/xhtml)/i.test(contentType)) return true;
  const text = new TextDecoder().decode(bytes.subarray(0, 64)).trimStart().toLowerCase();
  return ['<!doctype', '<html', '<head', '<body'].some((tag) => text.startsWith(tag));
}

/** The structural error of a weights file (format magic, safetensors header, zip directory), or undefined. */
function weightsProblem(bytes: Uint8Array): string | undefined {
  try {
    checkWeightsComplete(bytes, 'the file');
  } catch (e) {
    return (e as Error).message.replace(/^the file: /, '').replace(/(\. Copy or download it again)?\.$/, '');
  }
  return undefined;
}

/**
 * Why the bytes `url` served are not a usable file of `kind` — a web page (a login, error or download
 * page served with HTTP 200), not a weights file, a truncated or corrupt one, or not JSON — as a
 * one-line {@link SourceError}; undefined when they are fine. Cheap: weights are checked by their
 * format's magic and structure (core's `checkWeightsComplete`), not tensor by tensor. A cache
 * keeps a download only when this finds nothing.
 */
export function checkDownloaded(url: string, bytes: Uint8Array, kind: DownloadKind, contentType?: string): SourceError | undefined {
  const what = kind === 'json' ? 'JSON' : 'a weights file';
  const served = `${contentType ? `content-type ${contentType.split(';')[0].trim()}, ` : ''}${bytes.length} bytes starting ${startOf(bytes)}`;
  const fail = (message: string) => new SourceError(`${url} ${message}; nothing was cached.`);
  if (kind === 'weights' && detectWeightsFormat(bytes)) {
    const problem = weightsProblem(bytes);
    return problem ? fail(`served a truncated or corrupt weights file (${served}): ${problem}. Retry, or check the address`) : undefined;
  }
  if (isWebPage(bytes, contentType))
    return fail(`did not serve ${what} but a web page (${served}): a login, error or download page? Check the address`);
  if (kind === 'weights')
    return fail(
      `did not serve a weights file (${served}): expected safetensors or a PyTorch .pth/.pt/.bin saved by torch.save. Check the address`,
    );
  try {
    JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    return fail(`did not serve JSON (${served}): ${(e as Error).message}. Check the address`);
  }
  return undefined;
}
