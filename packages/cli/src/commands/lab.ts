import path from 'node:path';
import { Command } from 'commander';
import {
  CommandHost,
  ExperimentOption,
  ExperimentOutput,
  OptionKind as DeclaredKind,
  checkOutFolder,
  defaultOut,
  getExperiment,
  listExperiments,
} from '@resnet-ts/lab';
import { loadModel, selectBackend, withShippedWeights } from '../util.js';
import { CIFAR_DEPTH, OptionKind, choice, choiceList, dataSet, integer, integerList, number, opt, text } from '../options.js';

const say = (m: string) => process.stderr.write(m + '\n');
const commandLine = () => ['resnet', ...process.argv.slice(2)].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ');

/** The CLI's parser for what an experiment declares its option accepts. */
function parserOf(k: DeclaredKind): OptionKind<unknown> {
  const rule = 'rule' in k && k.rule === 'cifar-depth' ? CIFAR_DEPTH : undefined;
  switch (k.type) {
    case 'integer':
      return integer(k.min, k.max, rule);
    case 'integerList':
      return integerList(k.min, k.max, rule);
    case 'number':
      return number(k);
    case 'choice':
      return choice(k.values);
    case 'choiceList':
      return choiceList(k.values);
    case 'text':
      return text(k.what);
    case 'data':
      return dataSet();
  }
}

function addOption(cmd: Command, o: ExperimentOption): void {
  if (o.kind) cmd.addOption(opt(o.flags, o.description, parserOf(o.kind), o.default));
  else cmd.option(o.flags, o.description);
}

function done(out: ExperimentOutput<unknown>): void {
  say(
    `done in ${out.info.wallSeconds.toFixed(1)} s on ${out.info.engine}: ${out.files.markdown}, ${out.files.json}, ${out.files.plots.map((p) => path.basename(p)).join(', ')}`,
  );
}

/**
 * `resnet lab <experiment>`: one sub-command per experiment of the lab's registry that declares a
 * `command` (its options, defaults and engine live next to its registration in @resnet-ts/lab). Each
 * writes result.json, SVG plots and report.md.
 */
export function registerLab(program: Command): void {
  const experiments = listExperiments();
  const lab = program.command('lab').description('the experiments: ' + experiments.map((e) => e.name).join(', '));
  for (const { name } of experiments) {
    const command = getExperiment(name).command;
    if (!command) continue;
    const cmd = lab
      .command(name)
      .description(command.summary)
      .addOption(opt('--out <dir>', 'output folder (result.json, report.md, SVG plots)', text('a folder'), defaultOut(name)))
      .addOption(opt('--backend <name>', "engine: 'auto' or a name", text('an engine name')))
      .addOption(opt('--seed <n>', 'seed', integer(0, 2 ** 32 - 1), 0))
      .addOption(opt('--note <text>', 'a note for the report (e.g. how the weights were made)', text('some text')));
    for (const o of command.options) addOption(cmd, o);
    cmd.action(async (values: { out: string; backend?: string; seed: number; note?: string } & Record<string, unknown>) => {
      checkOutFolder(values.out); // before any work: a file there would end the run at its report
      await selectBackend(values.backend ?? command.engine.default, command.engine.training);
      const host: CommandHost = {
        reporting: { out: values.out, seed: values.seed, command: commandLine(), note: values.note, log: say },
        loadModel,
        shippedWeights: (model) => withShippedWeights<{ model?: string; weights?: string }>({ model }).weights,
      };
      done(await command.run(values, host));
    });
  }
}
