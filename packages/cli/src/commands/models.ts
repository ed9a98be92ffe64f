import { Command } from 'commander';
import { formatCount } from '@resnet-ts/core';
import { openSafetensors, parseCheckpointMetadata } from '@resnet-ts/core/node';
import { countParameters, listModels, PRETRAINED } from '@resnet-ts/zoo';
import { modelCard, pretrainedWeightsPath } from '@resnet-ts/zoo/node';

/** `*` and `?` wildcards, else a substring; case-insensitive. */
function matcher(pattern?: string): (name: string) => boolean {
  if (!pattern) return () => true;
  if (!/[*?]/.test(pattern)) return (name) => name.toLowerCase().includes(pattern.toLowerCase());
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return (name) => re.test(name);
}

/** Parameters of a shipped model, from the spec stored in its weights (header only). */
function shippedParams(name: string): number | undefined {
  const f = openSafetensors(pretrainedWeightsPath(name));
  try {
    const spec = parseCheckpointMetadata(f.metadata, name).spec;
    return spec ? countParameters(spec) : undefined;
  } finally {
    f.close();
  }
}

const count = (n: number | undefined) => (n === undefined ? '?' : formatCount(n));

/** `resnet models [pattern]`: the zoo's architectures and shipped weights, with parameters and accuracy. */
export function registerModels(program: Command): void {
  program
    .command('models')
    .description('list the named architectures of the zoo (with parameters) and the shipped trained weights (with accuracy)')
    .argument('[pattern]', 'only names containing this text, or matching a pattern with * and ? (e.g. "resnet5*")')
    .option('--json', 'print JSON')
    .action((pattern: string | undefined, opts: { json?: boolean }) => {
      const keep = matcher(pattern);
      const models = listModels()
        .filter((m) => keep(m.name))
        .map((m) => ({ ...m, params: countParameters(m.spec) }));
      const pretrained = PRETRAINED.filter((p) => keep(p.name)).map((p) => {
        const card = modelCard(p.name);
        return { ...p, params: shippedParams(p.name), dataset: card.dataset, top1: card.top1, top5: card.top5 };
      });
      if (opts.json) {
        process.stdout.write(JSON.stringify({ architectures: models, pretrained }, null, 2) + '\n');
        return;
      }
      if (models.length === 0 && pretrained.length === 0) {
        process.stdout.write(`no model matches '${pattern}'; \`resnet models\` lists them all\n`);
        return;
      }
      const width = Math.max(...[...models, ...pretrained].map((m) => m.name.length));
      const pw = Math.max(...[...models, ...pretrained].map((m) => count(m.params).length));
      for (const m of models) process.stdout.write(`${m.name.padEnd(width)}  ${count(m.params).padStart(pw)}  ${m.description}\n`);
      if (pretrained.length === 0) return;
      process.stdout.write(`${models.length ? '\n' : ''}trained weights shipped with the zoo (use as --model in predict/eval):\n`);
      for (const p of pretrained) {
        const acc = `top-1 ${(100 * p.top1).toFixed(2)} % on ${p.dataset}`;
        process.stdout.write(`${p.name.padEnd(width)}  ${count(p.params).padStart(pw)}  ${acc}  ${p.description}\n`);
      }
    });
}
