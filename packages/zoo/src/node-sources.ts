/**
 * Node's half of the source resolver: local files, the shipped weights, and http(s) downloads kept
 * in a disk cache (`$RESNET_TS_CACHE`, else `~/.cache/resnet-ts`). A download streams into a
 * temporary file next to its cache entry and is renamed into place only when complete and verified
 * (checksum; a weights file or JSON, not a web page), so an interrupted (Ctrl-C, SIGTERM), failed or
 * wrong download never stays in the cache, not even as an empty folder.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { RawStateDict } from '@resnet-ts/core';
import { FileError, cacheDir, cleanStaleTempFiles, ensureDir, fileError, readWeightsFile, writeBytesAtomic, writeFileAtomic } from '@resnet-ts/core/node';
import { DownloadOptions, SourceError, checkDownloaded, downloadKind, expectedSha256, streamDownload } from './download.js';

/** The folder downloads are cached in: core's {@link cacheDir} (`$RESNET_TS_CACHE`, else `$XDG_CACHE_HOME/resnet-ts`, else `~/.cache/resnet-ts`). */
export { cacheDir };

/** The Hugging Face-style hub used for `hf:` sources: `$RESNET_TS_HF_ENDPOINT`, else `$HF_ENDPOINT`, else https://huggingface.co. */
export function hubEndpoint(): string {
  return process.env.RESNET_TS_HF_ENDPOINT || process.env.HF_ENDPOINT || 'https://huggingface.co';
}

/** Where `url` is cached: a folder per URL hash, holding the file under its own name. */
export function cachePath(url: string): string {
  const hash = crypto.createHash('sha256').update(url).digest('hex').slice(0, 16);
  const name = decodeURIComponent(new URL(url).pathname.split('/').pop() || 'download').replace(/[^\w.-]/g, '_');
  return path.join(cacheDir(), hash, name);
}

function asBytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Reads a local file; a one-line FileError when it cannot. */
export function readLocalFile(file: string): Uint8Array {
  return readLocal(file, () => asBytes(fs.readFileSync(file)));
}

/**
 * A local weights file for the resolver, read by core's one reader for files (`readWeightsFile`:
 * safetensors tensor by tensor, so the file is never held whole next to its tensors). One-line
 * FileErrors as {@link readLocalFile}; a corrupt file gets core's FormatError naming it.
 */
export function readLocalWeights(file: string): { weights: RawStateDict; size: number } {
  return readLocal(file, () => ({ weights: readWeightsFile(file), size: fs.statSync(file).size }));
}

function readLocal<T>(file: string, read: () => T): T {
  try {
    if (fs.statSync(file).isDirectory()) throw new FileError(`'${file}' is a directory, not a weights file.`, 'EISDIR');
    return read();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new FileError(
        `No such file: '${file}'. Give a weights file, a shipped model name (resnet models), an http(s) URL or hf:owner/name.`,
        'ENOENT',
      );
    }
    throw fileError(e, file, 'read');
  }
}

/**
 * The largest Content-Length a download's buffer is allocated for up front (2 GiB, far above any
 * ResNet's weights): the header is the server's word, and a wrong one (a proxy's, a broken server's)
 * must not cost memory nor exceed what a typed array can hold; a longer body is gathered in parts.
 */
const PREALLOCATE_LIMIT = 2 ** 31;

/** A download's body, gathered as it streams: into one buffer when the size is known, else in parts. */
class Body {
  private buf?: Uint8Array;
  private parts: Uint8Array[] = [];
  private size = 0;

  /** Allocates the whole body at once when the server said a plausible size ({@link PREALLOCATE_LIMIT}). */
  expect(total?: number): void {
    if (total !== undefined && total <= PREALLOCATE_LIMIT && this.size === 0) this.buf = new Uint8Array(total);
  }

  add(chunk: Uint8Array): void {
    if (this.buf && this.size + chunk.byteLength <= this.buf.byteLength) this.buf.set(chunk, this.size);
    else {
      if (this.buf) this.parts.push(this.buf.subarray(0, this.size));
      this.buf = undefined;
      this.parts.push(chunk);
    }
    this.size += chunk.byteLength;
  }

  bytes(): Uint8Array {
    if (this.buf) return this.buf.subarray(0, this.size);
    const out = new Uint8Array(this.size);
    let off = 0;
    for (const p of this.parts) {
      out.set(p, off);
      off += p.byteLength;
    }
    this.parts = [out];
    return out;
  }
}

/**
 * Checks a local weights file against the `sha256` a caller gave (nothing to check without one): a
 * {@link SourceError} naming both digests when they differ, as for a download.
 */
