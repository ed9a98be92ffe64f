/**
 * The browser's half of the source resolver: `fromPretrained` with the Cache API as the download
 * cache and canvas decoding. A decoder only produces RGB pixels; preprocessing is the same
 * {@link preprocessRgb} Node uses, so both prepare an image identically.
 */
import * as tf from '@tensorflow/tfjs-core';
import { canvasRgba, decodeBlobRgb, decodeImageElementRgb } from './browser-pixels.js';
import { dropAlpha } from './gif-first-frame.js';
import { ImageDecodeError } from './decode-error.js';
import { Classifier } from './classifier.js';
import { DownloadOptions, SourceError, checkDownloaded, downloadBytes, downloadKind, expectedSha256, sha256Hex } from './download.js';
import { ImagePreprocessing, preprocessRgb } from './preprocess.js';
import { PretrainedOptions, SourceEnvironment, loadPretrained } from './resolve.js';

/** An image in the browser: an element or bitmap to draw, pixels, an encoded image, or its URL. */
export type BrowserImageInput = HTMLImageElement | HTMLCanvasElement | OffscreenCanvas | ImageBitmap | ImageData | Blob | string;

/** Where the browser resolver finds things; change with {@link configureBrowserSources}. */
export interface BrowserSourceSettings {
  /** URL of the zoo's `weights/` folder as the app serves it (default `zoo/weights/`, relative to the page). */
  zooWeightsUrl: string;
  /** Base URL of the Hugging Face-style hub for `hf:` sources (default https://huggingface.co). */
  hubEndpoint: string;
  /** Name of the Cache API cache downloads are kept in (default `resnet-ts`); '' disables caching. */
  cacheName: string;
}

const settings: BrowserSourceSettings = { zooWeightsUrl: 'zoo/weights/', hubEndpoint: 'https://huggingface.co', cacheName: 'resnet-ts' };

/** Changes where the browser resolver finds shipped weights and the hub, and the cache it uses. */
export function configureBrowserSources(change: Partial<BrowserSourceSettings>): BrowserSourceSettings {
  Object.assign(settings, change);
  return { ...settings };
}

/**
 * The bytes of `url`, from the Cache API when there (matching `sha256`, and a usable file of its kind:
 * `checkDownloaded`), else downloaded and put in the cache only when complete and verified (an
 * interrupted download, a web page served with HTTP 200 or a truncated file is never cached). A cached
 * entry that fails those checks (an older version kept it) is removed and downloaded again.
 */
export async function cachedFetch(url: string, options: DownloadOptions & { sha256?: string } = {}): Promise<Uint8Array | undefined> {
  const absolute = new URL(url, globalThis.location?.href).href;
  const want = expectedSha256(options.sha256);
  const kind = downloadKind(absolute);
  const cache = settings.cacheName && typeof caches !== 'undefined' ? await caches.open(settings.cacheName) : undefined;
  const hit = await cache?.match(absolute);
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    if ((!want || (await sha256Hex(bytes)) === want) && !checkDownloaded(url, bytes, kind)) {
      options.onProgress?.({ source: url, loaded: bytes.byteLength, total: bytes.byteLength });
      return bytes;
    }
    await cache?.delete(absolute);
  }
  let contentType: string | undefined;
  const onResponse: DownloadOptions['onResponse'] = (r) => {
    contentType = r.contentType;
    options.onResponse?.(r);
  };
  const bytes = await downloadBytes(absolute, { ...options, onResponse });
  if (!bytes) return undefined;
  if (want) {
    const got = await sha256Hex(bytes);
    if (got !== want)
      throw new SourceError(
        `Checksum mismatch for ${url}: expected sha256 ${options.sha256}, got ${got}. The file was not cached; check the URL and the checksum.`,
      );
  }
  const wrong = checkDownloaded(url, bytes, kind, contentType);
  if (wrong) throw wrong;
  await cache?.put(absolute, new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': 'application/octet-stream' } }));
  return bytes;
}

/**
 * RGB pixels of a browser image. An encoded image (a `Blob`/`File` or a URL) decodes as in Node
 * (`decodeRgb`) and PIL's `convert('RGB')`: alpha dropped with the colour stored under it kept, EXIF
 * orientation applied, a GIF's transparent pixels in their palette colour; its stored RGBA is read
 * through WebGL, not a 2D canvas, which premultiplies alpha (black under alpha 0). An `<img>` gives the
 * pixels it shows, read the same way (its URL is not fetched again; a GIF's transparent pixels stay
 * black: give the file for PIL's palette colour); a canvas or bitmap gives the pixels a 2D canvas
 * draws of it, `ImageData` its own.
 */
