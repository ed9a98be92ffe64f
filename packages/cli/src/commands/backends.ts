import { Command } from 'commander';
import { describeBackends, probeEngines } from '@resnet-ts/backend-node';

/** `resnet backends`: every engine, available or not and why, its priority, and which auto picks. */
export function registerBackends(program: Command): void {
  program
    .command('backends')
    .description('list the compute engines: available or not (and why), priority, and which `auto` picks')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      if (opts.json) {
        process.stdout.write(JSON.stringify(await probeEngines(), null, 2) + '\n');
        return;
      }
      process.stdout.write((await describeBackends()) + '\n');
    });
}