export function checkLocalSha256(file: string, sha256: string | undefined): void {
  const want = expectedSha256(sha256);
  if (want === undefined) return;
  const got = fileSha256(file);
  if (got !== want)
    throw new SourceError(`Checksum mismatch for ${file}: expected sha256 ${sha256}, got ${got}; check the file and the checksum.`);
}

/** Hex SHA-256 of a file, read 4 MiB at a time: a large checkpoint is not held a second time in memory to check it. */
function fileSha256(file: string): string {
  const hash = crypto.createHash('sha256');
  const chunk = Buffer.allocUnsafe(4 << 20);
  const fd = fs.openSync(file, 'r');
  try {
    for (let n; (n = fs.readSync(fd, chunk, 0, chunk.length, null)) > 0; ) hash.update(chunk.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * The cached bytes of `url`, or undefined when there are none to use: absent, not matching `want`
 * (sha256), or not a usable file of its kind (a web page or broken file that an older version
 * cached); such a file is removed, so the next download replaces it.
 */
function cachedBytes(file: string, url: string, want: string | undefined, options: DownloadOptions): Uint8Array | undefined {
  if (!fs.existsSync(file)) return undefined;
  const bytes = asBytes(fs.readFileSync(file));
  if ((want && crypto.createHash('sha256').update(bytes).digest('hex') !== want) || checkDownloaded(url, bytes, downloadKind(url))) {
    fs.rmSync(file, { force: true });
    return undefined;
  }
  options.onProgress?.({ source: url, loaded: bytes.byteLength, total: bytes.byteLength });
  return bytes;
}

/**
 * Downloads `url` into the temporary file of `file`, put in place only when complete, matching
 * `want` and a usable file of its kind ({@link checkDownloaded}). Undefined for an optional 404.
 * The atomic writer removes the temporary file, and the cache entry's folder when that leaves it
 * empty, when the download fails and when the process exits or is stopped (Ctrl-C, SIGTERM) during it.
 */
async function downloadInto(
  file: string,
  url: string,
  want: string | undefined,
  options: DownloadOptions,
): Promise<Uint8Array | undefined> {
  const body = new Body();
  let contentType: string | undefined;
  let found = true;
  const write = async (fd: number) => {
    const hash = crypto.createHash('sha256');
    const onResponse: DownloadOptions['onResponse'] = (r) => {
      contentType = r.contentType;
      body.expect(r.total);
      options.onResponse?.(r);
    };
    const onChunk = (chunk: Uint8Array) => {
      hash.update(chunk);
      body.add(chunk);
      let done = 0;
      while (done < chunk.byteLength) done += fs.writeSync(fd, chunk, done, chunk.byteLength - done);
    };
    if ((await streamDownload(url, onChunk, { ...options, onResponse })) === undefined) {
      found = false;
      throw new SourceError('not found');
    }
    const got = hash.digest('hex');
    if (want && got !== want) {
      throw new SourceError(
        `Checksum mismatch for ${url}: expected sha256 ${want}, got ${got}. The file was not cached; check the URL and the checksum.`,
      );
    }
    const wrong = checkDownloaded(url, body.bytes(), downloadKind(url), contentType);
    if (wrong) throw wrong;
  };
  await writeFileAtomic(file, write, { removeDirIfEmpty: true }).catch((e: unknown) => {
    if (found) throw e;
  });
  return found ? body.bytes() : undefined;
}

/**
 * The bytes of `url`, from the cache when present (and matching `sha256` when given), else
 * downloaded into it. Progress reports the download; a cache hit reports one event with the size.
 * Only a usable file is cached: a `*.json` URL must serve JSON, any other a weights file
 * (safetensors or PyTorch, its header or zip directory intact); a web page, garbage or a truncated
 * file is a one-line {@link SourceError} that says what was served, and a failed download leaves
 * neither a file nor an empty folder in the cache.
 */
export async function cachedDownload(url: string, options: DownloadOptions & { sha256?: string } = {}): Promise<Uint8Array | undefined> {
  const file = cachePath(url);
  const want = expectedSha256(options.sha256);
  const hit = cachedBytes(file, url, want, options);
  if (hit) return hit;
  // An optional file the server did not have (a hub repo without config.json) is remembered, as
  // huggingface_hub does: a source downloaded once then loads offline. Delete the entry to look again.
  const absent = `${file}.absent`;
  if (options.optional && fs.existsSync(absent)) return undefined;
  const dir = path.dirname(file);
  ensureDir(dir);
  cleanStaleTempFiles(dir);
  const bytes = await downloadInto(file, url, want, options);
  if (bytes === undefined && options.optional) {
    ensureDir(dir); // the failed download removed the entry's folder it left empty
    await writeBytesAtomic(absent, new Uint8Array(0));
  }
  return bytes;
}
