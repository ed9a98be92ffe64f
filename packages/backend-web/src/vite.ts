/**
 * `@resnet-ts/backend-web/vite`: a Vite plugin (Node, build time) that gives a web app the files
 * resnet-ts needs at run time without copying them by hand: the `.wasm` binaries of
 * `@tensorflow/tfjs-backend-wasm` (and, when installed, the zoo's shipped weights and samples). It
 * serves them in `vite dev` and emits them into the build, under `tfjs-wasm/` and `zoo/`:
 *
 * ```ts
 * // vite.config.ts
 * import { resnetTsAssets } from '@resnet-ts/backend-web/vite';
 * export default { plugins: [resnetTsAssets()] };
 * // app: configureBackendWeb({ wasmPaths: 'tfjs-wasm/' }); fromPretrained('resnet20-fashion-mnist') reads zoo/weights/
 * ```
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

/** A URL prefix of the app mapped to a folder of an installed package. */
export interface AssetMount {
  /** URL prefix relative to the app's base, e.g. `tfjs-wasm/`. */
  url: string;
  dir: string;
  /** Which file names are served and emitted. */
  files: RegExp;
}

/** Options of {@link resnetTsAssets}. */
export interface AssetOptions {
  /** Where package resolution starts (default: the current working directory, the app's root). */
  root?: string;
  /** Also serve the zoo's `weights/` and `samples/` when `@resnet-ts/zoo` is installed (default true). */
  zoo?: boolean;
  /** Extra folders to mount. */
  extra?: AssetMount[];
}

/** The folders {@link resnetTsAssets} serves, resolved through the installed packages' files. */
export function assetMounts(options: AssetOptions = {}): AssetMount[] {
  const req = createRequire(path.join(path.resolve(options.root ?? process.cwd()), 'package.json'));
  const mounts: AssetMount[] = [
    { url: 'tfjs-wasm/', dir: path.join(path.dirname(req.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist'), files: /^tfjs-backend-wasm[\w-]*\.wasm$/ },
  ];
  if (options.zoo ?? true) {
    let zoo: string | undefined;
    try {
      zoo = path.dirname(req.resolve('@resnet-ts/zoo/package.json'));
    } catch {
      zoo = undefined;
    }
    if (zoo) {
      mounts.push({ url: 'zoo/weights/', dir: path.join(zoo, 'weights'), files: /\.(safetensors|json)$/ });
      mounts.push({ url: 'zoo/samples/', dir: path.join(zoo, 'samples'), files: /\.(png|json)$/ });
    }
  }
  return [...mounts, ...(options.extra ?? [])];
}

function listFiles(dir: string, pattern: RegExp, prefix = ''): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name), pattern, `${prefix}${e.name}/`) : pattern.test(e.name) ? [`${prefix}${e.name}`] : []));
}

const TYPES: Record<string, string> = { '.wasm': 'application/wasm', '.json': 'application/json', '.png': 'image/png' };

/** The parts of Vite's plugin interface this plugin uses (so this package needs no Vite types). */
export interface AssetPlugin {
  name: string;
  configureServer(server: { middlewares: { use(fn: (req: { url?: string }, res: AssetResponse, next: () => void) => void): void } }): void;
  generateBundle(this: { emitFile(file: { type: 'asset'; fileName: string; source: Uint8Array }): string }): void;
}

/** The response object of Vite's dev server, as far as the plugin uses it. */
export interface AssetResponse {
  statusCode: number;
  setHeader(name: string, value: string): void;
  end(body?: string | Uint8Array): void;
}

/**
 * The Vite plugin: serves the mounted package folders in `vite dev` (a 404 for a missing file, never
 * index.html) and copies them into the build, the way an app that installed the packages from npm
 * needs them.
 */
export function resnetTsAssets(options: AssetOptions = {}): AssetPlugin {
  let mounts: AssetMount[] | undefined;
  const resolved = () => (mounts ??= assetMounts(options));
  return {
    name: 'resnet-ts-assets',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const url = decodeURIComponent((req.url ?? '').split('?')[0]).replace(/^\/+/, '');
        const mount = resolved().find((m) => url.startsWith(m.url));
        if (!mount) return next();
        const rel = url.slice(mount.url.length);
        const file = path.join(mount.dir, rel);
        if (rel.includes('..') || !mount.files.test(path.basename(rel)) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
          res.statusCode = 404;
          res.end(`not found: ${url}`);
          return;
        }
        res.setHeader('content-type', TYPES[path.extname(file)] ?? 'application/octet-stream');
        res.end(fs.readFileSync(file));
      });
    },
    generateBundle() {
      for (const m of resolved()) {
        for (const rel of listFiles(m.dir, m.files)) this.emitFile({ type: 'asset', fileName: `${m.url}${rel}`, source: fs.readFileSync(path.join(m.dir, rel)) });
      }
    },
  };
}