export async function decodeRgbBrowser(input: BrowserImageInput): Promise<{ rgb: Uint8Array; height: number; width: number }> {
  if (typeof ImageData !== 'undefined' && input instanceof ImageData)
    return { rgb: dropAlpha(input.data), height: input.height, width: input.width };
  if (typeof input === 'string' || input instanceof Blob)
    return decodeBlobRgb(await imageBlob(input), typeof input === 'string' ? input : 'the image');
  if (typeof HTMLImageElement !== 'undefined' && input instanceof HTMLImageElement) {
    // A missing or broken file: the element's own error names nothing, so say which image.
    const name = input.currentSrc || input.src || 'the <img>';
    await input.decode().catch((e: Error) => {
      throw new ImageDecodeError(name, `the <img> could not load or decode it (${e.message.replace(/\.$/, '')})`, 'format');
    });
    return decodeImageElementRgb(input);
  }
  const s = input as { width: number; height: number; naturalWidth?: number; naturalHeight?: number };
  const width = s.naturalWidth || s.width;
  const height = s.naturalHeight || s.height;
  if (!width || !height)
    throw new ImageDecodeError(
      typeof ImageBitmap !== 'undefined' && input instanceof ImageBitmap ? 'the ImageBitmap' : 'the canvas',
      `it is ${width}x${height} pixels`,
      'format',
    );
  return { rgb: dropAlpha(canvasRgba(input as CanvasImageSource, width, height)), height, width };
}

/** The encoded image a URL serves (an {@link ImageDecodeError} naming the HTTP status when it serves none), or the blob given. */
async function imageBlob(input: string | Blob): Promise<Blob> {
  if (typeof input !== 'string') return input;
  const response = await fetch(input);
  if (!response.ok)
    throw new ImageDecodeError(
      input,
      `the server answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`,
      'format',
    );
  return response.blob();
}

/** Decodes and preprocesses one browser image to `[H, W, C]` float32 model input. */
export async function decodeImageBrowser(input: BrowserImageInput, p: ImagePreprocessing): Promise<tf.Tensor3D> {
  const { rgb, height, width } = await decodeRgbBrowser(input);
  const x = preprocessRgb(rgb, height, width, p);
  return tf.tensor3d(x.data, [x.height, x.width, x.channels]);
}

/** The browser's source environment: relative URLs for files, the Cache API for downloads, canvas decoding. */
export const browserEnvironment: SourceEnvironment<BrowserImageInput> = {
  shipped: async (entry, o) => {
    const bytes = await cachedFetch(new URL(entry.file, new URL(settings.zooWeightsUrl, globalThis.location?.href)).href, o);
    if (!bytes)
      throw new SourceError(
        `The weights of '${entry.name}' are not served at ${settings.zooWeightsUrl}${entry.file}: serve node_modules/@resnet-ts/zoo/weights/ there, or configureBrowserSources({ zooWeightsUrl }).`,
      );
    return bytes;
  },
  file: async (file, o) => {
    const bytes = await cachedFetch(file, o);
    if (!bytes) throw new SourceError(`${file}: not found (HTTP 404).`);
    return bytes;
  },
  url: cachedFetch,
  hubEndpoint: () => settings.hubEndpoint,
  decode: decodeImageBrowser,
  backendPackage: '@resnet-ts/backend-web',
};

/**
 * A ready classifier in the browser (see the Node `fromPretrained` of `@resnet-ts/zoo/node`): a shipped
 * name (served from {@link BrowserSourceSettings.zooWeightsUrl}), a URL (relative or absolute, kept in
 * the Cache API), or `hf:owner/name`. `classify` takes an `<img>`, a canvas, an `ImageBitmap`,
 * `ImageData`, a `Blob`/`File`, an image URL, or a preprocessed tensor.
 */
export function fromPretrained(source: string, options: PretrainedOptions = {}): Promise<Classifier<BrowserImageInput>> {
  if (typeof OffscreenCanvas === 'undefined' && typeof process !== 'undefined' && process.versions?.node) {
    return Promise.reject(
      new SourceError("In Node, import fromPretrained from '@resnet-ts/zoo/node' (disk cache, files, sharp decoding)."),
    );
  }
  return loadPretrained(source, browserEnvironment, options);
}
