import { Command } from 'commander';
import { listModels, PRETRAINED } from '@resnet-ts/zoo';

/** `resnet models`: the zoo's architectures. */
export function registerModels(program: Command): void {
  program
    .command('models')
    .description('list the named architectures of the zoo')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const models = listModels();
      if (opts.json) {
        process.stdout.write(JSON.stringify({ architectures: models, pretrained: PRETRAINED }, null, 2) + '\n');
        return;
      }
      const width = Math.max(...models.map((m) => m.name.length));
      for (const m of models) process.stdout.write(`${m.name.padEnd(width)}  ${m.description}\n`);
      process.stdout.write('\ntrained weights shipped with the zoo (use as --model in predict/eval):\n');
      for (const p of PRETRAINED) process.stdout.write(`${p.name.padEnd(width)}  ${p.description}\n`);
    });
}
