// tfjs-core's Node entry (dist/tf-core.node.js) registers neither gradients nor chained tensor methods,
// and its ES-module files cannot be loaded by Node directly (extension-less imports). We bundle those
// registrations once, with esbuild, into generated/tfjs-gradients.cjs. The bundle carries its own copy
// of the op helpers, but every registry it writes to (kernels, gradients, engine, Tensor class) lives
// on tfjs's global namespace, so it extends whichever tfjs-core copy the app already loaded.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';

const here = path.dirname(fileURLToPath(import.meta.url));
const outfile = path.join(here, '..', 'generated', 'tfjs-gradients.cjs');
fs.mkdirSync(path.dirname(outfile), { recursive: true });
await build({
  stdin: {
    contents: [
      "import '@tensorflow/tfjs-core/dist/register_all_gradients';",
      "import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';",
    ].join('\n'),
    resolveDir: here,
    loader: 'js',
  },
  bundle: true,
  platform: 'neutral',
  mainFields: ['module', 'main'],
  format: 'cjs',
  target: 'es2018',
  outfile,
  logLevel: 'warning',
  legalComments: 'eof',
});
