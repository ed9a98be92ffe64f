/**
 * Node's half of the source resolver: local files, the shipped weights, and http(s) downloads kept
 * in a disk cache (`$RESNET_TS_CACHE`, else `~/.cache/resnet-ts`). A download streams into a
 * temporary file next to its cache entry and is renamed into place only when complete and verified,
 * so an interrupted or failed download never leaves a partial file in the cache.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { RawStateDict } from '@resnet-ts/core';
import { FileError, cacheDir, cleanStaleTempFiles, ensureDir, fileError, readWeightsFile, writeFileAtomic } from '@resnet-ts/core/node';
import { DownloadOptions, SourceError, streamDownload } from './download.js';

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

function sha256File(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
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
 * The bytes of `url`, from the cache when present (and matching `sha256` when given), else
 * downloaded into it. Progress reports the download; a cache hit reports one event with the size.
 */
export async function cachedDownload(url: string, options: DownloadOptions & { sha256?: string } = {}): Promise<Uint8Array | undefined> {
  const file = cachePath(url);
  const want = options.sha256?.toLowerCase();
  if (want !== undefined && !/^[0-9a-f]{64}$/.test(want)) throw new SourceError(`sha256 must be 64 hex digits; got '${options.sha256}'.`);
  if (fs.existsSync(file)) {
    if (!want || sha256File(file) === want) {
      const bytes = asBytes(fs.readFileSync(file));
      options.onProgress?.({ source: url, loaded: bytes.byteLength, total: bytes.byteLength });
      return bytes;
    }
    fs.rmSync(file, { force: true });
  }
  ensureDir(path.dirname(file));
  cleanStaleTempFiles(path.dirname(file));
  let found = true;
  await writeFileAtomic(file, async (fd) => {
    const hash = crypto.createHash('sha256');
    const n = await streamDownload(
      url,
      (chunk) => {
        hash.update(chunk);
        let done = 0;
        while (done < chunk.byteLength) done += fs.writeSync(fd, chunk, done, chunk.byteLength - done);
      },
      options,
    );
    if (n === undefined) {
      found = false;
      throw new SourceError('not found');
    }
    const got = hash.digest('hex');
    if (want && got !== want) {
      throw new SourceError(
        `Checksum mismatch for ${url}: expected sha256 ${want}, got ${got}. The file was not cached; check the URL and the checksum.`,
      );
    }
  }).catch((e: unknown) => {
    if (!found) return;
    throw e;
  });
  if (!found) return undefined;
  return asBytes(fs.readFileSync(file));
}
